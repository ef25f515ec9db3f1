//! Fault injection (issue 9, item 6): a misbehaving upstream (rota-sim's connection faults),
//! request-caused failures and hostile clients, against the real gateway on real sockets with
//! small limits. Each test bounds how long the client waits and checks the accounts' state
//! afterwards (SPEC §4, §5, §7).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rota::core::{AccountSpec, Tier};
use rota_sim::{Behavior, Grant};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::common::*;

/// Slack on top of a configured limit for the answer to arrive (scheduling, two workers,
/// a loaded machine).
const SLACK: Duration = Duration::from_secs(2);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The `reason`s of an account's cooldowns, as `/admin/accounts` shows them.
async fn reasons(env: &Env, email: &str) -> Vec<String> {
    let account = env.account_json(email).await;
    account["cooldowns"]
        .as_array()
        .unwrap_or_else(|| panic!("{email}: no cooldowns list in {account}"))
        .iter()
        .map(|c| c["reason"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// `env.chat(first)`, with how long it took.
async fn timed_chat(env: &Env, first: &str) -> (Answer, Duration) {
    let at = Instant::now();
    let res = env.chat(first).await;
    (res, at.elapsed())
}

/// How a request ended when its body may fail.
struct Outcome {
    status: StatusCode,
    account: String,
    /// The body, or the error that cut it.
    body: Result<Bytes, String>,
    elapsed: Duration,
}

/// Sends a chat request and reads the whole answer, tolerating a failed body; panics if the
/// answer (head and body) takes longer than `bound`.
async fn chat_outcome(env: &Env, what: &str, body: &str, bound: Duration) -> Outcome {
    let at = Instant::now();
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/v1/chat/completions", env.gw.base_url()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let outcome = timeout(bound, async {
        let res = env
            .client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer head: {e:?}"));
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| format!("{e:?}"));
        (parts, body)
    })
    .await;
    let (parts, body) =
        outcome.unwrap_or_else(|_| panic!("{what}: no complete answer within {bound:?}"));
    Outcome {
        status: parts.status,
        account: parts
            .headers
            .get("x-account-email")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body,
        elapsed: at.elapsed(),
    }
}

#[tokio::test]
async fn a_reset_before_headers_rotates_and_marks_unreachable() {
    let env = start(|_, _| {}).await;
    env.sim.script_next("ka", 1, Behavior::Reset);
    let (res, took) = timed_chat(&env, "The first account resets this one").await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.account(), "b@x");
    assert_eq!(res.header("x-rota-attempts"), "2");
    assert!(took < SLACK, "{took:?}");
    assert_eq!(
        env.sim.requests_for("ka").len(),
        1,
        "the reset was an attempt"
    );
    assert_eq!(reasons(&env, "a@x").await, ["unreachable"]);
    assert!(reasons(&env, "b@x").await.is_empty());
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_504_within_the_timeout() {
    let timeout = ms(300);
    let env = start(|c, _| c.timeout = timeout).await;
    env.sim.script("ka", Behavior::Hang);
    let (res, took) = timed_chat(&env, "Account A never answers this").await;
    assert_eq!(res.status, 504, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.account(), "a@x");
    assert_eq!(
        res.header("x-rota-attempts"),
        "1",
        "a timeout is not retried"
    );
    assert!(took >= timeout && took < timeout + SLACK, "{took:?}");
    assert!(env.sim.requests_for("kb").is_empty());
    assert!(env.sim.requests_for("kc").is_empty());
    assert_eq!(reasons(&env, "a@x").await, ["unreachable"]);
    // A new conversation does not go back to the account whose last attempt failed.
    let (res, took) = timed_chat(&env, "A different conversation starts here").await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.account(), "b@x");
    assert!(took < SLACK, "{took:?}");
}

