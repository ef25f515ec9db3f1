//! SPEC §3a object affinity and §2 rules 2–3, through the real gateway over real sockets:
//! rota-sim stores Responses and conversations per account and answers another account's
//! `previous_response_id` with 400 and its ids with 404, as the real API does.

use std::time::Duration;

use http::Method;
use rota::core::Mode;
use rota_sim::{Behavior, RateLimit};
use serde_json::json;

use crate::common::{Answer, Env, start};

const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

async fn respond(env: &Env, body: serde_json::Value) -> Answer {
    env.send(Method::POST, "/v1/responses", &JSON, &body.to_string())
        .await
}

fn id_of(res: &Answer) -> String {
    let id = res.json()["id"].as_str().unwrap_or("").to_owned();
    assert!(id.starts_with("resp_"), "a response id: {:?}", res.body);
    id
}

/// PerformanceFirst keeps no bindings and no window: every request rotates. Only object
/// affinity can keep a chain on its account, so these tests fail without it.
async fn rotating() -> Env {
    start(|c, _| c.settings.mode = Mode::PerformanceFirst).await
}

#[tokio::test]
async fn a_responses_chain_stays_on_the_account_that_holds_it() {
    let env = rotating().await;
    let first = respond(
        &env,
        json!({"model": "gpt-4o", "input": "Plan a three-day trip to Lisbon"}),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let owner = first.account().to_owned();
    let mut previous = id_of(&first);
    // Each later turn carries only its new input, as the SDKs send it.
    for input in ["Make day 2 cheaper", "ok"] {
        let res = respond(
            &env,
            json!({"model": "gpt-4o", "previous_response_id": previous, "input": input}),
        )
        .await;
        assert_eq!(res.status, 200, "{input}: {:?}", res.body);
        assert_eq!(res.account(), owner, "{input}");
        assert_eq!(res.header("x-rota-decision"), "sticky");
        previous = id_of(&res);
    }
    // The stored object's own routes go to its owner too.
    let paths = [
        (Method::GET, format!("/v1/responses/{previous}")),
        (Method::GET, format!("/v1/responses/{previous}/input_items")),
        (Method::DELETE, format!("/v1/responses/{previous}")),
    ];
    for (method, path) in paths {
        let res = env.send(method.clone(), &path, &[], "").await;
        assert_eq!(res.status, 200, "{method} {path}: {:?}", res.body);
        assert_eq!(res.account(), owner, "{method} {path}");
    }
    // Every request reached the owner: none was refused by another account.
    let key = format!("k{}", &owner[..1]);
    assert_eq!(env.sim.requests().len(), 6);
    assert_eq!(env.sim.requests_for(&key).len(), 6);
}

#[tokio::test]
async fn ids_are_learned_from_a_stream_and_conversations_too() {
    let env = rotating().await;
    let res = respond(
        &env,
        json!({"model": "gpt-4o", "stream": true, "input": "Stream me a haiku about Lisbon"}),
    )
    .await;
    assert_eq!(res.status, 200);
    let text = String::from_utf8_lossy(&res.body).into_owned();
    let start = text.find("\"resp_").expect("a response id in the stream") + 1;
    let id = &text[start..start + text[start..].find('"').expect("closing quote")];
    let owner = res.account().to_owned();
    for _ in 0..3 {
        let res = env
            .send(Method::GET, &format!("/v1/responses/{id}"), &[], "")
            .await;
        assert_eq!((res.status.as_u16(), res.account()), (200, owner.as_str()));
    }

    let conv = env
        .send(Method::POST, "/v1/conversations", &JSON, "{}")
        .await;
    assert_eq!(conv.status, 200, "{:?}", conv.body);
    let conv_id = conv.json()["id"]
        .as_str()
        .expect("conversation id")
        .to_owned();
    let holder = conv.account().to_owned();
    for input in ["First question in the conversation", "Second one"] {
        let res = respond(
            &env,
            json!({"model": "gpt-4o", "conversation": conv_id, "input": input}),
        )
        .await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        assert_eq!(res.account(), holder);
    }
}

#[tokio::test]
async fn a_cooling_owner_is_waited_for_or_answered_429_never_replaced() {
    let env = start(|c, _| {
        c.settings.mode = Mode::Balance;
        c.settings.max_wait = Duration::ZERO;
    })
    .await;
    let first = respond(
        &env,
        json!({"model": "gpt-4o", "input": "Plan a three-day trip to Porto"}),
    )
    .await;
    let owner = first.account().to_owned();
    let key = format!("k{}", &owner[..1]);
    let previous = id_of(&first);
    let turn = json!({"model": "gpt-4o", "previous_response_id": previous, "input": "cheaper"});

    // The owner answers 429: no other account holds the object, so nothing rotates.
    let limit = RateLimit::new().retry_info(Duration::from_secs(30));
    env.sim.script_next(&key, 1, Behavior::RateLimit(limit));
    env.sim.clear_log();
    let res = respond(&env, turn.clone()).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.account(), owner);
    assert_eq!(res.header("x-rota-attempts"), "1");
    assert_eq!(res.header("retry-after"), "30");
    assert_eq!(res.header("retry-after-ms"), "30000");
    assert_eq!(env.sim.requests().len(), 1);

    // Now it is cooling for longer than max_wait: rota's own 429, and still nobody else.
    let res = respond(&env, turn.clone()).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("x-rota-attempts"), "0");
    let secs: u64 = res.header("retry-after").parse().expect("seconds");
    assert!((28..=30).contains(&secs), "{secs}");
    assert!(res.headers.contains_key("retry-after-ms"));
    assert_eq!(env.sim.requests().len(), 1, "no other account was asked");

    // A disabled owner fails at once, with a clear message.
    let path = format!("/admin/accounts/{owner}/disable");
    assert_eq!(env.admin(Method::POST, &path, "").await.status, 200);
    let res = respond(&env, turn).await;
    assert_eq!(res.status, 503, "{:?}", res.body);
    let msg = res.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(msg.contains("disabled"), "{msg}");
    assert_eq!(res.account(), owner);
    assert_eq!(env.sim.requests().len(), 1);
    // An unknown object is scheduled as usual (the upstream says what it thinks of it).
    let res = respond(
        &env,
        json!({"model": "gpt-4o", "previous_response_id": "resp_unknown", "input": "hi"}),
    )
    .await;
    assert_ne!(res.account(), owner);
}

