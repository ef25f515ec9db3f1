//! [`Picker`]: another policy in the scheduler's place, for comparison.
//!
//! rota's own order (SPEC §3: fixed → sticky → window → rotation) needs no picker. A picker
//! replaces the sticky, window and rotation steps with its own choice among every enabled
//! account, each described by a [`Candidate`]; the object owner, the grace retry and the fixed
//! account still come first, and when the picker passes, the panic threshold and the
//! "nothing usable" rules answer as usual. Everything around the choice — bindings,
//! cooldowns, retries, credentials — stays rota's, which is what makes a comparison of
//! policies behind the same layers fair (the lab, `rota-lab`, runs its baselines this way).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use rota_core::scheduler::{Candidate, Hold, Picker, Scheduler, SelectRequest, Selection};
//! use rota_core::{AccountSpec, Pick, Decision, Tier};
//!
//! /// Always the last usable account in candidate order.
//! #[derive(Debug)]
//! struct Last;
//!
//! impl Picker for Last {
//!     fn pick(&self, _: &SelectRequest<'_>, c: &[Candidate], _: Instant) -> Option<Selection> {
//!         let last = c.iter().rev().find(|c| c.hold == Hold::Free && !c.attempted)?;
//!         Some(Selection::Picked(Pick { account: last.account, decision: Decision::Rotation }))
//!     }
//! }
//!
//! let s = Scheduler::new(vec![
//!     AccountSpec::api_key("a@x", Tier::Ultra, "k1"),
//!     AccountSpec::api_key("b@x", Tier::Free, "k2"),
//! ])
//! .with_picker(Arc::new(Last));
//! let Selection::Picked(pick) = s.select(&SelectRequest::new("m"), Instant::now()) else {
//!     panic!("two healthy accounts")
//! };
//! assert_eq!(s.spec(pick.account).email, "b@x");
//! ```

use std::fmt;
use std::time::Instant;

use super::{Blocked, Scheduler, SelectRequest, Selection, State};
use crate::{AccountId, Tier};

/// What holds an account back from a selection, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Nothing: rota would use it.
    Free,
    /// Only a server-error or unreachable cooldown (the panic threshold may ignore it).
    Soft {
        /// When it ends.
        until: Instant,
    },
    /// Its remaining quota for the model is known to be at or below the floor.
    QuotaProtected {
        /// When the reading stops holding it back (its window's reset).
        until: Instant,
    },
    /// A cooldown the upstream declared for this model only.
    ModelCooling {
        /// When it ends.
        until: Instant,
    },
    /// A cooldown the upstream declared for the whole account.
    AccountCooling {
        /// When it ends.
        until: Instant,
    },
}

/// One enabled account as a [`Picker`] sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The account.
    pub account: AccountId,
    /// Its tier.
    pub tier: Tier,
    /// Its remaining quota fraction for the request's model, when a recent answer said.
    pub quota: Option<f64>,
    /// Whether this request already tried it.
    pub attempted: bool,
    /// What holds it back, apart from `attempted`.
    pub hold: Hold,
    /// Attempts recorded on it so far (any outcome).
    pub requests: u64,
}

/// A selection policy in place of rota's sticky, window and rotation steps.
pub trait Picker: Send + Sync + fmt::Debug + 'static {
    /// Chooses for `req` among `candidates` (every enabled account, in candidate order: tier,
    /// then remaining quota, then configuration order). `None` passes: the panic threshold,
    /// then a wait or "all limited", answer as they would for rota's own order.
    fn pick(
        &self,
        req: &SelectRequest<'_>,
        candidates: &[Candidate],
        now: Instant,
    ) -> Option<Selection>;
}

impl Scheduler {
    /// The candidates a picker chooses among, in candidate order.
    pub(super) fn candidates(
        &self,
        st: &State,
        req: &SelectRequest<'_>,
        now: Instant,
    ) -> Vec<Candidate> {
        let order = st.by_model.get(req.model).unwrap_or(&st.base);
        // The scheduler's own reading, asked as for an untried account.
        let untried = SelectRequest {
            attempted: &[],
            ..*req
        };
        order
            .iter(false)
            .filter_map(|k| {
                let id = AccountId(k.2);
                let a = st.accounts.get(id.index())?;
                if a.disabled.is_some() {
                    return None;
                }
                let hold = match self.blocked(st, id, &untried, now) {
                    Blocked::No | Blocked::Attempted | Blocked::Disabled => Hold::Free,
                    Blocked::Soft(d) => Hold::Soft { until: d.until },
                    Blocked::QuotaProtected(until) => Hold::QuotaProtected { until },
                    Blocked::Cooling(d) => match a.cooldowns.account_blocking(now) {
                        Some(acct) => Hold::AccountCooling {
                            until: acct.until.max(d.until),
                        },
                        None => Hold::ModelCooling { until: d.until },
                    },
                };
                Some(Candidate {
                    account: id,
                    tier: self.specs[id.index()].tier,
                    quota: a.quota_for(req.model).map(|q| q.fraction),
                    attempted: req.attempted.contains(&id),
                    hold,
                    requests: a.requests,
                })
            })
            .collect()
    }
}
