//! Properties of the scheduler (SPEC §3) over random pools, cooldowns and requests.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rota_core::cooldown::CooldownConfig;
use rota_core::{
    AccountId, AccountSpec, Decision, Failure, Mode, Outcome, Reason, Scheduler, SelectRequest,
    Selection, Settings, Tier, Unavailable,
};

const M: &str = "model-m";

/// A cooldown put on one account before the selection.
#[derive(Debug, Clone, Copy)]
enum Cooling {
    /// Account-wide (rate limit): blocks every model.
    Account(u64),
    /// For the requested model only.
    ThisModel(u64),
    /// For another model: does not block `M`.
    OtherModel(u64),
}

#[derive(Debug, Clone)]
struct AccountCase {
    tier: Tier,
    disabled: bool,
    cooling: Option<Cooling>,
    attempted: bool,
}

#[derive(Debug, Clone)]
struct Case {
    accounts: Vec<AccountCase>,
    mode: Mode,
    window: Duration,
    max_wait: Duration,
    waited: Duration,
    attempt: u32,
    bound: Option<usize>,
    fixed: Option<usize>,
    grace: Option<usize>,
    warmups: usize,
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Free), Just(Tier::Pro), Just(Tier::Ultra)]
}

fn cooling() -> impl Strategy<Value = Option<Cooling>> {
    let secs = 1u64..600;
    prop_oneof![
        2 => Just(None),
        1 => secs.clone().prop_map(|s| Some(Cooling::Account(s))),
        1 => secs.clone().prop_map(|s| Some(Cooling::ThisModel(s))),
        1 => secs.prop_map(|s| Some(Cooling::OtherModel(s))),
    ]
}

fn account() -> impl Strategy<Value = AccountCase> {
    (
        tier(),
        prop::bool::weighted(0.2),
        cooling(),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(tier, disabled, cooling, attempted)| AccountCase {
            tier,
            disabled,
            cooling,
            attempted,
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::CacheFirst),
        Just(Mode::Balance),
        Just(Mode::PerformanceFirst)
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(account(), 1..=12).prop_flat_map(|accounts| {
        let n = accounts.len();
        (
            Just(accounts),
            mode(),
            prop_oneof![Just(Duration::ZERO), Just(Duration::from_secs(60))],
            (0u64..=120).prop_map(Duration::from_secs),
            (0u64..=30).prop_map(Duration::from_secs),
            0u32..3,
            prop::option::of(0..n),
            prop::option::weighted(0.2, 0..n),
            prop::option::weighted(0.2, 0..n),
            0usize..5,
        )
            .prop_map(
                |(
                    accounts,
                    mode,
                    window,
                    max_wait,
                    waited,
                    attempt,
                    bound,
                    fixed,
                    grace,
                    warmups,
                )| {
                    Case {
                        accounts,
                        mode,
                        window,
                        max_wait,
                        waited,
                        attempt,
                        bound,
                        fixed,
                        grace,
                        warmups,
                    }
                },
            )
    })
}

/// The scheduler for a case, with its cooldowns, disabled flags and fixed account applied.
fn build(case: &Case, now: Instant) -> Scheduler {
    let specs = case
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| AccountSpec::api_key(format!("a{i}@x"), a.tier, format!("k{i}")))
        .collect();
    let settings = Settings {
        mode: case.mode,
        max_wait: case.max_wait,
        window: case.window,
    };
    let s = Scheduler::with_config(specs, settings, CooldownConfig::default());
    // Some earlier traffic moves the round-robin cursor and the window's last-used account.
    for _ in 0..case.warmups {
        let _ = s.select(&SelectRequest::new(M), now);
    }
    for (i, a) in case.accounts.iter().enumerate() {
        let id = AccountId(i as u32);
        if a.disabled {
            s.disable(id, "test");
        }
        let failure = |reason, secs| {
            Outcome::Failure(Failure {
                explicit_delay: Some(Duration::from_secs(secs)),
                ..Failure::new(reason)
            })
        };
        match a.cooling {
            Some(Cooling::Account(secs)) => {
                s.record(id, M, &failure(Reason::RateLimited, secs), now);
            }
            Some(Cooling::ThisModel(secs)) => {
                s.record(id, M, &failure(Reason::QuotaExhausted, secs), now);
            }
            Some(Cooling::OtherModel(secs)) => {
                s.record(id, "model-other", &failure(Reason::Capacity, secs), now);
            }
            None => {}
        }
    }
    if let Some(f) = case.fixed {
        s.set_fixed(Some(&format!("a{f}@x")))
            .expect("known account");
    }
    s
}

/// Usable for `M`: not disabled, not cooling for `M`, not attempted.
fn usable(case: &Case, i: usize) -> bool {
    let a = &case.accounts[i];
    !a.disabled
        && !a.attempted
        && !matches!(a.cooling, Some(Cooling::Account(_) | Cooling::ThisModel(_)))
}

