//! Where session → account bindings live.
//!
//! [`BindingStore`] is the seam for state shared across gateway replicas: the in-memory
//! [`MemoryBindingStore`] is the default; a networked store (Redis) implements the same trait
//! in its own crate. Methods return a [`StoreFuture`], which is allocation-free for stores that
//! answer at once and boxes only for stores that do I/O.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lru::LruCache;
use parking_lot::Mutex;

use crate::{AccountId, SessionId};

/// The error of a store operation (a networked store could not be reached, …).
#[derive(Debug)]
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps any error.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "binding store: {}", self.0)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The future returned by [`BindingStore`] methods.
pub enum StoreFuture<T> {
    /// Already answered (in-memory stores): no allocation, ready on first poll.
    Ready(Option<Result<T, StoreError>>),
    /// Answered later (networked stores).
    Pending(Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>),
}

impl<T> StoreFuture<T> {
    /// A ready answer.
    pub fn ready(value: T) -> Self {
        Self::Ready(Some(Ok(value)))
    }

    /// Boxes a pending future (it must own what it needs, e.g. a cloned connection handle).
    pub fn pending(fut: impl Future<Output = Result<T, StoreError>> + Send + 'static) -> Self {
        Self::Pending(Box::pin(fut))
    }
}

impl<T> fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready(_) => "StoreFuture::Ready",
            Self::Pending(_) => "StoreFuture::Pending",
        })
    }
}

impl<T: Unpin> Future for StoreFuture<T> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(value) => Poll::Ready(
                value
                    .take()
                    .unwrap_or_else(|| Err(StoreError::new("StoreFuture polled after completion"))),
            ),
            Self::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// Session → account bindings (SPEC §3 "Binding").
///
/// Implementations must make [`bind_if_absent`](BindingStore::bind_if_absent) atomic: of
/// concurrent calls for one new session, exactly one account wins and every caller learns it.
/// Bindings must be bounded (capacity and idle TTL).
pub trait BindingStore: Send + Sync + fmt::Debug + 'static {
    /// The account `session` is bound to, if any (refreshes its idle TTL).
    fn get(&self, session: &SessionId, now: Instant) -> StoreFuture<Option<AccountId>>;

    /// Binds `session` to `account` unless it is already bound; returns the account it is
    /// bound to afterwards.
    fn bind_if_absent(
        &self,
        session: &SessionId,
        account: AccountId,
        now: Instant,
    ) -> StoreFuture<AccountId>;

    /// Binds `session` to `account`, replacing any binding.
    fn bind(&self, session: &SessionId, account: AccountId, now: Instant) -> StoreFuture<()>;

    /// Removes the binding of `session` if it points at `account`; returns whether it did.
    fn unbind_if(&self, session: &SessionId, account: AccountId) -> StoreFuture<bool>;

    /// Removes every binding; returns how many there were.
    fn clear(&self) -> StoreFuture<usize>;

    /// How many bindings are held (may include expired ones not yet evicted).
    fn count(&self) -> StoreFuture<usize>;
}

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Entry<V> {
    value: V,
    last_used: Instant,
}

type Shard<V> = Mutex<LruCache<u128, Entry<V>>>;

impl<V> fmt::Debug for TtlLru<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlLru")
            .field("shards", &self.shards.len())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The in-memory stores' table: a sharded LRU of 128-bit keys with an idle TTL. An entry
/// idle for `ttl` is gone (it is dropped when next looked at, or evicted by newer ones).
/// Public for stores built on it elsewhere (a networked store's local cache).
///
/// ```
/// use rota_core::store::TtlLru;
/// use std::time::{Duration, Instant};
///
/// let t: TtlLru<u32> = TtlLru::new(1000, Duration::from_secs(60));
/// let (key, now) = (TtlLru::<u32>::key("sid-1"), Instant::now());
/// assert_eq!(t.put_if_absent(key, 7, now), 7);
/// assert_eq!(t.put_if_absent(key, 8, now), 7);
/// assert_eq!(t.get(key, now + Duration::from_secs(61)), None);
/// ```
pub struct TtlLru<V> {
    shards: Box<[Shard<V>]>,
    ttl: Duration,
}

impl<V: Clone> TtlLru<V> {
    /// At most `capacity` entries (split evenly over the shards), each forgotten after `ttl`
    /// without use.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let per_shard =
            NonZeroUsize::new(capacity.div_ceil(SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(LruCache::new(per_shard)))
            .collect();
        Self { shards, ttl }
    }

