//! [`Forward`]: the innermost service — sends the request to the upstream over a pooled
//! hyper-util client and streams the answer back.
//!
//! It never touches the request's headers but for `Host`, `Content-Length` and
//! `Accept-Encoding`: the client's hop-by-hop headers were removed at the edge and the
//! account's credential was set after that, so nothing here may remove headers (a client's
//! `Connection: authorization` would otherwise strip the credential). The wait for the
//! response head is bounded by the upstream timeout (the attempt fails with tower's
//! `Elapsed`: 504, the account marked unreachable); the streamed body by the idle timeout
//! ([`IdleTimeout`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{self, Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Request, Response, Uri, Version, header};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pin_project_lite::pin_project;
use rota::BoxError;
use tokio::time::Timeout;
use tower::Service;

use crate::idle::{IdleTimeout, StreamStalled};
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::time::Sleep;

/// The pooled HTTP(S) client used for upstream requests and token refreshes.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Builds the shared, pooled client (one per gateway): plain HTTP for `http://` URLs, TLS
/// (rustls with the ring provider, Mozilla's root certificates, ALPN h2/http1.1) for
/// `https://` ones.
pub fn http_client() -> Result<HttpClient, rustls::Error> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}

/// Makes `Content-Length` match a buffered body of `len` bytes, keeping the client's header
/// when it is still right (a model rewrite changes the length); an empty body without the
/// header stays without it.
fn set_content_length(headers: &mut HeaderMap, len: usize) {
    let current = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if current == Some(len) || (current.is_none() && len == 0) {
        return;
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// Sends each request to `base_url` + its path and query.
#[derive(Clone)]
pub struct Forward {
    inner: Arc<Inner>,
}

struct Inner {
    client: HttpClient,
    base_url: Box<str>,
    /// `base_url` split once: scheme, authority and path prefix ("" for none); `None` if it
    /// does not parse as an absolute URL (each request then fails to build its URI).
    base: Option<(Scheme, Authority, Box<str>)>,
    timeout: Duration,
    stream_idle: Duration,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("base_url", &self.inner.base_url)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Forward {
    /// Forwards to `base_url` (no trailing slash) with a per-attempt `timeout` until the
    /// response headers, and `stream_idle` as the longest silence of a response body.
    pub fn new(
        client: HttpClient,
        base_url: &str,
        timeout: Duration,
        stream_idle: Duration,
    ) -> Self {
        let base_url = base_url.trim_end_matches('/');
        let base = base_url.parse::<Uri>().ok().and_then(|uri| {
            let parts = uri.into_parts();
            let path = match &parts.path_and_query {
                Some(pq) if pq.query().is_some() => return None,
                Some(pq) => pq.path().trim_end_matches('/').into(),
                None => "".into(),
            };
            Some((parts.scheme?, parts.authority?, path))
        });
        Self {
            inner: Arc::new(Inner {
                client,
                base_url: base_url.into(),
                base,
                timeout,
                stream_idle,
            }),
        }
    }

    /// `base_url` + the request's path and query, built from parts (no formatting and
    /// re-parsing when `base_url` has no path).
    fn upstream_uri(&self, uri: &Uri) -> Result<Uri, BoxError> {
        let pq = uri.path_and_query();
        let Some((scheme, authority, base_path)) = &self.inner.base else {
            let pq = pq.map_or_else(|| uri.path(), PathAndQuery::as_str);
            return Ok(format!("{}{pq}", self.inner.base_url).parse::<Uri>()?);
        };
        let pq = match pq {
            Some(pq) if base_path.is_empty() => pq.clone(),
            _ => {
                let pq = pq.map_or_else(|| uri.path(), PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{base_path}{pq}"))?
            }
        };
        let mut parts = uri::Parts::default();
        parts.scheme = Some(scheme.clone());
        parts.authority = Some(authority.clone());
        parts.path_and_query = Some(pq);
        Ok(Uri::from_parts(parts)?)
    }
}

impl Service<Request<Bytes>> for Forward {
    type Response = Response<IdleTimeout<Incoming>>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let timeout = self.inner.timeout;
        let uri = self.upstream_uri(req.uri());
        let (parts, body) = req.into_parts();
        let mut headers = parts.headers;
        headers.remove(header::HOST);
        set_content_length(&mut headers, body.len());
        // Error answers must be readable to classify them (no compressed bodies).
        headers.remove(header::ACCEPT_ENCODING);
        let uri = match uri {
            Ok(uri) => uri,
            Err(e) => return ResponseFuture::Failed { err: Some(e) },
        };
        let mut out = Request::new(Full::new(body));
        *out.method_mut() = parts.method;
        *out.version_mut() = Version::HTTP_11;
        *out.headers_mut() = headers;
        *out.uri_mut() = uri;
        // The client's future owns what it needs (no clone of the client here).
        let sent = self.inner.client.request(out);
        ResponseFuture::Sending {
            sent: tokio::time::timeout(timeout, sent),
            forward: self.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`Forward`] (named, so the stack's future is never boxed here).
    #[project = ResponseFutureProj]
    #[allow(missing_docs)] // pin-project-lite takes no docs on variant fields
    pub enum ResponseFuture {
        /// The upstream URI could not be built.
        Failed { err: Option<BoxError> },
        /// Waiting for the upstream's response head, at most the timeout.
        Sending {
            #[pin]
            sent: Timeout<hyper_util::client::legacy::ResponseFuture>,
            forward: Forward,
        },
        /// Reading the first frame of an answer without a length (at most the stream idle
        /// timeout) before handing it on: a body that fails at once is a failed attempt, not
        /// a response the client would get without a head.
        Priming {
            parts: Option<http::response::Parts>,
            body: Option<Incoming>,
            // Boxed: armed only when the first frame is not there at once.
            deadline: Option<Pin<Box<Sleep>>>,
            idle: Duration,
        },
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Failed { .. } => "ResponseFuture::Failed",
            Self::Sending { .. } => "ResponseFuture::Sending",
            Self::Priming { .. } => "ResponseFuture::Priming",
        })
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<IdleTimeout<Incoming>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                ResponseFutureProj::Failed { err } => {
                    let err = err.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Err(err));
                }
                ResponseFutureProj::Sending { sent, forward } => {
                    let inner = &forward.inner;
                    let res = match ready!(sent.poll(cx)) {
                        Ok(Ok(res)) => res,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "upstream request failed");
                            return Poll::Ready(Err(Box::new(e)));
                        }
                        Err(_) => {
                            tracing::warn!(timeout = ?inner.timeout, "upstream timed out before answering");
                            return Poll::Ready(Err(Box::new(
                                tower::timeout::error::Elapsed::new(),
                            )));
                        }
                    };
                    let idle = inner.stream_idle;
                    // Only bodies without a length are primed (chunked or close-delimited:
                    // streams, and where bad chunking can break an answer at once). Waiting for
                    // a sized body's first frame would cost every plain answer a wake-up round
                    // trip with the upstream connection (measured: ~10 % more CPU per request).
                    let sized = res.headers().contains_key(header::CONTENT_LENGTH);
                    if sized || res.body().is_end_stream() {
                        return Poll::Ready(Ok(res.map(|b| IdleTimeout::new(b, idle))));
                    }
                    let (parts, body) = res.into_parts();
                    self.set(ResponseFuture::Priming {
                        parts: Some(parts),
                        body: Some(body),
                        deadline: None,
                        idle,
                    });
                }
                ResponseFutureProj::Priming {
                    parts,
                    body,
                    deadline,
                    idle,
                } => {
                    let idle = *idle;
                    let Some(incoming) = body.as_mut() else {
                        return Poll::Ready(Err("ResponseFuture polled after completion".into()));
                    };
                    let first = match Pin::new(incoming).poll_frame(cx) {
                        Poll::Ready(Some(Ok(frame))) => Some(frame),
                        Poll::Ready(None) => None,
                        Poll::Ready(Some(Err(e))) => {
                            tracing::warn!(error = %e, "upstream answer broke off before its first byte");
                            return Poll::Ready(Err(Box::new(e)));
                        }
                        Poll::Pending => {
                            let sleep =
                                deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                            ready!(sleep.as_mut().poll(cx));
                            tracing::warn!(idle = ?idle, "upstream sent a head but no body in time");
                            return Poll::Ready(Err(Box::new(StreamStalled::after(idle))));
                        }
                    };
                    let (Some(parts), Some(body)) = (parts.take(), body.take()) else {
                        return Poll::Ready(Err("ResponseFuture polled after completion".into()));
                    };
                    let body = IdleTimeout::with_first(body, idle, first);
                    return Poll::Ready(Ok(Response::from_parts(parts, body)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn content_length_follows_the_body() {
        let mut h = headers(&[("content-length", "42")]);
        set_content_length(&mut h, 42);
        assert_eq!(h["content-length"], "42");
        set_content_length(&mut h, 40);
        assert_eq!(h["content-length"], "40");

        let mut h = HeaderMap::new();
        set_content_length(&mut h, 0);
        assert!(
            h.is_empty(),
            "an empty body without the header stays without it"
        );
        set_content_length(&mut h, 7);
        assert_eq!(h["content-length"], "7");

        let mut h = headers(&[("content-length", "not a number")]);
        set_content_length(&mut h, 3);
        assert_eq!(h["content-length"], "3");
    }
}
