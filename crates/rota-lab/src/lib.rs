//! rota's scheduling lab (SPEC §10): a deterministic simulation of a workload through the
//! real [`rota::Pool`] and its four layers, against rota-sim's provider model in process
//! (per-account prompt caches and quotas), beside baseline policies behind the same layers.
//!
//! Each (policy, load) runs on its own current-thread tokio runtime with paused time, against
//! a fresh [`rota_sim::Sim::in_process`]; the workload is planned up front from the seed
//! ([`workload::plan`]), so every policy at one load replays the same traffic and the same
//! seed gives the same table.
//!
//! ```
//! use rota_lab::{Policy, Scenario, run_scenario};
//!
//! let mut scenario = Scenario::named("small").expect("a built-in scenario");
//! scenario.duration = std::time::Duration::from_secs(30);
//! scenario.loads = vec![0.5];
//! let rows = run_scenario(&scenario, &[Policy::Random], 7, 1);
//! assert_eq!(rows.len(), 1);
//! assert!(rows[0].turns > 0);
//! ```
#![forbid(unsafe_code)]

pub mod client;
pub mod file;
pub mod metrics;
pub mod pickers;
pub mod policy;
pub mod report;
pub mod run;
pub mod scenario;
pub mod workload;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use metrics::Row;
pub use policy::Policy;
pub use scenario::Scenario;

/// The seed of the published tables.
pub const DEFAULT_SEED: u64 = 20_261_207;

/// Runs every policy at every load of `scenario`, on `jobs` threads, and returns the rows by
/// load, then policy in the order given. Deterministic for a given seed, whatever `jobs`.
pub fn run_scenario(scenario: &Scenario, policies: &[Policy], seed: u64, jobs: usize) -> Vec<Row> {
    // One seed for every load: a heavier load plans the same conversations first, then more.
    let plans: Vec<_> = scenario
        .loads
        .iter()
        .map(|load| workload::plan(scenario, *load, seed))
        .collect();
    let work: Vec<(usize, Policy)> = (0..scenario.loads.len())
        .flat_map(|l| policies.iter().map(move |p| (l, *p)))
        .collect();
    let next = AtomicUsize::new(0);
    let rows = Mutex::new(vec![None; work.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(l, policy)) = work.get(i) else {
                        break;
                    };
                    let load = scenario.loads[l];
                    let row = run::run(scenario, policy, load, &plans[l], seed);
                    if let Ok(mut rows) = rows.lock() {
                        rows[i] = Some(row);
                    }
                }
            });
        }
    });
    rows.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}
