//! One-pass inspection of a request body: protocol facts and the session fingerprint (SPEC §2).
//!
//! [`inspect`] walks the body once with a small hand-written JSON scanner: it validates the
//! whole document's structure (so the gateway can answer 400 for a [`BodyShape::Malformed`]
//! body; escapes are validated only in strings that are read), skips string contents with
//! SIMD `memchr`, and decodes only the few strings it needs:
//! the top-level `model`, `role`/`type` tags, the text of candidate user messages and
//! Anthropic's `metadata.user_id`. Once a session id is settled it stops decoding texts but
//! keeps validating structure to the end.
//!
//! Session rules applied here (rule 1, the explicit session header, is the caller's):
//!
//! 2. Anthropic: `metadata.user_id`, if a non-empty string without `session-`, wins
//!    (wherever `metadata` sits in the body). OpenAI chat and Responses: a non-empty
//!    top-level `prompt_cache_key` wins, as `pck-` + the raw value.
//!
//! The Responses object a body continues (`previous_response_id`, else `conversation` as a
//! string or `{"id": …}`) is reported in [`RequestFacts::object`]; the session of its
//! creator (SPEC §2 rule 2) is the scheduler's to apply, as it knows the owners.
//! 3. Otherwise the **first** user message whose text qualifies is hashed with
//!    [`text_session_id`]. Text is a string content as-is, or the content array's text blocks
//!    joined with one space. The text is hashed exactly as joined (*not* trimmed); trimming is
//!    only used for the length threshold: Anthropic needs `trim()` ≥ 3 bytes and neither
//!    `<system-reminder>` nor `[System`; OpenAI chat / Responses and Gemini need `trim()`
//!    > 10 bytes and no `<system-reminder>`.
//! 4. Nothing qualifies, the body is not JSON, or the protocol is [`Protocol::Other`] → no id.
//!
//! ```
//! use rota_core::{BodyShape, Protocol, fingerprint};
//!
//! let body = br#"{"model":"claude-x","stream":true,
//!     "messages":[{"role":"user","content":"hello there"},
//!                 {"role":"assistant","content":"hi!"}]}"#;
//! let facts = fingerprint::inspect(Protocol::Anthropic, body);
//! assert_eq!(facts.body, BodyShape::JsonObject);
//! assert_eq!(facts.model.as_deref(), Some("claude-x"));
//! assert!(facts.stream);
//! assert_eq!(facts.session_id, Some(fingerprint::text_session_id("hello there")));
//!
//! // The model span lets a caller rewrite the model without re-serialising the body.
//! let span = facts.model_span.clone().expect("model came from the body");
//! let rewritten = [&body[..span.start], b"claude-y".as_slice(), &body[span.end..]].concat();
//! let again = fingerprint::inspect(Protocol::Anthropic, &rewritten);
//! assert_eq!(again.model.as_deref(), Some("claude-y"));
//! assert_eq!(again.session_id, facts.session_id);
//!
//! let broken = fingerprint::inspect(Protocol::Anthropic, br#"{"model":"#);
//! assert!(matches!(broken.body, BodyShape::Malformed(_)));
//! assert_eq!(broken.session_id, None);
//! ```

mod block;
mod scan;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use memchr::memmem::Finder;
use sha2::{Digest, Sha256};

use self::scan::{Result, Scanner};
use crate::{BodyShape, Protocol, RequestFacts, SessionId};

/// Inspects a request body in one pass: protocol facts plus the session id by SPEC §2 rules
/// 2–4 (rule 1, the explicit session header, is applied by the caller before calling this).
///
/// Never fails and never panics: a body that is not valid JSON yields
/// [`BodyShape::Malformed`] with a short client-safe description, and then carries no model,
/// stream flag or session id. An empty or whitespace-only body is [`BodyShape::Empty`].
///
/// Validation is structural: strings that are skipped are not checked for valid escapes,
/// UTF-8 validity or raw control characters; strings that are read (model, roles, block types, candidate
/// texts, `metadata.user_id`) must be valid UTF-8 with valid escapes.
///
/// For Gemini the model lives in the path; the body's top-level `model`, if any, is still
/// reported here.
pub fn inspect(protocol: Protocol, body: &[u8]) -> RequestFacts {
    let mut inspector = Inspector {
        s: Scanner::new(body, 0),
        protocol,
        model: None,
        stream: false,
        declared: None,
        object: None,
        text_id: None,
    };
    let mut facts = RequestFacts {
        protocol: Some(protocol),
        ..RequestFacts::default()
    };
    match inspector.run() {
        Ok(shape) => {
            facts.body = shape;
            if let Some((model, span)) = inspector.model {
                facts.model = Some(model.into());
                facts.model_span = Some(span);
            }
            facts.stream = inspector.stream;
            facts.session_id = match inspector.declared {
                Some(declared) => Some(SessionId(declared.into())),
                None => inspector.text_id,
            };
            facts.object = inspector.object.map(Into::into);
        }
        Err(msg) => facts.body = BodyShape::Malformed(msg),
    }
    facts
}

