//! OpenAI shapes: chat completions, legacy completions, Responses, embeddings, models.

use serde_json::{Value, json};

use super::{
    ANSWER_TEXT, Answer, MODEL_IDS, OUTPUT_TOKENS, PIECES, base64, data, embedding, event,
};

/// An OpenAI error body: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> String {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
        .to_string()
}

/// The whole `POST /v1/chat/completions` answer.
pub(crate) fn chat_body(a: &Answer) -> String {
    let Answer {
        model,
        created,
        input_tokens,
        cached_tokens,
        ..
    } = a;
    let (id, total) = (a.id("chatcmpl-"), a.total_tokens());
    format!(
        r#"{{"id":"{id}","object":"chat.completion","created":{created},"model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","content":"{ANSWER_TEXT}","refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{input_tokens},"completion_tokens":{OUTPUT_TOKENS},"total_tokens":{total},"prompt_tokens_details":{{"cached_tokens":{cached_tokens},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"service_tier":"default","system_fingerprint":"fp_rota_sim"}}"#
    )
}

/// The chunks of a streamed chat answer: the role first, the content pieces, the
/// `finish_reason`, a usage chunk when `include_usage`, then `[DONE]`.
pub(crate) fn chat_stream(a: &Answer, include_usage: bool) -> Vec<String> {
    let Answer {
        model,
        created,
        input_tokens,
        cached_tokens,
        ..
    } = a;
    let id = a.id("chatcmpl-");
    let usage_null = if include_usage {
        r#","usage":null"#
    } else {
        ""
    };
    let chunk = |choices: &str, tail: &str| {
        data(&format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":{created},"model":{model},"system_fingerprint":"fp_rota_sim","choices":{choices}{tail}}}"#
        ))
    };
    let mut events = Vec::with_capacity(PIECES.len() + 4);
    events.push(chunk(
        r#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#,
        usage_null,
    ));
    for piece in PIECES {
        events.push(chunk(
            &format!(
                r#"[{{"index":0,"delta":{{"content":"{piece}"}},"logprobs":null,"finish_reason":null}}]"#
            ),
            usage_null,
        ));
    }
    events.push(chunk(
        r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#,
        usage_null,
    ));
    if include_usage {
        let total = a.total_tokens();
        events.push(chunk(
            "[]",
            &format!(
                r#","usage":{{"prompt_tokens":{input_tokens},"completion_tokens":{OUTPUT_TOKENS},"total_tokens":{total},"prompt_tokens_details":{{"cached_tokens":{cached_tokens},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#
            ),
        ));
    }
    events.push(String::from("data: [DONE]\n\n"));
    events
}

fn completion_usage(a: &Answer) -> Value {
    json!({
        "prompt_tokens": a.input_tokens,
        "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": a.total_tokens(),
        "prompt_tokens_details": { "cached_tokens": a.cached_tokens, "audio_tokens": 0 },
    })
}

/// The whole legacy `POST /v1/completions` answer.
pub(crate) fn completion_body(a: &Answer) -> String {
    json!({
        "id": a.id("cmpl-"),
        "object": "text_completion",
        "created": a.created,
        "model": a.raw_model,
        "system_fingerprint": "fp_rota_sim",
        "choices": [{ "text": ANSWER_TEXT, "index": 0, "logprobs": null, "finish_reason": "stop" }],
        "usage": completion_usage(a),
    })
    .to_string()
}

/// The chunks of a streamed legacy completion, then a usage chunk when `include_usage`, then
/// `[DONE]`.
pub(crate) fn completion_stream(a: &Answer, include_usage: bool) -> Vec<String> {
    let chunk = |text: &str, finish: Value, usage: Value| {
        let mut v = json!({
            "id": a.id("cmpl-"),
            "object": "text_completion",
            "created": a.created,
            "model": a.raw_model,
            "system_fingerprint": "fp_rota_sim",
            "choices": [{ "text": text, "index": 0, "logprobs": null, "finish_reason": finish }],
        });
        if include_usage {
            v["usage"] = usage;
        }
        data(&v.to_string())
    };
    let mut events: Vec<String> = PIECES
        .iter()
        .map(|&piece| chunk(piece, Value::Null, Value::Null))
        .collect();
    events.push(chunk("", json!("stop"), Value::Null));
    if include_usage {
        let mut last = json!({
            "id": a.id("cmpl-"),
            "object": "text_completion",
            "created": a.created,
            "model": a.raw_model,
            "choices": [],
        });
        last["usage"] = completion_usage(a);
        events.push(data(&last.to_string()));
    }
    events.push(String::from("data: [DONE]\n\n"));
    events
}

