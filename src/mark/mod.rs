//! [`RateLimitMarkLayer`]: read each upstream answer, mark cooldowns, clear them on success.
//!
//! The classifier is a policy ([`Classify`]), modelled on tower-http's `classify`: the default
//! [`DefaultClassifier`] implements SPEC §5; any `Fn(StatusCode, &HeaderMap, &[u8], SystemTime)
//! -> Outcome` closure works too. Error answers that may carry a reason or a delay (429, 5xx,
//! 401, 403) are read in full (up to 1 MiB, within [`error_body_timeout`], after which the
//! answer is classified by its status and headers alone) and passed on as
//! [`MarkBody::Buffered`]; every other body — 2xx and streams included — passes through
//! untouched. An inner service's error (no answer: connect failure, reset, attempt timeout)
//! is classified by [`Classify::classify_error`]: by default the account is unreachable.
//!
//! A request that is not a conversation turn ([`RequestFacts::auxiliary`]: token counts,
//! model lists, embeddings, stored objects) never marks its account with a 4xx: such an answer
//! is [`Outcome::Neutral`]. Every 429 leaves with `Retry-After` (and `retry-after-ms` outside
//! Gemini routes). A successful answer is read as it passes ([`crate::observe`]): a turn's
//! for its token usage ([`crate::usage`]), one to a request that creates objects for their
//! ids, which are learned as owned by its account ([`crate::objects`]).
//!
//! This layer decides what an answer means, once. Attribution (SPEC §5) happens here too: a
//! server error without an explicit delay from a second account for the same request (its
//! [`PriorServerError`]) makes the request [`Outcome::Poisoned`] — the first account's strike
//! is taken back and neither counts. The layer reads the account and model from the
//! request's [`SelectedAccount`]; a request without one passes through unmarked. The verdict
//! is left on the response as [`Classified`](crate::ext::Classified), and the retry policy,
//! the binding update and the metrics read it ([`verdict`](crate::ext::verdict)).
//!
//! [`error_body_timeout`]: RateLimitMarkLayer::error_body_timeout
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use rota::{Pool, RateLimitMarkLayer, ext::SelectedAccount};
//! use rota::core::{AccountId, AccountSpec, Decision, Tier};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let pool = Pool::builder()
//!     .account(AccountSpec::api_key("a@x", Tier::Pro, "k"))
//!     .build()
//!     .unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(RateLimitMarkLayer::new(pool.clone()))
//!     .service_fn(|_req: Request<Bytes>| async {
//!         let body = r#"{"error":{"code":429,"message":"rate limit","details":[
//!             {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#;
//!         Ok::<_, std::convert::Infallible>(
//!             Response::builder().status(429).body(http_body_util::Full::new(Bytes::from(body))).unwrap(),
//!         )
//!     });
//! let mut req = Request::post("/v1/messages").body(Bytes::new()).unwrap();
//! req.extensions_mut().insert(SelectedAccount {
//!     id: AccountId(0),
//!     decision: Decision::Rotation,
//!     model: "m".into(),
//! });
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
//! let cooldown = &pool.snapshot()[0].cooldowns[0];
//! // 30 s from the moment it was marked (a hair less has passed by now on the real clock)
//! assert!((29..=30).contains(&cooldown.remaining.as_secs()));
//! # });
//! ```

mod future;

use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use rota_core::{Failure, Outcome, Protocol, Reason, RequestFacts, SessionId};
use tower::{Layer, Service};

use crate::Pool;
use crate::body::MarkBody;
use crate::error::BoxError;
use crate::ext::{CapSlot, PriorServerError, SelectedAccount};
pub use future::{ResponseFuture, retry_after_secs};

