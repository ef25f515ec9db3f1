//! Object affinity (SPEC §3a): which account owns a stored object.
//!
//! Some objects live on the account that created them: OpenAI Responses ids (`resp_…`) and
//! conversation ids (`conv_…`). A request that references one (`previous_response_id`,
//! `conversation`, an id in the path) can only be served by that account; any other answers
//! "not found". [`ObjectStore`] is the seam, beside [`BindingStore`](crate::BindingStore) and
//! with the same [`StoreFuture`] answers, so a networked store can share owners across
//! gateway replicas; [`MemoryObjectStore`] is the in-process default.
//!
//! An owner also carries the session of the request that created the object: a request that
//! continues the object keeps that session (SPEC §2 rule 2), so a Responses chain — whose
//! later turns carry only their new input — stays one conversation.

use std::fmt;
use std::time::{Duration, Instant};

use crate::store::{StoreFuture, TtlLru};
use crate::{AccountId, SessionId};

/// Which prefixes name objects that live on one account (and that rota learns from answers).
pub const OWNED_PREFIXES: [&str; 2] = ["resp_", "conv_"];

/// Whether `id` names an object that lives on the account that created it.
///
/// ```
/// assert!(rota_core::objects::is_owned_id("resp_68af"));
/// assert!(!rota_core::objects::is_owned_id("msg_1"));
/// ```
pub fn is_owned_id(id: &str) -> bool {
    OWNED_PREFIXES.iter().any(|p| id.starts_with(p)) && id.len() <= MAX_ID_LEN
}

/// Ids longer than this are not learned (real ids are ~50 bytes).
pub const MAX_ID_LEN: usize = 256;

/// The account that owns an object, and the session of the request that created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOwner {
    /// The account the object lives on.
    pub account: AccountId,
    /// The session of the request that created it, if it had one.
    pub session: Option<SessionId>,
}

/// Object → owner (SPEC §3a).
///
/// Implementations must be bounded (capacity and idle TTL), like bindings.
pub trait ObjectStore: Send + Sync + fmt::Debug + 'static {
    /// The owner of `object`, if known (refreshes its idle TTL).
    fn owner(&self, object: &str, now: Instant) -> StoreFuture<Option<ObjectOwner>>;

    /// Records that `owner` created (or served) `object`.
    fn learn(&self, object: &str, owner: ObjectOwner, now: Instant) -> StoreFuture<()>;

    /// How many owners are held (may include expired ones not yet evicted).
    fn count(&self) -> StoreFuture<usize>;
}

/// The default, in-process [`ObjectStore`]: a sharded LRU with an idle TTL, keyed by the
/// 128-bit hash of the object id.
///
/// Keys are 128-bit hashes of the id, so an owner costs the same whatever the id's length:
/// about 130 bytes resident, plus about 50 for the session id's shared string when it has one
/// (the `objects_rss` example: one million owners, half with a `sid-` session, take 148 MiB,
/// 156 B each). The default keeps 100 000 owners for 30 days of idleness, as long as OpenAI
/// keeps a stored response.
///
/// ```
/// use rota_core::objects::{MemoryObjectStore, ObjectOwner, ObjectStore};
/// use rota_core::{AccountId, SessionId};
/// use std::time::Instant;
///
/// # block_on(async {
/// let store = MemoryObjectStore::default();
/// let owner = ObjectOwner { account: AccountId(2), session: Some(SessionId("sid-1".into())) };
/// let now = Instant::now();
/// store.learn("resp_1", owner.clone(), now).await.unwrap();
/// assert_eq!(store.owner("resp_1", now).await.unwrap(), Some(owner));
/// assert_eq!(store.owner("resp_2", now).await.unwrap(), None);
/// # });
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let waker = std::task::Waker::noop();
/// #     match f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) {
/// #         std::task::Poll::Ready(v) => v,
/// #         std::task::Poll::Pending => unreachable!("memory store is always ready"),
/// #     }
/// # }
/// ```
pub struct MemoryObjectStore {
    table: TtlLru<ObjectOwner>,
}

impl fmt::Debug for MemoryObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryObjectStore")
            .field("ttl", &self.table.ttl())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryObjectStore {
    /// Capacity 100 000, idle TTL 30 days.
    fn default() -> Self {
        Self::new(100_000, Duration::from_secs(30 * 24 * 3600))
    }
}

impl MemoryObjectStore {
    /// A store holding at most `capacity` owners (least recently used evicted first), each
    /// forgotten after `ttl` without use.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            table: TtlLru::new(capacity, ttl),
        }
    }
}

impl ObjectStore for MemoryObjectStore {
    fn owner(&self, object: &str, now: Instant) -> StoreFuture<Option<ObjectOwner>> {
        StoreFuture::ready(self.table.get(TtlLru::<ObjectOwner>::key(object), now))
    }

    fn learn(&self, object: &str, owner: ObjectOwner, now: Instant) -> StoreFuture<()> {
        self.table
            .put(TtlLru::<ObjectOwner>::key(object), owner, now);
        StoreFuture::ready(())
    }

    fn count(&self) -> StoreFuture<usize> {
        StoreFuture::ready(self.table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready<T: Unpin>(f: StoreFuture<T>) -> T {
        match f {
            StoreFuture::Ready(Some(Ok(v))) => v,
            other => panic!("memory store answered {other:?}"),
        }
    }

    fn owner(i: u32) -> ObjectOwner {
        ObjectOwner {
            account: AccountId(i),
            session: None,
        }
    }

    #[test]
    fn owners_expire_after_idle_ttl_and_use_refreshes_them() {
        let store = MemoryObjectStore::new(10, Duration::from_secs(10));
        let t = Instant::now();
        ready(store.learn("resp_a", owner(1), t));
        let at = |s| t + Duration::from_secs(s);
        assert_eq!(ready(store.owner("resp_a", at(9))), Some(owner(1)));
        assert_eq!(ready(store.owner("resp_a", at(18))), Some(owner(1)));
        assert_eq!(ready(store.owner("resp_a", at(28))), None);
    }

    #[test]
    fn owners_are_bounded_by_capacity_and_relearning_moves_them() {
        let store = MemoryObjectStore::new(64, Duration::from_secs(3600));
        let t = Instant::now();
        for i in 0..10_000 {
            ready(store.learn(&format!("resp_{i}"), owner(0), t));
        }
        assert!(ready(store.count()) <= 64 + 16);
        ready(store.learn("resp_9999", owner(3), t));
        assert_eq!(ready(store.owner("resp_9999", t)), Some(owner(3)));
    }

    #[test]
    fn owned_ids() {
        assert!(is_owned_id("conv_1"));
        assert!(!is_owned_id("file-1"));
        assert!(!is_owned_id(&format!("resp_{}", "x".repeat(300))));
    }
}
