//! AccountSelectLayer alone (SPEC §3, §6, §7 "Credentials"), one test per rule.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use rota_core::store::StoreFuture;
use rota_core::{
    AccountId, AccountSpec, BindingStore, Decision, Failure, MemoryBindingStore, Mode,
    ModelMapping, Outcome, Reason, SessionId, Tier,
};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

use crate::error::BoxError;
use crate::ext::{Attempt, Attempted, SelectedAccount};
use crate::headers::X_SESSION_ID;
use crate::{AccountLabels, AccountSelectLayer, Error, Pool};
use tower::Layer;

const A: AccountId = AccountId(0);
const B: AccountId = AccountId(1);

/// A response body that yields each chunk as its own frame, like a streamed answer.
#[derive(Debug, Default)]
struct Frames(VecDeque<Bytes>);

impl Frames {
    fn of(chunks: &[&'static str]) -> Self {
        Self(
            chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
        )
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body: Bytes,
    selected: Option<SelectedAccount>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().expect("log lock").clone()
}

/// Two API-key accounts: `a@x` (ULTRA, key `ka`, preferred) and `b@x` (PRO, key `kb`).
fn two_accounts() -> crate::PoolBuilder {
    Pool::builder()
        .account(AccountSpec::api_key("a@x", Tier::Ultra, "ka"))
        .account(AccountSpec::api_key("b@x", Tier::Pro, "kb"))
}

/// An upstream that records what it saw and answers `status` with a three-frame body.
fn upstream(
    log: Log,
    status: StatusCode,
) -> impl Service<
    Request<Bytes>,
    Response = Response<Frames>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Frames>, Infallible>> + Send,
> + Clone
+ Send {
    tower::service_fn(move |req: Request<Bytes>| {
        log.lock().expect("log lock").push(Seen {
            uri: req.uri().to_string(),
            headers: req.headers().clone(),
            body: req.body().clone(),
            selected: req.extensions().get::<SelectedAccount>().cloned(),
        });
        async move {
            let mut res = Response::new(Frames::of(&[
                "data: one\n\n",
                "data: two\n\n",
                "data: [DONE]\n\n",
            ]));
            *res.status_mut() = status;
            Ok(res)
        }
    })
}

/// A request with its facts attached, as SessionIdLayer would leave it; `session` is an explicit
/// `x-session-id` (without one, the first user message still yields a session id).
fn request(path: &str, body: &str, session: Option<&str>) -> Request<Bytes> {
    let mut req = Request::post(path)
        .header("authorization", "Bearer client-secret")
        .header("x-api-key", "client-secret")
        .header("x-goog-api-key", "client-secret")
        .body(Bytes::from(body.to_owned()))
        .expect("valid request");
    if let Some(s) = session {
        req.headers_mut()
            .insert(X_SESSION_ID, s.parse().expect("valid header"));
    }
    let facts = crate::session::request_facts(&req, &[X_SESSION_ID]);
    req.extensions_mut().insert(facts);
    req
}

const CHAT: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Tell me about tower layers"}]}"#;

fn chat(session: Option<&str>) -> Request<Bytes> {
    request("/v1/chat/completions", CHAT, session)
}

fn header<'a>(res: &'a Response<Frames>, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has {name}"))
        .to_str()
        .expect("ascii header")
}

async fn bound(pool: &Pool, session: &str) -> Option<AccountId> {
    pool.store()
        .get(&SessionId(session.into()), pool.now())
        .await
        .expect("memory store answers")
}

fn cool(pool: &Pool, id: AccountId, model: &str, delay: Duration) {
    let failure = Failure {
        explicit_delay: Some(delay),
        ..Failure::new(Reason::RateLimited)
    };
    pool.scheduler()
        .record(id, model, &Outcome::Failure(failure), pool.now());
}

#[tokio::test]
async fn credential_goes_in_the_route_header_and_client_credentials_are_stripped() {
    let pool = two_accounts().build().expect("pool");
    let cases = [
        ("/v1/chat/completions", CHAT, "authorization", "Bearer ka"),
        (
            "/v1/responses",
            r#"{"model":"o3","input":"hello there tower"}"#,
            "authorization",
            "Bearer ka",
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-x","messages":[]}"#,
            "x-api-key",
            "ka",
        ),
        (
            "/v1beta/models/gemini-pro:generateContent?key=client-secret&alt=json",
            r#"{"contents":[]}"#,
            "x-goog-api-key",
            "ka",
        ),
    ];
    for (path, body, name, want) in cases {
        let log = Log::default();
        let svc =
            AccountSelectLayer::new(pool.clone()).layer(upstream(log.clone(), StatusCode::OK));
        svc.oneshot(request(path, body, None))
            .await
            .expect("served");
        let seen = seen(&log).pop().expect("one upstream call");
        assert_eq!(seen.headers[name], want, "{path}");
        let creds = ["authorization", "x-api-key", "x-goog-api-key"];
        for other in creds.iter().filter(|h| **h != name) {
            assert!(
                !seen.headers.contains_key(*other),
                "{path}: client {other} reached upstream"
            );
        }
        assert!(
            !seen.uri.contains("key="),
            "{path}: client ?key= reached upstream: {}",
            seen.uri
        );
    }
}

#[tokio::test]
async fn mapped_model_is_spliced_into_the_body_and_reported() {
    let pool = two_accounts()
        .mapping(ModelMapping::new([("gpt-4o", "gemini-3-pro-high")]))
        .build()
        .expect("pool");
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool).layer(upstream(log.clone(), StatusCode::OK));
    let res = svc.oneshot(chat(None)).await.expect("served");
    assert_eq!(header(&res, "x-mapped-model"), "gemini-3-pro-high");
    let seen = seen(&log).pop().expect("one upstream call");
    assert_eq!(
        seen.body,
        Bytes::from(CHAT.replace("\"gpt-4o\"", "\"gemini-3-pro-high\""))
    );
    assert_eq!(
        seen.selected
            .expect("selected on the request")
            .model
            .as_ref(),
        "gemini-3-pro-high"
    );
}

