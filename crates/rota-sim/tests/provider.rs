//! The provider model over real sockets: a prompt cache per account reported in each API's
//! real usage fields (plain and streamed), and per-account quotas answered in each API's 429.

mod support;

use std::time::Duration;

use http::Method;
use rota_sim::{Behavior, CacheConfig, Quota, Sim, SimHandle, TokenCounts};
use serde_json::{Value, json};
use support::{Api, Reply, call};

/// Every shape that reports usage, plain and streamed.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Chat,
    ChatStream,
    Completions,
    Responses,
    ResponsesStream,
    Messages,
    MessagesStream,
    Generate,
    StreamSse,
    StreamArray,
}

const SHAPES: [Shape; 10] = [
    Shape::Chat,
    Shape::ChatStream,
    Shape::Completions,
    Shape::Responses,
    Shape::ResponsesStream,
    Shape::Messages,
    Shape::MessagesStream,
    Shape::Generate,
    Shape::StreamSse,
    Shape::StreamArray,
];

fn system() -> String {
    "You are a careful assistant for the rota test suite. ".repeat(8)
}

/// The user and assistant texts of a conversation's first `turns` turns.
fn messages(turns: usize) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for turn in 0..turns {
        if turn > 0 {
            out.push(("assistant", format!("Answer number {turn}.")));
        }
        out.push((
            "user",
            format!("Question number {turn}: tell me more about the way accounts rotate, and why."),
        ));
    }
    out
}

/// (api, path, body) of turn `turns` of the conversation in `shape`.
fn request(shape: Shape, turns: usize) -> (Api, String, String) {
    let msgs = messages(turns);
    let chat: Vec<Value> = std::iter::once(json!({"role": "system", "content": system()}))
        .chain(
            msgs.iter()
                .map(|(role, text)| json!({"role": role, "content": text})),
        )
        .collect();
    let plain: Vec<Value> = msgs
        .iter()
        .map(|(role, text)| json!({"role": role, "content": text}))
        .collect();
    let contents: Vec<Value> = msgs
        .iter()
        .map(|(role, text)| {
            let role = if *role == "assistant" { "model" } else { role };
            json!({"role": role, "parts": [{"text": text}]})
        })
        .collect();
    let gemini =
        json!({"systemInstruction": {"parts": [{"text": system()}]}, "contents": contents});
    let (api, path, body) = match shape {
        Shape::Chat => (
            Api::OpenAi,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": chat}),
        ),
        Shape::ChatStream => (
            Api::OpenAi,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": chat, "stream": true, "stream_options": {"include_usage": true}}),
        ),
        Shape::Completions => {
            let prompt: String = std::iter::once(system())
                .chain(msgs.iter().map(|(_, t)| t.clone()))
                .collect::<Vec<_>>()
                .join("\n");
            (
                Api::OpenAi,
                "/v1/completions",
                json!({"model": "i", "prompt": prompt}),
            )
        }
        Shape::Responses => (
            Api::OpenAi,
            "/v1/responses",
            json!({"model": "o3", "instructions": system(), "input": plain}),
        ),
        Shape::ResponsesStream => (
            Api::OpenAi,
            "/v1/responses",
            json!({"model": "o3", "instructions": system(), "input": plain, "stream": true}),
        ),
        Shape::Messages => (
            Api::Anthropic,
            "/v1/messages",
            json!({"model": "claude-x", "max_tokens": 64, "system": system(), "messages": plain}),
        ),
        Shape::MessagesStream => (
            Api::Anthropic,
            "/v1/messages",
            json!({"model": "claude-x", "max_tokens": 64, "system": system(), "messages": plain, "stream": true}),
        ),
        Shape::Generate => (Api::Gemini, "/v1beta/models/g:generateContent", gemini),
        Shape::StreamSse => (
            Api::Gemini,
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            gemini,
        ),
        Shape::StreamArray => (
            Api::Gemini,
            "/v1beta/models/g:streamGenerateContent",
            gemini,
        ),
    };
    (api, path.to_owned(), body.to_string())
}

