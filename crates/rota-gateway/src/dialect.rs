//! Error bodies in each route's own dialect (OpenAI, Anthropic, Gemini).

use axum::body::Body;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use rota::core::Protocol;
use rota::headers::set_retry_after;
use serde_json::json;

/// The error dialect of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"message","type","code"}}` (OpenAI routes, OpenAI's `/v1/models`, anything
    /// else).
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}` (`/v1/messages…`, Anthropic's
    /// `/v1/models`).
    Anthropic,
    /// `{"error":{"code","message","status"}}` (`/v1beta/…`, `/v1/models/{m}:{method}`,
    /// Gemini's `/v1/models`).
    Gemini,
}

impl Dialect {
    /// The dialect of a protocol.
    pub const fn of(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Anthropic => Self::Anthropic,
            Protocol::Gemini => Self::Gemini,
            _ => Self::OpenAi,
        }
    }

    /// The JSON error body for `status` with `message`.
    pub fn body(self, status: StatusCode, message: &str) -> serde_json::Value {
        match self {
            Self::OpenAi => json!({
                "error": {"message": message, "type": openai_type(status), "code": openai_code(status)}
            }),
            Self::Anthropic => json!({
                "type": "error",
                "error": {"type": anthropic_type(status), "message": message}
            }),
            Self::Gemini => json!({
                "error": {"code": status.as_u16(), "message": message, "status": google_status(status)}
            }),
        }
    }

    /// A complete JSON error response.
    pub fn error(self, status: StatusCode, message: &str) -> Response<Body> {
        json_response(status, &self.body(status, message))
    }

    /// rota's own 429 (SPEC §6): `Retry-After` in whole seconds, rounded up, and, on OpenAI
    /// and Anthropic routes, `retry-after-ms`; a Gemini body also carries the wait as a
    /// `google.rpc.RetryInfo` detail, where the Gemini SDKs look for it.
    pub fn rate_limited(self, message: &str, wait: Duration) -> Response<Body> {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let mut body = self.body(status, message);
        if self == Self::Gemini {
            let secs = rota::mark::retry_after_secs(wait);
            body["error"]["details"] = json!([{
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{secs}s"),
            }]);
        }
        let mut res = json_response(status, &body);
        set_retry_after(res.headers_mut(), wait, self != Self::Gemini);
        res
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut res = Response::new(Body::from(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn openai_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        401 => "invalid_api_key",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "request_too_large",
        429 => "rate_limit_exceeded",
        502 => "upstream_error",
        503 => "no_available_accounts",
        504 => "upstream_timeout",
        _ => "error",
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn google_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 => "UNIMPLEMENTED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let s = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            Dialect::OpenAi.body(s, "m")["error"]["type"],
            "rate_limit_error"
        );
        assert_eq!(Dialect::Anthropic.body(s, "m")["type"], "error");
        assert_eq!(Dialect::Anthropic.body(s, "m")["error"]["message"], "m");
        assert_eq!(
            Dialect::Gemini.body(s, "m")["error"]["status"],
            "RESOURCE_EXHAUSTED"
        );
        assert_eq!(Dialect::Gemini.body(s, "m")["error"]["code"], 429);
    }
}

#[cfg(test)]
mod rate_limited_tests {
    use super::*;

    #[tokio::test]
    async fn every_dialect_says_when_to_come_back() {
        use http_body_util::BodyExt;
        for dialect in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini] {
            let res = dialect.rate_limited("m", Duration::from_millis(29_001));
            assert_eq!(res.status(), 429);
            assert_eq!(res.headers()["retry-after"], "30");
            let ms = res.headers().get("retry-after-ms");
            assert_eq!(ms.is_some(), dialect != Dialect::Gemini, "{dialect:?}");
            let body = res.into_body().collect().await.expect("body").to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
            let delay = &body["error"]["details"][0]["retryDelay"];
            if dialect == Dialect::Gemini {
                assert_eq!(delay, "30s");
            } else {
                assert!(delay.is_null());
            }
        }
    }
}
