//! The cooldown table of SPEC §5, one test per row, plus strikes, soft cooldowns and bounds.

use super::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn failure(reason: Reason) -> Failure {
    Failure::new(reason)
}

/// A mark that must set a cooldown.
fn mark(
    cd: &mut Cooldowns,
    c: &CooldownConfig,
    f: &Failure,
    model: &str,
    now: Instant,
) -> Deadline {
    cd.mark(c, f, model, now).expect("a cooldown")
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
        let d = mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "m", now);
        assert_eq!(d.until - now, want);
        now += S(1); // failures in a row, well within the 1 h count reset
    }
}

#[test]
fn quota_exhausted_is_per_model() {
    let c = CooldownConfig::default();
    let mut cd = Cooldowns::default();
    let now = Instant::now();
    mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "a", now);
    assert!(cd.blocking("a", now).is_some());
    assert!(cd.blocking("b", now).is_none());
}

#[test]
fn rate_limited_is_account_wide_5s_or_30s_when_resource_exhausted() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    let d = mark(&mut cd, &c, &failure(Reason::RateLimited), "a", now);
    assert_eq!(d.until - now, S(5));
    assert!(cd.blocking("other-model", now).is_some());
    let mut cd = Cooldowns::default();
    let f = Failure {
        resource_exhausted: true,
        ..failure(Reason::RateLimited)
    };
    assert_eq!(mark(&mut cd, &c, &f, "a", now).until - now, S(30));
}

#[test]
fn capacity_ladder_5_10_15_per_model() {
    let c = CooldownConfig::default();
    let mut cd = Cooldowns::default();
    let mut now = Instant::now();
    for want in [S(5), S(10), S(15), S(15)] {
        let d = mark(&mut cd, &c, &failure(Reason::Capacity), "m", now);
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
        mark(&mut cd, &c, &failure(Reason::Unknown), "m", now).until - now,
        S(60)
    );
    assert!(cd.blocking("x", now).is_some());
}

#[test]
fn server_errors_are_strikes_and_the_third_within_a_minute_cools_8s() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    let f = failure(Reason::ServerError);
    assert_eq!(cd.mark(&c, &f, "m", now), None, "one strike");
    assert_eq!(cd.mark(&c, &f, "m", now + S(1)), None, "two strikes");
    assert!(cd.blocking("m", now + S(1)).is_none());
    let d = mark(&mut cd, &c, &f, "m", now + S(2));
    assert_eq!(d.until - (now + S(2)), S(8));
    assert_eq!(cd.consecutive(), 0, "server errors do not raise the count");
    assert!(
        cd.hard_blocking("m", now + S(2)).is_none(),
        "a soft cooldown"
    );
    mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "m", now);
    assert_eq!(cd.consecutive(), 1);
}

#[test]
fn strikes_older_than_the_window_do_not_count() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    let f = failure(Reason::ServerError);
    cd.mark(&c, &f, "m", now);
    cd.mark(&c, &f, "m", now + S(30));
    assert_eq!(
        cd.mark(&c, &f, "m", now + S(61)),
        None,
        "the first fell out"
    );
    cd.succeed();
    assert_eq!(
        cd.mark(&c, &f, "m", now + S(62)),
        None,
        "a success clears strikes"
    );
}

#[test]
fn a_server_error_with_an_explicit_delay_cools_at_once() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    let d = mark(&mut cd, &c, &explicit(Reason::ServerError, S(20)), "m", now);
    assert_eq!(d.until - now, S(20));
}

#[test]
fn unreachable_ladder_8s_30s_2m_and_soft() {
    let c = CooldownConfig::default();
    let mut cd = Cooldowns::default();
    let mut now = Instant::now();
    for want in [S(8), S(30), S(120), S(120)] {
        let d = mark(&mut cd, &c, &failure(Reason::Unreachable), "m", now);
        assert_eq!(d.until - now, want);
        assert!(cd.hard_blocking("m", now).is_none());
        assert!(cd.blocking("other", now).is_some());
        now = d.until;
    }
}

