//! [`BodyBudget`]: a cap on the request bytes the gateway holds in memory at once, across all
//! connections (SPEC §7 `limits.max_buffered_bytes`). A request whose body would pass it is
//! answered 503 with `Retry-After: 1` instead of growing the process without bound.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use rota::BoxError;

/// The shared budget of buffered request bytes.
#[derive(Clone)]
pub struct BodyBudget {
    inner: Arc<Inner>,
}

struct Inner {
    used: AtomicUsize,
    cap: usize,
}

impl fmt::Debug for BodyBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyBudget")
            .field("used", &self.used())
            .field("cap", &self.inner.cap)
            .finish()
    }
}

impl BodyBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                used: AtomicUsize::new(0),
                cap,
            }),
        }
    }

    /// Bytes held right now.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Reserves `n` bytes up front (a declared `Content-Length`); `None` when they do not fit.
    pub fn reserve(&self, n: usize) -> Option<Reservation> {
        let mut reservation = Reservation {
            budget: self.clone(),
            held: 0,
        };
        reservation.grow_to(n).then_some(reservation)
    }

    fn take(&self, n: usize) -> bool {
        let cap = self.inner.cap;
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|total| *total <= cap)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.inner.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Bytes held from a [`BodyBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: BodyBudget,
    held: usize,
}

impl Reservation {
    /// Holds at least `n` bytes in all; false (and nothing more held) when they do not fit.
    fn grow_to(&mut self, n: usize) -> bool {
        let more = n.saturating_sub(self.held);
        if more == 0 {
            return true;
        }
        if !self.budget.take(more) {
            return false;
        }
        self.held += more;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}

/// The error of a body that would pass the budget.
#[derive(Debug)]
pub struct BudgetExceeded;

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the gateway holds too many request bytes right now")
    }
}

impl std::error::Error for BudgetExceeded {}

pin_project! {
    /// A request body that counts its bytes against a [`Reservation`], growing it as frames
    /// arrive; fails with [`BudgetExceeded`] when the budget is spent.
    pub struct Budgeted<'r, B> {
        #[pin]
        body: B,
        reservation: &'r mut Reservation,
        read: usize,
    }
}

impl<'r, B> Budgeted<'r, B> {
    /// Counts `body` against `reservation`.
    pub fn new(body: B, reservation: &'r mut Reservation) -> Self {
        Self {
            body,
            reservation,
            read: 0,
        }
    }
}

impl<B> Body for Budgeted<'_, B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frame = match std::task::ready!(this.body.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            *this.read = this.read.saturating_add(data.len());
            if !this.reservation.grow_to(*this.read) {
                return Poll::Ready(Some(Err(Box::new(BudgetExceeded))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[test]
    fn reservations_share_one_cap_and_give_back_on_drop() {
        let budget = BodyBudget::new(100);
        let a = budget.reserve(60).expect("fits");
        assert!(budget.reserve(41).is_none());
        let b = budget.reserve(40).expect("fits exactly");
        assert_eq!(budget.used(), 100);
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(budget.reserve(usize::MAX).is_none(), "no overflow");
    }

    #[tokio::test]
    async fn a_body_grows_its_reservation_and_fails_past_the_cap() {
        let budget = BodyBudget::new(10);
        let mut r = budget.reserve(0).expect("nothing");
        let body = Budgeted::new(Full::new(Bytes::from_static(b"12345678")), &mut r);
        let got = body.collect().await.expect("fits").to_bytes();
        assert_eq!(got.len(), 8);
        assert_eq!(budget.used(), 8);
        let mut other = budget.reserve(0).expect("nothing");
        let body = Budgeted::new(Full::new(Bytes::from_static(b"abc")), &mut other);
        let err = body.collect().await.expect_err("8 + 3 > 10");
        assert!(err.is::<BudgetExceeded>());
        drop(r);
        drop(other);
        assert_eq!(budget.used(), 0);
    }
}
