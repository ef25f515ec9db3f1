//! Shared test support (compiled only for tests).

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::Value;

/// A fixed wall-clock "now": 2023-11-14 22:13:20 UTC.
pub(crate) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Arbitrary JSON shaped like upstream error bodies: the keys and strings the classifier and
/// the delay parser look for, mixed with random ones, nested up to 5 levels.
pub(crate) fn arb_error_json() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("error".to_owned()),
        Just("details".to_owned()),
        Just("@type".to_owned()),
        Just("retryDelay".to_owned()),
        Just("metadata".to_owned()),
        Just("quotaResetDelay".to_owned()),
        Just("reason".to_owned()),
        Just("message".to_owned()),
        Just("status".to_owned()),
        Just("code".to_owned()),
        Just("type".to_owned()),
        Just("seconds".to_owned()),
        Just("nanos".to_owned()),
        ".{0,8}",
    ];
    let strings = prop_oneof![
        Just("1h16m0.667s".to_owned()),
        Just("try again in 2m 30s".to_owned()),
        Just("try again in 1h2m3s".to_owned()),
        Just("QUOTA_EXHAUSTED".to_owned()),
        Just("MODEL_CAPACITY_EXHAUSTED".to_owned()),
        Just("RATE_LIMIT_EXCEEDED".to_owned()),
        Just("RESOURCE_EXHAUSTED".to_owned()),
        Just("type.googleapis.com/google.rpc.RetryInfo".to_owned()),
        "[0-9.hmsµ ]{0,12}",
        ".{0,24}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
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
