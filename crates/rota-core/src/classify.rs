//! Classifying upstream answers into outcomes (SPEC §5).
//!
//! [`classify`] turns a status, headers and body into an [`Outcome`]: a success (with the
//! remaining request quota from rate-limit headers), a [`Failure`] with its [`Reason`] and
//! explicit delay, or a neutral answer that says nothing about the account.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use http::{HeaderMap, StatusCode};
//! use rota_core::classify::classify;
//! use rota_core::{Outcome, Reason};
//!
//! let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#;
//! let outcome = classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body, SystemTime::UNIX_EPOCH);
//! let Outcome::Failure(failure) = outcome else { panic!("a 429 is a failure") };
//! assert_eq!(failure.reason, Reason::RateLimited);
//!
//! let outcome = classify(StatusCode::NOT_FOUND, &HeaderMap::new(), b"", SystemTime::UNIX_EPOCH);
//! assert_eq!(outcome, Outcome::Neutral);
//! ```

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::Value;

use crate::delay::{
    details, error_text, error_value, explicit_delay_in, parse_body, parse_duration, parse_rfc3339,
};
use crate::outcome::{Failure, Outcome, Reason};

/// How a provider writes when its request-quota window resets.
#[derive(Clone, Copy)]
enum ResetFormat {
    /// A Go duration (`"6m0s"`, `"340ms"`): OpenAI's.
    Duration,
    /// An RFC 3339 timestamp: Anthropic's.
    Timestamp,
}

/// The headers (remaining, limit, reset) that tell the remaining request quota, in preference
/// order.
static QUOTA_HEADERS: [(HeaderName, HeaderName, HeaderName, ResetFormat); 2] = [
    (
        HeaderName::from_static("x-ratelimit-remaining-requests"),
        HeaderName::from_static("x-ratelimit-limit-requests"),
        HeaderName::from_static("x-ratelimit-reset-requests"),
        ResetFormat::Duration,
    ),
    (
        HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
        HeaderName::from_static("anthropic-ratelimit-requests-limit"),
        HeaderName::from_static("anthropic-ratelimit-requests-reset"),
        ResetFormat::Timestamp,
    ),
];

/// Lowercase wording of an exhausted quota (account × model, long ladder).
const QUOTA_WORDING: &[&str] = &[
    "quota exceeded",
    "exceeded your current quota",
    "quota exhausted",
    "quota will reset",
    "insufficient_quota",
    "quota_exhausted",
    "quota_exceeded",
];

/// Lowercase wording of exhausted model capacity (kept narrow on purpose).
const CAPACITY_WORDING: &[&str] = &["capacity"];

/// Lowercase wording saying the upstream's resources are exhausted (a rate limit, 30 s default).
const RESOURCE_EXHAUSTED_WORDING: &[&str] = &[
    "resource exhausted",
    "resource_exhausted",
    "resource has been exhausted",
];

/// Lowercase wording of a short-window rate limit.
const RATE_LIMIT_WORDING: &[&str] = &[
    "per minute",
    "rate limit",
    "rate_limit",
    "rate-limit",
    "ratelimit",
    "too many requests",
];

