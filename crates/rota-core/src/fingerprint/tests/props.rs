//! A reference model over `serde_json::Value`, and property tests against it.

#![allow(clippy::unwrap_used)]

use super::*;

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
