//! Token usage read from answers as they pass (SPEC §9): how much of each prompt the
//! provider served from its prompt cache.
//!
//! [`UsageReader`] reads a successful answer's frames as they go by — never holding or
//! delaying one — for the usage objects each protocol writes: `"usage"` (OpenAI chat and
//! Responses, Anthropic; in streams the chat's last chunk, Responses' `response.completed`,
//! Anthropic's `message_start` and `message_delta`) and `"usageMetadata"` (Gemini, every
//! chunk, cumulative). Several objects in one answer are merged field by field, keeping the
//! largest count. An answer without usage yields nothing: rota never guesses.
//!
//! [`Usage::input`] is the whole prompt, cached part included, under every protocol (Anthropic
//! reports its uncached input apart from cache reads and writes; they are added up here), so
//! `cached / input` is the share of the prompt the cache served.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use rota_core::Protocol;

/// A usage object split across frames is kept for at most this many bytes.
const MAX_CARRY: usize = 16 * 1024;

/// Token counts of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub cached: u64,
    /// Prompt tokens written to the cache (Anthropic's `cache_creation_input_tokens`).
    pub cache_write: u64,
    /// Generated tokens.
    pub output: u64,
}

/// The counts a usage object may carry, in one protocol or another.
#[derive(Debug, Default)]
struct Counts([u64; KEYS.len()]);

/// The keys read from usage objects, wherever they sit in one (the `cached_tokens` of
/// `prompt_tokens_details` too).
const KEYS: [&[u8]; 10] = [
    b"input_tokens",
    b"output_tokens",
    b"cache_read_input_tokens",
    b"cache_creation_input_tokens",
    b"cached_tokens",
    b"prompt_tokens",
    b"completion_tokens",
    b"promptTokenCount",
    b"cachedContentTokenCount",
    b"candidatesTokenCount",
];

impl Counts {
    fn get(&self, key: &[u8]) -> u64 {
        KEYS.iter().position(|k| *k == key).map_or(0, |i| self.0[i])
    }

    fn usage(&self, protocol: Protocol) -> Usage {
        let n = |key: &[u8]| self.get(key);
        match protocol {
            Protocol::Anthropic => {
                let (read, write) = (
                    n(b"cache_read_input_tokens"),
                    n(b"cache_creation_input_tokens"),
                );
                Usage {
                    input: n(b"input_tokens") + read + write,
                    cached: read,
                    cache_write: write,
                    output: n(b"output_tokens"),
                }
            }
            Protocol::Gemini => Usage {
                input: n(b"promptTokenCount"),
                cached: n(b"cachedContentTokenCount"),
                cache_write: 0,
                output: n(b"candidatesTokenCount"),
            },
            Protocol::OpenAiResponses => Usage {
                input: n(b"input_tokens"),
                cached: n(b"cached_tokens"),
                cache_write: 0,
                output: n(b"output_tokens"),
            },
            Protocol::OpenAiChat | Protocol::Other => Usage {
                input: n(b"prompt_tokens"),
                cached: n(b"cached_tokens"),
                cache_write: 0,
                output: n(b"completion_tokens"),
            },
        }
    }
}

impl Usage {
    fn merge(&mut self, other: Usage) {
        self.input = self.input.max(other.input);
        self.cached = self.cached.max(other.cached);
        self.cache_write = self.cache_write.max(other.cache_write);
        self.output = self.output.max(other.output);
    }
}

/// Reads one answer's frames for its usage.
#[derive(Debug)]
pub struct UsageReader {
    protocol: Protocol,
    seen: Option<Usage>,
    /// The start of a usage object the last frame cut off.
    carry: Vec<u8>,
}

