//! Serving: an accept loop that hands each connection to one of several worker threads, each
//! running hyper-util's HTTP/1.1 + h2c server on its own single-threaded tokio runtime, and
//! graceful shutdown.
//!
//! **Why workers, not one multi-threaded runtime.** On a multi-threaded runtime a request's
//! connection task and the upstream connection task it talks to are scheduled on whichever
//! core is free, so every request crosses cores several times: wake-ups, reference counts and
//! frees of memory allocated on the other core. On the load harness that cost the gateway
//! more than its own work did. Here a client connection, the requests on it and the upstream
//! connections they use (each worker has its own pooled client) stay on one thread; only the
//! account pool, the binding store and the token cache are shared. The acceptor gives each new
//! connection to the worker with the fewest open ones, so long-lived keep-alive connections
//! spread evenly. The price: one HTTP/2 client connection is served by one core.
//!
//! The gateway serves with hyper-util directly rather than `axum::serve`: requests reach
//! [`Dispatch`] as hyper hands them over (no boxed request body). The axum router still
//! answers everything but the API routes.
//!
//! **Limits** (SPEC §7): at most `max_connections` client connections at once (more wait in
//! the listen queue, and the cap never exceeds what the process's file descriptors allow);
//! each connection held to the header-read and idle timeouts ([`crate::conn`]); a graceful
//! shutdown that gives in-flight requests at most `shutdown_timeout`. Every request is
//! served under tower-http's `CatchPanic` (a last line of defence: a panic answers 500 and
//! takes down nothing else) and `SetSensitiveRequestHeaders` (client credentials never reach
//! a trace).

use std::any::Any;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::response::Response;
use http::{HeaderName, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::conn::{Action, Coarse, ConnLimits, ConnState, Tracking, Watchdog, Watched};
use crate::dialect::Dialect;
use crate::dispatch::Dispatch;

/// The serving limits (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServeLimits {
    /// Per-connection timeouts.
    pub(crate) conn: ConnLimits,
    /// Most client connections at once.
    pub(crate) max_connections: usize,
    /// Longest a graceful shutdown waits for in-flight requests.
    pub(crate) shutdown: Duration,
}

/// File descriptors kept for everything but client connections (upstream connections,
/// the state file, the listener): a client connection may need an upstream one too.
const SPARE_FDS: u64 = 64;

/// The connection cap this process can honour: `wanted`, or less if the file-descriptor
/// limit (raised to its hard limit first) would run out before it (each client connection
/// may hold an upstream connection as well).
fn connection_cap(wanted: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let fits = usize::try_from(limit.saturating_sub(SPARE_FDS) / 2).unwrap_or(usize::MAX);
    if fits < wanted {
        tracing::warn!(
            max_connections = wanted,
            open_files = limit,
            cap = fits.max(1),
            "limits.max_connections is more than the open-file limit allows; capped"
        );
    }
    wanted.min(fits).max(1)
}

/// Serves `listener` until `stop` completes, then stops accepting, asks every open connection
/// to finish its in-flight requests and close, and waits for them.
pub(crate) async fn run(
    listener: TcpListener,
    mut workers: Workers,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut stop = pin!(stop);
    let slots = Arc::new(Semaphore::new(workers.max_connections));
    loop {
        // A free connection slot first: past the cap, connections wait in the listen queue.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_error(&e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Responses are written whole; Nagle would only delay the last segment.
        let _ = stream.set_nodelay(true);
        match stream.into_std() {
            Ok(stream) => workers.hand_over(stream, slot),
            Err(e) => tracing::debug!(error = %e, "accepted connection lost"),
        }
    }
    drop(listener);
    workers.finish().await;
    Ok(())
}

