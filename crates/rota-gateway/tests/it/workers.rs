//! Worker threads: connections spread over them, and they share one account pool.

use std::num::NonZeroUsize;

use crate::common::*;

#[tokio::test]
async fn connections_spread_over_workers_that_share_one_pool() {
    let env = start(|c, _| c.workers = NonZeroUsize::new(2)).await;
    let base = env.gw.base_url();
    let body = chat_body("gpt-4o", "One conversation over four connections", false);
    // Four clients, so four connections, each kept open (idle, pooled) after its answer.
    let clients: Vec<_> = (0..4).map(|_| client()).collect();
    let mut served = Vec::new();
    for client in &clients {
        let res = post_chat(client, &base, &body).await;
        assert_eq!(res.status, 200);
        served.push(res.account().to_owned());
    }
    assert_eq!(
        env.gw.connections(),
        [2, 2],
        "each new connection goes to the worker with fewer open ones"
    );
    assert!(
        served.iter().all(|a| *a == served[0]),
        "the conversation stays on one account whichever worker serves it: {served:?}"
    );
    let rebound = env.account_json(&served[0]).await;
    assert_eq!(
        rebound["requests"], 4,
        "one pool counts every worker's requests"
    );
}
