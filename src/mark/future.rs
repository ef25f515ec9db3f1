//! The response future of [`RateLimitMark`](super::RateLimitMark).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http::response::Parts;
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
use rota_core::Outcome;

use super::{Classify, MAX_ERROR_BODY};
use crate::Pool;
use crate::body::MarkBody;
use crate::error::BoxError;
use crate::ext::{Classified, SelectedAccount};

pin_project! {
    /// Response future of [`RateLimitMark`](super::RateLimitMark).
    pub struct ResponseFuture<F, B, C>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<F, B>,
        selected: Option<SelectedAccount>,
        pool: Pool,
        classifier: C,
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
        selected: Option<SelectedAccount>,
        pool: Pool,
        classifier: C,
    ) -> Self {
        Self {
            state: State::Calling { fut },
            selected,
            pool,
            classifier,
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
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

impl<F, B, C, E> Future for ResponseFuture<F, B, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    C: Classify,
{
    type Output = Result<Response<MarkBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    let Some(selected) = this.selected.as_ref() else {
                        return Poll::Ready(Ok(res.map(MarkBody::stream)));
                    };
                    if !this.classifier.needs_body(res.status()) {
                        let mut res = res.map(MarkBody::stream);
                        mark(this.pool, this.classifier, selected, &mut res, &[]);
                        return Poll::Ready(Ok(res));
                    }
                    let (parts, body) = res.into_parts();
                    let collect = Limited::new(body, MAX_ERROR_BODY).collect();
                    this.state.set(State::Reading {
                        collect,
                        parts: Some(parts),
                    });
                }
                StateProj::Reading { collect, parts } => {
                    // An unreadable or oversized error body is classified from its status and
                    // headers alone, and passed on empty.
                    let bytes = ready!(collect.poll(cx))
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let parts = parts.take().expect("Reading is left after one poll");
                    let mut res = Response::from_parts(parts, MarkBody::buffered(bytes.clone()));
                    if let Some(selected) = this.selected.as_ref() {
                        mark(this.pool, this.classifier, selected, &mut res, &bytes);
                    }
                    return Poll::Ready(Ok(res));
                }
            }
        }
    }
}

fn mark<B, C: Classify>(
    pool: &Pool,
    classifier: &C,
    selected: &SelectedAccount,
    res: &mut Response<B>,
    body: &[u8],
) {
    let outcome = classifier.classify(res.status(), res.headers(), body, pool.clock().system_now());
    let deadline = pool
        .scheduler()
        .record(selected.id, &selected.model, &outcome, pool.now());
    if let (Outcome::Failure(failure), Some(deadline)) = (&outcome, deadline) {
        let email = &pool.account(selected.id).email;
        let remaining = deadline.until.saturating_duration_since(pool.now());
        tracing::info!(
            account = %email,
            model = %selected.model,
            status = res.status().as_u16(),
            reason = failure.reason.as_str(),
            cooldown_ms = remaining.as_millis() as u64,
            "account cooling down"
        );
        metrics::counter!("rota_cooldowns_total", "reason" => failure.reason.as_str()).increment(1);
    }
    res.extensions_mut().insert(Classified(outcome));
}
