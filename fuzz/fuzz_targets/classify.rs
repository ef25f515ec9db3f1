//! `rota_core::classify::classify` over arbitrary statuses, header maps and (mostly
//! structured) error bodies, and the outcome fed to a small scheduler.
//!
//! Checked besides "no panic": the outcome follows the status table (2xx success, 401/403/
//! 429/5xx failures, the rest neutral); a success carries `remaining_quota`'s finite fraction
//! in `0..=1`; a failure's delay is exactly `explicit_delay`'s and within `MAX_DELAY`;
//! `resource_exhausted` is only set on a 429 rate limit; recording the outcome (twice, to
//! climb a cooldown ladder) and selecting at a later time never panics.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use rota_core::classify::{classify, remaining_quota};
use rota_core::delay::{MAX_DELAY, explicit_delay};
use rota_core::{AccountSpec, Outcome, Reason, Scheduler, SelectRequest, Selection, Tier};
use rota_fuzz::{Body, Headers, check_duration, system_time};

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    headers: Headers,
    body: Body,
    now: u64,
    later_secs: u32,
}

fuzz_target!(|input: Input| {
    let status = StatusCode::from_u16(input.status)
        .unwrap_or_else(|_| StatusCode::from_u16(100 + input.status % 900).expect("100..=999"));
    let headers = input.headers.map();
    let body = input.body.bytes();
    let now = system_time(input.now);
    let outcome = classify(status, &headers, &body, now);
    let code = status.as_u16();
    match &outcome {
        Outcome::Success { remaining_quota: q, .. } => {
            assert!(status.is_success(), "{code} classified as success");
            assert_eq!(*q, remaining_quota(&headers));
            if let Some(q) = q {
                assert!(q.is_finite() && (0.0..=1.0).contains(q), "quota {q}");
            }
        }
        Outcome::Failure(f) => {
            let expected = match code {
                401 => Some(Reason::Unauthorized),
                403 => Some(Reason::Forbidden),
                500 | 502 | 503 | 529 => Some(Reason::ServerError),
                429 => None,
                _ => panic!("{code} classified as a failure"),
            };
            if let Some(reason) = expected {
                assert_eq!(f.reason, reason, "status {code}");
            }
            assert!(
                !f.resource_exhausted || (code == 429 && f.reason == Reason::RateLimited),
                "resource_exhausted on {f:?} for {code}"
            );
            assert_eq!(f.explicit_delay, explicit_delay(&headers, &body, now));
            if let Some(d) = f.explicit_delay {
                check_duration("explicit_delay", d, MAX_DELAY);
            }
        }
        Outcome::Neutral => assert!(
            !status.is_success() && !matches!(code, 401 | 403 | 429 | 500 | 502 | 503 | 529),
            "{code} classified as neutral"
        ),
        Outcome::Poisoned => panic!("classify never says poisoned"),
    }

    let scheduler = Scheduler::new(vec![
        AccountSpec::api_key("a@x", Tier::Pro, "k1"),
        AccountSpec::api_key("b@x", Tier::Free, "k2"),
    ]);
    let start = Instant::now();
    let req = SelectRequest::new("model");
    let Selection::Picked(first) = scheduler.select(&req, start) else {
        panic!("a fresh pool picks");
    };
    scheduler.record(first.account, "model", &outcome, start);
    scheduler.record(first.account, "model", &outcome, start);
    let later = start + Duration::from_secs(u64::from(input.later_secs));
    for at in [start, later] {
        let bound = SelectRequest {
            bound: Some(first.account),
            ..req
        };
        let _ = scheduler.select(&bound, at);
        let _ = scheduler.any_usable(&req, at);
    }
});
