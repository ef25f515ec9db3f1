//! Error bodies in each route's own dialect (OpenAI, Anthropic, Gemini).

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};
use rota::core::Protocol;
use serde_json::json;

/// The error dialect of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"message","type","code"}}` (OpenAI routes, `/v1/models`, anything else).
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}` (`/v1/messages`).
    Anthropic,
    /// `{"error":{"code","message","status"}}` (`/v1beta/models/…`).
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

    /// The dialect of a request path.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/v1beta/") {
            Self::Gemini
        } else {
            Self::of(Protocol::from_path(path))
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
        assert_eq!(Dialect::of_path("/v1beta/models/x"), Dialect::Gemini);
        assert_eq!(Dialect::of_path("/v1/messages"), Dialect::Anthropic);
        assert_eq!(Dialect::of_path("/v1/models"), Dialect::OpenAi);
    }
}
