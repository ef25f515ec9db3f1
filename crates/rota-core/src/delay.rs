//! Reading explicit retry delays from upstream answers (SPEC §5).
//!
//! An upstream that refuses a request often says how long to wait: a `Retry-After` header, a
//! `google.rpc.RetryInfo` detail, an `ErrorInfo` `quotaResetDelay`, a `retry-after-ms` header,
//! or plain words in the error message. [`explicit_delay`] looks for them in that order.
//! Durations are parsed exactly, in integer nanoseconds, and never overflow: an explicit delay
//! is capped at [`MAX_DELAY`].
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use rota_core::delay::{explicit_delay, parse_duration};
//!
//! assert_eq!(parse_duration("1h16m0.667s"), Some(Duration::from_millis(4_560_667)));
//! assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
//!
//! let body = br#"{"error":{"message":"Rate limited. Please try again in 2m 30s."}}"#;
//! let delay = explicit_delay(&http::HeaderMap::new(), body, SystemTime::UNIX_EPOCH);
//! assert_eq!(delay, Some(Duration::from_secs(150)));
//! ```

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::RETRY_AFTER;
use serde_json::{Map, Value};

/// The longest explicit delay [`explicit_delay`] and [`parse_retry_after`] return (30 days);
/// anything longer is absurd and is capped to this.
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// [`parse_duration`] saturates here (100 years) so that its result can always be added to an
/// `Instant` or a `SystemTime` without overflowing.
const PARSE_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How many bytes of a raw (non-JSON) body are searched for delay or reason wording.
pub(crate) const TEXT_SCAN_LIMIT: usize = 16 * 1024;

const NANOS_PER_SEC: u128 = 1_000_000_000;
const NANOS_PER_MILLI: u128 = 1_000_000;

/// Fraction digits beyond this many are ignored (they are below a nanosecond for any unit).
const MAX_FRACTION_DIGITS: u32 = 18;

/// Unit words, matched ASCII-case-insensitively, and their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("nanosecond", 1),
    ("nanoseconds", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 MICRO SIGN
    ("μs", 1_000), // U+03BC GREEK SMALL LETTER MU
    ("microsecond", 1_000),
    ("microseconds", 1_000),
    ("ms", NANOS_PER_MILLI),
    ("msec", NANOS_PER_MILLI),
    ("msecs", NANOS_PER_MILLI),
    ("millisecond", NANOS_PER_MILLI),
    ("milliseconds", NANOS_PER_MILLI),
    ("s", NANOS_PER_SEC),
    ("sec", NANOS_PER_SEC),
    ("secs", NANOS_PER_SEC),
    ("second", NANOS_PER_SEC),
    ("seconds", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("min", 60 * NANOS_PER_SEC),
    ("mins", 60 * NANOS_PER_SEC),
    ("minute", 60 * NANOS_PER_SEC),
    ("minutes", 60 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("hr", 3_600 * NANOS_PER_SEC),
    ("hrs", 3_600 * NANOS_PER_SEC),
    ("hour", 3_600 * NANOS_PER_SEC),
    ("hours", 3_600 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
    ("day", 86_400 * NANOS_PER_SEC),
    ("days", 86_400 * NANOS_PER_SEC),
];

/// Phrases (lowercase) after which message text states a delay.
const DELAY_PHRASES: &[&str] = &[
    "try again in",
    "try again after",
    "retry in",
    "retry after",
    "retrying in",
    "reset after",
    "resets after",
    "reset in",
    "resets in",
    "wait",
];

/// Parses a Go/Google-style duration.
///
/// Accepts one or more `<number><unit>` components, optionally separated by spaces
/// (`"2m30s"`, `"2m 30s"`, `"1h16m0.667s"`), or a bare number meaning seconds (`"90"`).
/// Units are `h`, `m`, `s`, `ms`, `us`/`µs`, `ns` (plus `d` and the spelled-out words such as
/// `seconds`, `sec`, `min`, `hours`), matched case-insensitively. `"500ms"` is half a second.
/// Decimals are parsed as integer nanoseconds, without floating-point rounding, so
/// `"1.203608125s"` is exactly `Duration::new(1, 203_608_125)`; digits below a nanosecond are
/// truncated. Negative durations and trailing text are rejected. Absurdly long durations
/// saturate at 100 years instead of overflowing.
///
/// ```
/// use std::time::Duration;
/// use rota_core::delay::parse_duration;
///
/// assert_eq!(parse_duration("1.203608125s"), Some(Duration::new(1, 203_608_125)));
/// assert_eq!(parse_duration("2m 30s"), Some(Duration::from_secs(150)));
/// assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
/// assert_eq!(parse_duration("soon"), None);
/// ```
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let (nanos, consumed) = parse_prefix(s)?;
    (consumed == s.len()).then(|| nanos_to_duration(nanos, PARSE_LIMIT))
}

/// Parses a `Retry-After` header value: delta-seconds (`"120"`) or an HTTP date, relative to
/// `now` (a date in the past gives `Duration::ZERO`).
///
/// Leniently, fractional seconds (`"1.5"`) and Go-style durations (`"30s"`) are accepted too.
/// The result is capped at [`MAX_DELAY`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rota_core::delay::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023-11-14 22:13:20 UTC
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now),
///     Some(Duration::from_secs(120))
/// );
/// assert_eq!(parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now), Some(Duration::ZERO));
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(nanos) = parse_plain_number(value, NANOS_PER_SEC) {
        return Some(nanos_to_duration(nanos, MAX_DELAY));
    }
    if let Ok(date) = httpdate::parse_http_date(value) {
        let delay = date.duration_since(now).unwrap_or(Duration::ZERO);
        return Some(delay.min(MAX_DELAY));
    }
    parse_duration(value).map(|d| d.min(MAX_DELAY))
}

