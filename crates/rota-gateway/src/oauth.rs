//! OAuth accounts: access tokens from `token_url`, refreshed 90 s before expiry, one refresh
//! in flight per account ([`TokenCache`]), and [`OAuthLayer`], which puts the token on the
//! request and, on a 401, refreshes once and retries the same account once.
//!
//! A refresh runs in its own task, so a client that hangs up never strands the requests
//! waiting on it; the per-account lock is held only to switch states, never across I/O.
//! `invalid_grant` disables the account (persisted); other refresh failures put the account
//! in a short `refresh_failed` cooldown. Either way the request fails with [`OAuthError`] and
//! the retry layer rotates to another account.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use parking_lot::Mutex;
use rota::Pool;
use rota::core::{AccountId, Credential, Failure, Outcome, Reason, Secret};
use tokio::sync::watch;

use crate::forward::HttpClient;
use crate::state::StateStore;

/// Refresh when less than this much validity remains.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(90);
/// Longest wait for a whole token-endpoint answer, by default (`limits.token_timeout`).
pub const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest lifetime an access token is believed to have, whatever `expires_in` says
/// (a day): an absurd value can neither overflow the clock nor pin a token for ever.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest token-endpoint answer read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Why a token could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// The token endpoint answered `invalid_grant` (the account is disabled).
    InvalidGrant(String),
    /// Any other failure (status, network, bad answer).
    Failed(String),
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidGrant(d) => write!(f, "invalid_grant: {d}"),
            Self::Failed(d) => f.write_str(d),
        }
    }
}

/// The error of an OAuth account whose access token could not be obtained.
#[derive(Debug)]
pub struct OAuthError {
    account: String,
    kind: RefreshError,
}

impl OAuthError {
    /// What went wrong.
    pub fn kind(&self) -> &RefreshError {
        &self.kind
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token refresh for account {} failed: {}",
            self.account, self.kind
        )
    }
}

impl std::error::Error for OAuthError {}

type Shared = watch::Receiver<Option<Result<Secret, RefreshError>>>;

enum Slot {
    Idle,
    Valid { token: Secret, fresh_until: Instant },
    Refreshing(Shared),
}

