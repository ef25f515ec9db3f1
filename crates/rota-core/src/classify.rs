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

use std::time::SystemTime;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::delay::{details, error_text, error_value, explicit_delay_in, parse_body};
use crate::outcome::{Failure, Outcome, Reason};

/// Header pairs (remaining, limit) that tell the remaining request quota, in preference order.
const QUOTA_HEADERS: &[(&str, &str)] = &[
    (
        "x-ratelimit-remaining-requests",
        "x-ratelimit-limit-requests",
    ),
    (
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-limit",
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
    if status.is_success() {
        return Outcome::Success {
            remaining_quota: remaining_quota(headers),
        };
    }
    let reason = match status.as_u16() {
        429 => None,
        500 | 502 | 503 | 529 => Some(Reason::ServerError),
        401 => Some(Reason::Unauthorized),
        403 => Some(Reason::Forbidden),
        _ => return Outcome::Neutral,
    };
    let parsed = parse_body(body);
    let (reason, resource_exhausted) = match reason {
        Some(reason) => (reason, false),
        None => reason_429(parsed.as_ref(), body),
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
    QUOTA_HEADERS.iter().find_map(|&(remaining, limit)| {
        let remaining = header_number(headers, remaining)?;
        let limit = header_number(headers, limit)?;
        if limit <= 0.0 {
            return None;
        }
        let fraction = (remaining / limit).clamp(0.0, 1.0);
        fraction.is_finite().then_some(fraction)
    })
}

/// A header's value as a finite number.
fn header_number(headers: &HeaderMap, name: &str) -> Option<f64> {
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
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;
    use std::time::Duration;

    /// 2023-11-14 22:13:20 UTC.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                *name,
                HeaderValue::from_str(value).expect("valid header value"),
            );
        }
        map
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).expect("valid status code")
    }

    fn failure(code: u16, pairs: &[(&'static str, &str)], body: &str) -> Failure {
        match classify(status(code), &headers(pairs), body.as_bytes(), now()) {
            Outcome::Failure(failure) => failure,
            other => panic!("expected a failure for {code}, got {other:?}"),
        }
    }

    fn reason_429(body: &str) -> Reason {
        failure(429, &[], body).reason
    }

    fn message(text: &str) -> String {
        serde_json::json!({ "error": { "message": text } }).to_string()
    }

    const GOOGLE_429: &str = r#"{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota will reset after 1h16m0.667s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"quotaResetDelay":"1h16m0.667s","model":"gemini-3-pro-high"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"4560.667s"}]}}"#;

    fn error_info(reason: &str) -> String {
        serde_json::json!({ "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Resource has been exhausted (e.g. check quota).",
            "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason }],
        }})
        .to_string()
    }

    #[test]
    fn success_2xx_carries_remaining_quota() {
        for code in [200, 201, 204, 299] {
            let outcome = classify(status(code), &HeaderMap::new(), b"", now());
            assert_eq!(
                outcome,
                Outcome::Success {
                    remaining_quota: None
                }
            );
        }
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "30"),
            ("x-ratelimit-limit-requests", "120"),
        ]);
        assert_eq!(
            classify(StatusCode::OK, &h, b"quota exceeded", now()),
            Outcome::Success {
                remaining_quota: Some(0.25)
            }
        );
    }

    #[test]
    fn remaining_quota_openai_headers() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "9"),
            ("x-ratelimit-limit-requests", "10"),
        ]);
        assert_eq!(remaining_quota(&h), Some(0.9));
    }

    #[test]
    fn remaining_quota_anthropic_headers() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-limit", "50"),
        ]);
        assert_eq!(remaining_quota(&h), Some(0.0));
    }

    #[test]
    fn remaining_quota_clamps_to_unit_interval() {
        let over = headers(&[
            ("x-ratelimit-remaining-requests", "200"),
            ("x-ratelimit-limit-requests", "100"),
        ]);
        assert_eq!(remaining_quota(&over), Some(1.0));
        let negative = headers(&[
            ("x-ratelimit-remaining-requests", "-3"),
            ("x-ratelimit-limit-requests", "100"),
        ]);
        assert_eq!(remaining_quota(&negative), Some(0.0));
    }

    #[test]
    fn remaining_quota_none_when_absent_unparseable_or_zero_limit() {
        assert_eq!(remaining_quota(&HeaderMap::new()), None);
        let only_remaining = headers(&[("x-ratelimit-remaining-requests", "5")]);
        assert_eq!(remaining_quota(&only_remaining), None);
        let zero = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-limit-requests", "0"),
        ]);
        assert_eq!(remaining_quota(&zero), None);
        let garbage = headers(&[
            ("x-ratelimit-remaining-requests", "lots"),
            ("x-ratelimit-limit-requests", "100"),
        ]);
        assert_eq!(remaining_quota(&garbage), None);
        let infinite = headers(&[
            ("x-ratelimit-remaining-requests", "inf"),
            ("x-ratelimit-limit-requests", "100"),
        ]);
        assert_eq!(remaining_quota(&infinite), None);
    }

    #[test]
    fn remaining_quota_falls_back_to_anthropic_pair() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "oops"),
            ("x-ratelimit-limit-requests", "100"),
            ("anthropic-ratelimit-requests-remaining", "1"),
            ("anthropic-ratelimit-requests-limit", "4"),
        ]);
        assert_eq!(remaining_quota(&h), Some(0.25));
    }

    #[test]
    fn quota_exhausted_google_429_body() {
        assert_eq!(
            failure(429, &[], GOOGLE_429),
            Failure {
                reason: Reason::QuotaExhausted,
                explicit_delay: Some(Duration::from_millis(4_560_667)),
                resource_exhausted: false,
            }
        );
    }

    #[test]
    fn quota_exhausted_error_info_code() {
        assert_eq!(
            reason_429(&error_info("QUOTA_EXHAUSTED")),
            Reason::QuotaExhausted
        );
    }

    #[test]
    fn quota_exhausted_wording() {
        for text in [
            "Quota exceeded for quota metric 'Generate Content API requests'",
            "You exceeded your current quota, please check your plan and billing details.",
            "Daily quota exhausted",
            "Your quota will reset after 3h.",
        ] {
            assert_eq!(
                reason_429(&message(text)),
                Reason::QuotaExhausted,
                "{text:?}"
            );
        }
        let openai = r#"{"error":{"message":"no credits","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(reason_429(openai), Reason::QuotaExhausted);
    }

    #[test]
    fn capacity_error_info_code() {
        let f = failure(429, &[], &error_info("MODEL_CAPACITY_EXHAUSTED"));
        assert_eq!(f.reason, Reason::Capacity);
        assert!(!f.resource_exhausted);
    }

    #[test]
    fn capacity_wording() {
        assert_eq!(
            reason_429(&message("No capacity available for model gemini-3-pro")),
            Reason::Capacity
        );
    }

    #[test]
    fn rate_limited_error_info_code() {
        let f = failure(429, &[], &error_info("RATE_LIMIT_EXCEEDED"));
        assert_eq!(f.reason, Reason::RateLimited);
        // The status and message say the resource is exhausted.
        assert!(f.resource_exhausted);
    }

    #[test]
    fn rate_limited_wording() {
        for text in [
            "Requests per minute exceeded",
            "Rate limit reached for gpt-4o",
            "Too Many Requests",
        ] {
            let f = failure(429, &[], &message(text));
            assert_eq!(f.reason, Reason::RateLimited, "{text:?}");
            assert!(!f.resource_exhausted, "{text:?}");
        }
    }

    #[test]
    fn rate_limited_anthropic_type() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your limit."}}"#;
        let f = failure(429, &[("retry-after", "12")], body);
        assert_eq!(f.reason, Reason::RateLimited);
        assert_eq!(f.explicit_delay, Some(Duration::from_secs(12)));
        assert!(!f.resource_exhausted);
    }

    #[test]
    fn rate_limited_openai_code() {
        let body = r#"{"error":{"message":"Please try again in 20ms.","type":"requests","code":"rate_limit_exceeded"}}"#;
        let f = failure(429, &[], body);
        assert_eq!(f.reason, Reason::RateLimited);
        assert_eq!(f.explicit_delay, Some(Duration::from_millis(20)));
    }

    #[test]
    fn resource_exhausted_alone_is_rate_limited() {
        let body = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(
            failure(429, &[], body),
            Failure {
                reason: Reason::RateLimited,
                explicit_delay: None,
                resource_exhausted: true,
            }
        );
        let bare = r#"{"error":{"status":"RESOURCE_EXHAUSTED"}}"#;
        let f = failure(429, &[], bare);
        assert_eq!(
            (f.reason, f.resource_exhausted),
            (Reason::RateLimited, true)
        );
    }

    #[test]
    fn resource_exhausted_flag_only_for_rate_limited() {
        let f = failure(429, &[], &error_info("QUOTA_EXHAUSTED"));
        assert_eq!(f.reason, Reason::QuotaExhausted);
        assert!(!f.resource_exhausted);
    }

    #[test]
    fn precedence_reason_code_wins_over_wording() {
        let body = serde_json::json!({ "error": {
            "message": "Quota exceeded; your quota will reset after 1h.",
            "details": [{ "reason": "RATE_LIMIT_EXCEEDED" }],
        }})
        .to_string();
        assert_eq!(reason_429(&body), Reason::RateLimited);
        let body = serde_json::json!({ "error": {
            "message": "rate limit, per minute",
            "details": [{ "reason": "MODEL_CAPACITY_EXHAUSTED" }],
        }})
        .to_string();
        assert_eq!(reason_429(&body), Reason::Capacity);
    }

    #[test]
    fn precedence_among_codes_quota_capacity_rate() {
        let body = serde_json::json!({ "error": { "details": [
            { "reason": "RATE_LIMIT_EXCEEDED" },
            { "reason": "MODEL_CAPACITY_EXHAUSTED" },
            { "reason": "QUOTA_EXHAUSTED" },
        ]}})
        .to_string();
        assert_eq!(reason_429(&body), Reason::QuotaExhausted);
    }

    #[test]
    fn precedence_among_wordings_quota_capacity_rate() {
        assert_eq!(
            reason_429(&message("rate limit: no capacity; quota exceeded")),
            Reason::QuotaExhausted
        );
        assert_eq!(
            reason_429(&message("rate limit: no capacity left")),
            Reason::Capacity
        );
    }

    #[test]
    fn unknown_429() {
        for body in [
            "",
            "{}",
            "not json at all",
            r#"{"error":{"message":"slow down"}}"#,
        ] {
            assert_eq!(
                failure(429, &[], body),
                Failure::new(Reason::Unknown),
                "{body:?}"
            );
        }
    }

    #[test]
    fn unknown_429_keeps_explicit_delay() {
        let f = failure(429, &[("retry-after", "120")], "{}");
        assert_eq!(f.reason, Reason::Unknown);
        assert_eq!(f.explicit_delay, Some(Duration::from_secs(120)));
    }

    #[test]
    fn array_wrapped_gemini_429() {
        let body = r#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.203608125s"}]}}]"#;
        assert_eq!(
            failure(429, &[], body),
            Failure {
                reason: Reason::RateLimited,
                explicit_delay: Some(Duration::new(1, 203_608_125)),
                resource_exhausted: true,
            }
        );
    }

    #[test]
    fn non_json_429_body_wording_and_delay() {
        let f = failure(429, &[], "Too Many Requests: try again in 2m 30s");
        assert_eq!(f.reason, Reason::RateLimited);
        assert_eq!(f.explicit_delay, Some(Duration::from_secs(150)));
        let f = failure(429, &[], "<html>quota exceeded</html>");
        assert_eq!(f.reason, Reason::QuotaExhausted);
    }

    #[test]
    fn retry_after_header_wins_over_body_delay() {
        let f = failure(
            429,
            &[("retry-after", "Tue, 14 Nov 2023 22:15:20 GMT")],
            GOOGLE_429,
        );
        assert_eq!(f.reason, Reason::QuotaExhausted);
        assert_eq!(f.explicit_delay, Some(Duration::from_secs(120)));
    }

    #[test]
    fn server_error_500_502_503_529() {
        for code in [500, 502, 503, 529] {
            assert_eq!(
                failure(code, &[], "upstream exploded"),
                Failure::new(Reason::ServerError),
                "{code}"
            );
        }
    }

    #[test]
    fn server_error_keeps_explicit_delay() {
        let f = failure(503, &[("retry-after-ms", "2500")], "");
        assert_eq!(f.reason, Reason::ServerError);
        assert_eq!(f.explicit_delay, Some(Duration::from_millis(2500)));
        assert!(!f.resource_exhausted);
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(failure(529, &[], overloaded).reason, Reason::ServerError);
    }

    #[test]
    fn server_error_ignores_rate_limit_wording() {
        let f = failure(503, &[], &message("RESOURCE_EXHAUSTED rate limit"));
        assert_eq!(f.reason, Reason::ServerError);
        assert!(!f.resource_exhausted);
    }

    #[test]
    fn unauthorized_401() {
        assert_eq!(failure(401, &[], ""), Failure::new(Reason::Unauthorized));
    }

    #[test]
    fn forbidden_403() {
        assert_eq!(failure(403, &[], "{}"), Failure::new(Reason::Forbidden));
        let f = failure(403, &[("retry-after", "60")], "");
        assert_eq!(f.reason, Reason::Forbidden);
        assert_eq!(f.explicit_delay, Some(Duration::from_secs(60)));
    }

    #[test]
    fn neutral_everything_else() {
        for code in [
            100, 101, 301, 302, 304, 400, 404, 405, 408, 409, 413, 422, 431, 501, 504, 505, 599,
        ] {
            let outcome = classify(
                status(code),
                &headers(&[("retry-after", "5")]),
                GOOGLE_429.as_bytes(),
                now(),
            );
            assert_eq!(outcome, Outcome::Neutral, "{code}");
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let keys = prop_oneof![
            Just("error".to_owned()),
            Just("details".to_owned()),
            Just("reason".to_owned()),
            Just("message".to_owned()),
            Just("status".to_owned()),
            Just("code".to_owned()),
            Just("type".to_owned()),
            Just("retryDelay".to_owned()),
            Just("metadata".to_owned()),
            Just("quotaResetDelay".to_owned()),
            ".{0,8}",
        ];
        let strings = prop_oneof![
            Just("QUOTA_EXHAUSTED".to_owned()),
            Just("MODEL_CAPACITY_EXHAUSTED".to_owned()),
            Just("RATE_LIMIT_EXCEEDED".to_owned()),
            Just("RESOURCE_EXHAUSTED".to_owned()),
            Just("try again in 1h2m3s".to_owned()),
            "[0-9.hms ]{0,12}",
            ".{0,24}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            strings.prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    fn arb_status() -> impl Strategy<Value = StatusCode> {
        prop_oneof![
            Just(StatusCode::TOO_MANY_REQUESTS),
            Just(StatusCode::SERVICE_UNAVAILABLE),
            (100u16..1000).prop_map(|c| StatusCode::from_u16(c).expect("100..1000 is valid")),
        ]
    }

    proptest! {
        #[test]
        fn classify_never_panics_on_bytes(
            code in arb_status(),
            body in prop::collection::vec(any::<u8>(), 0..512),
            remaining in ".{0,12}",
            retry_after in ".{0,32}",
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in [
                ("x-ratelimit-remaining-requests", &remaining),
                ("x-ratelimit-limit-requests", &retry_after),
                ("retry-after", &retry_after),
            ] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    map.insert(name, v);
                }
            }
            if let Outcome::Success { remaining_quota: Some(q) } = classify(code, &map, &body, now()) {
                prop_assert!((0.0..=1.0).contains(&q));
            }
        }

        #[test]
        fn classify_never_panics_on_json(code in arb_status(), value in arb_json()) {
            let body = serde_json::to_vec(&value).expect("serializable");
            let _ = classify(code, &HeaderMap::new(), &body, now());
        }
    }
}
