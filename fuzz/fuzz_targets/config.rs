//! `rota_gateway::Config::parse` over arbitrary text, and the pool the gateway builds from
//! whatever it accepts.
//!
//! Input: the first byte's low bit says whether a minimal valid `[upstream]` + `[[accounts]]`
//! tail is appended to the rest (so mutations of the top-level keys and `[scheduling]` still
//! reach a full parse); the rest is the text. Checked besides "no panic": an accepted config
//! has at least one account, unique emails, a base URL without a trailing slash and at least
//! one attempt; its durations (`upstream.timeout`, `max_wait_seconds`, `window_seconds`) can
//! be added to `Instant::now()` and `SystemTime::now()`; the pool builds exactly as
//! `Gateway::new` builds it and survives selections, a long cooldown and the clock moving on.
#![no_main]

use std::collections::HashSet;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rota::Pool;
use rota::core::{ManualClock, ModelMapping};
use rota_fuzz::{check_duration, exercise_pool};
use rota_gateway::Config;

const TAIL: &str = r#"
[upstream]
base_url = "http://127.0.0.1:9000"

[[accounts]]
email = "a@x"
api_key = "k"
"#;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let text = if flags & 1 == 1 {
        format!("{text}\n{TAIL}")
    } else {
        text.to_owned()
    };
    let Ok(cfg) = Config::parse(&text) else {
        return;
    };
    assert!(!cfg.accounts.is_empty(), "no accounts");
    let mut emails = HashSet::new();
    assert!(
        cfg.accounts.iter().all(|a| emails.insert(a.email.as_str())),
        "duplicate emails"
    );
    assert!(!cfg.base_url.ends_with('/'), "base_url {:?}", cfg.base_url);
    assert!(cfg.max_attempts >= 1);
    assert!(!cfg.timeout.is_zero());
    assert!(cfg.max_body_bytes >= 1);
    // As `Gateway::new` builds it, with a manual clock instead of tokio's.
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .accounts(cfg.accounts.iter().cloned())
        .settings(cfg.settings)
        .mapping(ModelMapping::new(cfg.model_mapping.iter().cloned()))
        .max_attempts(cfg.max_attempts)
        .clock(clock.clone())
        .build()
        .expect("an accepted config builds a pool");
    exercise_pool(&pool, &clock);

    // Last, so that a panic in the pool itself is found first.
    let any = Duration::MAX;
    check_duration("upstream.timeout", cfg.timeout, any);
    check_duration("scheduling.max_wait_seconds", cfg.settings.max_wait, any);
    check_duration("scheduling.window_seconds", cfg.settings.window, any);
});
