//! The policies compared, each built as a real [`Pool`] behind the same four layers.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use rota::Pool;
use rota::core::cooldown::CooldownConfig;
use rota::core::{AccountSpec, Caps, Clock, Mode, Outcome};
use rota_sim::SimHandle;

use crate::pickers::{OraclePick, OriginalPick, RandomPick, RoundRobinPick};
use crate::scenario::Scenario;

/// A scheduling policy under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// A random usable account per attempt (LiteLLM's `simple-shuffle`).
    Random,
    /// Round-robin over usable accounts, no stickiness.
    RoundRobin,
    /// The original system as specified (see [`OriginalPick`], [`original_classify`] and
    /// [`original_cooldowns`]).
    Original,
    /// Knows every account's quota at the provider ([`OraclePick`]): the reference.
    Oracle,
    /// rota in one of its modes, with or without per-account caps from the known quotas.
    Rota {
        /// The mode.
        mode: Mode,
        /// Whether each account's `rpm` cap is its per-minute quota.
        caps: bool,
    },
}

impl Policy {
    /// Every policy, baselines first.
    pub fn all() -> Vec<Policy> {
        let mut all = vec![
            Policy::Random,
            Policy::RoundRobin,
            Policy::Original,
            Policy::Oracle,
        ];
        for mode in [Mode::CacheFirst, Mode::Balance, Mode::PerformanceFirst] {
            for caps in [false, true] {
                all.push(Policy::Rota { mode, caps });
            }
        }
        all
    }

    /// Whether this is one of the baselines rota is compared with (not rota, not the oracle).
    pub fn is_baseline(self) -> bool {
        matches!(self, Policy::Random | Policy::RoundRobin | Policy::Original)
    }

    /// Builds the pool this policy schedules with, for `scenario`'s accounts on `sim`.
    pub fn pool(self, scenario: &Scenario, sim: &SimHandle, seed: u64, clock: impl Clock) -> Pool {
        let caps = matches!(self, Policy::Rota { caps: true, .. });
        let accounts = scenario.accounts.iter().map(|a| {
            let spec = AccountSpec::api_key(&a.email, a.tier, a.key());
            if caps {
                spec.with_caps(Caps {
                    rpm: NonZeroU32::new(a.per_minute),
                    max_concurrent: None,
                })
            } else {
                spec
            }
        });
        let builder = Pool::builder().accounts(accounts).clock(clock);
        let builder = match self {
            Policy::Random => builder
                .mode(Mode::PerformanceFirst)
                .picker(Arc::new(RandomPick::new(seed))),
            Policy::RoundRobin => builder
                .mode(Mode::PerformanceFirst)
                .picker(Arc::new(RoundRobinPick::default())),
            Policy::Original => builder
                .mode(Mode::Balance)
                .cooldowns(original_cooldowns())
                .picker(Arc::new(OriginalPick::new(seed))),
            Policy::Oracle => builder.mode(Mode::Balance).picker(Arc::new(OraclePick::new(
                sim.clone(),
                scenario.accounts.iter().map(|a| a.key()).collect(),
            ))),
            Policy::Rota { mode, .. } => match scenario.rota_window {
                Some(window) => builder.mode(mode).window(window),
                None => builder.mode(mode),
            },
        };
        builder.build().expect("the scenario's emails are unique")
    }

    /// How this policy reads upstream answers (a function is a [`rota::Classify`]).
    pub fn classifier(self) -> ClassifyFn {
        match self {
            Policy::Original => original_classify,
            _ => rota::core::classify::classify,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Random => f.write_str("random"),
            Policy::RoundRobin => f.write_str("round-robin"),
            Policy::Original => f.write_str("original"),
            Policy::Oracle => f.write_str("oracle"),
            Policy::Rota { mode, caps } => {
                let mode = match mode {
                    Mode::CacheFirst => "cache-first",
                    Mode::Balance => "balance",
                    Mode::PerformanceFirst => "performance-first",
                };
                write!(f, "rota {mode}{}", if *caps { " +caps" } else { "" })
            }
        }
    }
}

/// The longest cooldown the original system sets.
const ORIGINAL_CAP: Duration = Duration::from_secs(300);

/// A classifier as a plain function, the shape of [`rota::core::classify::classify`].
pub type ClassifyFn = fn(StatusCode, &HeaderMap, &[u8], SystemTime) -> Outcome;

/// rota's ladders and defaults, each capped at 300 s: the original system's cooldowns.
pub fn original_cooldowns() -> CooldownConfig {
    let cap = |d: Duration| d.min(ORIGINAL_CAP);
    let c = CooldownConfig::default();
    CooldownConfig {
        quota_ladder: c.quota_ladder.iter().copied().map(cap).collect(),
        capacity_ladder: c.capacity_ladder.iter().copied().map(cap).collect(),
        unreachable_ladder: c.unreachable_ladder.iter().copied().map(cap).collect(),
        rate_limited: cap(c.rate_limited),
        rate_limited_exhausted: cap(c.rate_limited_exhausted),
        unknown: cap(c.unknown),
        server_error: cap(c.server_error),
        unauthorized: cap(c.unauthorized),
        forbidden: cap(c.forbidden),
        refresh_failed: cap(c.refresh_failed),
        ..c
    }
}

/// The number before the first `ms` that ends a duration in `body` (`"in 340ms."`).
fn millis_in(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("ms")?;
    let digits: String = text[..at]
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let whole = digits.split('.').next()?;
    whole.parse().ok()
}

/// The original system's reading of an answer: rota's classification, except that a delay
/// written in milliseconds (`"try again in 500ms"`) is read as minutes, and no cooldown is
/// longer than 300 s (an exhausted daily quota is tried again every five minutes).
pub fn original_classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Outcome {
    let mut outcome = rota::core::classify::classify(status, headers, body, now);
    if let Outcome::Failure(failure) = &mut outcome {
        if let Some(n) = millis_in(body) {
            failure.explicit_delay = Some(Duration::from_secs(n.saturating_mul(60)));
        }
        failure.explicit_delay = failure.explicit_delay.map(|d| d.min(ORIGINAL_CAP));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota::core::{Failure, Reason};

    #[test]
    fn the_original_reads_milliseconds_as_minutes_and_caps_at_five_minutes() {
        assert_eq!(millis_in(b"Please try again in 340ms. Visit"), Some(340));
        assert_eq!(millis_in(b"Please try again in 1.5s."), None);
        let body = br#"{"error":{"message":"Rate limit reached for gpt-5 on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 2ms.","code":"rate_limit_exceeded"}}"#;
        let read = |c: ClassifyFn| match rota::Classify::classify(
            &c,
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            body,
            SystemTime::now(),
        ) {
            Outcome::Failure(Failure {
                explicit_delay,
                reason,
                ..
            }) => (reason, explicit_delay),
            other => panic!("a 429 is a failure, got {other:?}"),
        };
        assert_eq!(
            read(
                Policy::Rota {
                    mode: Mode::Balance,
                    caps: false
                }
                .classifier()
            ),
            (Reason::RateLimited, Some(Duration::from_millis(2)))
        );
        assert_eq!(
            read(Policy::Original.classifier()),
            (Reason::RateLimited, Some(Duration::from_secs(120)))
        );
        let c = original_cooldowns();
        assert_eq!(c.quota_ladder.last(), Some(&ORIGINAL_CAP));
    }
}
