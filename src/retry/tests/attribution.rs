//! SPEC §4's attribution rules in the retry loop: poisoned requests, healthiest-first
//! retries, the retry budget, and attempt timeouts.

use super::*;
use rota_core::Reason;

fn server_error() -> Answer {
    status(500)
}

fn cooldowns(pool: &Pool) -> Vec<(String, Vec<Reason>, u64)> {
    pool.snapshot()
        .into_iter()
        .map(|a| {
            let reasons = a.cooldowns.iter().map(|c| c.reason).collect();
            (a.email, reasons, a.failures)
        })
        .collect()
}

#[tokio::test]
async fn two_accounts_answering_500_make_the_request_poisoned() {
    let pool = pool(4, 4);
    let (svc, calls) = stack(&pool, |_, _| server_error());
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 500, "the last answer is returned");
    assert_eq!(
        keys(&calls),
        ["ka", "kb"],
        "rotation stops after two accounts"
    );
    assert_eq!(header(&res, "x-account-email"), "b@x");
    for (email, reasons, failures) in cooldowns(&pool) {
        assert!(reasons.is_empty(), "{email} has no cooldown");
        assert_eq!(failures, 0, "{email}: neither answer counts");
    }
    // the next request with the same body is poisoned again, and still benches nobody
    let (svc, _) = stack(&pool, |_, _| server_error());
    svc.oneshot(chat()).await.expect("served");
    assert!(
        cooldowns(&pool)
            .iter()
            .all(|(_, r, f)| r.is_empty() && *f == 0)
    );
}

#[tokio::test]
async fn a_500_then_a_429_is_not_poisoned() {
    let pool = pool(3, 3);
    let (svc, calls) = stack(&pool, |key, _| match key {
        "ka" => server_error(),
        "kb" => status(429),
        _ => ok(),
    });
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 200);
    assert_eq!(keys(&calls), ["ka", "kb", "kc"]);
    let snapshot = cooldowns(&pool);
    assert_eq!(snapshot[0].2, 1, "a's strike stands");
    assert_eq!(snapshot[1].1, [Reason::Unknown]);
}

#[tokio::test]
async fn a_500_with_an_explicit_delay_is_the_accounts_not_the_requests() {
    let pool = pool(3, 3);
    let (svc, calls) = stack(&pool, |_, _| {
        Answer::Status(
            503,
            r#"{"error":{"message":"overloaded, try again in 20s"}}"#.into(),
        )
    });
    svc.oneshot(chat()).await.expect("served");
    assert_eq!(
        keys(&calls),
        ["ka", "kb", "kc"],
        "not poisoned: rotation goes on"
    );
    assert!(
        cooldowns(&pool)
            .iter()
            .all(|(_, r, _)| r == &[Reason::ServerError])
    );
}

#[tokio::test]
async fn retries_go_to_the_healthiest_account_not_the_cursor() {
    let pool = pool(5, 3);
    // b and c have been failing (strikes, not yet cooled); d and e are healthy
    for id in [1, 2] {
        let failure = rota_core::Failure::new(Reason::ServerError);
        let outcome = rota_core::Outcome::Failure(failure);
        for _ in 0..2 {
            pool.scheduler()
                .record(AccountId(id), "gpt-4o", &outcome, pool.now());
        }
    }
    let (svc, calls) = stack(&pool, |key, _| if key == "ka" { status(429) } else { ok() });
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 200);
    assert_eq!(keys(&calls), ["ka", "kd"]);
}

#[tokio::test]
async fn a_spent_budget_returns_the_answer_as_is() {
    let pool = Pool::builder()
        .accounts((0..3).map(|i| {
            let name = char::from(b'a' + i);
            AccountSpec::api_key(format!("{name}@x"), Tier::Pro, format!("k{name}"))
        }))
        .window(Duration::ZERO)
        .retry_budget(Duration::from_secs(10), 0, 0.0)
        .build()
        .expect("pool");
    let (svc, calls) = stack(&pool, |_, _| status(429));
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 429);
    assert_eq!(keys(&calls).len(), 1, "no retry without budget");
}

#[tokio::test]
async fn the_budget_allows_its_share_of_retries() {
    // 0 per second, 100 %: every first attempt buys one retry
    let pool = Pool::builder()
        .accounts((0..3).map(|i| {
            let name = char::from(b'a' + i);
            AccountSpec::api_key(format!("{name}@x"), Tier::Pro, format!("k{name}"))
        }))
        .window(Duration::ZERO)
        .retry_budget(Duration::from_secs(10), 0, 100.0)
        .build()
        .expect("pool");
    let (svc, calls) = stack(&pool, |_, _| status(429));
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 429);
    assert_eq!(keys(&calls).len(), 2, "one deposit, one retry");
}

#[tokio::test]
async fn an_attempt_timeout_is_not_retried_and_marks_the_account_unreachable() {
    let pool = pool(3, 3);
    let log = Calls::default();
    let upstream = {
        let log = log.clone();
        tower::service_fn(move |req: Request<Bytes>| {
            log.lock().expect("calls lock").push(Call {
                key: String::new(),
                body: req.body().clone(),
                at: tokio::time::Instant::now(),
            });
            async {
                Err::<Response<Frames>, BoxError>(tower::timeout::error::Elapsed::new().into())
            }
        })
    };
    let svc = ServiceBuilder::new()
        .layer(RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool.clone()))
        .layer(RateLimitMarkLayer::new(pool.clone()))
        .service(upstream);
    let err = svc.oneshot(chat()).await.expect_err("timed out");
    let err = crate::Error::find(&err).expect("a rota error");
    assert!(err.is_timeout());
    assert_eq!(err.attempts(), 1);
    assert_eq!(log.lock().expect("calls lock").len(), 1, "not retried");
    assert_eq!(cooldowns(&pool)[0].1, [Reason::Unreachable]);
}

#[tokio::test]
async fn a_transport_error_marks_the_account_unreachable() {
    let pool = pool(2, 3);
    let (svc, _) = stack(
        &pool,
        |key, _| if key == "ka" { Answer::Fail } else { ok() },
    );
    let res = svc.oneshot(chat()).await.expect("served by b");
    assert_eq!(res.status(), 200);
    assert_eq!(cooldowns(&pool)[0].1, [Reason::Unreachable]);
}
