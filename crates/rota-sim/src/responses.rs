//! The OpenAI Responses and Conversations endpoints over the per-account object store.
//!
//! A stored response is visible only to the credential that created it, like the real API:
//! `previous_response_id` naming another account's (or an unknown) response is a 400
//! `previous_response_not_found`; `GET`/`DELETE`/`cancel`/`input_items` of one is a 404.

use http::StatusCode;
use serde_json::{Value, json};

use crate::cache::Chain;
use crate::objects::{Objects, Stored};
use crate::route::ObjectAction;
use crate::shapes::openai::{self, ResponseEcho};
use crate::shapes::{ANSWER_TEXT, Answer, Reply};

fn not_found(id: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        openai::error(
            &format!("No response found with id '{id}'."),
            "invalid_request_error",
            None,
            None,
        ),
    )
}

fn conversation_not_found(id: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        openai::error(
            &format!("Conversation with id '{id}' not found."),
            "invalid_request_error",
            None,
            None,
        ),
    )
}

/// The id a `conversation` parameter names (a string or `{"id": …}`).
fn conversation_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) => Some(id.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// The input items of a request (`input` as a string or a list), each with an id, as stored
/// for `input_items`.
fn input_items(input: Option<&Value>, a: &Answer) -> Vec<Value> {
    let item_id = |i: usize| format!("msg_{}{i:04x}", a.tag);
    let text_part = |role: &str, text: &Value| {
        let kind = if role == "assistant" {
            "output_text"
        } else {
            "input_text"
        };
        json!([{ "type": kind, "text": text }])
    };
    match input {
        Some(Value::String(text)) => vec![json!({
            "id": item_id(0),
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": text_part("user", &json!(text)),
        })],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut item = item.clone();
                if let Some(o) = item.as_object_mut() {
                    let role = o.get("role").and_then(Value::as_str).map(str::to_owned);
                    if let Some(role) = role {
                        o.entry("type").or_insert_with(|| json!("message"));
                        o.entry("status").or_insert_with(|| json!("completed"));
                        if let Some(text) = o.get("content").filter(|c| c.is_string()).cloned() {
                            o.insert("content".into(), text_part(&role, &text));
                        }
                    }
                    o.entry("id").or_insert_with(|| json!(item_id(i)));
                }
                item
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The prompt of a request that continues `previous` (a response `key` owns): that
/// response's conversation (its prompt and output), then this request's `input`; and the
/// length of the conversation it continues, in bytes. `None` if `previous` is not `key`'s or
/// was stored without one.
pub(crate) fn continued_prompt(
    objects: &Objects,
    key: &str,
    previous: &str,
    input: Option<&Value>,
) -> Option<(Chain, usize)> {
    let mut chain = objects.get_for(previous, key)?.chain.clone()?;
    let before = chain.len();
    if let Some(input) = input.filter(|i| !i.is_null()) {
        chain.extend_json(input.to_string().as_bytes());
        chain.push(b'\n');
    }
    Some((chain, before))
}

/// `POST /v1/responses`.
pub(crate) fn create(
    objects: &mut Objects,
    key: &str,
    json: Option<&Value>,
    a: &Answer,
    stream: bool,
    prompt: Option<&Chain>,
) -> Reply {
    let field = |name: &str| json.and_then(|j| j.get(name));
    let previous = field("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(previous) = &previous {
        let owned = previous.starts_with("resp_") && objects.get_for(previous, key).is_some();
        if !owned {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                openai::error(
                    &format!("Previous response with id '{previous}' not found."),
                    "invalid_request_error",
                    Some("previous_response_id"),
                    Some("previous_response_not_found"),
                ),
            );
        }
    }
    let conversation = conversation_id(field("conversation"));
    if let Some(conversation) = &conversation {
        let owned =
            conversation.starts_with("conv_") && objects.get_for(conversation, key).is_some();
        if !owned {
            return conversation_not_found(conversation);
        }
    }
    let echo = ResponseEcho {
        previous_response_id: previous,
        conversation,
        instructions: field("instructions").cloned().unwrap_or(Value::Null),
        background: field("background").and_then(Value::as_bool) == Some(true),
        store: field("store").and_then(Value::as_bool) != Some(false),
        metadata: field("metadata").cloned().unwrap_or(Value::Null),
    };
    let completed = openai::response_object(a, &echo, "completed", true);
    if echo.store {
        let mut items = input_items(field("input"), a);
        items.reverse();
        let chain = prompt.map(|prompt| {
            let mut chain = prompt.clone();
            let output = openai::message_item(a, "completed", Some(ANSWER_TEXT));
            chain.extend_json(output.to_string().as_bytes());
            chain.push(b'\n');
            chain
        });
        objects.insert(
            a.id("resp_"),
            Stored {
                owner: key.to_owned(),
                body: completed.to_string(),
                input: Value::Array(items).to_string(),
                background: echo.background,
                chain,
            },
        );
    }
    if stream {
        Reply::sse(openai::responses_stream(a, &echo))
    } else if echo.background {
        Reply::json(openai::response_object(a, &echo, "queued", false).to_string())
    } else {
        Reply::json(completed.to_string())
    }
}

/// `GET|DELETE /v1/responses/{id}`, `POST …/cancel`, `GET …/input_items`.
pub(crate) fn object(objects: &mut Objects, key: &str, id: &str, action: ObjectAction) -> Reply {
    if !id.starts_with("resp_") {
        return not_found(id);
    }
    match action {
        ObjectAction::Get => match objects.get_for(id, key) {
            Some(stored) => Reply::json(stored.body.clone()),
            None => not_found(id),
        },
        ObjectAction::Delete => {
            if objects.remove_for(id, key) {
                Reply::json(json!({ "id": id, "object": "response", "deleted": true }).to_string())
            } else {
                not_found(id)
            }
        }
        ObjectAction::Cancel => match objects.get_mut_for(id, key) {
            None => not_found(id),
            Some(stored) if !stored.background => Reply::error(
                StatusCode::BAD_REQUEST,
                openai::error(
                    "Cannot cancel a synchronous response.",
                    "invalid_request_error",
                    None,
                    None,
                ),
            ),
            Some(stored) => {
                let mut body: Value = serde_json::from_str(&stored.body).unwrap_or(Value::Null);
                body["status"] = json!("cancelled");
                stored.body = body.to_string();
                Reply::json(stored.body.clone())
            }
        },
        ObjectAction::InputItems => match objects.get_for(id, key) {
            None => not_found(id),
            Some(stored) => {
                let data: Value = serde_json::from_str(&stored.input).unwrap_or(json!([]));
                let id_at = |i: usize| data.get(i).and_then(|d| d.get("id")).cloned();
                let last = data.as_array().map_or(0, Vec::len).saturating_sub(1);
                Reply::json(
                    json!({
                        "object": "list",
                        "first_id": id_at(0),
                        "last_id": id_at(last),
                        "has_more": false,
                        "data": data,
                    })
                    .to_string(),
                )
            }
        },
    }
}

/// `POST /v1/conversations`.
pub(crate) fn create_conversation(
    objects: &mut Objects,
    key: &str,
    json: Option<&Value>,
    a: &Answer,
) -> Reply {
    let id = a.id("conv_");
    let metadata = json
        .and_then(|j| j.get("metadata"))
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let body = json!({
        "id": id,
        "object": "conversation",
        "created_at": a.created,
        "metadata": metadata,
    })
    .to_string();
    objects.insert(
        id,
        Stored {
            owner: key.to_owned(),
            body: body.clone(),
            input: String::from("[]"),
            background: false,
            chain: None,
        },
    );
    Reply::json(body)
}

/// `GET|DELETE /v1/conversations/{id}`.
pub(crate) fn conversation(
    objects: &mut Objects,
    key: &str,
    id: &str,
    action: ObjectAction,
) -> Reply {
    if !id.starts_with("conv_") {
        return conversation_not_found(id);
    }
    match action {
        ObjectAction::Delete if objects.remove_for(id, key) => Reply::json(
            json!({ "id": id, "object": "conversation.deleted", "deleted": true }).to_string(),
        ),
        ObjectAction::Get => match objects.get_for(id, key) {
            Some(stored) => Reply::json(stored.body.clone()),
            None => conversation_not_found(id),
        },
        _ => conversation_not_found(id),
    }
}
