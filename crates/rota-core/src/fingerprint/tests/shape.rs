//! Body shape, model span and stream flag.

#![allow(clippy::unwrap_used)]

use super::*;

// ---- body shape ------------------------------------------------------------------------

#[test]
fn empty_body_is_empty() {
    for p in ALL {
        for body in [&b""[..], b"   \n\t\r "] {
            let facts = inspect(p, body);
            assert_eq!(facts.body, BodyShape::Empty);
            assert_eq!(facts.protocol, Some(p));
            assert_eq!(facts.session_id, None);
        }
    }
}

#[test]
fn non_object_json_is_json_other() {
    for body in [
        &b"[1, 2, {\"a\": null}]"[..],
        b"\"x\"",
        b" 42 ",
        b"true",
        b"null",
        b"-1.5e+3",
    ] {
        assert_eq!(
            inspect(Protocol::Anthropic, body).body,
            BodyShape::JsonOther
        );
    }
    assert_eq!(
        inspect(Protocol::Anthropic, b"{}").body,
        BodyShape::JsonObject
    );
}

#[test]
fn malformed_truncated() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": LONG}]}).to_string();
    for cut in 1..body.len() {
        let msg = malformed(Protocol::Anthropic, &body.as_bytes()[..cut]);
        assert_eq!(msg, "invalid JSON: unexpected end of input", "cut at {cut}");
    }
}

#[test]
fn malformed_trailing_garbage() {
    assert_eq!(
        malformed(Protocol::OpenAiChat, b"{\"model\":\"m\"} x"),
        scan::TRAILING
    );
    assert_eq!(malformed(Protocol::OpenAiChat, b"{} {}"), scan::TRAILING);
    assert_eq!(malformed(Protocol::OpenAiChat, b"1 2"), scan::TRAILING);
}

#[test]
fn malformed_structure() {
    for body in [
        &b"{\"a\" 1}"[..],
        b"{\"a\":1,}",
        b"[1,]",
        b"[1 2]",
        b"{a:1}",
        b"{\"a\":tru}",
        b"{\"a\":01}",
        b"{\"a\":1.}",
        b"{\"a\":-}",
        b"{\"a\":1e}",
        b"{\"a\":[}",
        b"{\"a\":{]}",
        b"]",
        b"\xff",
    ] {
        malformed(Protocol::Anthropic, body);
    }
}

