//! Selecting and marking cooldowns from 8 threads at once on one scheduler.
//! `cargo bench -p rota-core --bench contention`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rota_core::{
    AccountSpec, Failure, Mode, Outcome, Reason, Scheduler, SelectRequest, Selection, Settings,
    Tier,
};

const THREADS: usize = 8;

/// PerformanceFirst, so every selection walks the rotation order (the costliest path).
fn scheduler(accounts: usize) -> Arc<Scheduler> {
    let s = Scheduler::new(
        (0..accounts)
            .map(|i| AccountSpec::api_key(format!("a{i}@bench"), Tier::Pro, format!("k{i}")))
            .collect(),
    );
    s.set_settings(Settings {
        mode: Mode::PerformanceFirst,
        ..Settings::default()
    });
    Arc::new(s)
}

/// Each thread does `iters / THREADS` rounds of: select, then record an outcome (every 16th a
/// short rate limit, so cooldowns are being marked and expire all the time).
fn run(s: &Arc<Scheduler>, iters: u64) -> Duration {
    let per_thread = (iters / THREADS as u64).max(1);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = Arc::clone(s);
            scope.spawn(move || {
                let limited = Outcome::Failure(Failure {
                    explicit_delay: Some(Duration::from_millis(1)),
                    ..Failure::new(Reason::RateLimited)
                });
                let ok = Outcome::Success {
                    remaining_quota: None,
                    quota_reset: None,
                };
                for i in 0..per_thread {
                    let now = Instant::now();
                    if let Selection::Picked(p) = s.select(&SelectRequest::new("m"), now) {
                        let outcome = if (i + t as u64).is_multiple_of(16) {
                            &limited
                        } else {
                            &ok
                        };
                        s.record(p.account, "m", outcome, now);
                    }
                }
            });
        }
    });
    // Wall time for `iters` operations spread over the threads: criterion's per-iteration
    // figure is then the cost per operation at the aggregate rate.
    start.elapsed()
}

fn bench_contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention_8_threads");
    for accounts in [4, 1_000] {
        let s = scheduler(accounts);
        group.bench_function(format!("select_and_mark/{accounts}_accounts"), |b| {
            b.iter_custom(|iters| run(&s, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_contention);
criterion_main!(benches);
