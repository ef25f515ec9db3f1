//! The failures rota's layers add.

use std::fmt;
use std::time::Duration;

use rota_core::AccountId;

/// A boxed error, as tower middleware returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong while serving a request from the pool.
///
/// Layers return it boxed in a [`BoxError`]; recover it with `downcast_ref::<rota::Error>()`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Every usable account is cooling down; the earliest is free again after `retry_after`.
    AllAccountsLimited {
        /// Time until the earliest cooldown ends.
        retry_after: Duration,
    },
    /// No account is configured, or all are disabled.
    NoAccounts,
    /// The upstream service failed (transport error) while `account` was serving.
    Upstream {
        /// The account of the failed attempt.
        account: AccountId,
        /// The inner service's error.
        source: BoxError,
    },
}

impl Error {
    /// The account of a failed upstream attempt, if this is one.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Self::Upstream { account, .. } => Some(*account),
            _ => None,
        }
    }

    /// Finds a rota [`Error`] in a boxed error.
    pub fn find(err: &BoxError) -> Option<&Error> {
        err.downcast_ref::<Error>()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllAccountsLimited { retry_after } => write!(
                f,
                "all accounts are rate-limited; retry after {} s",
                retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
            ),
            Self::NoAccounts => f.write_str("no upstream account is available"),
            Self::Upstream { source, .. } => write!(f, "upstream request failed: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Upstream { source, .. } => Some(&**source),
            _ => None,
        }
    }
}