/// The time from `now` until an RFC 3339 timestamp (`2026-12-07T07:30:00Z`,
/// `2026-12-07T08:30:00.5+01:00`), as Anthropic's `anthropic-ratelimit-*-reset` headers carry
/// it: `Duration::ZERO` for a moment past, capped at [`MAX_DELAY`], `None` if it is not such
/// a timestamp.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rota_core::delay::parse_rfc3339;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023-11-14 22:13:20 UTC
/// assert_eq!(parse_rfc3339("2023-11-14T22:15:20Z", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_rfc3339("2023-11-14T23:13:21.5+01:00", now), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_rfc3339("2023-11-14T22:00:00Z", now), Some(Duration::ZERO));
/// assert_eq!(parse_rfc3339("yesterday", now), None);
/// ```
pub fn parse_rfc3339(value: &str, now: SystemTime) -> Option<Duration> {
    let b = value.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0i64, |n, d| {
            n.checked_mul(10)?.checked_add(i64::from(d - b'0'))
        })
    };
    let sep = |i: usize, want: &[u8]| b.get(i).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if sep(i, b".") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = b.get(start..i).filter(|d| !d.is_empty())?;
        for (k, d) in digits.iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - k as u32);
        }
    }
    let offset = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let at = match u64::try_from(secs) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::new(secs, nanos),
        Err(_) => return Some(Duration::ZERO),
    };
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_DELAY),
    )
}

/// The explicit delay of an upstream answer, first found in this order (SPEC §5):
///
/// 1. the `Retry-After` header (seconds or HTTP date, see [`parse_retry_after`]);
/// 2. a `retryDelay` (`google.rpc.RetryInfo`) in `error.details[]`;
/// 3. an `ErrorInfo` `metadata.quotaResetDelay` in `error.details[]`;
/// 4. the `retry-after-ms` header (Anthropic/OpenAI; milliseconds, may be fractional);
/// 5. the message text (`error.message`, or the raw body when there is none), case-insensitively:
///    "try again in 2m 30s", "Please try again in 20ms", "quota will reset after 1h2m3s",
///    "retry after 10 seconds", "retry in 30 sec"…
///
/// The body may be an error object, a JSON array wrapping one (Gemini sends
/// `[{"error":{…}}]`; the first element is used), or not JSON at all. The result is capped at
/// [`MAX_DELAY`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rota_core::delay::explicit_delay;
///
/// let body = br#"{"error":{"details":[
///     {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
/// let delay = explicit_delay(&http::HeaderMap::new(), body, SystemTime::UNIX_EPOCH);
/// assert_eq!(delay, Some(Duration::from_millis(1500)));
/// ```
pub fn explicit_delay(headers: &HeaderMap, body: &[u8], now: SystemTime) -> Option<Duration> {
    let parsed = parse_body(body);
    explicit_delay_in(headers, parsed.as_ref(), body, now)
}

