//! Successful answer bodies per protocol, whole and as SSE event sequences.
//!
//! Bodies are built with `format!` around a JSON-escaped model string: one allocation per
//! answer on the hot path, no intermediate `serde_json::Value` tree.

use bytes::Bytes;

/// The text every simulated answer carries.
pub const ANSWER_TEXT: &str = "Hello from rota-sim.";

/// [`ANSWER_TEXT`] cut into the pieces a streamed answer sends (JSON-safe, no escaping needed).
const PIECES: [&str; 4] = ["Hello", " from", " rota", "-sim."];

/// Which API a request spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
    Gemini,
    /// `GET /v1/models`.
    Models,
}

/// The `GET /v1/models` answer.
const MODELS: &str = r#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"rota-sim"},{"id":"claude-sonnet-4-5","object":"model","created":1700000000,"owned_by":"rota-sim"},{"id":"gemini-2.5-pro","object":"model","created":1700000000,"owned_by":"rota-sim"},{"id":"gemini-3-pro-high","object":"model","created":1700000000,"owned_by":"rota-sim"}]}"#;

/// Identity of one answer: `model` is already a JSON string literal (quoted and escaped).
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) model: String,
    pub(crate) id: u64,
    pub(crate) created: u64,
}

impl Answer {
    /// Builds an answer identity; `model` is escaped here.
    pub(crate) fn new(model: Option<&str>, id: u64, created: u64) -> Self {
        let model = serde_json::to_string(model.unwrap_or("sim-model"))
            .unwrap_or_else(|_| String::from("\"sim-model\""));
        Self { model, id, created }
    }

    /// The whole (non-streamed) `200` body for `protocol`.
    pub(crate) fn body(&self, protocol: Protocol) -> String {
        let Self { model, id, created } = self;
        match protocol {
            Protocol::Chat => format!(
                r#"{{"id":"chatcmpl-sim-{id}","object":"chat.completion","created":{created},"model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","content":"{ANSWER_TEXT}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}}}"#
            ),
            Protocol::Responses => self.response_object("completed", true),
            Protocol::Messages => format!(
                r#"{{"id":"msg_sim_{id}","type":"message","role":"assistant","model":{model},"content":[{{"type":"text","text":"{ANSWER_TEXT}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":12,"output_tokens":5}}}}"#
            ),
            Protocol::Gemini => format!(
                r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"{ANSWER_TEXT}"}}]}},"finishReason":"STOP","index":0}}],"usageMetadata":{{"promptTokenCount":12,"candidatesTokenCount":5,"totalTokenCount":17}},"modelVersion":{model},"responseId":"sim-{id}"}}"#
            ),
            Protocol::Models => String::from(MODELS),
        }
    }

    /// An OpenAI Responses `response` object, with or without its output.
    fn response_object(&self, status: &str, with_output: bool) -> String {
        let Self { model, id, created } = self;
        let (output, usage) = if with_output {
            (
                format!(
                    r#"[{{"type":"message","id":"msg_sim_{id}","status":"completed","role":"assistant","content":[{{"type":"output_text","text":"{ANSWER_TEXT}","annotations":[]}}]}}]"#
                ),
                r#"{"input_tokens":12,"output_tokens":5,"total_tokens":17}"#,
            )
        } else {
            (String::from("[]"), "null")
        };
        format!(
            r#"{{"id":"resp_sim_{id}","object":"response","created_at":{created},"status":"{status}","model":{model},"output":{output},"usage":{usage}}}"#
        )
    }

    /// The SSE events of a streamed `200` answer for `protocol`, one `Bytes` per event.
    pub(crate) fn stream(&self, protocol: Protocol) -> Vec<Bytes> {
        let Self { model, id, created } = self;
        let mut events = Vec::with_capacity(PIECES.len() + 4);
        match protocol {
            Protocol::Chat => {
                for (i, piece) in PIECES.iter().enumerate() {
                    let role = if i == 0 { r#""role":"assistant","# } else { "" };
                    events.push(format!(
                        "data: {{\"id\":\"chatcmpl-sim-{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model},\"choices\":[{{\"index\":0,\"delta\":{{{role}\"content\":\"{piece}\"}},\"finish_reason\":null}}]}}\n\n"
                    ));
                }
                events.push(format!(
                    "data: {{\"id\":\"chatcmpl-sim-{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model},\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
                ));
                events.push(String::from("data: [DONE]\n\n"));
            }
            Protocol::Responses => {
                let created_obj = self.response_object("in_progress", false);
                events.push(format!(
                    "event: response.created\ndata: {{\"type\":\"response.created\",\"response\":{created_obj}}}\n\n"
                ));
                for piece in PIECES {
                    events.push(format!(
                        "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_sim_{id}\",\"output_index\":0,\"content_index\":0,\"delta\":\"{piece}\"}}\n\n"
                    ));
                }
                let done = self.response_object("completed", true);
                events.push(format!(
                    "event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{done}}}\n\n"
                ));
            }
            Protocol::Messages => {
                events.push(format!(
                    "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_sim_{id}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":{model},\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":12,\"output_tokens\":1}}}}}}\n\n"
                ));
                events.push(String::from(
                    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                ));
                for piece in PIECES {
                    events.push(format!(
                        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{piece}\"}}}}\n\n"
                    ));
                }
                events.push(String::from(
                    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                ));
                events.push(String::from(
                    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n",
                ));
                events.push(String::from(
                    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                ));
            }
            Protocol::Gemini => {
                let last = PIECES.len() - 1;
                for (i, piece) in PIECES.iter().enumerate() {
                    let tail = if i == last {
                        ",\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":5,\"totalTokenCount\":17}"
                    } else {
                        "}]"
                    };
                    events.push(format!(
                        "data: {{\"candidates\":[{{\"content\":{{\"role\":\"model\",\"parts\":[{{\"text\":\"{piece}\"}}]}},\"index\":0{tail},\"modelVersion\":{model},\"responseId\":\"sim-{id}\"}}\n\n"
                    ));
                }
            }
            Protocol::Models => events.push(String::from(MODELS)),
        }
        events.into_iter().map(Bytes::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const ALL: [Protocol; 5] = [
        Protocol::Chat,
        Protocol::Responses,
        Protocol::Messages,
        Protocol::Gemini,
        Protocol::Models,
    ];

    #[test]
    fn bodies_are_valid_json_with_escaped_model() {
        let answer = Answer::new(Some("we\"ird\nmodel"), 7, 1);
        for protocol in ALL {
            let body = answer.body(protocol);
            let parsed: Result<Value, _> = serde_json::from_str(&body);
            assert!(parsed.is_ok(), "{protocol:?}: {body}");
        }
    }

    #[test]
    fn stream_events_carry_valid_json() {
        let answer = Answer::new(Some("m\"x"), 7, 1);
        for protocol in [
            Protocol::Chat,
            Protocol::Responses,
            Protocol::Messages,
            Protocol::Gemini,
        ] {
            let events = answer.stream(protocol);
            assert!(events.len() >= 4, "{protocol:?}");
            for event in events {
                let text = String::from_utf8_lossy(&event);
                assert!(text.ends_with("\n\n"), "{text}");
                let data = text
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or_default();
                if data != "[DONE]" {
                    let parsed: Result<Value, _> = serde_json::from_str(data);
                    assert!(parsed.is_ok(), "{protocol:?}: {data}");
                }
            }
        }
    }

    #[test]
    fn pieces_spell_the_answer() {
        assert_eq!(PIECES.concat(), ANSWER_TEXT);
    }
}
