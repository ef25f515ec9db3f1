//! The shapes the official SDKs parse, over real sockets: each stream's event order and
//! required fields, and every endpoint's answer.

mod support;

use http::Method;
use rota_sim::{ANSWER_TEXT, Sim};
use serde_json::{Value, json};
use support::{Api, call, names, openai, send};

fn assert_response_object(r: &Value, status: &str, model: &str) {
    assert!(
        r["id"].as_str().is_some_and(|id| id.starts_with("resp_")),
        "{r}"
    );
    assert_eq!(r["object"], "response", "{r}");
    assert!(r["created_at"].is_u64(), "{r}");
    assert_eq!(r["status"], status, "{r}");
    assert_eq!(r["model"], model, "{r}");
    assert!(r["output"].is_array(), "{r}");
}

fn assert_message_item(item: &Value, text: &str) {
    assert!(
        item["id"].as_str().is_some_and(|id| id.starts_with("msg_")),
        "{item}"
    );
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], text);
    assert_eq!(item["content"][0]["annotations"], json!([]));
}

fn assert_responses_usage(usage: &Value) {
    for field in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(usage[field].is_u64(), "{field}: {usage}");
    }
    assert!(
        usage["input_tokens_details"]["cached_tokens"].is_u64(),
        "{usage}"
    );
    assert!(
        usage["output_tokens_details"]["reasoning_tokens"].is_u64(),
        "{usage}"
    );
}

