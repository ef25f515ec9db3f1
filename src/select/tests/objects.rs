//! Object affinity (SPEC §3a) in AccountSelectLayer alone: the owner is the only candidate,
//! a chain keeps its creator's session, a cooling owner is waited for (paused time).

use rota_core::ObjectOwner;

use super::*;

const CONTINUE: &str = r#"{"model":"gpt-4o","previous_response_id":"resp_1","input":"go on"}"#;

fn learn(pool: &Pool, owner: AccountId, session: &str) {
    let owner = ObjectOwner {
        account: owner,
        session: Some(SessionId(session.into())),
    };
    let fut = pool.objects().learn("resp_1", owner, pool.now());
    assert!(matches!(fut, StoreFuture::Ready(Some(Ok(())))));
}

#[tokio::test(start_paused = true)]
async fn the_owner_serves_over_the_fixed_account_and_the_chain_keeps_its_session() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    pool.set_fixed_account(Some("a@x")).expect("known");
    learn(&pool, B, "sid-creator");
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(log.clone(), StatusCode::OK));
    let res = svc
        .oneshot(request("/v1/responses", CONTINUE, None))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-account-email"), "b@x");
    assert_eq!(header(&res, "x-rota-decision"), "sticky");
    assert!(res.extensions().get::<crate::ext::ObjectOwner>().is_some());
    // The creator's session is now bound to the owner.
    assert_eq!(bound(&pool, "sid-creator").await, Some(B));
    let seen = seen(&log);
    let inner = seen[0].selected.as_ref().expect("selected");
    assert_eq!(inner.id, B);
}

#[tokio::test(start_paused = true)]
async fn a_cooling_owner_is_waited_for_in_every_mode() {
    for mode in [Mode::Balance, Mode::PerformanceFirst] {
        let pool = two_accounts()
            .mode(mode)
            .max_wait(Duration::from_secs(60))
            .build()
            .expect("pool");
        learn(&pool, A, "sid-creator");
        cool(&pool, A, "gpt-4o", Duration::from_secs(20));
        let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
        let start = tokio::time::Instant::now();
        let res = svc
            .oneshot(request("/v1/responses/resp_1", "", None))
            .await
            .expect("served after the wait");
        assert_eq!(start.elapsed(), Duration::from_secs(20), "{mode:?}");
        assert_eq!(header(&res, "x-account-email"), "a@x", "{mode:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_disabled_owner_fails_at_once_and_names_itself() {
    let pool = two_accounts().build().expect("pool");
    learn(&pool, B, "sid-creator");
    pool.disable("b@x", "revoked").expect("known");
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool).layer(upstream(log.clone(), StatusCode::OK));
    let err = svc
        .oneshot(request("/v1/responses", CONTINUE, None))
        .await
        .expect_err("owner disabled");
    match Error::find(&err) {
        Some(e @ Error::OwnerDisabled { account, .. }) => {
            assert_eq!(*account, B);
            assert_eq!(e.attempts(), 0);
        }
        other => panic!("expected OwnerDisabled, got {other:?}"),
    }
    assert!(seen(&log).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_on_the_owner_is_not_rotated_away() {
    let pool = two_accounts().build().expect("pool");
    learn(&pool, B, "sid-creator");
    let calls = Log::default();
    let log = calls.clone();
    let failing = tower::service_fn(move |req: Request<Bytes>| {
        log.lock().expect("log").push(Seen {
            uri: req.uri().to_string(),
            headers: req.headers().clone(),
            body: req.body().clone(),
            selected: req.extensions().get::<SelectedAccount>().cloned(),
        });
        async { Err::<Response<Frames>, BoxError>("connection reset".into()) }
    });
    let svc = tower::ServiceBuilder::new()
        .layer(crate::RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool))
        .service(failing);
    let err = svc
        .oneshot(request("/v1/responses", CONTINUE, None))
        .await
        .expect_err("the owner failed");
    match Error::find(&err) {
        Some(e @ Error::Upstream { account, .. }) => {
            assert_eq!(*account, B);
            assert_eq!(e.attempts(), 1, "no second attempt elsewhere");
        }
        other => panic!("expected the owner's transport error, got {other:?}"),
    }
    assert_eq!(seen(&calls).len(), 1);
}
