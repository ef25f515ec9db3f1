//! Structured inputs shared by the fuzz targets: header maps and upstream error bodies built
//! from `arbitrary` data, plus the checks every parsed duration must pass.
//!
//! The shapes lean towards what upstreams really send (Google `error.details[]`, Anthropic and
//! OpenAI error objects, rate-limit headers) so that the fuzzer reaches the interesting
//! branches quickly; every shape also has a free-form variant so nothing is ruled out.

use std::time::{Duration, Instant, SystemTime};

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// A header name: one the parsers look at, or arbitrary bytes (dropped if not a valid name).
#[derive(Debug, Arbitrary)]
pub enum Name {
    /// `retry-after`.
    RetryAfter,
    /// `retry-after-ms`.
    RetryAfterMs,
    /// `x-ratelimit-remaining-requests`.
    RemainingRequests,
    /// `x-ratelimit-limit-requests`.
    LimitRequests,
    /// `anthropic-ratelimit-requests-remaining`.
    AnthropicRemaining,
    /// `anthropic-ratelimit-requests-limit`.
    AnthropicLimit,
    /// Any bytes.
    Other(Vec<u8>),
}

impl Name {
    fn header(&self) -> Option<HeaderName> {
        let name: &[u8] = match self {
            Self::RetryAfter => b"retry-after",
            Self::RetryAfterMs => b"retry-after-ms",
            Self::RemainingRequests => b"x-ratelimit-remaining-requests",
            Self::LimitRequests => b"x-ratelimit-limit-requests",
            Self::AnthropicRemaining => b"anthropic-ratelimit-requests-remaining",
            Self::AnthropicLimit => b"anthropic-ratelimit-requests-limit",
            Self::Other(bytes) => bytes,
        };
        HeaderName::from_bytes(name).ok()
    }
}

/// A header value in one of the forms the parsers meet (dropped if not a valid value).
#[derive(Debug, Arbitrary)]
pub enum Val {
    /// An integer.
    Int(u64),
    /// A decimal `int.frac`.
    Decimal(u64, u64),
    /// A float as Rust prints it (may be `inf`, `NaN`, `1e300`).
    Float(f64),
    /// An HTTP date, seconds after the epoch.
    Date(u32),
    /// A Go-style duration.
    Duration(GoDuration),
    /// Any text.
    Text(String),
    /// Any bytes (obs-text included).
    Bytes(Vec<u8>),
}

impl Val {
    fn header(&self) -> Option<HeaderValue> {
        let text = match self {
            Self::Int(n) => n.to_string(),
            Self::Decimal(i, f) => format!("{i}.{f}"),
            Self::Float(f) => f.to_string(),
            Self::Date(secs) => httpdate::fmt_http_date(
                SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(*secs)),
            ),
            Self::Duration(d) => d.text(),
            Self::Text(s) => s.clone(),
            Self::Bytes(b) => return HeaderValue::from_bytes(b).ok(),
        };
        HeaderValue::from_str(&text).ok()
    }
}

/// A list of headers, built into a [`HeaderMap`] (repeated names are appended).
#[derive(Debug, Arbitrary)]
pub struct Headers(pub Vec<(Name, Val)>);

impl Headers {
    /// The valid entries as a header map.
    pub fn map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.0 {
            if let (Some(name), Some(value)) = (name.header(), value.header()) {
                map.append(name, value);
            }
        }
        map
    }
}

/// Unit words for [`GoDuration`] (including ones the parser does not know).
const UNITS: &[&str] = &[
    "", "ns", "us", "µs", "μs", "ms", "s", "sec", "secs", "seconds", "m", "min", "minutes", "h",
    "hr", "hours", "d", "days", "MS", "Seconds", "w", "y", "x",
];

/// Separators between duration components.
const SEPARATORS: &[&str] = &["", " ", ", ", " and ", "\t", ",", "  "];

/// Phrases that introduce a delay in message text (plus near misses).
const PHRASES: &[&str] = &[
    "try again in",
    "Please try again after",
    "retry in",
    "Retry After",
    "retrying in",
    "reset after",
    "Your quota will reset after",
    "reset in",
    "resets in",
    "wait",
    "wait:",
    "try again",
];

