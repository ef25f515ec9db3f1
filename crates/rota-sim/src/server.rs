//! The router and the API-route handler.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::errors::{rate_limit_body, status_body};
use crate::fault::{self, Conn, End, Raw};
use crate::log::{Bounded, Recorded, TokenRequest};
use crate::oauth::{self, form_pairs};
use crate::script::{Behavior, Grants, Scripts};
use crate::shapes::{Answer, Protocol};

/// Largest request body the sim reads.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// State shared by the handlers and the [`SimHandle`](crate::SimHandle).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) scripts: Mutex<Scripts>,
    pub(crate) log: Mutex<Bounded<Recorded>>,
    pub(crate) grants: Mutex<Grants>,
    pub(crate) tokens: Mutex<Bounded<TokenRequest>>,
    next_id: AtomicU64,
    /// The handle's stop signal: true, or its sender dropped, ends every raw fault.
    stop: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn new(stop: watch::Receiver<bool>) -> Self {
        Self {
            scripts: Mutex::default(),
            log: Mutex::default(),
            grants: Mutex::default(),
            tokens: Mutex::default(),
            next_id: AtomicU64::new(0),
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
            None => json_error(
                Protocol::Gemini,
                StatusCode::INTERNAL_SERVER_ERROR,
                "rota-sim: this connection cannot serve a raw fault",
            ),
        }
    }
}

/// All routes of the sim on one router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(|s: State<Arc<Shared>>, r: Request| api(s, Protocol::Chat, r)),
        )
        .route(
            "/v1/responses",
            post(|s: State<Arc<Shared>>, r: Request| api(s, Protocol::Responses, r)),
        )
        .route(
            "/v1/messages",
            post(|s: State<Arc<Shared>>, r: Request| api(s, Protocol::Messages, r)),
        )
        .route(
            "/v1beta/models/{*rest}",
            post(|s: State<Arc<Shared>>, r: Request| api(s, Protocol::Gemini, r)),
        )
        .route(
            "/v1/models",
            get(|s: State<Arc<Shared>>, r: Request| api(s, Protocol::Models, r)),
        )
        .route("/oauth/token", post(oauth::token))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    json_error(Protocol::Gemini, StatusCode::NOT_FOUND, "no such route")
}

/// The parts of a JSON request body the sim looks at; everything else is skipped (but must be
/// valid JSON).
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    stream: Option<Value>,
}

/// What the request asked for, once its path and body are understood.
struct Parsed {
    model: Option<String>,
    stream: bool,
}

/// Reads the model and stream flag from the path (Gemini) and the body.
fn parse(protocol: Protocol, path: &str, body: &[u8]) -> Result<Parsed, String> {
    if protocol == Protocol::Models {
        return Ok(Parsed {
            model: None,
            stream: false,
        });
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(String::from("request body must be a JSON object"));
    }
    let probe: Probe =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let body_model = match probe.model {
        Some(Value::String(model)) => Some(model),
        _ => None,
    };
    if protocol == Protocol::Gemini {
        let rest = path.strip_prefix("/v1beta/models/").unwrap_or(path);
        return match rest.rsplit_once(':') {
            Some((model, "generateContent")) => Ok(Parsed {
                model: Some(model.to_owned()),
                stream: false,
            }),
            Some((model, "streamGenerateContent")) => Ok(Parsed {
                model: Some(model.to_owned()),
                stream: true,
            }),
            _ => Err(format!("unsupported Gemini method in path {path}")),
        };
    }
    Ok(Parsed {
        model: body_model,
        stream: matches!(probe.stream, Some(Value::Bool(true))),
    })
}

