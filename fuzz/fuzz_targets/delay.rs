//! The public functions of `rota_core::delay`: `parse_duration`, `parse_retry_after` and
//! `explicit_delay`, over arbitrary text, header maps and (mostly structured) error bodies.
//!
//! Checked besides "no panic": every result stays within its documented cap (100 years for
//! `parse_duration`, `MAX_DELAY` for the others) and can be added to `Instant::now()` and
//! `SystemTime::now()`; surrounding whitespace does not change a parse; plain `<n>s` and
//! `<secs>.<9 digits>s` parse exactly (up to the 100-year saturation).
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rota_core::delay::{MAX_DELAY, explicit_delay, parse_duration, parse_retry_after};
use rota_fuzz::{Body, GoDuration, Headers, check_duration, system_time};

/// `parse_duration`'s documented saturation point.
const HUNDRED_YEARS: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    words: GoDuration,
    retry_after: String,
    now: u64,
    secs: u32,
    nanos: u32,
    headers: Headers,
    body: Body,
}

fuzz_target!(|input: Input| {
    let now = system_time(input.now);
    for text in [input.text.clone(), input.words.text()] {
        let parsed = parse_duration(&text);
        if let Some(d) = parsed {
            check_duration("parse_duration", d, HUNDRED_YEARS);
        }
        assert_eq!(
            parse_duration(&format!(" \t{text}  ")),
            parsed,
            "whitespace matters"
        );
        if let Some(d) = parse_retry_after(&text, now) {
            check_duration("parse_retry_after", d, MAX_DELAY);
        }
    }
    if let Some(d) = parse_retry_after(&input.retry_after, now) {
        check_duration("parse_retry_after", d, MAX_DELAY);
    }
    let secs = u64::from(input.secs);
    assert_eq!(
        parse_duration(&format!("{secs}s")),
        Some(Duration::from_secs(secs).min(HUNDRED_YEARS))
    );
    let nanos = input.nanos % 1_000_000_000;
    assert_eq!(
        parse_duration(&format!("{secs}.{nanos:09}s")),
        Some(Duration::new(secs, nanos).min(HUNDRED_YEARS))
    );

    let headers = input.headers.map();
    let body = input.body.bytes();
    if let Some(d) = explicit_delay(&headers, &body, now) {
        check_duration("explicit_delay", d, MAX_DELAY);
    }
});
