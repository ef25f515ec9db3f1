//! Resident memory of one million object owners in the default in-memory object store.
//!
//! `cargo run --release -p rota-core --example objects_rss` (Linux: reads /proc/self/status).
//! Half the owners carry a session id, as a Responses chain created by a fingerprinted
//! conversation does; the ids are real-length `resp_` ids.

use std::time::{Duration, Instant};

use rota_core::objects::{MemoryObjectStore, ObjectOwner, ObjectStore};
use rota_core::{AccountId, SessionId};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    const N: u32 = 1_000_000;
    let before = rss_kib().unwrap_or(0);
    let store = MemoryObjectStore::new(N as usize, Duration::from_secs(3600));
    let now = Instant::now();
    for i in 0..N {
        let h = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let id = format!("resp_{h:016x}{h:016x}{h:016x}");
        let session = (i % 2 == 0).then(|| SessionId(format!("sid-{h:016x}").into()));
        let owner = ObjectOwner {
            account: AccountId(i % 8),
            session,
        };
        drop(store.learn(&id, owner, now));
    }
    let after = rss_kib().unwrap_or(0);
    let held = match store.count() {
        rota_core::store::StoreFuture::Ready(Some(Ok(n))) => n,
        _ => 0,
    };
    let delta_mib = after.saturating_sub(before) as f64 / 1024.0;
    println!(
        "owners={held} rss_before={:.1}MiB rss_after={:.1}MiB delta={delta_mib:.1}MiB per_owner={:.0}B",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        delta_mib * 1024.0 * 1024.0 / f64::from(N),
    );
}
