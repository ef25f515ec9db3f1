//! The sim served in process (no socket), on paused time: the same quotas and prompt cache,
//! and a standing that counts nothing.

use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use rota_sim::{Quota, QuotaStanding, Sim};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn turn(sim: &rota_sim::SimHandle, key: &str) -> (u16, Value) {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": "You are the in-process test. ".repeat(20),
        "messages": [{"role": "user", "content": "What does the in-process sim answer?"}],
    });
    let req = Request::post("/v1/messages")
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    let res = sim.service().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("json"))
}

#[tokio::test(start_paused = true)]
async fn in_process_quota_and_cache_follow_paused_time() {
    let sim = Sim::in_process();
    sim.quota("k", Quota::new().per_minute(2).per_day(3));
    assert_eq!(
        sim.quota_standing("k"),
        Some(QuotaStanding {
            remaining: 2,
            reset: Duration::ZERO
        })
    );
    let (status, first) = turn(&sim, "k").await;
    assert_eq!(status, 200);
    assert_eq!(first["usage"]["cache_read_input_tokens"], 0);
    tokio::time::advance(Duration::from_secs(10)).await;
    let (_, second) = turn(&sim, "k").await;
    assert!(second["usage"]["cache_read_input_tokens"].as_u64() > Some(0));
    // Two taken within the minute; asking counts nothing.
    let standing = sim.quota_standing("k").expect("quota");
    assert_eq!(standing.remaining, 0);
    assert_eq!(standing.reset, Duration::from_secs(50));
    assert_eq!(sim.quota_standing("k"), Some(standing));
    assert_eq!(turn(&sim, "k").await.0, 429);
    // A minute later the daily window is the tighter one: one request left.
    tokio::time::advance(Duration::from_secs(60)).await;
    let standing = sim.quota_standing("k").expect("quota");
    assert_eq!(standing.remaining, 1);
    assert!(standing.reset > Duration::from_secs(23 * 3600));
    assert_eq!(sim.quota_standing("other"), None);
}