/// Access tokens of every OAuth account of a pool, with single-flight refresh.
pub struct TokenCache {
    client: HttpClient,
    pool: Pool,
    state: StateStore,
    slots: Box<[Mutex<Slot>]>,
    /// The longest a whole token-endpoint answer (head and body) may take.
    timeout: Duration,
    /// Where refreshes run: the runtime that built the cache (the gateway's main runtime,
    /// which outlives the worker threads), so a worker that finishes first at shutdown does
    /// not take with it a refresh that requests on other workers wait for.
    runtime: Option<tokio::runtime::Handle>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("accounts", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache for `pool`'s accounts; refreshes go through `client` and each must be
    /// answered in full within `timeout`, and `invalid_grant` saves the state to `state`.
    /// Refreshes run on the calling runtime if there is one, otherwise on the runtime of the
    /// request that needs them.
    pub fn new(client: HttpClient, pool: Pool, state: StateStore, timeout: Duration) -> Arc<Self> {
        let slots = (0..pool.len()).map(|_| Mutex::new(Slot::Idle)).collect();
        Arc::new(Self {
            client,
            pool,
            state,
            slots,
            timeout,
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    pub(crate) fn oauth(&self, id: AccountId) -> Option<(&str, &Secret, &str)> {
        let spec = self.pool.scheduler().specs().get(id.index())?;
        match &spec.credential {
            Credential::OAuth {
                refresh_token,
                token_url,
            } => Some((spec.email.as_str(), refresh_token, token_url.as_str())),
            _ => None,
        }
    }

    /// A valid access token for `id`. With `stale`, the caller saw that token rejected: a
    /// different valid token is returned as is, otherwise a refresh is forced.
    pub async fn token(
        self: &Arc<Self>,
        id: AccountId,
        stale: Option<&Secret>,
    ) -> Result<Secret, RefreshError> {
        let Some(slot) = self.slots.get(id.index()) else {
            return Err(RefreshError::Failed("not an OAuth account".to_owned()));
        };
        let mut rx = {
            let mut guard = slot.lock();
            match &*guard {
                Slot::Valid { token, fresh_until }
                    if *fresh_until > self.pool.now() && stale != Some(token) =>
                {
                    return Ok(token.clone());
                }
                Slot::Refreshing(rx) => rx.clone(),
                _ => {
                    let (tx, rx) = watch::channel(None);
                    *guard = Slot::Refreshing(rx.clone());
                    let refresh = Arc::clone(self).refresh(id, tx);
                    match &self.runtime {
                        Some(runtime) => drop(runtime.spawn(refresh)),
                        None => drop(tokio::spawn(refresh)),
                    }
                    rx
                }
            }
        };
        let result = match rx.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        };
        result.unwrap_or_else(|| {
            // The refresh task went away without an answer: let the next caller start over.
            let mut guard = slot.lock();
            if matches!(&*guard, Slot::Refreshing(r) if r.same_channel(&rx)) {
                *guard = Slot::Idle;
            }
            Err(RefreshError::Failed(
                "token refresh was interrupted".to_owned(),
            ))
        })
    }

    async fn refresh(
        self: Arc<Self>,
        id: AccountId,
        tx: watch::Sender<Option<Result<Secret, RefreshError>>>,
    ) {
        // The whole answer, body included, is bounded: a token endpoint that stalls after its
        // headers must not wedge every request waiting on this refresh.
        let result = tokio::time::timeout(self.timeout, self.fetch(id))
            .await
            .unwrap_or_else(|_| Err(RefreshError::Failed("token endpoint timed out".into())));
        let email = self
            .oauth(id)
            .map(|(e, _, _)| e.to_owned())
            .unwrap_or_default();
        if let Some(slot) = self.slots.get(id.index()) {
            *slot.lock() = match &result {
                Ok((token, lifetime)) => {
                    let margin = REFRESH_MARGIN.min(*lifetime / 2);
                    let now = self.pool.now();
                    Slot::Valid {
                        token: token.clone(),
                        fresh_until: now
                            .checked_add(lifetime.saturating_sub(margin))
                            .unwrap_or(now),
                    }
                }
                Err(_) => Slot::Idle,
            };
        }
        match &result {
            Ok((_, lifetime)) => {
                tracing::info!(account = %email, expires_in = lifetime.as_secs(), "access token refreshed")
            }
            Err(RefreshError::InvalidGrant(desc)) => {
                let reason = format!("invalid_grant: {desc}");
                tracing::warn!(account = %email, %reason, "refresh token rejected; account disabled");
                let _ = self.pool.disable(&email, reason);
                self.state.save(&self.pool).await;
            }
            Err(RefreshError::Failed(why)) => {
                tracing::warn!(account = %email, error = %why, "token refresh failed; account cooling down");
                let failure = Outcome::Failure(Failure::new(Reason::RefreshFailed));
                self.pool
                    .scheduler()
                    .record(id, "", &failure, self.pool.now());
            }
        }
        tx.send_replace(Some(result.map(|(t, _)| t)));
    }

    async fn fetch(&self, id: AccountId) -> Result<(Secret, Duration), RefreshError> {
        let failed = |m: String| RefreshError::Failed(m);
        let (_, refresh_token, url) = self
            .oauth(id)
            .ok_or_else(|| failed("not an OAuth account".into()))?;
        let body = format!(
            "grant_type=refresh_token&refresh_token={}",
            form_encode(refresh_token.expose())
        );
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = url
            .parse()
            .map_err(|_| failed("invalid token_url".into()))?;
        let h = req.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let res = self
            .client
            .request(req)
            .await
            .map_err(|e| failed(format!("token endpoint unreachable: {e}")))?;
        let status = res.status();
        let bytes = Limited::new(res.into_body(), MAX_TOKEN_BODY)
            .collect()
            .await
            .map_err(|e| failed(format!("reading the token answer failed: {e}")))?
            .to_bytes();
        parse_token_answer(status, &bytes)
    }
}

/// Reads a token endpoint's answer.
fn parse_token_answer(status: StatusCode, body: &[u8]) -> Result<(Secret, Duration), RefreshError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
    };
    if field("error") == Some("invalid_grant") {
        let desc: String = field("error_description")
            .unwrap_or("refresh token rejected")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Err(RefreshError::InvalidGrant(desc));
    }
    if !status.is_success() {
        let code = field("error").map(|e| format!(" ({})", e.chars().take(60).collect::<String>()));
        return Err(RefreshError::Failed(format!(
            "token endpoint answered {status}{}",
            code.unwrap_or_default()
        )));
    }
    let token = field("access_token")
        .filter(|t| !t.is_empty() && HeaderValue::from_str(&format!("Bearer {t}")).is_ok())
        .ok_or_else(|| {
            RefreshError::Failed("token endpoint answer has no usable access_token".into())
        })?;
    let expires_in = json
        .as_ref()
        .and_then(|j| j.get("expires_in"))
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3600);
    let lifetime = Duration::from_secs(expires_in).min(MAX_TOKEN_LIFETIME);
    Ok((Secret::new(token), lifetime))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

mod layer;

pub use layer::{OAuth, OAuthLayer, ResponseFuture as OAuthFuture};

/// The gateway's classifier: SPEC §5 for answers; for errors, an [`OAuthError`] says nothing
/// more about the account (the token cache has already disabled it or put it in a
/// `refresh_failed` cooldown), while any other error means the upstream was unreachable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Classifier;

impl rota::Classify for Classifier {
    fn classify(
        &self,
        status: StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
        now: std::time::SystemTime,
    ) -> Outcome {
        rota::DefaultClassifier.classify(status, headers, body, now)
    }

