//! A simulated LLM upstream over real sockets, for rota's tests, benches and `--demo`.
//!
//! One listener serves, in the shapes the official SDKs parse (openai, anthropic,
//! google-genai):
//!
//! - OpenAI: `POST /v1/chat/completions`, `POST /v1/completions`, `POST /v1/responses`,
//!   `GET|DELETE /v1/responses/{id}`, `POST /v1/responses/{id}/cancel`,
//!   `GET /v1/responses/{id}/input_items`, `POST /v1/conversations`,
//!   `GET|DELETE /v1/conversations/{id}`, `POST /v1/embeddings`, `GET /v1/models[/{id}]`;
//! - Anthropic: `POST /v1/messages`, `POST /v1/messages/count_tokens`, and
//!   `GET /v1/models[/{id}]` when the request carries `anthropic-version` or `x-api-key`;
//! - Gemini, under `/v1beta/` and `/v1/`: `models/{m}:generateContent`,
//!   `:streamGenerateContent` (SSE with `?alt=sse`, else one JSON array), `:countTokens`,
//!   `:embedContent`, `:batchEmbedContents`, `GET models[/{m}]` (`/v1/models…` is Gemini for a
//!   `POST`, or with an `x-goog-*` header or a `key` query parameter);
//! - an OAuth token endpoint (`POST /oauth/token`).
//!
//! Streams send the complete event sequences of the real APIs (Responses:
//! `response.created` … `response.completed` with `sequence_number`s; chat chunks with a role
//! delta first, a usage chunk on `stream_options.include_usage`, `[DONE]`; Anthropic
//! `message_start` … `message_stop` with `ping`; Gemini `GenerateContentResponse` chunks).
//! Usage blocks carry the real token fields; input tokens are estimated as one per 4 body
//! bytes.
//!
//! Like the providers, the sim keeps a prompt cache per account (credential): a turn (chat,
//! completions, Responses, messages, Gemini `generateContent` / `streamGenerateContent`) whose
//! conversation — system prompt first, then the messages (`messages`, `prompt`,
//! `instructions` + `input`, `system` + `messages`, `systemInstruction` + `contents`, as JSON
//! without insignificant whitespace; a Responses turn naming a `previous_response_id`
//! continues that response's conversation, its prompt and output, which also count as input
//! tokens) — starts like one the same account answered with a
//! success within the TTL (5 minutes, renewed by each hit) reports that shared prefix as
//! cached: counted in whole [`CACHE_BLOCK`]-byte blocks, a token per 4 bytes, from a minimum
//! prefix (256 bytes) and within the input tokens ([`CacheConfig`],
//! [`SimHandle::set_prompt_cache`]). It is reported where each API does: OpenAI
//! `usage.prompt_tokens_details.cached_tokens` (chat and completions, `prompt_tokens`
//! includes them), Responses `usage.input_tokens_details.cached_tokens` (`input_tokens`
//! includes them), Gemini `usageMetadata.cachedContentTokenCount` (`promptTokenCount`
//! includes them), Anthropic `usage.cache_read_input_tokens`, with
//! `cache_creation_input_tokens` for the whole blocks of a cacheable prompt beyond the part
//! read, and `input_tokens` the rest (neither read nor written). Streams carry the same counts
//! in their usage-bearing events. Token counts and embeddings neither read nor fill the
//! cache, nor do errors. [`SimHandle::token_counts`] sums what the answers reported per
//! account (the ground truth a gateway's own counts can be checked against).
//!
//! Accounts can have per-minute and daily request quotas ([`SimHandle::quota`]); a turn over
//! quota is answered `429` in the route's own shape with the provider's way of saying when to
//! come back, and successful turns carry the remaining-quota headers.
//!
//! Every request on an API route is answered according to a [`Behavior`] scripted for the
//! credential it carried, and recorded as a [`Recorded`]. Like the real APIs, each route reads
//! only its own credential header — OpenAI `Authorization: Bearer`, Anthropic `x-api-key`,
//! Gemini `x-goog-api-key` or `?key=`, and a bearer OAuth token from the token endpoint on
//! every route — and answers a credential elsewhere, or none, with a 401 in that API's shape.
//! [`SimHandle::strict_credentials`]`(false)` turns this off: then the credential is the first
//! found of `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` and `?key=`, and requests
//! without any use the script of the empty key `""`.
//!
//! Every API answer carries `x-sim-account` ([`account_id`] of the credential: a hash prefix
//! that never reveals the key; `none` without one) and `x-sim-model` (the model received, or
//! `none`). The key itself is only in the request log ([`SimHandle::requests`]).
//!
//! Responses (`resp_…`) and conversations (`conv_…`) are stored for the credential that
//! created them, like the real API: another account's key gets "not found", and a
//! `previous_response_id` it does not own is a 400 `previous_response_not_found`
//! ([`SimHandle::owner_of`]).
//!
//! Some behaviours are faults of the connection rather than HTTP answers — a reset before any
//! byte ([`Behavior::Reset`]), a head then silence ([`Behavior::StallAfterHeaders`]), bytes that
//! are not HTTP ([`Behavior::Garbage`]), a malformed chunked body ([`Behavior::BadChunking`]),
//! no answer at all ([`Behavior::Hang`]); the token endpoint can stall too
//! ([`Grant::StallAfterHeaders`]) or hand out an absurd `expires_in` ([`Grant::TokenRaw`]).
//! They are written on the HTTP/1.1 socket itself, after the whole request was read and
//! recorded; a connection left open by a fault is closed when the client goes away or the sim
//! stops (the handle is dropped or shut down).
//!
//! ```no_run
//! use std::time::Duration;
//! use rota_sim::{Behavior, RateLimit, Sim};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sim = Sim::start().await?;
//! // key-a answers 429 twice (retry in 1.5 s), then 200 again.
//! sim.script_next(
//!     "key-a",
//!     2,
//!     Behavior::RateLimit(RateLimit::new().reason("RATE_LIMIT_EXCEEDED").retry_info(Duration::from_millis(1500))),
//! );
//! // key-b is always overloaded.
//! sim.script("key-b", Behavior::Status(529));
//! let url = format!("{}/v1/messages", sim.base_url());
//! // ... send requests to `url` ...
//! # let _ = url;
//! assert!(sim.requests_for("key-a").iter().all(|r| r.path == "/v1/messages"));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod cache;
mod endpoints;
mod errors;
mod fault;
mod log;
mod oauth;
mod objects;
mod quota;
mod responses;
mod route;
mod script;
mod server;
mod shapes;
mod usage;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::account_id;
pub use cache::{CACHE_BLOCK, CacheConfig};
pub use errors::{go_duration, google_duration};
pub use log::{LOG_CAPACITY, Recorded, TokenRequest};
pub use objects::OBJECT_CAPACITY;
pub use quota::{Quota, QuotaStanding};
pub use script::{Behavior, Grant, RateLimit};
pub use shapes::ANSWER_TEXT;
pub use usage::TokenCounts;

