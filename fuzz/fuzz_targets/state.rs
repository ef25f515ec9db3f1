//! The state-file loader: `PersistedState::from_json` over arbitrary bytes, then
//! `StateStore::apply` of whatever it accepts to a small pool.
//!
//! Checked besides "no panic": an accepted state has version 1 and survives a serialise /
//! parse round trip unchanged; applying it disables exactly the configured accounts it names
//! (with its reasons), sets settings whose durations can be added to `Instant::now()` and
//! `SystemTime::now()` when its mode is known, and leaves a pool that survives selections,
//! a long cooldown and the clock moving on.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rota::Pool;
use rota::core::{AccountSpec, ManualClock, Settings, Tier};
use rota_fuzz::{check_duration, exercise_pool};
use rota_gateway::state::{PersistedState, StateStore};

const EMAILS: [&str; 3] = ["a@x", "b@x", "c@x"];

fuzz_target!(|data: &[u8]| {
    let Ok(state) = PersistedState::from_json(data) else {
        return;
    };
    assert_eq!(state.version, 1);
    let json = serde_json::to_vec(&state).expect("a parsed state serialises");
    assert_eq!(
        PersistedState::from_json(&json).as_ref(),
        Ok(&state),
        "round trip"
    );

    let clock = ManualClock::new();
    let pool = Pool::builder()
        .accounts(EMAILS.map(|e| AccountSpec::api_key(e, Tier::Pro, "k")))
        .clock(clock.clone())
        .build()
        .expect("pool");
    StateStore::apply(&state, &pool);

    let settings = pool.settings();
    let expected = match &state.scheduling {
        Some(s) => s.to_settings().unwrap_or_default(),
        None => Settings::default(),
    };
    assert_eq!(settings, expected, "settings after apply");

    let after = PersistedState::of(&pool);
    let named: Vec<_> = state
        .disabled
        .iter()
        .filter(|(email, _)| EMAILS.contains(&email.as_str()))
        .collect();
    assert_eq!(
        after.disabled.iter().collect::<Vec<_>>(),
        named,
        "disabled accounts"
    );
    exercise_pool(&pool, &clock);

    // Last, so that a panic in the pool itself is found first.
    check_duration("max_wait", settings.max_wait, Duration::MAX);
    check_duration("window", settings.window, Duration::MAX);
});
