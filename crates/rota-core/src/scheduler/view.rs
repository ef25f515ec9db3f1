//! A read-only snapshot of the accounts, for admin views and metrics.

use std::time::{Duration, Instant};

use super::Scheduler;
use crate::{AccountId, Reason, Tier};

/// One active cooldown of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownView {
    /// `None` for an account-wide cooldown, else the model it applies to.
    pub model: Option<String>,
    /// Why.
    pub reason: Reason,
    /// Time left.
    pub remaining: Duration,
}

/// A snapshot of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountView {
    /// Its id in the pool.
    pub id: AccountId,
    /// Display id.
    pub email: String,
    /// Tier.
    pub tier: Tier,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Why, if disabled.
    pub disabled_reason: Option<String>,
    /// Active cooldowns.
    pub cooldowns: Vec<CooldownView>,
    /// Attempts it served (any outcome).
    pub requests: u64,
    /// Attempts that failed (a cooldown, or a server-error strike).
    pub failures: u64,
    /// Consecutive failures (drives the ladders).
    pub consecutive_failures: u32,
}

impl Scheduler {
    /// A snapshot of every account at `now`, in configuration order. O(n): for admin use,
    /// not for the request path.
    pub fn snapshot(&self, now: Instant) -> Vec<AccountView> {
        let st = self.state.lock();
        self.specs
            .iter()
            .zip(st.accounts.iter())
            .enumerate()
            .map(|(i, (spec, a))| AccountView {
                id: AccountId(i as u32),
                email: spec.email.clone(),
                tier: spec.tier,
                disabled: a.disabled.is_some(),
                disabled_reason: a.disabled.clone(),
                cooldowns: a
                    .cooldowns
                    .active(now)
                    .map(|(model, d)| CooldownView {
                        model: model.map(str::to_owned),
                        reason: d.reason,
                        remaining: d.until.saturating_duration_since(now),
                    })
                    .collect(),
                requests: a.requests,
                failures: a.failures,
                consecutive_failures: a.cooldowns.consecutive(),
            })
            .collect()
    }
}
