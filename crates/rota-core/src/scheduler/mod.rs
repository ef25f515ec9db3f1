//! The scheduler: which account serves a request (SPEC §3).
//!
//! [`Scheduler`] owns the accounts, their cooldowns and the runtime settings behind one short
//! lock that is never held across an `.await` (there are none here: the model is pure).
//! Session bindings are *not* here: they live in a [`BindingStore`](crate::store::BindingStore),
//! and the caller passes the bound account in [`SelectRequest::bound`].
//!
//! Selection is O(log n) in the number of accounts plus the number of unusable candidates it
//! passes over: candidates sit in ordered sets with a round-robin cursor.

mod order;
mod picker;
mod view;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::cooldown::{CooldownConfig, Cooldowns, Deadline};
use crate::outcome::Outcome;
use crate::settings::{Mode, Settings};
use crate::{AccountId, AccountSpec};

use order::{FULL_QUOTA, Order, key, quota_bucket};
pub use picker::{Candidate, Hold, Picker};
pub use view::{AccountView, CooldownView};

/// How long a remaining-quota reading from rate-limit headers is trusted at most (less when
/// the answer said its window resets sooner).
const QUOTA_FRESH_FOR: Duration = Duration::from_secs(60);
/// At most this many models get their own quota-aware order (bounds memory against clients
/// that send arbitrary model names).
const MAX_QUOTA_MODELS: usize = 64;
/// At most this many remaining-quota readings are kept per account (one per model); past it,
/// the oldest reading gives way.
pub const MAX_QUOTA_READINGS: usize = 64;
/// How long a request may wait when no account is usable, outside CacheFirst.
pub const DEFAULT_WAIT_BUDGET: Duration = Duration::from_secs(2);

/// Why an account was chosen; reported in `X-Rota-Decision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The operator's fixed account.
    Fixed,
    /// The session's bound account.
    Sticky,
    /// The globally last-used account, within the window.
    Window,
    /// The next usable account in order.
    Rotation,
    /// A short-delay 429 retried on the same account.
    Grace,
}

impl Decision {
    /// The lower-case header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Sticky => "sticky",
            Self::Window => "window",
            Self::Rotation => "rotation",
            Self::Grace => "grace",
        }
    }
}

/// What the caller knows about one selection.
#[derive(Debug, Clone, Copy)]
pub struct SelectRequest<'a> {
    /// The model the request will be sent upstream with (after mapping).
    pub model: &'a str,
    /// 0 for the first attempt; every later attempt forces a rotation.
    pub attempt: u32,
    /// Accounts this request already tried; never picked again.
    pub attempted: &'a [AccountId],
    /// The account the session is bound to, if any (ignored unless attempt 0 and the mode uses
    /// bindings).
    pub bound: Option<AccountId>,
    /// Grace retry: the account whose short 429 delay was just waited out.
    pub grace: Option<AccountId>,
    /// How long this request has already waited for cooldowns.
    pub waited: Duration,
    /// The account owning the object the request continues (SPEC §3a): its only candidate,
    /// whatever the mode or fixed account.
    pub owner: Option<AccountId>,
}

impl<'a> SelectRequest<'a> {
    /// A first attempt for `model` with nothing bound.
    pub fn new(model: &'a str) -> Self {
        Self {
            model,
            attempt: 0,
            attempted: &[],
            bound: None,
            grace: None,
            waited: Duration::ZERO,
            owner: None,
        }
    }
}

/// The account picked and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The account.
    pub account: AccountId,
    /// Why.
    pub decision: Decision,
}

/// Why no account can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Every account is cooling down (or already tried); the earliest is free again after
    /// `retry_after`.
    AllLimited {
        /// Time until the earliest cooldown ends.
        retry_after: Duration,
    },
    /// No accounts are configured, or all are disabled.
    NoAccounts,
    /// The account that owns the request's object is disabled (SPEC §3a).
    OwnerDisabled,
}

/// The scheduler's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Use this account.
    Picked(Pick),
    /// Nothing usable now, but something will be by `until` within the wait budget: sleep
    /// until then and select again (with `waited` increased).
    Wait {
        /// When to select again.
        until: Instant,
    },
    /// No account can serve.
    Unavailable(Unavailable),
}

