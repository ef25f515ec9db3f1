//! [`RateLimitMarkLayer`]: read each upstream answer, mark cooldowns, clear them on success.
//!
//! The classifier is a policy ([`Classify`]), modelled on tower-http's `classify`: the default
//! [`DefaultClassifier`] implements SPEC §5; any `Fn(StatusCode, &HeaderMap, &[u8], SystemTime)
//! -> Outcome` closure works too. Error answers that may carry a reason or a delay (429, 5xx,
//! 401, 403) are read in full (up to 1 MiB) and passed on as [`MarkBody::Buffered`]; every other
//! body — 2xx and streams included — passes through untouched.
//!
//! The layer reads the account and model from the request's [`SelectedAccount`]; a request
//! without one passes through unmarked. The outcome is also left on the response as
//! [`Classified`](crate::ext::Classified), for the retry policy.
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
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use rota_core::Outcome;
use tower::{Layer, Service};

use crate::Pool;
use crate::body::MarkBody;
use crate::error::BoxError;
use crate::ext::SelectedAccount;
pub use future::ResponseFuture;

/// Error bodies larger than this are not read for classification.
pub const MAX_ERROR_BODY: usize = 1 << 20;

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
}

impl RateLimitMarkLayer {
    /// With the default classifier.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> RateLimitMarkLayer<C> {
    /// Replaces the classifier.
    pub fn classifier<C2: Classify>(self, classifier: C2) -> RateLimitMarkLayer<C2> {
        RateLimitMarkLayer {
            pool: self.pool,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for RateLimitMarkLayer<C> {
    type Service = RateLimitMark<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitMark {
            inner,
            pool: self.pool.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// The service of [`RateLimitMarkLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitMark<S, C = DefaultClassifier> {
    inner: S,
    pool: Pool,
    classifier: C,
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
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    C: Classify,
{
    type Response = Response<MarkBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let selected = req.extensions().get::<SelectedAccount>().cloned();
        let fut = self.inner.call(req);
        ResponseFuture::new(fut, selected, self.pool.clone(), self.classifier.clone())
    }
}

#[cfg(test)]
mod tests;
