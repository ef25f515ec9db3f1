//! The workload, planned in full before a run from a seed: which conversations arrive when,
//! how many turns each has, the gaps between them, where agents fan out, each answer's
//! latency. Every policy at one load replays the same plan.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::scenario::{Scenario, WorkloadShape};

/// The API a conversation speaks (its client: Claude Code, Codex, Gemini CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic `POST /v1/messages`.
    Anthropic,
    /// OpenAI `POST /v1/chat/completions`.
    OpenAi,
    /// Gemini `POST /v1beta/models/{m}:generateContent`.
    Gemini,
}

/// One planned turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Think time before it (zero for a conversation's first turn).
    pub gap: Duration,
    /// Bytes of its user message.
    pub user_bytes: usize,
    /// How long a successful answer takes upstream.
    pub latency: Duration,
    /// Whether the client asks for a stream.
    pub stream: bool,
    /// Sub-agents started after it succeeds; the next turn waits for all of them.
    pub fanout: Vec<Conversation>,
}

/// One planned conversation (an agent's session, or a sub-agent's).
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Unique within the plan.
    pub id: u32,
    /// Its API.
    pub api: Api,
    /// Whether it is a sub-agent (another system prompt).
    pub subagent: bool,
    /// When it starts, from the start of the run (sub-agents: from their fan-out).
    pub start: Duration,
    /// Its turns, at least one.
    pub turns: Vec<Turn>,
}

impl Conversation {
    /// Turns of this conversation and of every sub-agent it starts.
    pub fn requests(&self) -> usize {
        self.turns
            .iter()
            .map(|t| 1 + t.fanout.iter().map(Conversation::requests).sum::<usize>())
            .sum()
    }
}

/// A whole run's traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Top-level conversations, by start time.
    pub conversations: Vec<Conversation>,
    /// Turns in all, sub-agents included.
    pub requests: usize,
}

/// A log-normal with this median and spread.
fn log_normal(median: f64, sigma: f64) -> LogNormal<f64> {
    // `median` > 0 and `sigma` ≥ 0 here; a bad pair falls back to a point mass at the median.
    LogNormal::new(median.max(1e-9).ln(), sigma.max(0.0))
        .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("σ = 0 is valid"))
}

struct Planner<'a> {
    shape: &'a WorkloadShape,
    rng: StdRng,
    next_id: u32,
    turns: LogNormal<f64>,
    gaps: LogNormal<f64>,
    latency: LogNormal<f64>,
    user: LogNormal<f64>,
}

impl Planner<'_> {
    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn api(&mut self) -> Api {
        match self.rng.random_range(0..20) {
            0..12 => Api::Anthropic,
            12..17 => Api::OpenAi,
            _ => Api::Gemini,
        }
    }

    fn turn(&mut self, first: bool, gap: &LogNormal<f64>, depth: u32) -> Turn {
        let gap = if first {
            Duration::ZERO
        } else {
            secs(gap.sample(&mut self.rng).min(3_600.0))
        };
        let user_bytes = (self.user.sample(&mut self.rng) as usize).clamp(40, 20_000);
        let latency = secs(self.latency.sample(&mut self.rng).clamp(0.2, 60.0));
        let stream = self.rng.random_bool(0.5);
        let fanout = if depth == 0 && self.rng.random_bool(self.shape.fanout.clamp(0.0, 1.0)) {
            let (lo, hi) = self.shape.subagents;
            let n = self.rng.random_range(lo..=hi.max(lo));
            (0..n).map(|_| self.subagent()).collect()
        } else {
            Vec::new()
        };
        Turn {
            gap,
            user_bytes,
            latency,
            stream,
            fanout,
        }
    }

    fn subagent(&mut self) -> Conversation {
        let (lo, hi) = self.shape.subagent_turns;
        let n = self.rng.random_range(lo.max(1)..=hi.max(lo).max(1));
        // Sub-agents work without a human in the loop: short gaps.
        let gaps = log_normal(2.0, 0.5);
        let id = self.id();
        let api = self.api();
        let start = secs(self.rng.random_range(0.0..1.0));
        let turns = (0..n).map(|k| self.turn(k == 0, &gaps, 1)).collect();
        Conversation {
            id,
            api,
            subagent: true,
            start,
            turns,
        }
    }

    fn conversation(&mut self) -> Conversation {
        let n = (self.turns.sample(&mut self.rng).round() as u32).clamp(1, self.shape.max_turns);
        let id = self.id();
        let api = self.api();
        let gaps = self.gaps;
        let turns = (0..n).map(|k| self.turn(k == 0, &gaps, 0)).collect();
        Conversation {
            id,
            api,
            subagent: false,
            start: Duration::ZERO,
            turns,
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// Plans the traffic of `scenario` at `load` × its capacity: conversations arrive uniformly
/// over the scenario's duration until their turns (sub-agents included) reach
/// `load × capacity × duration`, so that while conversations overlap the pool is offered
/// `load` times what its per-minute quotas admit. The same `seed` gives the same plan.
pub fn plan(scenario: &Scenario, load: f64, seed: u64) -> Plan {
    let shape = &scenario.shape;
    let mut planner = Planner {
        shape,
        rng: StdRng::seed_from_u64(seed),
        next_id: 0,
        turns: log_normal(shape.median_turns, 0.9),
        gaps: log_normal(shape.median_gap.as_secs_f64(), shape.gap_sigma),
        latency: log_normal(shape.median_latency.as_secs_f64(), 0.5),
        user: log_normal(shape.median_user_bytes as f64, 0.8),
    };
    let duration = scenario.duration.as_secs_f64();
    let target = (load * scenario.capacity_per_second() * duration).ceil() as usize;
    let mut conversations = Vec::new();
    let mut requests = 0;
    while requests < target.max(1) {
        let c = planner.conversation();
        requests += c.requests();
        conversations.push(c);
    }
    let mut starts: Vec<f64> = (0..conversations.len())
        .map(|_| planner.rng.random_range(0.0..duration.max(1.0)))
        .collect();
    starts.sort_by(f64::total_cmp);
    for (c, start) in conversations.iter_mut().zip(starts) {
        c.start = secs(start);
    }
    Plan {
        conversations,
        requests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_plans_the_same_traffic_and_the_load_scales_it() {
        let s = Scenario::named("small").expect("small");
        assert_eq!(plan(&s, 1.0, 7), plan(&s, 1.0, 7));
        assert_ne!(plan(&s, 1.0, 7), plan(&s, 1.0, 8));
        let (half, full) = (plan(&s, 0.5, 7), plan(&s, 1.0, 7));
        let target = s.capacity_per_second() * s.duration.as_secs_f64();
        assert!(full.requests as f64 >= target);
        assert!((half.requests as f64) < 0.6 * full.requests as f64 + 20.0);
        let starts: Vec<_> = full.conversations.iter().map(|c| c.start).collect();
        assert!(starts.is_sorted() && *starts.last().expect("some") < s.duration);
    }
}
