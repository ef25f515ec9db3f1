//! RateLimitMarkLayer alone: every row of the cooldown table (SPEC §5) as seen through the
//! layer, with a `service_fn` upstream answering the bodies. Time is paused tokio time.

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use rota_core::{
    AccountId, AccountSpec, Clock, Decision, Failure, Outcome, Reason, SelectRequest, Selection,
    Tier,
};
use tower::{Layer, ServiceExt};

use crate::body::MarkBody;
use crate::ext::{Classified, SelectedAccount};
use crate::test_support::two_pro_accounts as pool;
use crate::{Pool, RateLimitMarkLayer};

const A: AccountId = AccountId(0);
const B: AccountId = AccountId(1);
const M: &str = "gemini-3-pro-high";
const S: fn(u64) -> Duration = Duration::from_secs;

/// One upstream answer.
#[derive(Debug, Clone, Default)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

impl Answer {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

fn selected(id: AccountId, model: &str) -> SelectedAccount {
    SelectedAccount {
        id,
        decision: Decision::Rotation,
        model: model.into(),
    }
}

fn upstream_response(answer: &Answer) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(answer.body.clone())));
    *res.status_mut() = StatusCode::from_u16(answer.status).expect("valid status");
    for (name, value) in &answer.headers {
        res.headers_mut()
            .append(*name, value.parse().expect("valid header"));
    }
    res
}

/// Sends one request for `(id, model)` through the layer; the upstream answers `answer`.
async fn through(
    pool: &Pool,
    id: AccountId,
    model: &str,
    answer: Answer,
) -> Response<MarkBody<Full<Bytes>>> {
    let svc = RateLimitMarkLayer::new(pool.clone()).layer(tower::service_fn(
        move |_req: Request<Bytes>| {
            let res = upstream_response(&answer);
            async move { Ok::<_, Infallible>(res) }
        },
    ));
    let mut req = Request::post("/v1/chat/completions")
        .body(Bytes::new())
        .expect("valid request");
    req.extensions_mut().insert(selected(id, model));
    svc.oneshot(req).await.expect("infallible")
}

/// The active cooldowns of an account: (model scope, reason, time left).
fn cooldowns(pool: &Pool, id: AccountId) -> Vec<(Option<String>, Reason, Duration)> {
    pool.snapshot()[id.index()]
        .cooldowns
        .iter()
        .map(|c| (c.model.clone(), c.reason, c.remaining))
        .collect()
}

fn consecutive(pool: &Pool, id: AccountId) -> u32 {
    pool.snapshot()[id.index()].consecutive_failures
}

/// A Google 429 with an `ErrorInfo` reason and optional extra detail objects.
fn google_429(reason: &str, message: &str, extra: &str) -> String {
    format!(
        r#"{{"error":{{"code":429,"message":"{message}","details":[
            {{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"{reason}"}}{extra}]}}}}"#
    )
}

#[tokio::test(start_paused = true)]
async fn quota_exhausted_ladder_60s_5m_30m_2h_per_account_and_model() {
    let pool = pool();
    let body = google_429("QUOTA_EXHAUSTED", "Quota exceeded", "");
    for want in [S(60), S(300), S(1800), S(7200)] {
        through(&pool, A, M, answer(429, &body)).await;
        assert_eq!(
            cooldowns(&pool, A),
            [(Some(M.to_owned()), Reason::QuotaExhausted, want)]
        );
        tokio::time::advance(want).await; // let it expire; the count stays (< 1 h since the last failure)
    }
    // The other account starts its own ladder; other models of `a` are not blocked.
    through(&pool, B, M, answer(429, &body)).await;
    assert_eq!(
        cooldowns(&pool, B),
        [(Some(M.to_owned()), Reason::QuotaExhausted, S(60))]
    );
    through(&pool, A, M, answer(429, &body)).await;
    let other = SelectRequest::new("another-model");
    assert!(pool.scheduler().any_usable(&other, pool.now()));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_exceeded_is_5s_account_wide() {
    let pool = pool();
    let body = google_429("RATE_LIMIT_EXCEEDED", "Rate limit exceeded", "");
    through(&pool, A, M, answer(429, &body)).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::RateLimited, S(5))]);
    assert!(cooldowns(&pool, B).is_empty());
}

#[tokio::test(start_paused = true)]
async fn rate_limit_with_resource_exhausted_is_30s_account_wide() {
    let pool = pool();
    let body = google_429("RATE_LIMIT_EXCEEDED", "Resource exhausted, slow down", "");
    through(&pool, A, M, answer(429, &body)).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::RateLimited, S(30))]);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_wording_without_a_code_is_a_rate_limit() {
    let pool = pool();
    through(
        &pool,
        A,
        M,
        answer(429, r#"{"error":{"message":"50 requests per minute"}}"#),
    )
    .await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::RateLimited, S(5))]);
}

