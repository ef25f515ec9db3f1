//! Cooldowns: how long an account (or account × model) rests after a failure (SPEC §5).
//!
//! [`CooldownConfig`] holds the ladders and per-reason defaults; [`Cooldowns`] is the state of
//! one account: its account-level deadline, its per-model deadlines and its consecutive-failure
//! count. A new mark never shortens an existing deadline.

use std::time::{Duration, Instant};

use crate::outcome::{Failure, Reason};

/// The ladders and per-reason default cooldowns, used when the upstream gave no explicit delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownConfig {
    /// `QuotaExhausted`, by consecutive count (the last step repeats).
    pub quota_ladder: Vec<Duration>,
    /// `Capacity`, by consecutive count (the last step repeats).
    pub capacity_ladder: Vec<Duration>,
    /// `RateLimited`.
    pub rate_limited: Duration,
    /// `RateLimited` when the answer said "resource exhausted".
    pub rate_limited_exhausted: Duration,
    /// `Unknown` 429.
    pub unknown: Duration,
    /// 500/502/503/529.
    pub server_error: Duration,
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
            rate_limited: s(5),
            rate_limited_exhausted: s(30),
            unknown: s(60),
            server_error: s(8),
            unauthorized: s(30 * 60),
            forbidden: s(30 * 60),
            refresh_failed: s(30),
            count_reset_after: s(60 * 60),
        }
    }
}

impl CooldownConfig {
    /// The cooldown for `failure` when it is the `consecutive`-th failure in a row (1-based):
    /// the explicit delay if the upstream gave one, else the reason's default or ladder step.
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
        if let Some(delay) = failure.explicit_delay {
            return delay;
        }
        match failure.reason {
            Reason::QuotaExhausted => ladder_step(&self.quota_ladder, consecutive),
            Reason::Capacity => ladder_step(&self.capacity_ladder, consecutive),
            Reason::RateLimited if failure.resource_exhausted => self.rate_limited_exhausted,
            Reason::RateLimited => self.rate_limited,
            Reason::Unknown => self.unknown,
            Reason::ServerError => self.server_error,
            Reason::Unauthorized => self.unauthorized,
            Reason::Forbidden => self.forbidden,
            Reason::RefreshFailed => self.refresh_failed,
        }
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
    account: Option<Deadline>,
    per_model: Vec<(Box<str>, Deadline)>,
    consecutive: u32,
    last_failure: Option<Instant>,
}

impl Cooldowns {
    /// Records a failure for `model` at `now`; returns the deadline now in force for the
    /// failure's scope (never earlier than one already set).
    pub fn mark(
        &mut self,
        config: &CooldownConfig,
        failure: &Failure,
        model: &str,
        now: Instant,
    ) -> Deadline {
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
        let wanted = Deadline {
            until: now + config.duration_for(failure, self.consecutive.max(1)),
            reason: failure.reason,
        };
        let slot = if failure.reason.is_per_model() {
            match self.per_model.iter().position(|(m, _)| &**m == model) {
                Some(i) => &mut self.per_model[i].1,
                None => {
                    self.per_model.push((model.into(), wanted));
                    return wanted;
                }
            }
        } else {
            self.account.get_or_insert(wanted)
        };
        if wanted.until > slot.until || slot.until <= now {
            *slot = wanted;
        }
        *slot
    }

    /// Records a success: clears the consecutive count and the account-level cooldown.
    pub fn succeed(&mut self) {
        self.consecutive = 0;
        self.account = None;
    }

    /// Removes every cooldown and the count.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The consecutive-failure count.
    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// The latest active deadline that blocks `model` at `now`, if any.
    pub fn blocking(&self, model: &str, now: Instant) -> Option<Deadline> {
        let account = self.account.filter(|d| d.until > now);
        let per_model = self
            .per_model
            .iter()
            .find(|(m, d)| &**m == model && d.until > now)
            .map(|(_, d)| *d);
        match (account, per_model) {
            (Some(a), Some(m)) => Some(if m.until > a.until { m } else { a }),
            (a, m) => a.or(m),
        }
    }