/// A 429 or 500 head, then an error body that never completes: the read for classification
/// is cut after `error_body_timeout` and the retry goes to another account.
#[tokio::test]
async fn a_stalled_error_body_is_cut_after_the_error_body_timeout() {
    let limit = ms(300);
    for status in [429_u16, 500] {
        let env = start(|c, _| c.limits.error_body_timeout = limit).await;
        env.sim
            .script_next("ka", 1, Behavior::StallAfterHeaders { status, sse: false });
        let (res, took) = timed_chat(&env, "The error body of this one stalls").await;
        assert_eq!(
            res.status,
            200,
            "{status}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(res.account(), "b@x", "{status}");
        assert_eq!(res.header("x-rota-attempts"), "2", "{status}");
        assert!(took >= limit && took < limit + SLACK, "{status}: {took:?}");
        let a = reasons(&env, "a@x").await;
        if status == 429 {
            // Classified by its status alone: a 429 without a reason or a delay.
            assert_eq!(a, ["unknown"], "{status}");
        } else {
            assert!(a.is_empty(), "{status}: one 500 is a strike only: {a:?}");
        }
    }
}

#[tokio::test]
async fn a_stream_that_stalls_mid_body_ends_after_the_stream_idle_timeout() {
    let idle = ms(500);
    let env = start(|c, _| c.limits.stream_idle_timeout = idle).await;
    env.sim.script_next(
        "ka",
        1,
        Behavior::StallAfterHeaders {
            status: 200,
            sse: true,
        },
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/v1/chat/completions", env.gw.base_url()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat_body(
            "gpt-4o",
            "Stream this answer and then stall",
            true,
        ))))
        .unwrap();
    let at = Instant::now();
    let res = timeout(SLACK, env.client.request(req))
        .await
        .expect("a head in time")
        .expect("a head");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-account-email"], "a@x");
    let mut body = res.into_body();
    let mut got = Vec::new();
    let ended = timeout(idle + SLACK, async {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        got.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return format!("error: {e:?}"),
                None => return String::from("end"),
            }
        }
    })
    .await;
    let took = at.elapsed();
    let ended = ended.unwrap_or_else(|_| {
        panic!(
            "the stream is still open after {took:?}; got {:?}",
            String::from_utf8_lossy(&got)
        )
    });
    assert!(
        got.starts_with(b"data: {"),
        "the first event arrived ({ended}): {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(took >= idle && took < idle + SLACK, "{took:?} ({ended})");
    // It answered 200: no cooldown.
    assert!(reasons(&env, "a@x").await.is_empty());
    assert_eq!(
        env.chat("Another conversation after the stall")
            .await
            .status,
        200
    );
}

/// Bytes that are not HTTP, or a malformed chunked body, from account A: a bounded answer,
/// either a 502 or a retried success (a complete 200 from another account), and the gateway
/// keeps serving.
async fn bounded_answer_to(behavior: Behavior) {
    let env = start(|_, _| {}).await;
    env.sim.script_next("ka", 1, behavior.clone());
    let body = chat_body("gpt-4o", "The upstream speaks nonsense to this", false);
    let out = chat_outcome(&env, &format!("{behavior:?}"), &body, SLACK).await;
    assert!(out.elapsed < SLACK, "{behavior:?}: {:?}", out.elapsed);
    match out.status.as_u16() {
        502 => {}
        200 => {
            let body = out
                .body
                .as_ref()
                .unwrap_or_else(|e| panic!("{behavior:?}: a 200 whose body failed: {e}"));
            let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
                panic!(
                    "{behavior:?}: a 200 whose body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(body)
                )
            });
            assert_eq!(v["object"], "chat.completion", "{behavior:?}");
            assert_ne!(out.account, "a@x", "{behavior:?}: a retried success");
        }
        other => panic!("{behavior:?}: {other} {:?}", out.body),
    }
    let health = env.send(Method::GET, "/healthz", &[], "").await;
    assert_eq!(health.status, 200, "{behavior:?}");
    let next = env.chat("A sane conversation afterwards").await;
    assert_eq!(next.status, 200, "{behavior:?}");
}

