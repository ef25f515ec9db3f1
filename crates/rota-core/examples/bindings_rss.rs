//! Resident memory of one million session bindings in the default in-memory store.
//!
//! `cargo run --release -p rota-core --example bindings_rss` (Linux: reads /proc/self/status).

use std::time::{Duration, Instant};

use rota_core::store::{BindingStore, MemoryBindingStore};
use rota_core::{AccountId, SessionId};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    const N: u32 = 1_000_000;
    let before = rss_kib().unwrap_or(0);
    let store = MemoryBindingStore::new(N as usize, Duration::from_secs(3600));
    let now = Instant::now();
    for i in 0..N {
        // A realistic id: "sid-" + 16 hex chars, as the fingerprint produces.
        let id = SessionId(
            format!(
                "sid-{:016x}",
                u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
            .into(),
        );
        drop(store.bind(&id, AccountId(i % 8), now));
    }
    let after = rss_kib().unwrap_or(0);
    let held = match store.count() {
        rota_core::store::StoreFuture::Ready(Some(Ok(n))) => n,
        _ => 0,
    };
    let delta_mib = after.saturating_sub(before) as f64 / 1024.0;
    println!(
        "bindings={held} rss_before={:.1}MiB rss_after={:.1}MiB delta={delta_mib:.1}MiB per_binding={:.0}B",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        delta_mib * 1024.0 * 1024.0 / f64::from(N),
    );
}
