//! Shared bits of the load-harness binaries (`fast-upstream`, `bare-proxy`, `ttfb`).
//!
//! These exist only to measure rota-gateway against a baseline on one machine; see
//! `bench/load.sh` and BENCHMARKS.md.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Reads `--flag VALUE` from the command line.
pub fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Serves on `addr` with `workers` threads, each a single-threaded runtime with the handler
/// that `make` builds on it (e.g. over its own upstream client): the main thread accepts and
/// hands connections round the workers — the gateway's serving model, so that the baseline
/// is not handicapped by a serving model the gateway does not use. Forever.
pub fn serve_on_workers<M, F, Fut, B>(
    addr: SocketAddr,
    workers: usize,
    make: M,
) -> std::io::Result<()>
where
    M: Fn() -> F,
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut queues = Vec::new();
    for i in 0..workers.max(1) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::net::TcpStream>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handler = make();
        std::thread::Builder::new()
            .name(format!("bare-worker-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(stream) = rx.recv().await {
                        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                            continue;
                        };
                        let svc = hyper::service::service_fn(handler.clone());
                        tokio::spawn(async move {
                            let _ = auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                });
            })?;
        queues.push(tx);
    }
    let listener = std::net::TcpListener::bind(addr)?;
    for (n, stream) in listener.incoming().enumerate() {
        let stream = stream?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let _ = queues[n % queues.len()].send(stream);
    }
    Ok(())
}

/// Serves `handler` on `addr` (HTTP/1.1 and h2c), one task per connection, forever.
pub async fn serve<F, Fut, B>(addr: SocketAddr, handler: F) -> std::io::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(handler);
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
