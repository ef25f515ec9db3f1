//! Scheduler rules of SPEC §3, one test per rule.

use std::time::{Duration, Instant};

use super::*;
use crate::outcome::{Failure, Reason};
use crate::{AccountSpec, Tier};

const M: &str = "model-a";

fn acct(email: &str, tier: Tier) -> AccountSpec {
    AccountSpec::api_key(email, tier, format!("key-{email}"))
}

fn pool(tiers: &[Tier]) -> Scheduler {
    let specs = tiers
        .iter()
        .enumerate()
        .map(|(i, t)| acct(&format!("a{i}"), *t))
        .collect();
    Scheduler::new(specs)
}

fn with_mode(s: &Scheduler, mode: Mode) {
    s.set_settings(Settings {
        mode,
        ..s.settings()
    });
}

fn no_window(s: &Scheduler) {
    s.set_settings(Settings {
        window: Duration::ZERO,
        ..s.settings()
    });
}

fn pick(s: &Scheduler, req: &SelectRequest<'_>, now: Instant) -> Pick {
    match s.select(req, now) {
        Selection::Picked(p) => p,
        other => panic!("expected a pick, got {other:?}"),
    }
}

fn fail(s: &Scheduler, id: AccountId, reason: Reason, delay: Option<Duration>, now: Instant) {
    let f = Failure {
        explicit_delay: delay,
        ..Failure::new(reason)
    };
    s.record(id, M, &Outcome::Failure(f), now);
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn rotation_prefers_higher_tier_first() {
    let s = pool(&[Tier::Free, Tier::Pro, Tier::Ultra]);
    let p = pick(&s, &SelectRequest::new(M), Instant::now());
    assert_eq!(p.account, AccountId(2));
    assert_eq!(p.decision, Decision::Rotation);
}

#[test]
fn rotation_orders_tier_then_remaining_quota_then_config_order() {
    let s = pool(&[Tier::Pro, Tier::Pro, Tier::Pro, Tier::Free]);
    no_window(&s);
    with_mode(&s, Mode::PerformanceFirst);
    let now = Instant::now();
    for (id, q) in [(0, 0.2), (1, 0.9), (2, 0.5)] {
        s.record(
            AccountId(id),
            M,
            &Outcome::Success {
                remaining_quota: Some(q),
                quota_reset: None,
            },
            now,
        );
    }
    let order: Vec<u32> = (0..4)
        .map(|_| pick(&s, &SelectRequest::new(M), now).account.0)
        .collect();
    assert_eq!(order, [1, 2, 0, 3]);
    // another model has no quota readings: plain tier + config order
    let order: Vec<u32> = (0..4)
        .map(|_| pick(&s, &SelectRequest::new("other"), now).account.0)
        .collect();
    assert_eq!(order, [0, 1, 2, 3]);
}

#[test]
fn rotation_is_round_robin_over_usable_candidates() {
    let s = pool(&[Tier::Pro; 3]);
    no_window(&s);
    let now = Instant::now();
    let got: Vec<u32> = (0..6)
        .map(|_| pick(&s, &SelectRequest::new(M), now).account.0)
        .collect();
    assert_eq!(got, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn fixed_account_is_used_when_usable() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    s.set_fixed(Some("a1")).expect("known account");
    let p = pick(
        &s,
        &SelectRequest {
            bound: Some(AccountId(0)),
            ..SelectRequest::new(M)
        },
        Instant::now(),
    );
    assert_eq!((p.account, p.decision), (AccountId(1), Decision::Fixed));
}

#[test]
fn fixed_account_falls_through_when_unusable() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    s.set_fixed(Some("a1")).expect("known account");
    let now = Instant::now();
    fail(&s, AccountId(1), Reason::RateLimited, None, now);
    let p = pick(&s, &SelectRequest::new(M), now);
    assert_eq!((p.account, p.decision), (AccountId(0), Decision::Rotation));
    assert_eq!(
        s.set_fixed(Some("nobody")),
        Err(UnknownAccount("nobody".into()))
    );
    s.set_fixed(None).expect("clearing always works");
    assert_eq!(s.fixed(), None);
}

#[test]
fn sticky_uses_the_bound_account_on_attempt_zero() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    let p = pick(&s, &req, Instant::now());
    assert_eq!((p.account, p.decision), (AccountId(1), Decision::Sticky));
}

