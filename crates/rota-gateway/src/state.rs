//! Persisted state: disabled accounts and the scheduling settings, in `state_dir/state.json`.
//!
//! Saves are atomic (temp file in the same directory, fsync, rename over, fsync the directory)
//! and serialised by a mutex, and each save snapshots the pool *inside* that mutex, so the
//! last save always writes the latest state.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rota::Pool;
use rota::core::{Mode, Settings};
use serde::{Deserialize, Serialize};

/// The state file's name inside `state_dir`.
pub const STATE_FILE: &str = "state.json";

/// The persisted scheduling settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulingState {
    /// `CacheFirst`, `Balance` or `PerformanceFirst`.
    pub mode: String,
    /// CacheFirst's longest wait.
    pub max_wait_seconds: u64,
    /// The last-used window.
    pub window_seconds: u64,
}

impl SchedulingState {
    /// From pool settings.
    pub fn from_settings(s: Settings) -> Self {
        Self {
            mode: s.mode.as_str().to_owned(),
            max_wait_seconds: s.max_wait.as_secs(),
            window_seconds: s.window.as_secs(),
        }
    }

    /// To pool settings (`None` if the mode is unknown).
    pub fn to_settings(&self) -> Option<Settings> {
        Some(Settings {
            mode: self.mode.parse::<Mode>().ok()?,
            max_wait: Duration::from_secs(self.max_wait_seconds),
            window: Duration::from_secs(self.window_seconds),
        })
    }
}

/// The content of `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedState {
    /// Format version (1).
    pub version: u32,
    /// Disabled accounts: email → reason.
    #[serde(default)]
    pub disabled: BTreeMap<String, String>,
    /// Scheduling settings as last set.
    #[serde(default)]
    pub scheduling: Option<SchedulingState>,
}

impl PersistedState {
    /// The state to persist for a pool right now.
    pub fn of(pool: &Pool) -> Self {
        let disabled = pool
            .snapshot()
            .into_iter()
            .filter_map(|a| Some((a.email, a.disabled_reason?)))
            .collect();
        Self {
            version: 1,
            disabled,
            scheduling: Some(SchedulingState::from_settings(pool.settings())),
        }
    }
}

/// The state directory and its file.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl StateStore {
    /// Uses `dir` (created if missing).
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            lock: Arc::new(Mutex::new(())),
        })
    }

    /// The state file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Loads the state file. Missing → `None`. Unreadable or corrupt → a warning, the file is
    /// renamed aside to `state.json.corrupt-<unix-ts>`, and `None`.
    pub fn load(&self) -> Option<PersistedState> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.set_aside(&path, &e.to_string());
                return None;
            }
        };
        match serde_json::from_slice::<PersistedState>(&bytes) {
            Ok(s) if s.version == 1 => Some(s),
            Ok(s) => {
                self.set_aside(&path, &format!("unsupported version {}", s.version));
                None
            }
            Err(e) => {
                self.set_aside(&path, &e.to_string());
                None
            }
        }
    }

    fn set_aside(&self, path: &Path, why: &str) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = self.dir.join(format!("{STATE_FILE}.corrupt-{ts}"));
        let moved = match fs::rename(path, &aside) {
            Ok(()) => format!("moved aside to {}", aside.display()),
            Err(e) => format!("could not move it aside: {e}"),
        };
        tracing::warn!(
            "state file {} is unreadable ({why}); {moved}; starting from the configuration",
            path.display()
        );
    }

    /// Applies a loaded state to the pool: disables accounts, sets scheduling settings.
    pub fn apply(state: &PersistedState, pool: &Pool) {
        for (email, reason) in &state.disabled {
            if pool.disable(email, reason.clone()).is_err() {
                tracing::warn!(account = %email, "state file names an account that is not configured; ignored");
            }
        }
        if let Some(s) = &state.scheduling {
            match s.to_settings() {
                Some(settings) => pool.set_settings(settings),
                None => tracing::warn!(mode = %s.mode, "state file has an unknown mode; ignored"),
            }
        }
    }

    /// Writes the pool's current state (blocking I/O; see [`save`](Self::save)).
    pub fn save_blocking(&self, pool: &Pool) -> io::Result<()> {
        let _guard = self.lock.lock();
        let state = PersistedState::of(pool);
        let json = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        write_atomic(&self.dir, STATE_FILE, &json)
    }

    /// Writes the pool's current state on the blocking pool; logs failures.
    pub async fn save(&self, pool: &Pool) {
        let (store, pool) = (self.clone(), pool.clone());
        let result = tokio::task::spawn_blocking(move || store.save_blocking(&pool)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, file = %self.path().display(), "saving state failed")
            }
            Err(e) => tracing::error!(error = %e, "saving state failed"),
        }
    }
}

/// Atomically replaces `dir/name` with `bytes`.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota::core::{AccountSpec, Tier};

    fn pool() -> Pool {
        Pool::builder()
            .account(AccountSpec::api_key("a@x", Tier::Pro, "k"))
            .build()
            .expect("pool")
    }

    #[test]
    fn round_trip_and_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(dir.path()).expect("open");
        assert_eq!(store.load(), None);
        let p = pool();
        p.disable("a@x", "because").expect("known");
        store.save_blocking(&p).expect("save");
        let loaded = store.load().expect("state");
        assert_eq!(
            loaded.disabled.get("a@x").map(String::as_str),
            Some("because")
        );
        fs::write(store.path(), b"{not json").expect("write");
        assert_eq!(store.load(), None);
        assert!(!store.path().exists());
        let aside = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            });
        assert!(aside);
    }
}
