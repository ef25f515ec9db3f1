//! What a run measured, and one row of the table per (policy, load).

use std::time::Duration;

use parking_lot::Mutex;

use crate::policy::Policy;

/// What the clients saw, gathered while a run goes.
#[derive(Debug, Default)]
pub struct ClientTally(Mutex<ClientCounts>);

#[derive(Debug, Default, Clone)]
struct ClientCounts {
    ok: u64,
    failed: u64,
    /// Turns after a successful one.
    follow_ups: u64,
    /// … served by the account that served the previous successful turn.
    same_account: u64,
    /// Added wait of each successful turn, in seconds.
    waits: Vec<f64>,
}

impl ClientTally {
    /// A turn succeeded after `waited` beyond its upstream latency; `same` says whether the
    /// account matched the previous turn's (`None` for a conversation's first success).
    pub fn success(&self, waited: Duration, same: Option<bool>) {
        let mut c = self.0.lock();
        c.ok += 1;
        c.waits.push(waited.as_secs_f64());
        if let Some(same) = same {
            c.follow_ups += 1;
            c.same_account += u64::from(same);
        }
    }

    /// A turn failed after every client retry.
    pub fn failure(&self) {
        self.0.lock().failed += 1;
    }
}

/// What reached the upstream, per account.
#[derive(Debug)]
pub struct UpstreamTally(Mutex<Vec<(u64, u64)>>);

impl UpstreamTally {
    /// For `n` accounts.
    pub fn new(n: usize) -> Self {
        Self(Mutex::new(vec![(0, 0); n]))
    }

    /// Account `i` got a request, answered with `status`.
    pub fn record(&self, i: usize, status: u16) {
        if let Some(slot) = self.0.lock().get_mut(i) {
            slot.0 += 1;
            slot.1 += u64::from(status == 429);
        }
    }
}

/// One row of a scenario's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The policy.
    pub policy: Policy,
    /// Offered load, as a multiple of capacity.
    pub load: f64,
    /// Turns the clients sent (each counted once, whatever its retries).
    pub turns: u64,
    /// Turns that failed after every client retry, in percent of `turns`.
    pub failed_pct: f64,
    /// Turns after a successful one served by the same account, in percent.
    pub affinity_pct: f64,
    /// Cached input tokens over input tokens, as the upstream reported them.
    pub hit_ratio: f64,
    /// The same ratio as rota read it from the answers passing through.
    pub rota_hit_ratio: f64,
    /// 99th percentile of the added wait of a successful turn (its time beyond the upstream
    /// latency of its answer: rota's waits, retries, the client's own backoff), in seconds.
    pub p99_wait: f64,
    /// Requests of the busiest account over the mean per account.
    pub spread: f64,
    /// Upstream requests in all (retries included).
    pub upstream: u64,
    /// Upstream 429s provoked.
    pub upstream_429: u64,
    /// Upstream requests and 429s of each account, in the scenario's order.
    pub per_account: Vec<(u64, u64)>,
}

impl Row {
    /// The client success rate, in percent.
    pub fn success_pct(&self) -> f64 {
        100.0 - self.failed_pct
    }

    /// Builds the row from a finished run's tallies.
    pub(crate) fn new(
        policy: Policy,
        load: f64,
        clients: &ClientTally,
        upstream: &UpstreamTally,
        hit_ratio: f64,
        rota_hit_ratio: f64,
    ) -> Self {
        let mut c = clients.0.lock().clone();
        let turns = c.ok + c.failed;
        let per_account = upstream.0.lock().clone();
        let total: u64 = per_account.iter().map(|a| a.0).sum();
        let max = per_account.iter().map(|a| a.0).max().unwrap_or(0);
        let mean = total as f64 / per_account.len().max(1) as f64;
        c.waits.sort_by(f64::total_cmp);
        Self {
            policy,
            load,
            turns,
            failed_pct: percent(c.failed, turns),
            affinity_pct: percent(c.same_account, c.follow_ups),
            hit_ratio,
            rota_hit_ratio,
            p99_wait: quantile(&c.waits, 0.99),
            spread: if mean > 0.0 { max as f64 / mean } else { 0.0 },
            upstream: total,
            upstream_429: per_account.iter().map(|a| a.1).sum(),
            per_account,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 for none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.99), 0.0);
        assert_eq!(quantile(&[3.0], 0.5), 3.0);
    }
}
