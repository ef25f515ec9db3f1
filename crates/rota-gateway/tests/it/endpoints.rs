//! SPEC §7 routes: every endpoint the official SDKs and coding agents call reaches the
//! upstream on its own path with the account's credential where the real API reads it (the
//! sim checks credential headers strictly), errors come back in the route's dialect, the
//! endpoints that are not conversation turns never bench an account with a 4xx, and every
//! 429 says when to come back (SPEC §6).

use std::time::Duration;

use http::Method;
use rota_sim::{Behavior, RateLimit};

use crate::common::{Env, start};

const CHAT: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Which route is this one?"}]}"#;
const MESSAGES: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"Which route is this one?"}]}"#;
const GEMINI: &str =
    r#"{"contents":[{"role":"user","parts":[{"text":"Which route is this one?"}]}]}"#;

type Headers = Vec<(&'static str, &'static str)>;

/// (method, path, client headers, body, the path the upstream must see)
type Endpoint = (Method, &'static str, Headers, &'static str, &'static str);

fn endpoints() -> Vec<Endpoint> {
    let json = ("content-type", "application/json");
    let anthropic = ("anthropic-version", "2023-06-01");
    let goog = ("x-goog-api-key", "client");
    vec![
        (
            Method::POST,
            "/v1/chat/completions",
            vec![json],
            CHAT,
            "/v1/chat/completions",
        ),
        (
            Method::POST,
            "/v1/completions",
            vec![json],
            r#"{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test"}"#,
            "/v1/completions",
        ),
        (
            Method::POST,
            "/v1/embeddings",
            vec![json],
            r#"{"model":"text-embedding-3-small","input":["a","b"]}"#,
            "/v1/embeddings",
        ),
        (Method::GET, "/v1/models", vec![], "", "/v1/models"),
        (
            Method::GET,
            "/v1/models/gpt-4o",
            vec![],
            "",
            "/v1/models/gpt-4o",
        ),
        (
            Method::POST,
            "/v1/messages",
            vec![json, anthropic],
            MESSAGES,
            "/v1/messages",
        ),
        (
            Method::POST,
            "/v1/messages/count_tokens",
            vec![json, anthropic],
            MESSAGES,
            "/v1/messages/count_tokens",
        ),
        (Method::GET, "/v1/models", vec![anthropic], "", "/v1/models"),
        (
            Method::GET,
            "/v1/models/claude-sonnet-4-5",
            vec![anthropic],
            "",
            "/v1/models/claude-sonnet-4-5",
        ),
        (
            Method::POST,
            "/v1beta/models/gemini-2.5-pro:generateContent",
            vec![json],
            GEMINI,
            "/v1beta/models/gemini-2.5-pro:generateContent",
        ),
        (
            Method::POST,
            "/v1/models/gemini-2.5-pro:generateContent",
            vec![json, goog],
            GEMINI,
            "/v1/models/gemini-2.5-pro:generateContent",
        ),
        (
            Method::POST,
            "/v1/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            vec![json, goog],
            GEMINI,
            "/v1/models/gemini-2.5-pro:streamGenerateContent",
        ),
        (
            Method::POST,
            "/v1beta/models/gemini-2.5-pro:countTokens",
            vec![json],
            GEMINI,
            "/v1beta/models/gemini-2.5-pro:countTokens",
        ),
        (
            Method::POST,
            "/v1/models/text-embedding-004:embedContent",
            vec![json, goog],
            r#"{"content":{"parts":[{"text":"embed me"}]}}"#,
            "/v1/models/text-embedding-004:embedContent",
        ),
        (
            Method::POST,
            "/v1beta/models/text-embedding-004:batchEmbedContents",
            vec![json],
            r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}}]}"#,
            "/v1beta/models/text-embedding-004:batchEmbedContents",
        ),
        (Method::GET, "/v1beta/models", vec![], "", "/v1beta/models"),
        (
            Method::GET,
            "/v1beta/models/gemini-2.5-pro",
            vec![],
            "",
            "/v1beta/models/gemini-2.5-pro",
        ),
        (Method::GET, "/v1/models", vec![goog], "", "/v1/models"),
        (
            Method::GET,
            "/v1/models/gemini-2.5-pro",
            vec![goog],
            "",
            "/v1/models/gemini-2.5-pro",
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_reaches_its_upstream_path_with_the_right_credential() {
    let env = start(|_, _| {}).await;
    for (method, path, headers, body, upstream) in endpoints() {
        env.sim.clear_log();
        let res = env.send(method.clone(), path, &headers, body).await;
        assert_eq!(
            res.status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert!(
            !res.account().is_empty(),
            "{method} {path}: X-Account-Email"
        );
        let seen = env.sim.requests();
        assert_eq!(seen.len(), 1, "{method} {path}");
        assert_eq!(seen[0].path, upstream, "{method} {path}");
    }
}

#[tokio::test]
async fn count_tokens_and_the_conversation_share_one_account() {
    let env = start(|c, _| c.settings.window = Duration::ZERO).await;
    let headers = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    let turn = env
        .send(Method::POST, "/v1/messages", &headers, MESSAGES)
        .await;
    for _ in 0..3 {
        let count = env
            .send(
                Method::POST,
                "/v1/messages/count_tokens",
                &headers,
                MESSAGES,
            )
            .await;
        assert_eq!(count.status, 200);
        assert_eq!(
            count.account(),
            turn.account(),
            "sticky like its conversation"
        );
    }
}

#[tokio::test]
async fn a_4xx_to_a_request_that_is_not_a_turn_benches_nobody() {
    let env = start(|c, _| c.settings.window = Duration::ZERO).await;
    env.admin(Method::PUT, "/admin/fixed-account", r#"{"email":"a@x"}"#)
        .await;
    let anthropic = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    let limit = RateLimit::new().retry_info(Duration::from_secs(30));
    type Case<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], &'a str, Behavior);
    let cases: [Case<'_>; 4] = [
        (
            Method::POST,
            "/v1/messages/count_tokens",
            &anthropic,
            MESSAGES,
            Behavior::RateLimit(limit.clone()),
        ),
        (Method::GET, "/v1/models", &[], "", Behavior::Status(401)),
        (
            Method::POST,
            "/v1/embeddings",
            &[("content-type", "application/json")],
            r#"{"model":"text-embedding-3-small","input":"x"}"#,
            Behavior::Status(403),
        ),
        (
            Method::POST,
            "/v1beta/models/g:countTokens",
            &[],
            GEMINI,
            Behavior::RateLimit(limit),
        ),
    ];
    for (method, path, headers, body, behavior) in cases {
        let status = behavior.status();
        env.sim.script_next("ka", 1, behavior);
        env.sim.clear_log();
        let res = env.send(method.clone(), path, headers, body).await;
        assert_eq!(res.status, status, "{method} {path}: passed through");
        assert_eq!(
            res.header("x-rota-attempts"),
            "1",
            "{method} {path}: not rotated"
        );
        if status == 429 {
            assert_eq!(res.header("retry-after"), "30", "{method} {path}");
        }
        assert_eq!(env.sim.requests().len(), 1);
        let a = env.account_json("a@x").await;
        assert_eq!(
            a["cooldowns"],
            serde_json::json!([]),
            "{method} {path}: {a}"
        );
    }
    // A 429 without any delay to a request that is not a turn still says when to come back.
    env.sim
        .script_next("ka", 1, Behavior::RateLimit(RateLimit::new()));
    let res = env
        .send(
            Method::POST,
            "/v1/messages/count_tokens",
            &anthropic,
            MESSAGES,
        )
        .await;
    assert_eq!(res.status, 429);
    assert!(res.header("retry-after").parse::<u64>().unwrap_or(0) >= 1);
    assert!(res.headers.contains_key("retry-after-ms"));
    assert_eq!(
        env.account_json("a@x").await["cooldowns"],
        serde_json::json!([])
    );
    // The same 401 on a conversation turn does bench the account.
    env.sim.script_next("ka", 1, Behavior::Status(401));
    assert_eq!(env.chat("A real turn of a conversation").await.status, 200);
    assert_ne!(
        env.account_json("a@x").await["cooldowns"],
        serde_json::json!([])
    );
}

async fn limit_everyone(env: &Env) {
    let limit = Behavior::RateLimit(RateLimit::new().retry_info(Duration::from_secs(30)));
    for key in ["ka", "kb", "kc"] {
        env.sim.script_next(key, 1, limit.clone());
    }
}

#[tokio::test]
async fn every_429_says_when_to_come_back_in_its_dialect() {
    let env = start(|_, _| {}).await;
    limit_everyone(&env).await;
    // The last upstream 429 is passed through: its delay was only in the body.
    let res = env.chat("Everyone is busy right now").await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("x-rota-attempts"), "3");
    assert_eq!(res.header("retry-after"), "30");
    assert_eq!(res.header("retry-after-ms"), "30000");

    // rota's own 429, in each dialect.
    let res = env.chat("Everyone is still busy").await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("x-rota-attempts"), "0");
    assert!(res.header("retry-after-ms").parse::<u64>().unwrap() > 27_000);
    let res = env
        .send(
            Method::POST,
            "/v1/messages",
            &[("anthropic-version", "2023-06-01")],
            MESSAGES,
        )
        .await;
    assert_eq!(res.status, 429);
    assert_eq!(res.json()["error"]["type"], "rate_limit_error");
    assert!(res.headers.contains_key("retry-after-ms"));
    let res = env
        .send(
            Method::POST,
            "/v1/models/gemini-2.5-pro:generateContent",
            &[("x-goog-api-key", "c")],
            GEMINI,
        )
        .await;
    assert_eq!(res.status, 429);
    let body = res.json();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let detail = &body["error"]["details"][0];
    assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.RetryInfo");
    let delay = detail["retryDelay"].as_str().unwrap_or("");
    assert_eq!(delay, format!("{}s", res.header("retry-after")));
    assert!(!res.headers.contains_key("retry-after-ms"));
}

