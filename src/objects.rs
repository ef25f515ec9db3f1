//! Learning object owners from answers as they pass (SPEC §3a).
//!
//! A successful answer to a request that creates objects (`POST /v1/responses`,
//! `POST /v1/conversations`: [`creates_objects`]) names them: the `id` of a Responses answer
//! (in a stream, the `response.created` event's `response.id`), the `id` of a conversation.
//! [`Learner`] reads the body's frames as they go by — never holding or delaying one — and
//! records each owned id ([`is_owned_id`]) with the account that served it in the pool's
//! [`ObjectStore`](rota_core::ObjectStore). Only the first [`SCAN_LIMIT`] bytes are read: the
//! ids come first.

use memchr::memmem;
use rota_core::objects::{MAX_ID_LEN, is_owned_id};
use rota_core::{AccountId, ObjectOwner, SessionId};

use crate::Pool;

/// How much of an answer is read for ids.
pub const SCAN_LIMIT: usize = 64 * 1024;
/// At most this many ids are learned from one answer (a response and its conversation).
const MAX_IDS: usize = 4;
/// The stream's last bytes kept to find an id split across frames.
const CARRY: usize = MAX_ID_LEN + 16;

/// Whether a request creates objects that live on the account serving it.
///
/// ```
/// use http::Method;
/// assert!(rota::objects::creates_objects(&Method::POST, "/v1/responses"));
/// assert!(!rota::objects::creates_objects(&Method::GET, "/v1/responses/resp_1"));
/// ```
pub fn creates_objects(method: &http::Method, path: &str) -> bool {
    method == http::Method::POST && matches!(path, "/v1/responses" | "/v1/conversations")
}

/// Reads an answer's frames for the ids of the objects it created, and records their owner.
#[derive(Debug)]
pub struct Learner {
    owner: ObjectOwner,
    carry: Vec<u8>,
    scanned: usize,
    learned: Vec<Box<str>>,
}

impl Learner {
    /// A learner for an answer `account` gave to a request of `session`.
    pub fn new(account: AccountId, session: Option<SessionId>) -> Self {
        Self {
            owner: ObjectOwner { account, session },
            carry: Vec::new(),
            scanned: 0,
            learned: Vec::new(),
        }
    }

    /// Whether it has read all it will.
    pub fn done(&self) -> bool {
        self.scanned >= SCAN_LIMIT || self.learned.len() >= MAX_IDS
    }

    /// Reads one frame of the answer; learns into `pool`'s object store.
    pub fn feed(&mut self, pool: &Pool, frame: &[u8]) {
        if self.done() {
            return;
        }
        let frame = &frame[..frame.len().min(SCAN_LIMIT - self.scanned)];
        // The stream's last bytes, then the frame's first: an id split across frames (however
        // many, however small) is whole here; one found twice is learned once.
        let mut joint = std::mem::take(&mut self.carry);
        if !joint.is_empty() {
            joint.extend_from_slice(&frame[..frame.len().min(CARRY)]);
            self.scan(pool, &joint);
        }
        self.scan(pool, frame);
        self.scanned += frame.len();
        if frame.len() >= CARRY {
            joint.clear();
            joint.extend_from_slice(&frame[frame.len() - CARRY..]);
        } else {
            let keep = joint.len().saturating_sub(frame.len().min(CARRY)); // the old tail
            joint.truncate(keep);
            joint.extend_from_slice(frame);
            let excess = joint.len().saturating_sub(CARRY);
            joint.drain(..excess);
        }
        self.carry = joint;
    }

    fn scan(&mut self, pool: &Pool, bytes: &[u8]) {
        for at in memmem::find_iter(bytes, b"\"id\"") {
            if let Some(id) = id_value(&bytes[at + 4..])
                && is_owned_id(id)
                && !self.learned.iter().any(|l| **l == *id)
            {
                let fut = pool.objects().learn(id, self.owner.clone(), pool.now());
                crate::pool::detach(fut, "object store write failed");
                self.learned.push(id.into());
                if self.learned.len() >= MAX_IDS {
                    return;
                }
            }
        }
    }
}