#[test]
fn sticky_is_skipped_on_later_attempts() {
    let s = pool(&[Tier::Ultra, Tier::Free, Tier::Free]);
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        attempt: 1,
        attempted: &[AccountId(0)],
        ..SelectRequest::new(M)
    };
    let p = pick(&s, &req, Instant::now());
    assert_eq!(p.decision, Decision::Rotation);
    assert_ne!(p.account, AccountId(0));
}

#[test]
fn balance_does_not_wait_for_a_cooling_bound_account() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    let now = Instant::now();
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(3)), now);
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    let p = pick(&s, &req, now);
    assert_eq!(p.account, AccountId(0));
}

#[test]
fn cache_first_waits_for_the_bound_account_within_max_wait() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    with_mode(&s, Mode::CacheFirst);
    let now = Instant::now();
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(30)), now);
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    assert_eq!(s.select(&req, now), Selection::Wait { until: now + S(30) });
    // after the wait, the bound account is used again
    let req = SelectRequest {
        waited: S(30),
        ..req
    };
    let p = pick(&s, &req, now + S(30));
    assert_eq!((p.account, p.decision), (AccountId(1), Decision::Sticky));
}

#[test]
fn cache_first_does_not_wait_longer_than_max_wait() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    s.set_settings(Settings {
        mode: Mode::CacheFirst,
        max_wait: S(10),
        window: S(60),
    });
    let now = Instant::now();
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(11)), now);
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &req, now).account, AccountId(0));
    // what was already waited counts against the budget
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(20)), now);
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        waited: S(5),
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &req, now + S(11)).account, AccountId(0));
}

#[test]
fn window_reuses_the_last_used_account() {
    let s = pool(&[Tier::Pro, Tier::Pro]);
    let now = Instant::now();
    let first = pick(&s, &SelectRequest::new(M), now);
    let second = pick(&s, &SelectRequest::new(M), now + S(59));
    assert_eq!(second.account, first.account);
    assert_eq!(second.decision, Decision::Window);
    let third = pick(&s, &SelectRequest::new(M), now + S(59) + S(60));
    assert_eq!(third.decision, Decision::Rotation);
}

#[test]
fn window_zero_disables_the_window() {
    let s = pool(&[Tier::Pro, Tier::Pro]);
    no_window(&s);
    let now = Instant::now();
    pick(&s, &SelectRequest::new(M), now);
    assert_eq!(
        pick(&s, &SelectRequest::new(M), now).decision,
        Decision::Rotation
    );
}

#[test]
fn performance_first_ignores_bindings_and_window() {
    let s = pool(&[Tier::Pro, Tier::Pro]);
    with_mode(&s, Mode::PerformanceFirst);
    let now = Instant::now();
    let req = SelectRequest {
        bound: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    let got: Vec<(u32, Decision)> = (0..3)
        .map(|_| {
            let p = pick(&s, &req, now);
            (p.account.0, p.decision)
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, Decision::Rotation),
            (1, Decision::Rotation),
            (0, Decision::Rotation)
        ]
    );
}

#[test]
fn attempted_accounts_are_never_picked() {
    let s = pool(&[Tier::Ultra, Tier::Pro, Tier::Free]);
    s.set_fixed(Some("a0")).expect("known");
    let now = Instant::now();
    let req = SelectRequest {
        attempt: 2,
        attempted: &[AccountId(0), AccountId(1)],
        bound: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &req, now).account, AccountId(2));
}

#[test]
fn disabled_accounts_are_never_picked_and_all_disabled_is_no_accounts() {
    let s = pool(&[Tier::Ultra, Tier::Pro]);
    s.disable(AccountId(0), "invalid_grant");
    let now = Instant::now();
    assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(1));
    s.disable(AccountId(1), "manual");
    assert_eq!(
        s.select(&SelectRequest::new(M), now),
        Selection::Unavailable(Unavailable::NoAccounts)
    );
    s.enable(AccountId(0));
    assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(0));
    assert_eq!(s.disabled_reason(AccountId(1)).as_deref(), Some("manual"));
}

#[test]
fn no_accounts_configured_is_no_accounts() {
    let s = Scheduler::new(Vec::new());
    assert_eq!(
        s.select(&SelectRequest::new(M), Instant::now()),
        Selection::Unavailable(Unavailable::NoAccounts)
    );
}