    /// The key of a string: its 128-bit xxh3 hash, so an entry costs the same whatever the
    /// string's length.
    pub fn key(s: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128(s.as_bytes())
    }

    fn shard(&self, key: u128) -> &Shard<V> {
        &self.shards[(key as usize) % self.shards.len()]
    }

    fn live(&self, entry: &Entry<V>, now: Instant) -> bool {
        now.saturating_duration_since(entry.last_used) < self.ttl
    }

    /// The live value under `key` (its idle time starts again).
    pub fn get(&self, key: u128, now: Instant) -> Option<V> {
        let mut shard = self.shard(key).lock();
        let entry = shard.get_mut(&key)?;
        if !self.live(entry, now) {
            shard.pop(&key);
            return None;
        }
        entry.last_used = now;
        Some(entry.value.clone())
    }

    /// Puts `value` under `key` unless a live value is there; returns the value there after.
    pub fn put_if_absent(&self, key: u128, value: V, now: Instant) -> V {
        let mut shard = self.shard(key).lock();
        if let Some(entry) = shard.get_mut(&key)
            && self.live(entry, now)
        {
            entry.last_used = now;
            return entry.value.clone();
        }
        shard.put(
            key,
            Entry {
                value: value.clone(),
                last_used: now,
            },
        );
        value
    }

    /// Puts `value` under `key`, replacing any.
    pub fn put(&self, key: u128, value: V, now: Instant) {
        let entry = Entry {
            value,
            last_used: now,
        };
        self.shard(key).lock().put(key, entry);
    }

    /// Removes the entry under `key` if `matches` its value; returns whether it did.
    pub fn remove_if(&self, key: u128, matches: impl FnOnce(&V) -> bool) -> bool {
        let mut shard = self.shard(key).lock();
        let hit = shard.peek(&key).is_some_and(|e| matches(&e.value));
        if hit {
            shard.pop(&key);
        }
        hit
    }

    /// Removes every entry; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut n = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            n += shard.len();
            shard.clear();
        }
        n
    }

    /// How many entries are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.lock().is_empty())
    }

    /// The idle TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// The default, in-process [`BindingStore`]: a sharded LRU with an idle TTL.
///
/// Keys are 128-bit hashes of the session id, so a binding costs the same whatever the id's
/// length: about 116 bytes resident (16-byte key, account, last-use instant, LRU links, the
/// hash-table slot and allocator overhead; measured with the `bindings_rss` example — one
/// million bindings take 110 MiB). The capacity is split evenly over 16 shards, so eviction can
/// begin slightly before the total is reached (at one million, 998 016 were held).
///
/// ```
/// use rota_core::store::{BindingStore, MemoryBindingStore};
/// use rota_core::{AccountId, SessionId};
/// use std::time::{Duration, Instant};
///
/// # futures_lite_block_on(async {
/// let store = MemoryBindingStore::new(100_000, Duration::from_secs(3600));
/// let s = SessionId("sid-0123456789abcdef".into());
/// let now = Instant::now();
/// assert_eq!(store.bind_if_absent(&s, AccountId(1), now).await.unwrap(), AccountId(1));
/// assert_eq!(store.bind_if_absent(&s, AccountId(2), now).await.unwrap(), AccountId(1));
/// assert_eq!(store.get(&s, now).await.unwrap(), Some(AccountId(1)));
/// # });
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let waker = std::task::Waker::noop();
/// #     match f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) {
/// #         std::task::Poll::Ready(v) => v,
/// #         std::task::Poll::Pending => unreachable!("memory store is always ready"),
/// #     }
/// # }
/// ```
pub struct MemoryBindingStore {
    table: TtlLru<AccountId>,
}

impl fmt::Debug for MemoryBindingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBindingStore")
            .field("shards", &SHARDS)
            .field("ttl", &self.table.ttl())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryBindingStore {
    /// Capacity 100 000, idle TTL 1 h (SPEC §3).
    fn default() -> Self {
        Self::new(100_000, Duration::from_secs(3600))
    }
}

impl MemoryBindingStore {
    /// A store holding at most `capacity` bindings (least recently used evicted first), each
    /// forgotten after `ttl` without use.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            table: TtlLru::new(capacity, ttl),
        }
    }

    fn key(session: &SessionId) -> u128 {
        TtlLru::<AccountId>::key(session.as_str())
    }
}

