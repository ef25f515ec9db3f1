//! The session rules of SPEC §2, per protocol.

#![allow(clippy::unwrap_used)]

use super::*;

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

// ---- rule 3: OpenAI prompt_cache_key; the Responses object a body continues -------------

#[test]
fn prompt_cache_key_wins_for_openai_chat_and_responses() {
    let chat =
        json!({"messages": [{"role": "user", "content": LONG}], "prompt_cache_key": "user-7"});
    assert_eq!(
        sid(Protocol::OpenAiChat, &chat),
        Some(SessionId("pck-user-7".into()))
    );
    let responses = json!({"prompt_cache_key": "user-7", "input": LONG});
    assert_eq!(
        sid(Protocol::OpenAiResponses, &responses),
        Some(SessionId("pck-user-7".into()))
    );
    // empty or not a string: the text rule applies; other protocols ignore it
    for key in [json!(""), json!(7), json!(null)] {
        let body = json!({"prompt_cache_key": key, "input": LONG});
        assert_eq!(sid(Protocol::OpenAiResponses, &body), text_id(LONG));
    }
    let anthropic =
        json!({"prompt_cache_key": "user-7", "messages": [{"role": "user", "content": LONG}]});
    assert_eq!(sid(Protocol::Anthropic, &anthropic), text_id(LONG));
}

#[test]
fn responses_bodies_name_the_object_they_continue() {
    let object = |p: Protocol, body: serde_json::Value| {
        inspect(p, body.to_string().as_bytes())
            .object
            .map(|o| o.to_string())
    };
    let r = Protocol::OpenAiResponses;
    assert_eq!(
        object(r, json!({"previous_response_id": "resp_1", "input": "ok"})),
        Some("resp_1".into())
    );
    assert_eq!(
        object(r, json!({"conversation": "conv_1", "input": "ok"})),
        Some("conv_1".into())
    );
    assert_eq!(
        object(
            r,
            json!({"conversation": {"id": "conv_2", "x": [1]}, "input": "ok"})
        ),
        Some("conv_2".into())
    );
    // previous_response_id wins wherever it stands
    assert_eq!(
        object(
            r,
            json!({"conversation": "conv_1", "previous_response_id": "resp_9"})
        ),
        Some("resp_9".into())
    );
    assert_eq!(
        object(r, json!({"previous_response_id": "", "input": "ok"})),
        None
    );
    assert_eq!(object(r, json!({"previous_response_id": null})), None);
    assert_eq!(
        object(
            Protocol::OpenAiChat,
            json!({"previous_response_id": "resp_1"})
        ),
        None
    );
}