/// A duration in words: numbers with units, e.g. `1h 16m 0.667s`.
#[derive(Debug, Arbitrary)]
pub struct GoDuration {
    /// Leading sign or text (`+`, `-`, or nothing).
    pub sign: u8,
    /// Components: integer part, optional fraction digits, unit index, separator index.
    pub parts: Vec<(u64, Option<u64>, u8, u8)>,
}

impl GoDuration {
    /// The duration as text.
    pub fn text(&self) -> String {
        let mut s = String::from(match self.sign % 4 {
            0 => "+",
            1 => "-",
            _ => "",
        });
        for (i, (int, frac, unit, sep)) in self.parts.iter().enumerate() {
            if i > 0 {
                s.push_str(SEPARATORS[usize::from(*sep) % SEPARATORS.len()]);
            }
            s.push_str(&int.to_string());
            if let Some(frac) = frac {
                s.push('.');
                s.push_str(&frac.to_string());
            }
            s.push_str(UNITS[usize::from(*unit) % UNITS.len()]);
        }
        s
    }
}

/// Message text that may state a delay: `prefix phrase duration suffix`.
#[derive(Debug, Arbitrary)]
pub enum Message {
    /// Free text.
    Free(String),
    /// A phrase followed by a duration.
    Worded {
        /// Text before the phrase.
        prefix: String,
        /// Index into the phrases.
        phrase: u8,
        /// The duration.
        duration: GoDuration,
        /// Text after the duration.
        suffix: String,
    },
}

impl Message {
    /// The message as text.
    pub fn text(&self) -> String {
        match self {
            Self::Free(s) => s.clone(),
            Self::Worded {
                prefix,
                phrase,
                duration,
                suffix,
            } => format!(
                "{prefix}{} {}{suffix}",
                PHRASES[usize::from(*phrase) % PHRASES.len()],
                duration.text()
            ),
        }
    }
}

/// A protobuf-JSON duration as upstreams (and broken upstreams) send it.
#[derive(Debug, Arbitrary)]
pub enum ProtoDuration {
    /// `"38s"`-style string.
    Go(GoDuration),
    /// Any string.
    Text(String),
    /// An integer number of seconds (may be negative).
    Int(i64),
    /// A float number of seconds (non-finite ones become `null`).
    Float(f64),
    /// `{"seconds": …, "nanos": …}`, seconds as a number or a string.
    Object {
        /// Seconds.
        seconds: i64,
        /// Whether seconds are sent as a string.
        seconds_as_string: bool,
        /// Nanoseconds (any range).
        nanos: i64,
    },
}

impl ProtoDuration {
    fn json(&self) -> Value {
        match self {
            Self::Go(d) => json!(d.text()),
            Self::Text(s) => json!(s),
            Self::Int(n) => json!(n),
            Self::Float(f) => json!(f),
            Self::Object {
                seconds,
                seconds_as_string,
                nanos,
            } => {
                let seconds = if *seconds_as_string {
                    json!(seconds.to_string())
                } else {
                    json!(seconds)
                };
                json!({ "seconds": seconds, "nanos": nanos })
            }
        }
    }
}

/// An `ErrorInfo` reason code.
#[derive(Debug, Arbitrary)]
pub enum Code {
    /// `QUOTA_EXHAUSTED`.
    Quota,
    /// `MODEL_CAPACITY_EXHAUSTED`.
    Capacity,
    /// `RATE_LIMIT_EXCEEDED`, sent as ` rate_limit_exceeded` (case and spaces are ignored).
    RateLimit,
    /// Anything else.
    Other(String),
}

impl Code {
    fn text(&self) -> &str {
        match self {
            Self::Quota => "QUOTA_EXHAUSTED",
            Self::Capacity => "MODEL_CAPACITY_EXHAUSTED",
            Self::RateLimit => " rate_limit_exceeded",
            Self::Other(s) => s,
        }
    }
}

/// One element of `error.details[]`.
#[derive(Debug, Arbitrary)]
pub enum Detail {
    /// `google.rpc.RetryInfo`.
    RetryInfo(ProtoDuration),
    /// `google.rpc.ErrorInfo`, optionally with `metadata.quotaResetDelay`.
    ErrorInfo(Code, Option<ProtoDuration>),
    /// A detail that is not an object.
    Scalar(String),
}