#[test]
fn all_limited_carries_the_earliest_retry_time() {
    let s = pool(&[Tier::Ultra, Tier::Pro, Tier::Free]);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::RateLimited, Some(S(40)), now);
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(25)), now);
    fail(&s, AccountId(2), Reason::QuotaExhausted, Some(S(90)), now);
    assert_eq!(
        s.select(&SelectRequest::new(M), now),
        Selection::Unavailable(Unavailable::AllLimited { retry_after: S(25) })
    );
}

#[test]
fn none_usable_waits_up_to_two_seconds_outside_cache_first() {
    let s = pool(&[Tier::Ultra]);
    let now = Instant::now();
    fail(
        &s,
        AccountId(0),
        Reason::RateLimited,
        Some(Duration::from_millis(1500)),
        now,
    );
    assert_eq!(
        s.select(&SelectRequest::new(M), now),
        Selection::Wait {
            until: now + Duration::from_millis(1500)
        }
    );
    let s = pool(&[Tier::Ultra]);
    fail(&s, AccountId(0), Reason::RateLimited, Some(S(3)), now);
    assert_eq!(
        s.select(&SelectRequest::new(M), now),
        Selection::Unavailable(Unavailable::AllLimited { retry_after: S(3) })
    );
}

#[test]
fn none_usable_waits_up_to_max_wait_in_cache_first() {
    let s = pool(&[Tier::Ultra]);
    with_mode(&s, Mode::CacheFirst);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::RateLimited, Some(S(45)), now);
    assert_eq!(
        s.select(&SelectRequest::new(M), now),
        Selection::Wait { until: now + S(45) }
    );
}

#[test]
fn model_cooldown_only_blocks_that_model() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::QuotaExhausted, None, now);
    assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(1));
    no_window(&s);
    assert_eq!(
        pick(&s, &SelectRequest::new("other"), now).account,
        AccountId(0)
    );
}

#[test]
fn cooldown_ends_at_its_deadline() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    no_window(&s);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::RateLimited, Some(S(30)), now);
    assert_eq!(
        pick(&s, &SelectRequest::new(M), now + S(29)).account,
        AccountId(1)
    );
    s.set_settings(Settings {
        mode: Mode::PerformanceFirst,
        ..s.settings()
    });
    let after: Vec<u32> = (0..2)
        .map(|_| pick(&s, &SelectRequest::new(M), now + S(30)).account.0)
        .collect();
    assert!(after.contains(&0));
}

#[test]
fn quota_protected_accounts_are_skipped() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    no_window(&s);
    let now = Instant::now();
    s.record(
        AccountId(0),
        M,
        &Outcome::Success {
            remaining_quota: Some(0.0),
            quota_reset: None,
        },
        now,
    );
    assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(1));
    assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(1));
    // the reading goes stale
    assert_eq!(
        pick(&s, &SelectRequest::new(M), now + S(61)).account,
        AccountId(0)
    );
}

/// Account 0's latest answer said it has no request left until `reset`.
fn exhausted_until(s: &Scheduler, reset: Duration, now: Instant) {
    s.record(
        AccountId(0),
        M,
        &Outcome::Success {
            remaining_quota: Some(0.0),
            quota_reset: Some(reset),
        },
        now,
    );
}

#[test]
fn quota_protection_ends_when_the_window_resets() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    no_window(&s);
    let now = Instant::now();
    let sticky = SelectRequest {
        bound: Some(AccountId(0)),
        ..SelectRequest::new(M)
    };
    exhausted_until(&s, S(5), now);
    assert_eq!(pick(&s, &sticky, now + S(4)).account, AccountId(1));
    // Not the 60 s a reading without a reset holds for: its window said 5 s.
    assert_eq!(pick(&s, &sticky, now + S(5)).decision, Decision::Sticky);
    // A reset beyond a minute is held for a minute at most.
    exhausted_until(&s, S(3600), now);
    assert_eq!(pick(&s, &sticky, now + S(59)).account, AccountId(1));
    assert_eq!(pick(&s, &sticky, now + S(60)).decision, Decision::Sticky);
}