/// Classifies one upstream answer (SPEC §5 table).
///
/// - 2xx → [`Outcome::Success`], with [`remaining_quota`] from the headers (the body is not read);
/// - 429 → a [`Failure`] whose [`Reason`] comes from the body: an `ErrorInfo` `reason` code
///   (`QUOTA_EXHAUSTED`, `MODEL_CAPACITY_EXHAUSTED`, `RATE_LIMIT_EXCEEDED`) wins; otherwise
///   wording in `error.status`, `error.type`, `error.code` and the message (or the raw body),
///   case-insensitively, with quota > capacity > rate limit; `RESOURCE_EXHAUSTED` alone is a
///   rate limit with `resource_exhausted` set; anything else is [`Reason::Unknown`];
/// - 500, 502, 503, 529 → [`Reason::ServerError`];
/// - 401 → [`Reason::Unauthorized`]; 403 → [`Reason::Forbidden`];
/// - anything else (1xx, 3xx, 400, 404, 413, 422, 504…) → [`Outcome::Neutral`].
///
/// Every failure carries the explicit delay found by [`crate::delay::explicit_delay`], if any;
/// the body is parsed at most once.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::{HeaderMap, StatusCode};
/// use rota_core::classify::classify;
/// use rota_core::{Failure, Outcome, Reason};
///
/// let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[
///     {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED"},
///     {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#;
/// let outcome = classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body, SystemTime::UNIX_EPOCH);
/// assert_eq!(
///     outcome,
///     Outcome::Failure(Failure {
///         reason: Reason::QuotaExhausted,
///         explicit_delay: Some(Duration::from_secs(38)),
///         resource_exhausted: false,
///     })
/// );
/// ```
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Outcome {
    // The status table is `Outcome::from_status`; the body adds a 429's reason and the delay.
    let by_status = match Outcome::from_status(status.as_u16()) {
        Outcome::Success { .. } => {
            let reading = quota_reading(headers);
            return Outcome::Success {
                remaining_quota: reading.map(|(fraction, _)| fraction),
                // Only a reading has a reset worth reading: its own pair's.
                quota_reset: reading.and_then(|(_, pair)| reset_of(headers, pair, now)),
            };
        }
        Outcome::Failure(f) => f.reason,
        other => return other,
    };
    let parsed = parse_body(body);
    let (reason, resource_exhausted) = if status == StatusCode::TOO_MANY_REQUESTS {
        reason_429(parsed.as_ref(), body)
    } else {
        (by_status, false)
    };
    Outcome::Failure(Failure {
        reason,
        explicit_delay: explicit_delay_in(headers, parsed.as_ref(), body, now),
        resource_exhausted,
    })
}

/// The remaining request-quota fraction from a 2xx's headers.
///
/// Reads `x-ratelimit-remaining-requests` / `x-ratelimit-limit-requests`, or else
/// `anthropic-ratelimit-requests-remaining` / `anthropic-ratelimit-requests-limit`, and
/// returns remaining ÷ limit clamped to `0.0..=1.0`. `None` if a pair is absent or
/// unparseable, or the limit is not positive.
///
/// ```
/// use http::HeaderMap;
/// use rota_core::classify::remaining_quota;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ratelimit-remaining-requests", "25".parse().expect("header value"));
/// headers.insert("x-ratelimit-limit-requests", "100".parse().expect("header value"));
/// assert_eq!(remaining_quota(&headers), Some(0.25));
/// assert_eq!(remaining_quota(&HeaderMap::new()), None);
/// ```
pub fn remaining_quota(headers: &HeaderMap) -> Option<f64> {
    quota_reading(headers).map(|(fraction, _)| fraction)
}

/// The remaining fraction, and which of [`QUOTA_HEADERS`] told it.
fn quota_reading(headers: &HeaderMap) -> Option<(f64, usize)> {
    QUOTA_HEADERS
        .iter()
        .enumerate()
        .find_map(|(i, (remaining, limit, ..))| {
            let remaining = header_number(headers, remaining)?;
            let limit = header_number(headers, limit)?;
            if limit <= 0.0 {
                return None;
            }
            let fraction = (remaining / limit).clamp(0.0, 1.0);
            fraction.is_finite().then_some((fraction, i))
        })
}

/// The reset of pair `i` of [`QUOTA_HEADERS`], if it carries a readable one.
fn reset_of(headers: &HeaderMap, i: usize, now: SystemTime) -> Option<Duration> {
    let (_, _, name, format) = QUOTA_HEADERS.get(i)?;
    let value = headers.get(name)?.to_str().ok()?;
    match format {
        ResetFormat::Duration => parse_duration(value),
        ResetFormat::Timestamp => parse_rfc3339(value, now),
    }
}

