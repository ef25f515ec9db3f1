//! Fixed account, errors, and runtime controls.

use super::*;

#[tokio::test]
async fn fixed_account_wins_while_usable() {
    let pool = two_accounts().build().expect("pool");
    pool.set_fixed_account(Some("b@x")).expect("known");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let res = svc
        .clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-account-email"), "b@x");
    assert_eq!(header(&res, "x-rota-decision"), "fixed");
    pool.disable("b@x", "test").expect("known");
    let res = svc.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(
        header(&res, "x-account-email"),
        "a@x",
        "an unusable fixed account falls through"
    );
}

#[tokio::test]
async fn transport_error_is_wrapped_with_the_account() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(tower::service_fn(
        |_req: Request<Bytes>| async {
            Err::<Response<Frames>, BoxError>("connection reset".into())
        },
    ));
    let err = svc
        .oneshot(chat(Some("conv")))
        .await
        .expect_err("transport error");
    match Error::find(&err) {
        Some(
            e @ Error::Upstream {
                account, source, ..
            },
        ) => {
            assert_eq!(*account, A);
            assert_eq!(e.account(), Some(A));
            assert_eq!(source.to_string(), "connection reset");
        }
        other => panic!("expected Upstream, got {other:?}"),
    }
    assert_eq!(
        bound(&pool, "conv").await,
        None,
        "a failed new binding is dropped"
    );
}

#[tokio::test]
async fn a_session_id_extension_alone_is_honoured() {
    // A team's own session layer may leave only `SessionId` (SPEC §1: facts travel in
    // extensions); AccountSelect must not depend on RequestFacts for stickiness.
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let req = |session: &str| {
        let mut req = Request::post("/v1/chat/completions")
            .body(Bytes::from_static(CHAT.as_bytes()))
            .expect("valid request");
        req.extensions_mut().insert(SessionId(session.into()));
        req
    };
    svc.clone().oneshot(req("custom")).await.expect("served");
    assert_eq!(bound(&pool, "custom").await, Some(A));
    svc.clone().oneshot(req("other")).await.expect("served");
    let res = svc.oneshot(req("custom")).await.expect("served");
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-rota-decision"), "sticky");
}

#[tokio::test]
async fn runtime_mode_change_takes_effect_on_the_next_request() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    svc.clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    let res = svc
        .clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-rota-decision"), "sticky");

    pool.set_settings(rota_core::Settings {
        mode: Mode::PerformanceFirst,
        ..pool.settings()
    });
    let res = svc
        .clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
    assert_eq!(header(&res, "x-account-email"), "b@x", "plain round-robin");
}

#[tokio::test]
async fn clearing_bindings_forgets_every_session() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    for s in ["s1", "s2", "s3"] {
        svc.clone().oneshot(chat(Some(s))).await.expect("served");
    }
    assert_eq!(pool.clear_bindings().await.expect("clear"), 3);
    assert_eq!(bound(&pool, "s1").await, None);
}

#[tokio::test(start_paused = true)]
async fn clearing_cooldowns_makes_an_account_usable_again() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    cool(&pool, A, "gpt-4o", Duration::from_secs(600));
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let res = svc
        .clone()
        .oneshot(chat(Some("first")))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-account-email"), "b@x");
    pool.clear_cooldowns("a@x").expect("known");
    let res = svc.oneshot(chat(Some("second"))).await.expect("served");
    assert_eq!(header(&res, "x-account-email"), "a@x");
}