#[test]
fn a_soft_cooldown_never_hides_a_hard_one() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    mark(&mut cd, &c, &explicit(Reason::RateLimited, S(5)), "m", now);
    mark(&mut cd, &c, &explicit(Reason::ServerError, S(50)), "m", now);
    assert_eq!(
        cd.hard_blocking("m", now).map(|d| d.reason),
        Some(Reason::RateLimited)
    );
    assert_eq!(
        cd.blocking("m", now).map(|d| d.reason),
        Some(Reason::ServerError)
    );
    assert_eq!(cd.active(now).count(), 2);
}

#[test]
fn delays_from_outside_saturate() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    let huge = explicit(Reason::RateLimited, Duration::MAX);
    let d = mark(&mut cd, &c, &huge, "m", now);
    assert_eq!(d.until - now, MAX_COOLDOWN);
}

#[test]
fn per_model_cooldowns_are_bounded() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    for i in 0..(MAX_MODEL_COOLDOWNS * 3) {
        mark(
            &mut cd,
            &c,
            &failure(Reason::QuotaExhausted),
            &format!("m{i}"),
            now,
        );
    }
    assert_eq!(cd.active(now).count(), MAX_MODEL_COOLDOWNS);
}

#[test]
fn health_counts_recent_failures_and_forgive_takes_one_back() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    cd.mark(&c, &failure(Reason::ServerError), "m", now);
    cd.mark(&c, &failure(Reason::ServerError), "m", now + S(1));
    assert_eq!(cd.recent_failures(S(60), now + S(1)), 2);
    assert_eq!(cd.recent_failures(S(60), now + S(61)), 0);
    assert!(cd.last_failed());
    cd.forgive();
    assert_eq!(cd.recent_failures(S(60), now + S(1)), 1);
    assert!(!cd.last_failed());
    // the forgiven strike no longer counts: two more are needed for the cooldown
    assert_eq!(
        cd.mark(&c, &failure(Reason::ServerError), "m", now + S(2)),
        None
    );
}

#[test]
fn unauthorized_and_forbidden_are_30_minutes() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    for reason in [Reason::Unauthorized, Reason::Forbidden] {
        let mut cd = Cooldowns::default();
        assert_eq!(
            mark(&mut cd, &c, &failure(reason), "m", now).until - now,
            S(1800)
        );
        assert!(cd.blocking("any", now).is_some());
    }
}

#[test]
fn explicit_delay_beats_the_default() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    let d = mark(
        &mut cd,
        &c,
        &explicit(Reason::QuotaExhausted, S(42)),
        "m",
        now,
    );
    assert_eq!(d.until - now, S(42));
}

#[test]
fn a_new_mark_never_shortens_an_existing_deadline() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    mark(
        &mut cd,
        &c,
        &explicit(Reason::RateLimited, S(100)),
        "m",
        now,
    );
    let d = mark(
        &mut cd,
        &c,
        &explicit(Reason::RateLimited, S(2)),
        "m",
        now + S(1),
    );
    assert_eq!(d.until, now + S(100));
    let d = mark(
        &mut cd,
        &c,
        &explicit(Reason::RateLimited, S(200)),
        "m",
        now + S(1),
    );
    assert_eq!(d.until, now + S(201));
}

#[test]
fn consecutive_count_resets_after_an_hour_without_failure() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "m", now);
    mark(
        &mut cd,
        &c,
        &failure(Reason::QuotaExhausted),
        "m",
        now + S(61),
    );
    assert_eq!(cd.consecutive(), 2);
    let later = now + S(61) + S(3600);
    let d = mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "m", later);
    assert_eq!(cd.consecutive(), 1);
    assert_eq!(d.until - later, S(60));
}

#[test]
fn success_clears_count_and_account_cooldown_but_not_model_cooldowns() {
    let c = CooldownConfig::default();
    let now = Instant::now();
    let mut cd = Cooldowns::default();
    mark(&mut cd, &c, &failure(Reason::RateLimited), "m", now);
    mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "q", now);
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
        mark(&mut cd, &c, &failure(Reason::QuotaExhausted), "m", now).until - now,
        S(1)
    );
}