#[tokio::test]
async fn gemini_model_is_mapped_in_the_path() {
    let pool = two_accounts()
        .mapping(ModelMapping::new([("gemini-*", "gemini-3-pro-high")]))
        .build()
        .expect("pool");
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool).layer(upstream(log.clone(), StatusCode::OK));
    let req = request(
        "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
        r#"{"contents":[{"role":"user","parts":[{"text":"Hello gemini, how are you?"}]}]}"#,
        None,
    );
    let res = svc.oneshot(req).await.expect("served");
    assert_eq!(header(&res, "x-mapped-model"), "gemini-3-pro-high");
    let seen = seen(&log).pop().expect("one upstream call");
    assert_eq!(
        seen.uri,
        "/v1beta/models/gemini-3-pro-high:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn headers_are_stamped_on_success() {
    let pool = two_accounts().build().expect("pool");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let res = svc.oneshot(chat(None)).await.expect("served");
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-mapped-model"), "gpt-4o");
    assert_eq!(header(&res, "x-rota-attempts"), "1");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
    let selected = res
        .extensions()
        .get::<SelectedAccount>()
        .expect("selected on the response");
    assert_eq!(selected.id, A);
}

#[tokio::test]
async fn headers_are_stamped_on_an_upstream_error_status() {
    let pool = two_accounts().build().expect("pool");
    let svc = AccountSelectLayer::new(pool)
        .layer(upstream(Log::default(), StatusCode::SERVICE_UNAVAILABLE));
    let mut req = chat(None);
    req.extensions_mut().insert(Attempt(2));
    let res = svc
        .oneshot(req)
        .await
        .expect("an error status is a response");
    assert_eq!(res.status(), 503);
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-mapped-model"), "gpt-4o");
    assert_eq!(header(&res, "x-rota-attempts"), "3");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
}

#[tokio::test]
async fn headers_are_stamped_on_a_streamed_answer_and_frames_pass_through() {
    let pool = two_accounts().build().expect("pool");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Stream me a story"}]}"#;
    let res = svc
        .oneshot(request("/v1/chat/completions", body, None))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-rota-attempts"), "1");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
    let mut body = res.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.expect("infallible").into_data().expect("data frame"));
    }
    assert_eq!(
        frames,
        ["data: one\n\n", "data: two\n\n", "data: [DONE]\n\n"]
    );
}

#[tokio::test]
async fn alias_labels_hide_the_email() {
    let pool = two_accounts()
        .labels(AccountLabels::Alias)
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let res = svc.oneshot(chat(None)).await.expect("served");
    let label = header(&res, "x-account-email");
    assert!(label.starts_with("acct-") && label.len() == 17, "{label}");
    assert!(!label.contains("a@x"));
    assert_eq!(Some(label), pool.label(A).and_then(|v| v.to_str().ok()));
    assert_ne!(pool.label(A), pool.label(B), "aliases are distinct");
}

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
        Some(Error::AllAccountsLimited { retry_after }) => {
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
        matches!(Error::find(&err), Some(Error::NoAccounts)),
        "{err}"
    );

    let pool = two_accounts().build().expect("pool");
    pool.disable("a@x", "test").expect("known");
    pool.disable("b@x", "test").expect("known");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let err = svc.oneshot(chat(None)).await.expect_err("all disabled");
    assert!(
        matches!(Error::find(&err), Some(Error::NoAccounts)),
        "{err}"
    );
}

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
        Some(e @ Error::Upstream { account, source }) => {
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
