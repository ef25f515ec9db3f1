//! `rota-lab --scenario NAME`: runs a scenario's workload through every policy at every
//! offered load, prints the table and writes the plot.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rota_lab::{DEFAULT_SEED, Policy, Scenario, report, run_scenario};

/// rota's scheduling lab (SPEC §10).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The scenario to run (`--list` shows them).
    #[arg(long, default_value = "standard")]
    scenario: String,
    /// Runs the scenario described in this TOML file instead (see `rota_lab::file`).
    #[arg(long, value_name = "FILE")]
    scenario_file: Option<PathBuf>,
    /// The seed of the workload and of the random baselines.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Runs at once (each on its own thread).
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, usize::from))]
    jobs: usize,
    /// Where the plot goes (default `docs/lab/SCENARIO.svg`).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// rota's `window_seconds` for the rota rows (default: rota's own, 60).
    #[arg(long)]
    window: Option<u64>,
    /// Also prints each account's upstream requests and 429s per policy.
    #[arg(long)]
    accounts: bool,
    /// Lists the scenarios and exits.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for s in Scenario::all() {
            println!("{:10} {}", s.name, s.about);
        }
        return ExitCode::SUCCESS;
    }
    let scenario = match &args.scenario_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| rota_lab::file::parse(&text))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => Scenario::named(&args.scenario)
            .ok_or_else(|| format!("no scenario {:?} (try --list)", args.scenario)),
    };
    let mut scenario = match scenario {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rota-lab: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(w) = args.window {
        scenario.rota_window = Some(std::time::Duration::from_secs(w));
    }
    let started = Instant::now();
    let rows = run_scenario(&scenario, &Policy::all(), args.seed, args.jobs);
    println!(
        "# rota-lab {} --seed {}{}\n\n{}\n\ncapacity {:.0} requests/min, {} accounts, {} s of arrivals",
        match &args.scenario_file {
            Some(path) => format!("--scenario-file {} ({})", path.display(), scenario.name),
            None => format!("--scenario {}", scenario.name),
        },
        args.seed,
        args.window
            .map_or(String::new(), |w| format!(" --window {w}")),
        scenario.about,
        scenario.capacity_per_second() * 60.0,
        scenario.accounts.len(),
        scenario.duration.as_secs(),
    );
    println!("{}", report::table(&rows));
    if args.accounts {
        let emails: Vec<String> = scenario.accounts.iter().map(|a| a.email.clone()).collect();
        println!("{}", report::accounts(&rows, &emails));
    }
    let path = args.plot.unwrap_or_else(|| {
        let window = args
            .window
            .map_or(String::new(), |w| format!("-window-{w}"));
        // A file's name may be anything: keep the plot under docs/lab/.
        let name: String = scenario
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        PathBuf::from(format!("docs/lab/{name}{window}.svg"))
    });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("rota-lab: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let title = format!("rota-lab: {} (seed {})", scenario.name, args.seed);
    if let Err(e) = report::plot(&rows, &title, &path) {
        eprintln!("rota-lab: cannot write the plot {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "rota-lab: plot in {}; {:.1} s of real time",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
