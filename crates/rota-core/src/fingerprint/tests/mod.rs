//! Tests of the fingerprint: one file per concern.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

mod blocks;
mod props;
mod rules;
mod shape;
mod timing;

const ALL: [Protocol; 5] = [
    Protocol::Anthropic,
    Protocol::OpenAiChat,
    Protocol::OpenAiResponses,
    Protocol::Gemini,
    Protocol::Other,
];

fn sid(protocol: Protocol, body: &Value) -> Option<SessionId> {
    let facts = inspect(protocol, body.to_string().as_bytes());
    assert_eq!(facts.body, BodyShape::JsonObject, "{body}");
    facts.session_id
}

fn text_id(text: &str) -> Option<SessionId> {
    Some(text_session_id(text))
}

fn malformed(protocol: Protocol, body: &[u8]) -> &'static str {
    let facts = inspect(protocol, body);
    assert_eq!(facts.session_id, None);
    assert_eq!(facts.model, None);
    match facts.body {
        BodyShape::Malformed(msg) => msg,
        other => panic!(
            "expected Malformed for {:?}, got {other:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

const LONG: &str = "please refactor the parser";

// ---- text_session_id -------------------------------------------------------------------

#[test]
fn text_session_id_known_answer() {
    assert_eq!(
        text_session_id("hello world").as_str(),
        "sid-b94d27b9934d3e08"
    );
    // sha256("") = e3b0c442...
    assert_eq!(text_session_id("").as_str(), "sid-e3b0c44298fc1c14");
}
