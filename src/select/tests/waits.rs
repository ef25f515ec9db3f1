//! Waiting for cooldowns, and failing when nothing is usable.

use super::*;

#[tokio::test(start_paused = true)]
async fn cache_first_waits_for_the_bound_account_within_max_wait() {
    let pool = two_accounts()
        .mode(Mode::CacheFirst)
        .max_wait(Duration::from_secs(60))
        .window(Duration::ZERO)
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    svc.clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    assert_eq!(bound(&pool, "conv").await, Some(A));

    cool(&pool, A, "gpt-4o", Duration::from_secs(30));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-rota-decision"), "sticky");
}

#[tokio::test(start_paused = true)]
async fn cache_first_does_not_wait_longer_than_max_wait() {
    let pool = two_accounts()
        .mode(Mode::CacheFirst)
        .max_wait(Duration::from_secs(60))
        .window(Duration::ZERO)
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    svc.clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");

    cool(&pool, A, "gpt-4o", Duration::from_secs(90));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(header(&res, "x-account-email"), "b@x");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
}

#[tokio::test(start_paused = true)]
async fn balance_never_waits_for_the_bound_account() {
    let pool = two_accounts().window(Duration::ZERO).build().expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    svc.clone()
        .oneshot(chat(Some("conv")))
        .await
        .expect("served");
    cool(&pool, A, "gpt-4o", Duration::from_secs(1));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat(Some("conv"))).await.expect("served");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(header(&res, "x-account-email"), "b@x");
}

#[tokio::test(start_paused = true)]
async fn all_limited_error_carries_the_earliest_retry_time() {
    let pool = two_accounts().build().expect("pool");
    cool(&pool, A, "gpt-4o", Duration::from_secs(20));
    cool(&pool, B, "gpt-4o", Duration::from_secs(10));
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool).layer(upstream(log.clone(), StatusCode::OK));
    let start = tokio::time::Instant::now();
    let err = svc
        .oneshot(chat(None))
        .await
        .expect_err("every account cools");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "10 s is beyond the 2 s wait budget"
    );
    match Error::find(&err) {
        Some(Error::AllAccountsLimited { retry_after, .. }) => {
            assert_eq!(*retry_after, Duration::from_secs(10));
        }
        other => panic!("expected AllAccountsLimited, got {other:?}"),
    }
    assert!(seen(&log).is_empty(), "nothing reached the upstream");
}

#[tokio::test(start_paused = true)]
async fn none_usable_waits_for_a_cooldown_within_two_seconds() {
    let pool = two_accounts().build().expect("pool");
    cool(&pool, A, "gpt-4o", Duration::from_secs(20));
    cool(&pool, B, "gpt-4o", Duration::from_millis(1500));
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let start = tokio::time::Instant::now();
    let res = svc
        .oneshot(chat(None))
        .await
        .expect("served after the short wait");
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(header(&res, "x-account-email"), "b@x");
}

#[tokio::test]
async fn no_accounts_when_none_configured_or_all_disabled() {
    let empty = Pool::builder().build().expect("pool");
    let svc = AccountSelectLayer::new(empty).layer(upstream(Log::default(), StatusCode::OK));
    let err = svc.oneshot(chat(None)).await.expect_err("no accounts");
    assert!(
        matches!(Error::find(&err), Some(Error::NoAccounts { .. })),
        "{err}"
    );

    let pool = two_accounts().build().expect("pool");
    pool.disable("a@x", "test").expect("known");
    pool.disable("b@x", "test").expect("known");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let err = svc.oneshot(chat(None)).await.expect_err("all disabled");
    assert!(
        matches!(Error::find(&err), Some(Error::NoAccounts { .. })),
        "{err}"
    );
}
