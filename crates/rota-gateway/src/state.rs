//! Persisted state: disabled accounts and the scheduling settings, in `state_dir/state.json`.
//!
//! Saves are atomic (temp file in the same directory, fsync, rename over, fsync the directory)
//! and serialised by a mutex, and each save snapshots the pool *inside* that mutex, so the
//! last save always writes the latest state. An admin change is [committed](StateStore::commit):
//! written first, applied to the pool only once the write succeeded. Temp files that a crash
//! left behind are removed when the store is opened.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rota::Pool;
use rota::core::{FleetEvent, Mode, Settings};
use serde::{Deserialize, Serialize};

use crate::config::MAX_DURATION;

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

    /// Parses a state file's bytes and checks its version (only 1 is supported) and that its
    /// scheduling seconds are at most [`MAX_DURATION`], as the configuration and the admin API
    /// require; the error says why the file cannot be used. Pure: [`StateStore::load`] reads
    /// the file and moves it aside on an error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let s = serde_json::from_slice::<Self>(bytes).map_err(|e| e.to_string())?;
        if s.version != 1 {
            return Err(format!("unsupported version {}", s.version));
        }
        if let Some(sched) = &s.scheduling {
            let most = MAX_DURATION.as_secs();
            for (field, secs) in [
                ("max_wait_seconds", sched.max_wait_seconds),
                ("window_seconds", sched.window_seconds),
            ] {
                if secs > most {
                    return Err(format!("scheduling.{field} {secs} is over {most}"));
                }
            }
        }
        Ok(s)
    }
}

/// A partial update of the scheduling settings: the fields that are `Some` are set, the others
/// keep their current values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    /// The new mode.
    pub mode: Option<Mode>,
    /// The new CacheFirst longest wait.
    pub max_wait: Option<Duration>,
    /// The new last-used window.
    pub window: Option<Duration>,
}

impl SettingsPatch {
    /// `current` with this patch's fields set.
    pub fn apply(self, current: Settings) -> Settings {
        Settings {
            mode: self.mode.unwrap_or(current.mode),
            max_wait: self.max_wait.unwrap_or(current.max_wait),
            window: self.window.unwrap_or(current.window),
        }
    }
}

/// A persisted admin change ([`StateStore::commit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Enable the account with this email.
    Enable {
        /// The account.
        email: String,
    },
    /// Disable the account with this email, for this reason.
    Disable {
        /// The account.
        email: String,
        /// Why (shown by the admin API, kept across restarts).
        reason: String,
    },
    /// Change some of the scheduling settings.
    Scheduling(SettingsPatch),
}

/// Why a [`Change`] was not made. Either way the pool is as it was.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommitError {
    /// The change names an account that is not configured.
    UnknownAccount,
    /// The new state could not be written (the message names the file and the cause).
    Persist(io::Error),
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAccount => f.write_str("unknown account"),
            Self::Persist(e) => write!(f, "cannot persist the change: {e}"),
        }
    }
}