#[tokio::test]
async fn responses_stream_is_the_complete_event_sequence() {
    let sim = Sim::start().await.expect("start");
    let reply = openai(
        &sim,
        "k",
        "/v1/responses",
        r#"{"model":"o3","input":"hi","stream":true}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "text/event-stream");
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(["response.output_text.delta"; 4]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names(&reply), expected);
    let data = reply.data();
    for (i, (event, name)) in data.iter().zip(&expected).enumerate() {
        assert_eq!(event["type"], *name, "{event}");
        assert_eq!(event["sequence_number"], i, "{event}");
    }
    let created = &data[0]["response"];
    assert_response_object(created, "in_progress", "o3");
    assert_response_object(&data[1]["response"], "in_progress", "o3");
    let id = created["id"].as_str().expect("id");
    let item = &data[2]["item"];
    assert_eq!(data[2]["output_index"], 0);
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"], json!([]));
    let item_id = item["id"].as_str().expect("item id");
    assert!(item_id.starts_with("msg_"));
    assert_eq!(
        data[3]["part"],
        json!({"type":"output_text","text":"","annotations":[],"logprobs":[]})
    );
    let mut text = String::new();
    for delta in &data[4..8] {
        assert_eq!(delta["item_id"], item_id);
        assert_eq!(delta["output_index"], 0);
        assert_eq!(delta["content_index"], 0);
        assert!(delta["logprobs"].is_array());
        text.push_str(delta["delta"].as_str().expect("delta"));
    }
    assert_eq!(text, ANSWER_TEXT);
    assert_eq!(data[8]["text"], ANSWER_TEXT);
    assert_eq!(data[9]["part"]["text"], ANSWER_TEXT);
    assert_message_item(&data[10]["item"], ANSWER_TEXT);
    let done = &data[11]["response"];
    assert_response_object(done, "completed", "o3");
    assert_eq!(done["id"], id);
    assert_message_item(&done["output"][0], ANSWER_TEXT);
    assert_eq!(done["output"][0]["id"], item_id);
    assert_responses_usage(&done["usage"]);
    assert_eq!(sim.owner_of(id).as_deref(), Some("k"));
}

#[tokio::test]
async fn plain_responses_carry_the_same_object_and_unique_ids() {
    let sim = Sim::start().await.expect("start");
    let one = openai(&sim, "k", "/v1/responses", r#"{"model":"o3","input":"hi"}"#)
        .await
        .json();
    let two = openai(&sim, "k", "/v1/responses", r#"{"model":"o3","input":"hi"}"#)
        .await
        .json();
    assert_response_object(&one, "completed", "o3");
    assert_message_item(&one["output"][0], ANSWER_TEXT);
    assert_responses_usage(&one["usage"]);
    assert_ne!(one["id"], two["id"]);
    assert_eq!(sim.object_count(), 2);
}

#[tokio::test]
async fn chat_stream_sends_role_content_finish_usage_done() {
    let sim = Sim::start().await.expect("start");
    let body =
        r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;
    let reply = openai(&sim, "k", "/v1/chat/completions", body).await;
    let events = reply.events();
    assert_eq!(events.last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    let chunks = reply.data();
    assert_eq!(chunks.len(), 7, "role, 4 pieces, finish, usage");
    let id = chunks[0]["id"].as_str().expect("id");
    assert!(id.starts_with("chatcmpl-"));
    for chunk in &chunks {
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-4o");
        assert!(chunk["created"].is_u64());
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks[1..5]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(text, ANSWER_TEXT);
    assert!(
        chunks[..5]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[6]["choices"], json!([]));
    let usage = &chunks[6]["usage"];
    assert!(usage["prompt_tokens"].is_u64() && usage["completion_tokens"].is_u64());
    assert!(usage["prompt_tokens_details"]["cached_tokens"].is_u64());

    // Without include_usage: no usage chunk.
    let plain_stream = openai(
        &sim,
        "k",
        "/v1/chat/completions",
        r#"{"model":"m","stream":true}"#,
    )
    .await;
    assert_eq!(plain_stream.data().len(), 6);
    assert!(plain_stream.data().iter().all(|c| c.get("usage").is_none()));

    let whole = openai(
        &sim,
        "k",
        "/v1/chat/completions",
        r#"{"model":"m","messages":[]}"#,
    )
    .await
    .json();
    assert!(
        whole["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("chatcmpl-"))
    );
    assert_eq!(whole["choices"][0]["message"]["role"], "assistant");
    assert!(whole["usage"]["prompt_tokens_details"]["cached_tokens"].is_u64());
    assert_eq!(
        whole["usage"]["total_tokens"],
        whole["usage"]["prompt_tokens"].as_u64().unwrap_or(0)
            + whole["usage"]["completion_tokens"].as_u64().unwrap_or(0)
    );
}

#[tokio::test]
async fn anthropic_stream_is_the_complete_event_sequence() {
    let sim = Sim::start().await.expect("start");
    let body = r#"{"model":"claude-x","max_tokens":5,"stream":true,"messages":[]}"#;
    let reply = call(
        &sim,
        Api::Anthropic,
        "k",
        Method::POST,
        "/v1/messages",
        body,
    )
    .await;
    assert_eq!(reply.header("content-type"), "text/event-stream");
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 4]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&reply), expected);
    let data = reply.data();
    for (event, name) in data.iter().zip(&expected) {
        assert_eq!(event["type"], *name);
    }
    let message = &data[0]["message"];
    assert!(
        message["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("msg_"))
    );
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-x");
    assert_eq!(message["content"], json!([]));
    for field in [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
    ] {
        assert!(message["usage"][field].is_u64(), "{field}");
    }
    assert_eq!(data[1]["content_block"], json!({"type":"text","text":""}));
    let text: String = data[3..7]
        .iter()
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(text, ANSWER_TEXT);
    assert_eq!(data[8]["delta"]["stop_reason"], "end_turn");
    assert!(data[8]["usage"]["output_tokens"].is_u64());

    let whole = call(
        &sim,
        Api::Anthropic,
        "k",
        Method::POST,
        "/v1/messages",
        r#"{"model":"c"}"#,
    )
    .await
    .json();
    assert_eq!(whole["type"], "message");
    assert_eq!(
        whole["content"][0],
        json!({"type":"text","text":ANSWER_TEXT})
    );
    for field in [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
    ] {
        assert!(whole["usage"][field].is_u64(), "{field}");
    }
}

fn assert_gemini_chunk(chunk: &Value, model: &str) {
    assert_eq!(
        chunk["candidates"][0]["content"]["role"], "model",
        "{chunk}"
    );
    assert!(chunk["candidates"][0]["content"]["parts"][0]["text"].is_string());
    for field in [
        "promptTokenCount",
        "cachedContentTokenCount",
        "candidatesTokenCount",
        "totalTokenCount",
    ] {
        assert!(chunk["usageMetadata"][field].is_u64(), "{field}: {chunk}");
    }
    assert_eq!(chunk["modelVersion"], model);
    assert!(chunk["responseId"].is_string());
}

#[tokio::test]
async fn gemini_streams_as_sse_or_one_array_under_both_versions() {
    let sim = Sim::start().await.expect("start");
    for version in ["v1beta", "v1"] {
        let path = format!("/{version}/models/gemini-x:streamGenerateContent?alt=sse");
        let reply = call(&sim, Api::Gemini, "k", Method::POST, &path, "{}").await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), "text/event-stream");
        let chunks = reply.data();
        assert_eq!(chunks.len(), 4);
        let mut text = String::new();
        for (i, chunk) in chunks.iter().enumerate() {
            assert_gemini_chunk(chunk, "gemini-x");
            text.push_str(
                chunk["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap_or_default(),
            );
            let finish = &chunk["candidates"][0]["finishReason"];
            if i == 3 {
                assert_eq!(*finish, "STOP");
            } else {
                assert!(finish.is_null());
            }
        }
        assert_eq!(text, ANSWER_TEXT);
        let ids: Vec<_> = chunks.iter().map(|c| c["responseId"].clone()).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));

        let array = call(
            &sim,
            Api::Gemini,
            "k",
            Method::POST,
            &format!("/{version}/models/g:streamGenerateContent"),
            "{}",
        )
        .await;
        assert_eq!(array.header("content-type"), "application/json");
        assert!(array.frames.len() >= 2);
        let items = array.json();
        assert_eq!(items.as_array().map(Vec::len), Some(4), "{items}");
        assert_gemini_chunk(&items[0], "g");

        let whole = call(
            &sim,
            Api::Gemini,
            "k",
            Method::POST,
            &format!("/{version}/models/g:generateContent"),
            "{}",
        )
        .await
        .json();
        assert_gemini_chunk(&whole, "g");
        assert_eq!(
            whole["candidates"][0]["content"]["parts"][0]["text"],
            ANSWER_TEXT
        );
        assert_eq!(whole["candidates"][0]["finishReason"], "STOP");
    }
}

#[tokio::test]
async fn openai_endpoints_answer_in_their_shapes() {
    let sim = Sim::start().await.expect("start");
    let e = openai(&sim, "k", "/v1/embeddings", r#"{"model":"text-embedding-3-small","input":["a","b"],"dimensions":8,"encoding_format":"float"}"#).await;
    assert_eq!(e.status, 200);
    let v = e.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["data"][1]["object"], "embedding");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().map(Vec::len), Some(8));
    assert!(v["usage"]["prompt_tokens"].is_u64() && v["usage"]["total_tokens"].is_u64());
    // The openai SDK asks for base64 unless told otherwise: 8 little-endian f32s.
    let b = openai(
        &sim,
        "k",
        "/v1/embeddings",
        r#"{"model":"e","input":"a","dimensions":8,"encoding_format":"base64"}"#,
    )
    .await
    .json();
    let encoded = b["data"][0]["embedding"].as_str().expect("base64 string");
    assert_eq!(encoded.len(), 44);

    let c = openai(
        &sim,
        "k",
        "/v1/completions",
        r#"{"model":"gpt-3.5-turbo-instruct","prompt":"Say"}"#,
    )
    .await
    .json();
    assert!(c["id"].as_str().is_some_and(|i| i.starts_with("cmpl-")));
    assert_eq!(c["object"], "text_completion");
    assert_eq!(c["choices"][0]["text"], ANSWER_TEXT);
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    assert!(c["usage"]["completion_tokens"].is_u64());
    let cs = openai(
        &sim,
        "k",
        "/v1/completions",
        r#"{"model":"i","prompt":"Say","stream":true,"stream_options":{"include_usage":true}}"#,
    )
    .await;
    assert_eq!(
        cs.events().last().map(|(_, d)| d.clone()).as_deref(),
        Some("[DONE]")
    );
    let chunks = cs.data();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, ANSWER_TEXT);
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    assert!(
        chunks
            .last()
            .is_some_and(|c| c["usage"]["total_tokens"].is_u64())
    );

    let list = call(&sim, Api::OpenAi, "k", Method::GET, "/v1/models", "")
        .await
        .json();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["object"], "model");
    assert!(list["data"][0]["owned_by"].is_string());
    let one = call(&sim, Api::OpenAi, "k", Method::GET, "/v1/models/gpt-4o", "").await;
    assert_eq!(one.header("x-sim-model"), "gpt-4o");
    assert_eq!(one.json()["id"], "gpt-4o");
    assert_eq!(one.json()["object"], "model");
}

