//! The router and the API-route handler.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::auth::{Creds, account_id};
use crate::cache::PromptCache;
use crate::endpoints::{Ctx, Parsed, ok_reply, parse};
use crate::errors::{rate_limit_body, status_body, unauthorized_body};
use crate::fault::{self, Conn, End, Raw};
use crate::log::{Bounded, Recorded, TokenRequest};
use crate::oauth;
use crate::objects::Objects;
use crate::quota::{self, Admission, Quotas};
use crate::responses;
use crate::route::{Dialect, Endpoint, classify, dialect_of_prefix, wants_sse};
use crate::script::{Behavior, Grants, Scripts};
use crate::shapes::{self, Answer, Reply};
use crate::usage::Tallies;

/// Largest request body the sim reads.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// State shared by the handlers and the [`SimHandle`](crate::SimHandle).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) scripts: Mutex<Scripts>,
    pub(crate) log: Mutex<Bounded<Recorded>>,
    pub(crate) grants: Mutex<Grants>,
    pub(crate) tokens: Mutex<Bounded<TokenRequest>>,
    /// Objects (responses, conversations) per account.
    pub(crate) objects: Mutex<Objects>,
    /// Every access token the token endpoint handed out (OAuth tokens, accepted as bearer on
    /// every route when credentials are strict).
    pub(crate) issued: Mutex<HashSet<String>>,
    /// Whether each route reads only its real API's credential header.
    pub(crate) strict: AtomicBool,
    /// The prompts each account served recently.
    pub(crate) cache: Mutex<PromptCache>,
    /// Each account's request quotas and counts.
    pub(crate) quotas: Mutex<Quotas>,
    /// Token counts the answers reported, per account.
    pub(crate) tallies: Mutex<Tallies>,
    /// The wall clock the answers' timestamps read: `(at, since)` reads `at` plus the tokio
    /// time since `since`; `None` is the system's.
    pub(crate) wall: Mutex<Option<(SystemTime, Instant)>>,
    next_id: AtomicU64,
    /// Distinguishes this sim's ids from another's.
    instance: u32,
    /// The handle's stop signal: true, or its sender dropped, ends every raw fault.
    stop: watch::Receiver<bool>,
}

impl Shared {
    /// The wall-clock time the answers' timestamps are written in.
    pub(crate) fn wall_now(&self) -> SystemTime {
        match *self.wall.lock() {
            Some((at, since)) => at + Instant::now().saturating_duration_since(since),
            None => SystemTime::now(),
        }
    }

    pub(crate) fn new(stop: watch::Receiver<bool>, instance: u32) -> Self {
        Self {
            scripts: Mutex::default(),
            log: Mutex::default(),
            grants: Mutex::default(),
            tokens: Mutex::default(),
            objects: Mutex::default(),
            issued: Mutex::default(),
            strict: AtomicBool::new(true),
            cache: Mutex::default(),
            quotas: Mutex::default(),
            tallies: Mutex::default(),
            wall: Mutex::default(),
            next_id: AtomicU64::new(0),
            instance,
            stop,
        }
    }

    /// Serves `raw` on the request's connection instead of an HTTP answer. The response
    /// returned is never written (hyper has lost the socket); it only ends the handler. Without
    /// a connection slot (the router served without `ConnectInfo<Conn>`), answers a 500.
    pub(crate) fn take_over(&self, conn: Option<&Conn>, raw: Raw) -> Response {
        match conn.and_then(Conn::take) {
            Some(tcp) => {
                fault::spawn(tcp, raw, self.stop.clone());
                Response::new(Body::empty())
            }
            None => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                status_body(
                    Dialect::Gemini,
                    500,
                    "rota-sim: this connection cannot serve a raw fault",
                ),
            ),
        }
    }
}

/// All routes of the sim on one router: the token endpoint, and every API route matched by
/// [`classify`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(oauth::token))
        .fallback(api)
        .with_state(shared)
}

