//! rota: tower middleware that serves LLM traffic from a pool of upstream accounts.
//!
//! Four layers, each usable alone, share one [`Pool`]:
//!
//! ```text
//! client ─▶ SessionIdLayer      parse the body once: protocol, model, stream flag, session id
//!        ─▶ RetryRotateLayer    attempt loop; attempt > 0 ⇒ force rotate; replays the body
//!        ─▶ AccountSelectLayer  pick the account, inject its credential, map the model,
//!                               stamp X-Account-Email / X-Mapped-Model / X-Rota-*
//!        ─▶ RateLimitMarkLayer  classify the answer; mark, extend or clear cooldowns
//!        ─▶ upstream            any tower Service<http::Request<Bytes>>
//! ```
//!
//! Requests carry a fully buffered body (`http::Request<Bytes>`), so a retry replays it for
//! the cost of a reference-count bump. Per-request facts travel in `http::Extensions` (see
//! [`ext`]); nothing is global.
//!
//! # Composing the layers
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use rota::core::{AccountSpec, Mode, Tier};
//! use rota::{AccountSelectLayer, Pool, RateLimitMarkLayer, RetryRotateLayer, SessionIdLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let pool = Pool::builder()
//!     .account(AccountSpec::api_key("alice@example.com", Tier::Pro, "key-a"))
//!     .account(AccountSpec::api_key("bob@example.com", Tier::Ultra, "key-b"))
//!     .mode(Mode::Balance)
//!     .build()
//!     .expect("unique emails");
//!
//! let upstream = tower::service_fn(|req: Request<Bytes>| async move {
//!     // a real gateway forwards to a hyper client here
//!     let key = req.headers()["authorization"].to_str().unwrap().to_owned();
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(key))))
//! });
//!
//! let svc = ServiceBuilder::new()
//!     .layer(SessionIdLayer::new())
//!     .layer(RetryRotateLayer::new(pool.clone()))
//!     .layer(AccountSelectLayer::new(pool.clone()))
//!     .layer(RateLimitMarkLayer::new(pool.clone()))
//!     .service(upstream);
//!
//! let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Summarise tower for me"}]}"#;
//! let req = Request::post("/v1/chat/completions").body(Bytes::from(body)).unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-account-email"], "bob@example.com"); // ULTRA first
//! assert_eq!(res.headers()["x-mapped-model"], "gpt-4o");
//! # });
//! ```
//!
//! # Testing one layer alone
//!
//! Every layer works with `tower::ServiceExt::oneshot` over a `service_fn`; see the examples on
//! [`SessionIdLayer`], [`AccountSelectLayer`], [`RetryRotateLayer`] and [`RateLimitMarkLayer`].
//!
//! # Swapping a policy
//!
//! [`RateLimitMarkLayer::classifier`] takes any [`Classify`] (closures included) and
//! [`AccountSelectLayer::credentials`] any [`InjectCredential`]; the binding store is a trait
//! ([`core::BindingStore`]) given to [`PoolBuilder::store`]. Any layer can be replaced by your
//! own as long as it reads and writes the same [`ext`] types.
#![forbid(unsafe_code)]

pub mod body;
pub mod caps;
pub mod clock;
pub mod error;
pub mod ext;
mod fleet;
pub mod headers;
pub mod mark;
pub mod objects;
pub mod observe;
pub mod pool;
pub mod retry;
pub mod select;
pub mod session;
mod telemetry;
#[cfg(test)]
mod test_support;
pub mod usage;

/// The README's examples, run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The pure scheduling model ([`rota_core`]), re-exported.
pub use rota_core as core;

pub use clock::TokioClock;
pub use error::{BoxError, Error};
pub use ext::{RequestFacts, SessionId};
pub use mark::{Classify, DefaultClassifier, RateLimitMark, RateLimitMarkLayer};
pub use pool::{AccountLabels, Pool, PoolBuilder, PoolError};
pub use retry::{RetryRotate, RetryRotateLayer, RotatePolicy};
pub use select::{AccountSelect, AccountSelectLayer, InjectCredential, RouteCredentials};
pub use session::{SessionIdLayer, SessionIdService};
