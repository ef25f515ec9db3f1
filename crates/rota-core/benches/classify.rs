//! Classifying a 2xx: without rate-limit headers, with a remaining-quota pair, and with the
//! pair and its reset (OpenAI's duration, Anthropic's RFC 3339 time), side by side.
//! `cargo bench -p rota-core --bench classify`.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, StatusCode};
use rota_core::classify::classify;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("content-type", "application/json".parse().expect("value"));
    for (name, value) in pairs {
        map.insert(*name, value.parse().expect("value"));
    }
    map
}

fn bench(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_601_600);
    let cases = [
        ("plain", headers(&[])),
        (
            "openai pair",
            headers(&[
                ("x-ratelimit-remaining-requests", "12"),
                ("x-ratelimit-limit-requests", "60"),
            ]),
        ),
        (
            "openai pair + reset",
            headers(&[
                ("x-ratelimit-remaining-requests", "12"),
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-reset-requests", "1.5s"),
            ]),
        ),
        (
            "anthropic pair + reset",
            headers(&[
                ("anthropic-ratelimit-requests-remaining", "12"),
                ("anthropic-ratelimit-requests-limit", "60"),
                ("anthropic-ratelimit-requests-reset", "2026-12-07T00:00:05Z"),
            ]),
        ),
    ];
    let mut group = c.benchmark_group("classify 2xx");
    for (name, map) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| classify(StatusCode::OK, black_box(map), b"", now));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
