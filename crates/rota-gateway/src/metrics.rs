//! Prometheus metrics: one recorder per process, rendered at `GET /metrics`.
//!
//! Emitted here: `rota_requests_total{route,status}`, `rota_request_attempts` (histogram of
//! `X-Rota-Attempts`), `rota_bindings` (gauge, sampled at scrape time) and
//! `rota_account_outcomes_total{account,outcome}`. The library adds
//! `rota_cooldowns_total{reason}`, `rota_retries_total{kind}` and
//! `rota_decisions_total{decision}`.

use std::sync::OnceLock;

use http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

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

/// Counts one client request.
pub fn request(route: &'static str, status: StatusCode, attempts: Option<u32>) {
    metrics::counter!("rota_requests_total", "route" => route, "status" => status.as_str().to_owned())
        .increment(1);
    if let Some(n) = attempts {
        metrics::histogram!("rota_request_attempts", "route" => route).record(f64::from(n));
    }
}

/// Counts one upstream attempt's outcome for an account: `success` (2xx), `failure` (a status
/// that marks a cooldown), `neutral` (any other answer) or `error` (no answer).
pub fn account_outcome(account: &str, status: Option<StatusCode>) {
    let outcome = match status {
        None => "error",
        Some(s) if s.is_success() => "success",
        Some(s) if rota::retry::is_retried_status(s.as_u16()) => "failure",
        Some(_) => "neutral",
    };
    metrics::counter!(
        "rota_account_outcomes_total",
        "account" => account.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Renders the metrics text, after sampling the binding count.
pub fn render(bindings: usize) -> String {
    let h = handle();
    metrics::gauge!("rota_bindings").set(bindings as f64);
    h.run_upkeep();
    h.render()
}
