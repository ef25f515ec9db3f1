//! rota-redis: fleet mode (SPEC §8) — several rota gateway replicas on one Redis keep one
//! conversation on one account and share every cooldown and admin change.
//!
//! - **Bindings and object owners** ([`RedisBindingStore`], [`RedisObjectStore`]): a local
//!   cache in front of Redis; a cached read costs no round trip. Bind-if-absent is atomic
//!   (`SET NX` in a Lua script: of concurrent first turns of one conversation on several
//!   replicas, one account wins and all follow it); an unbind removes a binding only if it
//!   still names the failed account (compare-and-delete). Rebinds and unbinds are pushed so the
//!   other replicas' caches follow.
//! - **Cooldowns, consecutive counts, disabled accounts, settings, the fixed account**: every
//!   change a replica's [`Pool`] makes is handed to [`RedisFleet`] (a
//!   [`Fleet`]), written to Redis — a cooldown by a Lua script that never
//!   shortens one already there — and pushed on the pool's channel; the other replicas apply it
//!   with [`Pool::apply`]. A replica that joins, or whose subscription comes back, reads the
//!   whole state first.
//! - **Redis down, refusing or slow**: every call is bounded by `op_timeout`; a failure turns
//!   the replica to its local state (one warning per outage, `rota_fleet_errors_total`), and it
//!   keeps serving with no failed request. A background loop pings until Redis is back, then
//!   pushes this replica's admin changes and cooldowns (never shortening anyone's) and reads
//!   the state again.
//! - **Keys**: named by account email, with one hash tag per pool (`{rota:}…`), so the scripts
//!   run on Redis Cluster too; every key but the disabled accounts and the settings has a TTL.
//!
//! ```no_run
//! use rota::Pool;
//! use rota::core::{AccountSpec, Tier};
//! use rota_redis::{FleetConfig, RedisFleet};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let accounts = vec![AccountSpec::api_key("a@x", Tier::Pro, "ka")];
//! let fleet = RedisFleet::connect(FleetConfig::new("redis://127.0.0.1:6379/0"), &accounts).await?;
//! let pool = Pool::builder()
//!     .accounts(accounts)
//!     .store(fleet.binding_store())
//!     .objects(fleet.object_store())
//!     .fleet(fleet.handle())
//!     .build()?;
//! fleet.start(&pool); // reads the shared state, then follows the other replicas
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod keys;
mod scripts;
mod shared;
mod stores;
mod sync;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use rota::Pool;
use rota_core::{AccountSpec, Fleet, FleetEvent};
use tokio::sync::mpsc;

use shared::{Job, Shared};
pub use stores::{RedisBindingStore, RedisObjectStore};

/// Fleet mode's settings (the gateway's `[fleet]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// `redis://host:port/db`.
    pub redis_url: String,
    /// Names this pool's keys; several pools may share one Redis. Default `rota:`.
    pub key_prefix: String,
    /// A Redis call slower than this is given up: the replica decides on its local state.
    /// Default 50 ms.
    pub op_timeout: Duration,
    /// How long opening a connection may take. Default 1 s.
    pub connect_timeout: Duration,
    /// A binding unused this long is forgotten (in Redis and in the local cache). Default 1 h.
    pub binding_ttl: Duration,
    /// An object owner unused this long is forgotten. Default 30 days.
    pub object_ttl: Duration,
    /// Entries each local cache (bindings, owners) holds. Default 100 000.
    pub cache_capacity: usize,
}

impl FleetConfig {
    /// The defaults, on `redis_url`.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            key_prefix: "rota:".to_owned(),
            op_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
            binding_ttl: Duration::from_secs(3600),
            object_ttl: Duration::from_secs(30 * 24 * 3600),
            cache_capacity: 100_000,
        }
    }
}

/// The error of setting up fleet mode: a Redis URL that does not parse.
#[derive(Debug)]
pub struct FleetError(redis::RedisError);

