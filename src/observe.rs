//! What [`RateLimitMarkLayer`](crate::RateLimitMarkLayer) reads from a successful answer as it
//! passes, never holding or delaying a frame: the ids of the objects it created
//! ([`Learner`], SPEC §3a) and its token usage ([`UsageReader`], SPEC §9). The usage is
//! counted for the account and the decision that chose it when the answer is done — read to
//! its end, or dropped — so a stream's last usage event counts too.

use rota_core::{AccountId, Decision, Protocol, SessionId};

use crate::Pool;
use crate::ext::CapSlot;
use crate::objects::Learner;
use crate::usage::UsageReader;

/// Reads one answer's frames for object ids and usage; counts the usage when dropped.
#[derive(Debug)]
pub struct Observer {
    pool: Pool,
    account: AccountId,
    decision: Decision,
    learner: Option<Learner>,
    usage: Option<UsageReader>,
    /// The account's in-flight slot, freed when the answer is done.
    _slot: Option<CapSlot>,
}

impl Observer {
    /// An observer of the answer `account` gave (chosen by `decision`): learning object ids
    /// with `learn`'s session when `learn` is `Some`, reading usage under `usage`'s protocol
    /// when it is `Some`. `None` when there is nothing to read.
    pub fn new(
        pool: &Pool,
        account: AccountId,
        decision: Decision,
        learn: Option<Option<SessionId>>,
        usage: Option<Protocol>,
        slot: Option<CapSlot>,
    ) -> Option<Self> {
        if learn.is_none() && usage.is_none() {
            return None;
        }
        Some(Self {
            pool: pool.clone(),
            account,
            decision,
            learner: learn.map(|session| Learner::new(account, session)),
            usage: usage.map(UsageReader::new),
            _slot: slot,
        })
    }

    /// Reads one frame.
    pub fn feed(&mut self, frame: &[u8]) {
        if let Some(learner) = &mut self.learner
            && !learner.done()
        {
            learner.feed(&self.pool, frame);
        }
        if let Some(usage) = &mut self.usage {
            usage.feed(frame);
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if let Some(usage) = self.usage.as_ref().and_then(UsageReader::usage) {
            self.pool
                .counters()
                .tokens(self.account.index(), self.decision, usage);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::BodyExt;
    use rota_core::RequestFacts;
    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::RateLimitMarkLayer;
    use crate::ext::SelectedAccount;
    use crate::test_support::{Frames, two_pro_accounts};
    use crate::usage::Usage;

    const STREAM: [&str; 3] = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":4,\"cache_read_input_tokens\":90,",
        "\"cache_creation_input_tokens\":6,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":12}}\n\n",
    ];

    /// One answer of `status` with the Anthropic stream above, for `path`, read to its end
    /// (or, with `read_all` false, dropped after its first frame).
    async fn answer(pool: &Pool, path: &str, status: u16, read_all: bool) {
        let svc = RateLimitMarkLayer::new(pool.clone()).layer(tower::service_fn(
            move |_req: Request<Bytes>| async move {
                let mut res = Response::new(Frames::of(&STREAM));
                *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
                Ok::<_, Infallible>(res)
            },
        ));
        let mut req = Request::post(path).body(Bytes::new()).expect("request");
        req.extensions_mut().insert(SelectedAccount {
            id: AccountId(1),
            decision: Decision::Sticky,
            model: "m".into(),
        });
        let facts = crate::session::request_facts(&req, &[]);
        req.extensions_mut().insert::<RequestFacts>(facts);
        let res = svc.oneshot(req).await.expect("answer");
        let mut body = res.into_body();
        if read_all {
            while body.frame().await.is_some() {}
        } else {
            let _ = body.frame().await;
        }
    }

    #[tokio::test]
    async fn a_turns_usage_counts_for_its_account_once_read() {
        let pool = two_pro_accounts();
        answer(&pool, "/v1/messages", 200, true).await;
        let want = Usage {
            input: 100,
            cached: 90,
            cache_write: 6,
            output: 12,
        };
        assert_eq!(pool.tokens(AccountId(1)), want);
        assert_eq!(pool.tokens(AccountId(0)), Usage::default());
        // A client that hangs up after the first frame: what was read counts, nothing more.
        answer(&pool, "/v1/messages", 200, false).await;
        assert_eq!(
            pool.tokens(AccountId(1)).input,
            100,
            "the cut object was never whole"
        );
    }

    #[tokio::test]
    async fn errors_and_requests_that_are_not_turns_count_nothing() {
        let pool = two_pro_accounts();
        answer(&pool, "/v1/messages/count_tokens", 200, true).await;
        answer(&pool, "/v1/messages", 400, true).await;
        assert_eq!(pool.tokens(AccountId(1)), Usage::default());
    }
}
