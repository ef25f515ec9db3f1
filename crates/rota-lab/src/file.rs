//! Scenarios from a TOML file (`rota-lab --scenario-file FILE`), so a workload can be run
//! without touching the lab's code. Every field but `accounts` is optional and defaults to
//! the `standard` scenario's; durations are humantime strings (`"20m"`, `"1.5s"`).
//!
//! ```toml
//! name = "mine"
//! duration = "10m"
//! loads = [0.8, 1.2]
//! window = "0s"            # rota's window_seconds (default: rota's own)
//!
//! [[accounts]]
//! email = "a@example.com"
//! tier = "ULTRA"
//! per_minute = 30
//! per_day = 2000           # optional
//!
//! [workload]               # optional, each field too
//! median_turns = 8
//! median_gap = "20s"
//! fanout = 0.1
//!
//! [failing]                # optional: from `at` × duration, account `account` answers `status`
//! account = 0
//! at = 0.5
//! status = 503
//! ```

use std::collections::HashSet;
use std::time::Duration;

use rota::core::Tier;
use serde::Deserialize;

use crate::scenario::{AccountPlan, Failing, Scenario, WorkloadShape};

/// Most accounts a file may declare.
const MAX_ACCOUNTS: usize = 1_000;
/// Most offered loads, and the largest one.
const MAX_LOADS: usize = 20;
const MAX_LOAD: f64 = 10.0;
/// The longest arrival window.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    about: Option<String>,
    duration: Option<String>,
    loads: Option<Vec<f64>>,
    window: Option<String>,
    accounts: Vec<Account>,
    #[serde(default)]
    workload: Workload,
    failing: Option<FailingFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Account {
    email: String,
    tier: String,
    per_minute: u32,
    per_day: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workload {
    median_turns: Option<f64>,
    max_turns: Option<u32>,
    median_gap: Option<String>,
    gap_sigma: Option<f64>,
    fanout: Option<f64>,
    subagents: Option<(u32, u32)>,
    subagent_turns: Option<(u32, u32)>,
    median_latency: Option<String>,
    system_bytes: Option<usize>,
    median_user_bytes: Option<usize>,
    answer_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailingFile {
    account: usize,
    at: f64,
    status: u16,
}

/// Reads a scenario from TOML text; the error names the field at fault.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut scenario = Scenario::named("standard").ok_or("the standard scenario is built in")?;
    scenario.name = file.name.unwrap_or_else(|| "file".into());
    scenario.about = file
        .about
        .unwrap_or_else(|| "a scenario from a file".into());
    if let Some(d) = &file.duration {
        scenario.duration = duration("duration", d, Duration::from_secs(1), MAX_DURATION)?;
    }
    if let Some(loads) = file.loads {
        if loads.is_empty() || loads.len() > MAX_LOADS {
            return Err(format!("loads: give 1 to {MAX_LOADS} offered loads"));
        }
        if let Some(bad) = loads.iter().find(|l| !(0.01..=MAX_LOAD).contains(*l)) {
            return Err(format!("loads: {bad} is not between 0.01 and {MAX_LOAD}"));
        }
        scenario.loads = loads;
    }
    if let Some(w) = &file.window {
        scenario.rota_window = Some(duration("window", w, Duration::ZERO, MAX_DURATION)?);
    }
    scenario.accounts = accounts(file.accounts)?;
    scenario.shape = workload(file.workload, scenario.shape)?;
    scenario.failing = match file.failing {
        None => None,
        Some(f) if f.account >= scenario.accounts.len() => {
            return Err(format!("failing.account: no account {}", f.account));
        }
        Some(f) if !(0.0..=1.0).contains(&f.at) => {
            return Err(format!("failing.at: {} is not between 0 and 1", f.at));
        }
        Some(f) if !(100..=599).contains(&f.status) => {
            return Err(format!(
                "failing.status: {} is not an HTTP status",
                f.status
            ));
        }
        Some(f) => Some(Failing {
            account: f.account,
            at: f.at,
            status: f.status,
        }),
    };
    Ok(scenario)
}

fn duration(field: &str, text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{field}: {text:?}: {e}"))?;
    if d < min || d > max {
        return Err(format!(
            "{field}: {text:?} is not between {min:?} and {max:?}"
        ));
    }
    Ok(d)
}

fn accounts(list: Vec<Account>) -> Result<Vec<AccountPlan>, String> {
    if list.is_empty() || list.len() > MAX_ACCOUNTS {
        return Err(format!("accounts: give 1 to {MAX_ACCOUNTS} accounts"));
    }
    let mut seen = HashSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if a.email.is_empty() || !seen.insert(a.email.clone()) {
                return Err(format!("accounts[{i}].email: empty or repeated"));
            }
            let tier: Tier = a.tier.parse().map_err(|_| {
                format!("accounts[{i}].tier: {:?} is not ULTRA, PRO or FREE", a.tier)
            })?;
            if a.per_minute == 0 || a.per_day == Some(0) {
                return Err(format!("accounts[{i}]: a quota of 0 serves nothing"));
            }
            Ok(AccountPlan {
                email: a.email,
                tier,
                per_minute: a.per_minute,
                per_day: a.per_day,
            })
        })
        .collect()
}

