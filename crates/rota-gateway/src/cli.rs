//! Command-line interface.

use std::path::PathBuf;

use clap::Parser;

/// rota-gateway: serve LLM traffic from a pool of upstream accounts.
#[derive(Debug, Clone, Parser)]
#[command(name = "rota-gateway", version, about)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["config", "demo"])))]
pub struct Cli {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Start with a simulated upstream and demo accounts; prints curl commands to try.
    #[arg(long)]
    pub demo: bool,
    /// Listen on this address (overrides `listen` of the config; demo: 127.0.0.1:8045).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}
