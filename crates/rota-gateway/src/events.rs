//! The live request feed: one [`RequestEvent`] per finished API request, broadcast to the
//! subscribers of `GET /admin/events` (server-sent events, admin token required). "Finished"
//! means answered: the event leaves with the answer's head (a stream's body may still be
//! flowing), from the edge's one exit for API answers. Each replica has its own feed.
//!
//! The request path pays for the feed only when someone watches: [`Events::finished`] reads
//! one relaxed atomic (the number of subscribers) and returns when it is zero. With
//! subscribers it builds the event from reference-counted values (no allocation) and makes a
//! non-blocking `send` into a bounded [`broadcast`] channel of [`CAPACITY`] events. Each
//! subscriber's task turns events into JSON and writes them to its client; a subscriber that
//! falls more than [`CAPACITY`] events behind skips the oldest (it is told how many), so a slow
//! client never slows a request.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body::Frame;
use rota::core::SessionId;
use rota::headers::{X_ACCOUNT_EMAIL, X_MAPPED_MODEL, X_ROTA_DECISION};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use crate::app::AppState;
use crate::routes::Route;

/// Events held for subscribers; one that falls further behind skips the oldest.
pub const CAPACITY: usize = 256;

/// A comment line is sent this often on an idle stream, so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Chunks queued between a subscriber's task and its connection.
const QUEUED: usize = 16;

/// Characters of the session id an event shows.
const SHORT_SESSION: usize = 12;

/// One finished API request.
#[derive(Debug, Clone)]
pub struct RequestEvent {
    /// When it finished.
    pub time: SystemTime,
    /// The route's name (`chat_completions`, `messages`, …).
    pub route: &'static str,
    /// The conversation's session id, if the request had one.
    pub session: Option<SessionId>,
    /// The account that served it (`X-Account-Email`), if one did.
    pub account: Option<HeaderValue>,
    /// Why that account (`X-Rota-Decision`: sticky, rotation, …).
    pub decision: Option<HeaderValue>,
    /// Attempts made (`X-Rota-Attempts`).
    pub attempts: Option<u32>,
    /// The status sent to the client.
    pub status: StatusCode,
    /// The model sent upstream (`X-Mapped-Model`).
    pub model: Option<HeaderValue>,
}

impl RequestEvent {
    /// The event as JSON: `{time, route, session, account, decision, attempts, status, model}`,
    /// `time` in RFC 3339 (UTC, milliseconds), `session` its first 12 characters.
    pub fn to_json(&self) -> serde_json::Value {
        let text =
            |v: &Option<HeaderValue>| v.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
        let session = self.session.as_ref().map(|s| {
            let s = s.as_str();
            let end = s
                .char_indices()
                .nth(SHORT_SESSION)
                .map_or(s.len(), |(i, _)| i);
            s[..end].to_owned()
        });
        json!({
            "time": humantime::format_rfc3339_millis(self.time).to_string(),
            "route": self.route,
            "session": session,
            "account": text(&self.account),
            "decision": text(&self.decision),
            "attempts": self.attempts,
            "status": self.status.as_u16(),
            "model": text(&self.model),
        })
    }

    /// The event as one server-sent event (`data: {json}` and a blank line).
    fn to_sse(&self) -> Bytes {
        Bytes::from(format!("data: {}\n\n", self.to_json()))
    }
}

/// The feed: a bounded broadcast channel, shared by every worker thread.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<RequestEvent>,
    watchers: Arc<AtomicUsize>,
    closing: Arc<watch::Sender<bool>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// A feed holding at most [`CAPACITY`] events per subscriber.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            watchers: Arc::new(AtomicUsize::new(0)),
            closing: Arc::new(watch::Sender::new(false)),
        }
    }

    /// How many clients are subscribed.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Publishes the request that `res` answers (nothing to do without subscribers; never
    /// waits).
    pub fn finished(
        &self,
        route: Route,
        session: Option<&SessionId>,
        attempts: Option<u32>,
        res: &Response,
    ) {
        if self.watchers() == 0 {
            return;
        }
        let h = res.headers();
        let event = RequestEvent {
            time: SystemTime::now(),
            route: route.name(),
            session: session.cloned(),
            account: h.get(X_ACCOUNT_EMAIL).cloned(),
            decision: h.get(X_ROTA_DECISION).cloned(),
            attempts,
            status: res.status(),
            model: h.get(X_MAPPED_MODEL).cloned(),
        };
        // An error only means that the last subscriber just left.
        let _ = self.tx.send(event);
    }

    /// Ends every subscriber's stream (the gateway is shutting down), so open feeds do not
    /// hold a graceful shutdown up.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A new subscriber: the body of a `text/event-stream` answer, fed by a task of its own
    /// that ends when the client goes away or the feed closes.
    pub fn subscribe(&self) -> EventBody {
        let (tx, rx) = mpsc::channel(QUEUED);
        let mut events = self.tx.subscribe();
        let mut closing = self.closing.subscribe();
        let watcher = Watcher::new(&self.watchers);
        tokio::spawn(async move {
            let _watcher = watcher;
            let start = tokio::time::Instant::now() + KEEP_ALIVE;
            let mut keep_alive = tokio::time::interval_at(start, KEEP_ALIVE);
            let mut chunk = Bytes::from_static(b": rota request feed\n\n");
            loop {
                tokio::select! {
                    sent = tx.send(chunk) => if sent.is_err() { break },
                    _ = closing.wait_for(|c| *c) => break,
                }
                chunk = tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(ev) => ev.to_sse(),
                        Err(RecvError::Lagged(n)) => Bytes::from(format!("event: skipped\ndata: {n}\n\n")),
                        Err(RecvError::Closed) => break,
                    },
                    _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                    () = tx.closed() => break,
                    _ = closing.wait_for(|c| *c) => break,
                };
            }
        });
        EventBody { rx }
    }
}