/// Token counts as the answer reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    /// Every input token (cached ones included).
    input: u64,
    cached: u64,
    /// Anthropic `cache_creation_input_tokens` (0 elsewhere).
    written: u64,
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The usage of an answer in `shape`, read where the real API puts it.
fn usage(shape: Shape, reply: &Reply) -> Usage {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let openai = |usage: &Value, input: &str, details: &str| Usage {
        input: u(&usage[input]),
        cached: u(&usage[details]["cached_tokens"]),
        written: 0,
    };
    let anthropic = |usage: &Value| {
        let (read, written) = (
            u(&usage["cache_read_input_tokens"]),
            u(&usage["cache_creation_input_tokens"]),
        );
        Usage {
            input: u(&usage["input_tokens"]) + read + written,
            cached: read,
            written,
        }
    };
    let gemini = |chunk: &Value| Usage {
        input: u(&chunk["usageMetadata"]["promptTokenCount"]),
        cached: u(&chunk["usageMetadata"]["cachedContentTokenCount"]),
        written: 0,
    };
    match shape {
        Shape::Chat | Shape::Completions => openai(
            &reply.json()["usage"],
            "prompt_tokens",
            "prompt_tokens_details",
        ),
        Shape::ChatStream => {
            let data = reply.data();
            let last = data
                .iter()
                .rfind(|d| !d["usage"].is_null())
                .expect("usage chunk");
            openai(&last["usage"], "prompt_tokens", "prompt_tokens_details")
        }
        Shape::Responses => openai(
            &reply.json()["usage"],
            "input_tokens",
            "input_tokens_details",
        ),
        Shape::ResponsesStream => {
            let data = reply.data();
            let done = data
                .iter()
                .find(|d| d["type"] == "response.completed")
                .expect("response.completed");
            openai(
                &done["response"]["usage"],
                "input_tokens",
                "input_tokens_details",
            )
        }
        Shape::Messages => anthropic(&reply.json()["usage"]),
        Shape::MessagesStream => anthropic(&reply.data()[0]["message"]["usage"]),
        Shape::Generate => gemini(&reply.json()),
        Shape::StreamSse => {
            let data = reply.data();
            let usages: Vec<Usage> = data.iter().map(gemini).collect();
            assert!(usages.iter().all(|x| x.cached == usages[0].cached));
            gemini(data.last().expect("a chunk"))
        }
        Shape::StreamArray => {
            let chunks = reply.json();
            gemini(chunks.as_array().and_then(|c| c.last()).expect("a chunk"))
        }
    }
}

async fn turn(sim: &SimHandle, key: &str, shape: Shape, turns: usize) -> Reply {
    let (api, path, body) = request(shape, turns);
    call(sim, api, key, Method::POST, &path, &body).await
}

#[tokio::test]
async fn a_conversation_on_one_account_reports_rising_cached_tokens() {
    let sim = Sim::start().await.expect("start");
    for shape in SHAPES {
        let key = format!("key-{shape:?}");
        let mut seen = Vec::new();
        for turns in 1..=3 {
            let got = usage(shape, &turn(&sim, &key, shape, turns).await);
            assert!(got.cached + got.written <= got.input, "{shape:?}: {got:?}");
            assert_eq!(got.cached % 16, 0, "whole blocks: {shape:?} {got:?}");
            seen.push(got);
        }
        assert_eq!(seen[0].cached, 0, "{shape:?}: {seen:?}");
        assert!(seen[1].cached > 0, "{shape:?}: {seen:?}");
        assert!(seen[2].cached > seen[1].cached, "{shape:?}: {seen:?}");
        // The same prompt again: all of it that fills whole blocks is cached.
        let again = usage(shape, &turn(&sim, &key, shape, 3).await);
        assert!(again.cached > seen[2].cached, "{shape:?}: {again:?}");
        assert!(again.input - again.cached <= 48, "{shape:?}: {again:?}");
        if matches!(shape, Shape::Messages | Shape::MessagesStream) {
            // Anthropic writes what it did not read; a prompt read whole writes nothing.
            assert!(seen[0].written > 0 && seen[0].written % 16 == 0, "{seen:?}");
            assert!(seen[1].written > 0, "{seen:?}");
            assert_eq!(again.written, 0, "{again:?}");
            assert!(seen[1].cached <= seen[0].written, "{seen:?}");
        } else {
            assert!(seen.iter().all(|s| s.written == 0));
        }
        // The same conversation on another account starts cold.
        let other = usage(shape, &turn(&sim, "another-key", shape, 3).await);
        assert_eq!(other.cached, 0, "{shape:?}: {other:?}");
        sim.clear_prompt_cache();
    }
}

