//! Stickiness, rotation, fixed account, modes, bindings, streaming, routes, credentials.

use std::collections::HashSet;
use std::time::Duration;

use http::Method;
use rota_sim::{Behavior, RateLimit};

use crate::common::*;

fn limited_30s() -> Behavior {
    Behavior::RateLimit(
        RateLimit::new()
            .reason("RATE_LIMIT_EXCEEDED")
            .retry_info(Duration::from_secs(30)),
    )
}

#[tokio::test]
async fn a_conversation_stays_on_its_account() {
    let env = start(|c, _| c.settings.window = Duration::ZERO).await;
    let a1 = env.chat("Conversation one: tell me about tower").await;
    let b1 = env.chat("Conversation two: tell me about hyper").await;
    assert_eq!(a1.status, 200);
    assert_ne!(
        a1.account(),
        b1.account(),
        "without a window, new sessions rotate"
    );
    let a2 = env
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[],
            &chat_turn2("gpt-4o", "Conversation one: tell me about tower"),
        )
        .await;
    let b2 = env
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[],
            &chat_turn2("gpt-4o", "Conversation two: tell me about hyper"),
        )
        .await;
    assert_eq!(a2.account(), a1.account());
    assert_eq!(b2.account(), b1.account());
    assert_eq!(a2.header("x-rota-decision"), "sticky");
    assert_eq!(b2.header("x-rota-decision"), "sticky");
    assert_eq!(a2.header("x-rota-attempts"), "1");
}

#[tokio::test]
async fn a_429_rotates_within_one_call_and_the_cooldown_shows() {
    let env = start(|_, _| {}).await;
    env.sim.script_next("ka", 1, limited_30s());
    let res = env.chat("Please rotate me to another account").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.account(), "b@x");
    assert_eq!(res.header("x-rota-attempts"), "2");
    assert_eq!(res.header("x-rota-decision"), "rotation");
    let a = env.account_json("a@x").await;
    let cd = &a["cooldowns"][0];
    assert_eq!(cd["reason"], "rate_limited");
    assert!(cd["model"].is_null());
    let left = cd["remaining_ms"].as_u64().unwrap();
    assert!((25_000..=30_000).contains(&left), "{left}");
    assert_eq!(a["failures"], 1);
    // Clearing the cooldown through the admin API makes a@x usable again.
    let cleared = env
        .admin(Method::DELETE, "/admin/accounts/a@x/cooldowns", "")
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.json()["cooldowns"], serde_json::json!([]));
}

