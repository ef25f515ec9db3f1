//! [`Pool`]: the accounts, scheduler state, cooldowns and bindings the layers share.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use http::HeaderValue;
use rota_core::cooldown::CooldownConfig;
use rota_core::scheduler::{AccountView, Picker, UnknownAccount};
use rota_core::store::StoreFuture;
use rota_core::{
    AccountId, AccountSpec, BindingStore, Clock, Fleet, FleetEvent, MemoryBindingStore,
    MemoryObjectStore, Mode, ModelMapping, ObjectStore, Scheduler, Settings, SharedClock,
};

use tower::retry::budget::{Budget, TpsBudget};

use crate::clock::TokioClock;
use crate::telemetry::Counters;

/// A shared retry budget (tower's [`Budget`]), as the retry layer spends it.
pub type SharedBudget = Arc<dyn Budget + Send + Sync>;

/// How accounts are named in `X-Account-Email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountLabels {
    /// The account's email, as configured.
    #[default]
    Email,
    /// A stable alias (`acct-` + 12 hex chars of a hash of the email), for privacy.
    Alias,
}

/// The error of building a [`Pool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// Two accounts share this email.
    DuplicateEmail(String),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateEmail(e) => write!(f, "duplicate account email {e:?}"),
        }
    }
}

impl std::error::Error for PoolError {}

/// The shared state behind every rota layer: accounts, scheduler, cooldowns, bindings,
/// model mapping and clock. Cheap to clone (one `Arc`).
///
/// ```
/// use rota::Pool;
/// use rota::core::{AccountSpec, Mode, Tier};
///
/// let pool = Pool::builder()
///     .account(AccountSpec::api_key("alice@example.com", Tier::Pro, "key-a"))
///     .account(AccountSpec::api_key("bob@example.com", Tier::Ultra, "key-b"))
///     .mode(Mode::CacheFirst)
///     .build()
///     .expect("unique emails");
/// assert_eq!(pool.settings().mode, Mode::CacheFirst);
/// pool.set_fixed_account(Some("bob@example.com")).unwrap();
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Scheduler,
    store: Arc<dyn BindingStore>,
    objects: Arc<dyn ObjectStore>,
    fleet: Option<Arc<dyn Fleet>>,
    caps: Option<Arc<crate::caps::CapGate>>,
    mapping: ModelMapping,
    clock: SharedClock,
    max_attempts: u32,
    labels: Box<[HeaderValue]>,
    counters: Counters,
    budget: SharedBudget,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("accounts", &self.inner.scheduler.len())
            .field("settings", &self.settings())
            .field("store", &self.inner.store)
            .field("max_attempts", &self.inner.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A handle on a [`Pool`] that does not keep it alive: for background tasks (a fleet's
/// subscriber) that should end with the pool.
#[derive(Clone)]
pub struct WeakPool(Weak<Inner>);

impl fmt::Debug for WeakPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakPool")
    }
}

impl WeakPool {
    /// The pool, if it still exists.
    pub fn upgrade(&self) -> Option<Pool> {
        self.0.upgrade().map(|inner| Pool { inner })
    }
}

impl Pool {
    /// A handle that does not keep the pool alive.
    pub fn downgrade(&self) -> WeakPool {
        WeakPool(Arc::downgrade(&self.inner))
    }

    /// Starts building a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The scheduler (accounts, cooldowns, settings).
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The binding store.
    pub fn store(&self) -> &dyn BindingStore {
        &*self.inner.store
    }

    /// The object-affinity store (SPEC §3a).
    pub fn objects(&self) -> &dyn ObjectStore {
        &*self.inner.objects
    }

    /// The fleet this pool's changes go to, in fleet mode.
    pub fn fleet_handle(&self) -> Option<&Arc<dyn Fleet>> {
        self.inner.fleet.as_ref()
    }

    /// The per-account caps, when some account has one.
    pub(crate) fn caps(&self) -> Option<&Arc<crate::caps::CapGate>> {
        self.inner.caps.as_ref()
    }

    /// Hands a change made here to the fleet, if any.
    pub(crate) fn publish(&self, event: FleetEvent) {
        if let Some(fleet) = &self.inner.fleet {
            fleet.publish(event);
        }
    }

    /// The model mapping.
    pub fn mapping(&self) -> &ModelMapping {
        &self.inner.mapping
    }

    /// The library's per-request counters (registered when the pool was built).
    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The clock's current instant.
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// The most attempts one request may make (before the account-count cap).
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// The retry budget every request of the pool shares: each first attempt deposits, each
    /// retry withdraws (SPEC §4).
    pub fn retry_budget(&self) -> &SharedBudget {
        &self.inner.budget
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.inner.scheduler.len()
    }

    /// Whether the pool has no accounts.
    pub fn is_empty(&self) -> bool {
        self.inner.scheduler.is_empty()
    }

    /// An account's description.
    ///
    /// # Panics
    /// If `id` is not from this pool.
    pub fn account(&self, id: AccountId) -> &AccountSpec {
        self.inner.scheduler.spec(id)
    }

