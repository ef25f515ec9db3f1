//! Per-request facts that travel between the layers in `http::Extensions`.

use std::sync::Arc;

use rota_core::{AccountId, Decision, Outcome};

pub use rota_core::{RequestFacts, SessionId};

/// Which attempt of a request this is (0 = first). Set by [`RetryRotateLayer`](crate::RetryRotateLayer);
/// absent means 0. Every attempt > 0 forces a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attempt(pub u32);

impl Attempt {
    /// Whether this attempt must rotate away from the session's and the window's account.
    pub const fn force_rotate(self) -> bool {
        self.0 > 0
    }
}

/// The accounts this request already tried, in order; never selected again for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempted(pub Vec<AccountId>);

/// A grace retry: the account whose short 429 delay was just waited out, to be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraceAccount(pub AccountId);

/// The account chosen for this attempt; set on the request (for inner layers) and on the
/// response (for outer ones) by [`AccountSelectLayer`](crate::AccountSelectLayer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedAccount {
    /// The account.
    pub id: AccountId,
    /// Why it was chosen.
    pub decision: Decision,
    /// The model sent upstream (after mapping); empty if the request named none.
    pub model: Arc<str>,
}

/// How [`RateLimitMarkLayer`](crate::RateLimitMarkLayer) read the upstream answer; set on the
/// response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified(pub Outcome);