#[tokio::test]
async fn unknown_paths_answer_404_in_their_prefix_dialect() {
    let env = start(|_, _| {}).await;
    let res = env
        .send(Method::POST, "/v1/messages/batches", &[], "{}")
        .await;
    assert_eq!(
        (res.status.as_u16(), &res.json()["type"]),
        (404, &"error".into())
    );
    for path in ["/v1beta/cachedContents", "/v1/models/g:frobnicate"] {
        let res = env.send(Method::POST, path, &[], "{}").await;
        assert_eq!(res.status, 404, "{path}");
        assert_eq!(res.json()["error"]["status"], "NOT_FOUND", "{path}");
    }
    let res = env.send(Method::GET, "/v1/files", &[], "").await;
    assert_eq!(res.json()["error"]["type"], "not_found_error");
    assert!(env.sim.requests().is_empty());
}

#[tokio::test]
async fn a_stored_object_path_that_is_not_an_id_is_refused() {
    let env: Env = start(|_, _| {}).await;
    for path in [
        "/v1/responses/..",
        "/v1/responses/a%2fb",
        "/v1/conversations/%00",
    ] {
        let res = env.send(Method::GET, path, &[], "").await;
        assert_eq!(res.status, 400, "{path}");
    }
    assert!(env.sim.requests().is_empty());
}
