//! The API edge: client auth, body limit, buffering, calling the stack, and turning its
//! errors into answers in the route's dialect.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use rota::body::MarkBody;
use rota::core::{BodyShape, Protocol, RequestFacts, Secret, SessionId};
use rota::headers::{X_ACCOUNT_EMAIL, X_ROTA_ATTEMPTS, strip_hop_by_hop};
use rota::session::request_facts;
use rota::{BoxError, Error, Pool};
use subtle::{Choice, ConstantTimeEq};
use tower::ServiceExt;
use tracing::Instrument;

use crate::app::{AppState, Rejected};
use crate::budget::{BudgetExceeded, Budgeted};
use crate::dialect::Dialect;
use crate::metrics;
use crate::routes::{Route, dialect_of_path, path_problem};

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// The token of an `Authorization: Bearer <token>` header (scheme in any case), if any.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().trim_ascii())
        .filter(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
        .map(|v| v[7..].trim_ascii())
}

/// The keys a client presented: `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
/// `?key=` (empty ones skipped; an iterator, so checking them allocates nothing).
fn presented_keys<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> impl Iterator<Item = &'a [u8]> + Clone {
    let bearer = bearer_token(headers);
    let named = [X_API_KEY, X_GOOG_API_KEY]
        .into_iter()
        .filter_map(|name| headers.get(name).map(|v| v.as_bytes().trim_ascii()));
    let query = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.strip_prefix("key=").map(str::as_bytes));
    bearer
        .into_iter()
        .chain(named)
        .chain(query)
        .filter(|k| !k.is_empty())
}

/// Whether any presented key equals any configured key; every pair is compared in constant
/// time, without early exit.
fn authorized<'a>(configured: &[Secret], presented: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut ok = Choice::from(0);
    for p in presented {
        for k in configured {
            ok |= k.expose().as_bytes().ct_eq(p);
        }
    }
    ok.into()
}

/// Handles one API request (any body type: the server hands over hyper's own).
pub async fn api<B>(st: Arc<AppState>, route: Route, req: Request<B>) -> Response
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    // Before anything reads them: the client's hop-by-hop headers, and every header its
    // `Connection` names, go now, so none can later remove what rota sets (the credential).
    strip_hop_by_hop(&mut parts.headers);
    let path = parts.uri.path();
    let dialect = route.dialect(Protocol::of_request(
        path,
        &parts.headers,
        parts.uri.query(),
    ));
    if let Some((status, msg)) = path_problem(route, path) {
        return finish(&st, route, None, dialect.error(status, msg));
    }
    if !st.api_keys.is_empty() {
        let presented = presented_keys(&parts.headers, parts.uri.query());
        if !authorized(&st.api_keys, presented.clone()) {
            let msg = if presented.clone().next().is_none() {
                "missing API key"
            } else {
                "invalid API key"
            };
            return finish(
                &st,
                route,
                None,
                dialect.error(StatusCode::UNAUTHORIZED, msg),
            );
        }
    }
    let too_large = || {
        let msg = format!("request body is larger than {} bytes", st.max_body_bytes);
        dialect.error(StatusCode::PAYLOAD_TOO_LARGE, &msg)
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.max_body_bytes as u64) {
        return finish(&st, route, None, too_large());
    }
    // The body is held until the answer's head is back (retries replay it): it counts against
    // the gateway-wide budget of buffered bytes for that long.
    let busy = || {
        let mut res = dialect.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway is holding too many request bodies; retry in a second",
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        res
    };
    let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let Some(mut reservation) = st.body_budget.reserve(declared) else {
        return finish(&st, route, None, busy());
    };
    let read = Limited::new(Budgeted::new(body, &mut reservation), st.max_body_bytes);
    let bytes: Bytes = match read.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return finish(&st, route, None, too_large()),
        Err(e) if e.is::<BudgetExceeded>() => return finish(&st, route, None, busy()),
        Err(_) => {
            let res = dialect.error(StatusCode::BAD_REQUEST, "could not read the request body");
            return finish(&st, route, None, res);
        }
    };
    let mut req = Request::new(bytes);
    *req.method_mut() = parts.method;
    *req.uri_mut() = parts.uri;
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers;

    // The facts `SessionIdService` would compute, computed here so a body that is not a JSON
    // object is answered at once; the service finds them in the extensions and skips parsing.
    let facts = request_facts(&req, &st.session_headers);
    if let Some(msg) = body_problem(route, &facts) {
        let res = dialect.error(StatusCode::BAD_REQUEST, &msg);
        return finish(&st, route, facts.session_id.as_ref(), res);
    }
    let session = facts.session_id.clone();
    if let Some(id) = &session {
        req.extensions_mut().insert(id.clone());
    }
    req.extensions_mut().insert(facts);

    let span = tracing::info_span!(
        "request",
        route = %route.name(),
        session = tracing::field::Empty,
        account = tracing::field::Empty,
        attempt = tracing::field::Empty,
        decision = tracing::field::Empty,
        mapped_model = tracing::field::Empty,
    );
    if let Some(id) = &session {
        span.record("session", id.as_str());
    }
    let result = st.stack.clone().oneshot(req).instrument(span.clone()).await;
    drop(reservation);
    let res = match result {
        Ok(mut res) => {
            if matches!(res.body(), MarkBody::Buffered { .. }) {
                // The error body was read (and maybe cut at 1 MiB): let hyper set the length.
                res.headers_mut().remove(header::CONTENT_LENGTH);
            }
            let mut res = res.map(Body::new);
            strip_hop_by_hop(res.headers_mut());
            res
        }
        Err(err) => error_response(&st.pool, dialect, &err),
    };
    span.in_scope(|| tracing::debug!(status = res.status().as_u16(), "request finished"));
    finish(&st, route, session.as_ref(), res)
}