fn cooling_secs(a: &AccountCase) -> Option<u64> {
    match a.cooling {
        Some(Cooling::Account(s) | Cooling::ThisModel(s)) => Some(s),
        _ => None,
    }
}

fn attempted(case: &Case) -> Vec<AccountId> {
    case.accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.attempted)
        .map(|(i, _)| AccountId(i as u32))
        .collect()
}

fn request<'a>(case: &Case, attempted: &'a [AccountId]) -> SelectRequest<'a> {
    SelectRequest {
        model: M,
        attempt: case.attempt,
        attempted,
        bound: case.bound.map(|b| AccountId(b as u32)),
        grace: case.grace.map(|g| AccountId(g as u32)),
        waited: case.waited,
        owner: None,
    }
}

/// CacheFirst may wait for the session's own account (SPEC §3.2) even while others are usable.
fn cache_first_waits_for_bound(case: &Case, until: Instant, now: Instant) -> bool {
    let Some(b) = case.bound else { return false };
    let a = &case.accounts[b];
    case.mode == Mode::CacheFirst
        && case.attempt == 0
        && !a.disabled
        && !a.attempted
        && cooling_secs(a).is_some_and(|s| {
            let left = Duration::from_secs(s);
            until == now + left && left <= case.max_wait.saturating_sub(case.waited)
        })
}

/// How long a request may still wait for a cooldown: CacheFirst's `max_wait`, else 2 s.
fn wait_budget(case: &Case) -> Duration {
    let budget = match case.mode {
        Mode::CacheFirst => case.max_wait,
        _ => rota_core::scheduler::DEFAULT_WAIT_BUDGET,
    };
    budget.saturating_sub(case.waited)
}

proptest! {
    // The stickiness property holds only for cases whose bound account is usable (about two
    // in three): room for the rejects, so 2 000 cases always run.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_global_rejects: 20_000,
        ..ProptestConfig::default()
    })]

    /// (a) + (b): a pick is always usable (so never attempted, disabled or cooling for the
    /// model); waiting or failing only happens when nothing usable exists (or CacheFirst waits
    /// for the session's own account).
    #[test]
    fn never_picks_an_unusable_account_while_a_usable_one_exists(case in case()) {
        let now = Instant::now();
        let s = build(&case, now);
        let tried = attempted(&case);
        let req = request(&case, &tried);
        let any_usable = (0..case.accounts.len()).any(|i| usable(&case, i));
        match s.select(&req, now) {
            Selection::Picked(pick) => {
                let i = pick.account.index();
                prop_assert!(usable(&case, i), "picked unusable a{i}: {pick:?}");
                prop_assert!(!tried.contains(&pick.account), "picked an attempted account");
            }
            Selection::Wait { until } => {
                prop_assert!(
                    !any_usable || cache_first_waits_for_bound(&case, until, now),
                    "waited until +{:?} while an account was usable",
                    until - now
                );
                prop_assert!(until - now <= wait_budget(&case), "waited beyond the budget");
            }
            Selection::Unavailable(Unavailable::NoAccounts) => {
                prop_assert!(case.accounts.iter().all(|a| a.disabled));
            }
            Selection::Unavailable(Unavailable::OwnerDisabled) => {
                prop_assert!(false, "no request here continues an object");
            }
            Selection::Unavailable(Unavailable::AllLimited { retry_after }) => {
                prop_assert!(!any_usable, "all limited while an account was usable");
                prop_assert!(!case.accounts.iter().all(|a| a.disabled));
                let enabled = || case.accounts.iter().filter(|a| !a.disabled);
                let untried = enabled().filter(|a| !a.attempted).filter_map(cooling_secs).min();
                let earliest = untried.or_else(|| enabled().filter_map(cooling_secs).min());
                prop_assert_eq!(retry_after, earliest.map_or(Duration::from_secs(1), Duration::from_secs));
                if untried.is_some() {
                    prop_assert!(retry_after > wait_budget(&case), "a cooldown within the budget is waited for");
                }
            }
        }
    }

    /// (c): Balance, first attempt, usable bound account, no fixed or grace account → sticky.
    #[test]
    fn balance_keeps_a_usable_bound_account(case in case()) {
        let case = Case { mode: Mode::Balance, attempt: 0, fixed: None, grace: None, ..case };
        let Some(b) = case.bound else { return Ok(()) };
        prop_assume!(usable(&case, b));
        let now = Instant::now();
        let s = build(&case, now);
        let tried = attempted(&case);
        let picked = s.select(&request(&case, &tried), now);
        prop_assert_eq!(
            picked,
            Selection::Picked(rota_core::Pick { account: AccountId(b as u32), decision: Decision::Sticky })
        );
    }
}
