#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

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

// ---- rule 2: Anthropic metadata.user_id ------------------------------------------------

#[test]
fn anthropic_metadata_user_id_wins() {
    let body = json!({"metadata": {"user_id": "user-42"}, "messages": [{"role": "user", "content": LONG}]});
    assert_eq!(
        sid(Protocol::Anthropic, &body),
        Some(SessionId("user-42".into()))
    );
}

#[test]
fn anthropic_metadata_after_messages_still_wins() {
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"{LONG}"}}],"metadata":{{"user_id":"user-42"}}}}"#
    );
    let facts = inspect(Protocol::Anthropic, body.as_bytes());
    assert_eq!(facts.session_id, Some(SessionId("user-42".into())));
}

#[test]
fn anthropic_metadata_user_id_with_session_falls_through() {
    let body = json!({"metadata": {"user_id": "user_1_account_2_session-3"},
        "messages": [{"role": "user", "content": LONG}]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id(LONG));
}

#[test]
fn anthropic_metadata_empty_user_id_falls_through() {
    for metadata in [
        json!({"user_id": ""}),
        json!({"user_id": 5}),
        json!({}),
        json!("x"),
        json!(null),
    ] {
        let body = json!({"metadata": metadata, "messages": [{"role": "user", "content": LONG}]});
        assert_eq!(sid(Protocol::Anthropic, &body), text_id(LONG), "{body}");
    }
}

#[test]
fn metadata_user_id_only_for_anthropic() {
    let body = json!({"metadata": {"user_id": "user-42"}, "messages": [{"role": "user", "content": LONG}]});
    assert_eq!(sid(Protocol::OpenAiChat, &body), text_id(LONG));
}

#[test]
fn metadata_user_id_escaped_key_and_value() {
    let body = br#"{"metadata":{"user\u005fid":"u\u00e9"}}"#;
    assert_eq!(
        inspect(Protocol::Anthropic, body).session_id,
        Some(SessionId("ué".into()))
    );
}

// ---- rule 3: Anthropic -----------------------------------------------------------------

#[test]
fn anthropic_threshold_three_bytes() {
    let of = |text: &str| {
        sid(
            Protocol::Anthropic,
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
    };
    assert_eq!(of("abc"), text_id("abc"));
    assert_eq!(of("ab"), None);
    assert_eq!(of("  ab  "), None);
    assert_eq!(of(""), None);
    // The hash is over the untrimmed text; trim is only for the threshold.
    assert_eq!(of("  abc \n"), text_id("  abc \n"));
    assert_ne!(of("  abc \n"), text_id("abc"));
}

#[test]
fn anthropic_system_reminder_excluded() {
    let body = json!({"messages": [
        {"role": "user", "content": "<system-reminder>ctx</system-reminder> do it"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "real question"},
    ]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("real question"));
}

#[test]
fn anthropic_system_bracket_excluded() {
    let body = json!({"messages": [
        {"role": "user", "content": "[System note: compacted]"},
        {"role": "user", "content": "real question"},
    ]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("real question"));
}

#[test]
fn anthropic_reminder_block_excludes_whole_message() {
    // The joined text of a message is what is checked.
    let body = json!({"messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>x</system-reminder>"},
            {"type": "text", "text": "first prompt"},
        ]},
        {"role": "user", "content": [{"type": "text", "text": "second prompt"}]},
    ]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("second prompt"));
}

#[test]
fn text_blocks_joined_with_one_space() {
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("a b"));
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hello there"}, {"type": "input_text", "text": "general kenobi"}]}]});
    assert_eq!(
        sid(Protocol::OpenAiChat, &body),
        text_id("hello there general kenobi")
    );
}

#[test]
fn non_text_blocks_skipped() {
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "data": "AAAA", "text": "nope"}},
        {"type": "text", "text": "a"},
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "zzz"}]},
        "stray",
        {"text": "untyped"},
        {"type": "text", "text": "b"},
    ]}]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("a b"));
    // Only non-text blocks: nothing qualifies in that message.
    let body = json!({"messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": LONG}]},
        {"role": "user", "content": "second one"},
    ]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("second one"));
}

