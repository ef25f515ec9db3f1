//! [`SessionIdLayer`]: parse the body once; attach [`RequestFacts`] and the [`SessionId`].
//!
//! Modelled on tower-http's `request_id`: compute from the request, put into extensions, call
//! the inner service; the response future is the inner one (zero cost).
//!
//! Rules (SPEC §2), first that applies: an explicit session header (default `x-session-id`);
//! the session of the object the request continues (applied by
//! [`AccountSelectLayer`](crate::AccountSelectLayer), which knows the owners: the facts carry
//! the object in [`RequestFacts::object`]); Anthropic `metadata.user_id` without `session-`,
//! or OpenAI's `prompt_cache_key` as `pck-…`; the first qualifying user message, hashed.
//! Malformed bodies are not an error here: they get no session id and pass on, with
//! [`RequestFacts::body`] saying so.
//!
//! ```
//! use bytes::Bytes;
//! use rota::{RequestFacts, SessionId, SessionIdLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(SessionIdLayer::new())
//!     .service_fn(|req: http::Request<Bytes>| async move {
//!         let facts = req.extensions().get::<RequestFacts>().cloned().unwrap();
//!         Ok::<_, std::convert::Infallible>(facts)
//!     });
//! let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"What is a monad, briefly?"}]}"#;
//! let req = http::Request::post("/v1/chat/completions").body(Bytes::from(body)).unwrap();
//! let facts = svc.oneshot(req).await.unwrap();
//! assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
//! assert!(facts.session_id.unwrap().as_str().starts_with("sid-"));
//! # });
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request};
use rota_core::{Protocol, RequestFacts, SessionId, fingerprint, protocol};
use tower::{Layer, Service};

use crate::headers::X_SESSION_ID;

/// Attaches [`RequestFacts`] (and [`SessionId`], when one applies) to each request.
#[derive(Debug, Clone)]
pub struct SessionIdLayer {
    headers: Arc<[HeaderName]>,
}

impl SessionIdLayer {
    /// With the default explicit session header, `x-session-id`.
    pub fn new() -> Self {
        Self {
            headers: Arc::new([X_SESSION_ID]),
        }
    }

    /// With these explicit session headers, checked in order (empty: none).
    pub fn with_headers(headers: impl IntoIterator<Item = HeaderName>) -> Self {
        Self {
            headers: headers.into_iter().collect(),
        }
    }
}

impl Default for SessionIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for SessionIdLayer {
    type Service = SessionIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionIdService {
            inner,
            headers: self.headers.clone(),
        }
    }
}

/// The service of [`SessionIdLayer`].
#[derive(Debug, Clone)]
pub struct SessionIdService<S> {
    inner: S,
    headers: Arc<[HeaderName]>,
}

impl<S> SessionIdService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the layer, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Computes the facts of one request (what [`SessionIdService`] attaches).
pub fn request_facts(req: &Request<Bytes>, session_headers: &[HeaderName]) -> RequestFacts {
    let path = req.uri().path();
    let protocol = Protocol::of_request(path, req.headers(), req.uri().query());
    let mut facts = fingerprint::inspect(protocol, req.body());
    if protocol == Protocol::Gemini {
        facts.model = None;
        facts.model_span = None;
        facts.stream = Protocol::gemini_path_streams(path);
    }
    if let Some((_, model, _)) = Protocol::path_model(path) {
        facts.model = Some(model.into());
        facts.model_span = None;
    }
    if let Some(id) = protocol::path_object(path) {
        facts.object = Some(id.into());
    }
    facts.auxiliary = !protocol::is_turn(req.method(), path);
    if let Some(id) = header_session(req.headers(), session_headers) {
        facts.session_id = Some(id);
    }
    facts
}

fn header_session(headers: &HeaderMap, names: &[HeaderName]) -> Option<SessionId> {
    names.iter().find_map(|name| {
        let value = headers.get(name)?.to_str().ok()?.trim();
        (!value.is_empty()).then(|| SessionId(value.into()))
    })
}

impl<S> Service<Request<Bytes>> for SessionIdService<S>
where
    S: Service<Request<Bytes>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Bytes>) -> Self::Future {
        if req.extensions().get::<RequestFacts>().is_none() {
            let facts = request_facts(&req, &self.headers);
            if let Some(id) = &facts.session_id {
                req.extensions_mut().insert(id.clone());
            }
            req.extensions_mut().insert(facts);
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests;