impl std::fmt::Display for FleetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fleet: {}", self.0)
    }
}

impl std::error::Error for FleetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// One replica's link to the fleet. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisFleet {
    shared: Arc<Shared>,
}

/// What `GET /admin/fleet` shows of a replica's link to the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetStatus {
    /// Whether Redis answers (else the replica serves on its local state).
    pub connected: bool,
    /// Redis calls that failed or timed out since start.
    pub errors: u64,
    /// This replica's id on the channel.
    pub replica: u64,
    /// The key prefix (the pool's hash tag).
    pub key_prefix: String,
    /// Pushes received from other replicas.
    pub received: u64,
    /// The last push's delay from the sending replica to this one, in ms.
    pub last_lag_ms: u64,
    /// The largest such delay seen.
    pub max_lag_ms: u64,
    /// Bindings in the local cache.
    pub cached_bindings: usize,
}

impl RedisFleet {
    /// Sets up fleet mode for a pool of `accounts` (in the pool's order). A Redis that does
    /// not answer is no error: the replica starts on its local state and joins when Redis
    /// does. Only an unusable URL fails.
    pub async fn connect(
        config: FleetConfig,
        accounts: &[AccountSpec],
    ) -> Result<Self, FleetError> {
        let client = redis::Client::open(config.redis_url.as_str()).map_err(FleetError)?;
        let (jobs, queue) = mpsc::unbounded_channel();
        let emails = accounts.iter().map(|a| a.email.clone()).collect();
        let shared = Arc::new(Shared::new(client, config, emails, jobs));
        match shared.connect().await {
            Ok(()) => shared.set_up(),
            Err(e) => {
                tracing::warn!(error = %e, "fleet store unreachable at start: serving on local state until it is back")
            }
        }
        tokio::spawn(sync::writer(shared.clone(), queue));
        Ok(Self { shared })
    }

    /// The shared binding store, for [`PoolBuilder::store`](rota::PoolBuilder::store).
    pub fn binding_store(&self) -> RedisBindingStore {
        RedisBindingStore {
            shared: self.shared.clone(),
        }
    }

    /// The shared object store, for [`PoolBuilder::objects`](rota::PoolBuilder::objects).
    pub fn object_store(&self) -> RedisObjectStore {
        RedisObjectStore {
            shared: self.shared.clone(),
        }
    }

    /// This fleet as the pool's [`Fleet`], for [`PoolBuilder::fleet`](rota::PoolBuilder::fleet).
    pub fn handle(&self) -> Arc<dyn Fleet> {
        Arc::new(self.clone())
    }

    /// Follows the fleet with `pool` (built with this fleet's stores and handle): reads the
    /// shared state, then applies every change the other replicas push; starts the way back
    /// if Redis is down. The tasks end when the pool is dropped.
    pub fn start(&self, pool: &Pool) {
        if self.shared.pool.set(pool.downgrade()).is_err() {
            tracing::warn!("RedisFleet::start called twice; the first pool stays");
            return;
        }
        tokio::spawn(sync::subscriber(self.shared.clone()));
        if !self.shared.is_up() {
            sync::recover(self.shared.clone());
        }
    }

    /// The replica's link to the fleet, as `GET /admin/fleet` shows it.
    pub fn status(&self) -> FleetStatus {
        let lag = *self.shared.lag.lock();
        let cached = self.shared.bindings.len();
        FleetStatus {
            connected: self.shared.is_up(),
            errors: self.shared.errors(),
            replica: self.shared.id,
            key_prefix: self.shared.config.key_prefix.clone(),
            received: lag.received,
            last_lag_ms: lag.last_ms,
            max_lag_ms: lag.max_ms,
            cached_bindings: cached,
        }
    }
}

impl Fleet for RedisFleet {
    fn publish(&self, event: FleetEvent) {
        self.shared.queue(Job::Event(event));
    }
}
