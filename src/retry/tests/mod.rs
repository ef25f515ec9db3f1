//! RetryRotateLayer (SPEC §4), one test per rule. The retry layer sits on AccountSelect and
//! RateLimitMark, its two collaborators, over a scripted `service_fn` upstream; the last test
//! drives it alone with `tower_test`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use rota_core::{AccountId, AccountSpec, Decision, Tier};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

use crate::body::MarkBody;
use crate::error::BoxError;
use crate::ext::{Attempt, Attempted, SelectedAccount};
use crate::headers::X_SESSION_ID;
use crate::test_support::Frames;
use crate::{AccountSelectLayer, Pool, RateLimitMarkLayer, RetryRotateLayer};

/// What the scripted upstream answers.
#[derive(Debug, Clone)]
enum Answer {
    /// A status with a one-frame body.
    Status(u16, String),
    /// A 200 whose body comes in these frames.
    Stream(Vec<&'static str>),
    /// A transport error before any response.
    Fail,
}

fn ok() -> Answer {
    Answer::Status(200, r#"{"ok":true}"#.into())
}

fn status(code: u16) -> Answer {
    Answer::Status(code, r#"{"error":{"message":"upstream says no"}}"#.into())
}

/// A 429 whose only delay is a Google `RetryInfo.retryDelay`.
fn rate_limited(retry_delay: &str) -> Answer {
    Answer::Status(
        429,
        format!(
            r#"{{"error":{{"code":429,"message":"Rate limited","status":"RESOURCE_EXHAUSTED","details":[
                {{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}},
                {{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{retry_delay}"}}]}}}}"#
        ),
    )
}

/// One call that reached the upstream.
#[derive(Debug, Clone)]
struct Call {
    key: String,
    body: Bytes,
    at: tokio::time::Instant,
}

type Calls = Arc<Mutex<Vec<Call>>>;

type Stack = BoxCloneService<Request<Bytes>, Response<MarkBody<Frames>>, BoxError>;

/// Accounts `a@x` (ULTRA, `ka`), `b@x` (PRO, `kb`), `c@x` … (FREE), `n` of them.
fn pool(n: usize, max_attempts: u32) -> Pool {
    let tiers = [Tier::Ultra, Tier::Pro];
    let accounts = (0..n).map(|i| {
        let name = char::from(b'a' + i as u8);
        let tier = tiers.get(i).copied().unwrap_or(Tier::Free);
        AccountSpec::api_key(format!("{name}@x"), tier, format!("k{name}"))
    });
    Pool::builder()
        .accounts(accounts)
        .max_attempts(max_attempts)
        .window(Duration::ZERO)
        .build()
        .expect("pool")
}

/// Retry → AccountSelect → RateLimitMark → an upstream that answers `script(key, nth call
/// with that key)` and records every call.
fn stack(
    pool: &Pool,
    script: impl Fn(&str, usize) -> Answer + Clone + Send + Sync + 'static,
) -> (Stack, Calls) {
    let calls = Calls::default();
    let log = calls.clone();
    let upstream = tower::service_fn(move |req: Request<Bytes>| {
        let key = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_owned();
        let answer = {
            let mut calls = log.lock().expect("calls lock");
            let nth = calls.iter().filter(|c| c.key == key).count();
            calls.push(Call {
                key: key.clone(),
                body: req.body().clone(),
                at: tokio::time::Instant::now(),
            });
            script(&key, nth)
        };
        async move {
            let (code, frames) = match answer {
                Answer::Status(code, body) => (code, VecDeque::from([Bytes::from(body)])),
                Answer::Stream(chunks) => (
                    200,
                    chunks
                        .into_iter()
                        .map(|c| Bytes::from_static(c.as_bytes()))
                        .collect(),
                ),
                Answer::Fail => return Err::<_, BoxError>("connection reset by peer".into()),
            };
            let mut res = Response::new(Frames(frames));
            *res.status_mut() = http::StatusCode::from_u16(code).expect("valid status");
            Ok(res)
        }
    });
    let svc = ServiceBuilder::new()
        .layer(RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool.clone()))
        .layer(RateLimitMarkLayer::new(pool.clone()))
        .service(upstream);
    (BoxCloneService::new(svc), calls)
}

const CHAT: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Tell me about tower retries"}]}"#;

fn chat() -> Request<Bytes> {
    let mut req = Request::post("/v1/chat/completions")
        .body(Bytes::from_static(CHAT.as_bytes()))
        .expect("valid request");
    let facts = crate::session::request_facts(&req, &[X_SESSION_ID]);
    req.extensions_mut().insert(facts);
    req
}

fn keys(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .expect("calls lock")
        .iter()
        .map(|c| c.key.clone())
        .collect()
}

fn header<'a, B>(res: &'a Response<B>, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has {name}"))
        .to_str()
        .expect("ascii header")
}

async fn body_of(res: Response<MarkBody<Frames>>) -> Bytes {
    res.into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes()
}

#[tokio::test]
async fn rotates_on_every_retried_status() {
    for code in [429, 500, 502, 503, 529, 401, 403] {
        let pool = pool(3, 3);
        let (svc, calls) = stack(
            &pool,
            move |key, _| if key == "ka" { status(code) } else { ok() },
        );
        let res = svc.oneshot(chat()).await.expect("served");
        assert_eq!(res.status(), 200, "{code}");
        assert_eq!(keys(&calls), ["ka", "kb"], "{code}");
        assert_eq!(header(&res, "x-account-email"), "b@x");
        assert_eq!(header(&res, "x-rota-attempts"), "2");
        assert_eq!(header(&res, "x-rota-decision"), "rotation");
    }
}

#[tokio::test]
async fn rotates_on_a_transport_error() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(
        &pool,
        |key, _| if key == "ka" { Answer::Fail } else { ok() },
    );
    let res = svc.oneshot(chat()).await.expect("served by b");
    assert_eq!(res.status(), 200);
    assert_eq!(keys(&calls), ["ka", "kb"]);
    assert_eq!(header(&res, "x-account-email"), "b@x");
}

#[tokio::test]
async fn a_transport_error_on_the_last_attempt_is_returned() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |_, _| Answer::Fail);
    let err = svc.oneshot(chat()).await.expect_err("every attempt failed");
    assert_eq!(keys(&calls), ["ka", "kb"]);
    let err = crate::Error::find(&err).expect("a rota error");
    assert_eq!(err.account(), Some(AccountId(1)));
}

