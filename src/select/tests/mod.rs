//! AccountSelectLayer alone (SPEC §3, §6, §7 "Credentials"), one test per rule: shared
//! helpers here, the rules in one file per concern.

mod binding;
mod caps;
mod controls;
mod objects;
mod requests;
mod waits;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use rota_core::store::StoreFuture;
use rota_core::{
    AccountId, AccountSpec, BindingStore, Decision, Failure, MemoryBindingStore, Mode,
    ModelMapping, Outcome, Reason, SessionId, Tier,
};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

use crate::error::BoxError;
use crate::ext::{Attempt, Attempted, SelectedAccount};
use crate::headers::X_SESSION_ID;
use crate::test_support::Frames;
use crate::{AccountLabels, AccountSelectLayer, Error, Pool};
use tower::Layer;

const A: AccountId = AccountId(0);
const B: AccountId = AccountId(1);

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body: Bytes,
    selected: Option<SelectedAccount>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().expect("log lock").clone()
}

/// Two API-key accounts: `a@x` (ULTRA, key `ka`, preferred) and `b@x` (PRO, key `kb`).
fn two_accounts() -> crate::PoolBuilder {
    Pool::builder()
        .account(AccountSpec::api_key("a@x", Tier::Ultra, "ka"))
        .account(AccountSpec::api_key("b@x", Tier::Pro, "kb"))
}

/// An upstream that records what it saw and answers `status` with a three-frame body.
fn upstream(
    log: Log,
    status: StatusCode,
) -> impl Service<
    Request<Bytes>,
    Response = Response<Frames>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Frames>, Infallible>> + Send,
> + Clone
+ Send {
    tower::service_fn(move |req: Request<Bytes>| {
        log.lock().expect("log lock").push(Seen {
            uri: req.uri().to_string(),
            headers: req.headers().clone(),
            body: req.body().clone(),
            selected: req.extensions().get::<SelectedAccount>().cloned(),
        });
        async move {
            let mut res = Response::new(Frames::of(&[
                "data: one\n\n",
                "data: two\n\n",
                "data: [DONE]\n\n",
            ]));
            *res.status_mut() = status;
            Ok(res)
        }
    })
}

/// A request with its facts attached, as SessionIdLayer would leave it; `session` is an explicit
/// `x-session-id` (without one, the first user message still yields a session id).
fn request(path: &str, body: &str, session: Option<&str>) -> Request<Bytes> {
    let mut req = Request::post(path)
        .header("authorization", "Bearer client-secret")
        .header("x-api-key", "client-secret")
        .header("x-goog-api-key", "client-secret")
        .body(Bytes::from(body.to_owned()))
        .expect("valid request");
    if let Some(s) = session {
        req.headers_mut()
            .insert(X_SESSION_ID, s.parse().expect("valid header"));
    }
    let facts = crate::session::request_facts(&req, &[X_SESSION_ID]);
    req.extensions_mut().insert(facts);
    req
}

const CHAT: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Tell me about tower layers"}]}"#;

fn chat(session: Option<&str>) -> Request<Bytes> {
    request("/v1/chat/completions", CHAT, session)
}

fn header<'a>(res: &'a Response<Frames>, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has {name}"))
        .to_str()
        .expect("ascii header")
}

async fn bound(pool: &Pool, session: &str) -> Option<AccountId> {
    pool.store()
        .get(&SessionId(session.into()), pool.now())
        .await
        .expect("memory store answers")
}

fn cool(pool: &Pool, id: AccountId, model: &str, delay: Duration) {
    let failure = Failure {
        explicit_delay: Some(delay),
        ..Failure::new(Reason::RateLimited)
    };
    pool.scheduler()
        .record(id, model, &Outcome::Failure(failure), pool.now());
}
