//! The tokio clock: rota's default, so tests can run on paused tokio time.

use std::time::Instant;

use rota_core::Clock;

/// A [`Clock`] that reads tokio's clock, which `tokio::time::pause` (and
/// `#[tokio::test(start_paused = true)]`) freezes and advances.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}
