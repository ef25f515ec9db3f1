//! [`AccountSelectLayer`]: pick the account (fixed → sticky → window → rotation), put its
//! credential and the mapped model on the request, and stamp the response with
//! `X-Account-Email`, `X-Mapped-Model`, `X-Rota-Attempts` and `X-Rota-Decision` (SPEC §3, §6).
//!
//! It reads [`RequestFacts`](crate::RequestFacts) (from [`SessionIdLayer`](crate::SessionIdLayer))
//! and [`Attempt`](crate::ext::Attempt) / [`Attempted`](crate::ext::Attempted) /
//! [`GraceAccount`](crate::ext::GraceAccount) (from [`RetryRotateLayer`](crate::RetryRotateLayer)),
//! and leaves [`SelectedAccount`](crate::ext::SelectedAccount) on the request and the response.
//! It keeps session bindings in the pool's store: a new session is bound atomically at its
//! first selection, a 2xx moves the binding to the account that served it, and a failure
//! unbinds a failed bound account.
//!
//! When no account can serve, the call fails with [`Error::AllAccountsLimited`] or
//! [`Error::NoAccounts`](crate::Error::NoAccounts) (boxed); a failing inner service's error is
//! wrapped in [`Error::Upstream`](crate::Error::Upstream) with the account.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use rota::{AccountSelectLayer, Pool};
//! use rota::core::{AccountSpec, Tier};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let pool = Pool::builder()
//!     .account(AccountSpec::api_key("alice@example.com", Tier::Pro, "key-a"))
//!     .build()
//!     .unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(AccountSelectLayer::new(pool))
//!     .service_fn(|req: Request<Bytes>| async move {
//!         assert_eq!(req.headers()["authorization"], "Bearer key-a");
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     });
//! let req = Request::post("/v1/chat/completions").body(Bytes::new()).unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-account-email"], "alice@example.com");
//! assert_eq!(res.headers()["x-rota-decision"], "rotation");
//! # });
//! ```
//!
//! [`Error::AllAccountsLimited`]: crate::Error::AllAccountsLimited

mod credential;
mod future;

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::Pool;
use crate::error::BoxError;
pub use credential::{
    CredentialHeader, InjectCredential, RouteCredentials, put_credential, strip_client_credentials,
};
pub use future::ResponseFuture;

/// Picks an account per attempt and injects its credential.
#[derive(Debug, Clone)]
pub struct AccountSelectLayer<I = RouteCredentials> {
    pool: Pool,
    injector: I,
}

impl AccountSelectLayer {
    /// With the default credential rules ([`RouteCredentials`]).
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            injector: RouteCredentials,
        }
    }
}

impl<I> AccountSelectLayer<I> {
    /// Replaces how credentials are put on the request.
    pub fn credentials<I2: InjectCredential>(self, injector: I2) -> AccountSelectLayer<I2> {
        AccountSelectLayer {
            pool: self.pool,
            injector,
        }
    }
}

impl<S, I: Clone> Layer<S> for AccountSelectLayer<I> {
    type Service = AccountSelect<S, I>;

    fn layer(&self, inner: S) -> Self::Service {
        AccountSelect {
            inner,
            pool: self.pool.clone(),
            injector: self.injector.clone(),
        }
    }
}

/// The service of [`AccountSelectLayer`].
#[derive(Debug, Clone)]
pub struct AccountSelect<S, I = RouteCredentials> {
    inner: S,
    pool: Pool,
    injector: I,
}

impl<S, I> AccountSelect<S, I> {
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

impl<S, I, B> Service<Request<Bytes>> for AccountSelect<S, I>
where
    S: Service<Request<Bytes>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    I: InjectCredential,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = ResponseFuture<S, I>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        // The ready service moves into the future; a fresh clone stays (tower-service docs).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(req, inner, self.pool.clone(), self.injector.clone())
    }
}

#[cfg(test)]
mod tests;
