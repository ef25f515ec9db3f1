//! Gemini shapes: `GenerateContentResponse` (whole, SSE, JSON array), token counts,
//! embeddings, models.

use serde_json::{Value, json};

use super::{ANSWER_TEXT, Answer, MODEL_IDS, OUTPUT_TOKENS, PIECES, data, embedding};

/// Dimensions of a Gemini embedding unless `outputDimensionality` says otherwise.
pub(crate) const EMBEDDING_DIMS: usize = 768;

/// One `GenerateContentResponse` carrying `text`; `last` adds `finishReason`. Every chunk
/// carries `usageMetadata` with the output tokens so far, like the real API.
fn chunk(a: &Answer, text: &str, output_tokens: u64, last: bool) -> String {
    let Answer {
        model,
        input_tokens,
        cached_tokens,
        tag,
        ..
    } = a;
    let finish = if last {
        r#","finishReason":"STOP""#
    } else {
        ""
    };
    let total = input_tokens + output_tokens;
    format!(
        r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"{text}"}}]}}{finish},"index":0}}],"usageMetadata":{{"promptTokenCount":{input_tokens},"cachedContentTokenCount":{cached_tokens},"candidatesTokenCount":{output_tokens},"totalTokenCount":{total},"promptTokensDetails":[{{"modality":"TEXT","tokenCount":{input_tokens}}}]}},"modelVersion":{model},"responseId":"{tag}"}}"#
    )
}

/// The whole `:generateContent` answer.
pub(crate) fn generate_body(a: &Answer) -> String {
    chunk(a, ANSWER_TEXT, OUTPUT_TOKENS, true)
}

/// The chunks of `:streamGenerateContent`, one per piece, `finishReason` on the last.
fn chunks(a: &Answer) -> impl Iterator<Item = String> + '_ {
    let last = PIECES.len() - 1;
    PIECES.iter().enumerate().map(move |(i, piece)| {
        let tokens = if i == last {
            OUTPUT_TOKENS
        } else {
            i as u64 + 1
        };
        chunk(a, piece, tokens, i == last)
    })
}

/// `:streamGenerateContent?alt=sse`: one `data:` event per chunk.
pub(crate) fn stream_sse(a: &Answer) -> Vec<String> {
    chunks(a).map(|c| data(&c)).collect()
}

/// `:streamGenerateContent` without `alt=sse`: one JSON array, sent a chunk at a time.
pub(crate) fn stream_array(a: &Answer) -> Vec<String> {
    let mut parts: Vec<String> = chunks(a)
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                format!("[{c}")
            } else {
                format!(",\r\n{c}")
            }
        })
        .collect();
    parts.push(String::from("]"));
    parts
}

/// The `:countTokens` answer.
pub(crate) fn count_tokens(a: &Answer) -> String {
    json!({
        "totalTokens": a.input_tokens,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": a.input_tokens }],
    })
    .to_string()
}

/// The text parts of a `Content` (`{"parts":[{"text"}]}`), joined with a space.
fn content_text(content: Option<&Value>) -> String {
    content
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Dimensions asked by a request (`outputDimensionality`), else [`EMBEDDING_DIMS`].
fn dims(request: &Value) -> usize {
    request
        .get("outputDimensionality")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| (1..=65_536).contains(d))
        .unwrap_or(EMBEDDING_DIMS)
}

/// The `:embedContent` answer for `request`.
pub(crate) fn embed(request: &Value) -> String {
    let text = content_text(request.get("content"));
    json!({ "embedding": { "values": embedding(&text, dims(request)) } }).to_string()
}

/// The `:batchEmbedContents` answer: one embedding per entry of `requests`.
pub(crate) fn batch_embed(request: &Value) -> String {
    let embeddings: Vec<Value> = request
        .get("requests")
        .and_then(Value::as_array)
        .map(|requests| {
            requests
                .iter()
                .map(|r| json!({ "values": embedding(&content_text(r.get("content")), dims(r)) }))
                .collect()
        })
        .unwrap_or_default();
    json!({ "embeddings": embeddings }).to_string()
}

/// One Gemini model object.
fn model(id: &str) -> Value {
    let id = id.strip_prefix("models/").unwrap_or(id);
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "001",
        "displayName": id,
        "description": "A model simulated by rota-sim.",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens", "embedContent", "batchEmbedContents"],
        "temperature": 1.0,
        "topP": 0.95,
        "topK": 64,
    })
}

/// Gemini `GET models` (`None`) or `GET models/{id}`.
pub(crate) fn models(id: Option<&str>) -> String {
    match id {
        Some(id) => model(id).to_string(),
        None => json!({
            "models": MODEL_IDS
                .iter()
                .filter(|id| id.starts_with("gemini"))
                .map(|id| model(id))
                .collect::<Vec<_>>(),
        })
        .to_string(),
    }
}
