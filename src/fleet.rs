//! Fleet mode on the pool's side (SPEC §8): what this replica tells the others, and applying
//! what they did.
//!
//! A [`Pool`] built with [`PoolBuilder::fleet`](crate::PoolBuilder::fleet) hands every
//! cooldown it marks and every admin change made through it (settings, fixed account,
//! enable, disable, clear cooldowns) to its [`Fleet`](rota_core::Fleet) as a [`FleetEvent`]. The fleet's
//! implementation (the `rota-redis` crate) delivers the others' events back with
//! [`Pool::apply`], which changes this replica's scheduler without publishing again.

use std::time::{Duration, SystemTime};

use rota_core::cooldown::Deadline;
use rota_core::scheduler::UnknownAccount;
use rota_core::{AccountId, FleetEvent, SharedMark};

use crate::Pool;

impl Pool {
    /// Applies a change another replica made. A cooldown never shortens one in force here
    /// and one that already ended is ignored. Fails only for an account this pool does not
    /// have (replicas configured differently).
    pub fn apply(&self, event: &FleetEvent) -> Result<(), UnknownAccount> {
        let scheduler = self.scheduler();
        match event {
            FleetEvent::Mark(mark) => {
                let id = self.account_id(&mark.email)?;
                let now = self.now();
                let Ok(left) = mark.until.duration_since(self.clock().system_now()) else {
                    return Ok(());
                };
                let deadline = Deadline {
                    until: rota_core::cooldown::deadline_after(now, left),
                    reason: mark.reason,
                };
                scheduler.apply_mark(id, mark.model.as_deref(), deadline, mark.consecutive, now);
            }
            FleetEvent::Disabled { email, reason } => {
                let id = self.account_id(email)?;
                match reason {
                    Some(reason) => scheduler.disable(id, reason.clone()),
                    None => scheduler.enable(id),
                }
            }
            FleetEvent::CooldownsCleared { email } => {
                scheduler.clear_cooldowns(self.account_id(email)?);
            }
            FleetEvent::Settings(settings) => scheduler.set_settings(*settings),
            FleetEvent::Fixed(email) => scheduler.set_fixed(email.as_deref())?,
            _ => {}
        }
        Ok(())
    }

    /// Every cooldown in force here, as the fleet shares them: what a replica pushes when it
    /// re-syncs after the shared store was out of reach.
    pub fn shared_marks(&self) -> Vec<SharedMark> {
        let wall = self.clock().system_now();
        self.snapshot()
            .into_iter()
            .flat_map(|account| {
                let consecutive = account.consecutive_failures;
                let email = account.email;
                account.cooldowns.into_iter().map(move |c| SharedMark {
                    email: email.clone(),
                    model: c.model,
                    reason: c.reason,
                    until: wall + c.remaining,
                    consecutive,
                })
            })
            .collect()
    }

    /// Tells the fleet about a cooldown this replica just marked (or kept).
    pub(crate) fn publish_mark(&self, id: AccountId, model: &str, deadline: Deadline) {
        if self.fleet_handle().is_none() {
            return;
        }
        let left = deadline.until.saturating_duration_since(self.now());
        if left == Duration::ZERO {
            return;
        }
        let mark = SharedMark {
            email: self.account(id).email.clone(),
            model: deadline.reason.is_per_model().then(|| model.to_owned()),
            reason: deadline.reason,
            until: self
                .clock()
                .system_now()
                .checked_add(left)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            consecutive: self.scheduler().consecutive(id),
        };
        self.publish(FleetEvent::Mark(mark));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rota_core::{AccountSpec, Fleet, ManualClock, Mode, Reason, Settings, Tier};

    use super::*;

    /// Records what the pool publishes.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<FleetEvent>>);

    impl Fleet for Recorder {
        fn publish(&self, event: FleetEvent) {
            self.0.lock().expect("lock").push(event);
        }
    }

    #[test]
    fn what_one_replica_publishes_another_applies() {
        let recorder = Arc::new(Recorder::default());
        // Two replicas; one clock stands for their (synchronised) wall clocks.
        let clock = ManualClock::new();
        let replica = |fleet: Option<Arc<Recorder>>| {
            let builder = crate::Pool::builder()
                .account(AccountSpec::api_key("a@x", Tier::Pro, "ka"))
                .account(AccountSpec::api_key("b@x", Tier::Pro, "kb"))
                .clock(clock.clone());
            match fleet {
                Some(fleet) => builder.fleet(fleet),
                None => builder,
            }
            .build()
            .expect("pool")
        };
        let a = replica(Some(recorder.clone()));
        let b = replica(None);
        let settings = Settings {
            mode: Mode::CacheFirst,
            ..Settings::default()
        };
        a.set_settings(settings);
        a.set_fixed_account(Some("b@x")).expect("known");
        a.disable("a@x", "revoked").expect("known");
        let failure = rota_core::Failure {
            explicit_delay: Some(Duration::from_secs(30)),
            ..rota_core::Failure::new(Reason::RateLimited)
        };
        let id = a.account_id("b@x").expect("known");
        let d = a
            .scheduler()
            .record(id, "m", &rota_core::Outcome::Failure(failure), a.now())
            .expect("a cooldown");
        a.publish_mark(id, "m", d);
        clock.advance(Duration::from_secs(10));
        for event in recorder.0.lock().expect("lock").iter() {
            b.apply(event).expect("same accounts");
        }
        assert_eq!(b.settings(), settings);
        assert_eq!(b.fixed_account(), Some("b@x"));
        let views = b.snapshot();
        assert_eq!(views[0].disabled_reason.as_deref(), Some("revoked"));
        // marked 10 s ago for 30 s: 20 s left on the other replica too
        assert_eq!(views[1].cooldowns[0].remaining, Duration::from_secs(20));
        assert_eq!(views[1].consecutive_failures, 1);
        // and a replica's re-sync pushes it as it stands
        let marks = b.shared_marks();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].email, "b@x");
    }
}
