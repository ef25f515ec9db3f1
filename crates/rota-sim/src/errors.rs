//! Error bodies (Google-shaped 429s, per-dialect status errors) and duration formatting.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::route::Dialect;
use crate::script::RateLimit;

/// Default `error.message` of a simulated 429.
pub(crate) const DEFAULT_429_MESSAGE: &str = "Resource has been exhausted (e.g. check quota).";

/// The Google-shaped body of a simulated 429 (every route uses it).
pub(crate) fn rate_limit_body(rl: &RateLimit) -> String {
    let mut details = Vec::new();
    if rl.reason.is_some() || rl.quota_reset_delay.is_some() {
        let mut info = json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "domain": "cloudcode-pa.googleapis.com",
        });
        if let Some(reason) = &rl.reason {
            info["reason"] = Value::from(reason.as_str());
        }
        if let Some(delay) = rl.quota_reset_delay {
            info["metadata"] = json!({ "quotaResetDelay": go_duration(delay) });
        }
        details.push(info);
    }
    if let Some(delay) = rl.retry_delay {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": google_duration(delay),
        }));
    }
    let mut error = json!({
        "code": 429,
        "message": rl.message.as_deref().unwrap_or(DEFAULT_429_MESSAGE),
        "status": "RESOURCE_EXHAUSTED",
    });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json!({ "error": error }).to_string()
}

/// A JSON error body for `code` in `dialect`.
///
/// Anthropic: `{"type":"error","error":{"type":…,"message":…}}`; OpenAI routes:
/// `{"error":{"code":N,"message":…,"param":null,"status":…,"type":…}}`; Gemini:
/// `{"error":{"code":N,"message":…,"status":…}}`.
pub(crate) fn status_body(dialect: Dialect, code: u16, message: &str) -> String {
    match dialect {
        Dialect::Anthropic => json!({
            "type": "error",
            "error": { "type": anthropic_type(code), "message": message },
        }),
        Dialect::OpenAi => json!({
            "error": {
                "code": code,
                "message": message,
                "param": null,
                "status": google_status(code),
                "type": openai_type(code),
            },
        }),
        Dialect::Gemini => json!({
            "error": { "code": code, "message": message, "status": google_status(code) },
        }),
    }
    .to_string()
}

/// The `google.rpc.Code` name Google pairs with an HTTP status.
fn google_status(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// Anthropic's `error.type` for an HTTP status.
fn anthropic_type(code: u16) -> &'static str {
    match code {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The 401 of a credential in the wrong header (or none), in `dialect`.
pub(crate) fn unauthorized_body(dialect: Dialect, message: &str) -> String {
    match dialect {
        Dialect::OpenAi => json!({
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": null,
                "code": null,
            },
        })
        .to_string(),
        other => status_body(other, 401, message),
    }
}

/// OpenAI's `error.type` for an HTTP status.
fn openai_type(code: u16) -> &'static str {
    match code {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// Formats `d` like Google's protobuf JSON `Duration`: `"30s"`, `"1.5s"`, `"0.2s"`,
/// `"1.203608125s"` (fraction without trailing zeros).
pub fn google_duration(d: Duration) -> String {
    let mut out = String::with_capacity(16);
    push_fraction(&mut out, d.as_secs(), d.subsec_nanos(), 9);
    out.push('s');
    out
}

/// Formats `d` like Go's `time.Duration.String()`: `"1h16m0.667s"`, `"2m30s"`, `"1.5s"`,
/// `"200ms"`, `"0s"`.
pub fn go_duration(d: Duration) -> String {
    let mut out = String::with_capacity(16);
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if secs == 0 {
        match nanos {
            0 => out.push_str("0s"),
            1..1_000 => {
                let _ = write!(out, "{nanos}ns");
            }
            1_000..1_000_000 => {
                push_fraction(&mut out, u64::from(nanos / 1_000), nanos % 1_000, 3);
                out.push_str("µs");
            }
            _ => {
                push_fraction(&mut out, u64::from(nanos / 1_000_000), nanos % 1_000_000, 6);
                out.push_str("ms");
            }
        }
        return out;
    }
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    push_fraction(&mut out, seconds, nanos, 9);
    out.push('s');
    out
}

/// Writes `whole[.frac]` where `frac` has `digits` decimal places, trailing zeros trimmed.
fn push_fraction(out: &mut String, whole: u64, frac: u32, digits: usize) {
    let _ = write!(out, "{whole}");
    if frac > 0 {
        let start = out.len();
        let _ = write!(out, ".{frac:0digits$}");
        let trimmed = out[start..].trim_end_matches('0').len();
        out.truncate(start + trimmed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_durations() {
        assert_eq!(google_duration(Duration::from_secs(30)), "30s");
        assert_eq!(google_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(google_duration(Duration::from_millis(200)), "0.2s");
        assert_eq!(google_duration(Duration::ZERO), "0s");
        assert_eq!(
            google_duration(Duration::from_nanos(1_203_608_125)),
            "1.203608125s"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_nanos(15)), "15ns");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(4_560_667)), "1h16m0.667s");
    }

    #[test]
    fn rate_limit_omits_missing_parts() {
        let bare: Value =
            serde_json::from_str(&rate_limit_body(&RateLimit::default())).unwrap_or(Value::Null);
        assert_eq!(bare["error"]["code"], 429);
        assert_eq!(bare["error"]["message"], DEFAULT_429_MESSAGE);
        assert!(bare["error"].get("details").is_none());

        let only_retry = RateLimit::new().retry_info(Duration::from_secs(3));
        let v: Value = serde_json::from_str(&rate_limit_body(&only_retry)).unwrap_or(Value::Null);
        assert_eq!(v["error"]["details"][0]["retryDelay"], "3s");
        assert_eq!(v["error"]["details"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn dialects() {
        let a: Value =
            serde_json::from_str(&status_body(Dialect::Anthropic, 529, "x")).unwrap_or_default();
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "overloaded_error");
        let g: Value =
            serde_json::from_str(&status_body(Dialect::Gemini, 503, "x")).unwrap_or_default();
        assert_eq!(g["error"]["status"], "UNAVAILABLE");
        assert_eq!(g["error"]["code"], 503);
    }
}
