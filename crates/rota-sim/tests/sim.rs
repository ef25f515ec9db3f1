//! End-to-end tests of the simulated upstream over real sockets.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use rota_sim::{ANSWER_TEXT, Behavior, Grant, RateLimit, Sim, SimHandle, account_id};
use serde_json::Value;

mod support;

use support::{Reply, send};

/// POSTs with `key` in the header the route's API reads (the sim checks it by default).
async fn post(sim: &SimHandle, path: &str, key: &str, body: &str) -> Reply {
    let url = format!("{}{path}", sim.base_url());
    let bearer = format!("Bearer {key}");
    let header = if path.starts_with("/v1/messages") {
        ("x-api-key", key)
    } else if path.starts_with("/v1beta/") {
        ("x-goog-api-key", key)
    } else {
        ("authorization", bearer.as_str())
    };
    send(Method::POST, &url, &[header], body).await
}

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}"#;

#[tokio::test]
async fn ok_in_each_protocol_shape() {
    let sim = Sim::start().await.expect("start");

    let chat = post(&sim, "/v1/chat/completions", "k", CHAT).await;
    assert_eq!(chat.status, 200);
    assert_eq!(chat.header("content-type"), "application/json");
    assert_eq!(chat.header("x-sim-account"), account_id("k"));
    assert_eq!(
        chat.header("x-sim-key"),
        "<missing>",
        "the key is never echoed"
    );
    assert_eq!(chat.header("x-sim-model"), "gpt-4o");
    let v = chat.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(v["choices"][0]["message"]["content"], ANSWER_TEXT);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].is_u64());

    let resp = post(&sim, "/v1/responses", "k", r#"{"model":"o3","input":"hi"}"#).await;
    let v = resp.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["model"], "o3");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(v["output"][0]["content"][0]["text"], ANSWER_TEXT);

    let msg = post(
        &sim,
        "/v1/messages",
        "k",
        r#"{"model":"claude-x","max_tokens":5}"#,
    )
    .await;
    let v = msg.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert_eq!(v["content"][0]["text"], ANSWER_TEXT);
    assert_eq!(v["stop_reason"], "end_turn");

    let gem = post(
        &sim,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        "k",
        r#"{"contents":[]}"#,
    )
    .await;
    assert_eq!(gem.status, 200);
    assert_eq!(gem.header("x-sim-model"), "gemini-2.5-pro");
    let v = gem.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        ANSWER_TEXT
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.5-pro");

    let url = format!("{}/v1/models", sim.base_url());
    let models = send(Method::GET, &url, &[("authorization", "Bearer k")], "").await;
    assert_eq!(models.status, 200);
    assert_eq!(models.header("x-sim-account"), account_id("k"));
    assert_eq!(models.header("x-sim-model"), "none");
    assert_eq!(models.json()["object"], "list");

    let log = sim.requests();
    let paths: Vec<_> = log.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/v1/responses",
            "/v1/messages",
            "/v1beta/models/gemini-2.5-pro:generateContent",
            "/v1/models",
        ]
    );
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].model.as_deref(), Some("gpt-4o"));
    assert_eq!(log[0].body, Bytes::from(CHAT));
    assert_eq!(log[0].status, 200);
    assert!(log[0].headers.contains_key("authorization"));
    assert_eq!(log[3].model.as_deref(), Some("gemini-2.5-pro"));
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
}

/// Pulls the text deltas out of SSE events.
fn streamed_text(reply: &Reply) -> String {
    let mut text = String::new();
    for line in reply.text().lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        for piece in [
            &v["choices"][0]["delta"]["content"],
            &v["delta"]["text"],
            &v["candidates"][0]["content"]["parts"][0]["text"],
        ] {
            if let Some(s) = piece.as_str() {
                text.push_str(s);
            }
        }
        if v["type"] == "response.output_text.delta" {
            text.push_str(v["delta"].as_str().unwrap_or_default());
        }
    }
    text
}

#[tokio::test]
async fn streams_arrive_in_several_chunks() {
    let sim = Sim::start().await.expect("start");
    let cases = [
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","stream":true}"#,
            "data: [DONE]",
        ),
        (
            "/v1/responses",
            r#"{"model":"o3","stream":true}"#,
            "event: response.completed",
        ),
        (
            "/v1/messages",
            r#"{"model":"claude","stream":true}"#,
            "event: message_stop",
        ),
        (
            "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
            "{}",
            "\"finishReason\":\"STOP\"",
        ),
    ];
    for (path, body, last) in cases {
        let reply = post(&sim, path, "k", body).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), "text/event-stream", "{path}");
        assert!(
            reply.frames.len() >= 4,
            "{path}: {} frames",
            reply.frames.len()
        );
        assert!(reply.text().trim_end().ends_with(last) || reply.text().contains(last));
        assert_eq!(streamed_text(&reply), ANSWER_TEXT, "{path}");
        assert_ne!(reply.header("x-sim-model"), "none", "{path}");
    }
    // `"stream": false` is a whole JSON answer.
    let whole = post(&sim, "/v1/messages", "k", r#"{"model":"c","stream":false}"#).await;
    assert_eq!(whole.header("content-type"), "application/json");
}