#[tokio::test(start_paused = true)]
async fn model_capacity_exhausted_ladder_5_10_15s_per_model() {
    let pool = pool();
    let body = google_429("MODEL_CAPACITY_EXHAUSTED", "No capacity", "");
    for want in [S(5), S(10), S(15), S(15)] {
        through(&pool, A, M, answer(429, &body)).await;
        assert_eq!(
            cooldowns(&pool, A),
            [(Some(M.to_owned()), Reason::Capacity, want)]
        );
        tokio::time::advance(want).await;
    }
}

#[tokio::test(start_paused = true)]
async fn other_429_is_60s_account_wide() {
    let pool = pool();
    through(&pool, A, M, answer(429, r#"{"error":{"message":"nope"}}"#)).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::Unknown, S(60))]);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_8s_and_do_not_raise_the_count() {
    let pool = pool();
    let quota = google_429("QUOTA_EXHAUSTED", "Quota exceeded", "");
    through(&pool, A, "other-model", answer(429, &quota)).await;
    assert_eq!(consecutive(&pool, A), 1);
    for code in [500, 502, 503, 529] {
        let pool_b = self::pool();
        for strike in 1..=3 {
            assert!(cooldowns(&pool_b, A).is_empty(), "{code}: {strike} strikes");
            through(
                &pool_b,
                A,
                M,
                answer(code, r#"{"error":{"message":"overloaded"}}"#),
            )
            .await;
        }
        assert_eq!(
            cooldowns(&pool_b, A),
            [(None, Reason::ServerError, S(8))],
            "{code}: the third strike"
        );
        assert_eq!(consecutive(&pool_b, A), 0, "{code}");

        through(&pool, A, M, answer(code, "")).await;
        assert_eq!(consecutive(&pool, A), 1, "{code} does not raise the count");
    }
}

#[tokio::test(start_paused = true)]
async fn unauthorized_and_forbidden_are_30_minutes_account_wide() {
    for (code, reason) in [(401, Reason::Unauthorized), (403, Reason::Forbidden)] {
        let pool = pool();
        through(
            &pool,
            A,
            M,
            answer(code, r#"{"error":{"message":"denied"}}"#),
        )
        .await;
        assert_eq!(cooldowns(&pool, A), [(None, reason, S(1800))]);
    }
}

#[tokio::test(start_paused = true)]
async fn success_clears_the_count_and_the_account_cooldown() {
    let pool = pool();
    let quota = google_429("QUOTA_EXHAUSTED", "Quota exceeded", "");
    through(&pool, A, "quota-model", answer(429, &quota)).await;
    through(&pool, A, M, answer(429, r#"{"error":{"message":"nope"}}"#)).await;
    assert_eq!(consecutive(&pool, A), 2);
    let res = through(&pool, A, M, answer(200, "{}")).await;
    assert_eq!(consecutive(&pool, A), 0);
    assert_eq!(
        cooldowns(&pool, A),
        [(
            Some("quota-model".to_owned()),
            Reason::QuotaExhausted,
            S(60)
        )],
        "the account cooldown is cleared; a model's quota cooldown is not"
    );
    assert!(matches!(
        res.extensions().get::<Classified>(),
        Some(Classified(Outcome::Success { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn explicit_retry_after_seconds() {
    let pool = pool();
    through(&pool, A, M, answer(429, "{}").header("retry-after", "7")).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::Unknown, S(7))]);
}

/// Tokio's (paused) monotonic time with a fixed wall clock: 2023-11-14 22:13:20 UTC.
#[derive(Debug, Clone, Copy)]
struct FixedWallClock;

impl Clock for FixedWallClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn system_now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + S(1_700_000_000)
    }
}

#[tokio::test(start_paused = true)]
async fn explicit_retry_after_http_date() {
    let pool = Pool::builder()
        .account(AccountSpec::api_key("a@x", Tier::Pro, "ka"))
        .clock(FixedWallClock)
        .build()
        .expect("pool");
    let answer = answer(503, "").header("retry-after", "Tue, 14 Nov 2023 22:15:20 GMT");
    through(&pool, A, M, answer).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::ServerError, S(120))]);
}

#[tokio::test(start_paused = true)]
async fn explicit_retry_info_retry_delay() {
    let pool = pool();
    let retry = r#",{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12.5s"}"#;
    through(
        &pool,
        A,
        M,
        answer(429, &google_429("RATE_LIMIT_EXCEEDED", "Rate limit", retry)),
    )
    .await;
    assert_eq!(
        cooldowns(&pool, A),
        [(None, Reason::RateLimited, Duration::from_millis(12_500))]
    );
}

#[tokio::test(start_paused = true)]
async fn explicit_quota_reset_delay() {
    let pool = pool();
    let body = r#"{"error":{"code":429,"message":"Quota exceeded","details":[
        {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED",
         "metadata":{"quotaResetDelay":"1h16m0.667s"}}]}}"#;
    through(&pool, A, M, answer(429, body)).await;
    assert_eq!(
        cooldowns(&pool, A),
        [(
            Some(M.to_owned()),
            Reason::QuotaExhausted,
            Duration::from_millis(4_560_667)
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn explicit_retry_after_ms() {
    let pool = pool();
    through(
        &pool,
        A,
        M,
        answer(429, "{}").header("retry-after-ms", "1500"),
    )
    .await;
    assert_eq!(
        cooldowns(&pool, A),
        [(None, Reason::Unknown, Duration::from_millis(1500))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_mark_never_shortens_a_deadline() {
    let pool = pool();
    let with_delay = |d: &str| {
        let retry = format!(
            r#",{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{d}"}}"#
        );
        answer(
            429,
            &google_429("RATE_LIMIT_EXCEEDED", "Rate limit", &retry),
        )
    };
    through(&pool, A, M, with_delay("100s")).await;
    tokio::time::advance(S(10)).await;
    through(&pool, A, M, with_delay("2s")).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::RateLimited, S(90))]);
    through(&pool, A, M, answer(503, "")).await;
    assert_eq!(cooldowns(&pool, A), [(None, Reason::RateLimited, S(90))]);
}

#[tokio::test(start_paused = true)]
async fn the_error_body_is_delivered_intact_after_being_read() {
    let pool = pool();
    let body = google_429("RATE_LIMIT_EXCEEDED", "Rate limit exceeded", "");
    let res = through(&pool, A, M, answer(429, &body).header("x-upstream", "kept")).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["x-upstream"], "kept");
    assert!(matches!(res.body(), MarkBody::Buffered { .. }));
    let got = res
        .into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes();
    assert_eq!(got, body.as_bytes());
}

#[tokio::test(start_paused = true)]
async fn a_success_body_streams_through_untouched() {
    let pool = pool();
    let res = through(&pool, A, M, answer(200, r#"{"ok":true}"#)).await;
    // Read for its usage as it passes (a turn's success), never buffered.
    assert!(matches!(res.body(), MarkBody::Observed { .. }));
    let got = res
        .into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes();
    assert_eq!(got, r#"{"ok":true}"#.as_bytes());
}

/// The account a first attempt for `model` would get (no window, no session).
fn first_pick(pool: &Pool, model: &str) -> AccountId {
    match pool
        .scheduler()
        .select(&SelectRequest::new(model), pool.now())
    {
        Selection::Picked(p) => p.account,
        other => panic!("expected a pick, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn success_rate_limit_headers_update_the_remaining_quota() {
    let openai = answer(200, "{}")
        .header("x-ratelimit-remaining-requests", "10")
        .header("x-ratelimit-limit-requests", "100");
    let anthropic = answer(200, "{}")
        .header("anthropic-ratelimit-requests-remaining", "5")
        .header("anthropic-ratelimit-requests-limit", "50");
    for ok in [openai, anthropic] {
        // Without a reading, a (configured first) leads; with 10 % left it goes behind b.
        let pool = pool();
        through(&pool, A, M, ok.clone()).await;
        assert_eq!(
            first_pick(&pool, M),
            B,
            "b has more quota left for this model"
        );
        let pool = self::pool();
        through(&pool, A, M, ok).await;
        assert_eq!(first_pick(&pool, "another-model"), A, "quota is per model");
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_closure_replaces_the_default() {
    let pool = pool();
    let classifier = |status: StatusCode, _: &HeaderMap, _: &[u8], _: SystemTime| {
        if status == StatusCode::IM_A_TEAPOT {
            Outcome::Failure(Failure::new(Reason::RateLimited))
        } else {
            Outcome::Neutral
        }
    };
    let svc = RateLimitMarkLayer::new(pool.clone())
        .classifier(classifier)
        .layer(tower::service_fn(|_req: Request<Bytes>| async {
            let mut res = Response::new(Full::new(Bytes::from_static(b"teapot")));
            *res.status_mut() = StatusCode::IM_A_TEAPOT;
            Ok::<_, Infallible>(res)
        }));
    let mut req = Request::post("/v1/messages")
        .body(Bytes::new())
        .expect("valid request");
    req.extensions_mut().insert(selected(A, M));
    let res = svc.oneshot(req).await.expect("infallible");
    assert_eq!(cooldowns(&pool, A), [(None, Reason::RateLimited, S(5))]);
    assert!(matches!(
        res.extensions().get::<Classified>(),
        Some(Classified(Outcome::Failure(_)))
    ));
    let got = res
        .into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes();
    assert_eq!(got, "teapot".as_bytes());
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_selected_account_passes_through_unmarked() {
    let pool = pool();
    let body = google_429("RATE_LIMIT_EXCEEDED", "Rate limit exceeded", "");
    let svc = RateLimitMarkLayer::new(pool.clone()).layer(tower::service_fn(
        move |_req: Request<Bytes>| {
            let res = upstream_response(&answer(429, &body));
            async move { Ok::<_, Infallible>(res) }
        },
    ));
    let req = Request::post("/v1/messages")
        .body(Bytes::new())
        .expect("valid request");
    let res = svc.oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), 429);
    assert!(res.extensions().get::<Classified>().is_none());
    assert!(matches!(res.body(), MarkBody::Stream { .. }));
    assert!(
        pool.snapshot()
            .iter()
            .all(|a| a.cooldowns.is_empty() && a.requests == 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_error_body_is_classified_by_status_after_the_timeout() {
    let pool = pool();
    let svc = RateLimitMarkLayer::new(pool.clone())
        .error_body_timeout(S(3))
        .layer(tower::service_fn(|_req: Request<Bytes>| async {
            let mut res = Response::new(crate::test_support::Stalled);
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            Ok::<_, Infallible>(res)
        }));
    let mut req = Request::post("/v1/chat/completions")
        .body(Bytes::new())
        .expect("valid request");
    req.extensions_mut().insert(selected(A, M));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(req).await.expect("answered");
    assert_eq!(start.elapsed(), S(3), "the read is cut at the timeout");
    assert_eq!(res.status(), 429);
    assert_eq!(cooldowns(&pool, A), [(None, Reason::Unknown, S(60))]);
    let body = res
        .into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes();
    assert!(body.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_inner_error_marks_the_account_unreachable_unless_the_classifier_says_otherwise() {
    let pool = pool();
    let failing = || {
        tower::service_fn(|_req: Request<Bytes>| async {
            Err::<Response<Full<Bytes>>, crate::BoxError>("connection reset".into())
        })
    };
    let req = || {
        let mut req = Request::post("/v1/chat/completions")
            .body(Bytes::new())
            .expect("valid request");
        req.extensions_mut().insert(selected(A, M));
        req
    };
    let svc = RateLimitMarkLayer::new(pool.clone()).layer(failing());
    svc.oneshot(req()).await.expect_err("the error passes on");
    assert_eq!(cooldowns(&pool, A), [(None, Reason::Unreachable, S(8))]);

    #[derive(Clone)]
    struct Quiet;
    impl crate::Classify for Quiet {
        fn classify(&self, s: StatusCode, h: &HeaderMap, b: &[u8], now: SystemTime) -> Outcome {
            rota_core::classify::classify(s, h, b, now)
        }
        fn classify_error(&self, _err: &crate::BoxError) -> Outcome {
            Outcome::Neutral
        }
    }
    let pool = self::pool();
    let svc = RateLimitMarkLayer::new(pool.clone())
        .classifier(Quiet)
        .layer(failing());
    svc.oneshot(req()).await.expect_err("the error passes on");
    assert!(cooldowns(&pool, A).is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_429_leaves_with_a_retry_after() {
    let pool = pool();
    // the delay from the body, rounded up
    let body = google_429(
        "RATE_LIMIT_EXCEEDED",
        "Rate limited",
        r#",{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"29.2s"}"#,
    );
    let res = through(&pool, A, M, answer(429, &body)).await;
    assert_eq!(res.headers()["retry-after"], "30");
    // no delay anywhere: the cooldown's remaining time
    let res = through(
        &pool,
        B,
        M,
        answer(429, r#"{"error":{"message":"slow down"}}"#),
    )
    .await;
    assert_eq!(res.headers()["retry-after"], "60");
    // the upstream's own header is kept
    let own = answer(429, "{}").header("retry-after", "7");
    let res = through(&pool, A, "other", own).await;
    assert_eq!(res.headers()["retry-after"], "7");
}