#[test]
fn first_qualifying_message_chosen() {
    let body = json!({"messages": [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second question"},
    ]});
    assert_eq!(sid(Protocol::Anthropic, &body), text_id("first question"));
    assert_eq!(sid(Protocol::OpenAiChat, &body), text_id("first question"));
}

#[test]
fn assistant_and_system_messages_ignored() {
    let body = json!({"system": "you are helpful and long enough", "messages": [
        {"role": "system", "content": "a long system prompt here"},
        {"role": "developer", "content": "a long developer prompt"},
        {"role": "assistant", "content": "a long assistant message"},
        {"content": "a role-less message here"},
        {"role": 1, "content": "a numeric-role message"},
    ]});
    for p in [Protocol::Anthropic, Protocol::OpenAiChat] {
        assert_eq!(sid(p, &body), None);
    }
    let body = json!({"messages": [
        {"role": "system", "content": "a long system prompt here"},
        {"role": "user", "content": "the user question"},
    ]});
    assert_eq!(
        sid(Protocol::OpenAiChat, &body),
        text_id("the user question")
    );
}

#[test]
fn same_id_turn_one_and_turn_five() {
    let mut messages = vec![json!({"role": "user", "content": "start a conversation"})];
    let turn1 = json!({"model": "m1", "messages": messages.clone()});
    for i in 0..4 {
        messages.push(json!({"role": "assistant", "content": format!("reply {i}")}));
        messages.push(
            json!({"role": "user", "content": [{"type": "text", "text": format!("more {i}")}]}),
        );
    }
    let turn5 = json!({"model": "m2", "system": "changed", "messages": messages});
    for p in [Protocol::Anthropic, Protocol::OpenAiChat] {
        assert_eq!(sid(p, &turn1), text_id("start a conversation"));
        assert_eq!(sid(p, &turn5), sid(p, &turn1));
    }
}

#[test]
fn role_after_content() {
    let body = format!(
        r#"{{"messages":[{{"content":"assistant text here","role":"assistant"}},
            {{"content":[{{"text":"b","type":"text"}},{{"type":"image"}}],"role":"user"}},
            {{"content":"{LONG}","role":"user"}}]}}"#
    );
    assert_eq!(
        inspect(Protocol::OpenAiChat, body.as_bytes()).session_id,
        text_id(LONG)
    );
    // For Anthropic "b" is too short too, so the third message wins as well…
    assert_eq!(
        inspect(Protocol::Anthropic, body.as_bytes()).session_id,
        text_id(LONG)
    );
    // …but three bytes after the role qualify.
    let body = r#"{"messages":[{"content":"xyz","role":"user"}]}"#;
    assert_eq!(
        inspect(Protocol::Anthropic, body.as_bytes()).session_id,
        text_id("xyz")
    );
}

#[test]
fn escaped_keys_match() {
    let body = br#"{"m\u0065ssages":[{"r\u006fle":"us\u0065r","cont\u0065nt":"escaped keys ok"}]}"#;
    assert_eq!(
        inspect(Protocol::Anthropic, body).session_id,
        text_id("escaped keys ok")
    );
}

#[test]
fn escapes_decode_before_hashing() {
    let body = br#"{"messages":[{"role":"user","content":"line\none \"q\" caf\u00e9 \ud83d\ude00 \/ \\ \t"}]}"#;
    let want = "line\none \"q\" café 😀 / \\ \t";
    assert_eq!(inspect(Protocol::Anthropic, body).session_id, text_id(want));
    let body = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": want}]}]});
    assert_eq!(sid(Protocol::OpenAiChat, &body), text_id(want));
}

// ---- rule 3: OpenAI --------------------------------------------------------------------

#[test]
fn openai_threshold_more_than_ten_bytes() {
    let of = |text: &str| {
        sid(
            Protocol::OpenAiChat,
            &json!({"messages": [{"role": "user", "content": text}]}),
        )
    };
    assert_eq!(of("0123456789"), None);
    assert_eq!(of("   0123456789   "), None);
    assert_eq!(of("0123456789a"), text_id("0123456789a"));
    // Bytes, not chars: 6 × 'é' = 12 bytes.
    assert_eq!(of("éééééé"), text_id("éééééé"));
}