#[tokio::test]
async fn never_revisits_a_failed_account() {
    let pool = pool(4, 4);
    let (svc, calls) = stack(&pool, |_, _| status(429));
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 429);
    let mut seen = keys(&calls);
    assert_eq!(seen.len(), 4);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["ka", "kb", "kc", "kd"], "each account once");
}

#[tokio::test]
async fn returns_non_retried_statuses_as_is_after_one_attempt() {
    for code in [400, 404, 413, 422, 504, 200, 201, 204, 302] {
        let pool = pool(3, 3);
        let (svc, calls) = stack(&pool, move |_, _| status(code));
        let res = svc.oneshot(chat()).await.expect("served");
        assert_eq!(res.status(), code);
        assert_eq!(keys(&calls), ["ka"], "{code}");
        assert_eq!(header(&res, "x-rota-attempts"), "1");
    }
}

#[tokio::test]
async fn attempts_are_capped_by_max_attempts() {
    let pool = pool(5, 3);
    let (svc, calls) = stack(&pool, |_, _| status(403));
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(keys(&calls).len(), 3);
    assert_eq!(header(&res, "x-rota-attempts"), "3");
}

#[tokio::test]
async fn attempts_are_capped_by_the_number_of_accounts() {
    let pool = pool(2, 5);
    let (svc, calls) = stack(&pool, |_, _| status(500));
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(keys(&calls), ["ka", "kb"]);
    assert_eq!(header(&res, "x-rota-attempts"), "2");
}