impl UsageReader {
    /// A reader for an answer of `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            seen: None,
            carry: Vec::new(),
        }
    }

    /// The usage read so far (`None`: the answer carried none).
    pub fn usage(&self) -> Option<Usage> {
        self.seen
    }

    /// Reads one frame of the answer.
    ///
    /// ```
    /// use rota::core::Protocol;
    /// use rota::usage::{Usage, UsageReader};
    ///
    /// let mut r = UsageReader::new(Protocol::Anthropic);
    /// r.feed(br#"data: {"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":90,"#);
    /// r.feed(br#""cache_creation_input_tokens":0,"output_tokens":1}}}"#);
    /// r.feed(br#"data: {"type":"message_delta","usage":{"output_tokens":42}}"#);
    /// assert_eq!(r.usage(), Some(Usage { input: 100, cached: 90, cache_write: 0, output: 42 }));
    /// ```
    pub fn feed(&mut self, frame: &[u8]) {
        if self.carry.is_empty() {
            self.scan(frame);
            return;
        }
        // The carried start of an object, then the frame: scanned as the stream has them.
        let mut joint = std::mem::take(&mut self.carry);
        joint.extend_from_slice(frame);
        self.scan(&joint);
    }

    /// Finds every usage object in `bytes`; a cut-off one is carried over.
    fn scan(&mut self, bytes: &[u8]) {
        static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage"));
        let mut at = 0;
        while let Some(found) = USAGE.find(&bytes[at..]) {
            let key = at + found;
            let after_key = match key_end(&bytes[key..]) {
                KeyEnd::Usage(n) => key + n,
                KeyEnd::Other(n) => {
                    at = key + n;
                    continue;
                }
                KeyEnd::Cut => {
                    self.keep(&bytes[key..]);
                    return;
                }
            };
            match object_at(&bytes[after_key..]) {
                Object::Found(counts, end) => {
                    let usage = counts.usage(self.protocol);
                    self.seen.get_or_insert_with(Usage::default).merge(usage);
                    at = after_key + end;
                }
                Object::Other(n) => at = after_key + n.max(1),
                Object::Cut => {
                    self.keep(&bytes[key..]);
                    return;
                }
            }
        }
        // A key cut at the frame's end (`"usa`): keep the tail that could start one.
        let tail = bytes.len().saturating_sub(b"\"usageMetadata\"".len());
        if let Some(quote) = memchr::memrchr(b'"', &bytes[tail.max(at)..]) {
            let from = tail.max(at) + quote;
            if b"\"usageMetadata\"".starts_with(&bytes[from..]) {
                self.keep(&bytes[from..]);
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        if bytes.len() <= MAX_CARRY {
            self.carry = bytes.to_vec();
        }
    }
}

enum KeyEnd {
    /// `"usage"` or `"usageMetadata"` and its colon: the value starts this many bytes in.
    Usage(usize),
    /// Another key or string (`"usage_x"`, a value): skip this many bytes.
    Other(usize),
    /// The frame ends first.
    Cut,
}

/// At a `"usage…` match: whether it is a usage key followed by `:`.
fn key_end(bytes: &[u8]) -> KeyEnd {
    let name_len = if bytes.starts_with(b"\"usage\"") {
        7
    } else if bytes.starts_with(b"\"usageMetadata\"") {
        15
    } else if b"\"usageMetadata\"".starts_with(bytes) {
        return KeyEnd::Cut;
    } else {
        return KeyEnd::Other(6);
    };
    match bytes[name_len..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
    {
        None => KeyEnd::Cut,
        Some(i) if bytes[name_len + i] == b':' => KeyEnd::Usage(name_len + i + 1),
        Some(_) => KeyEnd::Other(name_len),
    }
}

enum Object {
    /// An object: the counts it carries, and where it ends (just past its `}`).
    Found(Counts, usize),
    /// The value is something else (`null`, a number): skip this many bytes.
    Other(usize),
    /// The frame ends inside it.
    Cut,
}

/// The JSON object starting after white space at the beginning of `bytes`, read in one pass:
/// every key of [`KEYS`] followed by a number, at any depth, is counted.
fn object_at(bytes: &[u8]) -> Object {
    let Some(open) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Object::Cut;
    };
    if bytes[open] != b'{' {
        return Object::Other(open);
    }
    let mut counts = Counts::default();
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // A string: up to its closing quote (escapes skipped).
                let start = i + 1;
                let mut j = start;
                loop {
                    let Some(k) = memchr::memchr2(b'"', b'\\', &bytes[j..]) else {
                        return Object::Cut;
                    };
                    if bytes[j + k] == b'\\' {
                        j += k + 2;
                        if j > bytes.len() {
                            return Object::Cut;
                        }
                        continue;
                    }
                    j += k;
                    break;
                }
                let text = &bytes[start..j];
                i = j + 1;
                // A key of ours, then `:` and a number: counted.
                let rest = &bytes[i..];
                let after = rest.len() - rest.trim_ascii_start().len();
                if rest.get(after) == Some(&b':')
                    && let Some(slot) = KEYS.iter().position(|k| *k == text)
                {
                    let value = rest[after + 1..].trim_ascii_start();
                    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
                    if let Some(n) = std::str::from_utf8(&value[..digits])
                        .ok()
                        .and_then(|d| d.parse().ok())
                    {
                        counts.0[slot] = n;
                    }
                }
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Object::Found(counts, i);
                }
            }
            _ => i += 1,
        }
    }
    Object::Cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(protocol: Protocol, frames: &[&str]) -> Option<Usage> {
        let mut r = UsageReader::new(protocol);
        for f in frames {
            r.feed(f.as_bytes());
        }
        r.usage()
    }

    fn usage(input: u64, cached: u64, cache_write: u64, output: u64) -> Option<Usage> {
        Some(Usage {
            input,
            cached,
            cache_write,
            output,
        })
    }

    #[test]
    fn every_protocols_fields() {
        let chat = r#"{"id":"c","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":64}}}"#;
        assert_eq!(read(Protocol::OpenAiChat, &[chat]), usage(100, 64, 0, 7));
        let responses = "event: response.created\ndata: {\"response\":{\"usage\":null}}\n\nevent: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":40},\"output_tokens\":5}}}\n\n";
        assert_eq!(
            read(Protocol::OpenAiResponses, &[responses]),
            usage(50, 40, 0, 5)
        );
        let anthropic = r#"{"type":"message","usage":{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":80,"output_tokens":9}}"#;
        assert_eq!(
            read(Protocol::Anthropic, &[anthropic]),
            usage(93, 80, 10, 9)
        );
        let gemini = [
            r#"data: {"candidates":[],"usageMetadata":{"promptTokenCount":30,"cachedContentTokenCount":20,"candidatesTokenCount":2}}"#,
            r#"data: {"candidates":[],"usageMetadata":{"promptTokenCount":30,"cachedContentTokenCount":20,"candidatesTokenCount":8}}"#,
        ];
        assert_eq!(read(Protocol::Gemini, &gemini), usage(30, 20, 0, 8));
    }

    #[test]
    fn no_usage_counts_nothing_and_lookalikes_are_ignored() {
        assert_eq!(read(Protocol::OpenAiChat, &[r#"{"choices":[]}"#]), None);
        let lookalikes = r#"{"text":"usage","usage_hint":{"prompt_tokens":5},"note":"say \"usage\": {} here","usage":null}"#;
        assert_eq!(read(Protocol::OpenAiChat, &[lookalikes]), None);
    }

    #[test]
    fn an_object_cut_anywhere_is_read_whole() {
        let body = r#"{"id":"x","usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":64}},"end":true}"#;
        for cut in 0..body.len() {
            let got = read(Protocol::OpenAiChat, &[&body[..cut], &body[cut..]]);
            assert_eq!(got, usage(100, 64, 0, 7), "cut at {cut}");
        }
        let gemini = r#"{"usageMetadata":{"promptTokenCount":30,"cachedContentTokenCount":20}}"#;
        for cut in 0..gemini.len() {
            let got = read(Protocol::Gemini, &[&gemini[..cut], &gemini[cut..]]);
            assert_eq!(got, usage(30, 20, 0, 0), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_any_cuts(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            cut in 0usize..400,
        ) {
            let cut = cut.min(bytes.len());
            let mut r = UsageReader::new(Protocol::Anthropic);
            r.feed(&bytes[..cut]);
            r.feed(&bytes[cut..]);
            let _ = r.usage();
        }
    }
}
