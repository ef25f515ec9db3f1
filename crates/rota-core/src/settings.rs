//! Scheduling modes and the runtime-tunable scheduling settings.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How strongly the scheduler prefers keeping a conversation on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Keep the session's account even if that means waiting (up to `max_wait`) for its
    /// cooldown to end: best prompt-cache hit rate.
    CacheFirst,
    /// Keep the session's account while it is usable; otherwise move on at once.
    #[default]
    Balance,
    /// Ignore sessions and the window: plain round-robin over usable accounts.
    PerformanceFirst,
}

impl Mode {
    /// The canonical name (`CacheFirst`, `Balance`, `PerformanceFirst`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CacheFirst => "CacheFirst",
            Self::Balance => "Balance",
            Self::PerformanceFirst => "PerformanceFirst",
        }
    }

    /// Whether this mode reads and writes session bindings.
    pub const fn uses_bindings(self) -> bool {
        !matches!(self, Self::PerformanceFirst)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown mode name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown mode {:?} (expected CacheFirst, Balance or PerformanceFirst)",
            self.0
        )
    }
}

impl std::error::Error for UnknownMode {}

impl FromStr for Mode {
    type Err = UnknownMode;

    /// Parses the canonical names; case and `_`/`-` are ignored (`cache_first` works too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.as_str() {
            "cachefirst" => Ok(Self::CacheFirst),
            "balance" => Ok(Self::Balance),
            "performancefirst" => Ok(Self::PerformanceFirst),
            _ => Err(UnknownMode(s.to_owned())),
        }
    }
}

/// The scheduling settings that can change at run time without a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Scheduling mode.
    pub mode: Mode,
    /// CacheFirst: how long a request may wait for its session's account to cool down.
    pub max_wait: Duration,
    /// How long the globally last-used account stays preferred (zero disables the window).
    pub window: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Balance,
            max_wait: Duration::from_secs(60),
            window: Duration::from_secs(60),
        }
    }
}
