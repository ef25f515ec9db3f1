//! The library's counters (`metrics` facade), registered once per [`Pool`](crate::Pool).
//!
//! A labelled `metrics::counter!` builds its key and looks it up in the recorder's registry on
//! every call; the per-request counters are registered when the pool is built instead, so a
//! request only bumps an atomic. They belong to the recorder installed at that moment:
//! install the recorder before building the pool.

use std::sync::OnceLock;

use metrics::Counter;
use rota_core::{Decision, Outcome};

/// Every [`Decision`], in the order of [`Counters::decisions`].
const DECISIONS: [Decision; 5] = [
    Decision::Fixed,
    Decision::Sticky,
    Decision::Window,
    Decision::Rotation,
    Decision::Grace,
];

/// Where `decision` sits in [`DECISIONS`]: its declaration order (checked by a test).
const fn index(decision: Decision) -> usize {
    decision as usize
}

/// The kind of retry `rota_retries_total{kind}` counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RetryKind {
    /// The same account again after its short 429 delay.
    Grace,
    /// Another account.
    Rotation,
    /// A retry the budget refused.
    Denied,
}

/// The `outcome` labels of `rota_account_outcomes_total`, by [`outcome_index`].
const OUTCOMES: [&str; 5] = ["success", "failure", "neutral", "poisoned", "error"];

/// Where an attempt's verdict is counted: `error` when the upstream sent no answer at all,
/// else the verdict's kind.
const fn outcome_index(outcome: &Outcome, answered: bool) -> usize {
    match (answered, outcome) {
        (false, _) => 4,
        (true, Outcome::Success { .. }) => 0,
        (true, Outcome::Failure(_)) => 1,
        (true, Outcome::Neutral) => 2,
        (true, Outcome::Poisoned) => 3,
    }
}

/// `rota_decisions_total{decision}`, `rota_retries_total{kind}` and
/// `rota_account_outcomes_total{account,outcome}` handles (the last registered on first use,
/// per account: a pool may have many accounts that never serve).
pub(crate) struct Counters {
    outcomes: Box<[(String, [OnceLock<Counter>; OUTCOMES.len()])]>,
    decisions: [Counter; DECISIONS.len()],
    grace: Counter,
    rotation: Counter,
    denied: Counter,
}

impl Counters {
    /// Registers the counters with the current recorder, for accounts named `emails`.
    pub(crate) fn register<'a>(emails: impl Iterator<Item = &'a str>) -> Self {
        Self {
            outcomes: emails
                .map(|e| (e.to_owned(), [const { OnceLock::new() }; OUTCOMES.len()]))
                .collect(),
            decisions: DECISIONS
                .map(|d| metrics::counter!("rota_decisions_total", "decision" => d.as_str())),
            grace: metrics::counter!("rota_retries_total", "kind" => "grace"),
            rotation: metrics::counter!("rota_retries_total", "kind" => "rotation"),
            denied: metrics::counter!("rota_retries_total", "kind" => "denied"),
        }
    }

    /// Counts one scheduling decision.
    pub(crate) fn decision(&self, decision: Decision) {
        self.decisions[index(decision)].increment(1);
    }

    /// Counts the verdict on one attempt of the account at `index`; `answered` is false when
    /// the upstream sent no answer (transport error, timeout).
    pub(crate) fn outcome(&self, index: usize, outcome: &Outcome, answered: bool) {
        let Some((email, slots)) = self.outcomes.get(index) else {
            return;
        };
        let o = outcome_index(outcome, answered);
        slots[o]
            .get_or_init(|| {
                metrics::counter!(
                    "rota_account_outcomes_total",
                    "account" => email.clone(),
                    "outcome" => OUTCOMES[o]
                )
            })
            .increment(1);
    }

    /// Counts one retry.
    pub(crate) fn retry(&self, kind: RetryKind) {
        match kind {
            RetryKind::Grace => self.grace.increment(1),
            RetryKind::Rotation => self.rotation.increment(1),
            RetryKind::Denied => self.denied.increment(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decision_has_its_own_slot() {
        for d in DECISIONS {
            assert_eq!(DECISIONS[index(d)], d);
        }
    }
}