#[tokio::test]
async fn when_attempts_run_out_the_last_upstream_response_is_returned() {
    let pool = pool(3, 3);
    let (svc, _calls) = stack(&pool, |key, _| {
        Answer::Status(
            429,
            format!(r#"{{"error":{{"message":"overloaded {key}"}}}}"#),
        )
    });
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "x-account-email"), "c@x");
    assert_eq!(header(&res, "x-rota-attempts"), "3");
    assert_eq!(
        body_of(res).await,
        r#"{"error":{"message":"overloaded kc"}}"#
    );
}

#[tokio::test(start_paused = true)]
async fn grace_retry_waits_the_short_delay_and_retries_the_same_account() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |key, nth| {
        if key == "ka" && nth == 0 {
            rate_limited("1.5s")
        } else {
            ok()
        }
    });
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(res.status(), 200);
    assert_eq!(keys(&calls), ["ka", "ka"]);
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-rota-decision"), "grace");
    assert_eq!(header(&res, "x-rota-attempts"), "2");
    let calls = calls.lock().expect("calls lock").clone();
    assert_eq!(calls[1].at - calls[0].at, Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn grace_retry_happens_only_once() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |key, _| {
        if key == "ka" {
            rate_limited("1.5s")
        } else {
            ok()
        }
    });
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(keys(&calls), ["ka", "ka", "kb"]);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(1500),
        "one grace wait, then no sleep"
    );
    assert_eq!(header(&res, "x-account-email"), "b@x");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
    assert_eq!(header(&res, "x-rota-attempts"), "3");
}

#[tokio::test(start_paused = true)]
async fn a_429_with_a_long_delay_rotates_without_sleeping() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |key, _| {
        if key == "ka" {
            rate_limited("30s")
        } else {
            ok()
        }
    });
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(keys(&calls), ["ka", "kb"]);
    assert_eq!(header(&res, "x-account-email"), "b@x");
}

#[tokio::test(start_paused = true)]
async fn a_429_without_delay_rotates_without_sleeping() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |key, _| if key == "ka" { status(429) } else { ok() });
    let start = tokio::time::Instant::now();
    svc.oneshot(chat()).await.expect("served");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(keys(&calls), ["ka", "kb"]);
}

#[tokio::test(start_paused = true)]
async fn no_sleep_after_the_last_attempt() {
    // Every account answers a short-delay 429: a, grace a, b — then stop without waiting b's delay.
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |_, _| rate_limited("1.5s"));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(keys(&calls), ["ka", "ka", "kb"]);
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "x-account-email"), "b@x");

    // A single attempt allowed: the short delay is not waited at all.
    let pool = self::pool(2, 1);
    let (svc, calls) = stack(&pool, |_, _| rate_limited("1.5s"));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(keys(&calls), ["ka"]);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn the_body_is_replayed_byte_identical_on_every_attempt() {
    let pool = pool(3, 3);
    let (svc, calls) = stack(&pool, |_, _| status(401));
    svc.oneshot(chat()).await.expect("served");
    let calls = calls.lock().expect("calls lock").clone();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert_eq!(call.body, CHAT.as_bytes());
    }
}

#[tokio::test]
async fn a_streamed_answer_passes_through_untouched() {
    let pool = pool(2, 3);
    let (svc, calls) = stack(&pool, |key, _| {
        if key == "ka" {
            status(503)
        } else {
            Answer::Stream(vec!["data: a\n\n", "data: b\n\n", "data: [DONE]\n\n"])
        }
    });
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(keys(&calls), ["ka", "kb"]);
    assert_eq!(header(&res, "x-account-email"), "b@x");
    let mut body = res.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.expect("infallible").into_data().expect("data frame"));
    }
    assert_eq!(frames, ["data: a\n\n", "data: b\n\n", "data: [DONE]\n\n"]);
}

