//! What the sim received: API requests and token-endpoint calls, in bounded logs.

use std::collections::VecDeque;

use bytes::Bytes;
use http::HeaderMap;
use tokio::time::Instant;

/// How many entries each log keeps by default; older entries are dropped first. Each entry
/// holds the request's headers and body, so a bench with large bodies may want less
/// ([`SimHandle::set_log_capacity`](crate::SimHandle::set_log_capacity)).
pub const LOG_CAPACITY: usize = 100_000;

/// One request received on an API route, with what the sim answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method, e.g. `"POST"`.
    pub method: String,
    /// Request path, e.g. `"/v1/messages"`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The credential that arrived: `Authorization: Bearer X` → `X`, else `x-api-key`, else
    /// `x-goog-api-key`, else the `key` query parameter. With
    /// [`strict_credentials`](crate::SimHandle::strict_credentials), the one the route's API
    /// reads when present (else the first found, answered 401).
    pub key: Option<String>,
    /// All request headers as received.
    pub headers: HeaderMap,
    /// The body's `"model"`, or the model in a Gemini path.
    pub model: Option<String>,
    /// The request body.
    pub body: Bytes,
    /// Arrival time (tokio clock).
    pub at: Instant,
    /// The status the sim answered with.
    pub status: u16,
}

/// One call to the token endpoint (`POST /oauth/token`).
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The `refresh_token` form field, if present.
    pub refresh_token: Option<String>,
    /// The `grant_type` form field, if present.
    pub grant_type: Option<String>,
    /// Arrival time (tokio clock).
    pub at: Instant,
}

/// A FIFO that keeps the last `capacity` entries ([`LOG_CAPACITY`] by default).
#[derive(Debug)]
pub(crate) struct Bounded<T> {
    entries: VecDeque<T>,
    capacity: usize,
}

impl<T> Default for Bounded<T> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: LOG_CAPACITY,
        }
    }
}

impl<T: Clone> Bounded<T> {
    /// Appends an entry, dropping the oldest one when full (nothing is kept at capacity 0).
    pub(crate) fn push(&mut self, entry: T) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Changes the capacity, dropping the oldest entries if there are too many.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        let excess = self.entries.len().saturating_sub(capacity);
        self.entries.drain(..excess);
        self.entries
            .shrink_to(capacity.min(self.entries.capacity()));
    }

    /// A copy of all entries, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.entries.iter().cloned().collect()
    }

    /// Copies of the entries matching `keep`, oldest first.
    pub(crate) fn filtered(&self, keep: impl Fn(&T) -> bool) -> Vec<T> {
        self.entries.iter().filter(|e| keep(e)).cloned().collect()
    }

    /// Forgets every entry.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_oldest_when_full() {
        let mut log = Bounded::default();
        for i in 0..LOG_CAPACITY + 5 {
            log.push(i);
        }
        let all = log.snapshot();
        assert_eq!(all.len(), LOG_CAPACITY);
        assert_eq!(all.first(), Some(&5));
        assert_eq!(log.filtered(|&i| i < 7), vec![5, 6]);
        log.set_capacity(3);
        assert_eq!(
            log.snapshot(),
            vec![LOG_CAPACITY + 2, LOG_CAPACITY + 3, LOG_CAPACITY + 4]
        );
        log.push(0);
        assert_eq!(log.snapshot().len(), 3);
        log.set_capacity(0);
        log.push(1);
        assert!(log.snapshot().is_empty());
        log.clear();
        assert!(log.snapshot().is_empty());
    }
}