#[test]
fn cache_first_waits_for_its_quota_protected_account_and_balance_moves() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    no_window(&s);
    let now = Instant::now();
    exhausted_until(&s, S(3), now);
    let sticky = SelectRequest {
        bound: Some(AccountId(0)),
        ..SelectRequest::new(M)
    };
    with_mode(&s, Mode::CacheFirst);
    assert_eq!(
        s.select(&sticky, now),
        Selection::Wait { until: now + S(3) }
    );
    with_mode(&s, Mode::Balance);
    assert_eq!(pick(&s, &sticky, now).account, AccountId(1));
    // With nothing else usable, a request waits for the reset within its budget, and past
    // the budget is told when the window resets.
    s.disable(AccountId(1), "test");
    assert_eq!(
        s.select(&SelectRequest::new(M), now + S(2)),
        Selection::Wait { until: now + S(3) }
    );
    assert_eq!(
        s.select(&SelectRequest::new(M), now),
        Selection::Unavailable(Unavailable::AllLimited { retry_after: S(3) })
    );
}

#[test]
fn success_clears_account_cooldown_and_counts_requests() {
    let s = pool(&[Tier::Ultra]);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::RateLimited, Some(S(30)), now);
    s.record(
        AccountId(0),
        M,
        &Outcome::Success {
            remaining_quota: None,
            quota_reset: None,
        },
        now,
    );
    let view = &s.snapshot(now)[0];
    assert!(view.cooldowns.is_empty());
    assert_eq!(
        (view.requests, view.failures, view.consecutive_failures),
        (2, 1, 0)
    );
}

#[test]
fn snapshot_lists_cooldowns_with_scope_and_remaining_time() {
    let s = pool(&[Tier::Ultra]);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::QuotaExhausted, Some(S(100)), now);
    fail(&s, AccountId(0), Reason::Forbidden, None, now);
    let view = &s.snapshot(now + S(10))[0];
    assert_eq!(view.cooldowns.len(), 2);
    assert!(
        view.cooldowns
            .iter()
            .any(|c| c.model.is_none() && c.reason == Reason::Forbidden && c.remaining == S(1790))
    );
    assert!(view.cooldowns.iter().any(|c| c.model.as_deref() == Some(M)
        && c.reason == Reason::QuotaExhausted
        && c.remaining == S(90)));
    s.clear_cooldowns(AccountId(0));
    assert!(s.snapshot(now)[0].cooldowns.is_empty());
}

#[test]
fn grace_retry_reuses_the_same_account() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    let now = Instant::now();
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(1)), now);
    let req = SelectRequest {
        attempt: 1,
        grace: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    let p = pick(&s, &req, now + S(1));
    assert_eq!((p.account, p.decision), (AccountId(1), Decision::Grace));
}

#[test]
fn any_usable_reports_whether_another_attempt_can_go_anywhere() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    let now = Instant::now();
    let req = SelectRequest {
        attempted: &[AccountId(0)],
        ..SelectRequest::new(M)
    };
    assert!(s.any_usable(&req, now));
    fail(&s, AccountId(1), Reason::RateLimited, None, now);
    assert!(!s.any_usable(&req, now));
}

mod health;

// ---- object affinity (SPEC §3a) ----------------------------------------------------------

#[test]
fn an_objects_owner_is_the_only_candidate_whatever_the_mode_or_fixed_account() {
    let s = pool(&[Tier::Ultra, Tier::Pro, Tier::Free]);
    s.set_fixed(Some("a0")).expect("known");
    let now = Instant::now();
    for mode in [Mode::CacheFirst, Mode::Balance, Mode::PerformanceFirst] {
        with_mode(&s, mode);
        let req = SelectRequest {
            owner: Some(AccountId(2)),
            bound: Some(AccountId(1)),
            ..SelectRequest::new(M)
        };
        assert_eq!(pick(&s, &req, now).account, AccountId(2), "{mode:?}");
    }
    // A soft cooldown does not hold it back: nothing else could serve.
    for _ in 0..3 {
        fail(&s, AccountId(2), Reason::ServerError, None, now);
    }
    let req = SelectRequest {
        owner: Some(AccountId(2)),
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &req, now).account, AccountId(2));
}

