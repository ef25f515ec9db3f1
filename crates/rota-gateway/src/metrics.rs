//! Prometheus metrics: one recorder per process, rendered at `GET /metrics`.
//!
//! Emitted here: `rota_requests_total{route,status}`, `rota_request_attempts` (histogram of
//! `X-Rota-Attempts`) and `rota_bindings` (gauge, sampled at scrape time). The library adds
//! `rota_account_outcomes_total{account,outcome}` (from the mark layer's verdict),
//! `rota_cooldowns_total{reason}`, `rota_retries_total{kind}` and
//! `rota_decisions_total{decision}`.

use std::sync::OnceLock;

use http::StatusCode;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::routes::Route;

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
const ROUTES: usize = Route::COUNT;
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

/// Renders the metrics text, after sampling the binding count.
pub fn render(bindings: usize) -> String {
    let h = handle();
    metrics::gauge!("rota_bindings").set(bindings as f64);
    h.run_upkeep();
    h.render()
}
