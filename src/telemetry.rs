//! The library's counters (`metrics` facade), registered once per [`Pool`](crate::Pool).
//!
//! A labelled `metrics::counter!` builds its key and looks it up in the recorder's registry on
//! every call; the per-request counters are registered when the pool is built instead, so a
//! request only bumps an atomic. They belong to the recorder installed at that moment:
//! install the recorder before building the pool.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::Counter;
use rota_core::{Decision, Outcome};

use crate::usage::Usage;

/// Every [`Decision`], in the order of [`Counters::decisions`].
const DECISIONS: [Decision; 5] = [
    Decision::Fixed,
    Decision::Sticky,
    Decision::Window,
    Decision::Rotation,
    Decision::Grace,
];

/// Where `decision` sits in [`DECISIONS`]: its declaration order (checked by a test).
const fn index_of(decision: Decision) -> usize {
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

/// The `kind` labels of `rota_tokens_total`, in [`Usage`]'s order.
const TOKEN_KINDS: [&str; 4] = ["input", "cached", "cache_write", "output"];

/// One account's token totals (input, cached, cache_write, output) and their
/// `rota_tokens_total` handles.
type AccountTokens = (
    [AtomicU64; TOKEN_KINDS.len()],
    OnceLock<[Counter; TOKEN_KINDS.len()]>,
);

/// `rota_decisions_total{decision}`, `rota_retries_total{kind}` and
/// `rota_account_outcomes_total{account,outcome}` handles (the last registered on first use,
/// per account: a pool may have many accounts that never serve).
pub(crate) struct Counters {
    outcomes: Box<[(String, [OnceLock<Counter>; OUTCOMES.len()])]>,
    /// Per account: token totals (input, cached, cache_write, output), for the admin view,
    /// and their `rota_tokens_total{account,kind}` handles (registered on first use).
    tokens: Box<[AccountTokens]>,
    /// `rota_prompt_tokens_total{decision,kind}`: input and cached prompt tokens by decision,
    /// whose ratio is the cache-hit ratio of each decision.
    prompt: [[Counter; 2]; DECISIONS.len()],
    decisions: [Counter; DECISIONS.len()],
    grace: Counter,
    rotation: Counter,
    denied: Counter,
}

impl Counters {
    /// Registers the counters with the current recorder, for accounts named `emails`.
    pub(crate) fn register<'a>(emails: impl Iterator<Item = &'a str>) -> Self {
        let outcomes: Box<[_]> = emails
            .map(|e| (e.to_owned(), [const { OnceLock::new() }; OUTCOMES.len()]))
            .collect();
        Self {
            tokens: outcomes
                .iter()
                .map(|_| ([const { AtomicU64::new(0) }; TOKEN_KINDS.len()], OnceLock::new()))
                .collect(),
            prompt: DECISIONS.map(|d| {
                ["input", "cached"].map(|kind| {
                    metrics::counter!("rota_prompt_tokens_total", "decision" => d.as_str(), "kind" => kind)
                })
            }),
            outcomes,
            decisions: DECISIONS
                .map(|d| metrics::counter!("rota_decisions_total", "decision" => d.as_str())),
            grace: metrics::counter!("rota_retries_total", "kind" => "grace"),
            rotation: metrics::counter!("rota_retries_total", "kind" => "rotation"),
            denied: metrics::counter!("rota_retries_total", "kind" => "denied"),
        }
    }

    /// Counts one scheduling decision.
    pub(crate) fn decision(&self, decision: Decision) {
        self.decisions[index_of(decision)].increment(1);
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

    /// Counts the tokens of one answer the account at `index` gave, chosen by `decision`.
    pub(crate) fn tokens(&self, index: usize, decision: Decision, usage: Usage) {
        let (Some((totals, handles)), Some((email, _))) =
            (self.tokens.get(index), self.outcomes.get(index))
        else {
            return;
        };
        let counts = [usage.input, usage.cached, usage.cache_write, usage.output];
        let handles = handles.get_or_init(|| {
            TOKEN_KINDS.map(|kind| {
                metrics::counter!("rota_tokens_total", "account" => email.clone(), "kind" => kind)
            })
        });
        for ((total, handle), n) in totals.iter().zip(handles).zip(counts) {
            total.fetch_add(n, Ordering::Relaxed);
            handle.increment(n);
        }
        let [input, cached] = &self.prompt[index_of(decision)];
        input.increment(usage.input);
        cached.increment(usage.cached);
    }

    /// The token totals of the account at `index`.
    pub(crate) fn token_totals(&self, index: usize) -> Usage {
        let Some((t, _)) = self.tokens.get(index) else {
            return Usage::default();
        };
        let get = |i: usize| t[i].load(Ordering::Relaxed);
        Usage {
            input: get(0),
            cached: get(1),
            cache_write: get(2),
            output: get(3),
        }
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
            assert_eq!(DECISIONS[index_of(d)], d);
        }
    }
}