#[tokio::test]
async fn the_input_fields_are_each_apis_own() {
    let sim = Sim::start().await.expect("start");
    // Anthropic: input_tokens excludes what is read from and written to the cache.
    let first = turn(&sim, "k", Shape::Messages, 1).await.json();
    let second = turn(&sim, "k", Shape::Messages, 1).await.json();
    let total = |usage: &Value| {
        u(&usage["input_tokens"])
            + u(&usage["cache_read_input_tokens"])
            + u(&usage["cache_creation_input_tokens"])
    };
    assert_eq!(total(&first["usage"]), total(&second["usage"]));
    assert_eq!(
        first["usage"]["cache_creation_input_tokens"],
        second["usage"]["cache_read_input_tokens"]
    );
    assert_eq!(second["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(
        first["usage"]["input_tokens"],
        second["usage"]["input_tokens"]
    );
    // OpenAI: prompt_tokens includes the cached ones, and does not change when they do.
    let a = turn(&sim, "k", Shape::Chat, 2).await.json();
    let b = turn(&sim, "k", Shape::Chat, 2).await.json();
    assert_eq!(a["usage"]["prompt_tokens"], b["usage"]["prompt_tokens"]);
    assert_eq!(a["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert!(u(&b["usage"]["prompt_tokens_details"]["cached_tokens"]) > 0);
}

#[tokio::test(start_paused = true)]
async fn the_cache_expires_after_five_idle_minutes_and_a_hit_renews_it() {
    let sim = Sim::start().await.expect("start");
    let cached = |reply: Reply| usage(Shape::Chat, &reply).cached;
    assert_eq!(cached(turn(&sim, "k", Shape::Chat, 1).await), 0);
    tokio::time::advance(Duration::from_secs(299)).await;
    let hit = cached(turn(&sim, "k", Shape::Chat, 1).await);
    assert!(hit > 0);
    // 8 minutes after the first request, 4 after the hit: still warm.
    tokio::time::advance(Duration::from_secs(240)).await;
    assert_eq!(cached(turn(&sim, "k", Shape::Chat, 1).await), hit);
    // 5 idle minutes: cold, and this request warms it again.
    tokio::time::advance(Duration::from_secs(300)).await;
    assert_eq!(cached(turn(&sim, "k", Shape::Chat, 1).await), 0);
    assert_eq!(cached(turn(&sim, "k", Shape::Chat, 1).await), hit);

    // A longer TTL and a smaller minimum, set by the handle.
    sim.set_prompt_cache(CacheConfig {
        ttl: Duration::from_secs(3600),
        ..CacheConfig::default()
    });
    tokio::time::advance(Duration::from_secs(1800)).await;
    assert_eq!(cached(turn(&sim, "k", Shape::Chat, 1).await), hit);
    sim.set_prompt_cache(CacheConfig {
        capacity: 0,
        ..CacheConfig::default()
    });
    assert_eq!(cached(turn(&sim, "k", Shape::Chat, 1).await), 0);
}

#[tokio::test]
async fn only_successful_turns_fill_the_cache() {
    let sim = Sim::start().await.expect("start");
    let (_, _, body) = request(Shape::Messages, 2);
    // An error, a token count and a short prompt fill nothing.
    sim.script_next("k", 1, Behavior::Status(500));
    assert_eq!(turn(&sim, "k", Shape::Messages, 2).await.status, 500);
    let count = call(
        &sim,
        Api::Anthropic,
        "k",
        Method::POST,
        "/v1/messages/count_tokens",
        &body,
    )
    .await;
    assert_eq!(count.status, 200);
    let first = usage(Shape::Messages, &turn(&sim, "k", Shape::Messages, 2).await);
    assert_eq!(first.cached, 0);
    let short = r#"{"model":"c","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..2 {
        let reply = call(
            &sim,
            Api::Anthropic,
            "k",
            Method::POST,
            "/v1/messages",
            short,
        )
        .await;
        let got = usage(Shape::Messages, &reply);
        assert_eq!((got.cached, got.written), (0, 0), "{got:?}");
    }
    // A scripted Slow answer succeeds, so it reads the cache.
    sim.script_next("k", 1, Behavior::Slow(Duration::from_millis(1)));
    let slow = usage(Shape::Messages, &turn(&sim, "k", Shape::Messages, 2).await);
    assert!(slow.cached > 0);
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.header(name)
}

#[tokio::test(start_paused = true)]
async fn per_minute_quota_answers_429_in_each_shape_until_a_slot_frees() {
    let sim = Sim::start().await.expect("start");
    for (shape, key) in [
        (Shape::Chat, "o"),
        (Shape::Messages, "a"),
        (Shape::Generate, "g"),
    ] {
        sim.quota(key, Quota::new().per_minute(2));
        let first = turn(&sim, key, shape, 1).await;
        tokio::time::advance(Duration::from_secs(20)).await;
        let second = turn(&sim, key, shape, 1).await;
        assert_eq!((first.status, second.status), (200, 200));
        tokio::time::advance(Duration::from_secs(10)).await;
        let refused = turn(&sim, key, shape, 1).await;
        assert_eq!(refused.status, 429, "{shape:?}");
        let body = refused.json();
        match shape {
            Shape::Chat => {
                assert_eq!(header(&first, "x-ratelimit-limit-requests"), "2");
                assert_eq!(header(&first, "x-ratelimit-remaining-requests"), "1");
                assert_eq!(header(&first, "x-ratelimit-reset-requests"), "1m0s");
                assert_eq!(header(&second, "x-ratelimit-remaining-requests"), "0");
                assert_eq!(header(&second, "x-ratelimit-reset-requests"), "40s");
                assert_eq!(header(&refused, "retry-after"), "30");
                assert_eq!(header(&refused, "x-ratelimit-remaining-requests"), "0");
                assert_eq!(body["error"]["code"], "rate_limit_exceeded");
                assert_eq!(body["error"]["type"], "requests");
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.starts_with("Rate limit reached for gpt-4o"),
                    "{message}"
                );
                assert!(
                    message.contains("requests per min (RPM): Limit 2"),
                    "{message}"
                );
                assert!(message.contains("Please try again in 30s."), "{message}");
            }
            Shape::Messages => {
                assert_eq!(header(&first, "anthropic-ratelimit-requests-limit"), "2");
                assert_eq!(
                    header(&first, "anthropic-ratelimit-requests-remaining"),
                    "1"
                );
                assert!(header(&first, "anthropic-ratelimit-requests-reset").ends_with('Z'));
                assert_eq!(
                    header(&second, "anthropic-ratelimit-requests-remaining"),
                    "0"
                );
                assert_eq!(header(&refused, "retry-after"), "30");
                assert_eq!(
                    header(&refused, "anthropic-ratelimit-requests-remaining"),
                    "0"
                );
                assert_eq!(body["type"], "error");
                assert_eq!(body["error"]["type"], "rate_limit_error");
                assert!(header(&first, "x-ratelimit-limit-requests") == "<missing>");
            }
            _ => {
                assert_eq!(header(&first, "x-ratelimit-limit-requests"), "<missing>");
                assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
                let details = body["error"]["details"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let info = details
                    .iter()
                    .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo");
                let retry = details
                    .iter()
                    .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo");
                assert_eq!(
                    info.map(|i| i["reason"].clone()),
                    Some(json!("RATE_LIMIT_EXCEEDED"))
                );
                assert_eq!(retry.map(|r| r["retryDelay"].clone()), Some(json!("30s")));
            }
        }
        // The refusal counted nothing: once the first request's slot frees, one more fits.
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(turn(&sim, key, shape, 1).await.status, 200);
        assert_eq!(turn(&sim, key, shape, 1).await.status, 429);
    }
}

#[tokio::test(start_paused = true)]
async fn the_daily_quota_says_quota_exhausted_with_quota_reset_delay() {
    let sim = Sim::start().await.expect("start");
    for (shape, key) in [
        (Shape::StreamSse, "g"),
        (Shape::ResponsesStream, "o"),
        (Shape::MessagesStream, "a"),
    ] {
        sim.quota(key, Quota::new().per_minute(100).per_day(3));
        assert_eq!(turn(&sim, key, shape, 1).await.status, 200);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(turn(&sim, key, shape, 1).await.status, 200);
        let last = turn(&sim, key, shape, 1).await;
        assert_eq!(last.status, 200);
        let refused = turn(&sim, key, shape, 1).await;
        assert_eq!(refused.status, 429, "{shape:?}");
        let body = refused.json();
        match shape {
            Shape::StreamSse => {
                let details = body["error"]["details"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let info = details
                    .iter()
                    .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(info["reason"], "QUOTA_EXHAUSTED");
                assert_eq!(info["metadata"]["quotaResetDelay"], "23h0m0s");
                let retry = details
                    .iter()
                    .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo");
                assert_eq!(
                    retry.map(|r| r["retryDelay"].clone()),
                    Some(json!("82800s"))
                );
            }
            Shape::ResponsesStream => {
                // The daily window is the tighter one: the headers speak of it.
                assert_eq!(header(&last, "x-ratelimit-limit-requests"), "3");
                assert_eq!(header(&last, "x-ratelimit-remaining-requests"), "0");
                assert_eq!(header(&refused, "retry-after"), "82800");
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("requests per day (RPD): Limit 3"),
                    "{message}"
                );
                assert!(
                    message.contains("Please try again in 23h0m0s."),
                    "{message}"
                );
            }
            _ => {
                assert_eq!(header(&last, "anthropic-ratelimit-requests-limit"), "3");
                assert_eq!(header(&refused, "retry-after"), "82800");
                assert_eq!(body["error"]["type"], "rate_limit_error");
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("3 requests per day"), "{message}");
            }
        }
        tokio::time::advance(Duration::from_secs(23 * 3600)).await;
        assert_eq!(turn(&sim, key, shape, 1).await.status, 200);
    }
}

#[tokio::test(start_paused = true)]
async fn scripts_win_over_the_quota_and_only_turns_count() {
    let sim = Sim::start().await.expect("start");
    sim.quota("k", Quota::new().per_minute(1));
    sim.script_next("k", 1, Behavior::Status(503));
    assert_eq!(turn(&sim, "k", Shape::Messages, 1).await.status, 503);
    let (_, _, body) = request(Shape::Messages, 1);
    for _ in 0..3 {
        let count = call(
            &sim,
            Api::Anthropic,
            "k",
            Method::POST,
            "/v1/messages/count_tokens",
            &body,
        )
        .await;
        assert_eq!(count.status, 200);
    }
    assert_eq!(turn(&sim, "k", Shape::Messages, 1).await.status, 200);
    assert_eq!(turn(&sim, "k", Shape::Messages, 1).await.status, 429);
    sim.script_next("k", 1, Behavior::Status(500));
    assert_eq!(turn(&sim, "k", Shape::Messages, 1).await.status, 500);
    // Another account is not limited; removing the quota lifts it.
    assert_eq!(turn(&sim, "other", Shape::Messages, 1).await.status, 200);
    sim.quota("k", Quota::new());
    assert_eq!(turn(&sim, "k", Shape::Messages, 1).await.status, 200);
    assert_eq!(
        turn(&sim, "k", Shape::Messages, 1)
            .await
            .header("anthropic-ratelimit-requests-limit"),
        "<missing>"
    );
    let statuses: Vec<u16> = sim.requests_for("k").iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 200, 200, 200, 200, 429, 500, 200, 200]);
}

