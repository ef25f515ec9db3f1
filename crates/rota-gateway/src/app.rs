//! Building the gateway: the pool, the tower stack, the axum router, and serving it.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use http::HeaderName;
use rota::core::{ModelMapping, Secret};
use rota::{
    AccountSelect, AccountSelectLayer, Pool, RateLimitMark, RateLimitMarkLayer, RetryRotate,
    RetryRotateLayer, SessionIdLayer, SessionIdService,
};
use rota_redis::RedisFleet;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;

use crate::budget::BodyBudget;
use crate::config::Config;
use crate::conn::ConnLimits;
use crate::dispatch::{self, Dispatch};
use crate::edge;
use crate::events::Events;
use crate::forward::{Forward, http_client};
use crate::oauth::{Classifier, OAuth, OAuthLayer, TokenCache};
use crate::server::ServeLimits;
use crate::state::StateStore;
use crate::{admin, metrics, server, ui};

/// The rota stack, named to the last layer (no boxing, no dynamic dispatch per request):
/// buffered request in (`http::Request<Bytes>`), streamed response out
/// (`http::Response<MarkBody<Body>>`), errors as `BoxError`.
///
/// The edge computes the request facts itself (to answer malformed bodies with 400 before
/// scheduling), so `SessionIdService` finds them in the extensions and parses nothing.
pub type Stack =
    SessionIdService<RetryRotate<AccountSelect<RateLimitMark<OAuth<Forward>, Classifier>>>>;

