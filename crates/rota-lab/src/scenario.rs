//! The named scenarios: a pool of accounts with their quotas, a workload's shape, the offered
//! loads to sweep, and an account that starts failing midway.

use std::time::Duration;

use rota::core::Tier;

/// One upstream account: its tier and the provider's quotas for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlan {
    /// Display id.
    pub email: String,
    /// Plan tier (rota prefers higher tiers).
    pub tier: Tier,
    /// Requests the provider admits in any 60 s.
    pub per_minute: u32,
    /// Requests the provider admits per day, if limited.
    pub per_day: Option<u32>,
}

impl AccountPlan {
    fn new(email: &str, tier: Tier, per_minute: u32, per_day: Option<u32>) -> Self {
        Self {
            email: email.to_owned(),
            tier,
            per_minute,
            per_day,
        }
    }

    /// The account's API key in the simulated provider.
    pub fn key(&self) -> String {
        format!("key-{}", self.email)
    }
}

/// The shape of the traffic: conversations, their turns and gaps, sub-agents.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadShape {
    /// Median turns of a conversation (log-normal, at most `max_turns`).
    pub median_turns: f64,
    /// At most this many turns.
    pub max_turns: u32,
    /// Median think time between two turns (log-normal, heavy-tailed).
    pub median_gap: Duration,
    /// Spread of the gaps (σ of the log-normal): with a 15 s median, 1.2 puts one gap in 8
    /// past a minute and one in 160 past 5 minutes.
    pub gap_sigma: f64,
    /// Chance that a turn fans out to parallel sub-agents before the next one.
    pub fanout: f64,
    /// Sub-agents per fan-out (uniform, inclusive).
    pub subagents: (u32, u32),
    /// Turns of one sub-agent (uniform, inclusive).
    pub subagent_turns: (u32, u32),
    /// Median upstream latency of a successful answer (log-normal).
    pub median_latency: Duration,
    /// Bytes of the shared system prompt of each protocol's agent.
    pub system_bytes: usize,
    /// Median bytes of a user message (log-normal).
    pub median_user_bytes: usize,
    /// Bytes of an assistant answer kept in the history.
    pub answer_bytes: usize,
}

impl Default for WorkloadShape {
    fn default() -> Self {
        Self {
            median_turns: 6.0,
            max_turns: 60,
            median_gap: Duration::from_secs(15),
            gap_sigma: 1.2,
            fanout: 0.05,
            subagents: (2, 4),
            subagent_turns: (2, 6),
            median_latency: Duration::from_secs(3),
            system_bytes: 3_000,
            median_user_bytes: 400,
            answer_bytes: 600,
        }
    }
}

/// An account that starts failing: from `at` (a fraction of the arrival window) on, every
/// request to it is answered with `status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failing {
    /// Index of the account in the scenario.
    pub account: usize,
    /// When, as a fraction of [`Scenario::duration`].
    pub at: f64,
    /// The status it answers from then on.
    pub status: u16,
}

/// One named scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: String,
    /// What it shows.
    pub about: String,
    /// The pool.
    pub accounts: Vec<AccountPlan>,
    /// New conversations arrive during this long (simulated time); they run to their end.
    pub duration: Duration,
    /// Offered loads to sweep, as multiples of the pool's per-minute capacity.
    pub loads: Vec<f64>,
    /// The traffic.
    pub shape: WorkloadShape,
    /// An account that starts failing midway, if any.
    pub failing: Option<Failing>,
    /// rota's `window_seconds` in this run (`None`: rota's default, 60 s).
    pub rota_window: Option<Duration>,
}

impl Scenario {
    /// The pool's capacity: the sum of the per-minute quotas, in requests per second.
    pub fn capacity_per_second(&self) -> f64 {
        self.accounts
            .iter()
            .map(|a| f64::from(a.per_minute))
            .sum::<f64>()
            / 60.0
    }

    /// Every scenario, by name.
    pub fn all() -> Vec<Scenario> {
        vec![standard(), subagents(), small()]
    }

    /// The scenario called `name`.
    pub fn named(name: &str) -> Option<Scenario> {
        Self::all().into_iter().find(|s| s.name == name)
    }
}

/// Mixed tiers: two ULTRA and three PRO accounts with per-minute quotas, three FREE ones that
/// also run out of their daily quota during the run; a PRO account answers 503 from halfway.
fn standard() -> Scenario {
    Scenario {
        name: "standard".into(),
        about: "8 accounts of mixed tiers (FREE ones with a daily quota that runs out), \
                conversations with heavy-tailed gaps, some sub-agent fan-out, \
                one PRO account failing (503) from halfway"
            .into(),
        accounts: vec![
            AccountPlan::new("ultra-1@lab", Tier::Ultra, 40, None),
            AccountPlan::new("ultra-2@lab", Tier::Ultra, 40, None),
            AccountPlan::new("pro-1@lab", Tier::Pro, 20, None),
            AccountPlan::new("pro-2@lab", Tier::Pro, 20, None),
            AccountPlan::new("pro-3@lab", Tier::Pro, 20, None),
            AccountPlan::new("free-1@lab", Tier::Free, 8, Some(120)),
            AccountPlan::new("free-2@lab", Tier::Free, 8, Some(120)),
            AccountPlan::new("free-3@lab", Tier::Free, 8, Some(120)),
        ],
        duration: Duration::from_secs(20 * 60),
        loads: vec![0.5, 0.75, 1.0, 1.2, 1.5],
        shape: WorkloadShape::default(),
        failing: Some(Failing {
            account: 3,
            at: 0.5,
            status: 503,
        }),
        rota_window: None,
    }
}

/// Agents that fan out often: bursts of new sessions at once.
fn subagents() -> Scenario {
    Scenario {
        name: "subagents".into(),
        about: "the standard pool under agents that fan out to 3–6 parallel sub-agents \
                on one turn in five"
            .into(),
        shape: WorkloadShape {
            fanout: 0.2,
            subagents: (3, 6),
            ..WorkloadShape::default()
        },
        ..standard()
    }
}

/// Small enough for CI in a debug build: four accounts, six minutes, two loads.
fn small() -> Scenario {
    Scenario {
        name: "small".into(),
        about: "4 accounts, 6 minutes of arrivals, loads 0.5× and 1.2×, one account failing \
                (503) from halfway: the scenario CI runs"
            .into(),
        accounts: vec![
            AccountPlan::new("ultra-1@lab", Tier::Ultra, 20, None),
            AccountPlan::new("pro-1@lab", Tier::Pro, 12, None),
            AccountPlan::new("pro-2@lab", Tier::Pro, 12, None),
            AccountPlan::new("free-1@lab", Tier::Free, 6, Some(40)),
        ],
        duration: Duration::from_secs(6 * 60),
        loads: vec![0.5, 1.2],
        shape: WorkloadShape::default(),
        failing: Some(Failing {
            account: 2,
            at: 0.5,
            status: 503,
        }),
        rota_window: None,
    }
}