#[tokio::test]
async fn prompt_cache_key_is_a_session() {
    // Balance without the window: two new conversations go to two accounts...
    let env = start(|c, _| c.settings.window = Duration::ZERO).await;
    let chat = |first: &str, key: Option<&str>| {
        let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": first}]});
        if let Some(key) = key {
            body["prompt_cache_key"] = json!(key);
        }
        body.to_string()
    };
    let path = "/v1/chat/completions";
    let a = env
        .send(
            Method::POST,
            path,
            &JSON,
            &chat("The first conversation here", None),
        )
        .await;
    let b = env
        .send(
            Method::POST,
            path,
            &JSON,
            &chat("A second, different conversation", None),
        )
        .await;
    assert_ne!(a.account(), b.account(), "the control: no shared session");
    // ...unless they share a prompt_cache_key.
    let c = env
        .send(
            Method::POST,
            path,
            &JSON,
            &chat("The third conversation here", Some("user-42")),
        )
        .await;
    let d = env
        .send(
            Method::POST,
            path,
            &JSON,
            &chat("A fourth, different conversation", Some("user-42")),
        )
        .await;
    assert_eq!(c.status, 200);
    assert_eq!(c.account(), d.account());
    assert_eq!(d.header("x-rota-decision"), "sticky");
    // The Responses API reads it too.
    let e = respond(
        &env,
        json!({"model": "gpt-4o", "input": "Yet another opening line", "prompt_cache_key": "user-42"}),
    )
    .await;
    assert_eq!(e.account(), c.account());
}