impl Detail {
    fn json(&self) -> Value {
        match self {
            Self::RetryInfo(d) => json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": d.json(),
            }),
            Self::ErrorInfo(code, reset) => {
                let mut info = json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": code.text(),
                });
                if let Some(reset) = reset {
                    info["metadata"] = json!({ "quotaResetDelay": reset.json() });
                }
                info
            }
            Self::Scalar(s) => json!(s),
        }
    }
}

/// An upstream answer's body.
#[derive(Debug, Arbitrary)]
pub enum Body {
    /// Any bytes.
    Raw(Vec<u8>),
    /// Plain text (not JSON).
    Text(Message),
    /// `{"error": "…"}`.
    StringError(Message),
    /// `{"error": {…}}`, or Gemini's `[{"error": {…}}]` when `wrapped`.
    Error {
        /// Wrap in an array, as Gemini does.
        wrapped: bool,
        /// `error.message`.
        message: Option<Message>,
        /// `error.status` (e.g. `RESOURCE_EXHAUSTED`).
        status: Option<String>,
        /// `error.type` (e.g. `rate_limit_error`).
        kind: Option<String>,
        /// `error.code`.
        code: Option<i64>,
        /// `error.details[]`.
        details: Vec<Detail>,
    },
}

impl Body {
    /// The body's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Raw(b) => b.clone(),
            Self::Text(m) => m.text().into_bytes(),
            Self::StringError(m) => json!({ "error": m.text() }).to_string().into_bytes(),
            Self::Error {
                wrapped,
                message,
                status,
                kind,
                code,
                details,
            } => {
                let mut error = json!({});
                if let Some(m) = message {
                    error["message"] = json!(m.text());
                }
                if let Some(s) = status {
                    error["status"] = json!(s);
                }
                if let Some(k) = kind {
                    error["type"] = json!(k);
                }
                if let Some(c) = code {
                    error["code"] = json!(c);
                }
                if !details.is_empty() {
                    error["details"] = details.iter().map(Detail::json).collect();
                }
                let body = json!({ "error": error });
                let body = if *wrapped { json!([body]) } else { body };
                body.to_string().into_bytes()
            }
        }
    }
}

/// A wall-clock time from fuzz data: the epoch plus up to ~300 years.
pub fn system_time(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs % 10_000_000_000)
}

/// Panics unless `d` is at most `limit` and can be added to both clocks' "now".
pub fn check_duration(what: &str, d: Duration, limit: Duration) {
    assert!(d <= limit, "{what}: {d:?} exceeds its limit {limit:?}");
    assert!(
        Instant::now().checked_add(d).is_some(),
        "{what}: Instant::now() + {d:?} overflows"
    );
    assert!(
        SystemTime::now().checked_add(d).is_some(),
        "{what}: SystemTime::now() + {d:?} overflows"
    );
}

/// Drives a pool the way serving does, at its own (manual) clock: a selection, a 429 with
/// the longest explicit delay on the picked account, then a bound selection (CacheFirst
/// compares the cooldown with `max_wait`), a retry, and the same once the clock has moved on
/// by the window. Panics only if the pool does.
pub fn exercise_pool(pool: &rota::Pool, clock: &rota::core::ManualClock) {
    use rota::core::delay::MAX_DELAY;
    use rota::core::{Clock, Failure, Outcome, Reason, SelectRequest, Selection};

    let model = pool.mapping().map("claude-sonnet-4-5").to_owned();
    let scheduler = pool.scheduler();
    let req = SelectRequest::new(&model);
    let now = clock.now();
    let Selection::Picked(pick) = scheduler.select(&req, now) else {
        return;
    };
    let failure = Outcome::Failure(Failure {
        explicit_delay: Some(MAX_DELAY),
        ..Failure::new(Reason::RateLimited)
    });
    scheduler.record(pick.account, &model, &failure, now);
    let bound = SelectRequest {
        bound: Some(pick.account),
        ..req
    };
    let retry = SelectRequest {
        attempt: 1,
        attempted: std::slice::from_ref(&pick.account),
        ..req
    };
    for _ in 0..2 {
        let now = clock.now();
        let _ = scheduler.select(&bound, now);
        let _ = scheduler.select(&retry, now);
        let _ = scheduler.any_usable(&req, now);
        let _ = pool.snapshot();
        clock.advance(pool.settings().window.min(MAX_DELAY));
    }
}
