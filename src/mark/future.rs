//! The response future of [`RateLimitMark`](super::RateLimitMark).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::response::Parts;
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
use rota_core::cooldown::Deadline;
use rota_core::{AccountId, Outcome, Protocol, SessionId};
use tokio::time::Sleep;

use super::{Classify, MAX_ERROR_BODY};
use crate::Pool;
use crate::body::MarkBody;
use crate::error::BoxError;
use crate::ext::{CapSlot, Classified, SelectedAccount};
use crate::headers::set_retry_after;
use crate::observe::Observer;

/// What the layer knows about the attempt it classifies.
#[derive(Debug)]
pub(super) struct Attempt {
    /// The account and model serving it (none: pass through unmarked).
    pub(super) selected: Option<SelectedAccount>,
    /// The account that answered an earlier attempt of this request with a server error
    /// without an explicit delay.
    pub(super) prior: Option<AccountId>,
    /// Not a conversation turn: a 4xx does not mark the account.
    pub(super) auxiliary: bool,
    /// A 429 also gets `retry-after-ms` (OpenAI and Anthropic routes).
    pub(super) retry_after_ms: bool,
    /// The request creates objects: a success is read for their ids, learned with this
    /// session.
    pub(super) learn: Option<Option<SessionId>>,
    /// A conversation turn: a success is read for its token usage under this protocol.
    pub(super) usage: Option<Protocol>,
    /// The account's in-flight slot: held by the body of a success that is observed, else
    /// freed with this future.
    pub(super) slot: Option<CapSlot>,
}

pin_project! {
    /// Response future of [`RateLimitMark`](super::RateLimitMark).
    pub struct ResponseFuture<F, B, C>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<F, B>,
        attempt: Attempt,
        pool: Pool,
        classifier: C,
        error_body_timeout: Duration,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        Calling {
            #[pin]
            fut: F,
        },
        Reading {
            #[pin]
            collect: Collect<Limited<B>>,
            // Boxed: only error answers get here; the future stays small for everyone else.
            deadline: Pin<Box<Sleep>>,
            parts: Option<Parts>,
        },
    }
}

impl<F, B, C> ResponseFuture<F, B, C>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(super) fn new(
        fut: F,
        attempt: Attempt,
        pool: Pool,
        classifier: C,
        error_body_timeout: Duration,
    ) -> Self {
        Self {
            state: State::Calling { fut },
            attempt,
            pool,
            classifier,
            error_body_timeout,
        }
    }
}

impl<F, B, C> std::fmt::Debug for ResponseFuture<F, B, C>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<F, B, C, E> Future for ResponseFuture<F, B, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    C: Classify,
{
    type Output = Result<Response<MarkBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let res = match ready!(fut.poll(cx)) {
                        Ok(res) => res,
                        Err(err) => {
                            let err = err.into();
                            if let Some(selected) = &this.attempt.selected {
                                let outcome = this.classifier.classify_error(&err);
                                record(this.pool, selected, outcome, None);
                            }
                            return Poll::Ready(Err(err));
                        }
                    };
                    if this.attempt.selected.is_none() {
                        return Poll::Ready(Ok(res.map(MarkBody::stream)));
                    }
                    if !this.classifier.needs_body(res.status()) {
                        let mut res = res;
                        let outcome = mark(this.pool, this.classifier, this.attempt, &mut res, &[]);
                        let attempt = &mut *this.attempt;
                        let observer = match &attempt.selected {
                            Some(selected) if outcome.is_success() => Observer::new(
                                this.pool,
                                selected.id,
                                selected.decision,
                                attempt.learn.take(),
                                attempt.usage,
                                attempt.slot.take(),
                            ),
                            _ => None,
                        };
                        return Poll::Ready(Ok(match observer {
                            Some(observer) => res.map(|body| MarkBody::observed(body, observer)),
                            None => res.map(MarkBody::stream),
                        }));
                    }
                    let (parts, body) = res.into_parts();
                    let collect = Limited::new(body, MAX_ERROR_BODY).collect();
                    this.state.set(State::Reading {
                        collect,
                        deadline: Box::pin(tokio::time::sleep(*this.error_body_timeout)),
                        parts: Some(parts),
                    });
                }
                StateProj::Reading {
                    collect,
                    deadline,
                    parts,
                } => {
                    // An unreadable, oversized or stalled error body is classified from its
                    // status and headers alone, and passed on empty.
                    let bytes = match collect.poll(cx) {
                        Poll::Ready(read) => read.map(|c| c.to_bytes()).unwrap_or_default(),
                        Poll::Pending => {
                            ready!(deadline.as_mut().poll(cx));
                            tracing::warn!(
                                timeout = ?this.error_body_timeout,
                                "upstream error body did not arrive in time; classified by status"
                            );
                            Bytes::new()
                        }
                    };
                    let parts = parts.take().expect("Reading is left after one poll");
                    let mut res = Response::from_parts(parts, MarkBody::buffered(bytes.clone()));
                    mark(this.pool, this.classifier, this.attempt, &mut res, &bytes);
                    return Poll::Ready(Ok(res));
                }
            }
        }
    }
}

