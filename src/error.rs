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
        /// How many attempts reached an upstream before this one found no account.
        attempts: u32,
        /// The account of the last of them, if any.
        account: Option<AccountId>,
    },
    /// No account is configured, or all are disabled.
    NoAccounts {
        /// How many attempts reached an upstream before this one found no account.
        attempts: u32,
        /// The account of the last of them, if any.
        account: Option<AccountId>,
    },
    /// The request continues an object (SPEC §3a) whose account is disabled; no other
    /// account holds it.
    OwnerDisabled {
        /// The disabled owner.
        account: AccountId,
        /// How many attempts reached an upstream before this one.
        attempts: u32,
    },
    /// The upstream service failed (transport error, or its attempt timed out) while
    /// `account` was serving.
    Upstream {
        /// The account of the failed attempt.
        account: AccountId,
        /// Which attempt of the request it was (1-based), as `X-Rota-Attempts` says.
        attempts: u32,
        /// The account owns the object the request continues (SPEC §3a): no other account
        /// can take a retry.
        pinned: bool,
        /// The inner service's error.
        source: BoxError,
    },
}

impl Error {
    /// The account this error names: the one of a failed upstream attempt, the disabled
    /// owner, or the last account tried before no account could serve.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Self::Upstream { account, .. } | Self::OwnerDisabled { account, .. } => Some(*account),
            Self::AllAccountsLimited { account, .. } | Self::NoAccounts { account, .. } => *account,
        }
    }

    /// The account of a failed upstream attempt that another account may retry, if this is
    /// one (what a retry moves away from; not the owner of a continued object).
    pub fn failed_account(&self) -> Option<AccountId> {
        match self {
            Self::Upstream {
                account,
                pinned: false,
                ..
            } => Some(*account),
            _ => None,
        }
    }

    /// Whether the attempt ran out of time before the upstream answered: the inner service
    /// failed with `tower::timeout::error::Elapsed` (as `tower::timeout::Timeout` and the
    /// gateway's upstream client do). Such an attempt is not retried (SPEC §4: the client
    /// gets 504), though its account is marked unreachable.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Upstream { source, .. } if source.is::<tower::timeout::error::Elapsed>())
    }

    /// How many attempts reached an upstream when this error ended the request, as
    /// `X-Rota-Attempts` says (0: none did).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Upstream { attempts, .. }
            | Self::OwnerDisabled { attempts, .. }
            | Self::AllAccountsLimited { attempts, .. }
            | Self::NoAccounts { attempts, .. } => *attempts,
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
            Self::AllAccountsLimited { retry_after, .. } => write!(
                f,
                "all accounts are rate-limited; retry after {} s",
                crate::mark::retry_after_secs(*retry_after)
            ),
            Self::NoAccounts { .. } => f.write_str("no upstream account is available"),
            Self::OwnerDisabled { .. } => {
                f.write_str("the account that holds the object this request continues is disabled")
            }
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