fn range(field: &str, v: f64, lo: f64, hi: f64) -> Result<f64, String> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "workload.{field}: {v} is not between {lo} and {hi}"
        ))
    }
}

fn pair(field: &str, (lo, hi): (u32, u32), max: u32) -> Result<(u32, u32), String> {
    if lo <= hi && hi <= max {
        Ok((lo, hi))
    } else {
        Err(format!(
            "workload.{field}: [{lo}, {hi}] is not a range within 0..={max}"
        ))
    }
}

fn workload(w: Workload, base: WorkloadShape) -> Result<WorkloadShape, String> {
    let bytes = |field: &str, v: usize| {
        if (1..=1 << 20).contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "workload.{field}: {v} is not between 1 and 1048576 bytes"
            ))
        }
    };
    let max_turns = w.max_turns.unwrap_or(base.max_turns);
    if !(1..=1_000).contains(&max_turns) {
        return Err(format!(
            "workload.max_turns: {max_turns} is not between 1 and 1000"
        ));
    }
    let hour = Duration::from_secs(3600);
    Ok(WorkloadShape {
        median_turns: range(
            "median_turns",
            w.median_turns.unwrap_or(base.median_turns),
            1.0,
            1_000.0,
        )?,
        max_turns,
        median_gap: match &w.median_gap {
            Some(g) => duration("workload.median_gap", g, Duration::from_millis(1), hour)?,
            None => base.median_gap,
        },
        gap_sigma: range("gap_sigma", w.gap_sigma.unwrap_or(base.gap_sigma), 0.0, 4.0)?,
        fanout: range("fanout", w.fanout.unwrap_or(base.fanout), 0.0, 1.0)?,
        subagents: pair("subagents", w.subagents.unwrap_or(base.subagents), 64)?,
        subagent_turns: pair(
            "subagent_turns",
            w.subagent_turns.unwrap_or(base.subagent_turns),
            1_000,
        )?,
        median_latency: match &w.median_latency {
            Some(l) => duration("workload.median_latency", l, Duration::from_millis(1), hour)?,
            None => base.median_latency,
        },
        system_bytes: bytes("system_bytes", w.system_bytes.unwrap_or(base.system_bytes))?,
        median_user_bytes: bytes(
            "median_user_bytes",
            w.median_user_bytes.unwrap_or(base.median_user_bytes),
        )?,
        answer_bytes: bytes("answer_bytes", w.answer_bytes.unwrap_or(base.answer_bytes))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"
        name = "two accounts"
        duration = "2m"
        loads = [0.8, 1.2]
        window = "0s"

        [[accounts]]
        email = "a@x"
        tier = "ULTRA"
        per_minute = 30

        [[accounts]]
        email = "b@x"
        tier = "free"
        per_minute = 5
        per_day = 50

        [workload]
        median_gap = "20s"
        fanout = 0.1

        [failing]
        account = 1
        at = 0.5
        status = 503
    "#;

    #[test]
    fn a_file_overrides_the_standard_scenario_field_by_field() {
        let s = parse(EXAMPLE).expect("valid");
        assert_eq!(s.duration, Duration::from_secs(120));
        assert_eq!(s.loads, [0.8, 1.2]);
        assert_eq!(s.rota_window, Some(Duration::ZERO));
        assert_eq!(s.accounts.len(), 2);
        assert_eq!(
            (s.accounts[1].tier, s.accounts[1].per_day),
            (Tier::Free, Some(50))
        );
        assert_eq!(s.shape.median_gap, Duration::from_secs(20));
        assert_eq!(s.shape.median_turns, WorkloadShape::default().median_turns);
        assert_eq!(s.failing.map(|f| f.account), Some(1));
        assert_eq!(s.name, "two accounts");
    }

    #[test]
    fn the_example_file_is_valid() {
        let s = parse(include_str!("../scenarios/example.toml")).expect("valid");
        assert_eq!((s.name.as_str(), s.accounts.len()), ("example", 3));
    }

    #[test]
    fn bad_files_name_the_field_at_fault() {
        let bad = |from: &str, to: &str, field: &str| {
            let err = parse(&EXAMPLE.replace(from, to)).expect_err(to);
            assert!(err.contains(field), "{to}: {err}");
        };
        bad("tier = \"ULTRA\"", "tier = \"GOLD\"", "accounts[0].tier");
        bad("email = \"b@x\"", "email = \"a@x\"", "accounts[1].email");
        bad("per_minute = 30", "per_minute = 0", "accounts[0]");
        bad("loads = [0.8, 1.2]", "loads = []", "loads");
        bad("loads = [0.8, 1.2]", "loads = [80.0]", "loads");
        bad("duration = \"2m\"", "duration = \"forever\"", "duration");
        bad("account = 1", "account = 7", "failing.account");
        bad("status = 503", "status = 42", "failing.status");
        bad("fanout = 0.1", "fanout = 2.0", "workload.fanout");
        bad("fanout = 0.1", "fanot = 0.1", "unknown field");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_never_panics_on_near_valid_files(cut in 0usize..EXAMPLE.len(), junk in ".{0,8}") {
            let mut text = EXAMPLE.to_owned();
            if text.is_char_boundary(cut) {
                text.insert_str(cut, &junk);
            }
            let _ = parse(&text);
        }
    }
}