/// The error of naming an account the pool does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAccount(pub String);

impl fmt::Display for UnknownAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown account {:?}", self.0)
    }
}

impl std::error::Error for UnknownAccount {}

#[derive(Debug, Clone, Copy)]
struct Quota {
    fraction: f64,
    at: Instant,
    /// Until when the reading holds: its window's reset when the answer said, else
    /// [`QUOTA_FRESH_FOR`] after it, whichever comes first.
    until: Instant,
}

#[derive(Debug, Default)]
struct AccountState {
    disabled: Option<String>,
    cooldowns: Cooldowns,
    quota: Vec<(Box<str>, Quota)>,
    requests: u64,
    failures: u64,
}

impl AccountState {
    fn quota_for(&self, model: &str) -> Option<Quota> {
        self.quota
            .iter()
            .find(|(m, _)| &**m == model)
            .map(|(_, q)| *q)
    }
}

#[derive(Debug)]
struct State {
    settings: Settings,
    fixed: Option<AccountId>,
    accounts: Vec<AccountState>,
    base: Order,
    by_model: HashMap<Box<str>, Order>,
    last_used: Option<(AccountId, Instant)>,
}

/// Why one account cannot serve right now.
enum Blocked {
    No,
    Disabled,
    Attempted,
    QuotaProtected(Instant),
    /// A cooldown the upstream declared (the deadline is the latest of all that block).
    Cooling(Deadline),
    /// Only a soft cooldown (server errors, unreachable): usable under the panic threshold.
    Soft(Deadline),
}

/// The pure scheduling model: accounts, their dynamic state, and selection.
///
/// ```
/// use rota_core::scheduler::{Decision, Scheduler, Selection, SelectRequest};
/// use rota_core::{AccountSpec, Tier};
/// use std::time::Instant;
///
/// let s = Scheduler::new(vec![
///     AccountSpec::api_key("free@x", Tier::Free, "k1"),
///     AccountSpec::api_key("ultra@x", Tier::Ultra, "k2"),
/// ]);
/// let Selection::Picked(pick) = s.select(&SelectRequest::new("m"), Instant::now()) else {
///     panic!("two healthy accounts")
/// };
/// assert_eq!(s.spec(pick.account).email, "ultra@x"); // best tier first
/// assert_eq!(pick.decision, Decision::Rotation);
/// ```
#[derive(Debug)]
pub struct Scheduler {
    specs: Box<[AccountSpec]>,
    by_email: HashMap<String, AccountId>,
    cooldown: CooldownConfig,
    quota_floor: f64,
    picker: Option<Arc<dyn Picker>>,
    state: Mutex<State>,
}

impl Scheduler {
    /// A scheduler over `accounts` (in configuration order) with default settings.
    pub fn new(accounts: Vec<AccountSpec>) -> Self {
        Self::with_config(accounts, Settings::default(), CooldownConfig::default())
    }

    /// A scheduler with explicit settings and cooldown configuration.
    ///
    /// If two accounts share an email, the first one is the one found by email.
    pub fn with_config(
        accounts: Vec<AccountSpec>,
        settings: Settings,
        cooldown: CooldownConfig,
    ) -> Self {
        let mut by_email = HashMap::with_capacity(accounts.len());
        for (i, a) in accounts.iter().enumerate() {
            by_email
                .entry(a.email.clone())
                .or_insert(AccountId(i as u32));
        }
        let base = Order::new(
            accounts
                .iter()
                .enumerate()
                .map(|(i, a)| key(a.tier, FULL_QUOTA, AccountId(i as u32))),
        );
        let state = State {
            settings,
            fixed: None,
            accounts: accounts.iter().map(|_| AccountState::default()).collect(),
            base,
            by_model: HashMap::new(),
            last_used: None,
        };
        Self {
            specs: accounts.into_boxed_slice(),
            by_email,
            cooldown,
            quota_floor: 0.0,
            picker: None,
            state: Mutex::new(state),
        }
    }

    /// Accounts whose remaining quota for a model is known to be at or below `floor` (0.0‥1.0)
    /// are skipped for that model ("quota-protected"). Default 0.0: only exhausted ones.
    pub fn with_quota_floor(mut self, floor: f64) -> Self {
        self.quota_floor = floor.clamp(0.0, 1.0);
        self
    }