/// What a Responses object echoes from its request.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResponseEcho {
    /// `previous_response_id`.
    pub(crate) previous_response_id: Option<String>,
    /// `conversation` (its id).
    pub(crate) conversation: Option<String>,
    /// `instructions`.
    pub(crate) instructions: Value,
    /// `background`.
    pub(crate) background: bool,
    /// `store` (default true).
    pub(crate) store: bool,
    /// `metadata` (an object).
    pub(crate) metadata: Value,
}

/// The assistant message item of a Responses answer.
pub(crate) fn message_item(a: &Answer, status: &str, text: Option<&str>) -> Value {
    let content = match text {
        Some(text) => {
            json!([{ "type": "output_text", "text": text, "annotations": [], "logprobs": [] }])
        }
        None => json!([]),
    };
    json!({
        "id": a.id("msg_"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

/// A Responses `response` object with `status`; `complete` adds the output and usage.
pub(crate) fn response_object(
    a: &Answer,
    echo: &ResponseEcho,
    status: &str,
    complete: bool,
) -> Value {
    let (output, usage) = if complete {
        (
            json!([message_item(a, "completed", Some(ANSWER_TEXT))]),
            json!({
                "input_tokens": a.input_tokens,
                "input_tokens_details": { "cached_tokens": a.cached_tokens },
                "output_tokens": OUTPUT_TOKENS,
                "output_tokens_details": { "reasoning_tokens": 0 },
                "total_tokens": a.total_tokens(),
            }),
        )
    } else {
        (json!([]), Value::Null)
    };
    let metadata = if echo.metadata.is_object() {
        echo.metadata.clone()
    } else {
        json!({})
    };
    json!({
        "id": a.id("resp_"),
        "object": "response",
        "created_at": a.created,
        "status": status,
        "background": echo.background,
        "error": null,
        "incomplete_details": null,
        "instructions": echo.instructions,
        "max_output_tokens": null,
        "model": a.raw_model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": echo.previous_response_id,
        "conversation": echo.conversation.as_ref().map(|id| json!({ "id": id })),
        "reasoning": { "effort": null, "summary": null },
        "store": echo.store,
        "temperature": 1.0,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": metadata,
    })
}

/// The events of a streamed Responses answer, each with its `sequence_number`.
pub(crate) fn responses_stream(a: &Answer, echo: &ResponseEcho) -> Vec<String> {
    let item_id = a.id("msg_");
    let mut events = Vec::with_capacity(PIECES.len() + 8);
    let mut push = |name: &str, mut payload: Value| {
        payload["type"] = json!(name);
        payload["sequence_number"] = json!(events.len());
        events.push(event(name, &payload.to_string()));
    };
    push(
        "response.created",
        json!({ "response": response_object(a, echo, "in_progress", false) }),
    );
    push(
        "response.in_progress",
        json!({ "response": response_object(a, echo, "in_progress", false) }),
    );
    push(
        "response.output_item.added",
        json!({ "output_index": 0, "item": message_item(a, "in_progress", None) }),
    );
    let part = |text: &str| json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] });
    push(
        "response.content_part.added",
        json!({ "item_id": item_id, "output_index": 0, "content_index": 0, "part": part("") }),
    );
    for piece in PIECES {
        push(
            "response.output_text.delta",
            json!({ "item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": [] }),
        );
    }
    push(
        "response.output_text.done",
        json!({ "item_id": item_id, "output_index": 0, "content_index": 0, "text": ANSWER_TEXT, "logprobs": [] }),
    );
    push(
        "response.content_part.done",
        json!({ "item_id": item_id, "output_index": 0, "content_index": 0, "part": part(ANSWER_TEXT) }),
    );
    push(
        "response.output_item.done",
        json!({ "output_index": 0, "item": message_item(a, "completed", Some(ANSWER_TEXT)) }),
    );
    push(
        "response.completed",
        json!({ "response": response_object(a, echo, "completed", true) }),
    );
    events
}

/// The `POST /v1/embeddings` answer: one vector per input, `dims` long, floats or
/// base64 (little-endian `f32`s).
pub(crate) fn embeddings(a: &Answer, inputs: &[String], dims: usize, as_base64: bool) -> String {
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let values = embedding(text, dims);
            let vector = if as_base64 {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                json!(base64(&bytes))
            } else {
                json!(values)
            };
            json!({ "object": "embedding", "index": index, "embedding": vector })
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": a.raw_model,
        "usage": { "prompt_tokens": a.input_tokens, "total_tokens": a.input_tokens },
    })
    .to_string()
}

/// One OpenAI model object.
pub(crate) fn model(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 1_700_000_000, "owned_by": "rota-sim" })
}

/// `GET /v1/models` (`None`) or `GET /v1/models/{id}`.
pub(crate) fn models(id: Option<&str>) -> String {
    match id {
        Some(id) => model(id).to_string(),
        None => json!({
            "object": "list",
            "data": MODEL_IDS.iter().map(|id| model(id)).collect::<Vec<_>>(),
        })
        .to_string(),
    }
}
