//! What each endpoint reads from a request body, and its successful answer.

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cache::Chain;

use crate::objects::Objects;
use crate::responses;
use crate::route::{Endpoint, GeminiMethod};
use crate::shapes::{Answer, Body, Reply, anthropic, gemini, openai, texts};

/// The parts of a JSON request body the hot routes look at; everything else is skipped (but
/// must be valid JSON). The conversation is borrowed as raw JSON text.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    stream: Option<Value>,
    #[serde(default)]
    stream_options: Option<Value>,
    /// Anthropic `system`.
    #[serde(default, borrow)]
    system: Option<&'a RawValue>,
    /// Chat and Anthropic `messages`.
    #[serde(default, borrow)]
    messages: Option<&'a RawValue>,
    /// Legacy completions `prompt`.
    #[serde(default, borrow)]
    prompt: Option<&'a RawValue>,
    /// Gemini `systemInstruction`.
    #[serde(
        default,
        borrow,
        rename = "systemInstruction",
        alias = "system_instruction"
    )]
    system_instruction: Option<&'a RawValue>,
    /// Gemini `contents`.
    #[serde(default, borrow)]
    contents: Option<&'a RawValue>,
}

/// What a request asked for, once its path and body are understood.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// The body's `"model"`, or the path's.
    pub(crate) model: Option<String>,
    /// Whether the answer is streamed.
    pub(crate) stream: bool,
    /// `stream_options.include_usage` (OpenAI).
    pub(crate) include_usage: bool,
    /// The whole body, for the endpoints that read more than the model and stream flag.
    pub(crate) json: Option<Value>,
    /// A turn's conversation as the prompt cache sees it (`None` for other endpoints).
    pub(crate) prompt: Option<Chain>,
}

/// A turn's conversation, in order, system prompt first: Chat `messages`; completions
/// `prompt`; Responses `instructions` then `input`; Anthropic `system` then `messages`; Gemini
/// `systemInstruction` then `contents`. Each part is its JSON text without insignificant
/// whitespace, parts separated by a newline.
fn prompt_of(endpoint: &Endpoint, probe: &Probe<'_>, json: Option<&Value>) -> Option<Chain> {
    if !endpoint.is_turn() {
        return None;
    }
    let mut chain = Chain::default();
    let mut part = |text: &str| {
        chain.extend_json(text.as_bytes());
        chain.push(b'\n');
    };
    if let (Endpoint::Responses, Some(json)) = (endpoint, json) {
        for name in ["instructions", "input"] {
            if let Some(value) = json.get(name).filter(|v| !v.is_null()) {
                part(&value.to_string());
            }
        }
    } else {
        let parts = [
            probe.system,
            probe.system_instruction,
            probe.messages,
            probe.contents,
            probe.prompt,
        ];
        for raw in parts.into_iter().flatten() {
            part(raw.get());
        }
    }
    Some(chain)
}

/// Whether `endpoint` reads its whole body (rather than the [`Probe`] fields).
fn reads_whole_body(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Responses
            | Endpoint::Embeddings
            | Endpoint::Conversations
            | Endpoint::Gemini {
                method: GeminiMethod::Embed | GeminiMethod::BatchEmbed,
                ..
            }
    )
}

/// Reads the model and stream flag from the path and the body (a JSON object where the
/// endpoint takes one).
pub(crate) fn parse(endpoint: &Endpoint, body: &[u8]) -> Result<Parsed, String> {
    let path_model = endpoint.path_model().map(str::to_owned);
    let empty = body.iter().all(u8::is_ascii_whitespace);
    let optional = !endpoint.wants_body();
    if optional && (empty || !reads_whole_body(endpoint)) {
        return Ok(Parsed {
            model: path_model,
            ..Parsed::default()
        });
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(String::from("request body must be a JSON object"));
    }
    let (probe, json) = if reads_whole_body(endpoint) {
        let json: Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let probe = Probe {
            model: json.get("model").cloned(),
            stream: json.get("stream").cloned(),
            stream_options: json.get("stream_options").cloned(),
            system: None,
            messages: None,
            prompt: None,
            system_instruction: None,
            contents: None,
        };
        (probe, Some(json))
    } else {
        let probe: Probe<'_> =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        (probe, None)
    };
    let body_model = match &probe.model {
        Some(Value::String(model)) => Some(model.clone()),
        _ => None,
    };
    let stream = match endpoint {
        Endpoint::Gemini { method, .. } => *method == GeminiMethod::Stream,
        Endpoint::Chat | Endpoint::Completions | Endpoint::Responses | Endpoint::Messages => {
            matches!(probe.stream, Some(Value::Bool(true)))
        }
        _ => false,
    };
    let include_usage = probe
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let prompt = prompt_of(endpoint, &probe, json.as_ref());
    Ok(Parsed {
        model: path_model.or(body_model),
        stream,
        include_usage,
        json,
        prompt,
    })
}

/// One request, understood.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// The endpoint.
    pub(crate) endpoint: &'a Endpoint,
    /// The credential that owns what the request creates (`""` without one).
    pub(crate) key: &'a str,
    /// What was parsed.
    pub(crate) parsed: &'a Parsed,
    /// Stream (`Some(true)`) or not (`Some(false)`) whatever the request asked: a stalled
    /// answer's `sse` flag.
    pub(crate) stream_override: Option<bool>,
    /// Gemini streams as SSE (`?alt=sse`) rather than one JSON array.
    pub(crate) sse: bool,
}

