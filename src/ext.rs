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

/// An in-flight slot of an account with a concurrency cap, held by the attempt's answer
/// until its body ends; set on the request by [`AccountSelectLayer`](crate::AccountSelectLayer)
/// and kept by [`RateLimitMarkLayer`](crate::RateLimitMarkLayer) with the body.
#[derive(Debug, Clone)]
pub struct CapSlot(pub Arc<crate::caps::CapPermit>);

/// The attempt was served by the owner of the object the request continues (SPEC §3a); set
/// on the response by [`AccountSelectLayer`](crate::AccountSelectLayer). No other account
/// holds the object, so [`RetryRotateLayer`](crate::RetryRotateLayer) never rotates such a
/// request (a grace retry on the owner is still made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectOwner(pub AccountId);

/// How [`RateLimitMarkLayer`](crate::RateLimitMarkLayer) read the upstream answer; set on the
/// response. The one verdict on an answer: read it with [`verdict`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified(pub Outcome);

/// An earlier attempt of this request got a server error without an explicit delay from this
/// account; set on the next attempt by [`RetryRotateLayer`](crate::RetryRotateLayer). When
/// another account answers the same, the request is poisoned (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorServerError(pub AccountId);

/// The protocol of a request: its [`RequestFacts`]' when a session layer left them, else what
/// its path says. The one reading every layer uses.
pub fn protocol<B>(req: &http::Request<B>) -> rota_core::Protocol {
    req.extensions()
        .get::<RequestFacts>()
        .and_then(|f| f.protocol)
        .unwrap_or_else(|| rota_core::Protocol::from_path(req.uri().path()))
}

/// What an answer means for its account: the [`Classified`] verdict that
/// [`RateLimitMarkLayer`](crate::RateLimitMarkLayer) left on it, or, when no classifier read
/// it, what its status alone says ([`Outcome::from_status`]). The retry policy, the binding
/// update and the metrics all read this, so they never disagree.
pub fn verdict<B>(res: &http::Response<B>) -> Outcome {
    match res.extensions().get::<Classified>() {
        Some(Classified(outcome)) => *outcome,
        None => Outcome::from_status(res.status().as_u16()),
    }
}
