//! Per-account caps (issue 12): an account at its rate or concurrency cap is skipped like a
//! cooling one; a CacheFirst conversation waits for its own account's slot; with nowhere to
//! go, the request waits within its budget or is "all limited". Paused time throughout.

use std::num::NonZeroU32;

use rota_core::Caps;

use super::*;
use crate::RateLimitMarkLayer;
use crate::test_support::Stalled;
use tower::ServiceBuilder;

fn capped(rpm: Option<u32>, max_concurrent: Option<u32>) -> crate::PoolBuilder {
    let caps = Caps {
        rpm: rpm.and_then(NonZeroU32::new),
        max_concurrent: max_concurrent.and_then(NonZeroU32::new),
    };
    Pool::builder()
        .account(AccountSpec::api_key("a@x", Tier::Ultra, "ka").with_caps(caps))
        .account(AccountSpec::api_key("b@x", Tier::Pro, "kb"))
        .window(Duration::ZERO)
}

/// A new conversation each call (the rotation would pick a@x, the higher tier).
fn fresh(n: usize) -> Request<Bytes> {
    chat(Some(&format!("conversation-{n}")))
}

#[tokio::test(start_paused = true)]
async fn an_account_at_its_rate_cap_is_skipped_until_a_cell_frees() {
    let pool = capped(Some(2), None).build().expect("pool");
    // The operator's fixed account: served while it may be, passed over at its cap.
    pool.set_fixed_account(Some("a@x")).expect("known");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let mut served = Vec::new();
    for n in 0..3 {
        let res = svc.clone().oneshot(fresh(n)).await.expect("served");
        served.push(header(&res, "x-account-email").to_owned());
    }
    assert_eq!(
        served,
        ["a@x", "a@x", "b@x"],
        "two a minute, the third elsewhere"
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    let res = svc.oneshot(fresh(3)).await.expect("served");
    assert_eq!(
        header(&res, "x-account-email"),
        "a@x",
        "a cell freed after 30 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_account_at_its_concurrency_cap_is_skipped_until_an_answer_ends() {
    let pool = capped(None, Some(1)).build().expect("pool");
    pool.set_fixed_account(Some("a@x")).expect("known");
    let svc = ServiceBuilder::new()
        .layer(AccountSelectLayer::new(pool.clone()))
        .layer(RateLimitMarkLayer::new(pool.clone()))
        .service(tower::service_fn(|_req: Request<Bytes>| async {
            Ok::<_, Infallible>(Response::new(Stalled))
        }));
    let first = svc.clone().oneshot(fresh(0)).await.expect("served");
    assert_eq!(header_of(&first, "x-account-email"), "a@x");
    let second = svc.clone().oneshot(fresh(1)).await.expect("served");
    assert_eq!(
        header_of(&second, "x-account-email"),
        "b@x",
        "a@x has one in flight"
    );
    assert_eq!(pool.caps().expect("caps").in_flight(A), 1);
    drop(first); // the client is done with the stream: the slot frees
    assert_eq!(pool.caps().expect("caps").in_flight(A), 0);
    let third = svc.oneshot(fresh(2)).await.expect("served");
    assert_eq!(header_of(&third, "x-account-email"), "a@x");
}

#[tokio::test(start_paused = true)]
async fn cache_first_waits_for_its_accounts_slot_and_balance_moves_on() {
    for (mode, waits) in [(Mode::CacheFirst, true), (Mode::Balance, false)] {
        let pool = capped(Some(1), None)
            .mode(mode)
            .max_wait(Duration::from_secs(90))
            .build()
            .expect("pool");
        let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
        let res = svc
            .clone()
            .oneshot(chat(Some("conv")))
            .await
            .expect("served");
        assert_eq!(header(&res, "x-account-email"), "a@x");
        let start = tokio::time::Instant::now();
        let res = svc.oneshot(chat(Some("conv"))).await.expect("served");
        if waits {
            assert_eq!(start.elapsed(), Duration::from_secs(60), "{mode:?}");
            assert_eq!(header(&res, "x-account-email"), "a@x", "{mode:?}");
        } else {
            assert_eq!(start.elapsed(), Duration::ZERO, "{mode:?}");
            assert_eq!(header(&res, "x-account-email"), "b@x", "{mode:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn with_every_account_at_its_cap_the_request_waits_within_its_budget_or_is_limited() {
    let caps = Caps {
        rpm: NonZeroU32::new(1),
        max_concurrent: None,
    };
    let pool = Pool::builder()
        .account(AccountSpec::api_key("a@x", Tier::Ultra, "ka").with_caps(caps))
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    svc.clone().oneshot(fresh(0)).await.expect("served");
    let start = tokio::time::Instant::now();
    let err = svc
        .oneshot(fresh(1))
        .await
        .expect_err("capped for a minute");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "60 s is beyond the 2 s budget"
    );
    match Error::find(&err) {
        Some(Error::AllAccountsLimited { retry_after, .. }) => {
            assert_eq!(*retry_after, Duration::from_secs(60));
        }
        other => panic!("expected AllAccountsLimited, got {other:?}"),
    }
}

fn header_of<B>(res: &Response<B>, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}
