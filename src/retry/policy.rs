//! [`RotatePolicy`]: the `tower::retry::Policy` behind [`RetryRotateLayer`](super::RetryRotateLayer).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use rota_core::{AccountId, Outcome, RequestFacts, SelectRequest};
use tower::retry::Policy;

use crate::Pool;
use crate::error::{BoxError, Error};
use crate::ext::{
    Attempt, Attempted, GraceAccount, ObjectOwner, PriorServerError, SelectedAccount, verdict,
};
use crate::telemetry::RetryKind;

/// A 429 with an explicit delay up to this long is retried on the same account (SPEC §4).
pub const GRACE_MAX_DELAY: Duration = Duration::from_secs(2);

/// Whether an upstream status is retried on another account (what [`Outcome::from_status`]
/// calls a failure: 401, 403, 429, 500, 502, 503, 529).
pub fn is_retried_status(status: u16) -> bool {
    Outcome::from_status(status).is_failure()
}

/// A copy of a buffered request to send again: method, URI, version, headers, extensions, and
/// the body as a reference-counted `Bytes` clone (no byte is copied).
pub fn replay(req: &Request<Bytes>) -> Request<Bytes> {
    let mut clone = Request::new(req.body().clone());
    *clone.method_mut() = req.method().clone();
    *clone.uri_mut() = req.uri().clone();
    *clone.version_mut() = req.version();
    *clone.headers_mut() = req.headers().clone();
    *clone.extensions_mut() = req.extensions().clone();
    clone
}

/// Per-request retry state: cloned fresh for every request by `tower::retry::Retry`.
#[derive(Debug, Clone)]
pub struct RotatePolicy {
    pool: Pool,
    attempts: u32,
    grace_used: bool,
}

impl RotatePolicy {
    /// A policy over `pool`'s accounts and `max_attempts`.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            attempts: 0,
            grace_used: false,
        }
    }

    fn limit(&self) -> u32 {
        let accounts = u32::try_from(self.pool.len()).unwrap_or(u32::MAX);
        self.pool
            .max_attempts()
            .min(accounts.saturating_add(u32::from(self.grace_used)))
    }

    /// Takes one retry from the pool's budget; once it is spent the answer is returned as is,
    /// so a failing upstream is not hit with a retry storm.
    fn withdraw(&self) -> bool {
        let ok = self.pool.retry_budget().withdraw();
        if !ok {
            self.pool.counters().retry(RetryKind::Denied);
            tracing::debug!("retry budget spent; returning the answer as is");
        }
        ok
    }

    /// Whether some account not yet tried could take the next attempt right now.
    fn another_account_can_serve(&self, req: &Request<Bytes>, attempted: &[AccountId]) -> bool {
        let asked = req
            .extensions()
            .get::<RequestFacts>()
            .and_then(|f| f.model.as_deref())
            .unwrap_or("");
        let model = self.pool.mapping().map(asked);
        let select = SelectRequest {
            attempted,
            attempt: self.attempts,
            ..SelectRequest::new(model)
        };
        self.pool.scheduler().any_usable(&select, self.pool.now())
    }
}

/// What one attempt's result says about retrying.
struct Retry {
    account: AccountId,
    grace_delay: Option<Duration>,
    /// A server error without an explicit delay (two of them from different accounts make
    /// the request poisoned).
    undelayed_server_error: bool,
}

/// Whether to retry, read from the one verdict on the answer ([`verdict`]): a failure is
/// retried; a success, a neutral answer and a poisoned request are not.
fn retry_of<B>(result: &Result<Response<B>, BoxError>) -> Option<Retry> {
    match result {
        Ok(res) => {
            let outcome = verdict(res);
            let failure = outcome.failure()?;
            let account = res.extensions().get::<SelectedAccount>()?.id;
            let grace_delay = failure
                .explicit_delay
                .filter(|_| res.status() == http::StatusCode::TOO_MANY_REQUESTS);
            Some(Retry {
                account,
                grace_delay,
                undelayed_server_error: outcome.is_undelayed_server_error(),
            })
        }
        // Only transport failures carry an account ("all limited" and "no accounts" end
        // here); an attempt that timed out is answered 504, not retried (SPEC §4).
        Err(err) => {
            let err = Error::find(err).filter(|e| !e.is_timeout())?;
            err.failed_account().map(|account| Retry {
                account,
                grace_delay: None,
                undelayed_server_error: false,
            })
        }
    }
}

impl<B> Policy<Request<Bytes>, Response<B>, BoxError> for RotatePolicy {
    type Future = RetryDelay;

    fn retry(
        &mut self,
        req: &mut Request<Bytes>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        if self.attempts == 0 {
            self.pool.retry_budget().deposit();
        }
        self.attempts += 1;
        let verdict = retry_of(result)?;
        if let Some(delay) = verdict.grace_delay.filter(|d| *d <= GRACE_MAX_DELAY)
            && !self.grace_used
        {
            self.grace_used = true;
            if self.attempts < self.limit() && self.withdraw() {
                let ext = req.extensions_mut();
                ext.insert(Attempt(self.attempts));
                ext.insert(GraceAccount(verdict.account));
                self.pool.counters().retry(RetryKind::Grace);
                return Some(RetryDelay::sleep(delay));
            }
        }
        // The object's owner answered: no other account holds it.
        let pinned = matches!(result, Ok(res) if res.extensions().get::<ObjectOwner>().is_some());
        if pinned || self.attempts >= self.limit() {
            return None;
        }
        let mut attempted = req
            .extensions()
            .get::<Attempted>()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        if !attempted.contains(&verdict.account) {
            attempted.push(verdict.account);
        }
        if !self.another_account_can_serve(req, &attempted) || !self.withdraw() {
            return None;
        }
        let ext = req.extensions_mut();
        ext.insert(Attempt(self.attempts));
        ext.insert(Attempted(attempted));
        ext.remove::<GraceAccount>();
        if verdict.undelayed_server_error {
            ext.insert(PriorServerError(verdict.account));
        }
        self.pool.counters().retry(RetryKind::Rotation);
        Some(RetryDelay::now())
    }

    fn clone_request(&mut self, req: &Request<Bytes>) -> Option<Request<Bytes>> {
        Some(replay(req))
    }
}

pin_project! {
    /// How long [`RotatePolicy`] waits before the next attempt: not at all when rotating, the
    /// upstream's short delay for a grace retry.
    #[derive(Debug)]
    #[project = RetryDelayProj]
    #[allow(missing_docs)] // pin-project-lite takes no docs on variant fields
    pub enum RetryDelay {
        /// Retry at once.
        Now,
        /// Retry after the sleep.
        Sleep {
            #[pin]
            sleep: tokio::time::Sleep,
        },
    }
}

impl RetryDelay {
    fn now() -> Self {
        Self::Now
    }

    fn sleep(delay: Duration) -> Self {
        Self::Sleep {
            sleep: tokio::time::sleep(delay),
        }
    }
}

impl Future for RetryDelay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            RetryDelayProj::Now => Poll::Ready(()),
            RetryDelayProj::Sleep { sleep } => sleep.poll(cx),
        }
    }
}
