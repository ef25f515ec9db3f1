//! Tests of [`super`] (classify.rs).

use super::*;
use crate::testing::{arb_error_json, now};
use http::HeaderValue;
use proptest::prelude::*;
use std::time::Duration;

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
                remaining_quota: None,
                quota_reset: None,
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
            remaining_quota: Some(0.25),
            quota_reset: None,
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
        if let Outcome::Success { remaining_quota: Some(q), .. } = classify(code, &map, &body, now()) {
            prop_assert!((0.0..=1.0).contains(&q));
        }
    }

    #[test]
    fn classify_never_panics_on_json(code in arb_status(), value in arb_error_json()) {
        let body = serde_json::to_vec(&value).expect("serializable");
        let _ = classify(code, &HeaderMap::new(), &body, now());
    }
}

#[test]
fn success_carries_when_the_quota_window_resets() {
    let ok = |pairs: &[(&'static str, &str)]| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        classify(StatusCode::OK, &h, b"", now())
    };
    assert_eq!(
        ok(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-reset-requests", "1.5s"),
        ]),
        Outcome::Success {
            remaining_quota: Some(0.0),
            quota_reset: Some(Duration::from_millis(1500)),
        }
    );
    // `now()` is 2023-11-14T22:13:20Z.
    let in_ten = "2023-11-14T22:13:30Z";
    assert_eq!(
        ok(&[
            ("anthropic-ratelimit-requests-remaining", "1"),
            ("anthropic-ratelimit-requests-limit", "4"),
            ("anthropic-ratelimit-requests-reset", in_ten),
        ]),
        Outcome::Success {
            remaining_quota: Some(0.25),
            quota_reset: Some(Duration::from_secs(10)),
        }
    );
    // A reset without its pair, or unreadable, says nothing.
    assert_eq!(quota_reset(&HeaderMap::new(), now()), None);
    let mut h = HeaderMap::new();
    h.insert(
        "x-ratelimit-reset-requests",
        "1s".parse().expect("header value"),
    );
    assert_eq!(quota_reset(&h, now()), None);
    h.insert(
        "x-ratelimit-remaining-requests",
        "3".parse().expect("header value"),
    );
    h.insert(
        "x-ratelimit-limit-requests",
        "4".parse().expect("header value"),
    );
    h.insert(
        "x-ratelimit-reset-requests",
        "soon".parse().expect("header value"),
    );
    assert_eq!(quota_reset(&h, now()), None);
}
