//! The small scenario as CI runs it: the same seed gives the same table; rota's sticky modes
//! keep conversations on their account where the stateless baselines scatter them, and
//! CacheFirst with caps leads every baseline; rota reads the hit ratio the upstream reported,
//! exactly.

use rota_lab::{DEFAULT_SEED, Policy, Row, Scenario, report, run_scenario};

use rota::core::Mode;

fn row(rows: &[Row], policy: Policy, load: f64) -> &Row {
    rows.iter()
        .find(|r| r.policy == policy && r.load == load)
        .expect("every policy runs at every load")
}

#[test]
fn the_small_scenario_is_reproducible_and_rota_leads_the_baselines() {
    let scenario = Scenario::named("small").expect("built in");
    let policies = Policy::all();
    let rows = run_scenario(&scenario, &policies, DEFAULT_SEED, 2);
    let again = run_scenario(&scenario, &policies, DEFAULT_SEED, 1);
    let table = report::table(&rows);
    println!("{table}");
    assert_eq!(table, report::table(&again), "same seed, same table");
    assert_eq!(rows.len(), policies.len() * scenario.loads.len());

    let balance = Policy::Rota {
        mode: Mode::Balance,
        caps: false,
    };
    let cache_first = Policy::Rota {
        mode: Mode::CacheFirst,
        caps: true,
    };
    for &load in &scenario.loads {
        for baseline in [Policy::Random, Policy::RoundRobin] {
            let b = row(&rows, baseline, load);
            for rota in [balance, cache_first] {
                let r = row(&rows, rota, load);
                // Stickiness: turn binding off and these fail.
                assert!(
                    r.affinity_pct > b.affinity_pct + 20.0,
                    "{rota} vs {baseline} at {load}×: {table}"
                );
                assert!(r.hit_ratio > b.hit_ratio, "{rota} vs {baseline} at {load}×");
            }
        }
        // CacheFirst with caps leads every baseline, the original system included, on
        // affinity and cache hits, without losing success.
        for baseline in policies.iter().filter(|p| p.is_baseline()) {
            let b = row(&rows, *baseline, load);
            let r = row(&rows, cache_first, load);
            assert!(
                r.success_pct() >= b.success_pct()
                    && r.affinity_pct >= b.affinity_pct
                    && r.hit_ratio >= b.hit_ratio,
                "{cache_first} vs {baseline} at {load}×: {table}"
            );
        }
        for r in rows.iter().filter(|r| r.load == load) {
            assert!(r.turns > 0 && r.upstream >= r.turns - r.turns / 10);
            if matches!(r.policy, Policy::Rota { .. }) {
                // rota's own reading of the answers' usage is the upstream's truth.
                assert!(
                    (r.rota_hit_ratio - r.hit_ratio).abs() < 1e-9,
                    "{}: rota read {} where the upstream reported {}",
                    r.policy,
                    r.rota_hit_ratio,
                    r.hit_ratio
                );
            }
        }
        // The oracle, which knows every quota, never provokes a 429.
        assert_eq!(row(&rows, Policy::Oracle, load).upstream_429, 0);
    }
}