/// The credential that arrived: `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`, then
/// the `key` query parameter. Empty values do not count.
pub(crate) fn credential(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    if let Some(token) = bearer {
        return Some(token.to_owned());
    }
    for name in ["x-api-key", "x-goog-api-key"] {
        let value = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if let Some(value) = value {
            return Some(value.to_owned());
        }
    }
    form_pairs(query?.as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Handles every API route: parse, pick the scripted behaviour, record, answer.
async fn api(State(shared): State<Arc<Shared>>, protocol: Protocol, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let (body, parsed) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => {
            let parsed = parse(protocol, parts.uri.path(), &body);
            (body, parsed)
        }
        Err(e) => (Bytes::new(), Err(format!("could not read body: {e}"))),
    };
    let key = credential(&parts.headers, parts.uri.query());
    let (model, stream) = match &parsed {
        Ok(p) => (p.model.clone(), p.stream),
        Err(_) => (None, false),
    };
    // Bad requests do not consume scripted behaviours.
    let behavior = match &parsed {
        Ok(_) => shared
            .scripts
            .lock()
            .take_for(key.as_deref().unwrap_or(""), &body),
        Err(_) => Behavior::Status(400),
    };
    let status =
        StatusCode::from_u16(behavior.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let recorded_status = match (&behavior, &parsed) {
        (Behavior::Reset | Behavior::Garbage | Behavior::Hang, Ok(_)) => 0,
        _ => status.as_u16(),
    };

    let key_header = header_or_none(key.as_deref());
    let model_header = header_or_none(model.as_deref());
    let answer = Answer::new(
        model.as_deref(),
        shared.next_id.fetch_add(1, Ordering::Relaxed),
        unix_seconds(),
    );
    shared.log.lock().push(Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        key,
        headers: parts.headers,
        model,
        body,
        at,
        status: recorded_status,
    });

    if parsed.is_ok() && behavior.is_fault() {
        let conn = parts.extensions.get::<ConnectInfo<Conn>>().map(|c| &c.0);
        let raw = raw_fault(
            &behavior,
            &answer,
            protocol,
            status,
            &key_header,
            &model_header,
        );
        return shared.take_over(conn, raw);
    }

    let mut response = match (&behavior, parsed) {
        (_, Err(message)) => json_error(protocol, StatusCode::BAD_REQUEST, &message),
        (Behavior::RateLimit(rl), Ok(_)) => {
            let mut response = json_response(status, rate_limit_body(rl));
            if let Some(seconds) = rl.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        (Behavior::Status(code), Ok(_)) => {
            json_error(protocol, status, &format!("simulated {code}"))
        }
        (Behavior::Slow(delay), Ok(_)) => {
            tokio::time::sleep(*delay).await;
            ok(&answer, protocol, stream)
        }
        (Behavior::Ok | Behavior::OkWithQuota { .. }, Ok(_)) => ok(&answer, protocol, stream),
        // Served above, on the socket itself; only reached without a connection slot.
        (
            Behavior::Reset
            | Behavior::StallAfterHeaders { .. }
            | Behavior::Garbage
            | Behavior::BadChunking
            | Behavior::Hang,
            Ok(_),
        ) => json_error(protocol, StatusCode::INTERNAL_SERVER_ERROR, "unreachable"),
    };
    let headers = response.headers_mut();
    if let Behavior::OkWithQuota { remaining, limit } = behavior {
        headers.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from(remaining),
        );
        headers.insert("x-ratelimit-limit-requests", HeaderValue::from(limit));
        if protocol == Protocol::Messages {
            headers.insert(
                "anthropic-ratelimit-requests-remaining",
                HeaderValue::from(remaining),
            );
            headers.insert(
                "anthropic-ratelimit-requests-limit",
                HeaderValue::from(limit),
            );
        }
    }
    headers.insert(HeaderName::from_static("x-sim-key"), key_header);
    headers.insert(HeaderName::from_static("x-sim-model"), model_header);
    response
}

/// Bytes a hyper client takes for neither a status line nor anything else HTTP.
const GARBAGE: &[u8] = b"\x00\x13\x37 this is not HTTP \xff\xfe\r\n\r\n";

/// The bytes and the ending of a connection-level fault.
fn raw_fault(
    behavior: &Behavior,
    answer: &Answer,
    protocol: Protocol,
    status: StatusCode,
    key: &HeaderValue,
    model: &HeaderValue,
) -> Raw {
    let sim_headers = [
        ("x-sim-key", key.as_bytes()),
        ("x-sim-model", model.as_bytes()),
    ];
    match behavior {
        Behavior::Reset => Raw {
            bytes: Vec::new(),
            end: End::Reset,
        },
        Behavior::Garbage => Raw {
            bytes: GARBAGE.to_vec(),
            end: End::Close,
        },
        Behavior::BadChunking => {
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
        Behavior::StallAfterHeaders { sse: true, .. } if status == StatusCode::OK => {
            let mut bytes = fault::head(
                status,
                &[
                    ("content-type", b"text/event-stream"),
                    ("cache-control", b"no-cache"),
                    ("transfer-encoding", b"chunked"),
                    sim_headers[0],
                    sim_headers[1],
                ],
            );
            if let Some(first) = answer.stream(protocol).first() {
                bytes.extend_from_slice(&fault::chunk(first));
            }
            Raw {
                bytes,
                end: End::Hold,
            }
        }
        Behavior::StallAfterHeaders { .. } => {
            let body = if status == StatusCode::OK {
                answer.body(protocol)
            } else {
                let code = status.as_u16();
                status_body(protocol, code, &format!("simulated {code}, stalled"))
            };
            stalled_json(status, body.as_bytes(), &sim_headers)
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

/// A successful answer, whole or streamed.
fn ok(answer: &Answer, protocol: Protocol, stream: bool) -> Response {
    if !stream {
        return json_response(StatusCode::OK, answer.body(protocol));
    }
    let events = answer.stream(protocol);
    let body = Body::from_stream(futures_util::stream::iter(
        events.into_iter().map(Ok::<Bytes, Infallible>),
    ));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn json_error(protocol: Protocol, status: StatusCode, message: &str) -> Response {
    json_response(status, status_body(protocol, status.as_u16(), message))
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

fn header_or_none(value: Option<&str>) -> HeaderValue {
    value
        .and_then(|v| HeaderValue::from_str(v).ok())
        .unwrap_or_else(|| HeaderValue::from_static("none"))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_order() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h, Some("a=1&key=q%2B1")), Some("q+1".into()));
        h.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(credential(&h, Some("key=q")), Some("g".into()));
        h.insert("x-api-key", HeaderValue::from_static("a"));
        assert_eq!(credential(&h, None), Some("a".into()));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic zzz"));
        assert_eq!(credential(&h, None), Some("a".into()));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  b "),
        );
        assert_eq!(credential(&h, None), Some("b".into()));
        assert_eq!(credential(&HeaderMap::new(), Some("key=")), None);
    }

    #[test]
    fn parse_rejects_non_objects_and_reads_gemini_paths() {
        assert!(parse(Protocol::Chat, "/v1/chat/completions", b"[]").is_err());
        assert!(parse(Protocol::Chat, "/v1/chat/completions", b"{").is_err());
        assert!(parse(Protocol::Chat, "/v1/chat/completions", b"").is_err());
        let p = parse(
            Protocol::Chat,
            "/",
            br#"{"model":"m","stream":true,"x":[1]}"#,
        );
        assert!(matches!(p, Ok(Parsed { model: Some(ref m), stream: true }) if m == "m"));
        let g = parse(
            Protocol::Gemini,
            "/v1beta/models/g-1:streamGenerateContent",
            b"{}",
        );
        assert!(matches!(g, Ok(Parsed { model: Some(ref m), stream: true }) if m == "g-1"));
        assert!(parse(Protocol::Gemini, "/v1beta/models/g-1:countTokens", b"{}").is_err());
        assert!(parse(Protocol::Models, "/v1/models", b"").is_ok());
    }
}
