//! The full rota stack over real sockets: SessionId → RetryRotate → AccountSelect →
//! RateLimitMark → a hyper-util client that forwards to a rota-sim upstream.

#![allow(dead_code, unreachable_pub)] // each test binary uses part of this module

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rota::body::MarkBody;
use rota::ext::SelectedAccount;
use rota::{
    AccountSelectLayer, BoxError, Pool, RateLimitMarkLayer, RetryRotateLayer, SessionIdLayer,
};
use rota_sim::SimHandle;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

/// The stack's service type.
pub type Svc = BoxCloneSyncService<Request<Bytes>, Response<MarkBody<Incoming>>, BoxError>;

/// One request the upstream client sent, as seen at the moment it was sent.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The account chosen for it.
    pub account: String,
    /// Whether the pool had that account cooling down for the request's model when it was sent.
    pub cooling: bool,
}

/// A running stack: the service, its pool and the sim behind it.
#[derive(Debug, Clone)]
pub struct Stack {
    pub svc: Svc,
    pub pool: Pool,
    pub sim: SimHandle,
    pub dispatches: Arc<Mutex<Vec<Dispatch>>>,
}

/// What came back for one request, body read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub frames: usize,
}

impl Answer {
    /// A response header as a string ("" if absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Stack {
    /// Starts a sim and puts the four layers over `pool` in front of it.
    pub async fn start(pool: Pool) -> Self {
        let sim = rota_sim::Sim::start().await.expect("sim starts");
        Self::over(pool, sim)
    }

    /// The four layers over `pool`, forwarding to `sim`.
    pub fn over(pool: Pool, sim: SimHandle) -> Self {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let base = sim.base_url();
        let dispatches = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&dispatches);
        let watch = pool.clone();
        let upstream = tower::service_fn(move |req: Request<Bytes>| {
            // This runs synchronously right after AccountSelect picked the account.
            if let Some(selected) = req.extensions().get::<SelectedAccount>() {
                log.lock().expect("dispatch log").push(Dispatch {
                    account: watch.account(selected.id).email.clone(),
                    cooling: cooling(&watch, selected),
                });
            }
            let (mut parts, body) = req.into_parts();
            let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            parts.uri = format!("{base}{pq}").parse().expect("valid upstream URI");
            let req = Request::from_parts(parts, Full::new(body));
            let client = client.clone();
            async move { client.request(req).await.map_err(BoxError::from) }
        });
        let svc = ServiceBuilder::new()
            .layer(SessionIdLayer::new())
            .layer(RetryRotateLayer::new(pool.clone()))
            .layer(AccountSelectLayer::new(pool.clone()))
            .layer(RateLimitMarkLayer::new(pool.clone()))
            .service(upstream);
        Self {
            svc: BoxCloneSyncService::new(svc),
            pool,
            sim,
            dispatches,
        }
    }

    /// Sends one request through the stack and reads the whole answer.
    pub async fn send(&self, req: Request<Bytes>) -> Answer {
        let res = self
            .svc
            .clone()
            .oneshot(req)
            .await
            .expect("the stack answers");
        let (parts, mut body) = res.into_parts();
        let mut bytes = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("body reads");
            if let Some(data) = frame.data_ref() {
                frames += 1;
                bytes.extend_from_slice(data);
            }
        }
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: Bytes::from(bytes),
            frames,
        }
    }
}

/// Whether `selected`'s account is cooling down for its model right now.
fn cooling(pool: &Pool, selected: &SelectedAccount) -> bool {
    pool.snapshot()[selected.id.index()]
        .cooldowns
        .iter()
        .any(|c| c.model.as_deref().is_none_or(|m| m == &*selected.model))
}

/// A POST with a JSON body and a client credential (which must never reach the upstream).
pub fn post(path: &str, body: impl Into<String>) -> Request<Bytes> {
    Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-key")
        .body(Bytes::from(body.into()))
        .expect("valid request")
}

/// An OpenAI chat request: the first user message, then optionally an assistant answer and a
/// follow-up (the second turn of the same conversation).
pub fn chat(model: &str, first: &str, follow_up: Option<&str>, stream: bool) -> Request<Bytes> {
    let mut messages = vec![serde_json::json!({"role": "user", "content": first})];
    if let Some(next) = follow_up {
        messages.push(serde_json::json!({"role": "assistant", "content": "Sure."}));
        messages.push(serde_json::json!({"role": "user", "content": next}));
    }
    let body = serde_json::json!({"model": model, "stream": stream, "messages": messages});
    post("/v1/chat/completions", body.to_string())
}
