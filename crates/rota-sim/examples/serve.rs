//! Serves rota-sim alone, for trying a client (an SDK, curl) against it directly.
//!
//! `cargo run -p rota-sim --example serve -- [ADDR] [--lenient]` (default `127.0.0.1:9100`):
//! every key answers normally; `--lenient` accepts a credential in any header.

use std::net::SocketAddr;

use rota_sim::Sim;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9100));
    let mut lenient = false;
    for arg in std::env::args().skip(1) {
        if arg == "--lenient" {
            lenient = true;
        } else {
            addr = arg.parse()?;
        }
    }
    let sim = Sim::start_on(addr).await?;
    sim.strict_credentials(!lenient);
    println!("rota-sim listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown();
    Ok(())
}
