//! Prometheus metrics: one recorder per process, rendered at `GET /metrics`.
//!
//! Emitted here: `rota_requests_total{route,status}`, `rota_request_attempts` (histogram of
//! `X-Rota-Attempts`), `rota_bindings` (gauge, sampled at scrape time) and
//! `rota_account_outcomes_total{account,outcome}`. The library adds
//! `rota_cooldowns_total{reason}`, `rota_retries_total{kind}` and
//! `rota_decisions_total{decision}`.

use std::sync::{Arc, OnceLock};

use http::StatusCode;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::edge::Route;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`
/// (without it, the recorder keeps every sample until the next render).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts the recorder's upkeep task (once per process; needs a tokio runtime).
pub fn spawn_upkeep() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let handle = handle();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    });
}

/// The process-wide Prometheus handle; installs the recorder on first use. If another global
/// recorder was installed first, rendering shows only what reached this one.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full("rota_request_attempts".to_owned()),
                &[1.0, 2.0, 3.0, 4.0, 5.0, 8.0],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be incomplete");
        }
        handle
    })
}

/// Handles are registered on first use and cached: a labelled `counter!` builds its key (and
/// allocates its label strings) and looks it up in the recorder's registry on every call, which
/// the request path cannot afford. The gateway installs the recorder in `Gateway::new`, before
/// any request, so a cached handle is never a no-op one.
const ROUTES: usize = Route::Models as usize + 1;
/// Statuses 100..=599 have a cached counter per route; anything else takes the macro.
const STATUSES: std::ops::Range<u16> = 100..600;

const N_STATUSES: usize = (STATUSES.end - STATUSES.start) as usize;
static REQUESTS: [[OnceLock<Counter>; N_STATUSES]; ROUTES] =
    [const { [const { OnceLock::new() }; N_STATUSES] }; ROUTES];
static ATTEMPTS: [OnceLock<Histogram>; ROUTES] = [const { OnceLock::new() }; ROUTES];

/// Counts one client request.
pub fn request(route: Route, status: StatusCode, attempts: Option<u32>) {
    let r = route as usize;
    let name = route.name();
    let code = status.as_u16();
    if STATUSES.contains(&code) {
        REQUESTS[r][usize::from(code - STATUSES.start)]
            .get_or_init(|| requests_counter(name, status))
            .increment(1);
    } else {
        requests_counter(name, status).increment(1);
    }
    if let Some(n) = attempts {
        ATTEMPTS[r]
            .get_or_init(|| metrics::histogram!("rota_request_attempts", "route" => name))
            .record(f64::from(n));
    }
}

fn requests_counter(route: &'static str, status: StatusCode) -> Counter {
    metrics::counter!("rota_requests_total", "route" => route, "status" => status.as_str().to_owned())
}

/// The outcome label of an upstream attempt: `success` (2xx), `failure` (a status that marks
/// a cooldown), `neutral` (any other answer) or `error` (no answer).
fn outcome(status: Option<StatusCode>) -> usize {
    match status {
        None => 3,
        Some(s) if s.is_success() => 0,
        Some(s) if rota::retry::is_retried_status(s.as_u16()) => 1,
        Some(_) => 2,
    }
}

const OUTCOMES: [&str; 4] = ["success", "failure", "neutral", "error"];

fn outcome_counter(account: &str, outcome: usize) -> Counter {
    metrics::counter!(
        "rota_account_outcomes_total",
        "account" => account.to_owned(),
        "outcome" => OUTCOMES[outcome]
    )
}

/// Counts one upstream attempt's outcome for an account: `success` (2xx), `failure` (a status
/// that marks a cooldown), `neutral` (any other answer) or `error` (no answer).
pub fn account_outcome(account: &str, status: Option<StatusCode>) {
    outcome_counter(account, outcome(status)).increment(1);
}

/// [`account_outcome`] with the counters of each account of a pool cached (by account index).
#[derive(Clone)]
pub struct AccountOutcomes {
    accounts: Arc<[(String, [OnceLock<Counter>; 4])]>,
}

impl AccountOutcomes {
    /// For the accounts of `pool`.
    pub fn new(pool: &rota::Pool) -> Self {
        let accounts = pool
            .scheduler()
            .specs()
            .iter()
            .map(|a| (a.email.clone(), [const { OnceLock::new() }; 4]))
            .collect();
        Self { accounts }
    }

    /// Counts one upstream attempt's outcome for the account at `index`.
    pub fn record(&self, index: usize, status: Option<StatusCode>) {
        let Some((email, counters)) = self.accounts.get(index) else {
            return;
        };
        let o = outcome(status);
        counters[o]
            .get_or_init(|| outcome_counter(email, o))
            .increment(1);
    }
}

impl std::fmt::Debug for AccountOutcomes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountOutcomes")
            .field("accounts", &self.accounts.len())
            .finish()
    }
}

/// Renders the metrics text, after sampling the binding count.
pub fn render(bindings: usize) -> String {
    let h = handle();
    metrics::gauge!("rota_bindings").set(bindings as f64);
    h.run_upkeep();
    h.render()
}