#[test]
fn a_cooling_owner_is_waited_for_within_max_wait_else_all_limited() {
    let s = pool(&[Tier::Ultra, Tier::Pro]);
    with_mode(&s, Mode::Balance);
    let now = Instant::now();
    fail(&s, AccountId(1), Reason::RateLimited, Some(S(30)), now);
    let req = SelectRequest {
        owner: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    // max_wait defaults to 60 s, in every mode: the object cannot go anywhere else
    assert_eq!(s.select(&req, now), Selection::Wait { until: now + S(30) });
    let waited = SelectRequest {
        waited: S(45),
        ..req
    };
    assert_eq!(
        s.select(&waited, now),
        Selection::Unavailable(Unavailable::AllLimited { retry_after: S(30) })
    );
    assert!(!s.any_usable(&req, now), "another account is no help");
    // tried already (its own answer failed): no second candidate
    let tried = [AccountId(0)];
    let again = SelectRequest {
        owner: Some(AccountId(0)),
        attempted: &tried,
        attempt: 1,
        ..SelectRequest::new(M)
    };
    assert!(matches!(
        s.select(&again, now),
        Selection::Unavailable(Unavailable::AllLimited { .. })
    ));
}

#[test]
fn a_disabled_owner_is_its_own_answer() {
    let s = pool(&[Tier::Ultra, Tier::Pro]);
    s.disable(AccountId(1), "revoked");
    let req = SelectRequest {
        owner: Some(AccountId(1)),
        ..SelectRequest::new(M)
    };
    assert_eq!(
        s.select(&req, Instant::now()),
        Selection::Unavailable(Unavailable::OwnerDisabled)
    );
}

mod picker {
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;

    /// Records what it was shown and passes (or picks the last free candidate).
    #[derive(Debug, Default)]
    struct Spy {
        seen: Mutex<Vec<Candidate>>,
        pass: bool,
    }

    impl Picker for Spy {
        fn pick(&self, _: &SelectRequest<'_>, c: &[Candidate], _: Instant) -> Option<Selection> {
            *self.seen.lock() = c.to_vec();
            if self.pass {
                return None;
            }
            let last = c
                .iter()
                .rev()
                .find(|c| c.hold == Hold::Free && !c.attempted)?;
            Some(Selection::Picked(Pick {
                account: last.account,
                decision: Decision::Rotation,
            }))
        }
    }

    #[test]
    fn a_picker_sees_every_enabled_account_and_what_holds_it() {
        let spy = Arc::new(Spy::default());
        let s = pool(&[Tier::Ultra, Tier::Pro, Tier::Pro, Tier::Free, Tier::Free])
            .with_picker(spy.clone());
        let now = Instant::now();
        fail(&s, AccountId(1), Reason::QuotaExhausted, Some(S(60)), now);
        fail(&s, AccountId(2), Reason::RateLimited, Some(S(30)), now);
        fail(&s, AccountId(3), Reason::ServerError, Some(S(8)), now);
        s.disable(AccountId(4), "test");
        let attempted = [AccountId(0)];
        let req = SelectRequest {
            attempt: 1,
            attempted: &attempted,
            ..SelectRequest::new(M)
        };
        // Every candidate is held or attempted: the panic threshold serves the soft one.
        assert_eq!(pick(&s, &req, now).account, AccountId(3));
        let seen = spy.seen.lock().clone();
        let holds: Vec<_> = seen
            .iter()
            .map(|c| (c.account.0, c.hold, c.attempted))
            .collect();
        assert_eq!(
            holds,
            [
                (0, Hold::Free, true),
                (1, Hold::ModelCooling { until: now + S(60) }, false),
                (2, Hold::AccountCooling { until: now + S(30) }, false),
                (3, Hold::Soft { until: now + S(8) }, false),
            ]
        );
    }

    #[test]
    fn a_picker_replaces_sticky_window_and_rotation_but_not_the_fixed_account() {
        let spy = Arc::new(Spy::default());
        let s = pool(&[Tier::Ultra, Tier::Free]).with_picker(spy);
        let now = Instant::now();
        let req = SelectRequest {
            bound: Some(AccountId(0)),
            ..SelectRequest::new(M)
        };
        assert_eq!(pick(&s, &req, now).account, AccountId(1));
        s.set_fixed(Some("a0")).expect("known");
        assert_eq!(pick(&s, &req, now).decision, Decision::Fixed);
    }

    #[test]
    fn a_passing_picker_gets_rotas_answer_when_nothing_is_usable() {
        let spy = Arc::new(Spy {
            pass: true,
            ..Spy::default()
        });
        let s = pool(&[Tier::Pro]).with_picker(spy);
        let now = Instant::now();
        fail(&s, AccountId(0), Reason::RateLimited, Some(S(1)), now);
        assert_eq!(
            s.select(&SelectRequest::new(M), now),
            Selection::Wait { until: now + S(1) }
        );
    }
}