/// Everything the handlers share.
pub struct AppState {
    /// The account pool.
    pub pool: Pool,
    /// The rota stack.
    pub stack: Stack,
    /// The explicit session headers, checked in order (what `SessionIdLayer` was built with).
    pub session_headers: Arc<[HeaderName]>,
    /// Client keys (empty: open).
    pub api_keys: Vec<Secret>,
    /// Admin bearer token (`None`: admin API off).
    pub admin_token: Option<Secret>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// The gateway-wide budget of buffered request bytes (shared by every worker).
    pub body_budget: BodyBudget,
    /// Persisted state.
    pub store: StateStore,
    /// This replica's link to the fleet (`[fleet]`), if any.
    pub fleet: Option<RedisFleet>,
    /// The live request feed (`GET /admin/events`), shared by every worker.
    pub events: Events,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("pool", &self.pool)
            .field("api_keys", &self.api_keys.len())
            .field("admin_api", &self.admin_token.is_some())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// Why the gateway could not start.
#[derive(Debug)]
pub enum StartError {
    /// The state directory could not be created.
    StateDir(io::Error),
    /// The pool could not be built.
    Pool(rota::PoolError),
    /// The TLS client could not be set up.
    Tls(rustls::Error),
    /// Fleet mode could not be set up.
    Fleet(rota_redis::FleetError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StateDir(e) => write!(f, "state_dir: cannot create or open the directory: {e}"),
            Self::Pool(e) => write!(f, "accounts: {e}"),
            Self::Tls(e) => write!(f, "upstream: cannot set up TLS: {e}"),
            Self::Fleet(e) => write!(f, "fleet.redis_url: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A built gateway, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    /// One per worker thread: the shared pool, tokens and store, and a stack over the
    /// worker's own upstream client. Never empty.
    workers: Vec<Arc<AppState>>,
    extra: Router,
    limits: ServeLimits,
}

impl Gateway {
    /// Builds the gateway; with `[fleet]`, first connects to the fleet's Redis (a Redis that
    /// does not answer is no error: the gateway starts on its local state and joins later).
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let fleet = match &config.fleet {
            Some(fleet) => Some(
                RedisFleet::connect(fleet.clone(), &config.accounts)
                    .await
                    .map_err(StartError::Fleet)?,
            ),
            None => None,
        };
        Self::with_fleet(config, fleet)
    }

    /// Builds the pool (applying the persisted state) and one stack per worker thread
    /// (`workers` in the config; one per CPU by default), alone (no `[fleet]`).
    pub fn new(config: Config) -> Result<Self, StartError> {
        Self::with_fleet(config, None)
    }

    fn with_fleet(config: Config, fleet: Option<RedisFleet>) -> Result<Self, StartError> {
        metrics::handle();
        let mut builder = Pool::builder();
        if let Some(fleet) = &fleet {
            builder = builder
                .store(fleet.binding_store())
                .objects(fleet.object_store())
                .fleet(fleet.handle());
        }
        let pool = builder
            .accounts(config.accounts.iter().cloned())
            .settings(config.settings)
            .mapping(ModelMapping::new(config.model_mapping.iter().cloned()))
            .max_attempts(config.max_attempts)
            .retry_budget(
                config.retry_budget.window,
                config.retry_budget.min_per_second,
                config.retry_budget.percent,
            )
            .build()
            .map_err(StartError::Pool)?;
        let store = StateStore::open(&config.state_dir).map_err(StartError::StateDir)?;
        if let Some(saved) = store.load() {
            StateStore::apply(&saved, &pool);
        }
        if let Some(fleet) = &fleet {
            fleet.start(&pool);
        }
        if config.api_keys.is_empty() {
            tracing::warn!("auth.api_keys is empty: the gateway is open to any client");
        }
        let limits = &config.limits;
        let tokens = TokenCache::new(
            http_client().map_err(StartError::Tls)?,
            pool.clone(),
            store.clone(),
            limits.token_timeout,
        );
        let body_budget = BodyBudget::new(limits.max_buffered_bytes);
        let events = Events::new();
        let session_headers: Arc<[HeaderName]> = config.session_headers.into();
        // One stack per worker, each over its own upstream client.
        let stack = |client| {
            ServiceBuilder::new()
                .layer(SessionIdLayer::with_headers(
                    session_headers.iter().cloned(),
                ))
                .layer(RetryRotateLayer::new(pool.clone()))
                .layer(AccountSelectLayer::new(pool.clone()))
                .layer(
                    RateLimitMarkLayer::new(pool.clone())
                        .classifier(Classifier)
                        .error_body_timeout(limits.error_body_timeout),
                )
                .layer(OAuthLayer::new(tokens.clone()))
                .service(Forward::new(
                    client,
                    &config.base_url,
                    config.timeout,
                    limits.stream_idle_timeout,
                ))
        };
        let workers = config
            .workers
            .or_else(|| std::thread::available_parallelism().ok())
            .unwrap_or(NonZeroUsize::MIN);
        let workers = (0..workers.get())
            .map(|_| {
                Ok(Arc::new(AppState {
                    pool: pool.clone(),
                    stack: stack(http_client().map_err(StartError::Tls)?),
                    session_headers: session_headers.clone(),
                    api_keys: config.api_keys.clone(),
                    admin_token: config.admin_token.clone(),
                    max_body_bytes: config.max_body_bytes,
                    body_budget: body_budget.clone(),
                    store: store.clone(),
                    fleet: fleet.clone(),
                    events: events.clone(),
                }))
            })
            .collect::<Result<_, StartError>>()?;
        Ok(Self {
            workers,
            extra: Router::new(),
            limits: ServeLimits {
                conn: ConnLimits {
                    header_read: limits.header_read_timeout,
                    idle: limits.idle_timeout,
                },
                max_connections: limits.max_connections,
                shutdown: limits.shutdown_timeout,
            },
        })
    }

    /// The first worker's state (pool, stack, tokens); the others differ only in their
    /// stack's upstream client.
    pub fn state(&self) -> &Arc<AppState> {
        &self.workers[0]
    }

    /// The account pool.
    pub fn pool(&self) -> &Pool {
        &self.state().pool
    }

    /// Adds routes (e.g. the demo's).
    pub fn merge(mut self, routes: Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// The router for everything but the API routes ([`Dispatch`] sends those to
    /// [`edge::api`] before the router): health, metrics, admin, extra routes, and the 404 /
    /// 405 answers; over one worker's `state`.
    fn router(&self, state: Arc<AppState>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/metrics", get(edge::metrics))
            .merge(admin::router())
            .merge(ui::router())
            .fallback(dispatch::fallback)
            .method_not_allowed_fallback(edge::method_not_allowed)
            .with_state(state)
            .merge(self.extra.clone())
    }

    /// Serves on `listener`: the worker threads start now, and a task on the calling runtime
    /// accepts connections and hands them to the workers (see the `server` module).
    pub async fn serve(self, listener: TcpListener) -> io::Result<Running> {
        let addr = listener.local_addr()?;
        let dispatches = self
            .workers
            .iter()
            .map(|state| Dispatch::new(state.clone(), self.router(state.clone())))
            .collect();
        let workers = server::Workers::start(dispatches, self.limits)?;
        let open = workers.open();
        let (stop, mut stopped) = watch::channel(false);
        metrics::spawn_upkeep();
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            server::run(listener, workers, signal).await
        });
        tracing::info!(
            %addr,
            accounts = self.pool().len(),
            workers = self.workers.len(),
            "rota-gateway listening"
        );
        Ok(Running {
            addr,
            pool: self.pool().clone(),
            events: self.state().events.clone(),
            open,
            stop,
            task,
        })
    }
}

/// Builds the gateway from `config` and serves it on `listener`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let gateway = Gateway::build(config).await?;
    Ok(gateway.serve(listener).await?)
}

/// A gateway serving in the background.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    pool: Pool,
    events: Events,
    open: Arc<[AtomicUsize]>,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The account pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// How many client connections each worker thread has open.
    pub fn connections(&self) -> Vec<usize> {
        self.open
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    /// Open live feeds (`GET /admin/events`) end first: they would hold the drain up.
    pub async fn shutdown(self) -> io::Result<()> {
        self.events.close();
        self.stop.send_replace(true);
        self.task.await.map_err(io::Error::other)?
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> io::Result<()> {
        signal.await;
        self.shutdown().await
    }
}

/// The message of a request the gateway rejects before scheduling it (400): the edge answers
/// malformed bodies itself; [`edge::error_response`] also maps this error to 400.
#[derive(Debug)]
pub struct Rejected(pub String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}