/// `sid-` followed by the first 16 lowercase hex characters of the SHA-256 of `text`.
///
/// ```
/// use rota_core::fingerprint::text_session_id;
/// assert_eq!(text_session_id("hello world").as_str(), "sid-b94d27b9934d3e08");
/// ```
pub fn text_session_id(text: &str) -> SessionId {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    // Written on the stack, then copied once into the shared string (one allocation).
    let mut id = *b"sid-0000000000000000";
    for (pair, byte) in id[4..].chunks_exact_mut(2).zip(digest.iter()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    let id = std::str::from_utf8(&id).expect("only ASCII hex digits were written");
    SessionId(Arc::from(id))
}

/// Whether a user message's text may be fingerprinted under `protocol` (SPEC §2 rule 3).
fn qualifies(protocol: Protocol, text: &str) -> bool {
    // The searchers are built once: `memmem::find` would build one (and its SIMD tables) per call.
    static SYSTEM_REMINDER: LazyLock<Finder<'static>> =
        LazyLock::new(|| Finder::new("<system-reminder>"));
    static SYSTEM: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("[System"));
    let has = |needle: &Finder<'_>| needle.find(text.as_bytes()).is_some();
    let trimmed = text.trim().len();
    match protocol {
        Protocol::Anthropic => trimmed >= 3 && !has(&SYSTEM_REMINDER) && !has(&SYSTEM),
        Protocol::OpenAiChat | Protocol::OpenAiResponses | Protocol::Gemini => {
            trimmed > 10 && !has(&SYSTEM_REMINDER)
        }
        Protocol::Other => false,
    }
}

/// Depths (number of enclosing containers) of the values the walk visits by name.
const TOP_MEMBER: usize = 1;
const LIST_ELEMENT: usize = 2;
const MESSAGE_MEMBER: usize = 3;
const CONTENT_ELEMENT: usize = 4;
const BLOCK_MEMBER: usize = 5;

/// A message's `role`, as far as the walk has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Unseen,
    User,
    NotUser,
}

/// The walk's state: the scanner plus what it has found so far.
#[derive(Debug)]
struct Inspector<'a> {
    s: Scanner<'a>,
    protocol: Protocol,
    /// Decoded top-level `model` and the raw span of its contents.
    model: Option<(Cow<'a, str>, Range<usize>)>,
    stream: bool,
    /// A session the client declared (rule 2): a qualifying Anthropic `metadata.user_id`, or
    /// `pck-` + an OpenAI `prompt_cache_key`.
    declared: Option<Cow<'a, str>>,
    /// The Responses object the body continues (`previous_response_id` or `conversation`).
    object: Option<Cow<'a, str>>,
    /// The id from the first qualifying user message (rule 3).
    text_id: Option<SessionId>,
}

impl<'a> Inspector<'a> {
    /// Whether the session id is settled, so texts need not be decoded any more.
    fn settled(&self) -> bool {
        self.declared.is_some() || self.text_id.is_some()
    }

