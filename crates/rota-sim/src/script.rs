//! Scripted behaviours: what the sim answers to a given credential, and how the token endpoint
//! answers a given refresh token.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How the sim answers a request on an API route.
///
/// Behaviours are scripted per credential with [`SimHandle::script`](crate::SimHandle::script)
/// (the default for that key) and [`SimHandle::script_next`](crate::SimHandle::script_next)
/// (a FIFO queue of one-shot behaviours that take precedence over the default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    /// A normal `200` answer in the request's protocol (streamed when the request asks for it).
    /// This is the default for keys that were never scripted.
    #[default]
    Ok,
    /// A `429` with a Google-shaped `RESOURCE_EXHAUSTED` body and the configured headers.
    RateLimit(RateLimit),
    /// An error status (e.g. 500, 502, 503, 529, 401, 403, 400) with a JSON error body in the
    /// route's dialect. A code outside `100..=999` is answered as `500`.
    Status(u16),
    /// Wait this long, then answer like [`Behavior::Ok`] (streams wait before the headers).
    Slow(Duration),
    /// Answer like [`Behavior::Ok`], plus `x-ratelimit-remaining-requests` and
    /// `x-ratelimit-limit-requests` headers (and, on the Anthropic routes, the Anthropic
    /// `anthropic-ratelimit-requests-remaining` / `-limit` pair).
    OkWithQuota {
        /// Value of the `remaining` header.
        remaining: u64,
        /// Value of the `limit` header.
        limit: u64,
    },
    /// Read the whole request, then reset the connection (`SO_LINGER` 0, a TCP RST) before any
    /// response byte. Recorded with status `0`.
    Reset,
    /// Send the response head and the first part of the body, then nothing more: the
    /// connection stays open until the client goes away or the sim stops.
    ///
    /// A `status` other than 200 (e.g. 429, 500) sends a JSON error head in the route's
    /// dialect (`content-length` of the whole body) and its first half. A `200` sends the
    /// route's normal answer: with `sse`, a chunked `text/event-stream` head and the first
    /// event; without, a JSON head with the whole body's `content-length` and its first half.
    /// `sse` is ignored for other statuses. A code outside `100..=999` is sent as `500`.
    StallAfterHeaders {
        /// The status line's code.
        status: u16,
        /// For a `200`: stream (`text/event-stream`) rather than a JSON body.
        sse: bool,
    },
    /// Read the whole request, then answer with bytes that are not HTTP and close.
    /// Recorded with status `0`.
    Garbage,
    /// A `200` head with `Transfer-Encoding: chunked`, then a chunk whose size line is not hex,
    /// then close.
    BadChunking,
    /// Read the whole request and never answer: the connection stays open until the client
    /// goes away or the sim stops. Recorded with status `0`.
    Hang,
}

impl Behavior {
    /// The HTTP status code this behaviour answers with (as scripted, before range checking);
    /// `0` for the faults that send no status line ([`Reset`](Self::Reset),
    /// [`Garbage`](Self::Garbage), [`Hang`](Self::Hang)).
    pub fn status(&self) -> u16 {
        match self {
            Self::Ok | Self::Slow(_) | Self::OkWithQuota { .. } | Self::BadChunking => 200,
            Self::RateLimit(_) => 429,
            Self::Status(code) | Self::StallAfterHeaders { status: code, .. } => *code,
            Self::Reset | Self::Garbage | Self::Hang => 0,
        }
    }

    /// Whether this behaviour is a connection-level fault, written on the socket itself
    /// rather than as a well-formed HTTP answer.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Self::Reset
                | Self::StallAfterHeaders { .. }
                | Self::Garbage
                | Self::BadChunking
                | Self::Hang
        )
    }
}

