//! The simulated clients: each conversation's requests, built turn by turn as Claude Code,
//! Codex and Gemini CLI build theirs (the whole history every turn), and an SDK's retries.

use std::time::Duration;

use bytes::Bytes;
use http::Request;

use crate::workload::{Api, Conversation};

/// The header that tells the lab's upstream how long a successful answer takes.
pub const LATENCY_HEADER: &str = "x-lab-latency-ms";

/// How many times a client retries a failed turn (Claude Code's 10; the SDKs default to 2).
pub const CLIENT_RETRIES: u32 = 10;

/// The longest `Retry-After` a client honours; past it, it backs off on its own schedule
/// (as the OpenAI and Anthropic SDKs do).
pub const MAX_HONOURED_DELAY: Duration = Duration::from_secs(60);

/// How long a client waits before retry `n` (0-based) after an answer saying `retry_after`.
pub fn client_delay(retry_after: Option<Duration>, n: u32) -> Duration {
    match retry_after {
        Some(d) if d <= MAX_HONOURED_DELAY => d,
        _ => Duration::from_millis(500 << n.min(6)).min(Duration::from_secs(8)),
    }
}

const WORDS: [&str; 16] = [
    "account", "stream", "tower", "cache", "prompt", "quota", "layer", "retry", "session", "token",
    "model", "upstream", "rotate", "answer", "budget", "window",
];

/// `bytes` of deterministic prose seeded by `seed` (lowercase words and spaces only, so it
/// needs no JSON escaping).
fn prose(seed: u64, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 10);
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
        out.push(' ');
    }
    out.truncate(bytes);
    out
}

/// The shared system prompt of an API's agent (or of its sub-agents).
pub fn system_prompt(api: Api, subagent: bool, bytes: usize) -> String {
    let seed = match api {
        Api::Anthropic => 1,
        Api::OpenAi => 2,
        Api::Gemini => 3,
    } + if subagent { 10 } else { 0 };
    prose(seed, bytes)
}

/// One conversation's history, growing a turn at a time.
#[derive(Debug)]
pub struct History {
    api: Api,
    id: u32,
    system: String,
    /// (user text, assistant text) of the turns so far.
    turns: Vec<(String, String)>,
    answer_bytes: usize,
}

impl History {
    /// An empty history of `c`.
    pub fn new(c: &Conversation, system: String, answer_bytes: usize) -> Self {
        Self {
            api: c.api,
            id: c.id,
            system,
            turns: Vec::new(),
            answer_bytes,
        }
    }

    /// Appends the next user message (of `bytes`); its answer is filled in by
    /// [`answered`](Self::answered).
    pub fn ask(&mut self, bytes: usize) {
        let k = self.turns.len() as u64;
        let mut text = format!("conversation {} turn {k} ", self.id);
        text.push_str(&prose(u64::from(self.id) << 16 | k, bytes));
        self.turns.push((text, String::new()));
    }

    /// Records the answer to the last question.
    pub fn answered(&mut self) {
        let k = self.turns.len() as u64;
        let answer = prose(u64::from(self.id) << 20 | k | 1 << 40, self.answer_bytes);
        if let Some(last) = self.turns.last_mut() {
            last.1 = answer;
        }
    }

    /// The request of the current turn.
    pub fn request(&self, stream: bool, latency: Duration) -> Request<Bytes> {
        let mut body = String::with_capacity(self.system.len() + 1024 * self.turns.len());
        let (path, json) = match self.api {
            Api::Anthropic => {
                body.push_str(r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":"#);
                body.push_str(if stream { "true" } else { "false" });
                body.push_str(r#","system":""#);
                body.push_str(&self.system);
                body.push_str(r#"","messages":["#);
                self.messages(&mut body, "assistant", |t| format!(r#""content":"{t}""#));
                body.push_str("]}");
                ("/v1/messages".to_owned(), body)
            }
            Api::OpenAi => {
                body.push_str(r#"{"model":"gpt-5","stream":"#);
                body.push_str(if stream {
                    r#"true,"stream_options":{"include_usage":true}"#
                } else {
                    "false"
                });
                body.push_str(r#","messages":[{"role":"system","content":""#);
                body.push_str(&self.system);
                body.push_str(r#""},"#);
                self.messages(&mut body, "assistant", |t| format!(r#""content":"{t}""#));
                body.push_str("]}");
                ("/v1/chat/completions".to_owned(), body)
            }
            Api::Gemini => {
                body.push_str(r#"{"systemInstruction":{"parts":[{"text":""#);
                body.push_str(&self.system);
                body.push_str(r#""}]},"contents":["#);
                self.messages(&mut body, "model", |t| {
                    format!(r#""parts":[{{"text":"{t}"}}]"#)
                });
                body.push_str("]}");
                let method = if stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                };
                (format!("/v1beta/models/gemini-2.5-pro:{method}"), body)
            }
        };
        Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(LATENCY_HEADER, latency.as_millis().to_string())
            .body(Bytes::from(json))
            .expect("a static path and valid headers")
    }

    /// The turns as `{"role":…,<content>}` objects, the last one's answer left out.
    fn messages(&self, out: &mut String, assistant: &str, content: impl Fn(&str) -> String) {
        let n = self.turns.len();
        for (i, (user, answer)) in self.turns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"role":"user","#);
            out.push_str(&content(user));
            out.push('}');
            if i + 1 < n {
                out.push_str(r#",{"role":""#);
                out.push_str(assistant);
                out.push_str(r#"","#);
                out.push_str(&content(answer));
                out.push('}');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Turn;

    fn conversation(api: Api) -> Conversation {
        Conversation {
            id: 7,
            api,
            subagent: false,
            start: Duration::ZERO,
            turns: vec![Turn {
                gap: Duration::ZERO,
                user_bytes: 50,
                latency: Duration::from_secs(1),
                stream: false,
                fanout: Vec::new(),
            }],
        }
    }

    #[test]
    fn every_turn_resends_the_history_and_the_first_message_stays_put() {
        for api in [Api::Anthropic, Api::OpenAi, Api::Gemini] {
            let c = conversation(api);
            let mut h = History::new(&c, system_prompt(api, false, 100), 80);
            h.ask(50);
            let first = h.request(false, Duration::from_secs(1));
            h.answered();
            h.ask(60);
            let second = h.request(false, Duration::from_secs(1));
            let (a, b) = (first.body(), second.body());
            let text = |b: &Bytes| String::from_utf8(b.to_vec()).expect("utf-8");
            let (a, b) = (text(a), text(b));
            assert!(b.len() > a.len() + 100, "{api:?}");
            // The same prefix up to the end of the first user message.
            let cut = a.find("turn 0").expect("first message") + 40;
            assert_eq!(a[..cut], b[..cut], "{api:?}");
            assert!(b.contains("turn 1"), "{api:?}");
        }
    }

    #[test]
    fn clients_honour_short_retry_after_and_back_off_otherwise() {
        assert_eq!(
            client_delay(Some(Duration::from_secs(3)), 0),
            Duration::from_secs(3)
        );
        assert_eq!(
            client_delay(Some(Duration::from_secs(600)), 0),
            Duration::from_millis(500)
        );
        assert_eq!(client_delay(None, 3), Duration::from_secs(4));
        assert_eq!(client_delay(None, 9), Duration::from_secs(8));
    }
}
