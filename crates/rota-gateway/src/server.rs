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
//! [`Dispatch`] as hyper hands them over (no tower-to-hyper adapter, no boxed request body,
//! no per-poll `select!` per connection). The axum router still answers everything but the
//! API routes.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tower::Service;

use crate::dispatch::Dispatch;

/// Serves `listener` until `stop` completes, then stops accepting, asks every open connection
/// to finish its in-flight requests and close, and waits for them.
pub(crate) async fn run(
    listener: TcpListener,
    mut workers: Workers,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut stop = pin!(stop);
    loop {
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
            Ok(stream) => workers.hand_over(stream),
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

/// The worker threads, as the acceptor sees them.
pub(crate) struct Workers {
    /// Each worker's queue of accepted connections.
    queues: Vec<mpsc::UnboundedSender<std::net::TcpStream>>,
    /// Each worker's open connections.
    open: Arc<[AtomicUsize]>,
    /// Completes when that worker's last connection has closed after the queues closed.
    finished: Vec<oneshot::Receiver<()>>,
    /// Where the search for the least loaded worker starts: ties go round the workers.
    next: usize,
}

impl Workers {
    /// Starts one thread per entry of `dispatches`, each serving with its `Dispatch`.
    pub(crate) fn start(dispatches: Vec<Dispatch>) -> io::Result<Self> {
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
                    runtime.block_on(worker(incoming, dispatch, open, index));
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
        })
    }

    /// Each worker's open connections, as counted by the workers.
    pub(crate) fn open(&self) -> Arc<[AtomicUsize]> {
        Arc::clone(&self.open)
    }

    /// Gives `stream` to the worker with the fewest open connections.
    fn hand_over(&mut self, stream: std::net::TcpStream) {
        let Some(target) = least_loaded(&self.open, self.next) else {
            return;
        };
        self.next = (target + 1) % self.open.len();
        self.open[target].fetch_add(1, Ordering::Relaxed);
        if self.queues[target].send(stream).is_err() {
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

/// One connection of a worker, counted as open until dropped.
struct Counted {
    open: Arc<[AtomicUsize]>,
    index: usize,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

/// A worker: serves the connections it is handed, one task each, until the acceptor hangs
/// up; then asks them to finish their in-flight requests and close, and waits for them. Its
/// open connections are counted in `open[index]`.
async fn worker(
    mut incoming: mpsc::UnboundedReceiver<std::net::TcpStream>,
    dispatch: Dispatch,
    open: Arc<[AtomicUsize]>,
    index: usize,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    while let Some(stream) = incoming.recv().await {
        let counted = Counted {
            open: Arc::clone(&open),
            index,
        };
        let stream = match TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot register an accepted connection");
                continue;
            }
        };
        let dispatch = dispatch.clone();
        let service = hyper::service::service_fn(move |req| dispatch.clone().call(req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(counted);
        });
    }
    graceful.shutdown().await;
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