#[test]
fn openai_system_reminder_excluded_but_not_bracket() {
    let body = json!({"messages": [
        {"role": "user", "content": "<system-reminder> stuff </system-reminder>"},
        {"role": "user", "content": "[System] is fine for OpenAI"},
    ]});
    assert_eq!(
        sid(Protocol::OpenAiChat, &body),
        text_id("[System] is fine for OpenAI")
    );
}

#[test]
fn responses_plain_string_input() {
    let body = json!({"model": "gpt", "input": "tell me a story please"});
    assert_eq!(
        sid(Protocol::OpenAiResponses, &body),
        text_id("tell me a story please")
    );
    assert_eq!(
        sid(Protocol::OpenAiResponses, &json!({"input": "too short"})),
        None
    );
    // `input` means nothing for chat completions.
    assert_eq!(sid(Protocol::OpenAiChat, &body), None);
}

#[test]
fn responses_item_arrays() {
    let body = json!({"input": [
        {"type": "function_call_output", "call_id": "c", "output": "a long tool output"},
        {"role": "developer", "content": "a long developer prompt"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": "data:..."},
            {"type": "input_text", "text": "describe this"},
            {"type": "input_text", "text": "image"},
        ]},
        {"role": "user", "content": "a later user message"},
    ]});
    assert_eq!(
        sid(Protocol::OpenAiResponses, &body),
        text_id("describe this image")
    );
    let body = json!({"input": [{"role": "user", "content": "string content works"}]});
    assert_eq!(
        sid(Protocol::OpenAiResponses, &body),
        text_id("string content works")
    );
}

// ---- rule 3: Gemini --------------------------------------------------------------------

#[test]
fn gemini_parts_joined() {
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": "what is"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}, {"text": "this thing"}]},
        {"role": "model", "parts": [{"text": "a model reply here"}]},
    ], "systemInstruction": {"parts": [{"text": "a long system instruction"}]}});
    assert_eq!(sid(Protocol::Gemini, &body), text_id("what is this thing"));
}

#[test]
fn gemini_missing_role_is_user() {
    let body = json!({"contents": [{"parts": [{"text": "no role given here"}]}]});
    assert_eq!(sid(Protocol::Gemini, &body), text_id("no role given here"));
    let body = json!({"contents": [
        {"role": "model", "parts": [{"text": "a model reply here"}]},
        {"parts": [{"text": "short"}]},
        {"role": "user", "parts": [{"text": "qualifying text"}]},
    ]});
    assert_eq!(sid(Protocol::Gemini, &body), text_id("qualifying text"));
    // Gemini messages use `parts`, not `content`.
    let body = json!({"contents": [{"role": "user", "content": "not gemini content"}]});
    assert_eq!(sid(Protocol::Gemini, &body), None);
}

#[test]
fn other_protocol_has_no_session() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": LONG}]});
    let facts = inspect(Protocol::Other, body.to_string().as_bytes());
    assert_eq!(facts.session_id, None);
    assert_eq!(facts.model.as_deref(), Some("m"));
    assert_eq!(facts.protocol, Some(Protocol::Other));
}

#[test]
fn nothing_qualifies_no_session() {
    for p in ALL {
        assert_eq!(
            sid(p, &json!({"messages": [], "input": [], "contents": []})),
            None
        );
        assert_eq!(
            sid(p, &json!({"messages": "x", "input": 5, "contents": {}})),
            None
        );
    }
}

// ---- reference model and property tests ------------------------------------------------

