//! SPEC §9 through the real gateway: token usage read from rota-sim's answers, plain and
//! streamed, in each protocol's own fields, shown per account in `GET /admin/accounts` and in
//! `rota_tokens_total`; requests that are not turns count nothing.

use http::Method;
use serde_json::json;

use crate::common::start;

#[tokio::test]
async fn usage_is_read_from_plain_and_streamed_answers_of_every_protocol() {
    let env = start(|c, _| {
        c.accounts.truncate(1);
    })
    .await;
    let json_h = [("content-type", "application/json")];
    let anthropic = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    let turns = [
        (
            "/v1/chat/completions",
            &json_h[..],
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Count my tokens, please"}]}),
        ),
        (
            "/v1/chat/completions",
            &json_h[..],
            json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Count my tokens, please"}]}),
        ),
        (
            "/v1/responses",
            &json_h[..],
            json!({"model": "gpt-4o", "stream": true, "input": "Count my tokens, please"}),
        ),
        (
            "/v1/messages",
            &anthropic[..],
            json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": true, "messages": [{"role": "user", "content": "Count my tokens, please"}]}),
        ),
        (
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            &json_h[..],
            json!({"contents": [{"role": "user", "parts": [{"text": "Count my tokens, please"}]}]}),
        ),
    ];
    let mut output_before = 0;
    for (path, headers, body) in turns {
        let res = env
            .send(Method::POST, path, headers, &body.to_string())
            .await;
        assert_eq!(res.status, 200, "{path}");
        let a = env.account_json("a@x").await;
        let output = a["tokens"]["output"].as_u64().unwrap_or(0);
        assert!(output > output_before, "{path}: usage counted ({a})");
        assert!(a["tokens"]["input"].as_u64().unwrap_or(0) > 0, "{path}");
        output_before = output;
    }
    let a = env.account_json("a@x").await;
    assert_eq!(
        a["cache_hit_ratio"],
        json!(0.0),
        "rota-sim reports no cache hits here: {a}"
    );
    // A token count is not a turn: nothing more is counted.
    let res = env
        .send(
            Method::POST,
            "/v1/messages/count_tokens",
            &anthropic,
            r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi there"}]}"#,
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(env.account_json("a@x").await["tokens"], a["tokens"]);
    let metrics = env.send(Method::GET, "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.lines()
            .any(|l| l.starts_with("rota_tokens_total{") && l.contains("kind=\"input\"")),
        "{text}"
    );
    assert!(text.contains("rota_prompt_tokens_total{"), "{text}");
}

/// Three turns of each of `conversations` conversations (the turns interleaved), with a long
/// system prompt so the provider caches; returns the gateway's cache-hit ratio over every
/// account, checking on the way that its counts are exactly what the upstream reported.
async fn hit_ratio(mode: rota::core::Mode, conversations: usize) -> f64 {
    let env = start(|c, _| {
        c.settings.mode = mode;
        c.settings.window = std::time::Duration::ZERO;
    })
    .await;
    // Each conversation's own long prefix: only its own account can have it cached.
    let system = |c: usize| {
        format!(
            "Conversation {c}. {}",
            "You are a careful assistant. ".repeat(40)
        )
    };
    let headers = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    let mut histories: Vec<Vec<serde_json::Value>> = (0..conversations)
        .map(|c| {
            vec![json!({"role": "user", "content": format!("Conversation {c}: review this diff")})]
        })
        .collect();
    for turn in 0..3 {
        for (c, history) in histories.iter_mut().enumerate() {
            if turn > 0 {
                history.push(json!({"role": "assistant", "content": "Looks fine."}));
                history.push(json!({"role": "user", "content": format!("And part {turn}?")}));
            }
            let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": system(c), "messages": history});
            let res = env
                .send(Method::POST, "/v1/messages", &headers, &body.to_string())
                .await;
            assert_eq!(res.status, 200);
        }
    }
    let (mut input, mut cached) = (0, 0);
    for (email, key) in [("a@x", "ka"), ("b@x", "kb"), ("c@x", "kc")] {
        let a = env.account_json(email).await;
        let upstream = env.sim.token_counts(key);
        assert_eq!(a["tokens"]["input"], upstream.input, "{email}: {a}");
        assert_eq!(a["tokens"]["cached"], upstream.cached, "{email}: {a}");
        assert_eq!(
            a["tokens"]["cache_write"], upstream.cache_write,
            "{email}: {a}"
        );
        input += upstream.input;
        cached += upstream.cached;
    }
    cached as f64 / input as f64
}

#[tokio::test]
async fn the_hit_ratio_is_what_the_upstream_reported_and_stickiness_raises_it() {
    let sticky = hit_ratio(rota::core::Mode::Balance, 5).await;
    // 5 conversations over 3 accounts: round-robin moves each conversation every turn.
    let spread = hit_ratio(rota::core::Mode::PerformanceFirst, 5).await;
    println!("cache-hit ratio: sticky {sticky:.3}, round-robin {spread:.3}");
    assert!(
        sticky > 0.5,
        "sticky conversations hit the cache: {sticky:.3}"
    );
    assert!(
        sticky > spread + 0.1,
        "sticky {sticky:.3} against spread {spread:.3}"
    );
}
