//! 200 concurrent requests over 20 conversations: each conversation on one account.

use std::collections::{HashMap, HashSet};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conversations_keep_their_accounts() {
    let env = start(|_, _| {}).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let conv = i % 20;
        let (client, base) = (env.client.clone(), env.gw.base_url());
        tasks.push(tokio::spawn(async move {
            let body = chat_body(
                "gpt-4o",
                &format!("Conversation {conv}: what is rota?"),
                false,
            );
            let res = post_chat(&client, &base, &body).await;
            (conv, res.status, res.account().to_owned())
        }));
    }
    let mut by_conv: HashMap<usize, HashSet<String>> = HashMap::new();
    for t in tasks {
        let (conv, status, account) = t.await.unwrap();
        assert_eq!(status, 200);
        by_conv.entry(conv).or_default().insert(account);
    }
    assert_eq!(by_conv.len(), 20);
    for (conv, accounts) in by_conv {
        assert_eq!(accounts.len(), 1, "conversation {conv} used {accounts:?}");
    }
}
