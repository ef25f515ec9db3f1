//! Cooldowns: how long an account (or account × model) rests after a failure (SPEC §5).
//!
//! [`CooldownConfig`] holds the ladders and per-reason defaults; [`Cooldowns`] is the state of
//! one account: its account-level deadlines, its per-model deadlines, its consecutive-failure
//! count, its server-error strikes and its recent failures (its health). A new mark never
//! shortens an existing deadline, and every deadline saturates at [`MAX_COOLDOWN`] from now,
//! whatever delay the upstream asked for.
//!
//! Account-level deadlines sit in two slots: a *hard* one for what the upstream declared about
//! the account (429s, 401, 403, refresh failures) and a *soft* one for server errors and
//! unreachable upstreams ([`Reason::is_soft`]), which the scheduler may ignore when nothing
//! else is left (the panic threshold). Keeping them apart means a server error can never hide
//! a rate limit, nor a rate limit be ignored as a server error.

use std::time::{Duration, Instant};

use crate::outcome::{Failure, Reason};

/// The longest cooldown any mark sets, whatever the upstream said (30 days): a delay from
/// outside never overflows an `Instant` and never benches an account for ever.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// At most this many models have their own cooldown per account; past it, the entry that
/// ends first gives way (clients can send any number of model names).
pub const MAX_MODEL_COOLDOWNS: usize = 64;
/// Recent failures kept per account for its health (fewest recent failures is healthiest).
const RECENT_FAILURES: usize = 16;

/// The ladders and per-reason default cooldowns, used when the upstream gave no explicit delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownConfig {
    /// `QuotaExhausted`, by consecutive count (the last step repeats).
    pub quota_ladder: Vec<Duration>,
    /// `Capacity`, by consecutive count (the last step repeats).
    pub capacity_ladder: Vec<Duration>,
    /// `Unreachable`, by consecutive count (the last step repeats).
    pub unreachable_ladder: Vec<Duration>,
    /// `RateLimited`.
    pub rate_limited: Duration,
    /// `RateLimited` when the answer said "resource exhausted".
    pub rate_limited_exhausted: Duration,
    /// `Unknown` 429.
    pub unknown: Duration,
    /// 500/502/503/529, once [`server_error_strikes`](Self::server_error_strikes) strikes
    /// came within [`strike_window`](Self::strike_window).
    pub server_error: Duration,
    /// How many server errors without an explicit delay, within `strike_window`, start the
    /// `server_error` cooldown (each is a strike; fewer set none).
    pub server_error_strikes: u32,
    /// The window strikes are counted in; also the window of an account's health.
    pub strike_window: Duration,
    /// 401 after refresh.
    pub unauthorized: Duration,
    /// 403.
    pub forbidden: Duration,
    /// A failed OAuth refresh (not `invalid_grant`).
    pub refresh_failed: Duration,
    /// The consecutive count resets after this long without a failure.
    pub count_reset_after: Duration,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            quota_ladder: vec![s(60), s(5 * 60), s(30 * 60), s(2 * 60 * 60)],
            capacity_ladder: vec![s(5), s(10), s(15)],
            unreachable_ladder: vec![s(8), s(30), s(2 * 60)],
            rate_limited: s(5),
            rate_limited_exhausted: s(30),
            unknown: s(60),
            server_error: s(8),
            server_error_strikes: 3,
            strike_window: s(60),
            unauthorized: s(30 * 60),
            forbidden: s(30 * 60),
            refresh_failed: s(30),
            count_reset_after: s(60 * 60),
        }
    }
}

