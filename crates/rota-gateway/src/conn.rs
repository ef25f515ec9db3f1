//! Per-connection limits (SPEC §7 `[limits]`): a client has `header_read_timeout` from the
//! first byte of a request to the end of its head, and a keep-alive connection with nothing
//! in flight is closed after `idle_timeout` without a byte either way.
//!
//! hyper's own `header_read_timeout` starts its timer whenever it waits for a head, idle
//! keep-alive included, so it would close every idle connection after the (short) header
//! timeout and allocate a timer per request. Here the IO is [`Watched`]: each read and write
//! stamps a per-worker coarse clock ([`Coarse`], a relaxed atomic ticked by one task), and
//! a [`Watchdog`] checks the stamps a few times per header timeout. The request path pays a few
//! relaxed atomic operations.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

/// The limits every connection is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// First byte of a request to the end of its head.
    pub(crate) header_read: Duration,
    /// No byte either way, nothing in flight.
    pub(crate) idle: Duration,
}

impl ConnLimits {
    /// How often a connection's stamps are checked, and how often the coarse clock ticks.
    pub(crate) fn tick(&self) -> Duration {
        (self.header_read.min(self.idle) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// Milliseconds since a worker started, ticked by one task: what a connection's stamps are
/// read against (an atomic load instead of a clock read per IO call).
#[derive(Debug)]
pub(crate) struct Coarse {
    start: tokio::time::Instant,
    ms: AtomicU64,
}

impl Coarse {
    /// A clock at zero; tick it with [`run`](Self::run).
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: tokio::time::Instant::now(),
            ms: AtomicU64::new(0),
        })
    }

    /// The time, to within one tick.
    pub(crate) fn now(&self) -> u64 {
        self.ms.load(Ordering::Relaxed)
    }

    fn update(&self) -> u64 {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.ms.store(ms, Ordering::Relaxed);
        ms
    }

    /// Ticks the clock every `every` until `stop` says so.
    pub(crate) async fn run(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.update(); }
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

const NONE: u64 = u64::MAX;

/// What one connection's IO and requests stamp.
#[derive(Debug)]
pub(crate) struct ConnState {
    clock: Arc<Coarse>,
    last_io: AtomicU64,
    /// When the head being read started (its first byte), or `NONE`.
    head_since: AtomicU64,
    /// Requests whose answer is not yet fully written.
    in_flight: AtomicU32,
}

impl ConnState {
    /// A new connection's state.
    pub(crate) fn new(clock: Arc<Coarse>) -> Arc<Self> {
        let now = clock.now();
        Arc::new(Self {
            clock,
            last_io: AtomicU64::new(now),
            head_since: AtomicU64::new(NONE),
            in_flight: AtomicU32::new(0),
        })
    }

    fn read(&self) {
        let now = self.clock.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == NONE
        {
            self.head_since.store(now, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.clock.now(), Ordering::Relaxed);
    }

    /// A request's head has been read: its answer is now in flight until [`InFlight`] drops.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    fn verdict(&self, limits: &ConnLimits) -> Verdict {
        let now = self.clock.now();
        let since = |at: u64| Duration::from_millis(now.saturating_sub(at));
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NONE && since(head) >= limits.header_read {
            return Verdict::HeaderTimeout;
        }
        let idle = self.in_flight.load(Ordering::Relaxed) == 0
            && head == NONE
            && since(self.last_io.load(Ordering::Relaxed)) >= limits.idle;
        if idle { Verdict::Idle } else { Verdict::Fine }
    }
}

enum Verdict {
    Fine,
    HeaderTimeout,
    Idle,
}

/// One request in flight on a connection; ends when dropped (with its answer's body).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.wrote();
    }
}

pin_project! {
    /// A response body that keeps its request [`InFlight`] until it is done.
    pub(crate) struct Tracked<B> {
        #[pin]
        body: B,
        flight: Option<InFlight>,
    }
}

