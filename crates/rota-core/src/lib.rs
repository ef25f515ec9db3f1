//! rota-core: the pure scheduling model behind rota — no I/O, no async runtime.
//!
//! - [`account`]: accounts, tiers, credentials.
//! - [`fingerprint`]: the one-pass body inspection that yields [`RequestFacts`] (SPEC §2).
//! - [`delay`] and [`classify`]: reading an upstream answer into an [`Outcome`] (SPEC §5).
//! - [`cooldown`]: the cooldown ladders and never-shortening deadlines.
//! - [`scheduler`]: fixed → sticky → window → rotation selection (SPEC §3).
//! - [`store`]: the session-binding store trait and its in-memory implementation.
//! - [`objects`]: object affinity, the object → owner store (SPEC §3a).
//! - [`mapping`]: model name mapping.
//! - [`fleet`]: what one gateway replica tells the others (SPEC §8).
//! - [`clock`]: the injectable clock.
#![forbid(unsafe_code)]

pub mod account;
pub mod classify;
pub mod clock;
pub mod cooldown;
pub mod delay;
pub mod facts;
pub mod fingerprint;
pub mod fleet;
pub mod mapping;
pub mod objects;
pub mod outcome;
pub mod protocol;
pub mod scheduler;
pub mod settings;
pub mod store;
#[cfg(test)]
mod testing;

pub use account::{AccountId, AccountSpec, Caps, Credential, Secret, Tier};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use facts::{BodyShape, RequestFacts, SessionId};
pub use fleet::{Fleet, FleetEvent, SharedMark};
pub use mapping::ModelMapping;
pub use objects::{MemoryObjectStore, ObjectOwner, ObjectStore};
pub use outcome::{Failure, Outcome, Reason};
pub use protocol::Protocol;
pub use scheduler::{Decision, Pick, Scheduler, SelectRequest, Selection, Unavailable};
pub use settings::{Mode, Settings};
pub use store::{BindingStore, MemoryBindingStore};
