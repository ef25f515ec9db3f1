//! What an upstream answer means for the account that produced it.

use std::time::Duration;

/// Why an account (or an account × model pair) is cooling down. Rows of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// 429 with `QUOTA_EXHAUSTED` or quota wording; scope account × model; ladder.
    QuotaExhausted,
    /// 429 `RATE_LIMIT_EXCEEDED`, "per minute", "rate limit"; scope account.
    RateLimited,
    /// 429 `MODEL_CAPACITY_EXHAUSTED`; scope account × model; 5, 10, 15 s.
    Capacity,
    /// Any other 429; scope account.
    Unknown,
    /// 500, 502, 503, 529; scope account; does not raise the consecutive count. Without an
    /// explicit delay it is a strike: the cooldown starts only after several strikes.
    ServerError,
    /// No answer: the connection failed or reset before the response headers, or the
    /// gateway's own attempt timeout ran out; scope account; ladder.
    Unreachable,
    /// 401 (after a token refresh, for OAuth accounts); scope account.
    Unauthorized,
    /// 403; scope account.
    Forbidden,
    /// An OAuth refresh failed for a reason other than `invalid_grant`; scope account.
    RefreshFailed,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Self; 9] = [
        Self::QuotaExhausted,
        Self::RateLimited,
        Self::Capacity,
        Self::Unknown,
        Self::ServerError,
        Self::Unreachable,
        Self::Unauthorized,
        Self::Forbidden,
        Self::RefreshFailed,
    ];

    /// The reason named `name` ([`as_str`](Self::as_str)), if any.
    ///
    /// ```
    /// use rota_core::Reason;
    /// assert_eq!(Reason::from_name("rate_limited"), Some(Reason::RateLimited));
    /// assert_eq!(Reason::from_name("nope"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// A stable snake_case name, used in admin output and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::QuotaExhausted => "quota_exhausted",
            Self::RateLimited => "rate_limited",
            Self::Capacity => "capacity",
            Self::Unknown => "unknown",
            Self::ServerError => "server_error",
            Self::Unreachable => "unreachable",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RefreshFailed => "refresh_failed",
        }
    }

    /// Whether the cooldown applies to one model only (account × model) or the whole account.
    pub const fn is_per_model(self) -> bool {
        matches!(self, Self::QuotaExhausted | Self::Capacity)
    }

    /// Whether this failure raises the consecutive-failure count used by the ladders.
    pub const fn raises_count(self) -> bool {
        !matches!(self, Self::ServerError)
    }

    /// Whether the cooldown says the account's server is failing rather than that the
    /// upstream refused the account (`ServerError`, `Unreachable`). Such cooldowns never make
    /// the pool unusable: when nothing else is left they are ignored (the panic threshold).
    pub const fn is_soft(self) -> bool {
        matches!(self, Self::ServerError | Self::Unreachable)
    }
}

/// A classified failure: the reason, and the delay the upstream asked for, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Which row of the cooldown table applies.
    pub reason: Reason,
    /// The explicit delay found in headers or body, if any.
    pub explicit_delay: Option<Duration>,
    /// For `RateLimited`: the answer said "resource exhausted" (default 30 s instead of 5 s).
    pub resource_exhausted: bool,
}

impl Failure {
    /// A failure with no explicit delay.
    pub const fn new(reason: Reason) -> Self {
        Self {
            reason,
            explicit_delay: None,
            resource_exhausted: false,
        }
    }
}

/// The meaning of one upstream answer for scheduling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// 2xx: clears the failure count and the account-level cooldown. Carries the remaining
    /// request-quota fraction (0.0‥=1.0) if the answer's rate-limit headers told it, and when
    /// that window resets if they said.
    Success {
        /// Remaining fraction of the request quota, from rate-limit headers.
        remaining_quota: Option<f64>,
        /// Time until the quota's window resets (`x-ratelimit-reset-requests`,
        /// `anthropic-ratelimit-requests-reset`).
        quota_reset: Option<Duration>,
    },
    /// An answer that marks a cooldown (and is retried on another account).
    Failure(Failure),
    /// Anything else (400, 404, 413, 422, 504, 3xx…): says nothing about the account.
    Neutral,
    /// The request itself is at fault: two different accounts answered it with a server
    /// error and no explicit delay. Not retried, and counted against no account.
    Poisoned,
}

impl Outcome {
    /// Whether the answer is a failure of the account (retried on another one).
    pub const fn is_failure(&self) -> bool {
        matches!(self, Self::Failure(_))
    }

    /// Whether the answer is a success (2xx).
    pub const fn is_success(&self) -> bool {
        matches!(self, Self::Success { .. })
    }

    /// The failure, if the answer is one.
    pub const fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failure(f) => Some(f),
            _ => None,
        }
    }

    /// Whether this is a server error without an explicit delay: the kind of answer that,
    /// from two different accounts for one request, makes the request poisoned (SPEC §4).
    pub fn is_undelayed_server_error(&self) -> bool {
        self.failure()
            .is_some_and(|f| f.reason == Reason::ServerError && f.explicit_delay.is_none())
    }

    /// The outcome told by a status alone, for answers no classifier has read: 2xx is a
    /// success, a retried status (429, 500, 502, 503, 529, 401, 403) a failure, anything else
    /// neutral.
    pub fn from_status(status: u16) -> Self {
        let reason = match status {
            200..=299 => {
                return Self::Success {
                    remaining_quota: None,
                    quota_reset: None,
                };
            }
            429 => Reason::Unknown,
            500 | 502 | 503 | 529 => Reason::ServerError,
            401 => Reason::Unauthorized,
            403 => Reason::Forbidden,
            _ => return Self::Neutral,
        };
        Self::Failure(Failure::new(reason))
    }
}