#[tokio::test]
async fn anthropic_endpoints_answer_in_their_shapes() {
    let sim = Sim::start().await.expect("start");
    let count = call(
        &sim,
        Api::Anthropic,
        "k",
        Method::POST,
        "/v1/messages/count_tokens",
        r#"{"model":"claude","messages":[{"role":"user","content":"hello there"}]}"#,
    )
    .await;
    assert_eq!(count.status, 200);
    let v = count.json();
    assert!(v["input_tokens"].as_u64().is_some_and(|n| n > 0), "{v}");
    assert_eq!(v.as_object().map(|o| o.len()), Some(1));

    // `anthropic-version` (or `x-api-key`) makes /v1/models Anthropic.
    let list = call(&sim, Api::Anthropic, "k", Method::GET, "/v1/models", "")
        .await
        .json();
    assert_eq!(list["has_more"], false);
    assert_eq!(list["data"][0]["type"], "model");
    for field in ["id", "display_name", "created_at"] {
        assert!(list["data"][0][field].is_string(), "{field}: {list}");
    }
    assert_eq!(list["first_id"], list["data"][0]["id"]);
    assert!(list["last_id"].is_string());
    assert!(list.get("object").is_none());
    let url = format!("{}/v1/models/claude-sonnet-4-5", sim.base_url());
    let one = send(Method::GET, &url, &[("x-api-key", "k")], "")
        .await
        .json();
    assert_eq!(one["type"], "model");
    assert_eq!(one["id"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn gemini_endpoints_answer_in_their_shapes_under_both_versions() {
    let sim = Sim::start().await.expect("start");
    for v in ["v1beta", "v1"] {
        let count = call(
            &sim,
            Api::Gemini,
            "k",
            Method::POST,
            &format!("/{v}/models/gemini-2.5-pro:countTokens"),
            r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#,
        )
        .await;
        assert_eq!(count.status, 200, "{v}");
        assert!(count.json()["totalTokens"].is_u64());
        let embed = call(
            &sim,
            Api::Gemini,
            "k",
            Method::POST,
            &format!("/{v}/models/text-embedding-004:embedContent"),
            r#"{"content":{"parts":[{"text":"hi"}]},"outputDimensionality":4}"#,
        )
        .await
        .json();
        assert_eq!(
            embed["embedding"]["values"].as_array().map(Vec::len),
            Some(4),
            "{embed}"
        );
        let batch = call(&sim, Api::Gemini, "k", Method::POST, &format!("/{v}/models/text-embedding-004:batchEmbedContents"), r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}"#).await.json();
        let embeddings = batch["embeddings"].as_array().expect("embeddings");
        assert_eq!(embeddings.len(), 2);
        assert_eq!(embeddings[0]["values"].as_array().map(Vec::len), Some(768));
        assert_ne!(embeddings[0], embeddings[1]);
        let list = call(
            &sim,
            Api::Gemini,
            "k",
            Method::GET,
            &format!("/{v}/models"),
            "",
        )
        .await
        .json();
        let first = &list["models"][0];
        assert!(
            first["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("models/")),
            "{list}"
        );
        assert!(first["supportedGenerationMethods"].is_array());
        let one = call(
            &sim,
            Api::Gemini,
            "k",
            Method::GET,
            &format!("/{v}/models/gemini-2.5-pro"),
            "",
        )
        .await
        .json();
        assert_eq!(one["name"], "models/gemini-2.5-pro");
        assert!(one["inputTokenLimit"].is_u64());
    }
    // `?key=` alone makes /v1/models Gemini too.
    let url = format!("{}/v1/models?key=k", sim.base_url());
    assert!(send(Method::GET, &url, &[], "").await.json()["models"].is_array());
    // Unknown methods are 404 in the Gemini dialect, not recorded.
    let before = sim.requests().len();
    let unknown = call(
        &sim,
        Api::Gemini,
        "k",
        Method::POST,
        "/v1beta/models/g:frobnicate",
        "{}",
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["status"], "NOT_FOUND");
    assert_eq!(sim.requests().len(), before);
}