#[tokio::test]
async fn fixed_account_wins_and_falls_back_while_cooling() {
    let env = start(|_, _| {}).await;
    let put = env
        .admin(Method::PUT, "/admin/fixed-account", r#"{"email":"c@x"}"#)
        .await;
    assert_eq!(put.json()["email"], "c@x");
    assert_eq!(
        env.admin(Method::GET, "/admin/fixed-account", "")
            .await
            .json()["email"],
        "c@x"
    );
    let res = env.chat("Fixed account conversation here").await;
    assert_eq!(
        (res.account(), res.header("x-rota-decision")),
        ("c@x", "fixed")
    );
    env.sim.script_next("kc", 1, limited_30s());
    let res = env.chat("Fixed account conversation here").await;
    assert_eq!(res.status, 200);
    assert_ne!(res.account(), "c@x");
    assert_eq!(res.header("x-rota-attempts"), "2");
    let res = env.chat("Another conversation while c cools").await;
    assert_ne!(res.account(), "c@x");
    assert_eq!(
        env.admin(
            Method::PUT,
            "/admin/fixed-account",
            r#"{"email":"nobody@x"}"#
        )
        .await
        .status,
        404
    );
    let cleared = env
        .admin(Method::PUT, "/admin/fixed-account", r#"{"email":null}"#)
        .await;
    assert!(cleared.json()["email"].is_null());
}

#[tokio::test]
async fn performance_first_spreads_one_conversation() {
    let env = start(|_, _| {}).await;
    let put = env
        .admin(
            Method::PUT,
            "/admin/scheduling",
            r#"{"mode":"PerformanceFirst"}"#,
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.json()["mode"], "PerformanceFirst");
    assert_eq!(put.json()["window_seconds"], 60);
    let mut seen = HashSet::new();
    for _ in 0..3 {
        let res = env.chat("Same conversation, every time").await;
        assert_eq!(res.header("x-rota-decision"), "rotation");
        seen.insert(res.account().to_owned());
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
}

#[tokio::test]
async fn bindings_can_be_cleared() {
    let env = start(|_, _| {}).await;
    for i in 0..3 {
        env.chat(&format!("Conversation number {i} for bindings"))
            .await;
    }
    let res = env.admin(Method::POST, "/admin/bindings/clear", "").await;
    assert_eq!(res.json(), serde_json::json!({"cleared": 3}));
    let res = env.admin(Method::POST, "/admin/bindings/clear", "").await;
    assert_eq!(res.json(), serde_json::json!({"cleared": 0}));
}

#[tokio::test]
async fn streams_pass_through_with_headers() {
    let env = start(|_, _| {}).await;
    let body = chat_body("gpt-4o", "Stream this answer to me please", true);
    let res = env
        .send(Method::POST, "/v1/chat/completions", &[], &body)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), "text/event-stream");
    assert_eq!(res.account(), "a@x");
    assert_eq!(res.header("x-mapped-model"), "gpt-4o");
    let text = String::from_utf8_lossy(&res.body);
    assert!(text.matches("data:").count() >= 3, "{text}");
    assert!(text.contains("[DONE]"));
}

#[tokio::test]
async fn gemini_route_maps_the_path_model_and_uses_its_header() {
    let env = start(|c, _| {
        c.api_keys = vec![rota::core::Secret::new("client-key")];
        c.model_mapping = vec![("gemini-pro".into(), "gemini-3-pro-high".into())];
    })
    .await;
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"Hello Gemini, how are you?"}]}]}"#;
    let res = env
        .send(
            Method::POST,
            "/v1beta/models/gemini-pro:generateContent?key=client-key&alt=json",
            &[],
            body,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.header("x-mapped-model"), "gemini-3-pro-high");
    let rec = env.sim.requests().pop().unwrap();
    assert_eq!(rec.path, "/v1beta/models/gemini-3-pro-high:generateContent");
    assert_eq!(rec.query.as_deref(), Some("alt=json"));
    assert_eq!(rec.headers["x-goog-api-key"], "ka");
    assert!(rec.headers.get("authorization").is_none());
    let bad = env
        .send(
            Method::POST,
            "/v1beta/models/gemini-pro:frobnicate?key=client-key",
            &[],
            body,
        )
        .await;
    assert_eq!(bad.status, 404);
    assert_eq!(bad.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn anthropic_route_uses_x_api_key_and_wildcard_mapping() {
    let env =
        start(|c, _| c.model_mapping = vec![("claude-*".into(), "claude-sonnet-4-5".into())]).await;
    let body = r#"{"model":"claude-opus-4","max_tokens":10,"messages":[{"role":"user","content":"Hi there Claude"}]}"#;
    let res = env
        .send(
            Method::POST,
            "/v1/messages",
            &[("x-api-key", "whatever")],
            body,
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-mapped-model"), "claude-sonnet-4-5");
    let rec = env.sim.requests().pop().unwrap();
    assert_eq!(rec.headers["x-api-key"], "ka");
    assert!(rec.headers.get("authorization").is_none());
    assert_eq!(rec.model.as_deref(), Some("claude-sonnet-4-5"));
}

#[tokio::test]
async fn exact_mapping_and_client_credentials_never_reach_upstream() {
    let env = start(|c, _| {
        c.api_keys = vec![rota::core::Secret::new("sk-client")];
        c.model_mapping = vec![
            ("gpt-4o".into(), "gemini-3-pro-high".into()),
            ("gpt-*".into(), "other".into()),
        ];
    })
    .await;
    let headers = [
        ("authorization", "Bearer sk-client"),
        ("x-api-key", "sk-client"),
        ("x-goog-api-key", "sk-client"),
    ];
    let body = chat_body("gpt-4o", "Where do my credentials go?", false);
    let res = env
        .send(
            Method::POST,
            "/v1/chat/completions?key=sk-client",
            &headers,
            &body,
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-mapped-model"), "gemini-3-pro-high");
    let rec = env.sim.requests().pop().unwrap();
    assert_eq!(rec.headers["authorization"], "Bearer ka");
    assert!(rec.headers.get("x-api-key").is_none());
    assert!(rec.headers.get("x-goog-api-key").is_none());
    assert_eq!(rec.query, None);
    assert_eq!(rec.model.as_deref(), Some("gemini-3-pro-high"));
    for (_, v) in rec.headers.iter() {
        assert!(!v.as_bytes().windows(9).any(|w| w == b"sk-client"));
    }
    // /v1/models is forwarded too (GET, no body).
    let models = env
        .send(
            Method::GET,
            "/v1/models",
            &[("authorization", "Bearer sk-client")],
            "",
        )
        .await;
    assert_eq!(models.status, 200);
}
