//! Per-account caps: at most `rpm` requests a minute (governor's GCRA) and `max_concurrent`
//! in flight (until each answer's body ends), so rota stops sending an account what its
//! upstream would refuse. [`AccountSelectLayer`](crate::AccountSelectLayer) asks the gate after
//! the scheduler's pick — a rate limiter's check takes a cell, so it is made only for the
//! account about to be used — and an account at its cap is left out of that request's
//! selection like a cooling one; a request with nowhere else to go waits for the earliest slot
//! within its wait budget.
//!
//! Each account with an `rpm` has its own direct limiter (accounts have different quotas, and
//! there are as many limiters as accounts, so nothing needs `retain_recent` upkeep), on the
//! pool's clock, so paused tokio time drives it in tests.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use rota_core::{AccountId, AccountSpec, SharedClock};

/// How soon a request that found every account at its concurrency cap looks again.
pub const FULL_RETRY: Duration = Duration::from_millis(25);

/// governor's clock: the pool's.
#[derive(Clone)]
struct PoolClock(SharedClock);

impl governor::clock::Clock for PoolClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.now()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, PoolClock, NoOpMiddleware<Instant>>;

struct Cap {
    rpm: Option<Limiter>,
    max_concurrent: Option<NonZeroU32>,
    in_flight: AtomicU32,
}

/// The caps of a pool's accounts ([`Pool`](crate::Pool) builds it from the accounts' caps).
pub struct CapGate {
    accounts: Box<[Cap]>,
}

impl std::fmt::Debug for CapGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapGate")
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

/// The gate's answer for one account.
#[derive(Debug)]
pub enum Admit {
    /// Go; with a slot to hold while the answer lasts, if the account caps concurrency.
    Yes(Option<CapPermit>),
    /// At its rate cap: a slot frees at this instant.
    Until(Instant),
    /// At its concurrency cap.
    Full,
}

impl CapGate {
    /// The gate for `accounts` on `clock`; `None` when no account has a cap (nothing to ask).
    pub fn new(accounts: &[AccountSpec], clock: &SharedClock) -> Option<Arc<Self>> {
        if accounts
            .iter()
            .all(|a| a.caps.rpm.is_none() && a.caps.max_concurrent.is_none())
        {
            return None;
        }
        let accounts = accounts
            .iter()
            .map(|a| Cap {
                rpm: a.caps.rpm.map(|rpm| {
                    RateLimiter::direct_with_clock(Quota::per_minute(rpm), PoolClock(clock.clone()))
                }),
                max_concurrent: a.caps.max_concurrent,
                in_flight: AtomicU32::new(0),
            })
            .collect();
        Some(Arc::new(Self { accounts }))
    }

    /// Whether `id` may take a request now; takes its slot and rate cell if so.
    pub fn admit(self: &Arc<Self>, id: AccountId) -> Admit {
        let Some(cap) = self.accounts.get(id.index()) else {
            return Admit::Yes(None);
        };
        let permit = match cap.max_concurrent {
            None => None,
            Some(max) => {
                let taken = cap
                    .in_flight
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < max.get()).then_some(n + 1)
                    });
                if taken.is_err() {
                    return Admit::Full;
                }
                Some(CapPermit {
                    gate: self.clone(),
                    id,
                })
            }
        };
        if let Some(limiter) = &cap.rpm
            && let Err(not_until) = limiter.check()
        {
            // The slot goes back with `permit`.
            return Admit::Until(not_until.earliest_possible());
        }
        Admit::Yes(permit)
    }

    /// Requests in flight on `id` (for tests and views).
    #[cfg(test)]
    pub(crate) fn in_flight(&self, id: AccountId) -> u32 {
        self.accounts[id.index()].in_flight.load(Ordering::Acquire)
    }
}

/// One in-flight slot of an account with a concurrency cap; the slot frees when it is dropped
/// (the answer's body ended, or the answer was dropped).
pub struct CapPermit {
    gate: Arc<CapGate>,
    id: AccountId,
}

impl std::fmt::Debug for CapPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapPermit").field("id", &self.id).finish()
    }
}

impl Drop for CapPermit {
    fn drop(&mut self) {
        if let Some(cap) = self.gate.accounts.get(self.id.index()) {
            cap.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
