//! Attribution rules of SPEC §4–5 in the scheduler: healthiest-first retries, the window
//! skipping a failing account, the panic threshold, forgiving a poisoned request's strike and
//! the bounded quota readings.

use super::*;

fn unreachable(s: &Scheduler, id: AccountId, now: Instant) {
    fail(s, id, Reason::Unreachable, None, now);
}

#[test]
fn retries_take_the_healthiest_account_not_the_cursor() {
    let s = pool(&[Tier::Pro; 5]);
    no_window(&s);
    let now = Instant::now();
    // a1 and a2 fail (strikes only: no cooldown), a3 and a4 are healthy
    for id in [1, 2] {
        fail(&s, AccountId(id), Reason::ServerError, None, now);
        fail(&s, AccountId(id), Reason::ServerError, None, now);
    }
    let retry = SelectRequest {
        attempt: 1,
        attempted: &[AccountId(0)],
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &retry, now).account, AccountId(3));
    let retry = SelectRequest {
        attempt: 2,
        attempted: &[AccountId(0), AccountId(3)],
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &retry, now).account, AccountId(4));
    // when only failing accounts are left, the one with fewer recent failures
    fail(&s, AccountId(2), Reason::ServerError, None, now + S(1));
    let retry = SelectRequest {
        attempt: 3,
        attempted: &[AccountId(0), AccountId(3), AccountId(4)],
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &retry, now + S(1)).account, AccountId(1));
    // failures older than the window are forgotten
    let retry = SelectRequest {
        attempt: 1,
        attempted: &[AccountId(0)],
        ..SelectRequest::new(M)
    };
    assert_eq!(pick(&s, &retry, now + S(120)).account, AccountId(1));
}

#[test]
fn the_window_skips_an_account_whose_last_attempt_failed() {
    let s = pool(&[Tier::Ultra, Tier::Pro]);
    let now = Instant::now();
    let first = pick(&s, &SelectRequest::new(M), now);
    assert_eq!(first.account, AccountId(0));
    assert_eq!(
        pick(&s, &SelectRequest::new(M), now).decision,
        Decision::Window
    );
    fail(&s, AccountId(0), Reason::ServerError, None, now); // a strike, no cooldown
    let p = pick(&s, &SelectRequest::new(M), now);
    assert_ne!(p.decision, Decision::Window);
    // a success makes it healthy again
    s.record(
        AccountId(0),
        M,
        &Outcome::Success {
            remaining_quota: None,
            quota_reset: None,
        },
        now,
    );
    s.select(&SelectRequest::new(M), now); // a0 or a1: the window follows the pick
    let last = pick(&s, &SelectRequest::new(M), now);
    assert_eq!(last.decision, Decision::Window);
}

#[test]
fn soft_cooldowns_never_answer_all_limited() {
    let s = pool(&[Tier::Pro; 3]);
    no_window(&s);
    let now = Instant::now();
    unreachable(&s, AccountId(0), now);
    unreachable(&s, AccountId(1), now + S(1));
    for _ in 0..3 {
        fail(&s, AccountId(2), Reason::ServerError, None, now + S(2));
    }
    // every account is in a soft cooldown: the least recently failed serves
    let p = pick(&s, &SelectRequest::new(M), now + S(3));
    assert_eq!(p.account, AccountId(0));
    assert!(s.any_usable(&SelectRequest::new(M), now + S(3)));
}

#[test]
fn the_panic_threshold_ignores_only_soft_cooldowns() {
    let s = pool(&[Tier::Pro; 2]);
    no_window(&s);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::RateLimited, Some(S(30)), now);
    unreachable(&s, AccountId(1), now);
    // a1's soft cooldown is ignored; a0's rate limit is not
    assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(1));
    fail(&s, AccountId(1), Reason::Unauthorized, None, now);
    assert!(matches!(
        s.select(&SelectRequest::new(M), now),
        Selection::Unavailable(Unavailable::AllLimited { .. })
    ));
}

#[test]
fn a_healthy_account_is_preferred_over_panic() {
    let s = pool(&[Tier::Ultra, Tier::Free]);
    no_window(&s);
    let now = Instant::now();
    unreachable(&s, AccountId(0), now);
    for _ in 0..4 {
        assert_eq!(pick(&s, &SelectRequest::new(M), now).account, AccountId(1));
    }
}

#[test]
fn forgive_takes_back_a_poisoned_requests_strike() {
    let s = pool(&[Tier::Pro]);
    let now = Instant::now();
    fail(&s, AccountId(0), Reason::ServerError, None, now);
    fail(&s, AccountId(0), Reason::ServerError, None, now);
    s.forgive(AccountId(0));
    assert_eq!(s.snapshot(now)[0].failures, 1);
    fail(&s, AccountId(0), Reason::ServerError, None, now);
    assert!(
        s.snapshot(now)[0].cooldowns.is_empty(),
        "two strikes left, not three"
    );
    fail(&s, AccountId(0), Reason::ServerError, None, now);
    assert_eq!(s.snapshot(now)[0].cooldowns[0].reason, Reason::ServerError);
}

#[test]
fn quota_readings_per_account_are_bounded() {
    let s = pool(&[Tier::Pro, Tier::Pro]);
    let now = Instant::now();
    for i in 0..(MAX_QUOTA_READINGS * 4) {
        let ok = Outcome::Success {
            remaining_quota: Some(0.5),
            quota_reset: None,
        };
        s.record(
            AccountId(0),
            &format!("m{i}"),
            &ok,
            now + Duration::from_millis(i as u64),
        );
    }
    let st = s.state.lock();
    assert_eq!(st.accounts[0].quota.len(), MAX_QUOTA_READINGS);
    // evicted models fall back to the full-quota order
    for order in st.by_model.values() {
        assert_eq!(order.iter(false).count(), 2);
    }
}