/// Time until the request-quota window of a 2xx's headers resets: `x-ratelimit-reset-requests`
/// (a duration, `"1.5s"`) with OpenAI's pair, `anthropic-ratelimit-requests-reset` (an RFC 3339
/// time, relative to `now`) with Anthropic's; `None` when the pair [`remaining_quota`] reads
/// has no readable reset.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderMap;
/// use rota_core::classify::quota_reset;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ratelimit-remaining-requests", "0".parse().expect("header value"));
/// headers.insert("x-ratelimit-limit-requests", "60".parse().expect("header value"));
/// headers.insert("x-ratelimit-reset-requests", "340ms".parse().expect("header value"));
/// assert_eq!(quota_reset(&headers, SystemTime::UNIX_EPOCH), Some(Duration::from_millis(340)));
/// ```
pub fn quota_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let (_, pair) = quota_reading(headers)?;
    reset_of(headers, pair, now)
}

/// A header's value as a finite number.
fn header_number(headers: &HeaderMap, name: &HeaderName) -> Option<f64> {
    let value = headers
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    value.is_finite().then_some(value)
}

/// The reason of a 429 and whether it said "resource exhausted" (only set for rate limits).
fn reason_429(parsed: Option<&Value>, raw: &[u8]) -> (Reason, bool) {
    let error = parsed.and_then(error_value);
    let text = wording(error, raw);
    let resource_exhausted = contains_any(&text, RESOURCE_EXHAUSTED_WORDING);
    let reason = error
        .and_then(reason_code)
        .or_else(|| reason_from_wording(&text, resource_exhausted))
        .unwrap_or(Reason::Unknown);
    (reason, resource_exhausted && reason == Reason::RateLimited)
}

/// The strongest `ErrorInfo` reason code among `error.details[]` (quota > capacity > rate).
fn reason_code(error: &Value) -> Option<Reason> {
    details(error)
        .filter_map(|detail| detail.get("reason").and_then(Value::as_str))
        .filter_map(|code| {
            let code = code.trim();
            if code.eq_ignore_ascii_case("QUOTA_EXHAUSTED") {
                Some(Reason::QuotaExhausted)
            } else if code.eq_ignore_ascii_case("MODEL_CAPACITY_EXHAUSTED") {
                Some(Reason::Capacity)
            } else if code.eq_ignore_ascii_case("RATE_LIMIT_EXCEEDED") {
                Some(Reason::RateLimited)
            } else {
                None
            }
        })
        .min_by_key(|&reason| precedence(reason))
}

/// Lower is stronger, when several signals of the same kind match.
const fn precedence(reason: Reason) -> u8 {
    match reason {
        Reason::QuotaExhausted => 0,
        Reason::Capacity => 1,
        Reason::RateLimited => 2,
        _ => 3,
    }
}

/// The reason told by wording in lowercase `text`: quota > capacity > rate limit.
fn reason_from_wording(text: &str, resource_exhausted: bool) -> Option<Reason> {
    if contains_any(text, QUOTA_WORDING) {
        Some(Reason::QuotaExhausted)
    } else if contains_any(text, CAPACITY_WORDING) {
        Some(Reason::Capacity)
    } else if resource_exhausted || contains_any(text, RATE_LIMIT_WORDING) {
        Some(Reason::RateLimited)
    } else {
        None
    }
}

/// The lowercase text a 429's wording is looked for in: `error.status`, `error.type`,
/// `error.code` (if a string), the `reason` of each detail, and the message (or the raw body
/// when there is no message).
fn wording(error: Option<&Value>, raw: &[u8]) -> String {
    let mut text = String::new();
    if let Some(error) = error {
        let fields = ["status", "type", "code"]
            .into_iter()
            .filter_map(|key| error.get(key).and_then(Value::as_str));
        let reasons = details(error).filter_map(|d| d.get("reason").and_then(Value::as_str));
        for part in fields.chain(reasons) {
            text.push_str(part);
            text.push('\n');
        }
    }
    text.push_str(&error_text(error, raw));
    text.make_ascii_lowercase();
    text
}

/// Whether `text` contains any of `needles`.
fn contains_any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|needle| text.contains(needle))
}

#[cfg(test)]
mod tests;
