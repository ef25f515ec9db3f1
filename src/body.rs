//! [`MarkBody`]: a response body that is either the upstream's, untouched (maybe read for
//! object ids and token usage as it passes), or the bytes [`RateLimitMarkLayer`](crate::RateLimitMarkLayer)
//! read to classify an error answer.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::observe::Observer;

pin_project! {
    /// The response body after [`RateLimitMarkLayer`](crate::RateLimitMarkLayer).
    #[project = MarkBodyProj]
    #[derive(Debug)]
    #[allow(missing_docs)] // pin-project-lite takes no docs on variant fields
    pub enum MarkBody<B> {
        /// The upstream body, streamed through untouched (2xx, streams, neutral answers).
        Stream {
            #[pin]
            body: B,
        },
        /// An error body that was read in full to classify it.
        Buffered {
            bytes: Option<Bytes>,
        },
        /// The upstream body, streamed through untouched while its frames are read for the
        /// ids of the objects it created and its token usage ([`Observer`]).
        Observed {
            #[pin]
            body: B,
            observer: Box<Observer>,
        },
    }
}

impl<B> MarkBody<B> {
    /// Wraps an upstream body.
    pub fn stream(body: B) -> Self {
        Self::Stream { body }
    }

    /// A body made of bytes already read.
    pub fn buffered(bytes: Bytes) -> Self {
        Self::Buffered { bytes: Some(bytes) }
    }

    /// Wraps an upstream body whose frames `observer` reads as they pass.
    pub fn observed(body: B, observer: Observer) -> Self {
        Self::Observed {
            body,
            observer: Box::new(observer),
        }
    }
}

impl<B> Body for MarkBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            MarkBodyProj::Stream { body } => body.poll_frame(cx),
            MarkBodyProj::Observed { body, observer } => {
                let frame = body.poll_frame(cx);
                if let Poll::Ready(Some(Ok(frame))) = &frame
                    && let Some(data) = frame.data_ref()
                {
                    observer.feed(data);
                }
                frame
            }
            MarkBodyProj::Buffered { bytes } => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Stream { body } | Self::Observed { body, .. } => body.is_end_stream(),
            Self::Buffered { bytes } => bytes.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Stream { body } | Self::Observed { body, .. } => body.size_hint(),
            Self::Buffered { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