/// SPEC §2 rules 2–4 over a parsed `serde_json::Value`, written as plainly as possible.
fn reference(protocol: Protocol, v: &Value) -> Option<SessionId> {
    let obj = v.as_object()?;
    if protocol == Protocol::Anthropic
        && let Some(Value::String(u)) = obj.get("metadata").and_then(|m| m.get("user_id"))
        && !u.is_empty()
        && !u.contains("session-")
    {
        return Some(SessionId(u.as_str().into()));
    }
    let gemini = protocol == Protocol::Gemini;
    let (list_key, content_key) = match protocol {
        Protocol::Anthropic | Protocol::OpenAiChat => ("messages", "content"),
        Protocol::OpenAiResponses => ("input", "content"),
        Protocol::Gemini => ("contents", "parts"),
        Protocol::Other => return None,
    };
    let list = obj.get(list_key)?;
    if let (Protocol::OpenAiResponses, Value::String(s)) = (protocol, list) {
        return qualifies(protocol, s).then(|| text_session_id(s));
    }
    for item in list.as_array()? {
        let Some(m) = item.as_object() else { continue };
        let is_user = match m.get("role") {
            Some(Value::String(r)) => r == "user",
            None => gemini,
            Some(_) => false,
        };
        if !is_user {
            continue;
        }
        let text = match m.get(content_key) {
            Some(Value::String(s)) if !gemini => Some(s.clone()),
            Some(Value::Array(blocks)) => {
                let pieces: Vec<&str> = blocks
                    .iter()
                    .filter_map(|b| {
                        let b = b.as_object()?;
                        let text = b.get("text")?.as_str()?;
                        let typed = matches!(
                            b.get("type").and_then(Value::as_str),
                            Some("text" | "input_text")
                        );
                        (gemini || typed).then_some(text)
                    })
                    .collect();
                (!pieces.is_empty()).then(|| pieces.join(" "))
            }
            _ => None,
        };
        if let Some(text) = text
            && qualifies(protocol, &text)
        {
            return Some(text_session_id(&text));
        }
    }
    None
}

/// Serialises with object keys in reverse-sorted order (serde_json's map is sorted), so
/// both key orders (`role` before and after `content`, `type` before and after `text`) run.
fn to_string_reversed(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), to_string_reversed(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(to_string_reversed).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

fn any_protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(ALL.to_vec())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "model",
            "stream",
            "messages",
            "input",
            "contents",
            "metadata",
            "user_id",
            "role",
            "content",
            "parts",
            "type",
            "text",
            "user",
            "assistant",
            "input_text",
        ])
        .prop_map(String::from),
        "\\PC{0,6}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        key().prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::from),
        "[\\u{0}-\\u{7f}]{0,30}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[a-z ]{0,16}",
        "[ \t\n\"\\\\]{0,4}[a-z]{0,14}[ \n]{0,3}",
        "\\PC{0,8}".prop_map(|s| format!("<system-reminder>{s}</system-reminder> and more")),
        "\\PC{0,8}".prop_map(|s| format!("[System] {s} and then some")),
    ]
}

fn block() -> impl Strategy<Value = Value> {
    let ty = prop::option::of(prop::sample::select(vec![
        "text",
        "input_text",
        "image",
        "tool_result",
    ]));
    (ty, prop::option::of(text())).prop_map(|(ty, text)| {
        let mut b = serde_json::Map::new();
        if let Some(ty) = ty {
            b.insert("type".into(), json!(ty));
        }
        if let Some(text) = text {
            b.insert("text".into(), json!(text));
        }
        Value::Object(b)
    })
}

fn message() -> impl Strategy<Value = Value> {
    let role = prop::option::of(prop_oneof![
        prop::sample::select(vec!["user", "user", "assistant", "system", "model"])
            .prop_map(Value::from),
        Just(json!(7)),
    ]);
    let content = prop_oneof![
        text().prop_map(Value::from),
        prop::collection::vec(block(), 0..4).prop_map(Value::Array),
        Just(Value::Null),
    ];
    let key = prop::sample::select(vec!["content", "parts"]);
    (role, key, content).prop_map(|(role, key, content)| {
        let mut m = serde_json::Map::new();
        if let Some(role) = role {
            m.insert("role".into(), role);
        }
        m.insert(key.into(), content);
        Value::Object(m)
    })
}

