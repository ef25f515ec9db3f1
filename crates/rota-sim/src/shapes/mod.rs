//! Successful answers in the shapes the official SDKs parse, whole and as event sequences.
//!
//! The hot routes (chat, messages, Gemini, plain Responses) are built with `format!` around a
//! JSON-escaped model string: one allocation per answer, no `serde_json::Value` tree. The rest
//! use `serde_json::json!`.

pub(crate) mod anthropic;
pub(crate) mod gemini;
pub(crate) mod openai;

use bytes::Bytes;
use http::StatusCode;

/// The text every simulated answer carries.
pub const ANSWER_TEXT: &str = "Hello from rota-sim.";

/// [`ANSWER_TEXT`] cut into the pieces a streamed answer sends (JSON-safe, no escaping needed).
pub(crate) const PIECES: [&str; 4] = ["Hello", " from", " rota", "-sim."];

/// Output tokens of every generated answer (one per piece, plus one).
pub(crate) const OUTPUT_TOKENS: u64 = 5;

/// The models every model list names.
pub(crate) const MODEL_IDS: [&str; 4] = [
    "gpt-4o",
    "claude-sonnet-4-5",
    "gemini-2.5-pro",
    "gemini-3-pro-high",
];

/// Identity of one answer.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    /// The model as a JSON string literal (quoted and escaped).
    pub(crate) model: String,
    /// The model as received (`sim-model` when none was).
    pub(crate) raw_model: String,
    /// Unique suffix of this answer's ids (hex; unique per sim and across sims).
    pub(crate) tag: String,
    /// Unix seconds.
    pub(crate) created: u64,
    /// Input tokens of the request (estimated from its body: a token per 4 bytes, at least 1),
    /// cached ones included.
    pub(crate) input_tokens: u64,
    /// Of `input_tokens`, those read from the account's prompt cache.
    pub(crate) cached_tokens: u64,
    /// Of `input_tokens`, those this answer writes to the prompt cache (reported by Anthropic
    /// only).
    pub(crate) cache_write_tokens: u64,
}

impl Answer {
    /// Builds an answer identity; `model` is escaped here.
    pub(crate) fn new(
        model: Option<&str>,
        instance: u32,
        seq: u64,
        created: u64,
        body_len: usize,
    ) -> Self {
        let raw_model = model.unwrap_or("sim-model").to_owned();
        let model =
            serde_json::to_string(&raw_model).unwrap_or_else(|_| String::from("\"sim-model\""));
        Self {
            model,
            raw_model,
            tag: format!("{instance:08x}{seq:016x}"),
            created,
            input_tokens: (body_len as u64 / 4).max(1),
            cached_tokens: 0,
            cache_write_tokens: 0,
        }
    }

    /// Sets the cached and cache-write tokens from bytes read from and written to the prompt
    /// cache (a token per 4 bytes, within the input tokens).
    pub(crate) fn set_cache(&mut self, read_bytes: usize, write_bytes: usize) {
        self.cached_tokens = (read_bytes as u64 / 4).min(self.input_tokens);
        self.cache_write_tokens =
            (write_bytes as u64 / 4).min(self.input_tokens - self.cached_tokens);
    }

    /// Anthropic's `input_tokens`: the input neither read from nor written to the cache.
    pub(crate) fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens - self.cached_tokens - self.cache_write_tokens
    }

    /// This answer's id with `prefix` (`resp_`, `msg_`, `chatcmpl-`, …).
    pub(crate) fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.tag)
    }

    /// Input plus output tokens.
    pub(crate) fn total_tokens(&self) -> u64 {
        self.input_tokens + OUTPUT_TOKENS
    }
}

/// The body of a reply.
#[derive(Debug)]
pub(crate) enum Body {
    /// One JSON document (`application/json`).
    Json(String),
    /// Server-sent events, one `Bytes` per event (`text/event-stream`).
    Sse(Vec<Bytes>),
    /// A JSON document sent in several chunks (`application/json`; Gemini streams without
    /// `alt=sse`).
    Chunked(Vec<Bytes>),
}

