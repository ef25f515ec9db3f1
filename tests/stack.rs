//! The full stack over real sockets (rota-sim upstream): credentials, model mapping, headers,
//! streams, and the three request shapes.

mod common;

use common::{Stack, chat, post};
use rota::Pool;
use rota::core::{AccountSpec, ModelMapping, Tier};
use rota_sim::{Behavior, RateLimit};

fn pool() -> Pool {
    Pool::builder()
        .account(AccountSpec::api_key(
            "alice@example.com",
            Tier::Ultra,
            "key-a",
        ))
        .account(AccountSpec::api_key("bob@example.com", Tier::Pro, "key-b"))
        .mapping(ModelMapping::new([
            ("gpt-4o", "gemini-3-pro-high"),
            ("claude-*", "claude-sonnet-4-5"),
            ("gemini-pro", "gemini-3-flash"),
        ]))
        .build()
        .expect("pool")
}

#[tokio::test]
async fn a_request_reaches_the_upstream_with_the_account_credential_and_mapped_model() {
    let stack = Stack::start(pool()).await;
    let res = stack
        .send(chat(
            "gpt-4o",
            "What is a tower layer, briefly?",
            None,
            false,
        ))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-account-email"), "alice@example.com");
    assert_eq!(res.header("x-mapped-model"), "gemini-3-pro-high");
    assert_eq!(res.header("x-rota-attempts"), "1");
    assert_eq!(res.header("x-rota-decision"), "rotation");
    assert_eq!(res.header("x-sim-account"), rota_sim::account_id("key-a"));

    let seen = stack.sim.requests();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.key.as_deref(), Some("key-a"));
    assert_eq!(seen.model.as_deref(), Some("gemini-3-pro-high"));
    assert_eq!(
        seen.headers["authorization"], "Bearer key-a",
        "the client key never leaves"
    );
    let body: serde_json::Value = serde_json::from_slice(&seen.body).expect("JSON body");
    assert_eq!(body["model"], "gemini-3-pro-high");
    assert_eq!(
        body["messages"][0]["content"],
        "What is a tower layer, briefly?"
    );
}

#[tokio::test]
async fn a_stream_passes_through_with_the_headers() {
    let stack = Stack::start(pool()).await;
    let res = stack
        .send(chat("gpt-4o", "Stream me a short poem please", None, true))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-account-email"), "alice@example.com");
    assert_eq!(res.header("x-mapped-model"), "gemini-3-pro-high");
    assert!(
        res.header("content-type").starts_with("text/event-stream"),
        "{:?}",
        res.headers
    );
    let text = String::from_utf8(res.body.to_vec()).expect("utf-8 events");
    assert!(text.matches("data:").count() > 1, "several events: {text}");
    assert!(text.contains("[DONE]"), "{text}");
}

#[tokio::test]
async fn anthropic_messages_use_x_api_key() {
    let stack = Stack::start(pool()).await;
    let body = r#"{"model":"claude-opus-4","max_tokens":64,"messages":[{"role":"user","content":"Hello Claude, how are you?"}]}"#;
    let mut req = post("/v1/messages", body);
    req.headers_mut()
        .insert("x-api-key", "client-key".parse().expect("valid"));
    let res = stack.send(req).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-mapped-model"), "claude-sonnet-4-5");
    let seen = &stack.sim.requests()[0];
    assert_eq!(seen.headers["x-api-key"], "key-a");
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(seen.model.as_deref(), Some("claude-sonnet-4-5"));
    let answer: serde_json::Value = serde_json::from_slice(&res.body).expect("JSON answer");
    assert_eq!(answer["type"], "message", "{answer}");
}

#[tokio::test]
async fn gemini_streams_use_x_goog_api_key_and_the_path_model() {
    let stack = Stack::start(pool()).await;
    let body =
        r#"{"contents":[{"role":"user","parts":[{"text":"Hello Gemini, tell me a joke"}]}]}"#;
    let req = post(
        "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse&key=client-key",
        body,
    );
    let res = stack.send(req).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-mapped-model"), "gemini-3-flash");
    assert_eq!(res.header("x-account-email"), "alice@example.com");
    let seen = &stack.sim.requests()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-3-flash:streamGenerateContent"
    );
    assert_eq!(seen.query.as_deref(), Some("alt=sse"));
    assert_eq!(seen.headers["x-goog-api-key"], "key-a");
    assert_eq!(seen.key.as_deref(), Some("key-a"));
    assert!(res.frames >= 1);
    assert!(String::from_utf8_lossy(&res.body).contains("data:"));
}

#[tokio::test]
async fn a_rate_limited_account_is_rotated_away_from_over_sockets() {
    let stack = Stack::start(pool()).await;
    stack.sim.script(
        "key-a",
        Behavior::RateLimit(
            RateLimit::new()
                .reason("RATE_LIMIT_EXCEEDED")
                .retry_info(std::time::Duration::from_secs(30)),
        ),
    );
    let res = stack
        .send(chat(
            "gpt-4o",
            "Please rotate me somewhere else",
            None,
            false,
        ))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-account-email"), "bob@example.com");
    assert_eq!(res.header("x-rota-attempts"), "2");
    let keys: Vec<_> = stack
        .sim
        .requests()
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    assert_eq!(keys, ["key-a", "key-b"]);
    let cooldown = &stack.pool.snapshot()[0].cooldowns[0];
    assert!(cooldown.remaining > std::time::Duration::from_secs(29));
}

#[tokio::test]
async fn an_upstream_error_status_comes_back_with_its_body_and_headers() {
    let stack = Stack::start(pool()).await;
    stack.sim.script("key-a", Behavior::Status(400));
    let res = stack
        .send(chat(
            "gpt-4o",
            "This request is malformed somehow",
            None,
            false,
        ))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.header("x-account-email"), "alice@example.com");
    assert_eq!(res.header("x-rota-attempts"), "1");
    let body: serde_json::Value = serde_json::from_slice(&res.body).expect("JSON error body");
    assert!(body.get("error").is_some(), "{body}");
}
