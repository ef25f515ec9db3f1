//! Tests of [`super`] (delay.rs).

use super::*;
use crate::testing::{arb_error_json, now};
use http::HeaderValue;
use proptest::prelude::*;

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

fn delay_of(pairs: &[(&'static str, &str)], body: &str) -> Option<Duration> {
    explicit_delay(&headers(pairs), body.as_bytes(), now())
}

const GOOGLE_429: &str = r#"{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota will reset after 1h16m0.667s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"quotaResetDelay":"1h16m0.667s","model":"gemini-3-pro-high"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"4560.667s"}]}}"#;

#[test]
fn duration_fractional_seconds() {
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("0.5s"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
}

#[test]
fn duration_milliseconds_are_not_minutes() {
    assert_eq!(parse_duration("200ms"), Some(Duration::from_millis(200)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
}

#[test]
fn duration_compound_is_exact() {
    assert_eq!(
        parse_duration("1h16m0.667s"),
        Some(Duration::from_millis(4_560_667))
    );
    assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
    assert_eq!(parse_duration("2m30s"), Some(Duration::from_secs(150)));
    assert_eq!(parse_duration("2m 30s"), Some(Duration::from_secs(150)));
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
}

#[test]
fn duration_nanosecond_exact() {
    assert_eq!(
        parse_duration("1.203608125s"),
        Some(Duration::new(1, 203_608_125))
    );
    assert_eq!(
        parse_duration("4560.667s"),
        Some(Duration::from_millis(4_560_667))
    );
    assert_eq!(parse_duration("0.1h"), Some(Duration::from_secs(360)));
    // Below a nanosecond is truncated.
    assert_eq!(parse_duration("1.0000000019s"), Some(Duration::new(1, 1)));
}

#[test]
fn duration_small_units() {
    assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
    assert_eq!(parse_duration("250µs"), Some(Duration::from_micros(250)));
    assert_eq!(parse_duration("250μs"), Some(Duration::from_micros(250)));
    assert_eq!(parse_duration("7ns"), Some(Duration::from_nanos(7)));
}

#[test]
fn duration_bare_number_is_seconds() {
    assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration(" 1.25 "), Some(Duration::from_millis(1250)));
}

#[test]
fn duration_words_and_case() {
    assert_eq!(parse_duration("10 seconds"), Some(Duration::from_secs(10)));
    assert_eq!(parse_duration("30 sec"), Some(Duration::from_secs(30)));
    assert_eq!(
        parse_duration("2 minutes and 5 seconds"),
        Some(Duration::from_secs(125))
    );
    assert_eq!(parse_duration("1H30M"), Some(Duration::from_secs(5400)));
}

#[test]
fn duration_rejects_garbage() {
    for s in [
        "", " ", "s", ".", ".s", "-1s", "1x", "2m 30", "1s later", "abc", "1..5s", "1.5.s",
    ] {
        assert_eq!(parse_duration(s), None, "{s:?}");
    }
}

#[test]
fn duration_absurd_values_saturate() {
    assert_eq!(parse_duration(&"9".repeat(200)), Some(PARSE_LIMIT));
    assert_eq!(parse_duration("99999999999999999999h"), Some(PARSE_LIMIT));
}

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(
        parse_retry_after("120", now()),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("-5", now()), None);
    assert_eq!(parse_retry_after("99999999999999", now()), Some(MAX_DELAY));
}

#[test]
fn retry_after_http_date() {
    assert_eq!(
        parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now()),
        Some(Duration::from_secs(120))
    );
    let later = httpdate::fmt_http_date(now() + Duration::from_secs(90));
    assert_eq!(
        parse_retry_after(&later, now()),
        Some(Duration::from_secs(90))
    );
}

#[test]
fn retry_after_date_in_the_past_is_zero() {
    assert_eq!(
        parse_retry_after("Tue, 14 Nov 2023 21:00:00 GMT", now()),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_far_date_is_capped() {
    assert_eq!(
        parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now()),
        Some(MAX_DELAY)
    );
}

#[test]
fn explicit_retry_after_header() {
    assert_eq!(
        delay_of(&[("retry-after", "120")], ""),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        delay_of(&[("retry-after", "Tue, 14 Nov 2023 22:15:20 GMT")], "{}"),
        Some(Duration::from_secs(120))
    );
}

#[test]
fn explicit_retry_after_header_wins_over_body() {
    assert_eq!(
        delay_of(&[("retry-after", "7")], GOOGLE_429),
        Some(Duration::from_secs(7))
    );
}

#[test]
fn explicit_unparseable_retry_after_falls_through() {
    assert_eq!(
        delay_of(&[("retry-after", "soonish")], GOOGLE_429),
        Some(Duration::from_millis(4_560_667))
    );
}

#[test]
fn explicit_retry_info_wins_over_quota_reset_delay() {
    let body = r#"{"error":{"details":[
        {"@type":"type.googleapis.com/google.rpc.ErrorInfo","metadata":{"quotaResetDelay":"10s"}},
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}"#;
    assert_eq!(delay_of(&[], body), Some(Duration::from_secs(3)));
}

#[test]
fn explicit_quota_reset_delay_when_no_retry_info() {
    let body = r#"{"error":{"message":"try again in 99s","details":[
        {"@type":"type.googleapis.com/google.rpc.ErrorInfo","metadata":{"quotaResetDelay":"1.203608125s"}}]}}"#;
    assert_eq!(delay_of(&[], body), Some(Duration::new(1, 203_608_125)));
}

#[test]
fn explicit_retry_delay_object_form() {
    let body = r#"{"error":{"details":[{"retryDelay":{"seconds":"12","nanos":500000000}}]}}"#;
    assert_eq!(delay_of(&[], body), Some(Duration::from_millis(12_500)));
}

