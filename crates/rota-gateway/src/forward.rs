//! [`Forward`]: the innermost service — sends the request to the upstream over a pooled
//! hyper-util client and streams the answer back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rota::ext::SelectedAccount;
use rota::{BoxError, Pool};
use tower::Service;

use crate::dialect::Dialect;
use crate::metrics::account_outcome;

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

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Sends each request to `base_url` + its path and query.
#[derive(Clone)]
pub struct Forward {
    client: HttpClient,
    base_url: Arc<str>,
    timeout: Duration,
    pool: Pool,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Forward {
    /// Forwards to `base_url` (no trailing slash) with a per-attempt `timeout` until the
    /// response headers.
    pub fn new(client: HttpClient, base_url: &str, timeout: Duration, pool: Pool) -> Self {
        Self {
            pool,
            client,
            base_url: base_url.trim_end_matches('/').into(),
            timeout,
        }
    }
}

impl Service<Request<Bytes>> for Forward {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        let timeout = self.timeout;
        let account: Option<Arc<str>> = req
            .extensions()
            .get::<SelectedAccount>()
            .and_then(|s| self.pool.scheduler().specs().get(s.id.index()))
            .map(|a| a.email.as_str().into());
        let dialect = Dialect::of_path(req.uri().path());
        let pq = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
        let uri = format!("{}{pq}", self.base_url);
        let (parts, body) = req.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        headers.remove(header::CONTENT_LENGTH);
        // Error answers must be readable to classify them (no compressed bodies).
        headers.remove(header::ACCEPT_ENCODING);
        Box::pin(async move {
            let mut out = Request::new(Full::new(body));
            *out.method_mut() = parts.method;
            *out.version_mut() = Version::HTTP_11;
            *out.headers_mut() = headers;
            *out.uri_mut() = uri.parse().map_err(|e| -> BoxError { Box::new(e) })?;
            let result = tokio::time::timeout(timeout, client.request(out)).await;
            let outcome = |status| {
                if let Some(a) = &account {
                    account_outcome(a, status);
                }
            };
            match result {
                Ok(Ok(res)) => {
                    outcome(Some(res.status()));
                    Ok(res.map(Body::new))
                }
                Ok(Err(e)) => {
                    outcome(None);
                    tracing::warn!(error = %e, "upstream request failed");
                    Err(Box::new(e) as BoxError)
                }
                Err(_) => {
                    outcome(None);
                    tracing::warn!(timeout = ?timeout, "upstream timed out before answering");
                    let msg = format!(
                        "the upstream did not answer within {}",
                        humantime::format_duration(timeout)
                    );
                    Ok(dialect.error(StatusCode::GATEWAY_TIMEOUT, &msg))
                }
            }
        })
    }
}