/// A failed `accept`: a connection that died before it was accepted is ignored; anything else
/// (typically out of file descriptors) is logged and accepting pauses for a second, so the
/// loop does not spin while connections close.
async fn accept_error(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// An accepted connection and the slot it holds until it closes.
type Accepted = (std::net::TcpStream, OwnedSemaphorePermit);

/// The worker threads, as the acceptor sees them.
pub(crate) struct Workers {
    /// Each worker's queue of accepted connections.
    queues: Vec<mpsc::UnboundedSender<Accepted>>,
    /// Each worker's open connections.
    open: Arc<[AtomicUsize]>,
    /// Completes when that worker's last connection has closed after the queues closed.
    finished: Vec<oneshot::Receiver<()>>,
    /// Where the search for the least loaded worker starts: ties go round the workers.
    next: usize,
    /// Most client connections at once.
    max_connections: usize,
}

impl Workers {
    /// Starts one thread per entry of `dispatches`, each serving with its `Dispatch`.
    pub(crate) fn start(dispatches: Vec<Dispatch>, limits: ServeLimits) -> io::Result<Self> {
        let open: Arc<[AtomicUsize]> = dispatches.iter().map(|_| AtomicUsize::new(0)).collect();
        let mut queues = Vec::with_capacity(dispatches.len());
        let mut finished = Vec::with_capacity(dispatches.len());
        for (index, dispatch) in dispatches.into_iter().enumerate() {
            let (queue, incoming) = mpsc::unbounded_channel();
            let (done, finish) = oneshot::channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let open = Arc::clone(&open);
            std::thread::Builder::new()
                .name(format!("rota-worker-{index}"))
                .spawn(move || {
                    runtime.block_on(worker(incoming, dispatch, open, index, limits));
                    let _ = done.send(());
                })?;
            queues.push(queue);
            finished.push(finish);
        }
        Ok(Self {
            queues,
            open,
            finished,
            next: 0,
            max_connections: connection_cap(limits.max_connections),
        })
    }

    /// Each worker's open connections, as counted by the workers.
    pub(crate) fn open(&self) -> Arc<[AtomicUsize]> {
        Arc::clone(&self.open)
    }

    /// Gives `stream` to the worker with the fewest open connections.
    fn hand_over(&mut self, stream: std::net::TcpStream, slot: OwnedSemaphorePermit) {
        let Some(target) = least_loaded(&self.open, self.next) else {
            return;
        };
        self.next = (target + 1) % self.open.len();
        self.open[target].fetch_add(1, Ordering::Relaxed);
        if self.queues[target].send((stream, slot)).is_err() {
            // Only if that worker's thread died (a bug): the connection is dropped.
            self.open[target].fetch_sub(1, Ordering::Relaxed);
            tracing::error!(worker = target, "worker gone; connection dropped");
        }
    }

    /// Closes the queues and waits until every worker has finished its connections.
    async fn finish(self) {
        drop(self.queues);
        for finish in self.finished {
            let _ = finish.await;
        }
    }
}

/// The index of the smallest count, looking from `start` round: among equal counts the first
/// at or after `start` wins. `None` for no counts.
fn least_loaded(open: &[AtomicUsize], start: usize) -> Option<usize> {
    let n = open.len();
    (0..n)
        .map(|i| (start + i) % n)
        .min_by_key(|&i| open[i].load(Ordering::Relaxed))
}

/// One connection of a worker, counted as open (and holding its slot) until dropped.
struct Counted {
    open: Arc<[AtomicUsize]>,
    index: usize,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Client credentials, marked sensitive on arrival so no trace or debug output shows them.
/// (`Proxy-Authorization` is hop-by-hop: the edge removes it before anything reads it.)
const SENSITIVE: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-goog-api-key"),
];

/// The answer when a request's handler panicked (a bug; the panic is logged).
fn panic_answer(err: Box<dyn Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "request handler panicked");
    Dialect::OpenAi.error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// A worker: serves the connections it is handed, one task each, until the acceptor hangs
/// up; then asks them to finish their in-flight requests and close, and waits for them at
/// most `limits.shutdown`. Its open connections are counted in `open[index]`.
async fn worker(
    mut incoming: mpsc::UnboundedReceiver<Accepted>,
    dispatch: Dispatch,
    open: Arc<[AtomicUsize]>,
    index: usize,
    limits: ServeLimits,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let (stop, stopping) = watch::channel(false);
    let clock = Coarse::new();
    tokio::spawn(Arc::clone(&clock).run(limits.conn.tick(), stopping.clone()));
    let service = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panic_answer))
        .layer(SetSensitiveRequestHeadersLayer::new(SENSITIVE))
        .service(dispatch);
    let mut conns = JoinSet::new();
    loop {
        let (stream, slot) = tokio::select! {
            next = incoming.recv() => match next {
                Some(accepted) => accepted,
                None => break,
            },
            // Finished connections are reaped as they go.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let counted = Counted {
            open: Arc::clone(&open),
            index,
            _slot: slot,
        };
        let stream = match TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot register an accepted connection");
                continue;
            }
        };
        let state = ConnState::new(Arc::clone(&clock));
        let hyper_service = Tracking::new(service.clone(), Arc::clone(&state));
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&state)));
        let conn = builder.serve_connection(io, hyper_service).into_owned();
        let mut watchdog = Watchdog::new(state, limits.conn, stopping.clone());
        conns.spawn(async move {
            let mut conn = pin!(conn);
            loop {
                tokio::select! {
                    biased;
                    end = conn.as_mut() => {
                        if let Err(e) = end {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    action = watchdog.next() => match action {
                        Action::Close => break,
                        Action::Graceful => conn.as_mut().graceful_shutdown(),
                    },
                }
            }
            drop(counted);
        });
    }
    stop.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown, async {
        while conns.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tracing::warn!(
            worker = index,
            left = conns.len(),
            timeout = ?limits.shutdown,
            "graceful shutdown timed out; closing the remaining connections"
        );
        conns.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[usize]) -> Vec<AtomicUsize> {
        v.iter().map(|&n| AtomicUsize::new(n)).collect()
    }

    #[test]
    fn the_worker_with_fewest_connections_gets_the_next() {
        assert_eq!(least_loaded(&counts(&[3, 1, 2]), 0), Some(1));
        assert_eq!(least_loaded(&counts(&[3, 1, 2]), 2), Some(1));
    }

    #[test]
    fn ties_go_round_from_the_start() {
        let open = counts(&[1, 0, 0]);
        assert_eq!(least_loaded(&open, 0), Some(1));
        assert_eq!(least_loaded(&open, 2), Some(2));
        assert_eq!(least_loaded(&counts(&[0, 0]), 1), Some(1));
        assert_eq!(least_loaded(&counts(&[0, 0]), 5), Some(1));
    }

    #[test]
    fn no_workers_no_choice() {
        assert_eq!(least_loaded(&[], 0), None);
    }
}