#[tokio::test]
async fn garbage_gets_a_bounded_answer() {
    bounded_answer_to(Behavior::Garbage).await;
}

#[tokio::test]
async fn bad_chunking_gets_a_bounded_answer() {
    bounded_answer_to(Behavior::BadChunking).await;
}

/// SPEC §4 poisoned request: the request makes every account answer 500 (a marker in its
/// body). After two different accounts, rotation stops, the last 500 is returned and nothing
/// counts against the accounts.
#[tokio::test]
async fn a_poisoned_request_benches_nobody() {
    let env = start(|_, _| {}).await;
    env.sim.script_body("POISON-PILL", Behavior::Status(500));
    let (res, took) = timed_chat(&env, "This POISON-PILL breaks every upstream").await;
    assert_eq!(res.status, 500, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(
        res.header("x-rota-attempts"),
        "2",
        "rotation stops after two 500s"
    );
    assert!(took < SLACK, "{took:?}");
    let upstream = env.sim.requests();
    assert_eq!(upstream.len(), 2);
    assert_ne!(upstream[0].key, upstream[1].key, "two different accounts");
    for email in ["a@x", "b@x", "c@x"] {
        let a = env.account_json(email).await;
        assert_eq!(a["cooldowns"], serde_json::json!([]), "{a}");
        assert_eq!(a["failures"], 0, "{a}");
        assert_eq!(a["consecutive_failures"], 0, "{a}");
    }
    // The same request again: still nobody benched.
    let again = env.chat("This POISON-PILL breaks every upstream").await;
    assert_eq!(again.status, 500);
    for email in ["a@x", "b@x", "c@x"] {
        assert!(reasons(&env, email).await.is_empty(), "{email}");
    }
    for first in ["An innocent question", "Another innocent question"] {
        let res = env.chat(first).await;
        assert_eq!(res.status, 200, "{first}");
        assert_eq!(res.header("x-rota-attempts"), "1", "{first}");
    }
}

/// SPEC §5: a 500 without a delay is a strike; three strikes from different requests within
/// 60 s put the account in an 8 s `server_error` cooldown.
#[tokio::test]
async fn three_server_errors_from_different_requests_cool_an_account() {
    let env = start(|_, _| {}).await;
    let put = env
        .admin(Method::PUT, "/admin/fixed-account", r#"{"email":"a@x"}"#)
        .await;
    assert_eq!(put.status, 200);
    for (n, first) in ["Strike one on A", "Strike two on A", "Strike three on A"]
        .into_iter()
        .enumerate()
    {
        env.sim.script_next("ka", 1, Behavior::Status(500));
        let res = env.chat(first).await;
        assert_eq!(res.status, 200, "{first}");
        assert_ne!(res.account(), "a@x", "{first}: retried elsewhere");
        assert_eq!(res.header("x-rota-attempts"), "2", "{first}");
        let a = env.account_json("a@x").await;
        let cooldowns = a["cooldowns"].as_array().unwrap().clone();
        if n < 2 {
            assert!(cooldowns.is_empty(), "{first}: a strike only: {a}");
        } else {
            assert_eq!(cooldowns.len(), 1, "{a}");
            assert_eq!(cooldowns[0]["reason"], "server_error", "{a}");
            let left = cooldowns[0]["remaining_ms"].as_u64().unwrap();
            assert!((6_000..=8_000).contains(&left), "{left}");
        }
    }
    // The fixed account is cooling: requests go elsewhere without trying it.
    env.sim.clear_log();
    let res = env.chat("After the third strike").await;
    assert_eq!(res.status, 200);
    assert!(env.sim.requests_for("ka").is_empty());
}

/// SPEC §5 panic threshold: `server_error` / `unreachable` cooldowns never make the pool
/// unusable; when every account has one, requests are still sent.
#[tokio::test]
async fn when_every_account_is_unreachable_requests_are_still_sent() {
    let env = start(|_, _| {}).await;
    for key in ["ka", "kb", "kc"] {
        env.sim.script_next(key, 1, Behavior::Reset);
    }
    let (res, took) = timed_chat(&env, "Every account resets this one").await;
    assert_eq!(res.status, 502, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("x-rota-attempts"), "3");
    assert!(took < SLACK, "{took:?}");
    for email in ["a@x", "b@x", "c@x"] {
        assert_eq!(reasons(&env, email).await, ["unreachable"], "{email}");
    }
    env.sim.clear_log();
    let (res, took) = timed_chat(&env, "The pool is all soft-cooled now").await;
    assert_eq!(
        res.status,
        200,
        "not all limited: {}",
        String::from_utf8_lossy(&res.body)
    );
    assert!(took < SLACK, "{took:?}");
    assert_eq!(env.sim.requests().len(), 1, "the request was sent upstream");
}

fn oauth_then_key(sim: &rota_sim::SimHandle) -> Vec<AccountSpec> {
    vec![
        oauth_account("o@x", Tier::Ultra, "rt-o", sim),
        AccountSpec::api_key("b@x", Tier::Pro, "kb"),
    ]
}

#[tokio::test]
async fn a_token_endpoint_that_stalls_is_cut_after_the_token_timeout() {
    let limit = ms(300);
    let env = start(|c, sim| {
        c.accounts = oauth_then_key(sim);
        c.limits.token_timeout = limit;
    })
    .await;
    env.sim.oauth_grant("rt-o", Grant::StallAfterHeaders);
    let (res, took) = timed_chat(&env, "The token endpoint stalls for this one").await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.account(), "b@x", "rotated past the OAuth account");
    assert!(took < limit + SLACK, "{took:?}");
    assert!(
        !env.sim.token_requests().is_empty(),
        "the token endpoint was asked"
    );
    assert!(
        env.sim
            .requests()
            .iter()
            .all(|r| r.key.as_deref() == Some("kb")),
        "no request went out without a token"
    );
}

#[tokio::test]
async fn absurd_token_lifetimes_do_not_panic() {
    let huge = format!("\"{}\"", "9".repeat(5_000));
    for raw in [
        "1e19",
        "18446744073709551615",
        "-1",
        "1e400",
        "3.5",
        "null",
        huge.as_str(),
    ] {
        let env = start(|c, sim| c.accounts = oauth_then_key(sim)).await;
        env.sim.oauth_grant(
            "rt-o",
            Grant::TokenRaw {
                access_token: String::from("at-absurd"),
                expires_in: raw.to_owned(),
            },
        );
        let short = &raw[..raw.len().min(24)];
        for first in [
            "Absurd token lifetime, first",
            "Absurd token lifetime, second",
        ] {
            let (res, took) = timed_chat(&env, first).await;
            assert_eq!(
                res.status,
                200,
                "{short}: {}",
                String::from_utf8_lossy(&res.body)
            );
            assert!(took < SLACK, "{short}: {took:?}");
        }
        assert_eq!(
            env.send(Method::GET, "/healthz", &[], "").await.status,
            200,
            "{short}"
        );
    }
}

/// SPEC §5 attribution: a client naming the credential headers in `Connection` (and sending
/// its own) cannot strip or replace the account's credential, so no account is benched.
#[tokio::test]
async fn a_connection_header_cannot_strip_the_account_credential() {
    let env = start(|_, _| {}).await;
    let json = ("content-type", "application/json");
    // (path, body, the client's headers, the header the account's key must arrive in)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case<'_>; 3] = [
        (
            "/v1/chat/completions",
            chat_body("gpt-4o", "Whose key arrives upstream?", false),
            vec![
                ("connection", "authorization"),
                ("authorization", "Bearer evil"),
                json,
            ],
            "authorization",
        ),
        (
            "/v1/messages",
            String::from(
                r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"Whose key arrives upstream?"}]}"#,
            ),
            vec![("connection", "x-api-key"), ("x-api-key", "evil"), json],
            "x-api-key",
        ),
        (
            "/v1beta/models/gemini-2.5-pro:generateContent",
            String::from(
                r#"{"contents":[{"role":"user","parts":[{"text":"Whose key arrives upstream?"}]}]}"#,
            ),
            vec![
                ("connection", "x-goog-api-key"),
                ("x-goog-api-key", "evil"),
                json,
            ],
            "x-goog-api-key",
        ),
    ];
    for (path, body, headers, header) in cases {
        env.sim.clear_log();
        let res = env.send(Method::POST, path, &headers, &body).await;
        assert_eq!(
            res.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let got = env.sim.requests();
        assert_eq!(got.len(), 1, "{path}");
        let key = got[0].key.clone().unwrap_or_default();
        assert!(
            ["ka", "kb", "kc"].contains(&key.as_str()),
            "{path}: {key:?}"
        );
        let want = if header == "authorization" {
            format!("Bearer {key}")
        } else {
            key.clone()
        };
        assert_eq!(
            got[0].headers.get(header).and_then(|v| v.to_str().ok()),
            Some(want.as_str()),
            "{path}: the account's credential in {header}"
        );
        for (name, value) in &got[0].headers {
            assert!(
                !value.to_str().unwrap_or("").contains("evil"),
                "{path}: the client's {name} reached the upstream"
            );
        }
    }
    for email in ["a@x", "b@x", "c@x"] {
        assert!(reasons(&env, email).await.is_empty(), "{email}");
    }
}