impl CooldownConfig {
    /// The cooldown for `failure` when it is the `consecutive`-th failure in a row (1-based):
    /// the explicit delay if the upstream gave one, else the reason's default or ladder step;
    /// never more than [`MAX_COOLDOWN`].
    ///
    /// ```
    /// use rota_core::cooldown::CooldownConfig;
    /// use rota_core::{Failure, Reason};
    /// use std::time::Duration;
    ///
    /// let c = CooldownConfig::default();
    /// let quota = Failure::new(Reason::QuotaExhausted);
    /// assert_eq!(c.duration_for(&quota, 1), Duration::from_secs(60));
    /// assert_eq!(c.duration_for(&quota, 2), Duration::from_secs(300));
    /// assert_eq!(c.duration_for(&quota, 9), Duration::from_secs(7200));
    /// ```
    pub fn duration_for(&self, failure: &Failure, consecutive: u32) -> Duration {
        let d = match (failure.explicit_delay, failure.reason) {
            (Some(delay), _) => delay,
            (None, Reason::QuotaExhausted) => ladder_step(&self.quota_ladder, consecutive),
            (None, Reason::Capacity) => ladder_step(&self.capacity_ladder, consecutive),
            (None, Reason::Unreachable) => ladder_step(&self.unreachable_ladder, consecutive),
            (None, Reason::RateLimited) if failure.resource_exhausted => {
                self.rate_limited_exhausted
            }
            (None, Reason::RateLimited) => self.rate_limited,
            (None, Reason::Unknown) => self.unknown,
            (None, Reason::ServerError) => self.server_error,
            (None, Reason::Unauthorized) => self.unauthorized,
            (None, Reason::Forbidden) => self.forbidden,
            (None, Reason::RefreshFailed) => self.refresh_failed,
        };
        d.min(MAX_COOLDOWN)
    }
}

fn ladder_step(ladder: &[Duration], consecutive: u32) -> Duration {
    let step = (consecutive.max(1) - 1) as usize;
    ladder
        .get(step)
        .or(ladder.last())
        .copied()
        .unwrap_or(Duration::ZERO)
}

/// `now + d`, saturating: at most [`MAX_COOLDOWN`] ahead, and `now` itself if even that
/// would not fit in an `Instant`.
pub fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(MAX_COOLDOWN)).unwrap_or(now)
}

/// One active cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When it ends.
    pub until: Instant,
    /// Why it was set.
    pub reason: Reason,
}

/// The cooldown state of one account.
#[derive(Debug, Clone, Default)]
pub struct Cooldowns {
    /// What the upstream declared about the account (429s, 401, 403, refresh failures).
    account: Option<Deadline>,
    /// Server errors and unreachable upstreams: ignored under the panic threshold.
    soft: Option<Deadline>,
    per_model: Vec<(Box<str>, Deadline)>,
    consecutive: u32,
    last_failure: Option<Instant>,
    /// Server errors without an explicit delay since the last cooldown or success.
    strikes: Vec<Instant>,
    /// The latest failures, oldest first (at most `RECENT_FAILURES`).
    recent: Vec<Instant>,
    /// Whether the account's latest attempt failed (the window rule skips it).
    last_failed: bool,
}

/// Keeps `slot` at the later of its deadline and `wanted` (an expired one is replaced).
fn extend(slot: &mut Option<Deadline>, wanted: Deadline, now: Instant) -> Deadline {
    match slot {
        Some(d) if d.until > now && d.until >= wanted.until => *d,
        _ => *slot.insert(wanted),
    }
}

impl Cooldowns {
    /// Records a failure for `model` at `now`; returns the deadline now in force for the
    /// failure's scope (never earlier than one already set), or `None` when the failure is
    /// only a strike (a server error without an explicit delay, below the strike count).
    pub fn mark(
        &mut self,
        config: &CooldownConfig,
        failure: &Failure,
        model: &str,
        now: Instant,
    ) -> Option<Deadline> {
        if self
            .last_failure
            .is_some_and(|at| now.saturating_duration_since(at) >= config.count_reset_after)
        {
            self.consecutive = 0;
        }
        if failure.reason.raises_count() {
            self.consecutive = self.consecutive.saturating_add(1);
        }
        self.last_failure = Some(now);
        self.last_failed = true;
        if self.recent.len() == RECENT_FAILURES {
            self.recent.remove(0);
        }
        self.recent.push(now);
        if failure.reason == Reason::ServerError && failure.explicit_delay.is_none() {
            let window = config.strike_window;
            self.strikes
                .retain(|at| now.saturating_duration_since(*at) < window);
            self.strikes.push(now);
            if (self.strikes.len() as u64) < u64::from(config.server_error_strikes.max(1)) {
                return None;
            }
            self.strikes.clear();
        }
        let wanted = Deadline {
            until: deadline_after(now, config.duration_for(failure, self.consecutive.max(1))),
            reason: failure.reason,
        };
        Some(if failure.reason.is_per_model() {
            self.mark_model(model, wanted, now)
        } else if failure.reason.is_soft() {
            extend(&mut self.soft, wanted, now)
        } else {
            extend(&mut self.account, wanted, now)
        })
    }

