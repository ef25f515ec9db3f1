//! Session bindings: sticky, moved on success, unbound on failure, atomic.

use super::*;

#[tokio::test]
async fn sticky_second_request_of_a_session_goes_to_its_bound_account() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let first = svc
        .clone()
        .oneshot(chat(Some("conv-1")))
        .await
        .expect("served");
    assert_eq!(header(&first, "x-account-email"), "a@x");
    // Another session moves the round-robin cursor to b.
    let other = svc
        .clone()
        .oneshot(chat(Some("conv-2")))
        .await
        .expect("served");
    assert_eq!(header(&other, "x-account-email"), "b@x");
    let second = svc.oneshot(chat(Some("conv-1"))).await.expect("served");
    assert_eq!(header(&second, "x-account-email"), "a@x");
    assert_eq!(header(&second, "x-rota-decision"), "sticky");
}

#[tokio::test]
async fn binding_moves_to_the_account_that_served_the_success() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    svc.clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    assert_eq!(bound(&pool, "conv").await, Some(A));

    // Attempt 1 of a retried request: a failed, so b serves it.
    let mut retry = chat(Some("conv"));
    retry.extensions_mut().insert(Attempt(1));
    retry.extensions_mut().insert(Attempted(vec![A]));
    let res = svc.clone().oneshot(retry).await.expect("served");
    assert_eq!(header(&res, "x-account-email"), "b@x");
    assert_eq!(bound(&pool, "conv").await, Some(B));

    let next = svc.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(header(&next, "x-account-email"), "b@x");
    assert_eq!(header(&next, "x-rota-decision"), "sticky");
}

#[tokio::test]
async fn a_failed_bound_account_is_unbound() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let ok = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    ok.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(bound(&pool, "conv").await, Some(A));

    let failing = AccountSelectLayer::new(pool.clone())
        .layer(upstream(Log::default(), StatusCode::TOO_MANY_REQUESTS));
    let res = failing.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(
        bound(&pool, "conv").await,
        None,
        "the session is not trapped on a"
    );
}

#[tokio::test]
async fn a_neutral_answer_keeps_the_binding() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone())
        .layer(upstream(Log::default(), StatusCode::BAD_REQUEST));
    svc.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(
        bound(&pool, "conv").await,
        Some(A),
        "a 400 says nothing about the account"
    );
}

#[tokio::test]
async fn concurrent_first_requests_of_a_new_session_land_on_one_account() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(tower::service_fn(
        |_req: Request<Bytes>| async {
            tokio::task::yield_now().await;
            Ok::<_, Infallible>(Response::new(Frames::default()))
        },
    ));
    let mut set = JoinSet::new();
    for _ in 0..50 {
        let svc = svc.clone();
        set.spawn(async move { svc.oneshot(chat(Some("new-session"))).await });
    }
    let mut accounts = Vec::new();
    for res in set.join_all().await {
        let res = res.expect("served");
        accounts.push(
            res.extensions()
                .get::<SelectedAccount>()
                .expect("selected")
                .id,
        );
    }
    assert_eq!(accounts.len(), 50);
    assert!(accounts.iter().all(|a| *a == accounts[0]), "{accounts:?}");
}

/// A binding store whose lookups take one scheduler turn, so that concurrent first requests
/// all miss the binding and race to create it.
#[derive(Debug, Default)]
struct SlowLookups(Arc<MemoryBindingStore>);

impl BindingStore for SlowLookups {
    fn get(&self, session: &SessionId, now: Instant) -> StoreFuture<Option<AccountId>> {
        let store = self.0.clone();
        let session = session.clone();
        StoreFuture::pending(async move {
            tokio::task::yield_now().await;
            store.get(&session, now).await
        })
    }

    fn bind_if_absent(
        &self,
        session: &SessionId,
        account: AccountId,
        now: Instant,
    ) -> StoreFuture<AccountId> {
        self.0.bind_if_absent(session, account, now)
    }

    fn bind(&self, session: &SessionId, account: AccountId, now: Instant) -> StoreFuture<()> {
        self.0.bind(session, account, now)
    }

    fn unbind_if(&self, session: &SessionId, account: AccountId) -> StoreFuture<bool> {
        self.0.unbind_if(session, account)
    }

    fn clear(&self) -> StoreFuture<usize> {
        self.0.clear()
    }

    fn count(&self) -> StoreFuture<usize> {
        self.0.count()
    }
}

#[tokio::test]
async fn binding_is_atomic_when_concurrent_lookups_all_miss() {
    let pool = two_accounts()
        .window(Duration::ZERO)
        .store(SlowLookups::default())
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let mut set = JoinSet::new();
    for _ in 0..50 {
        let svc = svc.clone();
        set.spawn(async move { svc.oneshot(chat(Some("racy"))).await });
    }
    let mut decisions = Vec::new();
    let mut accounts = Vec::new();
    for res in set.join_all().await {
        let res = res.expect("served");
        let selected = res
            .extensions()
            .get::<SelectedAccount>()
            .expect("selected")
            .clone();
        accounts.push(selected.id);
        decisions.push(selected.decision);
    }
    assert!(accounts.iter().all(|a| *a == accounts[0]), "{accounts:?}");
    assert!(
        decisions.contains(&Decision::Sticky),
        "losers followed the winner: {decisions:?}"
    );
}

#[tokio::test]
async fn performance_first_never_binds() {
    let pool = two_accounts()
        .mode(Mode::PerformanceFirst)
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let mut accounts = Vec::new();
    for _ in 0..4 {
        let res = svc
            .clone()
            .oneshot(chat(Some("conv")))
            .await
            .expect("served");
        assert_eq!(header(&res, "x-rota-decision"), "rotation");
        accounts.push(header(&res, "x-account-email").to_owned());
    }
    assert_eq!(accounts, ["a@x", "b@x", "a@x", "b@x"]);
    assert_eq!(pool.store().count().await.expect("count"), 0);
    assert_eq!(bound(&pool, "conv").await, None);
}