    /// Lets `picker` choose in place of the sticky, window and rotation steps (see
    /// [`Picker`]); rota's own order needs none.
    pub fn with_picker(mut self, picker: Arc<dyn Picker>) -> Self {
        self.picker = Some(picker);
        self
    }

    /// Number of configured accounts.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether no accounts are configured.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The static description of an account.
    ///
    /// # Panics
    /// If `id` does not belong to this scheduler.
    pub fn spec(&self, id: AccountId) -> &AccountSpec {
        &self.specs[id.index()]
    }

    /// Every account, in configuration order.
    pub fn specs(&self) -> &[AccountSpec] {
        &self.specs
    }

    /// The account with this email.
    pub fn account_id(&self, email: &str) -> Option<AccountId> {
        self.by_email.get(email).copied()
    }

    /// The cooldown configuration.
    pub fn cooldown_config(&self) -> &CooldownConfig {
        &self.cooldown
    }

    /// The current runtime settings.
    pub fn settings(&self) -> Settings {
        self.state.lock().settings
    }

    /// Replaces the runtime settings (takes effect for the next selection).
    pub fn set_settings(&self, settings: Settings) {
        self.state.lock().settings = settings;
    }

    /// Sets (or clears, with `None`) the fixed account.
    pub fn set_fixed(&self, email: Option<&str>) -> Result<(), UnknownAccount> {
        let id = email
            .map(|e| {
                self.account_id(e)
                    .ok_or_else(|| UnknownAccount(e.to_owned()))
            })
            .transpose()?;
        self.state.lock().fixed = id;
        Ok(())
    }

    /// The fixed account, if set.
    pub fn fixed(&self) -> Option<AccountId> {
        self.state.lock().fixed
    }

    /// Disables an account with a reason (it is never selected until enabled).
    pub fn disable(&self, id: AccountId, reason: impl Into<String>) {
        if let Some(a) = self.state.lock().accounts.get_mut(id.index()) {
            a.disabled = Some(reason.into());
        }
    }

    /// Enables an account again.
    pub fn enable(&self, id: AccountId) {
        if let Some(a) = self.state.lock().accounts.get_mut(id.index()) {
            a.disabled = None;
        }
    }

    /// The reason an account is disabled, or `None` if it is enabled.
    pub fn disabled_reason(&self, id: AccountId) -> Option<String> {
        self.state
            .lock()
            .accounts
            .get(id.index())
            .and_then(|a| a.disabled.clone())
    }

    /// Clears every cooldown (and the failure count) of an account.
    pub fn clear_cooldowns(&self, id: AccountId) {
        if let Some(a) = self.state.lock().accounts.get_mut(id.index()) {
            a.cooldowns.clear();
        }
    }

