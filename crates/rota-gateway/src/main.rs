//! The `rota-gateway` binary: parse the command line, load the configuration, serve.

use std::process::ExitCode;

use clap::Parser;
use rota_gateway::app::StartError;
use rota_gateway::cli::Cli;
use rota_gateway::config::{Config, parse_listen};
use rota_gateway::{Gateway, demo};
use tracing_subscriber::EnvFilter;

/// mimalloc: the gateway allocates many small, short-lived objects per request (headers,
/// extensions, futures), which it serves faster than the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("rota-gateway: config error: {message}");
    ExitCode::from(2)
}

/// The main runtime only accepts connections (the worker threads serve them, each on its
/// own runtime), waits for signals and runs the background upkeep, so one thread is enough.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let listen = match cli.listen.as_deref().map(parse_listen).transpose() {
        Ok(l) => l,
        Err(e) => return config_error(format!("--listen: {e}")),
    };
    if cli.demo {
        return match demo::run(listen, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rota-gateway: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(path) = cli.config else {
        return config_error("config: pass --config FILE or --demo");
    };
    let mut config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    if let Some(addr) = listen {
        config.listen = addr;
    }
    let addr = config.listen;
    let gateway = match Gateway::build(config).await {
        Ok(g) => g,
        Err(e @ StartError::StateDir(_)) => return config_error(e),
        Err(e) => {
            eprintln!("rota-gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rota-gateway: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match gateway.serve(listener).await {
        Ok(running) => running.run_until(shutdown_signal()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rota-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