impl std::error::Error for CommitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::UnknownAccount => None,
            Self::Persist(e) => Some(e),
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
    /// Uses `dir` (created if missing), removing the temp files of saves a crash interrupted.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        remove_stale_temp_files(dir);
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
        match PersistedState::from_json(&bytes) {
            Ok(s) => Some(s),
            Err(why) => {
                self.set_aside(&path, &why);
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

    /// Applies a loaded state to the pool: disables accounts, sets scheduling settings. This
    /// replica's own past is not news to a fleet: nothing is published (in fleet mode the
    /// shared state, read next, has the last word).
    pub fn apply(state: &PersistedState, pool: &Pool) {
        for (email, reason) in &state.disabled {
            let disabled = FleetEvent::Disabled {
                email: email.clone(),
                reason: Some(reason.clone()),
            };
            if pool.apply(&disabled).is_err() {
                tracing::warn!(account = %email, "state file names an account that is not configured; ignored");
            }
        }
        if let Some(s) = &state.scheduling {
            match s.to_settings() {
                Some(settings) => drop(pool.apply(&FleetEvent::Settings(settings))),
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

    /// Makes an admin change: inside the save lock, writes the pool's current state with
    /// `change` made, then — only once that write succeeded — makes the change in the pool.
    /// On an error nothing changed, in the file or in the pool. Holding the lock throughout
    /// serialises changes and saves, so none is lost. Blocking I/O (see
    /// [`commit`](Self::commit)).
    pub fn commit_blocking(&self, pool: &Pool, change: &Change) -> Result<(), CommitError> {
        let _guard = self.lock.lock();
        let mut state = PersistedState::of(pool);
        let known = |email: &str| {
            pool.account_id(email)
                .map(|_| ())
                .map_err(|_| CommitError::UnknownAccount)
        };
        let mut settings = pool.settings();
        match change {
            Change::Enable { email } => {
                known(email)?;
                state.disabled.remove(email);
            }
            Change::Disable { email, reason } => {
                known(email)?;
                state.disabled.insert(email.clone(), reason.clone());
            }
            Change::Scheduling(patch) => {
                settings = patch.apply(settings);
                state.scheduling = Some(SchedulingState::from_settings(settings));
            }
        }
        let json = serde_json::to_vec_pretty(&state).map_err(io::Error::other);
        json.and_then(|json| write_atomic(&self.dir, STATE_FILE, &json))
            .map_err(|e| {
                let e = io::Error::new(e.kind(), format!("{}: {e}", self.path().display()));
                CommitError::Persist(e)
            })?;
        let applied = match change {
            Change::Enable { email } => pool.enable(email),
            Change::Disable { email, reason } => pool.disable(email, reason.clone()),
            Change::Scheduling(_) => {
                pool.set_settings(settings);
                Ok(())
            }
        };
        // Checked above, and accounts are never removed.
        applied.map_err(|_| CommitError::UnknownAccount)
    }

    /// [`commit_blocking`](Self::commit_blocking) on the blocking pool.
    pub async fn commit(&self, pool: &Pool, change: Change) -> Result<(), CommitError> {
        let (store, pool) = (self.clone(), pool.clone());
        tokio::task::spawn_blocking(move || store.commit_blocking(&pool, &change))
            .await
            .unwrap_or_else(|e| Err(CommitError::Persist(io::Error::other(e))))
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

/// The prefix of [`write_atomic`]'s temp files for the state file.
fn temp_prefix() -> String {
    format!(".{STATE_FILE}.tmp-")
}

/// Removes the temp files that saves interrupted by a crash (kill -9, power loss) left in
/// `dir`: no save is running yet, so none is in use. Failures are logged, never fatal.
fn remove_stale_temp_files(dir: &Path) {
    let prefix = temp_prefix();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list the state directory for stale temp files");
            return;
        }
    };
    for entry in entries.filter_map(Result::ok) {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "removed a temp file left by an interrupted save")
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove a stale temp file")
            }
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
    fn a_commit_is_written_then_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(dir.path()).expect("open");
        let p = pool();
        let off = Change::Disable {
            email: "a@x".into(),
            reason: "r".into(),
        };
        store.commit_blocking(&p, &off).expect("commit");
        let id = p.account_id("a@x").expect("known");
        assert_eq!(p.scheduler().disabled_reason(id).as_deref(), Some("r"));
        assert_eq!(store.load(), Some(PersistedState::of(&p)));
        let patch = SettingsPatch {
            mode: Some(Mode::CacheFirst),
            ..SettingsPatch::default()
        };
        store
            .commit_blocking(&p, &Change::Scheduling(patch))
            .expect("commit");
        assert_eq!(p.settings().mode, Mode::CacheFirst);
        assert_eq!(p.settings().window, Settings::default().window);
        let enable = Change::Enable {
            email: "a@x".into(),
        };
        store.commit_blocking(&p, &enable).expect("commit");
        assert_eq!(store.load(), Some(PersistedState::of(&p)));
        assert!(store.load().is_some_and(|s| s.disabled.is_empty()));
        let ghost = Change::Enable {
            email: "ghost@x".into(),
        };
        assert!(matches!(
            store.commit_blocking(&p, &ghost),
            Err(CommitError::UnknownAccount)
        ));
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(dir.path()).expect("open");
        let p = pool();
        // A directory where the temp file goes: the write fails (even as root).
        let tmp = dir
            .path()
            .join(format!("{}{}", temp_prefix(), std::process::id()));
        fs::create_dir(&tmp).expect("mkdir");
        let off = Change::Disable {
            email: "a@x".into(),
            reason: "r".into(),
        };
        let e = store.commit_blocking(&p, &off).expect_err("cannot write");
        let msg = e.to_string();
        assert!(msg.starts_with("cannot persist the change: "), "{msg}");
        assert!(msg.contains("state.json"), "{msg}");
        let id = p.account_id("a@x").expect("known");
        assert_eq!(p.scheduler().disabled_reason(id), None);
        let patch = SettingsPatch {
            window: Some(Duration::from_secs(5)),
            ..SettingsPatch::default()
        };
        assert!(
            store
                .commit_blocking(&p, &Change::Scheduling(patch))
                .is_err()
        );
        assert_eq!(p.settings(), Settings::default());
        assert_eq!(store.load(), None);
    }

    #[test]
    fn open_removes_stale_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for pid in ["1", "4242", "999999"] {
            fs::write(dir.path().join(format!(".state.json.tmp-{pid}")), b"{").expect("write");
        }
        fs::write(dir.path().join("keep.txt"), b"x").expect("write");
        let store = StateStore::open(dir.path()).expect("open");
        let left: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["keep.txt".to_owned()]);
        store.save_blocking(&pool()).expect("save");
        assert!(store.load().is_some());
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

    /// Found by `fuzz/fuzz_targets/state.rs`: a state file's seconds were taken as they were, so
    /// `max_wait` could be `u64::MAX` seconds and `Instant::now() + max_wait` overflow.
    #[test]
    fn scheduling_seconds_over_ten_years_are_corrupt() {
        let at_most = format!(
            r#"{{"version":1,"scheduling":{{"mode":"Balance","max_wait_seconds":{0},"window_seconds":{0}}}}}"#,
            MAX_DURATION.as_secs()
        );
        let settings = PersistedState::from_json(at_most.as_bytes())
            .expect("ten years is accepted")
            .scheduling
            .and_then(|s| s.to_settings())
            .expect("settings");
        assert_eq!(settings.max_wait, MAX_DURATION);
        let over = MAX_DURATION.as_secs() + 1;
        for (field, wait, window) in [
            ("max_wait_seconds", u64::MAX, 1),
            ("window_seconds", 1, over),
        ] {
            let json = format!(
                r#"{{"version":1,"scheduling":{{"mode":"Balance","max_wait_seconds":{wait},"window_seconds":{window}}}}}"#
            );
            let why = PersistedState::from_json(json.as_bytes()).expect_err(field);
            assert!(why.starts_with(&format!("scheduling.{field} ")), "{why}");
        }
    }
}