impl Ctx<'_> {
    fn stream(&self) -> bool {
        self.stream_override.unwrap_or(self.parsed.stream)
    }
}

/// The answer to `ctx` when its script says the request succeeds (which may still be an
/// error: an object of another account is not found).
pub(crate) fn ok_reply(ctx: &Ctx<'_>, a: &Answer, objects: &Mutex<Objects>) -> Reply {
    let stream = ctx.stream();
    let json = ctx.parsed.json.as_ref();
    match ctx.endpoint {
        Endpoint::Chat if stream => Reply::sse(openai::chat_stream(a, ctx.parsed.include_usage)),
        Endpoint::Chat => Reply::json(openai::chat_body(a)),
        Endpoint::Completions if stream => {
            Reply::sse(openai::completion_stream(a, ctx.parsed.include_usage))
        }
        Endpoint::Completions => Reply::json(openai::completion_body(a)),
        Endpoint::Responses => responses::create(
            &mut objects.lock(),
            ctx.key,
            json,
            a,
            stream,
            ctx.parsed.prompt.as_ref(),
        ),
        Endpoint::Response { id, action } => {
            responses::object(&mut objects.lock(), ctx.key, id, *action)
        }
        Endpoint::Conversations => {
            responses::create_conversation(&mut objects.lock(), ctx.key, json, a)
        }
        Endpoint::Conversation { id, action } => {
            responses::conversation(&mut objects.lock(), ctx.key, id, *action)
        }
        Endpoint::Embeddings => {
            let inputs = texts(json.and_then(|j| j.get("input")));
            let dims = json
                .and_then(|j| j.get("dimensions"))
                .and_then(Value::as_u64)
                .and_then(|d| usize::try_from(d).ok())
                .filter(|d| (1..=65_536).contains(d))
                .unwrap_or(1536);
            let as_base64 = json
                .and_then(|j| j.get("encoding_format"))
                .and_then(Value::as_str)
                == Some("base64");
            Reply::json(openai::embeddings(a, &inputs, dims, as_base64))
        }
        Endpoint::Models { id } => Reply::json(openai::models(id.as_deref())),
        Endpoint::Messages if stream => Reply::sse(anthropic::message_stream(a)),
        Endpoint::Messages => Reply::json(anthropic::message_body(a)),
        Endpoint::CountTokens => Reply::json(anthropic::count_tokens(a)),
        Endpoint::AnthropicModels { id } => Reply::json(anthropic::models(id.as_deref())),
        Endpoint::Gemini { method, .. } => {
            let empty = Value::Null;
            let request = json.unwrap_or(&empty);
            match method {
                GeminiMethod::Generate | GeminiMethod::Stream if stream && ctx.sse => {
                    Reply::sse(gemini::stream_sse(a))
                }
                GeminiMethod::Generate | GeminiMethod::Stream if stream => Reply {
                    status: http::StatusCode::OK,
                    body: Body::Chunked(
                        gemini::stream_array(a)
                            .into_iter()
                            .map(Into::into)
                            .collect(),
                    ),
                },
                GeminiMethod::Generate | GeminiMethod::Stream => {
                    Reply::json(gemini::generate_body(a))
                }
                GeminiMethod::CountTokens => Reply::json(gemini::count_tokens(a)),
                GeminiMethod::Embed => Reply::json(gemini::embed(request)),
                GeminiMethod::BatchEmbed => Reply::json(gemini::batch_embed(request)),
            }
        }
        Endpoint::GeminiModels { id } => Reply::json(gemini::models(id.as_deref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_non_objects_and_reads_paths() {
        assert!(parse(&Endpoint::Chat, b"[]").is_err());
        assert!(parse(&Endpoint::Chat, b"{").is_err());
        assert!(parse(&Endpoint::Chat, b"").is_err());
        let p = parse(
            &Endpoint::Chat,
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"x":[1]}"#,
        );
        assert!(
            matches!(p, Ok(Parsed { model: Some(ref m), stream: true, include_usage: true, .. }) if m == "m")
        );
        let stream = Endpoint::Gemini {
            model: "g-1".into(),
            method: GeminiMethod::Stream,
        };
        let g = parse(&stream, b"{}");
        assert!(matches!(g, Ok(Parsed { model: Some(ref m), stream: true, .. }) if m == "g-1"));
        assert!(parse(&Endpoint::Models { id: None }, b"").is_ok());
        assert!(parse(&Endpoint::Conversations, b"").is_ok());
        assert!(parse(&Endpoint::Conversations, b"[").is_err());
        let prompt_len = |body: &[u8]| {
            let generate = Endpoint::Gemini {
                model: "g".into(),
                method: GeminiMethod::Generate,
            };
            parse(&generate, body)
                .ok()
                .and_then(|p| p.prompt)
                .map_or(0, |c| c.len())
        };
        let camel = prompt_len(br#"{"systemInstruction":{"parts":[]}, "contents": [ ]}"#);
        let snake = prompt_len(br#"{"system_instruction":{"parts":[]},"contents":[]}"#);
        // `{"parts":[]}` and `[]`, each with a newline.
        assert_eq!((camel, snake), (16, 16));
        assert!(
            parse(&Endpoint::CountTokens, br#"{"messages":[]}"#).is_ok_and(|p| p.prompt.is_none())
        );
        let e = parse(&Endpoint::Embeddings, br#"{"model":"e","input":"x"}"#);
        assert!(matches!(e, Ok(Parsed { json: Some(_), .. })));
    }
}
