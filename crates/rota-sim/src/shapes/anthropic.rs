//! Anthropic shapes: messages (whole and streamed), token counts, models.

use serde_json::{Value, json};

use super::{ANSWER_TEXT, Answer, MODEL_IDS, OUTPUT_TOKENS, PIECES, event};

/// The whole `POST /v1/messages` answer.
pub(crate) fn message_body(a: &Answer) -> String {
    let Answer {
        model,
        cached_tokens,
        cache_write_tokens,
        ..
    } = a;
    let input_tokens = a.uncached_input_tokens();
    let id = a.id("msg_");
    format!(
        r#"{{"id":"{id}","type":"message","role":"assistant","model":{model},"content":[{{"type":"text","text":"{ANSWER_TEXT}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{input_tokens},"cache_creation_input_tokens":{cache_write_tokens},"cache_read_input_tokens":{cached_tokens},"output_tokens":{OUTPUT_TOKENS},"service_tier":"standard"}}}}"#
    )
}

/// The events of a streamed message: `message_start`, `content_block_start`, `ping`, the
/// `text_delta`s, `content_block_stop`, `message_delta`, `message_stop`.
pub(crate) fn message_stream(a: &Answer) -> Vec<String> {
    let Answer {
        model,
        cached_tokens,
        cache_write_tokens,
        ..
    } = a;
    let input_tokens = a.uncached_input_tokens();
    let id = a.id("msg_");
    let mut events = Vec::with_capacity(PIECES.len() + 6);
    events.push(event(
        "message_start",
        &format!(
            r#"{{"type":"message_start","message":{{"id":"{id}","type":"message","role":"assistant","model":{model},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input_tokens},"cache_creation_input_tokens":{cache_write_tokens},"cache_read_input_tokens":{cached_tokens},"output_tokens":1,"service_tier":"standard"}}}}}}"#
        ),
    ));
    events.push(event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    ));
    events.push(event("ping", r#"{"type": "ping"}"#));
    for piece in PIECES {
        events.push(event(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{piece}"}}}}"#
            ),
        ));
    }
    events.push(event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    ));
    events.push(event(
        "message_delta",
        &format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{OUTPUT_TOKENS}}}}}"#
        ),
    ));
    events.push(event("message_stop", r#"{"type":"message_stop"}"#));
    events
}

/// The `POST /v1/messages/count_tokens` answer.
pub(crate) fn count_tokens(a: &Answer) -> String {
    json!({ "input_tokens": a.input_tokens }).to_string()
}

/// One Anthropic model object.
fn model(id: &str) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": display_name(id),
        "created_at": "2025-09-29T00:00:00Z",
    })
}

/// `claude-sonnet-4-5` → `Claude Sonnet 4 5`.
fn display_name(id: &str) -> String {
    id.split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Anthropic `GET /v1/models` (`None`) or `GET /v1/models/{id}`.
pub(crate) fn models(id: Option<&str>) -> String {
    match id {
        Some(id) => model(id).to_string(),
        None => {
            let ids: Vec<&str> = MODEL_IDS
                .iter()
                .copied()
                .filter(|id| id.starts_with("claude"))
                .collect();
            json!({
                "data": ids.iter().map(|id| model(id)).collect::<Vec<_>>(),
                "has_more": false,
                "first_id": ids.first(),
                "last_id": ids.last(),
            })
        }
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(display_name("claude-sonnet-4-5"), "Claude Sonnet 4 5");
    }
}
