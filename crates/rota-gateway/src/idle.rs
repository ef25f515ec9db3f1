//! [`IdleTimeout`]: a response body that ends with an error once the upstream has sent no
//! byte for a while, so a stalled stream cannot hold a client (and a connection) for ever.
//! It may start with a frame already read ([`IdleTimeout::with_first`]): the gateway reads an
//! answer's first frame before it commits to the answer, so a body that fails at once is a
//! failed attempt (retried), not a response the client gets without a head.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use rota::BoxError;
use tokio::time::{Instant, Sleep};

pin_project! {
    /// Wraps an upstream body: each frame restarts the clock; `idle` without one ends the body
    /// with [`StreamStalled`]. The timer is only armed while the body is actually waiting, so
    /// a body whose frames are ready costs no timer at all.
    pub struct IdleTimeout<B> {
        #[pin]
        body: B,
        idle: Duration,
        // Boxed: armed only while the body waits, and the body stays small to move around.
        sleep: Option<Pin<Box<Sleep>>>,
        // A frame arrived since the timer was last armed: re-arm before waiting again.
        rearm: bool,
        done: bool,
        first: Option<Frame<Bytes>>,
    }
}

impl<B> IdleTimeout<B> {
    /// Ends `body` after `idle` without a frame.
    pub fn new(body: B, idle: Duration) -> Self {
        Self::with_first(body, idle, None)
    }

    /// Like [`new`](Self::new), with `first` (already read from `body`) yielded first.
    pub fn with_first(body: B, idle: Duration, first: Option<Frame<Bytes>>) -> Self {
        Self {
            body,
            idle,
            sleep: None,
            rearm: false,
            done: false,
            first,
        }
    }
}

impl<B> fmt::Debug for IdleTimeout<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleTimeout")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// The error that ends a body the upstream stopped sending.
#[derive(Debug)]
pub struct StreamStalled(Duration);

impl StreamStalled {
    /// The upstream sent nothing for `idle`.
    pub fn after(idle: Duration) -> Self {
        Self(idle)
    }
}

impl fmt::Display for StreamStalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the upstream sent nothing for {}; stream closed",
            humantime::format_duration(self.0)
        )
    }
}

impl std::error::Error for StreamStalled {}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            *this.rearm = true;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let idle = *this.idle;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if *this.rearm {
            sleep.as_mut().reset(Instant::now() + idle);
        }
        *this.rearm = false;
        ready!(sleep.as_mut().poll(cx));
        *this.done = true;
        tracing::warn!(idle = ?this.idle, "upstream stream stalled; closing it");
        Poll::Ready(Some(Err(Box::new(StreamStalled(*this.idle)))))
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && (self.done || self.body.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let first = self
            .first
            .as_ref()
            .and_then(Frame::data_ref)
            .map_or(0, |d| d.len() as u64);
        let rest = self.body.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(first));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(first));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// Frames with a pause before each: `(pause, chunk)`; then stalls for ever.
    struct Paced {
        frames: VecDeque<(Duration, &'static str)>,
        sleep: Option<Pin<Box<Sleep>>>,
    }

    impl Body for Paced {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let Some(&(pause, chunk)) = self.frames.front() else {
                return Poll::Pending;
            };
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
            self.frames.pop_front();
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
        }
    }

    fn paced(frames: &[(u64, &'static str)]) -> Paced {
        Paced {
            frames: frames
                .iter()
                .map(|&(ms, c)| (Duration::from_millis(ms), c))
                .collect(),
            sleep: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn frames_within_the_idle_time_pass_and_a_stall_ends_the_body() {
        let start = Instant::now();
        let mut body = Box::pin(IdleTimeout::new(
            paced(&[(0, "a"), (900, "b"), (900, "c")]),
            Duration::from_secs(1),
        ));
        let mut got = Vec::new();
        let err = loop {
            match body.frame().await {
                Some(Ok(f)) => got.push(f.into_data().expect("data")),
                Some(Err(e)) => break e,
                None => panic!("the stall must end with an error"),
            }
        };
        assert_eq!(got, ["a", "b", "c"]);
        assert!(err.is::<StreamStalled>());
        assert_eq!(start.elapsed(), Duration::from_millis(2800));
        assert!(body.frame().await.is_none(), "ended");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_the_idle_time_ends_it() {
        let mut body = Box::pin(IdleTimeout::new(
            paced(&[(1500, "late")]),
            Duration::from_secs(1),
        ));
        assert!(matches!(body.frame().await, Some(Err(_))));
    }
}