    /// Records the outcome of an attempt on `account` for `model`; returns the cooldown that
    /// a failure set (or kept), if any (a server-error strike sets none).
    pub fn record(
        &self,
        account: AccountId,
        model: &str,
        outcome: &Outcome,
        now: Instant,
    ) -> Option<Deadline> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let a = st.accounts.get_mut(account.index())?;
        a.requests += 1;
        match outcome {
            Outcome::Success {
                remaining_quota,
                quota_reset,
            } => {
                a.cooldowns.succeed();
                a.cooldowns.prune(now);
                if let Some(fraction) = *remaining_quota {
                    let fresh = quota_reset.map_or(QUOTA_FRESH_FOR, |r| r.min(QUOTA_FRESH_FOR));
                    let q = Quota {
                        fraction,
                        at: now,
                        until: now + fresh,
                    };
                    self.set_quota(st, account, model, q);
                }
                None
            }
            Outcome::Failure(failure) => {
                a.failures += 1;
                a.cooldowns.prune(now);
                a.cooldowns.mark(&self.cooldown, failure, model, now)
            }
            Outcome::Neutral | Outcome::Poisoned => None,
        }
    }

    /// Applies a cooldown another replica marked on `account` (SPEC §8), ending at `until`
    /// on this replica's clock; never shortens one in force. Returns the deadline now in force
    /// for that scope.
    pub fn apply_mark(
        &self,
        account: AccountId,
        model: Option<&str>,
        deadline: Deadline,
        consecutive: u32,
        now: Instant,
    ) -> Option<Deadline> {
        let mut st = self.state.lock();
        let a = st.accounts.get_mut(account.index())?;
        a.cooldowns.prune(now);
        Some(a.cooldowns.apply(model, deadline, consecutive, now))
    }

    /// The consecutive-failure count of an account.
    pub fn consecutive(&self, account: AccountId) -> u32 {
        self.state
            .lock()
            .accounts
            .get(account.index())
            .map_or(0, |a| a.cooldowns.consecutive())
    }

    /// Takes back the latest failure recorded for `account`: the request that caused it
    /// turned out to be poisoned (SPEC §4), so it counts against no account.
    pub fn forgive(&self, account: AccountId) {
        if let Some(a) = self.state.lock().accounts.get_mut(account.index()) {
            a.failures = a.failures.saturating_sub(1);
            a.cooldowns.forgive();
        }
    }

    fn set_quota(&self, st: &mut State, id: AccountId, model: &str, q: Quota) {
        let fraction = q.fraction;
        let tier = self.specs[id.index()].tier;
        let a = &mut st.accounts[id.index()];
        let old = a
            .quota_for(model)
            .map_or(FULL_QUOTA, |q| quota_bucket(q.fraction));
        match a.quota.iter_mut().find(|(m, _)| &**m == model) {
            Some(slot) => slot.1 = q,
            None => {
                if a.quota.len() >= MAX_QUOTA_READINGS
                    && let Some(i) = (0..a.quota.len()).min_by_key(|&i| a.quota[i].1.at)
                {
                    let (evicted, old) = a.quota.swap_remove(i);
                    if let Some(order) = st.by_model.get_mut(&evicted) {
                        let was = quota_bucket(old.fraction);
                        order.replace(key(tier, was, id), key(tier, FULL_QUOTA, id));
                    }
                }
                st.accounts[id.index()].quota.push((model.into(), q));
            }
        }
        let new = quota_bucket(fraction);
        if let Some(order) = st.by_model.get_mut(model) {
            order.replace(key(tier, old, id), key(tier, new, id));
        } else if st.by_model.len() < MAX_QUOTA_MODELS {
            let order = Order::new(self.specs.iter().enumerate().map(|(i, spec)| {
                let bucket = st.accounts[i]
                    .quota_for(model)
                    .map_or(FULL_QUOTA, |q| quota_bucket(q.fraction));
                key(spec.tier, bucket, AccountId(i as u32))
            }));
            st.by_model.insert(model.into(), order);
        }
    }

    fn blocked(&self, st: &State, id: AccountId, req: &SelectRequest<'_>, now: Instant) -> Blocked {
        let Some(a) = st.accounts.get(id.index()) else {
            return Blocked::Disabled;
        };
        if a.disabled.is_some() {
            Blocked::Disabled
        } else if req.attempted.contains(&id) {
            Blocked::Attempted
        } else if a.cooldowns.hard_blocking(req.model, now).is_some() {
            match a.cooldowns.blocking(req.model, now) {
                Some(d) => Blocked::Cooling(d),
                None => Blocked::No,
            }
        } else if let Some(q) = a
            .quota_for(req.model)
            .filter(|q| q.fraction <= self.quota_floor && now < q.until)
        {
            Blocked::QuotaProtected(q.until)
        } else if let Some(d) = a.cooldowns.blocking(req.model, now) {
            Blocked::Soft(d)
        } else {
            Blocked::No
        }
    }

    fn usable(&self, st: &State, id: AccountId, req: &SelectRequest<'_>, now: Instant) -> bool {
        matches!(self.blocked(st, id, req, now), Blocked::No)
    }

    /// Picks the account for one attempt (SPEC §3: fixed → sticky → window → rotation).
    pub fn select(&self, req: &SelectRequest<'_>, now: Instant) -> Selection {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let selection = self.select_locked(st, req, now);
        if let Selection::Picked(pick) = selection {
            st.last_used = Some((pick.account, now));
        }
        selection
    }

    fn select_locked(&self, st: &mut State, req: &SelectRequest<'_>, now: Instant) -> Selection {
        let settings = st.settings;
        let first = req.attempt == 0;
        let sticky_modes = settings.mode != Mode::PerformanceFirst;
        let picked = |account, decision| Selection::Picked(Pick { account, decision });

        if let Some(owner) = req.owner {
            return self.select_owner(st, owner, req, now);
        }
        if let Some(g) = req.grace.filter(|g| self.usable(st, *g, req, now)) {
            return picked(g, Decision::Grace);
        }
        if let Some(f) = st.fixed.filter(|f| self.usable(st, *f, req, now)) {
            return picked(f, Decision::Fixed);
        }
        if let Some(picker) = &self.picker {
            let candidates = self.candidates(st, req, now);
            return match picker.pick(req, &candidates, now) {
                Some(selection) => selection,
                None => self.last_resort(st, req, now),
            };
        }
        if first && sticky_modes {
            if let Some(b) = req.bound {
                match self.blocked(st, b, req, now) {
                    Blocked::No => return picked(b, Decision::Sticky),
                    Blocked::Cooling(Deadline { until, .. })
                    | Blocked::Soft(Deadline { until, .. })
                    | Blocked::QuotaProtected(until)
                        if settings.mode == Mode::CacheFirst
                            && until.saturating_duration_since(now)
                                <= settings.max_wait.saturating_sub(req.waited) =>
                    {
                        return Selection::Wait { until };
                    }
                    _ => {}
                }
            }
            if let Some((l, at)) = st.last_used {
                let fresh = now.saturating_duration_since(at) < settings.window;
                // An account whose latest attempt failed gets no new conversations.
                let healthy = st
                    .accounts
                    .get(l.index())
                    .is_some_and(|a| !a.cooldowns.last_failed());
                if fresh && healthy && self.usable(st, l, req, now) {
                    return picked(l, Decision::Window);
                }
            }
        }
        if !first {
            // A retry takes the healthiest usable account, not the shared cursor's next: a
            // request must not spend its attempts on failing-but-not-yet-cooled accounts.
            if let Some(id) = self.healthiest(st, req, now) {
                return picked(id, Decision::Rotation);
            }
        } else {
            let order = st.by_model.get(req.model).unwrap_or(&st.base);
            let next = order
                .iter(true)
                .find(|k| self.usable(st, AccountId(k.2), req, now))
                .copied();
            if let Some(k) = next {
                match st.by_model.get_mut(req.model) {
                    Some(o) => o.advance_to(k),
                    None => st.base.advance_to(k),
                }
                return picked(AccountId(k.2), Decision::Rotation);
            }
        }
        self.last_resort(st, req, now)
    }

    /// When no step picked: the panic threshold, else a wait or "unavailable".
    fn last_resort(&self, st: &State, req: &SelectRequest<'_>, now: Instant) -> Selection {
        match self.panic_pick(st, req, now) {
            Some(account) => Selection::Picked(Pick {
                account,
                decision: Decision::Rotation,
            }),
            None => self.none_usable(st, req, now),
        }
    }

    /// A request that continues an object has one candidate, its owner (SPEC §3a). A soft
    /// cooldown or a quota reading does not hold it back (nothing else could serve); a
    /// declared cooldown is waited out within `max_wait_seconds`, else it is "all limited".
    fn select_owner(
        &self,
        st: &State,
        owner: AccountId,
        req: &SelectRequest<'_>,
        now: Instant,
    ) -> Selection {
        let wait_budget = st.settings.max_wait.saturating_sub(req.waited);
        let retry_after = |until: Instant| until.saturating_duration_since(now);
        match self.blocked(st, owner, req, now) {
            Blocked::No | Blocked::Soft(_) | Blocked::QuotaProtected(_) => {
                let decision = if req.grace == Some(owner) {
                    Decision::Grace
                } else {
                    Decision::Sticky
                };
                Selection::Picked(Pick {
                    account: owner,
                    decision,
                })
            }
            Blocked::Disabled => Selection::Unavailable(Unavailable::OwnerDisabled),
            Blocked::Cooling(d) if retry_after(d.until) <= wait_budget => {
                Selection::Wait { until: d.until }
            }
            Blocked::Cooling(d) => Selection::Unavailable(Unavailable::AllLimited {
                retry_after: retry_after(d.until),
            }),
            Blocked::Attempted => {
                let cooling = st.accounts[owner.index()]
                    .cooldowns
                    .blocking(req.model, now)
                    .map(|d| retry_after(d.until));
                Selection::Unavailable(Unavailable::AllLimited {
                    retry_after: cooling.unwrap_or(Duration::from_secs(1)),
                })
            }
        }
    }

    /// Among usable accounts, in candidate order, the one with the fewest failures in the
    /// strike window (the first with none ends the search).
    fn healthiest(&self, st: &State, req: &SelectRequest<'_>, now: Instant) -> Option<AccountId> {
        let window = self.cooldown.strike_window;
        let order = st.by_model.get(req.model).unwrap_or(&st.base);
        let mut best: Option<(usize, AccountId)> = None;
        for k in order.iter(false) {
            let id = AccountId(k.2);
            if !self.usable(st, id, req, now) {
                continue;
            }
            let failures = st.accounts[id.index()]
                .cooldowns
                .recent_failures(window, now);
            if best.is_none_or(|(b, _)| failures < b) {
                best = Some((failures, id));
            }
            if failures == 0 {
                break;
            }
        }
        best.map(|(_, id)| id)
    }

    /// The panic threshold (after Envoy): when nothing is usable but accounts held back only
    /// by soft cooldowns (server errors, unreachable), those cooldowns are ignored: the least
    /// recently failed of them serves. Only what the upstream declared can make the pool
    /// answer "all limited".
    fn panic_pick(&self, st: &State, req: &SelectRequest<'_>, now: Instant) -> Option<AccountId> {
        (0..st.accounts.len())
            .map(|i| AccountId(i as u32))
            .filter(|&id| matches!(self.blocked(st, id, req, now), Blocked::Soft(_)))
            .min_by_key(|id| st.accounts[id.index()].cooldowns.last_failure())
    }

    fn none_usable(&self, st: &State, req: &SelectRequest<'_>, now: Instant) -> Selection {
        let mut any_enabled = false;
        let mut earliest_untried: Option<Instant> = None;
        let mut earliest_any: Option<Instant> = None;
        for (i, a) in st.accounts.iter().enumerate() {
            if a.disabled.is_some() {
                continue;
            }
            any_enabled = true;
            let until = match self.blocked(st, AccountId(i as u32), req, now) {
                // A quota reading at the floor holds it back until its window resets.
                Blocked::QuotaProtected(until) => Some(until),
                Blocked::Cooling(d) | Blocked::Soft(d) => Some(d.until),
                _ => None,
            };
            if let Some(until) = until {
                earliest_untried = Some(earliest_untried.map_or(until, |e| e.min(until)));
            }
            if let Some(until) = a
                .cooldowns
                .blocking(req.model, now)
                .map(|d| d.until)
                .or(until)
            {
                earliest_any = Some(earliest_any.map_or(until, |e| e.min(until)));
            }
        }
        if !any_enabled {
            return Selection::Unavailable(Unavailable::NoAccounts);
        }
        let budget = match st.settings.mode {
            Mode::CacheFirst => st.settings.max_wait,
            _ => DEFAULT_WAIT_BUDGET,
        }
        .saturating_sub(req.waited);
        if let Some(until) = earliest_untried
            && until.saturating_duration_since(now) <= budget
        {
            return Selection::Wait { until };
        }
        let retry_after = earliest_untried
            .or(earliest_any)
            .map_or(Duration::from_secs(1), |e| e.saturating_duration_since(now));
        Selection::Unavailable(Unavailable::AllLimited { retry_after })
    }

    /// Whether some account could serve `req` right now, without waiting (used by the retry
    /// policy to decide whether another attempt can go anywhere); an account held back only
    /// by a soft cooldown counts, as the panic threshold may pick it.
    pub fn any_usable(&self, req: &SelectRequest<'_>, now: Instant) -> bool {
        let st = self.state.lock();
        if let Some(owner) = req.owner {
            return matches!(
                self.blocked(&st, owner, req, now),
                Blocked::No | Blocked::Soft(_) | Blocked::QuotaProtected(_)
            );
        }
        let order = st.by_model.get(req.model).unwrap_or(&st.base);
        order.iter(false).any(|k| {
            matches!(
                self.blocked(&st, AccountId(k.2), req, now),
                Blocked::No | Blocked::Soft(_)
            )
        })
    }
}

#[cfg(test)]
mod tests;
