//! The state every part of one replica's fleet shares: the Redis connection, the key names,
//! the account list, the local caches, and the health that decides whether to ask Redis at
//! all. Every Redis call goes through [`Shared::run`]: bounded by `op_timeout`, and a failure
//! turns the replica to its local state until a ping succeeds again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use rota::pool::WeakPool;
use std::time::Instant;

use rota_core::store::TtlLru;
use rota_core::{AccountId, FleetEvent, MemoryObjectStore};
use tokio::sync::mpsc;

use crate::FleetConfig;
use crate::keys::Keys;

/// Why a Redis call gave no answer.
#[derive(Debug)]
pub(crate) enum OpError {
    /// The store is known to be down: not asked.
    Down,
    /// No answer within `op_timeout`.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Down => f.write_str("the fleet store is unreachable"),
            Self::Timeout => f.write_str("the fleet store did not answer within op_timeout"),
            Self::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

impl std::error::Error for OpError {}

/// A cached binding: the account, and when the Redis copy's idle TTL was last renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cached {
    pub(crate) account: AccountId,
    pub(crate) renewed: Instant,
}

/// What the writer task does, in order, after the answer that caused it has left.
#[derive(Debug)]
pub(crate) enum Job {
    /// A change of the pool's: write the shared state, then push it.
    Event(FleetEvent),
    /// A session was (re)bound: write it, push it (the others' caches follow).
    Bind { session: String, email: String },
    /// A cached binding is in use: renew its idle TTL in Redis.
    Touch { session: String },
    /// A session's binding to a failed account was dropped: compare-and-delete, push it.
    Unbind { session: String, email: String },
    /// An object's owner (`email\nsession`) was learned: write it.
    Learn { object: String, value: String },
}

/// Round-trip lag of pushes from other replicas, as seen here.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Lag {
    pub(crate) last_ms: u64,
    pub(crate) max_ms: u64,
    pub(crate) received: u64,
}

