//! [`Dispatch`]: the service the gateway serves, one clone per connection.
//!
//! The API routes are matched by method and path here ([`api_route`], the one list of them),
//! before the axum [`Router`]: a request to them skips the router's path matching, its
//! per-request boxing and its URL-parameter extension, and goes straight to [`edge::api`] with
//! hyper's own body. Everything else goes to the router: health, metrics, admin, extra routes,
//! and, through its [`fallback`], 405 for an API path with another method and 404 for unknown
//! paths.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower::Service;

use crate::app::AppState;
use crate::edge;
use crate::routes::{ApiMatch, api_route};

/// The gateway's service: API routes first, then the router.
#[derive(Clone)]
pub struct Dispatch {
    state: Arc<AppState>,
    router: Router,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").finish_non_exhaustive()
    }
}

impl Dispatch {
    /// API requests go to [`edge::api`] with `state`; the rest to `router`.
    pub fn new(state: Arc<AppState>, router: Router) -> Self {
        Self { state, router }
    }
}

/// The router's fallback: 405 on an API path with the wrong method, 404 elsewhere.
pub async fn fallback(req: Request) -> Response {
    match api_route(req.method(), req.uri().path()) {
        ApiMatch::WrongMethod => edge::method_not_allowed(req).await,
        // `Dispatch` serves API routes itself, so only a router used on its own gets here.
        ApiMatch::Route(_) | ApiMatch::None => edge::not_found(req).await,
    }
}

impl Service<http::Request<Incoming>> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = DispatchFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The router is always ready, and so is the API handler.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        match api_route(req.method(), req.uri().path()) {
            ApiMatch::Route(route) => DispatchFuture::Api {
                fut: Box::pin(edge::api(self.state.clone(), route, req)),
            },
            ApiMatch::WrongMethod | ApiMatch::None => DispatchFuture::Router {
                fut: self.router.call(req.map(Body::new)),
            },
        }
    }
}

pin_project! {
    /// Response future of [`Dispatch`].
    #[project = DispatchProj]
    #[allow(missing_docs)] // pin-project-lite takes no docs on variant fields
    pub enum DispatchFuture {
        /// An API request in [`edge::api`].
        Api { fut: Pin<Box<dyn Future<Output = Response> + Send>> },
        /// Anything else, in the router.
        Router { #[pin] fut: RouteFuture<Infallible> },
    }
}

impl std::fmt::Debug for DispatchFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Api { .. } => "DispatchFuture::Api",
            Self::Router { .. } => "DispatchFuture::Router",
        })
    }
}

impl Future for DispatchFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            DispatchProj::Api { fut } => fut.as_mut().poll(cx).map(Ok),
            DispatchProj::Router { fut } => fut.poll(cx),
        }
    }
}
