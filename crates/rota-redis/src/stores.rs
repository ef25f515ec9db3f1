//! The fleet's [`BindingStore`] and [`ObjectStore`]: a local cache in front of Redis.
//!
//! Reads stay local on the hot path: a cached binding or owner answers at once, with no
//! round trip. A miss asks Redis (within `op_timeout`), and so does a new session's
//! bind-if-absent, which must be atomic across replicas (`SET NX`: one winner, every caller
//! learns it). Writes after an answer — a rebind, an unbind, a learned object — go to the
//! writer task and never hold a response; rebinds and unbinds are pushed so the others'
//! caches follow. With the store down, every method answers from the local cache.

use std::sync::Arc;
use std::time::Instant;

use rota_core::store::{StoreError, StoreFuture};
use rota_core::{AccountId, BindingStore, ObjectOwner, ObjectStore, SessionId};

use crate::scripts::BIND_IF_ABSENT;
use rota_core::store::TtlLru;

use crate::shared::{Cached, Job, Shared, millis};
use crate::wire::Msg;

/// Session → account bindings shared by every replica (SPEC §8).
#[derive(Debug, Clone)]
pub struct RedisBindingStore {
    pub(crate) shared: Arc<Shared>,
}

/// The local cache's answer, which is always ready.
fn ready<T: Unpin>(fut: StoreFuture<T>) -> Option<T> {
    match fut {
        StoreFuture::Ready(Some(Ok(v))) => Some(v),
        _ => None,
    }
}

impl BindingStore for RedisBindingStore {
    fn get(&self, session: &SessionId, now: Instant) -> StoreFuture<Option<AccountId>> {
        if let Some(id) = self.shared.cached(session.as_str(), now) {
            return StoreFuture::ready(Some(id));
        }
        if !self.shared.is_up() {
            return StoreFuture::ready(None);
        }
        let shared = self.shared.clone();
        let session = session.clone();
        StoreFuture::pending(async move {
            let email = crate::sync::get(&shared, shared.keys.binding(session.as_str())).await;
            let id = email.and_then(|e| shared.account(&e));
            if let Some(id) = id {
                shared.cache(session.as_str(), id, now);
            }
            Ok(id)
        })
    }

    fn bind_if_absent(
        &self,
        session: &SessionId,
        account: AccountId,
        now: Instant,
    ) -> StoreFuture<AccountId> {
        let local = || local_bind_if_absent(&self.shared, session.as_str(), account, now);
        let Some(email) = self.shared.email(account).map(str::to_owned) else {
            return StoreFuture::ready(local());
        };
        if !self.shared.is_up() {
            return StoreFuture::ready(local());
        }
        let shared = self.shared.clone();
        let session = session.clone();
        StoreFuture::pending(async move {
            let key = shared.keys.binding(session.as_str());
            let ttl = millis(shared.config.binding_ttl);
            let winner = shared
                .run(|mut c| async move {
                    BIND_IF_ABSENT
                        .key(key)
                        .arg(email)
                        .arg(ttl)
                        .invoke_async::<Option<String>>(&mut c)
                        .await
                })
                .await
                .ok()
                .flatten()
                .and_then(|e| shared.account(&e));
            let id = match winner {
                Some(winner) => {
                    shared.cache(session.as_str(), winner, now);
                    winner
                }
                None => local_bind_if_absent(&shared, session.as_str(), account, now),
            };
            Ok(id)
        })
    }

    fn bind(&self, session: &SessionId, account: AccountId, now: Instant) -> StoreFuture<()> {
        self.shared.cache(session.as_str(), account, now);
        if let Some(email) = self.shared.email(account) {
            self.shared.queue(Job::Bind {
                session: session.as_str().to_owned(),
                email: email.to_owned(),
            });
        }
        StoreFuture::ready(())
    }

    fn unbind_if(&self, session: &SessionId, account: AccountId) -> StoreFuture<bool> {
        let unbound = self.shared.uncache(session.as_str(), account);
        if let Some(email) = self.shared.email(account) {
            self.shared.queue(Job::Unbind {
                session: session.as_str().to_owned(),
                email: email.to_owned(),
            });
        }
        StoreFuture::ready(unbound)
    }

    fn clear(&self) -> StoreFuture<usize> {
        let local = self.shared.bindings.clear();
        if !self.shared.is_up() {
            return StoreFuture::ready(local);
        }
        let shared = self.shared.clone();
        StoreFuture::pending(async move {
            let cleared = crate::sync::delete_matching(&shared, shared.keys.bindings())
                .await
                .map_err(StoreError::new)?;
            crate::sync::push(&shared, Msg::BindingsCleared).await;
            Ok(cleared.max(local))
        })
    }

    fn count(&self) -> StoreFuture<usize> {
        StoreFuture::ready(self.shared.bindings.len())
    }
}

/// Bind-if-absent in the local cache alone (the store is down or did not answer).
fn local_bind_if_absent(
    shared: &Shared,
    session: &str,
    account: AccountId,
    now: Instant,
) -> AccountId {
    let fresh = Cached {
        account,
        renewed: now,
    };
    let key = TtlLru::<Cached>::key(session);
    shared.bindings.put_if_absent(key, fresh, now).account
}

/// Object → owner, shared by every replica (SPEC §3a, §8).
#[derive(Debug, Clone)]
pub struct RedisObjectStore {
    pub(crate) shared: Arc<Shared>,
}

impl ObjectStore for RedisObjectStore {
    fn owner(&self, object: &str, now: Instant) -> StoreFuture<Option<ObjectOwner>> {
        if let Some(Some(owner)) = ready(self.shared.objects.owner(object, now)) {
            return StoreFuture::ready(Some(owner));
        }
        if !self.shared.is_up() {
            return StoreFuture::ready(None);
        }
        let shared = self.shared.clone();
        let object = object.to_owned();
        StoreFuture::pending(async move {
            let value = crate::sync::get(&shared, shared.keys.object(&object)).await;
            let owner = value.and_then(|v| {
                let (email, session) = v.split_once('\n').unwrap_or((v.as_str(), ""));
                Some(ObjectOwner {
                    account: shared.account(email)?,
                    session: (!session.is_empty()).then(|| SessionId(session.into())),
                })
            });
            if let Some(owner) = &owner {
                drop(shared.objects.learn(&object, owner.clone(), now));
            }
            Ok(owner)
        })
    }

    fn learn(&self, object: &str, owner: ObjectOwner, now: Instant) -> StoreFuture<()> {
        if let Some(email) = self.shared.email(owner.account) {
            let session = owner.session.as_ref().map_or("", SessionId::as_str);
            self.shared.queue(Job::Learn {
                object: object.to_owned(),
                value: format!("{email}\n{session}"),
            });
        }
        self.shared.objects.learn(object, owner, now)
    }

    fn count(&self) -> StoreFuture<usize> {
        self.shared.objects.count()
    }
}
