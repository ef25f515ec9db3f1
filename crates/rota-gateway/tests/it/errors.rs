//! Client auth, body limit, malformed JSON, all limited, no accounts, transport errors.

use std::time::Duration;

use http::Method;
use rota::core::Secret;
use rota_sim::{Behavior, RateLimit};

use crate::common::*;

#[tokio::test]
async fn client_auth_in_each_of_the_four_places() {
    let env = start(|c, _| c.api_keys = vec![Secret::new("sk-1"), Secret::new("sk-2")]).await;
    let body = chat_body("gpt-4o", "Authenticate me please", false);
    let chat = "/v1/chat/completions";
    let missing = env.send(Method::POST, chat, &[], &body).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["type"], "authentication_error");
    let wrong: [(&str, &[(&str, &str)]); 4] = [
        (chat, &[("authorization", "Bearer nope")]),
        (chat, &[("x-api-key", "nope")]),
        (chat, &[("x-goog-api-key", "nope")]),
        ("/v1/chat/completions?key=nope", &[]),
    ];
    for (path, headers) in wrong {
        assert_eq!(
            env.send(Method::POST, path, headers, &body).await.status,
            401,
            "{headers:?}"
        );
    }
    let right: [(&str, &[(&str, &str)]); 4] = [
        (chat, &[("authorization", "Bearer sk-2")]),
        (chat, &[("x-api-key", "sk-1")]),
        (chat, &[("x-goog-api-key", "sk-2")]),
        ("/v1/chat/completions?key=sk-1", &[]),
    ];
    for (path, headers) in right {
        assert_eq!(
            env.send(Method::POST, path, headers, &body).await.status,
            200,
            "{headers:?}"
        );
    }
    let anthropic = env
        .send(
            Method::POST,
            "/v1/messages",
            &[("x-api-key", "nope")],
            &body,
        )
        .await;
    assert_eq!(anthropic.status, 401);
    assert_eq!(anthropic.json()["type"], "error");
    assert_eq!(anthropic.json()["error"]["type"], "authentication_error");
    let gemini = env
        .send(Method::POST, "/v1beta/models/g:generateContent", &[], "{}")
        .await;
    assert_eq!(gemini.json()["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(gemini.json()["error"]["code"], 401);
    assert!(
        env.sim.requests().iter().all(|r| r.status == 200),
        "rejected requests never go upstream"
    );
}

#[tokio::test]
async fn too_large_and_malformed_bodies() {
    let env = start(|c, _| c.max_body_bytes = 200).await;
    let big = chat_body("gpt-4o", &"x".repeat(300), false);
    let res = env
        .send(Method::POST, "/v1/chat/completions", &[], &big)
        .await;
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["error"]["code"], "request_too_large");
    let res = env
        .send(
            Method::POST,
            "/v1/messages",
            &[],
            r#"{"model": "m", "messages": [}"#,
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["type"], "error");
    let msg = res.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("malformed JSON body"), "{msg}");
    let res = env
        .send(Method::POST, "/v1/chat/completions", &[], "[1,2]")
        .await;
    assert_eq!(res.status, 400);
    let res = env
        .send(Method::POST, "/v1/chat/completions", &[], "")
        .await;
    assert_eq!(res.status, 400);
    assert!(env.sim.requests().is_empty());
}

#[tokio::test]
async fn all_accounts_limited_answers_429_with_retry_after() {
    let env = start(|_, _| {}).await;
    let limit = Behavior::RateLimit(RateLimit::new().retry_info(Duration::from_secs(30)));
    for key in ["ka", "kb", "kc"] {
        env.sim.script_next(key, 1, limit.clone());
    }
    // Three attempts, three 429s: the last upstream answer comes back.
    let res = env.chat("Everyone is busy right now").await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("x-rota-attempts"), "3");
    let res = env.chat("Everyone is busy right now").await;
    assert_eq!(res.status, 429);
    assert_eq!(res.json()["error"]["type"], "rate_limit_error");
    let secs: u64 = res.header("retry-after").parse().unwrap();
    assert!((28..=30).contains(&secs), "{secs}");
    assert_eq!(env.sim.requests().len(), 3);
}

#[tokio::test]
async fn no_usable_account_is_503() {
    let env = start(|_, _| {}).await;
    for e in ["a@x", "b@x", "c@x"] {
        assert_eq!(
            env.admin(Method::POST, &format!("/admin/accounts/{e}/disable"), "")
                .await
                .status,
            200
        );
    }
    let res = env.chat("Nobody can serve this one").await;
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["error"]["code"], "no_available_accounts");
    let res = env
        .send(
            Method::POST,
            "/v1/messages",
            &[],
            r#"{"model":"m","messages":[]}"#,
        )
        .await;
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["error"]["type"], "api_error");
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_slow_upstream_504() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = start(|c, _| c.base_url = dead).await;
    let res = env.chat("Is anybody out there at all?").await;
    assert_eq!(res.status, 502);
    assert_eq!(res.json()["error"]["code"], "upstream_error");

    let env = start(|c, _| c.timeout = Duration::from_millis(100)).await;
    env.sim
        .script("ka", Behavior::Slow(Duration::from_millis(600)));
    let res = env.chat("Take your time answering this").await;
    assert_eq!(res.status, 504);
    assert_eq!(
        res.account(),
        "a@x",
        "a timeout is returned as is, not retried"
    );
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_404_in_the_paths_dialect() {
    let env = start(|_, _| {}).await;
    let key = [("x-api-key", "client-key")];
    let cases = [
        (Method::GET, "/v1/messages", 405),
        (Method::POST, "/v1/models", 405),
        (Method::GET, "/v1/chat/completions", 405),
        (Method::GET, "/v1beta/models/g:generateContent", 405),
        (Method::POST, "/v1/messages/", 404),
        (Method::POST, "/v1beta/models/", 404),
        (Method::POST, "/v2/anything", 404),
    ];
    for (method, path, status) in cases {
        let res = env.send(method.clone(), path, &key, "{}").await;
        assert_eq!(res.status, status, "{method} {path}");
        let body = res.json();
        if path.starts_with("/v1beta/") {
            assert_eq!(body["error"]["code"], status, "{method} {path}: {body}");
        } else if path == "/v1/messages" {
            assert_eq!(body["type"], "error", "{method} {path}: {body}");
        } else {
            assert!(
                body["error"]["message"].is_string(),
                "{method} {path}: {body}"
            );
        }
    }
    assert!(
        env.sim.requests().is_empty(),
        "nothing reached the upstream"
    );
    // The API routes themselves still answer, HEAD on /v1/models included.
    assert_eq!(env.chat("Hello there, first message").await.status, 200);
    let head = env.send(Method::HEAD, "/v1/models", &key, "").await;
    assert_eq!(head.status, 200);
}