/// The shape of a simulated `429` answer.
///
/// Every `None` part is left out of the answer. Build it field by field or with the builder
/// helpers:
///
/// ```
/// use std::time::Duration;
/// use rota_sim::RateLimit;
///
/// let rl = RateLimit::new()
///     .reason("QUOTA_EXHAUSTED")
///     .retry_info(Duration::from_millis(1500))
///     .quota_reset(Duration::from_secs(3600))
///     .retry_after(2);
/// assert_eq!(rl.retry_after, Some(2));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `reason` of a `google.rpc.ErrorInfo` detail, e.g. `RATE_LIMIT_EXCEEDED`,
    /// `QUOTA_EXHAUSTED`, `MODEL_CAPACITY_EXHAUSTED`.
    pub reason: Option<String>,
    /// `google.rpc.RetryInfo.retryDelay`, rendered like Google does (`"30s"`, `"1.5s"`, `"0.2s"`).
    pub retry_delay: Option<Duration>,
    /// `ErrorInfo.metadata.quotaResetDelay`, rendered as a Go duration (`"1h16m0.667s"`).
    pub quota_reset_delay: Option<Duration>,
    /// `Retry-After` header, whole seconds.
    pub retry_after: Option<u64>,
    /// `error.message`; default `"Resource has been exhausted (e.g. check quota)."`.
    pub message: Option<String>,
}

impl RateLimit {
    /// A bare `429` (no reason, no delays, default message).
    pub fn new() -> Self {
        Self::default()
    }

    /// A `429` whose only delay is a `google.rpc.RetryInfo.retryDelay` of `delay`.
    pub fn retry_info(self, delay: Duration) -> Self {
        Self {
            retry_delay: Some(delay),
            ..self
        }
    }

    /// Sets the `ErrorInfo` reason.
    pub fn reason(self, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..self
        }
    }

    /// Sets `ErrorInfo.metadata.quotaResetDelay`.
    pub fn quota_reset(self, delay: Duration) -> Self {
        Self {
            quota_reset_delay: Some(delay),
            ..self
        }
    }

    /// Sets the `Retry-After` header (whole seconds).
    pub fn retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// Sets `error.message`.
    pub fn message(self, message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            ..self
        }
    }
}

/// How the token endpoint (`POST /oauth/token`) answers a refresh token.
///
/// Unscripted refresh tokens get `Grant::Token` with access token
/// `at-{refresh_token}-{n}` (`n` counts calls with that refresh token, from 1) and
/// `expires_in` 3600.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// `200 {"access_token", "token_type": "Bearer", "expires_in"}`.
    Token {
        /// The access token handed out.
        access_token: String,
        /// Lifetime in seconds.
        expires_in: u64,
    },
    /// `400 {"error": "invalid_grant", "error_description": "..."}`.
    InvalidGrant,
    /// Any other failure status, with a `{"error": "...", "error_description": "..."}` body.
    Status(u16),
    /// `200` with `access_token` and `token_type` like [`Grant::Token`], and `expires_in` set to
    /// the JSON text `expires_in` written verbatim, e.g. `1e19`, `18446744073709551615`, `-1`,
    /// `1.5` or `"99999999999999999999999"` (a string). Nothing checks that it is valid JSON.
    TokenRaw {
        /// The access token handed out.
        access_token: String,
        /// The JSON text of the `expires_in` value.
        expires_in: String,
    },
    /// Send a `200` JSON head (`content-length` of a whole token answer) and the first half of
    /// the body, then nothing more: the connection stays open until the client goes away or
    /// the sim stops.
    StallAfterHeaders,
}

/// Per-key script: a default plus a FIFO of `(remaining uses, behaviour)`.
#[derive(Debug, Default)]
struct KeyScript {
    default: Behavior,
    queue: VecDeque<(usize, Behavior)>,
}

/// All scripted behaviours, keyed by credential, plus the body markers that override them.
#[derive(Debug, Default)]
pub(crate) struct Scripts {
    keys: HashMap<String, KeyScript>,
    /// `(marker, behaviour)` in the order they were first scripted.
    bodies: Vec<(Vec<u8>, Behavior)>,
}

impl Scripts {
    /// Replaces the default for `key` and clears its queue.
    pub(crate) fn set_default(&mut self, key: &str, behavior: Behavior) {
        let script = self.keys.entry(key.to_owned()).or_default();
        script.default = behavior;
        script.queue.clear();
    }

    /// Queues `behavior` for the next `n` requests with `key` (after what is already queued).
    pub(crate) fn push(&mut self, key: &str, n: usize, behavior: Behavior) {
        if n == 0 {
            return;
        }
        let script = self.keys.entry(key.to_owned()).or_default();
        script.queue.push_back((n, behavior));
    }

    /// Requests whose body contains `marker` get `behavior` from now on, whatever their key
    /// (scripting the same marker again replaces its behaviour; an empty marker matches every
    /// body).
    pub(crate) fn set_body(&mut self, marker: &[u8], behavior: Behavior) {
        match self.bodies.iter_mut().find(|(m, _)| m == marker) {
            Some((_, slot)) => *slot = behavior,
            None => self.bodies.push((marker.to_vec(), behavior)),
        }
    }

