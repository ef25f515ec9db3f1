//! `rota_core::fingerprint::inspect` over arbitrary bodies, for every protocol.
//!
//! Input: the first byte picks the protocol, the rest is the body. Checked besides "no panic":
//! the facts are deterministic and consistent with the body shape; the model span lies inside
//! the body, between quotes, and decodes to the model; rewriting the span (as the gateway's
//! model mapping does) changes only the model; a session id is `sid-` + 16 lowercase hex
//! digits or (Anthropic only) a `metadata.user_id` without `session-`; and every body that
//! `serde_json` accepts is accepted with the same shape, model and stream flag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_core::{BodyShape, Protocol, RequestFacts, fingerprint};
use serde_json::Value;

const PROTOCOLS: [Protocol; 5] = [
    Protocol::Anthropic,
    Protocol::OpenAiChat,
    Protocol::OpenAiResponses,
    Protocol::Gemini,
    Protocol::Other,
];

/// The model written over the span by the rewrite check.
const REWRITTEN: &str = "rewritten-model";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let protocol = PROTOCOLS[usize::from(selector) % PROTOCOLS.len()];
    let facts = fingerprint::inspect(protocol, body);
    assert_eq!(facts.protocol, Some(protocol));
    assert_eq!(
        fingerprint::inspect(protocol, body),
        facts,
        "not deterministic"
    );
    check_shape(body, &facts);
    check_session(protocol, &facts);
    check_model_span(protocol, body, &facts);
    check_against_serde(body, &facts);
});

fn check_shape(body: &[u8], facts: &RequestFacts) {
    let nothing = facts.model.is_none()
        && facts.model_span.is_none()
        && !facts.stream
        && facts.session_id.is_none();
    match facts.body {
        BodyShape::Empty => {
            assert!(
                body.iter().all(|b| b" \t\r\n".contains(b)),
                "non-blank Empty body"
            );
            assert!(nothing, "an empty body has facts: {facts:?}");
        }
        BodyShape::Malformed(msg) => {
            assert!(msg.starts_with("invalid JSON"), "odd message {msg:?}");
            assert!(nothing, "a malformed body has facts: {facts:?}");
        }
        BodyShape::JsonOther => assert!(nothing, "a non-object body has facts: {facts:?}"),
        BodyShape::JsonObject => {}
    }
    assert_eq!(facts.model.is_some(), facts.model_span.is_some());
}

fn check_session(protocol: Protocol, facts: &RequestFacts) {
    let Some(id) = &facts.session_id else {
        return;
    };
    let id = id.as_str();
    let hashed = id.len() == 20
        && id.starts_with("sid-")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match protocol {
        Protocol::Other => panic!("Other protocol got session id {id:?}"),
        Protocol::Anthropic if !hashed => {
            assert!(
                !id.is_empty() && !id.contains("session-"),
                "bad user_id {id:?}"
            );
        }
        _ => assert!(hashed, "session id {id:?} is not sid-<16 hex>"),
    }
}

fn check_model_span(protocol: Protocol, body: &[u8], facts: &RequestFacts) {
    let (Some(model), Some(span)) = (&facts.model, &facts.model_span) else {
        return;
    };
    assert!(
        span.start <= span.end && span.end < body.len() && span.start > 0,
        "span {span:?} outside body of {} bytes",
        body.len()
    );
    assert_eq!(
        body[span.start - 1],
        b'"',
        "span does not start after a quote"
    );
    assert_eq!(body[span.end], b'"', "span does not end at a quote");
    let raw = &body[span.clone()];
    if !raw.contains(&b'\\') {
        assert_eq!(
            raw,
            model.as_bytes(),
            "unescaped span differs from the model"
        );
    }
    let quoted = [b"\"".as_slice(), raw, b"\""].concat();
    if let Ok(decoded) = serde_json::from_slice::<String>(&quoted) {
        assert_eq!(&*decoded, &**model, "span decodes to another model");
    }
    // The gateway's model mapping splices a new model into the span.
    let rewritten = [&body[..span.start], REWRITTEN.as_bytes(), &body[span.end..]].concat();
    let again = fingerprint::inspect(protocol, &rewritten);
    assert_eq!(
        again.model.as_deref(),
        Some(REWRITTEN),
        "rewrite lost the model"
    );
    assert_eq!(again.body, facts.body, "rewrite changed the body shape");
    assert_eq!(
        again.stream, facts.stream,
        "rewrite changed the stream flag"
    );
    assert_eq!(
        again.session_id, facts.session_id,
        "rewrite changed the session"
    );
    let new_span = again.model_span.expect("model came from the body");
    assert_eq!(new_span.start, span.start);
    assert_eq!(new_span.end, span.start + REWRITTEN.len());
}

fn check_against_serde(body: &[u8], facts: &RequestFacts) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let Value::Object(map) = &value else {
        assert_eq!(facts.body, BodyShape::JsonOther, "valid non-object JSON");
        return;
    };
    assert_eq!(facts.body, BodyShape::JsonObject, "valid JSON object");
    match map.get("model") {
        None => assert_eq!(facts.model, None),
        Some(Value::String(m)) => assert_eq!(facts.model.as_deref(), Some(m.as_str())),
        Some(_) => {}
    }
    assert_eq!(
        facts.stream,
        map.get("stream") == Some(&Value::Bool(true)),
        "stream flag differs from serde_json"
    );
}