    /// The key holding the conversation for this protocol.
    fn conversation_key(&self) -> Option<&'static [u8]> {
        match self.protocol {
            Protocol::Anthropic | Protocol::OpenAiChat => Some(b"messages"),
            Protocol::OpenAiResponses => Some(b"input"),
            Protocol::Gemini => Some(b"contents"),
            Protocol::Other => None,
        }
    }

    fn run(&mut self) -> Result<BodyShape> {
        if self.s.at_end_after_ws() {
            return Ok(BodyShape::Empty);
        }
        let shape = if self.s.peek()? == b'{' {
            self.top_object()?;
            BodyShape::JsonObject
        } else {
            self.s.skip_value(0)?;
            BodyShape::JsonOther
        };
        if !self.s.at_end_after_ws() {
            return Err(scan::TRAILING);
        }
        Ok(shape)
    }

    fn top_object(&mut self) -> Result<()> {
        if !self.s.begin_object()? {
            return Ok(());
        }
        let conversation = self.conversation_key();
        loop {
            let key = self.s.key()?;
            let key = self.s.key_bytes(key)?;
            match &*key {
                b"model" if self.s.peek()? == b'"' => {
                    let raw = self.s.string()?;
                    self.model = Some((self.s.decode(raw)?, raw.start..raw.end));
                }
                b"stream" => {
                    self.stream = self.s.eat_true();
                    if !self.stream {
                        self.s.skip_value(TOP_MEMBER)?;
                    }
                }
                b"metadata" if self.protocol == Protocol::Anthropic => self.metadata()?,
                b"prompt_cache_key" if self.is_openai() && self.s.peek()? == b'"' => {
                    let raw = self.s.string()?;
                    let key = self.s.decode(raw)?;
                    if !key.is_empty() {
                        self.declared = Some(Cow::Owned(format!("pck-{key}")));
                    }
                }
                b"previous_response_id" if self.responses() && self.s.peek()? == b'"' => {
                    let raw = self.s.string()?;
                    let id = self.s.decode(raw)?;
                    if !id.is_empty() {
                        self.object = Some(id);
                    }
                }
                b"conversation" if self.responses() => self.conversation_ref()?,
                k if Some(k) == conversation => self.conversation()?,
                _ => self.s.skip_value(TOP_MEMBER)?,
            }
            if !self.s.next_member()? {
                return Ok(());
            }
        }
    }

    fn is_openai(&self) -> bool {
        matches!(
            self.protocol,
            Protocol::OpenAiChat | Protocol::OpenAiResponses
        )
    }

    fn responses(&self) -> bool {
        self.protocol == Protocol::OpenAiResponses
    }

    /// A Responses `conversation`: an id string or `{"id": …}`; `previous_response_id` wins.
    fn conversation_ref(&mut self) -> Result<()> {
        let id = match self.s.peek()? {
            b'"' => {
                let raw = self.s.string()?;
                Some(self.s.decode(raw)?)
            }
            b'{' => {
                let mut id = None;
                if self.s.begin_object()? {
                    loop {
                        let key = self.s.key()?;
                        if *self.s.key_bytes(key)? == *b"id" && self.s.peek()? == b'"' {
                            let raw = self.s.string()?;
                            id = Some(self.s.decode(raw)?);
                        } else {
                            self.s.skip_value(TOP_MEMBER + 1)?;
                        }
                        if !self.s.next_member()? {
                            break;
                        }
                    }
                }
                id
            }
            _ => {
                self.s.skip_value(TOP_MEMBER)?;
                None
            }
        };
        if self.object.is_none() {
            self.object = id.filter(|id| !id.is_empty());
        }
        Ok(())
    }

    /// Anthropic `metadata`: picks up a qualifying `user_id` (rule 2).
    fn metadata(&mut self) -> Result<()> {
        if self.s.peek()? != b'{' {
            return self.s.skip_value(TOP_MEMBER);
        }
        if !self.s.begin_object()? {
            return Ok(());
        }
        loop {
            let key = self.s.key()?;
            if *self.s.key_bytes(key)? == *b"user_id" && self.s.peek()? == b'"' {
                let raw = self.s.string()?;
                let user_id = self.s.decode(raw)?;
                if !user_id.is_empty() && !user_id.contains("session-") {
                    self.declared = Some(user_id);
                }
            } else {
                self.s.skip_value(TOP_MEMBER + 1)?;
            }
            if !self.s.next_member()? {
                return Ok(());
            }
        }
    }

    /// The conversation value: `messages` / `input` / `contents`.
    fn conversation(&mut self) -> Result<()> {
        match self.s.peek()? {
            b'[' => self.message_list(),
            // Responses: a plain-string `input` is the user message.
            b'"' if self.protocol == Protocol::OpenAiResponses => {
                let raw = self.s.string()?;
                if !self.settled() {
                    let text = self.s.decode(raw)?;
                    self.consider(&text);
                }
                Ok(())
            }
            _ => self.s.skip_value(TOP_MEMBER),
        }
    }

    fn message_list(&mut self) -> Result<()> {
        if !self.s.begin_array()? {
            return Ok(());
        }
        loop {
            if !self.settled() && self.s.peek()? == b'{' {
                if let Some(text) = self.message()? {
                    self.consider(&text);
                }
            } else {
                self.s.skip_value(LIST_ELEMENT)?;
            }
            if !self.s.next_element()? {
                return Ok(());
            }
        }
    }

    /// Hashes `text` if it qualifies.
    fn consider(&mut self, text: &str) {
        if qualifies(self.protocol, text) {
            self.text_id = Some(text_session_id(text));
        }
    }

    /// One message object (at its `{`): returns its text if it is a user message with text.
    ///
    /// `role` may come before or after the content. When the role is already known the
    /// content is read in place (or skipped); when it comes later, the content is skipped
    /// and its offset remembered, then re-read only if the role turns out to be `user`.
    fn message(&mut self) -> Result<Option<Cow<'a, str>>> {
        let gemini = self.protocol == Protocol::Gemini;
        let content_key: &[u8] = if gemini { b"parts" } else { b"content" };
        let mut role = Role::Unseen;
        let mut read: Option<Cow<'a, str>> = None;
        let mut deferred: Option<usize> = None;
        if self.s.begin_object()? {
            loop {
                let key = self.s.key()?;
                let key = self.s.key_bytes(key)?;
                if *key == *b"role" {
                    role = if self.s.peek()? == b'"' {
                        let raw = self.s.string()?;
                        if self.s.str_eq(raw, "user")? {
                            Role::User
                        } else {
                            Role::NotUser
                        }
                    } else {
                        self.s.skip_value(MESSAGE_MEMBER)?;
                        Role::NotUser
                    };
                } else if *key == *content_key {
                    (read, deferred) = match role {
                        Role::User => (content_text(&mut self.s, gemini)?, None),
                        Role::NotUser => {
                            self.s.skip_value(MESSAGE_MEMBER)?;
                            (None, None)
                        }
                        Role::Unseen => {
                            let at = self.s.pos();
                            self.s.skip_value(MESSAGE_MEMBER)?;
                            (None, Some(at))
                        }
                    };
                } else {
                    self.s.skip_value(MESSAGE_MEMBER)?;
                }
                if !self.s.next_member()? {
                    break;
                }
            }
        }
        // Gemini treats a missing role as `user`; elsewhere a role-less item is not a message.
        let is_user = role == Role::User || (role == Role::Unseen && gemini);
        if !is_user {
            return Ok(None);
        }
        match deferred {
            // Structure validated by the skip; errors here are escape or decoding errors.
            Some(at) => content_text(&mut self.s.at(at), gemini),
            None => Ok(read),
        }
    }
}