#[test]
fn explicit_google_429_body() {
    assert_eq!(
        delay_of(&[], GOOGLE_429),
        Some(Duration::from_millis(4_560_667))
    );
}

#[test]
fn explicit_retry_after_ms_header() {
    assert_eq!(
        delay_of(&[("retry-after-ms", "1500")], ""),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        delay_of(&[("retry-after-ms", "20.5")], ""),
        Some(Duration::from_micros(20_500))
    );
}

#[test]
fn explicit_body_details_win_over_retry_after_ms() {
    let body = r#"{"error":{"details":[{"retryDelay":"2s"}]}}"#;
    assert_eq!(
        delay_of(&[("retry-after-ms", "1500")], body),
        Some(Duration::from_secs(2))
    );
}

#[test]
fn explicit_retry_after_ms_wins_over_message_text() {
    let body = r#"{"error":{"message":"Please try again in 20s"}}"#;
    assert_eq!(
        delay_of(&[("retry-after-ms", "1500")], body),
        Some(Duration::from_millis(1500))
    );
}

#[test]
fn explicit_message_text_phrases() {
    let cases = [
        (
            "Rate limited, try again in 2m 30s.",
            Duration::from_secs(150),
        ),
        ("Please try again in 1.5s.", Duration::from_millis(1500)),
        ("Please try again in 20ms.", Duration::from_millis(20)),
        (
            "Your quota will reset after 1h2m3s.",
            Duration::from_secs(3723),
        ),
        ("limit reached; reset after 45s", Duration::from_secs(45)),
        ("Retry after 10 seconds", Duration::from_secs(10)),
        ("RETRY IN 10 SECONDS", Duration::from_secs(10)),
        ("please retry in 30 sec", Duration::from_secs(30)),
    ];
    for (message, expected) in cases {
        let body = serde_json::json!({ "error": { "message": message } }).to_string();
        assert_eq!(delay_of(&[], &body), Some(expected), "{message:?}");
    }
}

#[test]
fn explicit_message_without_duration_is_none() {
    let body = r#"{"error":{"message":"Please try again in a while. Retry after lunch."}}"#;
    assert_eq!(delay_of(&[], body), None);
    assert_eq!(delay_of(&[], "{}"), None);
    assert_eq!(delay_of(&[], ""), None);
}

#[test]
fn explicit_array_wrapped_gemini_error() {
    let body = r#"[{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}]"#;
    assert_eq!(delay_of(&[], body), Some(Duration::from_secs(38)));
}

#[test]
fn explicit_non_json_body_text() {
    assert_eq!(
        delay_of(&[], "Too Many Requests. Try again in 2m 30s"),
        Some(Duration::from_secs(150))
    );
    assert_eq!(delay_of(&[], "<html>Too Many Requests</html>"), None);
    assert_eq!(
        explicit_delay(&HeaderMap::new(), b"\xff\xfe retry after 5s", now()),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn explicit_delay_is_capped() {
    let body = r#"{"error":{"details":[{"retryDelay":"100000h"}]}}"#;
    assert_eq!(delay_of(&[], body), Some(MAX_DELAY));
}

proptest! {
    #[test]
    fn parse_duration_never_panics(s in ".*") {
        let _ = parse_duration(&s);
        let _ = parse_retry_after(&s, now());
        let _ = parse_rfc3339(&s, now());
    }

    #[test]
    fn parse_rfc3339_never_panics_on_timestamp_like(s in "[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,2}[Tt ][0-9:]{0,9}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?") {
        let _ = parse_rfc3339(&s, now());
    }

    #[test]
    fn parse_duration_never_panics_on_duration_like(s in "[0-9.hmsuµn ,and]{0,40}") {
        let _ = parse_duration(&s);
    }

    #[test]
    fn parse_duration_milliseconds_exact(n in any::<u32>()) {
        prop_assert_eq!(
            parse_duration(&format!("{n}ms")),
            Some(Duration::from_millis(u64::from(n)))
        );
    }

    #[test]
    fn explicit_delay_never_panics_on_bytes(
        body in prop::collection::vec(any::<u8>(), 0..512),
        retry_after in ".{0,32}",
        retry_after_ms in ".{0,16}",
    ) {
        let mut map = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&retry_after) {
            map.insert(RETRY_AFTER, v);
        }
        if let Ok(v) = HeaderValue::from_str(&retry_after_ms) {
            map.insert("retry-after-ms", v);
        }
        if let Some(d) = explicit_delay(&map, &body, now()) {
            prop_assert!(d <= MAX_DELAY);
        }
    }

    #[test]
    fn explicit_delay_never_panics_on_json(value in arb_error_json()) {
        let body = serde_json::to_vec(&value).expect("serializable");
        if let Some(d) = explicit_delay(&HeaderMap::new(), &body, now()) {
            prop_assert!(d <= MAX_DELAY);
        }
    }
}

#[test]
fn rfc3339_timestamps_relative_to_now() {
    let now = now();
    let at = |s: &str| parse_rfc3339(s, now);
    // Whatever `now` is, the same instant written two ways gives the same delay.
    assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
    assert_eq!(at("2999-01-01T00:00:00Z"), Some(MAX_DELAY));
    assert_eq!(at("2023-11-14T22:13:20Z"), at("2023-11-14T23:13:20+01:00"));
    assert_eq!(at("2023-11-14t22:13:20z"), at("2023-11-14 22:13:20Z"));
    for bad in [
        "",
        "2023-13-01T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:13:20",
        "2023-11-14T22:13:20+0100",
        "2023-11-14T22:13:20.Z",
        "20231114T221320Z",
        "2023-11-14T22:13:20Zjunk",
        "-023-11-14T22:13:20Z",
    ] {
        assert_eq!(at(bad), None, "{bad:?}");
    }
}
