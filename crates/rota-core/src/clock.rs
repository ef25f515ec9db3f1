//! An injectable clock.
//!
//! Everything in rota that reads time goes through a [`Clock`], so tests can run on a
//! [`ManualClock`] (pure model tests) or on paused tokio time (layer tests, through the
//! `TokioClock` of the `rota` crate).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

/// A source of monotonic and wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current monotonic instant.
    fn now(&self) -> Instant;

    /// The current wall-clock time, used only to read HTTP dates (`Retry-After`).
    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A shared, type-erased clock.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock: [`Instant::now`] and [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; for pure model tests.
///
/// ```
/// use rota_core::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - t0, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<(Instant, SystemTime)>>,
}

impl ManualClock {
    /// A manual clock starting at the current real time.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new((Instant::now(), SystemTime::now()))),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.inner.lock();
        t.0 += by;
        t.1 += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.lock().0
    }

    fn system_now(&self) -> SystemTime {
        self.inner.lock().1
    }
}