/// The string value after a `"id"` key: `: "value"` with any JSON white space, complete (its
/// closing quote within `bytes`) and without escapes, which ids never have.
fn id_value(bytes: &[u8]) -> Option<&str> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let rest = &bytes[bytes.iter().position(|b| !ws(b))?..];
    let rest = rest.strip_prefix(b":")?;
    let rest = &rest[rest.iter().position(|b| !ws(b))?..];
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().take(MAX_ID_LEN + 1).position(|b| *b == b'"')?;
    let value = &rest[..end];
    if value.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::two_pro_accounts as pool;

    fn owner_of(pool: &Pool, id: &str) -> Option<AccountId> {
        match pool.objects().owner(id, pool.now()) {
            rota_core::store::StoreFuture::Ready(Some(Ok(o))) => o.map(|o| o.account),
            other => panic!("memory store answered {other:?}"),
        }
    }

    #[tokio::test]
    async fn ids_are_learned_from_plain_and_split_frames() {
        let pool = pool();
        let mut l = Learner::new(AccountId(1), None);
        let stream = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_abc123\",\"object\":\"response\",\"output\":[{\"id\":\"msg_1\"}],\"conversation\":{\"id\": \"conv_9\"}}}\n\n";
        // every split point
        for cut in 0..stream.len() {
            let pool = self::pool();
            let mut l = Learner::new(AccountId(1), None);
            l.feed(&pool, &stream.as_bytes()[..cut]);
            l.feed(&pool, &stream.as_bytes()[cut..]);
            assert_eq!(
                owner_of(&pool, "resp_abc123"),
                Some(AccountId(1)),
                "cut {cut}"
            );
            assert_eq!(owner_of(&pool, "conv_9"), Some(AccountId(1)), "cut {cut}");
            assert_eq!(owner_of(&pool, "msg_1"), None);
        }
        l.feed(
            &pool,
            b"{\n  \"id\" :  \"resp_pretty\",\n  \"object\": \"response\"}",
        );
        assert_eq!(owner_of(&pool, "resp_pretty"), Some(AccountId(1)));
    }

    proptest::proptest! {
        /// Panic-free on any bytes cut anywhere; an id in the first frames is learned
        /// wherever the frames are cut.
        #[test]
        fn any_bytes_any_cuts(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..700, 0..6),
            with_id in proptest::prelude::any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let _guard = rt.enter();
            let pool = pool();
            let mut body = noise.clone();
            if with_id {
                // a closing brace first, so the noise cannot swallow the key
                body.extend_from_slice(b"}\"id\":\"resp_p1\"");
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut l = Learner::new(AccountId(1), None);
            let mut at = 0;
            for cut in cuts.into_iter().chain([body.len()]) {
                l.feed(&pool, &body[at..cut]);
                at = cut;
            }
            if with_id {
                proptest::prop_assert_eq!(owner_of(&pool, "resp_p1"), Some(AccountId(1)));
            }
        }
    }

    #[tokio::test]
    async fn nothing_past_the_scan_limit_and_no_partial_ids() {
        let pool = pool();
        let mut l = Learner::new(AccountId(0), None);
        l.feed(&pool, &vec![b' '; SCAN_LIMIT]);
        l.feed(&pool, b"{\"id\":\"resp_late\"}");
        assert!(l.done());
        assert_eq!(owner_of(&pool, "resp_late"), None);
        for partial in [
            &b"{\"id\":\"resp_cut"[..],
            b"{\"id\":",
            b"{\"id\"",
            b"\"id\":\"resp_\\u0041\"",
        ] {
            let mut l = Learner::new(AccountId(0), None);
            l.feed(&pool, partial);
            assert!(
                l.learned.is_empty(),
                "{:?}",
                String::from_utf8_lossy(partial)
            );
        }
    }
}