    /// The `X-Account-Email` value of an account (its email or alias).
    pub fn label(&self, id: AccountId) -> Option<&HeaderValue> {
        self.inner.labels.get(id.index())
    }

    /// The account with this email.
    pub fn account_id(&self, email: &str) -> Result<AccountId, UnknownAccount> {
        self.inner
            .scheduler
            .account_id(email)
            .ok_or_else(|| UnknownAccount(email.to_owned()))
    }

    /// The current scheduling settings.
    pub fn settings(&self) -> Settings {
        self.inner.scheduler.settings()
    }

    /// Replaces the scheduling settings (no restart; the next selection uses them). In
    /// fleet mode every replica follows.
    pub fn set_settings(&self, settings: Settings) {
        self.inner.scheduler.set_settings(settings);
        self.publish(FleetEvent::Settings(settings));
    }

    /// Sets the fixed account (`None` clears it). In fleet mode every replica follows.
    pub fn set_fixed_account(&self, email: Option<&str>) -> Result<(), UnknownAccount> {
        self.inner.scheduler.set_fixed(email)?;
        self.publish(FleetEvent::Fixed(email.map(str::to_owned)));
        Ok(())
    }

    /// The fixed account's email, if one is set.
    pub fn fixed_account(&self) -> Option<&str> {
        self.inner
            .scheduler
            .fixed()
            .map(|id| self.account(id).email.as_str())
    }

    /// Disables an account (it is never selected until enabled). In fleet mode on every
    /// replica.
    pub fn disable(&self, email: &str, reason: impl Into<String>) -> Result<(), UnknownAccount> {
        let id = self.account_id(email)?;
        let reason = reason.into();
        self.inner.scheduler.disable(id, reason.clone());
        self.publish(FleetEvent::Disabled {
            email: email.to_owned(),
            reason: Some(reason),
        });
        Ok(())
    }

    /// Enables an account. In fleet mode on every replica.
    pub fn enable(&self, email: &str) -> Result<(), UnknownAccount> {
        let id = self.account_id(email)?;
        self.inner.scheduler.enable(id);
        self.publish(FleetEvent::Disabled {
            email: email.to_owned(),
            reason: None,
        });
        Ok(())
    }

    /// Clears an account's cooldowns and failure count. In fleet mode on every replica.
    pub fn clear_cooldowns(&self, email: &str) -> Result<(), UnknownAccount> {
        let id = self.account_id(email)?;
        self.inner.scheduler.clear_cooldowns(id);
        self.publish(FleetEvent::CooldownsCleared {
            email: email.to_owned(),
        });
        Ok(())
    }

    /// Removes every session binding; returns how many there were.
    pub fn clear_bindings(&self) -> StoreFuture<usize> {
        self.inner.store.clear()
    }

    /// The token totals of an account's answers (SPEC §9): prompt tokens, the cached part,
    /// cache writes and output, as read from the upstream's usage fields.
    pub fn tokens(&self, id: AccountId) -> crate::usage::Usage {
        self.inner.counters.token_totals(id.index())
    }

    /// A snapshot of every account, for admin views.
    pub fn snapshot(&self) -> Vec<AccountView> {
        self.inner.scheduler.snapshot(self.now())
    }
}

/// Builds a [`Pool`].
#[derive(Default)]
pub struct PoolBuilder {
    accounts: Vec<AccountSpec>,
    settings: Settings,
    cooldowns: CooldownConfig,
    store: Option<Arc<dyn BindingStore>>,
    objects: Option<Arc<dyn ObjectStore>>,
    fleet: Option<Arc<dyn Fleet>>,
    mapping: ModelMapping,
    clock: Option<SharedClock>,
    max_attempts: Option<u32>,
    labels: AccountLabels,
    quota_floor: f64,
    budget: Option<SharedBudget>,
    picker: Option<Arc<dyn Picker>>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("accounts", &self.accounts.len())
            .field("settings", &self.settings)
            .field("max_attempts", &self.max_attempts)
            .field("custom_budget", &self.budget.is_some())
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// Adds one account.
    pub fn account(mut self, account: AccountSpec) -> Self {
        self.accounts.push(account);
        self
    }

    /// Adds accounts.
    pub fn accounts(mut self, accounts: impl IntoIterator<Item = AccountSpec>) -> Self {
        self.accounts.extend(accounts);
        self
    }

