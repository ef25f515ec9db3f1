//! [`RetryRotateLayer`]: retry failed attempts on another account (SPEC §4).
//!
//! Built on `tower::retry::Retry` with [`RotatePolicy`], whose `retry` edits the request that
//! will be sent next: it bumps [`Attempt`](crate::ext::Attempt) (attempt > 0 forces a rotation),
//! adds the failed account to [`Attempted`](crate::ext::Attempted), and for a grace retry sets
//! [`GraceAccount`](crate::ext::GraceAccount). The buffered `Bytes` body is replayed (a
//! reference-count bump); nothing is re-serialised.
//!
//! - Retried: 429, 500, 502, 503, 529, 401, 403 and transport errors. Everything else is
//!   returned as is. When [`RateLimitMarkLayer`](crate::RateLimitMarkLayer) classified the
//!   answer, its verdict decides instead (a failure is retried), so a custom classifier also
//!   steers the retries; the default classifier gives the same answer as the status list.
//! - Attempts ≤ `max_attempts` and ≤ the number of accounts (+1 for a grace retry).
//! - A 429 whose explicit delay is ≤ 2 s is retried once on the same account after that delay;
//!   otherwise the next attempt starts at once on another account, and there is no sleep after
//!   the last attempt.
//! - When attempts run out (or no other account could take the next one), the last upstream
//!   response is returned, with its account headers.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use rota::{AccountSelectLayer, Pool, RateLimitMarkLayer, RetryRotateLayer};
//! use rota::core::{AccountSpec, Tier};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let pool = Pool::builder()
//!     .account(AccountSpec::api_key("a@x", Tier::Ultra, "ka"))
//!     .account(AccountSpec::api_key("b@x", Tier::Pro, "kb"))
//!     .build()
//!     .unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(RetryRotateLayer::new(pool.clone()))
//!     .layer(AccountSelectLayer::new(pool.clone()))
//!     .layer(RateLimitMarkLayer::new(pool))
//!     .service_fn(|req: Request<Bytes>| async move {
//!         // account a is rate-limited; b answers
//!         let status = if req.headers()["authorization"] == "Bearer ka" { 429 } else { 200 };
//!         let res = Response::builder().status(status).body(http_body_util::Full::new(Bytes::new()));
//!         Ok::<_, std::convert::Infallible>(res.unwrap())
//!     });
//! let res = svc.oneshot(Request::post("/v1/chat/completions").body(Bytes::new()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["x-account-email"], "b@x");
//! assert_eq!(res.headers()["x-rota-attempts"], "2");
//! # });
//! ```

mod policy;

use bytes::Bytes;
use http::Request;
use tower::Layer;
use tower::retry::Retry;

use crate::Pool;
pub use policy::{GRACE_MAX_DELAY, RetryDelay, RotatePolicy, is_retried_status, replay};

/// Retries on another account; wraps `tower::retry::Retry` with [`RotatePolicy`].
#[derive(Debug, Clone)]
pub struct RetryRotateLayer {
    policy: RotatePolicy,
}

impl RetryRotateLayer {
    /// Retries with the pool's `max_attempts`.
    pub fn new(pool: Pool) -> Self {
        Self {
            policy: RotatePolicy::new(pool),
        }
    }

    /// The policy, to adjust or to use with `tower::retry::RetryLayer` directly.
    pub fn policy(&self) -> &RotatePolicy {
        &self.policy
    }
}

impl<S> Layer<S> for RetryRotateLayer {
    type Service = RetryRotate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(self.policy.clone(), inner)
    }
}

/// The service of [`RetryRotateLayer`].
pub type RetryRotate<S> = Retry<RotatePolicy, S>;

/// The request type the layers carry: a fully buffered body.
pub type BufferedRequest = Request<Bytes>;

#[cfg(test)]
mod tests;