/// Why a request body is rejected before scheduling (400): the body of a route that takes
/// one ([`Route::wants_body`]) must be a JSON object.
fn body_problem(route: Route, facts: &RequestFacts) -> Option<String> {
    if !route.wants_body() {
        return None;
    }
    match facts.body {
        BodyShape::JsonObject => None,
        BodyShape::Malformed(why) => Some(format!("malformed JSON body: {why}")),
        BodyShape::JsonOther => Some("request body must be a JSON object".to_owned()),
        BodyShape::Empty => Some("request body is empty (expected a JSON object)".to_owned()),
    }
}

/// Every API answer leaves through here: counted in the metrics and published to the live
/// feed (`GET /admin/events`).
fn finish(st: &AppState, route: Route, session: Option<&SessionId>, res: Response) -> Response {
    let attempts = res
        .headers()
        .get(X_ROTA_ATTEMPTS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    metrics::request(route, res.status(), attempts);
    st.events.finished(route, session, attempts, &res);
    res
}

/// The answer for an error of the stack: rota's own answer, in the route's dialect, with
/// `X-Rota-Attempts` and, when an account was tried (or owns the object), its
/// `X-Account-Email` (SPEC §6).
pub fn error_response(pool: &Pool, dialect: Dialect, err: &BoxError) -> Response {
    if let Some(r) = err.downcast_ref::<Rejected>() {
        return dialect.error(StatusCode::BAD_REQUEST, &r.0);
    }
    let Some(error) = Error::find(err) else {
        tracing::warn!(error = %err, "request failed");
        return dialect.error(StatusCode::BAD_GATEWAY, "upstream request failed");
    };
    let mut res = match error {
        Error::AllAccountsLimited { retry_after, .. } => {
            let secs = rota::mark::retry_after_secs(*retry_after);
            let msg = format!("all upstream accounts are rate-limited; retry after {secs} s");
            dialect.rate_limited(&msg, *retry_after)
        }
        Error::NoAccounts { .. } => dialect.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no upstream account is available (none configured or all disabled)",
        ),
        Error::OwnerDisabled { .. } => dialect.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the object this request continues lives on an upstream account that is disabled; \
             no other account holds it (an operator can enable the account again)",
        ),
        other if other.is_timeout() => dialect.error(
            StatusCode::GATEWAY_TIMEOUT,
            "the upstream did not answer within the upstream timeout",
        ),
        other => {
            tracing::warn!(error = %other, "request failed");
            dialect.error(StatusCode::BAD_GATEWAY, &other.to_string())
        }
    };
    let headers = res.headers_mut();
    if let Some(label) = error.account().and_then(|a| pool.label(a)) {
        headers.insert(X_ACCOUNT_EMAIL, label.clone());
    }
    headers.insert(X_ROTA_ATTEMPTS, HeaderValue::from(error.attempts()));
    res
}

/// `GET /metrics`.
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let bindings = st.pool.store().count().await.unwrap_or(0);
    let mut res = Response::new(Body::from(metrics::render(bindings)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

/// Unknown routes: 404 in the path's dialect.
pub async fn not_found(req: AxumRequest) -> Response {
    dialect_of_path(req.uri().path()).error(StatusCode::NOT_FOUND, "no such route")
}

/// Known routes, wrong method: 405 in the path's dialect.
pub async fn method_not_allowed(req: AxumRequest) -> Response {
    dialect_of_path(req.uri().path()).error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_every_place() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer a"));
        h.insert("x-api-key", HeaderValue::from_static("b"));
        h.insert("x-goog-api-key", HeaderValue::from_static("c"));
        let keys: Vec<&[u8]> = presented_keys(&h, Some("alt=sse&key=d&key=")).collect();
        assert_eq!(keys, vec![&b"a"[..], b"b", b"c", b"d"]);
        assert!(authorized(&[Secret::new("d")], keys.iter().copied()));
        assert!(!authorized(&[Secret::new("e")], keys.iter().copied()));
        assert!(!authorized(&[Secret::new("e")], []));
    }
}