impl<B> Tracked<B> {
    pub(crate) fn new(body: B, flight: InFlight) -> Self {
        Self {
            body,
            flight: Some(flight),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = this.body.poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.flight.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's service: marks each request in flight until its answer's body is done
/// ([`Tracked`]), around a tower service that is always ready (the gateway's stack answers
/// every request, so readiness is not awaited).
#[derive(Debug, Clone)]
pub(crate) struct Tracking<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> Tracking<S> {
    pub(crate) fn new(inner: S, state: Arc<ConnState>) -> Self {
        Self { inner, state }
    }
}

impl<S, Req, B> hyper::service::Service<Req> for Tracking<S>
where
    S: tower::Service<Req, Response = http::Response<B>> + Clone,
{
    type Response = http::Response<Tracked<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, req: Req) -> Self::Future {
        let flight = self.state.request();
        TrackedFuture {
            fut: self.inner.clone().call(req),
            flight: Some(flight),
        }
    }
}

pin_project! {
    /// The future of [`Tracking`]: the answer, its body tracked.
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        fut: F,
        flight: Option<InFlight>,
    }
}

impl<F, B, E> std::future::Future for TrackedFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<Tracked<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.fut.poll(cx))?;
        Poll::Ready(Ok(match this.flight.take() {
            Some(flight) => res.map(|body| Tracked::new(body, flight)),
            None => res.map(|body| Tracked { body, flight: None }),
        }))
    }
}

pin_project! {
    /// A connection's IO, stamping the connection's state on every read and write.
    pub(crate) struct Watched<T> {
        #[pin]
        io: T,
        state: Arc<ConnState>,
    }
}

impl<T> Watched<T> {
    pub(crate) fn new(io: T, state: Arc<ConnState>) -> Self {
        Self { io, state }
    }
}

impl<T: AsyncRead> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let res = this.io.poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.read();
        }
        res
    }
}

impl<T: AsyncWrite> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let res = this.io.poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.state.wrote();
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let res = this.io.poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.state.wrote();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// What a connection's [`Watchdog`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Close at once: a request head took longer than the header timeout.
    Close,
    /// Finish the in-flight requests and close (idle too long, or the worker is stopping).
    Graceful,
}

/// Holds one connection to its limits; the serving loop polls [`next`](Self::next) beside
/// the connection and acts on what it says.
#[derive(Debug)]
pub(crate) struct Watchdog {
    state: Arc<ConnState>,
    limits: ConnLimits,
    stop: watch::Receiver<bool>,
    check: tokio::time::Interval,
    closing: bool,
}

impl Watchdog {
    /// Watches `state` against `limits`; `stop` turning true asks for a graceful close.
    pub(crate) fn new(
        state: Arc<ConnState>,
        limits: ConnLimits,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let mut check = tokio::time::interval(limits.tick());
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.reset();
        Self {
            state,
            limits,
            stop,
            check,
            closing: false,
        }
    }

    /// The next thing to do; a graceful close is asked for once.
    pub(crate) async fn next(&mut self) -> Action {
        loop {
            tokio::select! {
                biased;
                _ = self.stop.wait_for(|s| *s), if !self.closing => {
                    self.closing = true;
                    return Action::Graceful;
                }
                _ = self.check.tick() => match self.state.verdict(&self.limits) {
                    Verdict::HeaderTimeout => {
                        tracing::debug!(timeout = ?self.limits.header_read, "client did not send a request head in time; connection closed");
                        return Action::Close;
                    }
                    Verdict::Idle if !self.closing => {
                        self.closing = true;
                        return Action::Graceful;
                    }
                    Verdict::Idle | Verdict::Fine => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            header_read: Duration::from_millis(1000),
            idle: Duration::from_millis(5000),
        }
    }

    fn at(clock: &Coarse, ms: u64) {
        clock.ms.store(ms, Ordering::Relaxed);
    }

    #[test]
    fn a_head_must_complete_within_the_header_timeout() {
        let clock = Coarse::new();
        let state = ConnState::new(clock.clone());
        at(&clock, 100);
        state.read();
        at(&clock, 1099);
        assert!(matches!(state.verdict(&limits()), Verdict::Fine));
        at(&clock, 1100);
        assert!(matches!(state.verdict(&limits()), Verdict::HeaderTimeout));
    }

    #[test]
    fn a_request_in_flight_is_never_idle_and_reads_during_it_start_no_head() {
        let clock = Coarse::new();
        let state = ConnState::new(clock.clone());
        state.read();
        let flight = state.request();
        at(&clock, 10_000);
        state.read(); // the body of the request in flight
        at(&clock, 60_000);
        assert!(matches!(state.verdict(&limits()), Verdict::Fine));
        drop(flight);
        at(&clock, 64_999);
        assert!(matches!(state.verdict(&limits()), Verdict::Fine));
        at(&clock, 65_000);
        assert!(matches!(state.verdict(&limits()), Verdict::Idle));
    }

    #[test]
    fn ticks_are_a_quarter_of_the_shorter_limit_within_bounds() {
        assert_eq!(limits().tick(), Duration::from_millis(250));
        let tiny = ConnLimits {
            header_read: Duration::from_millis(1),
            idle: Duration::from_secs(1),
        };
        assert_eq!(tiny.tick(), Duration::from_millis(10));
    }
}
