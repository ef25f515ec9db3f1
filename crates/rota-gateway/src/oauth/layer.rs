//! [`OAuthLayer`]: the access token on the request; one refresh and retry on a 401.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use rota::BoxError;
use rota::core::Secret;
use rota::ext::SelectedAccount;
use rota::select::CredentialHeader;
use tower::{Layer, Service, ServiceExt};

use super::{OAuthError, TokenCache};
use crate::forward::BoxFuture;

/// Puts OAuth access tokens on requests of OAuth accounts (between `RateLimitMarkLayer` and
/// the upstream service).
#[derive(Debug, Clone)]
pub struct OAuthLayer {
    tokens: Arc<TokenCache>,
}

impl OAuthLayer {
    /// Over a token cache.
    pub fn new(tokens: Arc<TokenCache>) -> Self {
        Self { tokens }
    }
}

impl<S> Layer<S> for OAuthLayer {
    type Service = OAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OAuth {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

/// The service of [`OAuthLayer`].
#[derive(Debug, Clone)]
pub struct OAuth<S> {
    inner: S,
    tokens: Arc<TokenCache>,
}

/// The access token goes on the request with the library's one credential writer.
fn set_bearer(req: &mut Request<Bytes>, token: &Secret) {
    rota::select::put_credential(req, CredentialHeader::Bearer, token.expose());
}

impl<S, B> Service<Request<Bytes>> for OAuth<S>
where
    S: Service<Request<Bytes>, Response = Response<B>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Response<B>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Bytes>) -> Self::Future {
        let account = req.extensions().get::<SelectedAccount>().map(|s| s.id);
        let oauth = account.and_then(|id| {
            self.tokens
                .oauth(id)
                .map(|(email, _, _)| (id, email.to_owned()))
        });
        let Some((id, email)) = oauth else {
            // Not an OAuth account: the inner future as is (no clone, no box).
            return ResponseFuture::Inner {
                fut: self.inner.call(req),
            };
        };
        // The ready service moves into the future; a fresh clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let tokens = self.tokens.clone();
        ResponseFuture::OAuth {
            fut: Box::pin(async move {
                let err = |kind| -> BoxError {
                    Box::new(OAuthError {
                        account: email.clone(),
                        kind,
                    })
                };
                let token = tokens.token(id, None).await.map_err(err)?;
                let mut again = rota::retry::replay(&req);
                set_bearer(&mut req, &token);
                let res = inner.call(req).await?;
                if res.status() != StatusCode::UNAUTHORIZED {
                    return Ok(res);
                }
                drop(res);
                tracing::info!(account = %email, "upstream answered 401; refreshing the token and retrying once");
                let fresh = tokens.token(id, Some(&token)).await.map_err(err)?;
                set_bearer(&mut again, &fresh);
                inner.clone().oneshot(again).await
            }),
        }
    }
}

pin_project! {
    /// Response future of [`OAuth`]: the inner service's own future for API-key accounts, a
    /// boxed token-then-call future for OAuth accounts.
    #[project = ResponseFutureProj]
    #[allow(missing_docs)] // pin-project-lite takes no docs on variant fields
    pub enum ResponseFuture<F, R> {
        /// An API-key account (or no account): the inner call.
        Inner { #[pin] fut: F },
        /// An OAuth account: get the token, call, refresh and retry once on a 401.
        OAuth { fut: BoxFuture<Result<R, BoxError>> },
    }
}

impl<F, R> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<R, BoxError>>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner { fut } => fut.poll(cx),
            ResponseFutureProj::OAuth { fut } => fut.as_mut().poll(cx),
        }
    }
}

impl<F, R> std::fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Inner { .. } => "ResponseFuture::Inner",
            Self::OAuth { .. } => "ResponseFuture::OAuth",
        })
    }
}
