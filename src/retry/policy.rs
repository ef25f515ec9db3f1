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
use crate::ext::{Attempt, Attempted, Classified, GraceAccount, SelectedAccount};
use crate::telemetry::RetryKind;

/// A 429 with an explicit delay up to this long is retried on the same account (SPEC §4).
pub const GRACE_MAX_DELAY: Duration = Duration::from_secs(2);

/// Whether an upstream status is retried on another account.
pub const fn is_retried_status(status: u16) -> bool {
    matches!(status, 401 | 403 | 429 | 500 | 502 | 503 | 529)
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
struct Verdict {
    account: AccountId,
    grace_delay: Option<Duration>,
}

fn verdict<B>(result: &Result<Response<B>, BoxError>) -> Option<Verdict> {
    match result {
        Ok(res) => {
            // The classifier's verdict, when RateLimitMarkLayer left one, so a custom
            // `Classify` also decides what is retried; else the status (SPEC §4).
            let classified = res.extensions().get::<Classified>();
            let retried = match classified {
                Some(Classified(outcome)) => matches!(outcome, Outcome::Failure(_)),
                None => is_retried_status(res.status().as_u16()),
            };
            if !retried {
                return None;
            }
            let account = res.extensions().get::<SelectedAccount>()?.id;
            let grace_delay = match classified {
                Some(Classified(Outcome::Failure(f))) if res.status() == 429 => f.explicit_delay,
                _ => None,
            };
            Some(Verdict {
                account,
                grace_delay,
            })
        }
        // Only transport failures carry an account; "all limited" and "no accounts" end here.
        Err(err) => Error::find(err)?.account().map(|account| Verdict {
            account,
            grace_delay: None,
        }),
    }
}

impl<B> Policy<Request<Bytes>, Response<B>, BoxError> for RotatePolicy {
    type Future = RetryDelay;

    fn retry(
        &mut self,
        req: &mut Request<Bytes>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        let verdict = verdict(result)?;
        if let Some(delay) = verdict.grace_delay.filter(|d| *d <= GRACE_MAX_DELAY)
            && !self.grace_used
        {
            self.grace_used = true;
            if self.attempts < self.limit() {
                let ext = req.extensions_mut();
                ext.insert(Attempt(self.attempts));
                ext.insert(GraceAccount(verdict.account));
                self.pool.counters().retry(RetryKind::Grace);
                return Some(RetryDelay::sleep(delay));
            }
        }
        if self.attempts >= self.limit() {
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
        if !self.another_account_can_serve(req, &attempted) {
            return None;
        }
        let ext = req.extensions_mut();
        ext.insert(Attempt(self.attempts));
        ext.insert(Attempted(attempted));
        ext.remove::<GraceAccount>();
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
