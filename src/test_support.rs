//! Shared pieces of the layers' unit tests.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};

/// A response body that yields each chunk as its own frame, like a streamed answer.
#[derive(Debug, Default)]
pub(crate) struct Frames(pub(crate) VecDeque<Bytes>);

impl Frames {
    /// A body of these chunks, one frame each.
    pub(crate) fn of(chunks: &[&'static str]) -> Self {
        Self(
            chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
        )
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// A response body that never yields a frame: an upstream that stalls after its headers.
#[derive(Debug, Default)]
pub(crate) struct Stalled;

impl Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

/// A pool of two PRO API-key accounts: `a@x` (key `ka`) and `b@x` (key `kb`).
pub(crate) fn two_pro_accounts() -> crate::Pool {
    use rota_core::{AccountSpec, Tier};
    crate::Pool::builder()
        .account(AccountSpec::api_key("a@x", Tier::Pro, "ka"))
        .account(AccountSpec::api_key("b@x", Tier::Pro, "kb"))
        .build()
        .expect("two distinct emails")
}