/// Why a request is answered without consulting its script.
enum Refusal {
    /// The credential is not in the header the route's API reads (strict mode): 401.
    Credential(&'static str),
    /// The body cannot be read or is not what the endpoint takes: 400.
    Body(String),
}

/// Handles every API route: classify, check the credential, parse, pick the scripted
/// behaviour, build the answer, record, answer.
async fn api(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let query = parts.uri.query();
    let Some(endpoint) = classify(&parts.method, parts.uri.path(), &parts.headers, query) else {
        let dialect = dialect_of_prefix(parts.uri.path());
        return json_response(
            StatusCode::NOT_FOUND,
            status_body(dialect, 404, "no such route"),
        );
    };
    let dialect = endpoint.dialect();
    let creds = Creds::read(&parts.headers, query);
    let (key, mut refusal) = if shared.strict.load(Ordering::Relaxed) {
        match creds.strict(dialect, &shared.issued.lock()) {
            Ok(key) => (Some(key), None),
            Err(message) => (creds.first(), Some(Refusal::Credential(message))),
        }
    } else {
        (creds.first(), None)
    };
    let (body, parsed) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => {
            let parsed = parse(&endpoint, &body);
            (body, parsed)
        }
        Err(e) => (Bytes::new(), Err(format!("could not read body: {e}"))),
    };
    let mut parsed = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            if refusal.is_none() {
                refusal = Some(Refusal::Body(message));
            }
            Parsed::default()
        }
    };
    let owner = key.as_deref().unwrap_or("");
    // A Responses turn that names a previous response continues its conversation, whose
    // tokens count as input too.
    let mut continued = 0;
    if let (Endpoint::Responses, Some(json)) = (&endpoint, &parsed.json)
        && let Some(previous) = json.get("previous_response_id").and_then(|v| v.as_str())
        && let Some((chain, before)) =
            responses::continued_prompt(&shared.objects.lock(), owner, previous, json.get("input"))
    {
        parsed.prompt = Some(chain);
        continued = before;
    }
    // Refused requests do not consume scripted behaviours.
    let mut behavior = match &refusal {
        None => shared.scripts.lock().take_for(owner, &body),
        Some(Refusal::Credential(_)) => Behavior::Status(401),
        Some(Refusal::Body(_)) => Behavior::Status(400),
    };
    // The quota counts the turns the script lets through as plain successes; any other
    // scripted behaviour wins and counts nothing.
    let mut extra_headers = Vec::new();
    let mut over_quota = None;
    if refusal.is_none()
        && endpoint.is_turn()
        && matches!(behavior, Behavior::Ok | Behavior::Slow(_))
    {
        match shared.quotas.lock().admit(owner, at) {
            Admission::Unlimited => {}
            Admission::Admitted(standing) => {
                extra_headers = quota::standing_headers(dialect, &standing, shared.wall_now());
            }
            Admission::Refused(standing) => {
                behavior = Behavior::Status(429);
                over_quota = Some(standing);
            }
        }
    }
    let mut answer = Answer::new(
        parsed.model.as_deref(),
        shared.instance,
        shared.next_id.fetch_add(1, Ordering::Relaxed),
        unix_seconds(),
        body.len() + continued,
    );
    // Only a turn answered with a success reads (and then writes) the account's prompt cache.
    let cached_prompt = match &parsed.prompt {
        Some(prompt) if refusal.is_none() && answers_ok(&behavior) => {
            let lookup = shared.cache.lock().lookup(owner, prompt, at);
            answer.set_cache(lookup.read, lookup.write);
            Some(prompt)
        }
        _ => None,
    };
    let stream_override = match behavior {
        Behavior::StallAfterHeaders { sse, .. } => Some(sse),
        _ => None,
    };
    let ctx = Ctx {
        endpoint: &endpoint,
        key: owner,
        parsed: &parsed,
        stream_override,
        sse: wants_sse(query) || stream_override == Some(true),
    };
    let reply = match over_quota {
        Some(standing) => {
            let model = parsed.model.as_deref().unwrap_or("sim-model");
            let (reply, headers) = quota::refusal(dialect, &standing, model, shared.wall_now());
            extra_headers = headers;
            Some(reply)
        }
        None => reply_for(&shared, &ctx, &answer, &behavior, refusal, dialect),
    };
    if let Some(prompt) = cached_prompt
        && reply.as_ref().is_some_and(|r| r.status.is_success())
    {
        shared.cache.lock().store(owner, prompt, at);
        if stream_override.is_none() && carries_usage(&endpoint, &parsed) {
            let anthropic = dialect == Dialect::Anthropic;
            shared.tallies.lock().add(owner, &answer, anthropic);
        }
    }
    let recorded_status = match (&behavior, &reply) {
        (Behavior::Reset | Behavior::Garbage | Behavior::Hang, _) => 0,
        (Behavior::BadChunking, _) => 200,
        (_, Some(reply)) => reply.status.as_u16(),
        (_, None) => behavior.status(),
    };

    let account_header = match &key {
        Some(key) => HeaderValue::from_str(&account_id(key))
            .unwrap_or_else(|_| HeaderValue::from_static("none")),
        None => HeaderValue::from_static("none"),
    };
    let model_header = parsed
        .model
        .as_deref()
        .and_then(|m| HeaderValue::from_str(m).ok())
        .unwrap_or_else(|| HeaderValue::from_static("none"));
    shared.log.lock().push(Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: query.map(str::to_owned),
        key,
        headers: parts.headers,
        model: parsed.model.clone(),
        body,
        at,
        status: recorded_status,
    });

    if behavior.is_fault() {
        let conn = parts.extensions.get::<ConnectInfo<Conn>>().map(|c| &c.0);
        let raw = raw_fault(&behavior, reply.as_ref(), &account_header, &model_header);
        return shared.take_over(conn, raw);
    }
    if let Behavior::Slow(delay) = behavior {
        tokio::time::sleep(delay).await;
    }
    let mut response = match reply {
        Some(reply) => into_response(reply),
        None => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            status_body(dialect, 500, "unreachable"),
        ),
    };
    let headers = response.headers_mut();
    match &behavior {
        Behavior::RateLimit(rl) => {
            if let Some(seconds) = rl.retry_after {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        Behavior::OkWithQuota { remaining, limit } => {
            headers.insert(
                "x-ratelimit-remaining-requests",
                HeaderValue::from(*remaining),
            );
            headers.insert("x-ratelimit-limit-requests", HeaderValue::from(*limit));
            if dialect == Dialect::Anthropic {
                headers.insert(
                    "anthropic-ratelimit-requests-remaining",
                    HeaderValue::from(*remaining),
                );
                headers.insert(
                    "anthropic-ratelimit-requests-limit",
                    HeaderValue::from(*limit),
                );
            }
        }
        _ => {}
    }
    for (name, value) in extra_headers {
        headers.insert(name, value);
    }
    headers.insert(HeaderName::from_static("x-sim-account"), account_header);
    headers.insert(HeaderName::from_static("x-sim-model"), model_header);
    response
}

/// Whether a behaviour answers with the route's normal (successful) answer.
fn answers_ok(behavior: &Behavior) -> bool {
    matches!(
        behavior,
        Behavior::Ok
            | Behavior::OkWithQuota { .. }
            | Behavior::Slow(_)
            | Behavior::StallAfterHeaders { status: 200, .. }
    )
}

/// Whether the successful answer to a turn carries usage: not a chat or completions stream
/// without `stream_options.include_usage`, nor a background Responses answer (queued).
fn carries_usage(endpoint: &Endpoint, parsed: &Parsed) -> bool {
    let background = || {
        parsed
            .json
            .as_ref()
            .and_then(|j| j.get("background"))
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    };
    match endpoint {
        Endpoint::Chat | Endpoint::Completions => !parsed.stream || parsed.include_usage,
        Endpoint::Responses => parsed.stream || !background(),
        _ => true,
    }
}

/// The reply a behaviour gives, or `None` for the faults that send no answer of their own.
fn reply_for(
    shared: &Shared,
    ctx: &Ctx<'_>,
    answer: &Answer,
    behavior: &Behavior,
    refusal: Option<Refusal>,
    dialect: Dialect,
) -> Option<Reply> {
    let error = |code: u16, message: &str| {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Reply::error(status, status_body(dialect, status.as_u16(), message))
    };
    match refusal {
        Some(Refusal::Credential(message)) => {
            return Some(Reply::error(
                StatusCode::UNAUTHORIZED,
                unauthorized_body(dialect, message),
            ));
        }
        Some(Refusal::Body(message)) => return Some(error(400, &message)),
        None => {}
    }
    match behavior {
        Behavior::Ok | Behavior::OkWithQuota { .. } | Behavior::Slow(_) => {
            Some(ok_reply(ctx, answer, &shared.objects))
        }
        Behavior::StallAfterHeaders { status: 200, .. } => {
            Some(ok_reply(ctx, answer, &shared.objects))
        }
        Behavior::RateLimit(rl) => Some(Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            rate_limit_body(rl),
        )),
        Behavior::Status(code) => Some(error(*code, &format!("simulated {code}"))),
        Behavior::StallAfterHeaders { status, .. } => {
            Some(error(*status, &format!("simulated {status}, stalled")))
        }
        Behavior::Reset | Behavior::Garbage | Behavior::BadChunking | Behavior::Hang => None,
    }
}