/// SPEC §7 limits: 300 connections that trickle a request head one byte at a time (and 100
/// that send nothing) do not stop `/healthz` from answering within a second, and the gateway
/// closes them: the tricklers after `header_read_timeout`, the silent ones after
/// `idle_timeout` at the latest.
#[tokio::test]
async fn slow_clients_are_cut_and_do_not_starve_others() {
    let header_read = ms(500);
    let idle = ms(1000);
    let env = start(|c, _| {
        c.limits.header_read_timeout = header_read;
        c.limits.idle_timeout = idle;
    })
    .await;
    let addr = env.gw.addr();
    let mut tricklers = Vec::new();
    for i in 0..300 {
        tricklers.push(tokio::spawn(async move {
            let at = Instant::now();
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let (mut rd, mut wr) = tcp.into_split();
            let head = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow-{i}: ");
            let trickle = async move {
                for byte in head.bytes().chain(std::iter::repeat(b'a')) {
                    if wr.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(ms(50)).await;
                }
                std::future::pending::<()>().await;
            };
            let mut sink = [0_u8; 1024];
            let closed = async {
                loop {
                    match rd.read(&mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                () = trickle => {}
                () = closed => {}
            }
            at.elapsed()
        }));
    }
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(tokio::spawn(async move {
            let at = Instant::now();
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            let mut sink = [0_u8; 64];
            loop {
                match tcp.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            at.elapsed()
        }));
    }
    // Meanwhile /healthz answers, each time within a second.
    let until = Instant::now() + header_read + ms(500);
    while Instant::now() < until {
        let at = Instant::now();
        let health = timeout(
            Duration::from_secs(1),
            env.send(Method::GET, "/healthz", &[], ""),
        )
        .await
        .expect("/healthz within a second");
        assert_eq!(health.status, 200);
        assert!(at.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(ms(100)).await;
    }
    // Generous bounds: 400 client tasks share the test's runtime with the gateway's acceptor,
    // and CI runs the suite on two busy cores. Without the limits these never close at all.
    let slack = SLACK * 3;
    for (name, tasks, bound) in [
        ("trickling", tricklers, header_read + slack),
        ("silent", silent, idle + slack),
    ] {
        for task in tasks {
            let took = timeout(bound + slack, task)
                .await
                .unwrap_or_else(|_| panic!("a {name} connection is still open"))
                .unwrap();
            assert!(took < bound, "a {name} connection closed after {took:?}");
        }
    }
    assert_eq!(
        env.chat("Still serving after the slow clients")
            .await
            .status,
        200
    );
}