/// [`explicit_delay`] over an already parsed body (`parsed` is `None` when the body is not
/// JSON); `raw` is the body itself, searched for wording when there is no error message.
pub(crate) fn explicit_delay_in(
    headers: &HeaderMap,
    parsed: Option<&Value>,
    raw: &[u8],
    now: SystemTime,
) -> Option<Duration> {
    let error = parsed.and_then(error_value);
    header_retry_after(headers, now)
        .or_else(|| error.and_then(retry_info_delay))
        .or_else(|| error.and_then(quota_reset_delay))
        .or_else(|| header_retry_after_ms(headers))
        .or_else(|| text_delay(&error_text(error, raw).to_ascii_lowercase()))
        .map(|d| d.min(MAX_DELAY))
}

/// Parses an upstream body as JSON; `None` if it is not JSON.
pub(crate) fn parse_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// The error inside a parsed body: the first element of a top-level array, then its `error`
/// member (object or string) if it has one, else the value itself.
pub(crate) fn error_value(parsed: &Value) -> Option<&Value> {
    let top = match parsed {
        Value::Array(items) => items.first()?,
        other => other,
    };
    match top.get("error") {
        Some(error @ (Value::Object(_) | Value::String(_))) => Some(error),
        _ => Some(top),
    }
}

/// The objects of `error.details[]`.
pub(crate) fn details(error: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    error
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// The human-readable message of an error: the error itself if it is a string, else its
/// `message` member.
pub(crate) fn error_message(error: &Value) -> Option<&str> {
    match error {
        Value::String(s) => Some(s),
        other => other.get("message").and_then(Value::as_str),
    }
}

/// The text to search for wording: the error message if there is one, else the raw body
/// (lossily decoded, at most [`TEXT_SCAN_LIMIT`] bytes).
pub(crate) fn error_text<'a>(error: Option<&'a Value>, raw: &'a [u8]) -> Cow<'a, str> {
    match error.and_then(error_message) {
        Some(message) => Cow::Borrowed(message),
        None => String::from_utf8_lossy(raw.get(..TEXT_SCAN_LIMIT).unwrap_or(raw)),
    }
}

/// The first parseable `Retry-After` header.
fn header_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get_all(RETRY_AFTER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| parse_retry_after(v, now))
}

/// The first parseable `retry-after-ms` header.
fn header_retry_after_ms(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("retry-after-ms")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| parse_plain_number(v.trim(), NANOS_PER_MILLI))
        .map(|nanos| nanos_to_duration(nanos, MAX_DELAY))
}

/// The first parseable `retryDelay` among the details.
fn retry_info_delay(error: &Value) -> Option<Duration> {
    details(error).find_map(|d| d.get("retryDelay").and_then(proto_duration))
}

/// The first parseable `metadata.quotaResetDelay` among the details.
fn quota_reset_delay(error: &Value) -> Option<Duration> {
    details(error).find_map(|d| {
        d.get("metadata")
            .and_then(|m| m.get("quotaResetDelay"))
            .and_then(proto_duration)
    })
}

/// A protobuf-JSON duration: normally a string (`"4560.667s"`), leniently a number of seconds
/// or a `{"seconds": …, "nanos": …}` object.
fn proto_duration(value: &Value) -> Option<Duration> {
    let duration = match value {
        Value::String(s) => parse_duration(s),
        Value::Number(n) => match n.as_u64() {
            Some(secs) => Some(Duration::from_secs(secs)),
            None => n.as_f64().and_then(|f| Duration::try_from_secs_f64(f).ok()),
        },
        Value::Object(o) => {
            let secs = match o.get("seconds")? {
                Value::Number(n) => n.as_u64()?,
                Value::String(s) => s.trim().parse::<u64>().ok()?,
                _ => return None,
            };
            let nanos = o
                .get("nanos")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(999_999_999);
            let nanos = u32::try_from(nanos).unwrap_or(999_999_999);
            Some(Duration::new(secs, nanos))
        }
        _ => None,
    };
    duration.map(|d| d.min(PARSE_LIMIT))
}

/// Searches lowercase `text` for a delay phrase followed by a duration.
fn text_delay(text: &str) -> Option<Duration> {
    DELAY_PHRASES.iter().find_map(|phrase| {
        memchr::memmem::find_iter(text.as_bytes(), phrase.as_bytes()).find_map(|at| {
            let rest = text.get(at.saturating_add(phrase.len())..)?;
            let rest = rest.trim_start_matches([' ', '\t', ':']);
            let (nanos, _) = parse_prefix(rest)?;
            Some(nanos_to_duration(nanos, PARSE_LIMIT))
        })
    })
}