/// Error bodies larger than this are not read for classification.
pub const MAX_ERROR_BODY: usize = 1 << 20;
/// How long an error body may take to arrive by default (SPEC §7 limits).
pub const DEFAULT_ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides what an upstream answer means for the account (SPEC §5).
pub trait Classify: Clone + Send + Sync + 'static {
    /// Whether the body is needed to classify an answer with this status.
    fn needs_body(&self, status: StatusCode) -> bool {
        crate::retry::is_retried_status(status.as_u16())
    }

    /// Classifies one answer. `body` is empty unless [`needs_body`](Classify::needs_body).
    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Outcome;

    /// Classifies an inner service's error (no answer came). By default the account is
    /// [`Reason::Unreachable`]; return [`Outcome::Neutral`] for errors that say nothing about
    /// the account (say, a failure an inner layer has already accounted for).
    fn classify_error(&self, err: &BoxError) -> Outcome {
        let _ = err;
        Outcome::Failure(Failure::new(Reason::Unreachable))
    }
}

/// SPEC §5's classification ([`rota_core::classify::classify`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl Classify for DefaultClassifier {
    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Outcome {
        rota_core::classify::classify(status, headers, body, now)
    }
}

impl<F> Classify for F
where
    F: Fn(StatusCode, &HeaderMap, &[u8], SystemTime) -> Outcome + Clone + Send + Sync + 'static,
{
    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Outcome {
        self(status, headers, body, now)
    }
}

/// Marks cooldowns from upstream answers.
#[derive(Debug, Clone)]
pub struct RateLimitMarkLayer<C = DefaultClassifier> {
    pool: Pool,
    classifier: C,
    error_body_timeout: Duration,
}

impl RateLimitMarkLayer {
    /// With the default classifier.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            classifier: DefaultClassifier,
            error_body_timeout: DEFAULT_ERROR_BODY_TIMEOUT,
        }
    }
}

impl<C> RateLimitMarkLayer<C> {
    /// Replaces the classifier.
    pub fn classifier<C2: Classify>(self, classifier: C2) -> RateLimitMarkLayer<C2> {
        RateLimitMarkLayer {
            pool: self.pool,
            classifier,
            error_body_timeout: self.error_body_timeout,
        }
    }

    /// How long an error body may take to arrive (default 10 s); after that the answer is
    /// classified by its status and headers alone and passed on with an empty body, so an
    /// upstream that stalls its error body cannot hold the request.
    pub fn error_body_timeout(mut self, timeout: Duration) -> Self {
        self.error_body_timeout = timeout;
        self
    }
}

impl<S, C: Clone> Layer<S> for RateLimitMarkLayer<C> {
    type Service = RateLimitMark<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitMark {
            inner,
            pool: self.pool.clone(),
            classifier: self.classifier.clone(),
            error_body_timeout: self.error_body_timeout,
        }
    }
}

/// The service of [`RateLimitMarkLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitMark<S, C = DefaultClassifier> {
    inner: S,
    pool: Pool,
    classifier: C,
    error_body_timeout: Duration,
}

impl<S, C> RateLimitMark<S, C> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the layer, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, B> Service<Request<Bytes>> for RateLimitMark<S, C>
where
    S: Service<Request<Bytes>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    C: Classify,
{
    type Response = Response<MarkBody<B>>;
    /// Boxed, so the classifier can read the inner error (it adds no failure of its own).
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<Bytes>) -> Self::Future {
        // The account's in-flight slot stays with the answer (its body), not the request.
        let slot = req.extensions_mut().remove::<CapSlot>();
        let ext = req.extensions();
        let selected = ext.get::<SelectedAccount>().cloned();
        let prior = ext.get::<PriorServerError>().map(|p| p.0);
        let facts = ext.get::<RequestFacts>();
        let protocol = crate::ext::protocol(&req);
        let learn = crate::objects::creates_objects(req.method(), req.uri().path())
            .then(|| ext.get::<SessionId>().cloned());
        let auxiliary = facts.is_some_and(|f| f.auxiliary);
        let attempt = future::Attempt {
            selected,
            prior,
            auxiliary,
            retry_after_ms: protocol != Protocol::Gemini,
            learn,
            usage: (!auxiliary).then_some(protocol),
            slot,
        };
        let fut = self.inner.call(req);
        ResponseFuture::new(
            fut,
            attempt,
            self.pool.clone(),
            self.classifier.clone(),
            self.error_body_timeout,
        )
    }
}

#[cfg(test)]
mod tests;
