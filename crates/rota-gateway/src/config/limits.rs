//! The `[limits]` section (SPEC §7) and the retry budget of `[scheduling]`.

use std::time::Duration;

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

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_per_second: 10,
            percent: 20.0,
        }
    }
}
