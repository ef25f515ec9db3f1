//! Fleet mode's seam (SPEC §8): what one gateway replica tells the others.
//!
//! Each replica keeps deciding alone, on its own [`Scheduler`](crate::Scheduler), without
//! waiting on anything: the scheduler stays the fast, synchronous decision-maker. What it
//! learns that the others must know — a cooldown it marked, an admin change — it hands to a
//! [`Fleet`] as a [`FleetEvent`]; a networked implementation (the `rota-redis` crate) writes
//! it to the shared store and pushes it to the other replicas, which apply it to their own
//! scheduler. Events name accounts by email and times by wall-clock deadlines, never by
//! process-local indices or `Instant`s, so they mean the same on every replica.
//!
//! Session bindings and object owners are shared through their own store traits
//! ([`BindingStore`](crate::BindingStore), [`ObjectStore`](crate::ObjectStore)).

use std::fmt;
use std::time::SystemTime;

use crate::Settings;
use crate::outcome::Reason;

/// A cooldown as the fleet shares it: never shortening, dated by the wall clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMark {
    /// The account.
    pub email: String,
    /// The model, for a per-model cooldown; `None` for the account's own.
    pub model: Option<String>,
    /// Why it was set.
    pub reason: Reason,
    /// When it ends.
    pub until: SystemTime,
    /// The account's consecutive-failure count after the failure that set it.
    pub consecutive: u32,
}

/// A change one replica made that every replica must apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetEvent {
    /// A cooldown was marked.
    Mark(SharedMark),
    /// An account was disabled (`Some(reason)`) or enabled again (`None`).
    Disabled {
        /// The account.
        email: String,
        /// Why, or `None`: enabled.
        reason: Option<String>,
    },
    /// An operator cleared an account's cooldowns and failure count.
    CooldownsCleared {
        /// The account.
        email: String,
    },
    /// The runtime scheduling settings changed.
    Settings(Settings),
    /// The fixed account was set (or cleared, `None`).
    Fixed(Option<String>),
}

/// Where a replica's changes go (SPEC §8). Implementations must not block or fail the caller:
/// a networked one queues the event and writes it in the background, keeping it for a
/// re-sync when the shared store is unreachable.
pub trait Fleet: Send + Sync + fmt::Debug + 'static {
    /// Tells the other replicas about a change made here.
    fn publish(&self, event: FleetEvent);
}