#[tokio::test]
async fn script_next_then_default() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::Status(503));
    sim.script_next("k", 2, Behavior::Status(429));
    sim.script_next("k", 1, Behavior::Status(401));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(post(&sim, "/v1/chat/completions", "k", CHAT).await.status);
    }
    assert_eq!(statuses, [429, 429, 401, 503, 503]);
    // Other keys are unaffected.
    assert_eq!(
        post(&sim, "/v1/chat/completions", "j", CHAT).await.status,
        200
    );
    // `script` clears the queue.
    sim.script_next("k", 3, Behavior::Status(500));
    sim.script("k", Behavior::Ok);
    assert_eq!(
        post(&sim, "/v1/chat/completions", "k", CHAT).await.status,
        200
    );

    let recorded: Vec<u16> = sim.requests_for("k").iter().map(|r| r.status).collect();
    assert_eq!(recorded, [429, 429, 401, 503, 503, 200]);
    sim.clear_log();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn status_errors_use_the_route_dialect() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::Status(529));
    let anthropic = post(&sim, "/v1/messages", "k", "{}").await;
    assert_eq!(anthropic.status, 529);
    let v = anthropic.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(v["error"]["message"], "simulated 529");

    sim.script("k", Behavior::Status(503));
    let openai = post(&sim, "/v1/chat/completions", "k", CHAT).await;
    let v = openai.json();
    assert_eq!(v["error"]["code"], 503);
    assert_eq!(v["error"]["message"], "simulated 503");
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
    assert_eq!(openai.header("x-sim-account"), account_id("k"));
}

#[tokio::test]
async fn rate_limit_renders_retry_info_quota_reset_and_retry_after() {
    let sim = Sim::start().await.expect("start");
    sim.script(
        "k",
        Behavior::RateLimit(
            RateLimit::new()
                .reason("QUOTA_EXHAUSTED")
                .retry_info(Duration::from_millis(1500))
                .quota_reset(Duration::from_millis(4_560_667))
                .retry_after(2),
        ),
    );
    let reply = post(&sim, "/v1beta/models/g:generateContent", "k", "{}").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), "2");
    let v = reply.json();
    let error = &v["error"];
    assert_eq!(error["code"], 429);
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        error["message"],
        "Resource has been exhausted (e.g. check quota)."
    );
    let details = error["details"].as_array().expect("details");
    let info = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        .expect("ErrorInfo");
    assert_eq!(info["reason"], "QUOTA_EXHAUSTED");
    assert_eq!(info["domain"], "cloudcode-pa.googleapis.com");
    assert_eq!(info["metadata"]["quotaResetDelay"], "1h16m0.667s");
    let retry = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .expect("RetryInfo");
    assert_eq!(retry["retryDelay"], "1.5s");

    // Nothing configured: no details, no Retry-After, custom message.
    sim.script(
        "k",
        Behavior::RateLimit(RateLimit::new().message("slow down")),
    );
    let bare = post(&sim, "/v1/messages", "k", "{}").await;
    assert_eq!(bare.status, 429);
    assert_eq!(bare.header("retry-after"), "<missing>");
    assert_eq!(bare.json()["error"]["message"], "slow down");
    assert!(bare.json()["error"].get("details").is_none());
}

#[tokio::test]
async fn ok_with_quota_sets_rate_limit_headers() {
    let sim = Sim::start().await.expect("start");
    sim.script(
        "k",
        Behavior::OkWithQuota {
            remaining: 7,
            limit: 100,
        },
    );
    let reply = post(&sim, "/v1/messages", "k", "{}").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-ratelimit-remaining-requests"), "7");
    assert_eq!(reply.header("x-ratelimit-limit-requests"), "100");
    assert_eq!(reply.header("anthropic-ratelimit-requests-remaining"), "7");
    assert_eq!(reply.json()["type"], "message");
}

#[tokio::test]
async fn slow_waits_then_answers_ok() {
    let sim = Sim::start().await.expect("start");
    sim.script_next("k", 1, Behavior::Slow(Duration::from_millis(50)));
    let started = std::time::Instant::now();
    let reply = post(&sim, "/v1/chat/completions", "k", CHAT).await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(reply.status, 200);
    assert_eq!(sim.requests()[0].status, 200);
}