#[test]
fn malformed_bad_escape() {
    // Escapes are validated in decoded strings only: a skipped string (here `system`) is
    // jumped over by its quotes, so an invalid escape in it is not noticed (see `scan`).
    for body in [&br#"{"system":"a\qb"}"#[..], br#"{"system":"\u12G4"}"#] {
        assert_eq!(
            inspect(Protocol::Anthropic, body).body,
            BodyShape::JsonObject
        );
    }
    malformed(Protocol::Anthropic, br#"{"model":"a\x"}"#);
    malformed(Protocol::Anthropic, br#"{"model":"\u12G4"}"#);
    malformed(
        Protocol::Anthropic,
        br#"{"messages":[{"role":"user","content":"a\qb"}]}"#,
    );
    malformed(Protocol::Anthropic, br#"{"messages":[{"role":"u\ser"}]}"#);
    malformed(Protocol::Anthropic, br#"{"metadata":{"user_id":"a\q"}}"#);
    let block = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a\q"}]}]}"#;
    malformed(Protocol::Anthropic, block);
    let lone = br#"{"messages":[{"role":"user","content":"hello \ud800 there"}]}"#;
    assert_eq!(
        malformed(Protocol::Anthropic, lone),
        "invalid JSON: invalid unicode escape in string"
    );
    malformed(Protocol::Anthropic, br#"{"model":"\udc00"}"#);
    // Invalid UTF-8 in a string that is read.
    malformed(Protocol::Anthropic, b"{\"model\":\"\xff\"}");
}

#[test]
fn malformed_deep_nesting() {
    for open in [b'[', b'{'] {
        let mut body = b"{\"x\":".to_vec();
        for _ in 0..10_000 {
            body.push(open);
            if open == b'{' {
                body.extend_from_slice(b"\"k\":");
            }
        }
        assert_eq!(
            malformed(Protocol::Anthropic, &body),
            "invalid JSON: nesting too deep"
        );
    }
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert_eq!(
        malformed(Protocol::Gemini, deep.as_bytes()),
        "invalid JSON: nesting too deep"
    );
    // 128 levels are fine, 129 are not.
    let ok = "[".repeat(128) + &"]".repeat(128);
    assert_eq!(
        inspect(Protocol::Other, ok.as_bytes()).body,
        BodyShape::JsonOther
    );
    let too_deep = "[".repeat(129) + &"]".repeat(129);
    malformed(Protocol::Other, too_deep.as_bytes());
}

// ---- model / stream --------------------------------------------------------------------

#[test]
fn model_span_and_stream() {
    let body = br#"{ "stream" : true, "model" : "claude-sonnet", "messages": [] }"#;
    let facts = inspect(Protocol::Anthropic, body);
    assert_eq!(facts.model.as_deref(), Some("claude-sonnet"));
    assert!(facts.stream);
    let span = facts.model_span.unwrap();
    assert_eq!(&body[span.clone()], b"claude-sonnet");
    let spliced = [
        &body[..span.start],
        b"other\"model".as_slice(),
        &body[span.end..],
    ]
    .concat();
    // Splicing raw bytes: the caller escapes; here a raw quote breaks the JSON on purpose.
    assert!(matches!(
        inspect(Protocol::Anthropic, &spliced).body,
        BodyShape::Malformed(_)
    ));
    let spliced = [
        &body[..span.start],
        br"other\u0021".as_slice(),
        &body[span.end..],
    ]
    .concat();
    let again = inspect(Protocol::Anthropic, &spliced);
    assert_eq!(again.model.as_deref(), Some("other!"));
    assert_eq!(again.model_span.map(|s| s.start), Some(span.start));
    assert!(again.stream);
}

#[test]
fn model_with_escapes_keeps_raw_span() {
    let body = br#"{"model":"a\"b\u00e9"}"#;
    let facts = inspect(Protocol::OpenAiChat, body);
    assert_eq!(facts.model.as_deref(), Some("a\"bé"));
    assert_eq!(&body[facts.model_span.unwrap()], br#"a\"b\u00e9"#);
}

#[test]
fn unescaped_strings_are_borrowed() {
    for text in [
        "",
        "a",
        "user",
        "12345678",
        "123456789 and more than a word",
        "x\\n",
    ] {
        let body = format!("\"{text}\"");
        let mut s = scan::Scanner::new(body.as_bytes(), 0);
        let raw = s.string().unwrap();
        let decoded = s.decode(raw).unwrap();
        assert_eq!(
            matches!(decoded, Cow::Borrowed(_)),
            !text.contains('\\'),
            "{text}"
        );
    }
}

#[test]
fn model_only_top_level_and_string() {
    let body = br#"{"messages":[{"model":"inner"}],"metadata":{"model":"x"}}"#;
    let facts = inspect(Protocol::Anthropic, body);
    assert_eq!(facts.model, None);
    assert_eq!(facts.model_span, None);
    assert_eq!(inspect(Protocol::Anthropic, br#"{"model":7}"#).model, None);
    // Gemini bodies normally carry no model; whatever is there is reported.
    let g = inspect(Protocol::Gemini, br#"{"contents":[],"model":"g"}"#);
    assert_eq!(g.model.as_deref(), Some("g"));
}

#[test]
fn stream_only_when_literally_true() {
    for (body, want) in [
        (&br#"{"stream":true}"#[..], true),
        (br#"{"stream":false}"#, false),
        (br#"{"stream":"true"}"#, false),
        (br#"{"stream":1}"#, false),
        (br#"{"x":{"stream":true}}"#, false),
        (br#"{}"#, false),
    ] {
        assert_eq!(inspect(Protocol::OpenAiChat, body).stream, want);
    }
    assert!(matches!(
        inspect(Protocol::OpenAiChat, br#"{"stream":truex}"#).body,
        BodyShape::Malformed(_)
    ));
}
