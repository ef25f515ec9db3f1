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