/// A message's content (string, or array of blocks/parts): its text, if any.
///
/// String content counts as-is (not for Gemini, whose `parts` is an array). In arrays only
/// text blocks count (`type` `text` / `input_text`; for Gemini any part with a `text`
/// string), joined with one space; everything else is skipped.
fn content_text<'a>(s: &mut Scanner<'a>, gemini: bool) -> Result<Option<Cow<'a, str>>> {
    match s.peek()? {
        b'"' if !gemini => {
            let raw = s.string()?;
            Ok(Some(s.decode(raw)?))
        }
        b'[' => {
            let mut text: Option<Cow<'a, str>> = None;
            if s.begin_array()? {
                loop {
                    if s.peek()? == b'{' {
                        if let Some(piece) = block_text(s, gemini)? {
                            text = Some(match text {
                                None => piece,
                                Some(mut joined) => {
                                    let buf = joined.to_mut();
                                    buf.push(' ');
                                    buf.push_str(&piece);
                                    joined
                                }
                            });
                        }
                    } else {
                        s.skip_value(CONTENT_ELEMENT)?;
                    }
                    if !s.next_element()? {
                        break;
                    }
                }
            }
            Ok(text)
        }
        _ => {
            s.skip_value(MESSAGE_MEMBER)?;
            Ok(None)
        }
    }
}

/// One content block (at its `{`): its text if it is a text block. Keys in any order.
fn block_text<'a>(s: &mut Scanner<'a>, gemini: bool) -> Result<Option<Cow<'a, str>>> {
    let mut is_text = gemini;
    let mut text = None;
    if s.begin_object()? {
        loop {
            let key = s.key()?;
            let key = s.key_bytes(key)?;
            match &*key {
                b"type" if !gemini => {
                    is_text = if s.peek()? == b'"' {
                        let raw = s.string()?;
                        s.str_eq(raw, "text")? || s.str_eq(raw, "input_text")?
                    } else {
                        s.skip_value(BLOCK_MEMBER)?;
                        false
                    };
                }
                b"text" => {
                    text = if s.peek()? == b'"' {
                        Some(s.string()?)
                    } else {
                        s.skip_value(BLOCK_MEMBER)?;
                        None
                    };
                }
                _ => s.skip_value(BLOCK_MEMBER)?,
            }
            if !s.next_member()? {
                break;
            }
        }
    }
    match text {
        Some(raw) if is_text => Ok(Some(s.decode(raw)?)),
        _ => Ok(None),
    }
}