    fn mark_model(&mut self, model: &str, wanted: Deadline, now: Instant) -> Deadline {
        if let Some((_, d)) = self.per_model.iter_mut().find(|(m, _)| &**m == model) {
            let mut slot = Some(*d);
            *d = extend(&mut slot, wanted, now);
            return *d;
        }
        self.per_model.retain(|(_, d)| d.until > now);
        if self.per_model.len() >= MAX_MODEL_COOLDOWNS
            && let Some(i) = (0..self.per_model.len()).min_by_key(|&i| self.per_model[i].1.until)
        {
            self.per_model.swap_remove(i);
        }
        self.per_model.push((model.into(), wanted));
        wanted
    }

    /// Applies a cooldown another replica marked (SPEC §8): `deadline` in the slot its reason
    /// and `model` name, never shortening one already there, and the consecutive count raised
    /// to `consecutive`. Returns the deadline now in force there.
    pub fn apply(
        &mut self,
        model: Option<&str>,
        deadline: Deadline,
        consecutive: u32,
        now: Instant,
    ) -> Deadline {
        self.consecutive = self.consecutive.max(consecutive);
        match model {
            Some(model) if deadline.reason.is_per_model() => self.mark_model(model, deadline, now),
            _ if deadline.reason.is_soft() => extend(&mut self.soft, deadline, now),
            _ => extend(&mut self.account, deadline, now),
        }
    }

    /// Takes back the latest strike and failure: the request that caused them turned out to
    /// be at fault itself (poisoned), so they say nothing about the account.
    pub fn forgive(&mut self) {
        self.strikes.pop();
        self.recent.pop();
        self.last_failed = false;
    }

    /// Records a success: clears the consecutive count, the strikes and the account-level
    /// cooldowns (per-model ones stay).
    pub fn succeed(&mut self) {
        self.consecutive = 0;
        self.account = None;
        self.soft = None;
        self.strikes.clear();
        self.last_failed = false;
    }

    /// Removes every cooldown, the count, the strikes and the recent failures.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The consecutive-failure count.
    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// Whether the account's latest attempt failed.
    pub fn last_failed(&self) -> bool {
        self.last_failed
    }

    /// When the account last failed, if ever.
    pub fn last_failure(&self) -> Option<Instant> {
        self.last_failure
    }

    /// Failures within `window` before `now`: the lower, the healthier.
    pub fn recent_failures(&self, window: Duration, now: Instant) -> usize {
        self.recent
            .iter()
            .filter(|at| now.saturating_duration_since(**at) < window)
            .count()
    }

    /// The latest active deadline that blocks `model` at `now`, if any (soft ones included).
    pub fn blocking(&self, model: &str, now: Instant) -> Option<Deadline> {
        let soft = self.soft.filter(|d| d.until > now);
        latest(self.hard_blocking(model, now), soft)
    }

    /// The latest active deadline that blocks `model` at `now`, leaving out soft ones (server
    /// errors, unreachable): what the upstream declared about the account.
    pub fn hard_blocking(&self, model: &str, now: Instant) -> Option<Deadline> {
        let account = self.account.filter(|d| d.until > now);
        let per_model = self
            .per_model
            .iter()
            .find(|(m, d)| &**m == model && d.until > now)
            .map(|(_, d)| *d);
        latest(account, per_model)
    }

    /// The account-wide cooldown the upstream declared, if active at `now` (not per model,
    /// not soft).
    pub fn account_blocking(&self, now: Instant) -> Option<Deadline> {
        self.account.filter(|d| d.until > now)
    }

    /// Every active cooldown at `now`: `(None, d)` for the account, `(Some(model), d)` per model.
    pub fn active(&self, now: Instant) -> impl Iterator<Item = (Option<&str>, Deadline)> + '_ {
        let account = [self.account, self.soft]
            .into_iter()
            .flatten()
            .filter(move |d| d.until > now)
            .map(|d| (None, d));
        let models = self
            .per_model
            .iter()
            .filter(move |(_, d)| d.until > now)
            .map(|(m, d)| (Some(&**m), *d));
        account.chain(models)
    }

    /// Drops expired entries (keeps the vectors small).
    pub fn prune(&mut self, now: Instant) {
        self.per_model.retain(|(_, d)| d.until > now);
        for slot in [&mut self.account, &mut self.soft] {
            if slot.is_some_and(|d| d.until <= now) {
                *slot = None;
            }
        }
    }
}

/// The later of two optional deadlines.
fn latest(a: Option<Deadline>, b: Option<Deadline>) -> Option<Deadline> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.until > a.until { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests;
