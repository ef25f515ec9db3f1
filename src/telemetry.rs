//! The library's counters (`metrics` facade), registered once per [`Pool`](crate::Pool).
//!
//! A labelled `metrics::counter!` builds its key and looks it up in the recorder's registry on
//! every call; the per-request counters are registered when the pool is built instead, so a
//! request only bumps an atomic. They belong to the recorder installed at that moment:
//! install the recorder before building the pool.

use metrics::Counter;
use rota_core::Decision;

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
}

/// `rota_decisions_total{decision}` and `rota_retries_total{kind}` handles.
pub(crate) struct Counters {
    decisions: [Counter; DECISIONS.len()],
    grace: Counter,
    rotation: Counter,
}

impl Counters {
    /// Registers the counters with the current recorder.
    pub(crate) fn register() -> Self {
        Self {
            decisions: DECISIONS
                .map(|d| metrics::counter!("rota_decisions_total", "decision" => d.as_str())),
            grace: metrics::counter!("rota_retries_total", "kind" => "grace"),
            rotation: metrics::counter!("rota_retries_total", "kind" => "rotation"),
        }
    }

    /// Counts one scheduling decision.
    pub(crate) fn decision(&self, decision: Decision) {
        self.decisions[index(decision)].increment(1);
    }

    /// Counts one retry.
    pub(crate) fn retry(&self, kind: RetryKind) {
        match kind {
            RetryKind::Grace => self.grace.increment(1),
            RetryKind::Rotation => self.rotation.increment(1),
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