    /// All scheduling settings at once (default: Balance, 60 s max wait, 60 s window).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The scheduling mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// CacheFirst's longest wait for a session's account.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.settings.max_wait = max_wait;
        self
    }

    /// How long the last-used account stays preferred (zero disables).
    pub fn window(mut self, window: Duration) -> Self {
        self.settings.window = window;
        self
    }

    /// Cooldown ladders and defaults.
    pub fn cooldowns(mut self, cooldowns: CooldownConfig) -> Self {
        self.cooldowns = cooldowns;
        self
    }

    /// The binding store (default: [`MemoryBindingStore`] with 100 000 bindings, 1 h idle TTL).
    pub fn store(mut self, store: impl BindingStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Fleet mode (SPEC §8): cooldowns this pool marks and the admin changes made to it are
    /// handed to `fleet` for the other replicas (default: none, a pool on its own). Pair it
    /// with the fleet's binding and object stores.
    pub fn fleet(mut self, fleet: Arc<dyn Fleet>) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// The object-affinity store (default: [`MemoryObjectStore`] with 100 000 owners, 30 days
    /// idle TTL).
    pub fn objects(mut self, objects: impl ObjectStore) -> Self {
        self.objects = Some(Arc::new(objects));
        self
    }

    /// The model mapping (default: none).
    pub fn mapping(mut self, mapping: ModelMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// The clock (default: [`TokioClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The most attempts per request (default 3; also capped by the number of accounts).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts.max(1));
        self
    }

    /// How accounts are named in `X-Account-Email`.
    pub fn labels(mut self, labels: AccountLabels) -> Self {
        self.labels = labels;
        self
    }

    /// The retry budget: retries are limited to `percent` % of first attempts over the last
    /// `window` plus `min_per_second` (tower's [`TpsBudget`]). Default 20 % over 10 s plus 10
    /// per second. Out-of-range values are clamped (window 1‥=60 s, percent 0‥=100 000).
    pub fn retry_budget(self, window: Duration, min_per_second: u32, percent: f32) -> Self {
        let window = window.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let ratio = if percent.is_finite() {
            (percent / 100.0).clamp(0.0, 1000.0)
        } else {
            0.2
        };
        let min = min_per_second.min(i32::MAX as u32 - 1);
        self.budget(TpsBudget::new(window, min, ratio))
    }

    /// Any retry budget (a `tower::retry::budget::Budget`).
    pub fn budget(mut self, budget: impl Budget + Send + Sync + 'static) -> Self {
        self.budget = Some(Arc::new(budget));
        self
    }

    /// Skip accounts whose known remaining quota for a model is at or below this fraction.
    pub fn quota_floor(mut self, floor: f64) -> Self {
        self.quota_floor = floor;
        self
    }

    /// Lets another selection policy choose in place of rota's sticky, window and rotation
    /// steps ([`Picker`]): for comparing policies behind the same layers, as the lab does.
    pub fn picker(mut self, picker: Arc<dyn Picker>) -> Self {
        self.picker = Some(picker);
        self
    }

    /// Builds the pool; fails on duplicate emails.
    ///
    /// The per-request counters (`rota_decisions_total`, `rota_retries_total`) are registered
    /// here, with the `metrics` recorder installed at this moment: install yours first.
    pub fn build(self) -> Result<Pool, PoolError> {
        let mut seen = std::collections::HashSet::new();
        for a in &self.accounts {
            if !seen.insert(a.email.as_str()) {
                return Err(PoolError::DuplicateEmail(a.email.clone()));
            }
        }
        let labels = self
            .accounts
            .iter()
            .map(|a| label(&a.email, self.labels))
            .collect();
        let counters = Counters::register(self.accounts.iter().map(|a| a.email.as_str()));
        let clock: SharedClock = self.clock.unwrap_or_else(|| Arc::new(TokioClock));
        let caps = crate::caps::CapGate::new(&self.accounts, &clock);
        let mut scheduler = Scheduler::with_config(self.accounts, self.settings, self.cooldowns)
            .with_quota_floor(self.quota_floor);
        if let Some(picker) = self.picker {
            scheduler = scheduler.with_picker(picker);
        }
        Ok(Pool {
            inner: Arc::new(Inner {
                scheduler,
                store: self
                    .store
                    .unwrap_or_else(|| Arc::new(MemoryBindingStore::default())),
                objects: self
                    .objects
                    .unwrap_or_else(|| Arc::new(MemoryObjectStore::default())),
                fleet: self.fleet,
                caps,
                mapping: self.mapping,
                clock,
                max_attempts: self.max_attempts.unwrap_or(3),
                labels,
                counters,
                budget: self
                    .budget
                    .unwrap_or_else(|| Arc::new(TpsBudget::default())),
            }),
        })
    }
}

fn label(email: &str, labels: AccountLabels) -> HeaderValue {
    let text = match labels {
        AccountLabels::Email => email.to_owned(),
        AccountLabels::Alias => {
            let h = xxhash(email.as_bytes());
            format!("acct-{:012x}", h & 0xffff_ffff_ffff)
        }
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid-email"))
}

/// FNV-1a: a stable, dependency-free hash for aliases (not for security).
fn xxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Drives a store write that could not finish at once in the background, so no answer waits
/// on a networked store; a failure is logged with `what`.
pub(crate) fn detach<T: Unpin + Send + 'static>(fut: StoreFuture<T>, what: &'static str) {
    match fut {
        StoreFuture::Ready(Some(Err(err))) => tracing::warn!(%err, "{what}"),
        StoreFuture::Ready(_) => {}
        pending @ StoreFuture::Pending(_) => {
            tokio::spawn(async move {
                if let Err(err) = pending.await {
                    tracing::warn!(%err, "{what}");
                }
            });
        }
    }
}