#[tokio::test]
async fn token_counts_sum_what_the_answers_reported() {
    let sim = Sim::start().await.expect("start");
    let mut expected = TokenCounts::default();
    for shape in [
        Shape::Messages,
        Shape::MessagesStream,
        Shape::Chat,
        Shape::StreamArray,
    ] {
        for turns in 1..=3 {
            let got = usage(shape, &turn(&sim, "k", shape, turns).await);
            expected.turns += 1;
            expected.input += got.input;
            expected.cached += got.cached;
            expected.cache_write += got.written;
            expected.output += 5;
        }
    }
    assert!(expected.cached > 0 && expected.cache_write > 0);
    assert_eq!(sim.token_counts("k"), expected);
    // A chat stream without usage, an error and a token count add nothing.
    let (api, path, body) = request(Shape::Chat, 1);
    let body = body.replacen('{', r#"{"stream":true,"#, 1);
    assert_eq!(
        call(&sim, api, "k", Method::POST, &path, &body)
            .await
            .status,
        200
    );
    sim.script_next("k", 1, Behavior::Status(500));
    assert_eq!(turn(&sim, "k", Shape::Chat, 1).await.status, 500);
    assert_eq!(sim.token_counts("k"), expected);
    assert_eq!(sim.token_counts("other"), TokenCounts::default());
    let _ = turn(&sim, "other", Shape::Generate, 1).await;
    assert_eq!(sim.token_counts_total().turns, expected.turns + 1);
    sim.clear_token_counts();
    assert_eq!(sim.token_counts_total(), TokenCounts::default());
}

#[tokio::test]
async fn a_responses_chain_by_previous_response_id_reads_its_conversation_from_the_cache() {
    let sim = Sim::start().await.expect("start");
    let mut previous: Option<String> = None;
    let mut cached = Vec::new();
    for turn in 0..4 {
        let mut body = json!({
            "model": "o3",
            "instructions": system(),
            "input": format!("Question number {turn}: tell me more about the way accounts rotate, and why."),
            "stream": turn == 3,
        });
        if let Some(id) = &previous {
            body["previous_response_id"] = json!(id);
        }
        let reply = call(
            &sim,
            Api::OpenAi,
            "k",
            Method::POST,
            "/v1/responses",
            &body.to_string(),
        )
        .await;
        let shape = if turn == 3 {
            Shape::ResponsesStream
        } else {
            Shape::Responses
        };
        cached.push(usage(shape, &reply).cached);
        if turn < 3 {
            previous = reply.json()["id"].as_str().map(str::to_owned);
        }
    }
    assert_eq!(cached[0], 0, "{cached:?}");
    assert!(cached.windows(2).all(|w| w[1] > w[0]), "{cached:?}");
    assert!(
        cached.iter().all(|c| c % 16 == 0),
        "whole blocks: {cached:?}"
    );
    // Another account cannot continue it, and has nothing cached.
    let body = json!({"model": "o3", "instructions": system(), "input": "x", "previous_response_id": previous});
    let other = call(
        &sim,
        Api::OpenAi,
        "other",
        Method::POST,
        "/v1/responses",
        &body.to_string(),
    )
    .await;
    assert_eq!(other.status, 400);
    let body = json!({"model": "o3", "instructions": system(), "input": "x"});
    let other = call(
        &sim,
        Api::OpenAi,
        "other",
        Method::POST,
        "/v1/responses",
        &body.to_string(),
    )
    .await;
    assert_eq!(usage(Shape::Responses, &other).cached, 0);
}