/// Bytes a hyper client takes for neither a status line nor anything else HTTP.
const GARBAGE: &[u8] = b"\x00\x13\x37 this is not HTTP \xff\xfe\r\n\r\n";

/// The bytes and the ending of a connection-level fault.
fn raw_fault(
    behavior: &Behavior,
    reply: Option<&Reply>,
    account: &HeaderValue,
    model: &HeaderValue,
) -> Raw {
    let sim_headers = [
        ("x-sim-account", account.as_bytes()),
        ("x-sim-model", model.as_bytes()),
    ];
    match (behavior, reply) {
        (Behavior::Reset, _) => Raw {
            bytes: Vec::new(),
            end: End::Reset,
        },
        (Behavior::Garbage, _) => Raw {
            bytes: GARBAGE.to_vec(),
            end: End::Close,
        },
        (Behavior::BadChunking, _) => {
            let mut bytes = fault::head(
                StatusCode::OK,
                &[
                    ("content-type", b"application/json"),
                    ("transfer-encoding", b"chunked"),
                    sim_headers[0],
                    sim_headers[1],
                ],
            );
            // Not a hex size line: the body is malformed from its first chunk.
            bytes.extend_from_slice(b"zz\r\n{\"id\":\r\n");
            Raw {
                bytes,
                end: End::Close,
            }
        }
        (Behavior::StallAfterHeaders { .. }, Some(reply))
            if matches!(reply.body, shapes::Body::Sse(_)) =>
        {
            let mut bytes = fault::head(
                reply.status,
                &[
                    ("content-type", b"text/event-stream"),
                    ("cache-control", b"no-cache"),
                    ("transfer-encoding", b"chunked"),
                    sim_headers[0],
                    sim_headers[1],
                ],
            );
            bytes.extend_from_slice(&fault::chunk(&reply.first_part()));
            Raw {
                bytes,
                end: End::Hold,
            }
        }
        (Behavior::StallAfterHeaders { .. }, Some(reply)) => {
            let body = match &reply.body {
                shapes::Body::Json(body) => Bytes::from(body.clone()),
                shapes::Body::Sse(parts) | shapes::Body::Chunked(parts) => {
                    Bytes::from(parts.concat())
                }
            };
            stalled_json(reply.status, &body, &sim_headers)
        }
        // A silent connection.
        _ => Raw {
            bytes: Vec::new(),
            end: End::Hold,
        },
    }
}