pub(crate) struct Shared {
    pub(crate) client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    pub(crate) keys: Keys,
    pub(crate) config: FleetConfig,
    /// This replica, in the channel's envelopes.
    pub(crate) id: u64,
    by_email: HashMap<String, AccountId>,
    emails: Vec<String>,
    /// The local binding cache: hits cost no round trip.
    pub(crate) bindings: TtlLru<Cached>,
    /// The local object-owner cache.
    pub(crate) objects: MemoryObjectStore,
    pub(crate) pool: OnceLock<WeakPool>,
    up: AtomicBool,
    recovering: AtomicBool,
    errors: AtomicU64,
    pub(crate) jobs: mpsc::UnboundedSender<Job>,
    /// Admin changes that could not be written while the store was down: pushed first on
    /// the way back (the latest per setting or account).
    pub(crate) pending: Mutex<Vec<FleetEvent>>,
    pub(crate) lag: Mutex<Lag>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("key_prefix", &self.config.key_prefix)
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        client: redis::Client,
        config: FleetConfig,
        emails: Vec<String>,
        jobs: mpsc::UnboundedSender<Job>,
    ) -> Self {
        let by_email = emails
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), AccountId(i as u32)))
            .collect();
        let id = replica_id();
        Self {
            client,
            conn: Mutex::new(None),
            keys: Keys::new(&config.key_prefix),
            bindings: TtlLru::new(config.cache_capacity, config.binding_ttl),
            objects: MemoryObjectStore::new(config.cache_capacity, config.object_ttl),
            config,
            id,
            by_email,
            emails,
            pool: OnceLock::new(),
            up: AtomicBool::new(false),
            recovering: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            jobs,
            pending: Mutex::new(Vec::new()),
            lag: Mutex::new(Lag::default()),
        }
    }

    pub(crate) fn account(&self, email: &str) -> Option<AccountId> {
        self.by_email.get(email).copied()
    }

    pub(crate) fn email(&self, id: AccountId) -> Option<&str> {
        self.emails.get(id.index()).map(String::as_str)
    }

    /// Caches `session` → `account`, its Redis copy renewed `now`.
    pub(crate) fn cache(&self, session: &str, account: AccountId, now: Instant) {
        let cached = Cached {
            account,
            renewed: now,
        };
        self.bindings
            .put(TtlLru::<Cached>::key(session), cached, now);
    }

    /// The cached account of `session`; a use a quarter of the TTL after the last renewal
    /// renews the Redis copy too, so a conversation that stays on one replica keeps its
    /// binding for the others.
    pub(crate) fn cached(&self, session: &str, now: Instant) -> Option<AccountId> {
        let key = TtlLru::<Cached>::key(session);
        let cached = self.bindings.get(key, now)?;
        if now.saturating_duration_since(cached.renewed) >= self.config.binding_ttl / 4 {
            self.bindings.put(
                key,
                Cached {
                    renewed: now,
                    ..cached
                },
                now,
            );
            self.queue(Job::Touch {
                session: session.to_owned(),
            });
        }
        Some(cached.account)
    }

    /// Drops the cached binding of `session` if it names `account`.
    pub(crate) fn uncache(&self, session: &str, account: AccountId) -> bool {
        self.bindings
            .remove_if(TtlLru::<Cached>::key(session), |c| c.account == account)
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Opens the connection (at start and on the way back); on success the store is up.
    pub(crate) async fn connect(&self) -> Result<(), OpError> {
        let fut = ConnectionManager::new(self.client.clone());
        let conn = tokio::time::timeout(self.config.connect_timeout, fut)
            .await
            .map_err(|_| OpError::Timeout)?
            .map_err(OpError::Redis)?;
        *self.conn.lock() = Some(conn);
        Ok(())
    }

    pub(crate) fn set_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!(prefix = %self.config.key_prefix, "fleet store reachable: sharing state");
        }
    }

    /// Runs one Redis call, bounded by `op_timeout`. While the store is down nothing is
    /// asked; a failure counts in `rota_fleet_errors_total` and, the first time, logs one
    /// warning and starts the way back.
    pub(crate) async fn run<T, F, Fut>(self: &Arc<Self>, op: F) -> Result<T, OpError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            return Err(OpError::Down);
        }
        let Some(conn) = self.conn.lock().clone() else {
            return Err(OpError::Down);
        };
        let result = match tokio::time::timeout(self.config.op_timeout, op(conn)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if !unreachable(&e) => {
                // Redis answered, with an error: counted, but it is no outage.
                self.errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("rota_fleet_errors_total").increment(1);
                tracing::warn!(error = %e, "fleet store refused a command");
                return Err(OpError::Redis(e));
            }
            Ok(Err(e)) => OpError::Redis(e),
            Err(_) => OpError::Timeout,
        };
        self.failed(&result);
        Err(result)
    }

    /// Counts a failure; the first of an outage warns once and starts the way back.
    pub(crate) fn failed(self: &Arc<Self>, why: &OpError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("rota_fleet_errors_total").increment(1);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %why, "fleet store unreachable: serving on local state until it is back");
            crate::sync::recover(self.clone());
        }
    }

    /// Marks the start of a recovery loop; false if one already runs.
    pub(crate) fn begin_recovery(&self) -> bool {
        !self.recovering.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn end_recovery(&self) {
        self.recovering.store(false, Ordering::Release);
    }

    /// Queues a write for the writer task (never blocks).
    pub(crate) fn queue(&self, job: Job) {
        // The receiver lives as long as the fleet; a send after it stopped has no one to tell.
        let _ = self.jobs.send(job);
    }
}

/// Whether an error means Redis could not be reached (an outage), not that it refused.
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// A replica id, different across processes and across fleets in one process.
fn replica_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(std::process::id()) << 32)
        ^ u64::from(nanos)
        ^ (NEXT.fetch_add(1, Ordering::Relaxed) << 48)
}

/// How long a value in milliseconds takes to say, for `PX`.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