/// Request headers, query suffix, expected key.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);

#[tokio::test]
async fn key_comes_from_each_credential_place() {
    let sim = Sim::start().await.expect("start");
    // Lenient: the first credential found anywhere counts.
    sim.strict_credentials(false);
    let base = sim.base_url();
    let path = format!("{base}/v1beta/models/g:generateContent");
    let cases: [Case<'_>; 6] = [
        (
            &[("authorization", "Bearer bearer-key")],
            "",
            Some("bearer-key"),
        ),
        (&[("x-api-key", "anthropic-key")], "", Some("anthropic-key")),
        (&[("x-goog-api-key", "goog-key")], "", Some("goog-key")),
        (&[], "?alt=sse&key=query-key", Some("query-key")),
        (
            &[("authorization", "Bearer first"), ("x-api-key", "second")],
            "?key=third",
            Some("first"),
        ),
        (&[], "", None),
    ];
    for (headers, query, expected) in cases {
        let reply = send(Method::POST, &format!("{path}{query}"), headers, "{}").await;
        let account = expected.map_or_else(|| String::from("none"), account_id);
        assert_eq!(reply.header("x-sim-account"), account);
    }
    let keys: Vec<Option<String>> = sim.requests().into_iter().map(|r| r.key).collect();
    let expected: Vec<Option<String>> =
        cases.iter().map(|(_, _, k)| k.map(str::to_owned)).collect();
    assert_eq!(keys, expected);
    assert_eq!(
        sim.requests()[3].query.as_deref(),
        Some("alt=sse&key=query-key")
    );
    assert_eq!(sim.requests_for("goog-key").len(), 1);
}

#[tokio::test]
async fn bad_json_is_400_and_keeps_the_script() {
    let sim = Sim::start().await.expect("start");
    sim.script_next("k", 1, Behavior::Status(503));
    for (path, body) in [
        ("/v1/chat/completions", "{not json"),
        ("/v1/messages", ""),
        ("/v1/responses", "[1,2]"),
        ("/v1beta/models/g:generateContent", "\u{0}"),
        ("/v1/embeddings", "[]"),
    ] {
        let reply = post(&sim, path, "k", body).await;
        assert_eq!(reply.status, 400, "{path}");
        assert!(reply.json()["error"]["message"].is_string(), "{path}");
    }
    assert!(sim.requests().iter().all(|r| r.status == 400));
    // The queued 503 was not consumed by the bad requests.
    assert_eq!(post(&sim, "/v1/messages", "k", "{}").await.status, 503);
}

#[tokio::test]
async fn token_endpoint_grants() {
    let sim = Sim::start().await.expect("start");
    let url = format!("{}/oauth/token", sim.base_url());
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let refresh = |token: &str| format!("grant_type=refresh_token&refresh_token={token}");

    for n in 1..=2 {
        let reply = send(Method::POST, &url, &form, &refresh("rt%2Dbob")).await;
        assert_eq!(reply.status, 200);
        let v = reply.json();
        assert_eq!(v["access_token"], format!("at-rt-bob-{n}"));
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
    }

    sim.oauth_grant("rt-bob", Grant::InvalidGrant);
    let reply = send(Method::POST, &url, &form, &refresh("rt-bob")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_grant");

    sim.oauth_grant(
        "rt-amy",
        Grant::Token {
            access_token: "fixed".into(),
            expires_in: 60,
        },
    );
    let reply = send(Method::POST, &url, &form, &refresh("rt-amy")).await;
    assert_eq!(reply.json()["access_token"], "fixed");
    assert_eq!(reply.json()["expires_in"], 60);

    sim.oauth_grant("rt-cid", Grant::Status(503));
    assert_eq!(
        send(Method::POST, &url, &form, &refresh("rt-cid"))
            .await
            .status,
        503
    );

    let reply = send(Method::POST, &url, &form, "grant_type=password").await;
    assert_eq!(reply.status, 400);

    let calls = sim.token_requests();
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[0].refresh_token.as_deref(), Some("rt-bob"));
    assert_eq!(calls[0].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(calls[5].refresh_token, None);
    assert_eq!(calls[5].grant_type.as_deref(), Some("password"));
    // The token endpoint is not an API route.
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let sim = Sim::start().await.expect("start");
    let reply = post(&sim, "/v2/nothing", "k", "{}").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], 404);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_listener() {
    let sim = Sim::start().await.expect("start");
    let addr = sim.addr();
    assert_eq!(sim.base_url(), format!("http://{addr}"));
    let clone = sim.clone();
    clone.shutdown();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // The log stays readable after shutdown.
    assert!(sim.requests().is_empty());

    let other = Sim::start().await.expect("start");
    let addr = other.addr();
    drop(other);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