    /// Every active cooldown at `now`: `(None, d)` for the account, `(Some(model), d)` per model.
    pub fn active(&self, now: Instant) -> impl Iterator<Item = (Option<&str>, Deadline)> + '_ {
        let account = self
            .account
            .filter(|d| d.until > now)
            .map(|d| (None, d))
            .into_iter();
        let models = self
            .per_model
            .iter()
            .filter(move |(_, d)| d.until > now)
            .map(|(m, d)| (Some(&**m), *d));
        account.chain(models)
    }

    /// Drops expired per-model entries (keeps the vector small).
    pub fn prune(&mut self, now: Instant) {
        self.per_model.retain(|(_, d)| d.until > now);
        if self.account.is_some_and(|d| d.until <= now) {
            self.account = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn failure(reason: Reason) -> Failure {
        Failure::new(reason)
    }

    fn explicit(reason: Reason, d: Duration) -> Failure {
        Failure {
            explicit_delay: Some(d),
            ..Failure::new(reason)
        }
    }

    #[test]
    fn quota_exhausted_ladder_60s_5m_30m_2h() {
        let c = CooldownConfig::default();
        let mut cd = Cooldowns::default();
        let mut now = Instant::now();
        for want in [S(60), S(300), S(1800), S(7200), S(7200)] {
            let d = cd.mark(&c, &failure(Reason::QuotaExhausted), "m", now);
            assert_eq!(d.until - now, want);
            now += S(1); // failures in a row, well within the 1 h count reset
        }
    }

    #[test]
    fn quota_exhausted_is_per_model() {
        let c = CooldownConfig::default();
        let mut cd = Cooldowns::default();
        let now = Instant::now();
        cd.mark(&c, &failure(Reason::QuotaExhausted), "a", now);
        assert!(cd.blocking("a", now).is_some());
        assert!(cd.blocking("b", now).is_none());
    }

    #[test]
    fn rate_limited_is_account_wide_5s_or_30s_when_resource_exhausted() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        let d = cd.mark(&c, &failure(Reason::RateLimited), "a", now);
        assert_eq!(d.until - now, S(5));
        assert!(cd.blocking("other-model", now).is_some());
        let mut cd = Cooldowns::default();
        let f = Failure {
            resource_exhausted: true,
            ..failure(Reason::RateLimited)
        };
        assert_eq!(cd.mark(&c, &f, "a", now).until - now, S(30));
    }

    #[test]
    fn capacity_ladder_5_10_15_per_model() {
        let c = CooldownConfig::default();
        let mut cd = Cooldowns::default();
        let mut now = Instant::now();
        for want in [S(5), S(10), S(15), S(15)] {
            let d = cd.mark(&c, &failure(Reason::Capacity), "m", now);
            assert_eq!(d.until - now, want);
            assert!(cd.blocking("n", now).is_none());
            now = d.until;
        }
    }

    #[test]
    fn unknown_429_is_60s_account_wide() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        assert_eq!(
            cd.mark(&c, &failure(Reason::Unknown), "m", now).until - now,
            S(60)
        );
        assert!(cd.blocking("x", now).is_some());
    }

    #[test]
    fn server_error_is_8s_and_does_not_raise_the_count() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        assert_eq!(
            cd.mark(&c, &failure(Reason::ServerError), "m", now).until - now,
            S(8)
        );
        assert_eq!(cd.consecutive(), 0);
        cd.mark(&c, &failure(Reason::QuotaExhausted), "m", now);
        assert_eq!(cd.consecutive(), 1);
    }

    #[test]
    fn unauthorized_and_forbidden_are_30_minutes() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        for reason in [Reason::Unauthorized, Reason::Forbidden] {
            let mut cd = Cooldowns::default();
            assert_eq!(cd.mark(&c, &failure(reason), "m", now).until - now, S(1800));
            assert!(cd.blocking("any", now).is_some());
        }
    }

    #[test]
    fn explicit_delay_beats_the_default() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        let d = cd.mark(&c, &explicit(Reason::QuotaExhausted, S(42)), "m", now);
        assert_eq!(d.until - now, S(42));
    }

    #[test]
    fn a_new_mark_never_shortens_an_existing_deadline() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        cd.mark(&c, &explicit(Reason::RateLimited, S(100)), "m", now);
        let d = cd.mark(&c, &explicit(Reason::RateLimited, S(2)), "m", now + S(1));
        assert_eq!(d.until, now + S(100));
        let d = cd.mark(&c, &explicit(Reason::RateLimited, S(200)), "m", now + S(1));
        assert_eq!(d.until, now + S(201));
    }

    #[test]
    fn consecutive_count_resets_after_an_hour_without_failure() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        cd.mark(&c, &failure(Reason::QuotaExhausted), "m", now);
        cd.mark(&c, &failure(Reason::QuotaExhausted), "m", now + S(61));
        assert_eq!(cd.consecutive(), 2);
        let later = now + S(61) + S(3600);
        let d = cd.mark(&c, &failure(Reason::QuotaExhausted), "m", later);
        assert_eq!(cd.consecutive(), 1);
        assert_eq!(d.until - later, S(60));
    }

    #[test]
    fn success_clears_count_and_account_cooldown_but_not_model_cooldowns() {
        let c = CooldownConfig::default();
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        cd.mark(&c, &failure(Reason::RateLimited), "m", now);
        cd.mark(&c, &failure(Reason::QuotaExhausted), "q", now);
        cd.succeed();
        assert_eq!(cd.consecutive(), 0);
        assert!(cd.blocking("m", now).is_none());
        assert!(cd.blocking("q", now).is_some());
    }

    #[test]
    fn ladders_are_configurable() {
        let c = CooldownConfig {
            quota_ladder: vec![S(1), S(2)],
            ..CooldownConfig::default()
        };
        let now = Instant::now();
        let mut cd = Cooldowns::default();
        assert_eq!(
            cd.mark(&c, &failure(Reason::QuotaExhausted), "m", now)
                .until
                - now,
            S(1)
        );
    }
}