#[tokio::test]
async fn the_next_attempt_forces_rotation_and_carries_the_tried_accounts() {
    let pool = pool(3, 3);
    let (mut svc, mut handle) = tower_test::mock::spawn_layer::<Request<Bytes>, Response<String>, _>(
        RetryRotateLayer::new(pool),
    );
    assert!(svc.poll_ready().is_ready());
    let client = svc.call(chat());
    let server = async move {
        let answer = |code: u16, id: u32| {
            let mut res = Response::new(String::new());
            *res.status_mut() = http::StatusCode::from_u16(code).expect("valid status");
            res.extensions_mut().insert(SelectedAccount {
                id: AccountId(id),
                decision: Decision::Rotation,
                model: "gpt-4o".into(),
            });
            res
        };
        let (req, send) = handle.next_request().await.expect("attempt 0");
        assert_eq!(req.extensions().get::<Attempt>(), None);
        assert!(
            !req.extensions()
                .get::<Attempt>()
                .copied()
                .unwrap_or_default()
                .force_rotate()
        );
        send.send_response(answer(503, 0));

        let (req, send) = handle.next_request().await.expect("attempt 1");
        let attempt = *req.extensions().get::<Attempt>().expect("attempt set");
        assert_eq!(attempt, Attempt(1));
        assert!(attempt.force_rotate());
        assert_eq!(
            req.extensions().get::<Attempted>(),
            Some(&Attempted(vec![AccountId(0)]))
        );
        assert_eq!(req.body(), CHAT.as_bytes());
        send.send_response(answer(429, 2));

        let (req, send) = handle.next_request().await.expect("attempt 2");
        assert_eq!(req.extensions().get::<Attempt>(), Some(&Attempt(2)));
        assert_eq!(
            req.extensions().get::<Attempted>(),
            Some(&Attempted(vec![AccountId(0), AccountId(2)]))
        );
        send.send_response(answer(200, 1));
    };
    let (res, ()) = tokio::join!(client, server);
    assert_eq!(res.expect("served").status(), 200);
}

#[tokio::test]
async fn a_custom_classifier_decides_what_is_retried() {
    use http::{HeaderMap, StatusCode};
    use rota_core::{Failure, Outcome, Reason};
    use std::time::SystemTime;

    // A team's policy: 418 means "rate limited"; 503 says nothing about the account.
    let classifier =
        |status: StatusCode, _: &HeaderMap, _: &[u8], _: SystemTime| match status.as_u16() {
            418 => Outcome::Failure(Failure::new(Reason::RateLimited)),
            s if (200..300).contains(&s) => Outcome::Success {
                remaining_quota: None,
                quota_reset: None,
            },
            _ => Outcome::Neutral,
        };
    let pool = pool(2, 3);
    let calls = Calls::default();
    let log = calls.clone();
    let upstream = tower::service_fn(move |req: Request<Bytes>| {
        let key = req.headers()["authorization"]
            .to_str()
            .expect("ascii")
            .to_owned();
        log.lock().expect("calls lock").push(Call {
            key: key.clone(),
            body: req.body().clone(),
            at: tokio::time::Instant::now(),
        });
        async move {
            let code = if key == "Bearer ka" { 418 } else { 503 };
            let mut res = Response::new(Frames::default());
            *res.status_mut() = StatusCode::from_u16(code).expect("valid status");
            Ok::<_, Infallible>(res)
        }
    });
    let svc = ServiceBuilder::new()
        .layer(RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool.clone()))
        .layer(RateLimitMarkLayer::new(pool.clone()).classifier(classifier))
        .service(upstream);
    let res = svc.oneshot(chat()).await.expect("served");
    assert_eq!(
        keys(&calls),
        ["Bearer ka", "Bearer kb"],
        "the 418 is retried on b"
    );
    assert_eq!(
        res.status(),
        503,
        "b's 503 is neutral under this policy: returned as is"
    );
    assert_eq!(header(&res, "x-rota-attempts"), "2");
}

mod attribution;
