//! Per-request facts extracted in one pass over the body.

use std::ops::Range;
use std::sync::Arc;

use crate::Protocol;

/// The session fingerprint of a request (SPEC §2).
///
/// Shared (`Arc<str>`): the id travels in request extensions, which the retry layer clones
/// once per request; a clone is a reference-count increment. Build one with
/// `SessionId("id".into())` (from a `&str`, a `String` or a `Box<str>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub Arc<str>);

impl SessionId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the body's single parse pass found out about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The dialect, from the path.
    pub protocol: Option<Protocol>,
    /// The model the client asked for (body `model`, or the Gemini path's model); shared, like
    /// [`SessionId`], so cloning the facts allocates nothing.
    pub model: Option<Arc<str>>,
    /// Byte range of the body's `model` string value, *inside* the quotes, if it came from the
    /// body; lets the model be rewritten without re-serialising the body.
    pub model_span: Option<Range<usize>>,
    /// Whether the client asked for a streamed answer.
    pub stream: bool,
    /// The session fingerprint, if one applied.
    pub session_id: Option<SessionId>,
    /// Whether the body was well-formed JSON (an empty body counts as well-formed).
    pub body: BodyShape,
    /// The stored object the request continues or names (SPEC §3a): a Responses body's
    /// `previous_response_id` or `conversation`, or the id in a `/v1/responses/{id}` or
    /// `/v1/conversations/{id}` path. Its owner is the request's only candidate.
    pub object: Option<Arc<str>>,
    /// The request is not a conversation turn ([`is_turn`](crate::protocol::is_turn)): a
    /// token count, a model list, an embedding or a stored-object call. Its 4xx answers
    /// never mark the account.
    pub auxiliary: bool,
}

/// What kind of body the request had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BodyShape {
    /// No body bytes.
    #[default]
    Empty,
    /// A JSON object.
    JsonObject,
    /// Valid JSON that is not an object.
    JsonOther,
    /// Not valid JSON; the string is a short, client-safe description.
    Malformed(&'static str),
}
