//! Raw faults: answers hyper cannot produce (a reset, a head without the rest, bytes that are
//! not HTTP), written on the connection itself.
//!
//! Every accepted socket sits in a [`Conn`] slot shared by the [`FaultIo`] that hyper reads and
//! writes and by the handler (through axum's `ConnectInfo`). For a raw fault the handler, once
//! it has read the whole request, takes the socket out of the slot and hands it to a task of its
//! own. From then on hyper's I/O fails, so hyper drops its side of the connection without having
//! written a byte, and the task alone decides what the peer sees. That task ends when the peer
//! goes away or the sim stops (the handle's stop signal is set or dropped), whichever is first.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The sim's listener: plain TCP, each socket wrapped in a [`FaultIo`].
#[derive(Debug)]
pub(crate) struct FaultListener {
    inner: TcpListener,
}

impl FaultListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FaultIo, SocketAddr) {
        // axum's own accept loop logs and retries accept errors.
        let (tcp, addr) = Listener::accept(&mut self.inner).await;
        // Streamed events should leave as soon as they are written.
        let _ = tcp.set_nodelay(true);
        (FaultIo::new(tcp), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Listener::local_addr(&self.inner)
    }
}

/// The socket of one connection, until a raw fault takes it.
#[derive(Clone, Debug)]
pub(crate) struct Conn(Arc<Mutex<Option<TcpStream>>>);

impl Conn {
    /// Takes the socket away from hyper; `None` if it was already taken.
    pub(crate) fn take(&self) -> Option<TcpStream> {
        self.0.lock().take()
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.io().conn.clone()
    }
}

/// The I/O hyper serves a connection on: the socket while it is in the slot, an error after a
/// raw fault took it.
#[derive(Debug)]
pub(crate) struct FaultIo {
    conn: Conn,
}

impl FaultIo {
    fn new(tcp: TcpStream) -> Self {
        Self {
            conn: Conn(Arc::new(Mutex::new(Some(tcp)))),
        }
    }

    /// Runs `f` on the socket, or fails with `NotConnected` once it was taken.
    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.conn.0.lock().as_mut() {
            Some(tcp) => f(Pin::new(tcp)),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection was taken over by a raw fault",
            ))),
        }
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|tcp| tcp.poll_read(cx, buf))
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|tcp| tcp.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.with(|tcp| tcp.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        // Whatever hyper gathers is written by the socket itself while it is in the slot.
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|tcp| tcp.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|tcp| tcp.poll_shutdown(cx))
    }
}

/// What a raw fault writes, and how the connection ends.
#[derive(Debug)]
pub(crate) struct Raw {
    /// Written first (may be empty).
    pub(crate) bytes: Vec<u8>,
    /// What happens after the bytes.
    pub(crate) end: End,
}

/// How a raw fault ends its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// An abortive close (`SO_LINGER` 0, so the peer gets a TCP RST).
    Reset,
    /// Close the write side (FIN), then read and discard until the peer closes.
    Close,
    /// Keep the connection open, reading and discarding, until the peer closes.
    Hold,
}

/// Serves `raw` on `tcp` in a task of its own, which ends when the peer goes away or `stop`
/// turns true or loses its sender.
pub(crate) fn spawn(tcp: TcpStream, raw: Raw, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => {}
            () = serve(tcp, raw) => {}
        }
    });
}

async fn serve(mut tcp: TcpStream, raw: Raw) {
    if raw.end == End::Reset {
        reset(tcp);
        return;
    }
    if tcp.write_all(&raw.bytes).await.is_err() || tcp.flush().await.is_err() {
        return;
    }
    if raw.end == End::Close && tcp.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0_u8; 4096];
    while let Ok(1..) = tcp.read(&mut sink).await {}
}

/// Drops `tcp` with `SO_LINGER` 0: the kernel discards what is unsent and answers with a RST.
#[expect(
    deprecated,
    reason = "a zero linger never blocks on drop, which is what the deprecation warns about"
)]
fn reset(tcp: TcpStream) {
    if let Err(error) = tcp.set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%error, "rota-sim: SO_LINGER 0 failed; closing plainly");
    }
    drop(tcp);
}

/// An HTTP/1.1 response head with `headers`, ending with the blank line.
pub(crate) fn head(status: http::StatusCode, headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Unknown")
    )
    .into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `data` as one HTTP/1.1 chunk of a chunked body.
pub(crate) fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_chunks() {
        let h = head(
            http::StatusCode::TOO_MANY_REQUESTS,
            &[("content-length", b"12")],
        );
        assert_eq!(
            h,
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 12\r\n\r\n"
        );
        assert_eq!(chunk(b"0123456789abcdefg"), b"11\r\n0123456789abcdefg\r\n");
    }
}