/// Counts one subscriber while it lives.
#[derive(Debug)]
struct Watcher(Arc<AtomicUsize>);

impl Watcher {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The streamed body of `GET /admin/events`.
#[derive(Debug)]
pub struct EventBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// `GET /admin/events`: the feed as server-sent events.
pub async fn stream(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = crate::admin::denied(&st, &headers) {
        return refused;
    }
    let mut res = Response::new(Body::new(st.events.subscribe()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: StatusCode) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = status;
        let h = res.headers_mut();
        h.insert(X_ACCOUNT_EMAIL, HeaderValue::from_static("a@x"));
        h.insert(X_ROTA_DECISION, HeaderValue::from_static("sticky"));
        h.insert(X_MAPPED_MODEL, HeaderValue::from_static("m-1"));
        res
    }

    #[test]
    fn json_shape() {
        let ev = RequestEvent {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
            route: "chat_completions",
            session: Some(SessionId(Arc::from("0123456789abcdefXYZ"))),
            account: Some(HeaderValue::from_static("a@x")),
            decision: None,
            attempts: Some(2),
            status: StatusCode::OK,
            model: Some(HeaderValue::from_static("m-1")),
        };
        assert_eq!(
            ev.to_json(),
            json!({"time": "1970-01-01T00:00:01.500Z", "route": "chat_completions",
                   "session": "0123456789ab", "account": "a@x", "decision": null,
                   "attempts": 2, "status": 200, "model": "m-1"})
        );
        let short = RequestEvent {
            session: Some(SessionId(Arc::from("ééé"))),
            ..ev
        };
        assert_eq!(short.to_json()["session"], "ééé");
    }

    #[tokio::test]
    async fn nobody_watching_costs_nothing_and_a_slow_watcher_skips() {
        let events = Events::new();
        // No subscriber: nothing is built or sent.
        events.finished(Route::Chat, None, Some(1), &answer(StatusCode::OK));
        let mut body = events.subscribe();
        assert_eq!(events.watchers(), 1);
        let first = body.rx.recv().await.expect("greeting");
        assert!(first.starts_with(b":"));
        // More than the channel and the queue hold, with nobody reading: the sender never
        // waits; the subscriber is told what it skipped, then gets the newest events.
        for _ in 0..(CAPACITY + QUEUED + 50) {
            events.finished(Route::Chat, None, Some(1), &answer(StatusCode::OK));
        }
        let mut skipped = false;
        let mut data = 0;
        while let Ok(Some(chunk)) =
            tokio::time::timeout(Duration::from_millis(200), body.rx.recv()).await
        {
            let text = String::from_utf8_lossy(&chunk).into_owned();
            skipped |= text.starts_with("event: skipped");
            data += usize::from(text.starts_with("data: "));
        }
        assert!(skipped, "a lagging subscriber is told it skipped events");
        assert!(data > 0 && data <= CAPACITY + QUEUED, "{data}");
        drop(body);
        for _ in 0..100 {
            if events.watchers() == 0 {
                break;
            }
            // The task sees the hang-up on its next event or tick.
            events.finished(Route::Chat, None, None, &answer(StatusCode::OK));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(events.watchers(), 0);
    }

    #[tokio::test]
    async fn close_ends_streams() {
        let events = Events::new();
        let mut body = events.subscribe();
        let _ = body.rx.recv().await;
        events.close();
        let end = tokio::time::timeout(Duration::from_secs(1), body.rx.recv()).await;
        assert_eq!(end.expect("ends at once"), None);
    }
}