    /// The behaviour for a request with `key` and `body`: the first body marker found in the
    /// body (consuming nothing), else [`take`](Self::take).
    pub(crate) fn take_for(&mut self, key: &str, body: &[u8]) -> Behavior {
        let marked = self.bodies.iter().find(|(marker, _)| {
            marker.is_empty() || body.windows(marker.len()).any(|w| w == marker.as_slice())
        });
        match marked {
            Some((_, behavior)) => behavior.clone(),
            None => self.take(key),
        }
    }

    /// The behaviour for the next request with `key`, consuming one queued use if any.
    pub(crate) fn take(&mut self, key: &str) -> Behavior {
        let Some(script) = self.keys.get_mut(key) else {
            return Behavior::Ok;
        };
        let Some((left, behavior)) = script.queue.front_mut() else {
            return script.default.clone();
        };
        *left -= 1;
        if *left == 0 {
            // `front_mut` just returned Some, so the queue is not empty.
            script
                .queue
                .pop_front()
                .map_or(Behavior::Ok, |(_, behavior)| behavior)
        } else {
            behavior.clone()
        }
    }
}

/// Scripted answers and call counts of the token endpoint, per refresh token.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    tokens: HashMap<String, GrantState>,
}

#[derive(Debug, Default)]
struct GrantState {
    scripted: Option<Grant>,
    calls: u64,
}

impl Grants {
    /// Scripts how `refresh_token` is answered from now on.
    pub(crate) fn set(&mut self, refresh_token: &str, grant: Grant) {
        self.tokens
            .entry(refresh_token.to_owned())
            .or_default()
            .scripted = Some(grant);
    }

    /// Counts one call with `refresh_token` and returns the answer.
    pub(crate) fn answer(&mut self, refresh_token: &str) -> Grant {
        let state = self.tokens.entry(refresh_token.to_owned()).or_default();
        state.calls += 1;
        match &state.scripted {
            Some(grant) => grant.clone(),
            None => Grant::Token {
                access_token: format!("at-{refresh_token}-{}", state.calls),
                expires_in: 3600,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_then_default() {
        let mut s = Scripts::default();
        assert_eq!(s.take("k"), Behavior::Ok);
        s.set_default("k", Behavior::Status(503));
        s.push("k", 2, Behavior::Status(429));
        s.push("k", 0, Behavior::Status(401));
        s.push("k", 1, Behavior::Status(500));
        assert_eq!(s.take("k"), Behavior::Status(429));
        assert_eq!(s.take("k"), Behavior::Status(429));
        assert_eq!(s.take("k"), Behavior::Status(500));
        assert_eq!(s.take("k"), Behavior::Status(503));
        assert_eq!(s.take("other"), Behavior::Ok);
        s.push("k", 3, Behavior::Status(429));
        s.set_default("k", Behavior::Ok);
        assert_eq!(s.take("k"), Behavior::Ok);
    }

    #[test]
    fn body_markers_win_and_consume_nothing() {
        let mut s = Scripts::default();
        s.push("k", 1, Behavior::Status(429));
        s.set_body(b"POISON", Behavior::Status(500));
        assert_eq!(
            s.take_for("k", b"{\"x\":\"POISON\"}"),
            Behavior::Status(500)
        );
        assert_eq!(s.take_for("k", b"{}"), Behavior::Status(429));
        assert_eq!(s.take_for("k", b"{}"), Behavior::Ok);
        s.set_body(b"POISON", Behavior::Hang);
        assert_eq!(s.take_for("other", b"POISON"), Behavior::Hang);
        assert_eq!(s.take_for("other", b"POISO"), Behavior::Ok);
    }

    #[test]
    fn grants_count_per_token() {
        let mut g = Grants::default();
        let token = |g: Grant| match g {
            Grant::Token { access_token, .. } => access_token,
            other => format!("{other:?}"),
        };
        assert_eq!(token(g.answer("rt")), "at-rt-1");
        assert_eq!(token(g.answer("rt")), "at-rt-2");
        assert_eq!(token(g.answer("x")), "at-x-1");
        g.set("rt", Grant::InvalidGrant);
        assert_eq!(g.answer("rt"), Grant::InvalidGrant);
    }
}
