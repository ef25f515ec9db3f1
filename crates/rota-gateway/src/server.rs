//! The accept loop: hyper-util's HTTP/1.1 + h2c server, one task per connection, graceful
//! shutdown.
//!
//! The gateway serves with hyper-util directly rather than `axum::serve`: requests reach
//! [`Dispatch`] as hyper hands them over (no tower-to-hyper adapter, no boxed request body,
//! no per-poll `select!` per connection) — the same server as the load harness's bare proxy.
//! The axum router still answers everything but the API routes.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

use crate::dispatch::Dispatch;

/// Serves `listener` until `stop` completes, then stops accepting, asks every open connection
/// to finish its in-flight requests and close, and waits for them.
pub(crate) async fn run(
    listener: TcpListener,
    dispatch: Dispatch,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
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
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