fn conversation() -> impl Strategy<Value = Value> {
    let user_id = prop::option::of(prop_oneof![
        Just(json!("")),
        Just(json!("user-1")),
        Just(json!("a_session-b")),
        Just(json!(3)),
    ]);
    let list_key = prop::sample::select(vec!["messages", "input", "contents"]);
    let list = prop_oneof![
        4 => prop::collection::vec(message(), 0..6).prop_map(Value::Array),
        1 => text().prop_map(Value::from),
    ];
    (
        user_id,
        list_key,
        list,
        prop::option::of("[a-z-]{0,10}"),
        any::<bool>(),
    )
        .prop_map(|(user_id, list_key, list, model, stream)| {
            let mut body = json!({ list_key: list, "stream": stream });
            if let Some(user_id) = user_id {
                body["metadata"] = json!({ "user_id": user_id });
            }
            if let Some(model) = model {
                body["model"] = json!(model);
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_bytes(p in any_protocol(), body in prop::collection::vec(any::<u8>(), 0..256)) {
        let facts = inspect(p, &body);
        if matches!(facts.body, BodyShape::Malformed(_)) {
            prop_assert_eq!(facts.session_id, None);
        }
    }

    #[test]
    fn never_panics_on_json_like_bytes(
        p in any_protocol(),
        body in prop::collection::vec(prop::sample::select(b"{}[]\":,\\ u0123456789aeflnrstx-+.E\xc3\xa9".to_vec()), 0..128),
    ) {
        let _ = inspect(p, &body);
    }

    #[test]
    fn valid_json_agrees_with_serde(p in any_protocol(), v in any_json()) {
        for body in [serde_json::to_string(&v).unwrap(), to_string_reversed(&v)] {
            let facts = inspect(p, body.as_bytes());
            let want = if v.is_object() { BodyShape::JsonObject } else { BodyShape::JsonOther };
            prop_assert_eq!(facts.body, want, "{}", body);
            prop_assert_eq!(facts.session_id, reference(p, &v), "{}", body);
            prop_assert_eq!(facts.model.as_deref(), v.get("model").and_then(Value::as_str));
            prop_assert_eq!(facts.stream, v.get("stream") == Some(&Value::Bool(true)));
        }
    }

    #[test]
    fn truncated_json_is_malformed_exactly_when_serde_says_so(v in any_json(), cut in any::<prop::sample::Index>()) {
        let body = serde_json::to_string(&v).unwrap();
        let cut = cut.index(body.len() + 1);
        let prefix = &body.as_bytes()[..cut];
        let serde_ok = serde_json::from_slice::<Value>(prefix).is_ok();
        let facts = inspect(Protocol::Anthropic, prefix);
        let ours_ok = !matches!(facts.body, BodyShape::Malformed(_));
        prop_assert_eq!(ours_ok, serde_ok || prefix.trim_ascii().is_empty(), "{:?}", String::from_utf8_lossy(prefix));
    }

    #[test]
    fn string_skipping_agrees_with_serde(
        tokens in prop::collection::vec(
            prop_oneof![
                20 => prop::sample::select(vec!["a", "bc", " ", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\uD83D\\uDE00", "\\\\\\\""]),
                1 => prop::sample::select(vec!["\"", "\\", "\\q", "\\u0G00", "\\uDC00", "\\u12"]),
            ],
            0..80,
        ),
        prefix in 0usize..9,
    ) {
        // Escape-dense strings across word boundaries, mostly valid; both skip and decode paths.
        let text = tokens.concat();
        let pad = " ".repeat(prefix);
        for body in [
            format!("{pad}\"{text}\""),
            format!("{{\"x\":\"{pad}{text}\",\"model\":\"{text}\"}}"),
        ] {
            let serde = serde_json::from_str::<Value>(&body);
            let facts = inspect(Protocol::OpenAiChat, body.as_bytes());
            // Lone surrogates in skipped strings are accepted on purpose (see `scan`), and so
            // are invalid escapes in the first body's only string, which is skipped. The
            // second body decodes the same text as `model`, so there serde's verdict holds.
            let lone_surrogate = serde.as_ref().is_err_and(|e| e.to_string().contains("surrogate"));
            let ours_ok = !matches!(facts.body, BodyShape::Malformed(_));
            if serde.is_ok() {
                prop_assert!(ours_ok, "{}", body);
            } else if !lone_surrogate && body.starts_with('{') {
                prop_assert!(!ours_ok, "{}", body);
            }
            if let Ok(v) = serde {
                prop_assert_eq!(facts.model.as_deref(), v.get("model").and_then(Value::as_str));
            }
        }
    }

    #[test]
    fn skipping_a_string_ends_where_reading_it_does(
        tokens in prop::collection::vec(
            prop::sample::select(vec!["a", "bc", " ", "\\n", "\\\"", "\\\\", "\\u00e9", "\\\\\\\"", "\"", "xyzxyzxyzxyzxyzxyz"]),
            0..120,
        ),
    ) {
        // Valid escapes only; the string ends at the first unescaped quote (or not at all).
        let body = format!("\"{}", tokens.concat());
        let mut read = scan::Scanner::new(body.as_bytes(), 0);
        let mut skip = scan::Scanner::new(body.as_bytes(), 0);
        let read_ok = read.string().is_ok();
        let skip_ok = skip.skip_value(0).is_ok();
        prop_assert_eq!(read_ok, skip_ok, "{}", body);
        if read_ok {
            prop_assert_eq!(read.pos(), skip.pos(), "{}", body);
        }
    }

    #[test]
    fn conversations_match_reference(p in any_protocol(), v in conversation()) {
        for body in [serde_json::to_string(&v).unwrap(), to_string_reversed(&v)] {
            let facts = inspect(p, body.as_bytes());
            prop_assert_eq!(facts.body, BodyShape::JsonObject);
            prop_assert_eq!(&facts.session_id, &reference(p, &v), "{}", body);
            prop_assert_eq!(facts.model.as_deref(), v.get("model").and_then(Value::as_str));
            if let Some(span) = facts.model_span {
                prop_assert_eq!(Some(&body[span]), v.get("model").and_then(Value::as_str));
            }
        }
    }

    #[test]
    fn id_stable_when_later_messages_appended(
        p in prop::sample::select(vec![Protocol::Anthropic, Protocol::OpenAiChat, Protocol::OpenAiResponses, Protocol::Gemini]),
        first in "\\PC{11,60}",
        later in prop::collection::vec(message(), 0..8),
    ) {
        let (list_key, content_key) = match p {
            Protocol::OpenAiResponses => ("input", "content"),
            Protocol::Gemini => ("contents", "parts"),
            _ => ("messages", "content"),
        };
        let content = if p == Protocol::Gemini { json!([{ "text": first }]) } else { json!(first) };
        let mut messages = vec![json!({ "role": "user", content_key: content })];
        let turn1 = inspect(p, json!({ list_key: messages }).to_string().as_bytes()).session_id;
        messages.extend(later);
        let turn_n = inspect(p, json!({ list_key: messages }).to_string().as_bytes()).session_id;
        prop_assert_eq!(&turn1, &turn_n);
        if qualifies(p, &first) {
            prop_assert_eq!(turn1, Some(text_session_id(&first)));
        }
    }
}

// ---- timing (manual) -------------------------------------------------------------------

/// `cargo test -p rota-core --release --lib fingerprint::tests::timing -- --ignored --nocapture`
#[test]
#[ignore = "manual timing, run in release mode"]
fn timing_one_megabyte() {
    use std::time::Instant;
    let escapey = "let x = \"quoted\";\n\tcall(x, 'y') // é ".repeat(60);
    let prose =
        "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod ".repeat(30);
    let code =
        "    if let Some(x) = map.get(\"key\") {\n        return Err(x);\n    }\n".repeat(40);
    for filler in [escapey, code, prose] {
        let mut messages =
            vec![json!({"role": "user", "content": "please help me refactor this crate"})];
        let mut i = 0;
        while serde_json::to_string(&messages).unwrap().len() < 1_000_000 {
            messages.push(json!({"role": "assistant", "content": [
                {"type": "text", "text": format!("{i} {filler}")},
                {"type": "tool_use", "id": format!("t{i}"), "name": "read", "input": {"path": "src/lib.rs", "n": i}},
            ]}));
            messages.push(json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": format!("t{i}"), "content": filler.clone()},
            ]}));
            i += 1;
        }
        let body =
            json!({"model": "claude", "stream": true, "max_tokens": 4096, "messages": messages});
        let body = body.to_string();
        let body = body.as_bytes();
        // Best of many runs: the machine may be shared.
        let best = |f: &dyn Fn()| {
            (0..300)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let ours = best(&|| {
            std::hint::black_box(inspect(Protocol::Anthropic, std::hint::black_box(body)));
        });
        let serde = best(&|| {
            std::hint::black_box(
                serde_json::from_slice::<Value>(std::hint::black_box(body)).unwrap(),
            );
        });
        println!(
            "{} bytes, {} backslashes: inspect {ours:?}, serde_json::Value {serde:?}, ratio {:.1}x",
            body.len(),
            body.iter().filter(|&&b| b == b'\\').count(),
            serde.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