/// Classifies an answer, records the verdict, leaves it on the response, and returns it.
fn mark<B, C: Classify>(
    pool: &Pool,
    classifier: &C,
    attempt: &Attempt,
    res: &mut Response<B>,
    body: &[u8],
) -> Outcome {
    let Some(selected) = &attempt.selected else {
        return Outcome::Neutral;
    };
    let said = classifier.classify(res.status(), res.headers(), body, pool.clock().system_now());
    let mut outcome = said;
    // A token count, a model list or an object read that the upstream refuses says nothing
    // about the account's ability to serve conversations: no 4xx of theirs benches it.
    if attempt.auxiliary && res.status().is_client_error() {
        outcome = Outcome::Neutral;
    }
    // Two different accounts failing one request the same way: the request is at fault
    // (SPEC §4), so the first account's strike is taken back and this one is not counted.
    if outcome.is_undelayed_server_error()
        && let Some(prior) = attempt.prior.filter(|p| *p != selected.id)
    {
        pool.scheduler().forgive(prior);
        outcome = Outcome::Poisoned;
        tracing::info!(
            status = res.status().as_u16(),
            "two accounts answered this request with a server error; the request is presumed at fault"
        );
    }
    let deadline = record(pool, selected, outcome, Some(res.status().as_u16()));
    if res.status() == StatusCode::TOO_MANY_REQUESTS {
        // Every 429 that leaves rota says when to come back (SPEC §6): the upstream's own
        // header, else the delay it gave in its body, else the cooldown it now has, else (an
        // answer that marked nothing) the cooldown its reason would have set.
        let failure = said.failure();
        let wait = failure
            .and_then(|f| f.explicit_delay)
            .or_else(|| deadline.map(|d| d.until.saturating_duration_since(pool.now())))
            .or_else(|| failure.map(|f| pool.scheduler().cooldown_config().duration_for(f, 1)));
        if let Some(wait) = wait {
            set_retry_after(res.headers_mut(), wait, attempt.retry_after_ms);
        }
    }
    res.extensions_mut().insert(Classified(outcome));
    outcome
}

/// `Retry-After` seconds for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Records one attempt's verdict in the scheduler and the metrics; `status` is `None` when
/// no answer came. Returns the cooldown now in force, if the verdict set or kept one.
fn record(
    pool: &Pool,
    selected: &SelectedAccount,
    outcome: Outcome,
    status: Option<u16>,
) -> Option<Deadline> {
    let deadline = pool
        .scheduler()
        .record(selected.id, &selected.model, &outcome, pool.now());
    if let Some(deadline) = deadline {
        pool.publish_mark(selected.id, &selected.model, deadline);
    }
    pool.counters()
        .outcome(selected.id.index(), &outcome, status.is_some());
    let Outcome::Failure(failure) = &outcome else {
        return deadline;
    };
    let email = &pool.account(selected.id).email;
    match deadline {
        Some(deadline) => {
            let remaining = deadline.until.saturating_duration_since(pool.now());
            tracing::info!(
                account = %email,
                model = %selected.model,
                status,
                reason = failure.reason.as_str(),
                cooldown_ms = remaining.as_millis() as u64,
                "account cooling down"
            );
            metrics::counter!("rota_cooldowns_total", "reason" => failure.reason.as_str())
                .increment(1);
        }
        None => tracing::info!(
            account = %email,
            model = %selected.model,
            status,
            reason = failure.reason.as_str(),
            "account strike (no cooldown yet)"
        ),
    }
    deadline
}