/// A whole string that is one plain decimal number (no unit), scaled by `unit` nanoseconds.
fn parse_plain_number(s: &str, unit: u128) -> Option<u128> {
    let number = parse_number(s, 0)?;
    (number.end == s.len()).then(|| number.scaled(unit))
}

/// A decimal number: integer part (saturated), fraction digits and their count.
#[derive(Debug, Clone, Copy)]
struct Number {
    int: u128,
    frac: u128,
    frac_digits: u32,
    end: usize,
}

impl Number {
    /// This number times `unit` nanoseconds, saturating.
    fn scaled(self, unit: u128) -> u128 {
        let whole = self.int.saturating_mul(unit);
        let frac = self
            .frac
            .saturating_mul(unit)
            .checked_div(10u128.saturating_pow(self.frac_digits))
            .unwrap_or(0);
        whole.saturating_add(frac)
    }
}

/// Parses `digits [ '.' digits ]` (at least one digit) at byte `start` of `s`.
fn parse_number(s: &str, start: usize) -> Option<Number> {
    let bytes = s.as_bytes();
    let mut pos = start;
    let mut int: u128 = 0;
    let mut digits = 0usize;
    while let Some(&b) = bytes.get(pos) {
        if !b.is_ascii_digit() {
            break;
        }
        int = int.saturating_mul(10).saturating_add(u128::from(b - b'0'));
        digits += 1;
        pos += 1;
    }
    let mut frac: u128 = 0;
    let mut frac_digits: u32 = 0;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        while let Some(&b) = bytes.get(pos) {
            if !b.is_ascii_digit() {
                break;
            }
            if frac_digits < MAX_FRACTION_DIGITS {
                frac = frac * 10 + u128::from(b - b'0');
                frac_digits += 1;
            }
            digits += 1;
            pos += 1;
        }
    }
    (digits > 0).then_some(Number {
        int,
        frac,
        frac_digits,
        end: pos,
    })
}

/// Parses the longest duration at the start of `s`: `<number><unit>` components separated by
/// spaces, commas or "and", or a single bare number (seconds) not followed by a word.
/// Returns the total in nanoseconds (saturating) and the bytes consumed.
fn parse_prefix(s: &str) -> Option<(u128, usize)> {
    let mut total: u128 = 0;
    let mut consumed = 0usize;
    let mut components = 0usize;
    loop {
        let start = if components == 0 {
            0
        } else {
            skip_separators(s, consumed)
        };
        let Some(number) = parse_number(s, start) else {
            break;
        };
        let unit_start = skip_spaces(s, number.end);
        let word = alphabetic_run(s, unit_start);
        match unit_nanos(word) {
            Some(unit) => {
                total = total.saturating_add(number.scaled(unit));
                consumed = unit_start.saturating_add(word.len());
                components += 1;
            }
            None => {
                if components == 0 && word.is_empty() {
                    total = number.scaled(NANOS_PER_SEC);
                    consumed = number.end;
                    components = 1;
                }
                break;
            }
        }
    }
    (components > 0).then_some((total, consumed))
}

/// Skips spaces and tabs from byte `pos`.
fn skip_spaces(s: &str, pos: usize) -> usize {
    let rest = s.get(pos..).unwrap_or("");
    pos.saturating_add(rest.len() - rest.trim_start_matches([' ', '\t']).len())
}

/// Skips separators between duration components: spaces, tabs, commas, and the word "and".
fn skip_separators(s: &str, mut pos: usize) -> usize {
    loop {
        pos = skip_spaces(s, pos);
        let rest = s.get(pos..).unwrap_or("");
        if rest.starts_with(',') {
            pos += 1;
        } else if rest
            .get(..4)
            .is_some_and(|w| w.eq_ignore_ascii_case("and "))
        {
            pos += 4;
        } else {
            return pos;
        }
    }
}

/// The run of alphabetic characters starting at byte `pos`.
fn alphabetic_run(s: &str, pos: usize) -> &str {
    let rest = s.get(pos..).unwrap_or("");
    let end = rest
        .char_indices()
        .find(|&(_, c)| !c.is_alphabetic())
        .map_or(rest.len(), |(i, _)| i);
    rest.get(..end).unwrap_or("")
}

/// The length of a unit word in nanoseconds.
fn unit_nanos(word: &str) -> Option<u128> {
    UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, nanos)| nanos)
}

/// Converts nanoseconds to a `Duration`, capped at `limit`.
fn nanos_to_duration(nanos: u128, limit: Duration) -> Duration {
    let limit_nanos = limit.as_nanos();
    if nanos >= limit_nanos {
        return limit;
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests;