use fault::{Conn, FaultListener};
use server::Shared;

/// Entry point: starts a simulated upstream server.
#[derive(Debug, Clone, Copy)]
pub struct Sim;

impl Sim {
    /// Binds `127.0.0.1:0` and serves in a tokio task until the handle is dropped or shut down.
    pub async fn start() -> std::io::Result<SimHandle> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Binds `addr` and serves in a tokio task until the handle is dropped or shut down.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let listener = FaultListener::new(listener);
        let (stop, mut stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(stop.subscribe(), server::instance_tag()));
        let app = server::router(Arc::clone(&shared)).into_make_service_with_connect_info::<Conn>();
        tokio::spawn(async move {
            // Completes on `shutdown()` or when the last handle (and so the sender) is dropped.
            let signal = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(%error, "rota-sim server stopped with an error");
            }
        });
        tracing::debug!(%addr, "rota-sim listening");
        Ok(SimHandle {
            inner: Arc::new(Inner { addr, shared, stop }),
        })
    }
}

impl Sim {
    /// A sim without a socket, served in process through [`SimHandle::service`] (the lab
    /// drives it this way on paused time). Its [`addr`](SimHandle::addr) is `0.0.0.0:0`.
    pub fn in_process() -> SimHandle {
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared::new(stop.subscribe(), server::instance_tag()));
        SimHandle {
            inner: Arc::new(Inner {
                addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                shared,
                stop,
            }),
        }
    }
}