    fn classify_error(&self, err: &rota::BoxError) -> Outcome {
        if err.is::<OAuthError>() {
            Outcome::Neutral
        } else {
            rota::DefaultClassifier.classify_error(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers() {
        let ok = parse_token_answer(StatusCode::OK, br#"{"access_token":"at","expires_in":120}"#);
        assert_eq!(ok, Ok((Secret::new("at"), Duration::from_secs(120))));
        let bad = parse_token_answer(
            StatusCode::OK,
            br#"{"error":"invalid_grant","error_description":"revoked"}"#,
        );
        assert_eq!(bad, Err(RefreshError::InvalidGrant("revoked".into())));
        assert!(matches!(
            parse_token_answer(StatusCode::BAD_GATEWAY, b"x"),
            Err(RefreshError::Failed(_))
        ));
        assert!(matches!(
            parse_token_answer(StatusCode::OK, b"{}"),
            Err(RefreshError::Failed(_))
        ));
        assert_eq!(form_encode("a b/c=&"), "a+b%2Fc%3D%26");
    }

    #[test]
    fn absurd_lifetimes_saturate() {
        for expires_in in [
            "18446744073709551615",
            "10000000000000000000",
            "\"99999999999999999999\"",
        ] {
            let body = format!(r#"{{"access_token":"at","expires_in":{expires_in}}}"#);
            let got = parse_token_answer(StatusCode::OK, body.as_bytes());
            let lifetime = got.map(|(_, l)| l);
            assert!(
                matches!(lifetime, Ok(l) if l <= MAX_TOKEN_LIFETIME),
                "{expires_in}: {lifetime:?}"
            );
        }
        // negative or fractional: the default hour
        for expires_in in ["-1", "1e19", "1.5"] {
            let body = format!(r#"{{"access_token":"at","expires_in":{expires_in}}}"#);
            let got = parse_token_answer(StatusCode::OK, body.as_bytes());
            assert_eq!(
                got.map(|(_, l)| l),
                Ok(Duration::from_secs(3600)),
                "{expires_in}"
            );
        }
    }
}