impl BindingStore for MemoryBindingStore {
    fn get(&self, session: &SessionId, now: Instant) -> StoreFuture<Option<AccountId>> {
        StoreFuture::ready(self.table.get(Self::key(session), now))
    }

    fn bind_if_absent(
        &self,
        session: &SessionId,
        account: AccountId,
        now: Instant,
    ) -> StoreFuture<AccountId> {
        StoreFuture::ready(self.table.put_if_absent(Self::key(session), account, now))
    }

    fn bind(&self, session: &SessionId, account: AccountId, now: Instant) -> StoreFuture<()> {
        self.table.put(Self::key(session), account, now);
        StoreFuture::ready(())
    }

    fn unbind_if(&self, session: &SessionId, account: AccountId) -> StoreFuture<bool> {
        StoreFuture::ready(self.table.remove_if(Self::key(session), |a| *a == account))
    }

    fn clear(&self) -> StoreFuture<usize> {
        StoreFuture::ready(self.table.clear())
    }

    fn count(&self) -> StoreFuture<usize> {
        StoreFuture::ready(self.table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_ready<T: Unpin>(f: StoreFuture<T>) -> T {
        match f {
            StoreFuture::Ready(Some(Ok(v))) => v,
            other => panic!("memory store answered {other:?}"),
        }
    }

    fn sid(s: &str) -> SessionId {
        SessionId(s.into())
    }

    #[test]
    fn bind_if_absent_keeps_the_first_binding() {
        let store = MemoryBindingStore::default();
        let t = Instant::now();
        assert_eq!(
            now_ready(store.bind_if_absent(&sid("a"), AccountId(3), t)),
            AccountId(3)
        );
        assert_eq!(
            now_ready(store.bind_if_absent(&sid("a"), AccountId(4), t)),
            AccountId(3)
        );
        now_ready(store.bind(&sid("a"), AccountId(4), t));
        assert_eq!(now_ready(store.get(&sid("a"), t)), Some(AccountId(4)));
    }

    #[test]
    fn bindings_expire_after_idle_ttl_and_use_refreshes_them() {
        let store = MemoryBindingStore::new(10, Duration::from_secs(10));
        let t = Instant::now();
        now_ready(store.bind(&sid("a"), AccountId(1), t));
        assert_eq!(
            now_ready(store.get(&sid("a"), t + Duration::from_secs(9))),
            Some(AccountId(1))
        );
        assert_eq!(
            now_ready(store.get(&sid("a"), t + Duration::from_secs(18))),
            Some(AccountId(1))
        );
        assert_eq!(
            now_ready(store.get(&sid("a"), t + Duration::from_secs(28))),
            None
        );
        // an expired binding does not block a new one
        now_ready(store.bind(&sid("b"), AccountId(1), t));
        let later = t + Duration::from_secs(60);
        assert_eq!(
            now_ready(store.bind_if_absent(&sid("b"), AccountId(2), later)),
            AccountId(2)
        );
    }

    #[test]
    fn bindings_are_bounded_by_capacity() {
        let store = MemoryBindingStore::new(64, Duration::from_secs(3600));
        let t = Instant::now();
        for i in 0..10_000 {
            now_ready(store.bind(&sid(&format!("s{i}")), AccountId(0), t));
        }
        assert!(now_ready(store.count()) <= 64 + SHARDS);
    }

    #[test]
    fn unbind_if_only_removes_a_matching_binding() {
        let store = MemoryBindingStore::default();
        let t = Instant::now();
        now_ready(store.bind(&sid("a"), AccountId(1), t));
        assert!(!now_ready(store.unbind_if(&sid("a"), AccountId(2))));
        assert!(now_ready(store.unbind_if(&sid("a"), AccountId(1))));
        assert_eq!(now_ready(store.get(&sid("a"), t)), None);
    }

    #[test]
    fn clear_reports_how_many_were_removed() {
        let store = MemoryBindingStore::default();
        let t = Instant::now();
        for i in 0..5 {
            now_ready(store.bind(&sid(&format!("s{i}")), AccountId(0), t));
        }
        assert_eq!(now_ready(store.clear()), 5);
        assert_eq!(now_ready(store.count()), 0);
    }
}