/// A running simulated upstream. Cheap to clone; dropping the last clone, or calling
/// [`shutdown`](Self::shutdown), stops the server (in-flight answers finish; connections held
/// open by a fault are closed).
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://IP:PORT` of the server, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Sets the default behaviour for requests authenticated with `key`, replacing the
    /// previous default and clearing behaviours queued with [`script_next`](Self::script_next).
    pub fn script(&self, key: &str, behavior: Behavior) {
        self.inner.shared.scripts.lock().set_default(key, behavior);
    }

    /// The next `n` requests with `key` get `behavior`, then the default applies again.
    /// Calls queue up in order (FIFO); `n == 0` queues nothing.
    pub fn script_next(&self, key: &str, n: usize, behavior: Behavior) {
        self.inner.shared.scripts.lock().push(key, n, behavior);
    }

    /// Every request whose body contains `marker` (bytes, e.g. a word of its first message)
    /// gets `behavior` from now on, whatever its credential and before the credential's own
    /// script, of which it consumes nothing: an answer the request itself causes on every
    /// account. The first marker scripted that matches wins; scripting a marker again
    /// replaces its behaviour.
    pub fn script_body(&self, marker: &str, behavior: Behavior) {
        self.inner
            .shared
            .scripts
            .lock()
            .set_body(marker.as_bytes(), behavior);
    }

    /// Every request received on the API routes, in arrival order (the last
    /// [`LOG_CAPACITY`] are kept).
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.shared.log.lock().snapshot()
    }

    /// The recorded requests whose credential was `key`, in arrival order.
    pub fn requests_for(&self, key: &str) -> Vec<Recorded> {
        self.inner
            .shared
            .log
            .lock()
            .filtered(|r| r.key.as_deref() == Some(key))
    }

    /// Forgets the recorded API requests and token-endpoint calls (scripts and grants stay).
    pub fn clear_log(&self) {
        self.inner.shared.log.lock().clear();
        self.inner.shared.tokens.lock().clear();
    }

    /// Changes how many API requests the log keeps (default [`LOG_CAPACITY`]; `0` records
    /// nothing), dropping the oldest entries if needed. The token-call log is not affected.
    pub fn set_log_capacity(&self, capacity: usize) {
        self.inner.shared.log.lock().set_capacity(capacity);
    }

    /// With `true` (the default), each route reads only the credential header its real API
    /// reads: OpenAI routes `Authorization: Bearer`; Anthropic routes `x-api-key` (or a bearer
    /// OAuth token); Gemini routes `x-goog-api-key` or `?key=` (or a bearer OAuth token). An OAuth token is
    /// one the token endpoint handed out (or shaped like the provider's: `sk-ant-oat…`,
    /// `ya29.…`). A credential in another header, or none, is answered 401 in the route's
    /// shape (recorded with the credential found, consuming no script). With `false`, the
    /// first credential found anywhere counts.
    pub fn strict_credentials(&self, strict: bool) {
        self.inner
            .shared
            .strict
            .store(strict, std::sync::atomic::Ordering::Relaxed);
    }

    /// The credential (key or access token) that created the stored object `id` (a
    /// Responses `resp_…` or a conversation `conv_…`); `None` if unknown, deleted, created
    /// with `store: false` or forgotten. `Some("")` for an object created without a
    /// credential.
    pub fn owner_of(&self, id: &str) -> Option<String> {
        self.inner.shared.objects.lock().owner_of(id)
    }

    /// How many objects are stored.
    pub fn object_count(&self) -> usize {
        self.inner.shared.objects.lock().len()
    }

    /// Changes how many objects are kept (default [`OBJECT_CAPACITY`]; `0` stores nothing),
    /// forgetting the oldest if needed.
    pub fn set_object_capacity(&self, capacity: usize) {
        self.inner.shared.objects.lock().set_capacity(capacity);
    }

    /// Forgets every stored object.
    pub fn clear_objects(&self) {
        self.inner.shared.objects.lock().clear();
    }

    /// Replaces the prompt cache's configuration (TTL, minimum prefix, prompts kept per
    /// account; [`CacheConfig::default`] unless set). Prompts already cached stay, within the
    /// new capacity.
    pub fn set_prompt_cache(&self, config: CacheConfig) {
        self.inner.shared.cache.lock().configure(config);
    }

    /// Forgets every cached prompt of every account.
    pub fn clear_prompt_cache(&self) {
        self.inner.shared.cache.lock().clear();
    }

    /// The tokens the answers to `key`'s successful turns reported, summed (every turn whose
    /// answer carried usage; not a stalled one).
    pub fn token_counts(&self, key: &str) -> TokenCounts {
        self.inner.shared.tallies.lock().get(key)
    }

    /// [`token_counts`](Self::token_counts) summed over every account.
    pub fn token_counts_total(&self) -> TokenCounts {
        self.inner.shared.tallies.lock().total()
    }

    /// Forgets the token counts.
    pub fn clear_token_counts(&self) {
        self.inner.shared.tallies.lock().clear();
    }

    /// Sets the request quotas of the account behind `key`, keeping the requests it already
    /// made in the current windows; [`Quota::new`] (no limits) removes them and forgets the
    /// counts. Only turns count (chat, completions, Responses, messages, Gemini
    /// `generateContent` / `streamGenerateContent`), and only those the script would answer
    /// with [`Behavior::Ok`] or [`Behavior::Slow`]: any other scripted behaviour wins.
    ///
    /// While a quota is set, successful turns carry where the account stands (OpenAI
    /// `x-ratelimit-limit-requests` / `-remaining-requests` / `-reset-requests`, Anthropic
    /// `anthropic-ratelimit-requests-limit` / `-remaining` / `-reset`; Gemini sends none),
    /// for the tighter of the two windows. A turn over quota is not counted and is answered
    /// `429` in the route's shape: Gemini `RESOURCE_EXHAUSTED` with a `RetryInfo.retryDelay`
    /// (`RATE_LIMIT_EXCEEDED`, until the minute window frees a slot) or, for the daily
    /// quota, `QUOTA_EXHAUSTED` with `ErrorInfo.metadata.quotaResetDelay` too; OpenAI a
    /// `rate_limit_exceeded` error ("Rate limit reached … Please try again in 20s.") with
    /// `Retry-After` and `x-ratelimit-*` headers; Anthropic a `rate_limit_error` with
    /// `retry-after` and `anthropic-ratelimit-requests-*` headers.
    pub fn quota(&self, key: &str, quota: Quota) {
        self.inner.shared.quotas.lock().set(key, quota);
    }

    /// Where the account behind `key` stands in its quota now (the tighter window), counting
    /// nothing; `None` if it has no quota. What an oracle that knows every quota reads.
    pub fn quota_standing(&self, key: &str) -> Option<QuotaStanding> {
        self.inner
            .shared
            .quotas
            .lock()
            .standing(key, tokio::time::Instant::now())
    }

    /// From now on, the timestamps the answers carry (Anthropic's
    /// `anthropic-ratelimit-requests-reset`) read `at` plus the tokio time elapsed since this
    /// call, not the system clock: on paused time, a client whose wall clock is set the same
    /// way reads them the same on every run.
    pub fn set_wall_clock(&self, at: std::time::SystemTime) {
        *self.inner.shared.wall.lock() = Some((at, tokio::time::Instant::now()));
    }

    /// Every route of the sim as a tower service, called in process (no socket, no HTTP
    /// framing): the same answers, scripts, caches and quotas as over the listener. Faults of
    /// the connection ([`Behavior::Reset`] and the like) need a socket and answer `500` here.
    pub fn service(&self) -> axum::Router {
        server::router(Arc::clone(&self.inner.shared))
    }

    /// Sets how the token endpoint answers `refresh_token` from now on.
    pub fn oauth_grant(&self, refresh_token: &str, grant: Grant) {
        self.inner.shared.grants.lock().set(refresh_token, grant);
    }

    /// Every call to the token endpoint, in arrival order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.inner.shared.tokens.lock().snapshot()
    }

    /// Stops accepting connections; in-flight answers finish, connections held open by a
    /// fault ([`Behavior::Hang`], [`Behavior::StallAfterHeaders`],
    /// [`Grant::StallAfterHeaders`]) are closed. Idempotent.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }
}