/// A status and a body.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status line's code.
    pub(crate) status: StatusCode,
    /// The body.
    pub(crate) body: Body,
}

impl Reply {
    /// A `200` JSON reply.
    pub(crate) fn json(body: String) -> Self {
        Self {
            status: StatusCode::OK,
            body: Body::Json(body),
        }
    }

    /// A JSON reply with `status`.
    pub(crate) fn error(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body: Body::Json(body),
        }
    }

    /// A `200` event stream.
    pub(crate) fn sse(events: Vec<String>) -> Self {
        Self {
            status: StatusCode::OK,
            body: Body::Sse(events.into_iter().map(Bytes::from).collect()),
        }
    }

    /// The first bytes of the body (a whole JSON body, or the first event or chunk).
    pub(crate) fn first_part(&self) -> Bytes {
        match &self.body {
            Body::Json(body) => Bytes::from(body.clone()),
            Body::Sse(parts) | Body::Chunked(parts) => parts.first().cloned().unwrap_or_default(),
        }
    }
}

/// One SSE event with an `event:` line: `event: {name}\ndata: {data}\n\n`.
pub(crate) fn event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// One SSE event without an `event:` line.
pub(crate) fn data(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// A deterministic unit-length vector of `dims` floats for `text` (same text, same vector).
pub(crate) fn embedding(text: &str, dims: usize) -> Vec<f32> {
    // FNV-1a seeds a xorshift generator.
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut values: Vec<f32> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // 24 random bits in [-1, 1).
            ((state >> 40) as f32 / 8_388_608.0) - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for v in &mut values {
            *v /= norm;
        }
    }
    values
}

/// Standard base64 (with padding) of `bytes`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group.first().copied().unwrap_or(0),
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Texts of a JSON value: a string, or the strings of an array (nested arrays of tokens count
/// as one text each).
pub(crate) fn texts(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) if items.iter().all(|i| i.is_number()) => {
            vec![serde_json::Value::Array(items.clone()).to_string()]
        }
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_spell_the_answer() {
        assert_eq!(PIECES.concat(), ANSWER_TEXT);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn embeddings_are_stable_unit_vectors() {
        let a = embedding("hello", 16);
        assert_eq!(a, embedding("hello", 16));
        assert_ne!(a, embedding("hellp", 16));
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }

    /// Every event of every stream is `data:` JSON (or `[DONE]`) and ends with a blank line,
    /// whatever the model's name.
    #[test]
    fn stream_events_carry_valid_json() {
        let a = Answer::new(Some("m\"x\n"), 7, 1, 1, 40);
        let echo = openai::ResponseEcho::default();
        let streams = [
            openai::chat_stream(&a, true),
            openai::completion_stream(&a, true),
            openai::responses_stream(&a, &echo),
            anthropic::message_stream(&a),
            gemini::stream_sse(&a),
        ];
        for events in streams {
            assert!(events.len() >= 4);
            for event in events {
                assert!(event.ends_with("\n\n"), "{event}");
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or_default();
                if data != "[DONE]" {
                    let parsed: Result<serde_json::Value, _> = serde_json::from_str(data);
                    assert!(parsed.is_ok(), "{data}");
                }
            }
        }
        let array = gemini::stream_array(&a).concat();
        assert!(
            serde_json::from_str::<serde_json::Value>(&array).is_ok(),
            "{array}"
        );
        for body in [
            openai::chat_body(&a),
            openai::completion_body(&a),
            anthropic::message_body(&a),
            gemini::generate_body(&a),
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok(),
                "{body}"
            );
        }
    }

    #[test]
    fn ids_are_unique_per_answer() {
        let a = Answer::new(Some("m"), 1, 1, 0, 0);
        let b = Answer::new(Some("m"), 1, 2, 0, 0);
        assert_ne!(a.id("resp_"), b.id("resp_"));
        assert!(a.id("resp_").starts_with("resp_"));
        assert_eq!(a.input_tokens, 1);
    }
}