/// A JSON head announcing all of `body`, then its first half, then nothing.
pub(crate) fn stalled_json(status: StatusCode, body: &[u8], extra: &[(&str, &[u8])]) -> Raw {
    let length = body.len().to_string();
    let mut headers = vec![
        ("content-type", &b"application/json"[..]),
        ("content-length", length.as_bytes()),
    ];
    headers.extend_from_slice(extra);
    let mut bytes = fault::head(status, &headers);
    bytes.extend_from_slice(body.get(..body.len() / 2).unwrap_or_default());
    Raw {
        bytes,
        end: End::Hold,
    }
}

/// A reply as an HTTP response: JSON whole, events or chunks one frame each.
fn into_response(reply: Reply) -> Response {
    let (parts, content_type) = match reply.body {
        shapes::Body::Json(body) => return json_response(reply.status, body),
        shapes::Body::Sse(parts) => (parts, "text/event-stream"),
        shapes::Body::Chunked(parts) => (parts, "application/json"),
    };
    let body = Body::from_stream(futures_util::stream::iter(
        parts.into_iter().map(Ok::<Bytes, Infallible>),
    ));
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A tag that tells this sim's ids from another's (time, process and a counter).
pub(crate) fn instance_tag() -> u32 {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed =
        u64::from(nanos) ^ (u64::from(std::process::id()) << 20) ^ n.wrapping_mul(0x9e37_79b9);
    (mixed ^ (mixed >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_tags_differ() {
        assert_ne!(instance_tag(), instance_tag());
    }
}
