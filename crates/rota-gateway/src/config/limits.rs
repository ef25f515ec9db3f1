//! The `[limits]` section (SPEC §7) and the retry budget of `[scheduling]`: their types,
//! defaults and parsing, and the duration syntax every duration field of the config shares.

use std::time::Duration;

use super::ConfigError;
use super::section::Section;

/// The longest duration any configuration field accepts (ten years): with it, `Instant + d`
/// cannot overflow, so no deadline built from the configuration can panic.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Shortest and longest retry budget window.
pub const RETRY_BUDGET_WINDOW: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(60));

/// Largest `retry_budget_min_per_second`.
pub const MAX_RETRY_MIN_PER_SECOND: u32 = 1_000_000;

/// Largest `retry_budget_percent` (ten retries per first attempt).
pub const MAX_RETRY_PERCENT: f32 = 1000.0;

/// Parses a humantime duration (`"10s"`, `"2m"`, `"1h 30m"`, `"250ms"`); zero, more than
/// [`MAX_DURATION`] and anything that does not parse are errors (one line, for the field's
/// message).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err(format!("duration {s:?} must be greater than zero")),
        Ok(d) if d > MAX_DURATION => Err(format!(
            "duration {s:?} is too large (at most {} days, ten years)",
            MAX_DURATION.as_secs() / 86_400
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "invalid duration {s:?} ({e}; e.g. \"10s\", \"600s\" or \"10m\")"
        )),
    }
}

/// How long and how much any one client, request or upstream may hold the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a request's first byte to the end of its head (default 10 s).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with nothing in flight and no byte either way (default 120 s).
    pub idle_timeout: Duration,
    /// Most client connections at once; more wait in the accept queue (default 4 096).
    pub max_connections: usize,
    /// Most request-body bytes buffered at once, all requests together; beyond, 503 with
    /// `Retry-After: 1` (default 1 GiB).
    pub max_buffered_bytes: usize,
    /// Longest wait for an upstream error body read for classification (default 10 s).
    pub error_body_timeout: Duration,
    /// Longest wait for a whole token-endpoint answer (default 30 s).
    pub token_timeout: Duration,
    /// Longest silence of a streamed upstream body before it is closed (default 300 s).
    pub stream_idle_timeout: Duration,
    /// Longest graceful shutdown (default 30 s).
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            header_read_timeout: s(10),
            idle_timeout: s(120),
            max_connections: 4096,
            max_buffered_bytes: 1 << 30,
            error_body_timeout: s(10),
            token_timeout: s(30),
            stream_idle_timeout: s(300),
            shutdown_timeout: s(30),
        }
    }
}

impl Limits {
    /// Reads a `[limits]` table (`s`); absent keys keep their defaults, unknown keys are
    /// errors.
    pub(super) fn read(s: &mut Section<'_>) -> Result<Self, ConfigError> {
        let mut l = Self::default();
        let durations = [
            ("header_read_timeout", &mut l.header_read_timeout),
            ("idle_timeout", &mut l.idle_timeout),
            ("error_body_timeout", &mut l.error_body_timeout),
            ("token_timeout", &mut l.token_timeout),
            ("stream_idle_timeout", &mut l.stream_idle_timeout),
            ("shutdown_timeout", &mut l.shutdown_timeout),
        ];
        for (key, slot) in durations {
            if let Some(d) = s.duration(key)? {
                *slot = d;
            }
        }
        let sizes = [
            ("max_connections", &mut l.max_connections),
            ("max_buffered_bytes", &mut l.max_buffered_bytes),
        ];
        for (key, slot) in sizes {
            if let Some(n) = s.integer_in(key, 1..=u64::MAX)? {
                *slot = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        s.finish()?;
        Ok(l)
    }
}

/// The retry budget (SPEC §4, tower's `TpsBudget`): retries are limited to `percent` % of
/// first attempts over the last `window`, plus `min_per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetConfig {
    /// How long a first attempt counts (1 s ..= 60 s; default 10 s).
    pub window: Duration,
    /// Retries always allowed per second (default 10).
    pub min_per_second: u32,
    /// Retries allowed per 100 first attempts (default 20).
    pub percent: f32,
}

impl RetryBudgetConfig {
    /// Reads the `retry_budget_*` keys of the `[scheduling]` table (`s`, which the caller
    /// finishes).
    pub(super) fn read(s: &mut Section<'_>) -> Result<Self, ConfigError> {
        let mut b = Self::default();
        if let Some(window) = s.duration("retry_budget_window")? {
            let (min, max) = RETRY_BUDGET_WINDOW;
            if !(min..=max).contains(&window) {
                return Err(ConfigError::new(
                    "scheduling.retry_budget_window",
                    format!(
                        "must be from {} to {} (got {})",
                        humantime::format_duration(min),
                        humantime::format_duration(max),
                        humantime::format_duration(window)
                    ),
                ));
            }
            b.window = window;
        }
        let most = u64::from(MAX_RETRY_MIN_PER_SECOND);
        if let Some(n) = s.integer_in("retry_budget_min_per_second", 0..=most)? {
            b.min_per_second = u32::try_from(n).unwrap_or(MAX_RETRY_MIN_PER_SECOND);
        }
        if let Some(p) = s.number_in("retry_budget_percent", 0.0..=f64::from(MAX_RETRY_PERCENT))? {
            b.percent = p as f32; // in range: the conversion only rounds
        }
        Ok(b)
    }
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_per_second: 10,
            percent: 20.0,
        }
    }
}
