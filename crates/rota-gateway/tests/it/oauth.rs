//! OAuth accounts: token use, single flight, 401 refresh, invalid_grant.

use http::Method;
use rota::core::{AccountSpec, Tier};
use rota_sim::{Behavior, Grant};

use crate::common::*;

#[tokio::test]
async fn token_is_fetched_once_and_used() {
    let env =
        start(|c, sim| c.accounts = vec![oauth_account("o@x", Tier::Ultra, "rt-o", sim)]).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (client, base) = (env.client.clone(), env.gw.base_url());
        tasks.push(tokio::spawn(async move {
            let body = chat_body("gpt-4o", &format!("Concurrent first request {i}"), false);
            post_chat(&client, &base, &body).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 200);
    }
    let tokens = env.sim.token_requests();
    assert_eq!(tokens.len(), 1, "single flight");
    assert_eq!(tokens[0].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(tokens[0].refresh_token.as_deref(), Some("rt-o"));
    let recs = env.sim.requests();
    assert_eq!(recs.len(), 8);
    assert!(recs.iter().all(|r| r.key.as_deref() == Some("at-rt-o-1")));
    let list = env.admin(Method::GET, "/admin/accounts", "").await.json();
    assert_eq!(list[0]["oauth"], true);
}

#[tokio::test]
async fn a_401_refreshes_and_retries_the_same_account_once() {
    let env = start(|c, sim| {
        c.accounts = vec![
            oauth_account("o@x", Tier::Ultra, "rt-o", sim),
            AccountSpec::api_key("b@x", Tier::Pro, "kb"),
        ]
    })
    .await;
    env.sim.script_next("at-rt-o-1", 1, Behavior::Status(401));
    let res = env.chat("Refresh my token when it is rejected").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.account(), "o@x");
    assert_eq!(res.header("x-rota-attempts"), "1");
    assert_eq!(env.sim.token_requests().len(), 2);
    let keys: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .map(|r| r.key.unwrap_or_default())
        .collect();
    assert_eq!(keys, ["at-rt-o-1", "at-rt-o-2"]);
    // A second 401 after the refresh is returned to the retry layer: the account cools
    // down 30 min and the request rotates.
    env.sim.script("at-rt-o-2", Behavior::Status(401));
    env.sim.script("at-rt-o-3", Behavior::Status(401));
    let res = env.chat("Refresh my token when it is rejected").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.account(), "b@x");
    let o = env.account_json("o@x").await;
    assert_eq!(o["cooldowns"][0]["reason"], "unauthorized");
}

#[tokio::test]
async fn invalid_grant_disables_persists_and_rotates() {
    let env = start(|c, sim| {
        c.accounts = vec![
            oauth_account("o@x", Tier::Ultra, "rt-o", sim),
            AccountSpec::api_key("b@x", Tier::Pro, "kb"),
        ]
    })
    .await;
    env.sim.oauth_grant("rt-o", Grant::InvalidGrant);
    let res = env.chat("My refresh token was revoked").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.account(), "b@x");
    assert_eq!(res.header("x-rota-attempts"), "2");
    let o = env.account_json("o@x").await;
    assert_eq!(o["disabled"], true);
    let reason = o["disabled_reason"].as_str().unwrap();
    assert!(reason.starts_with("invalid_grant"), "{reason}");
    let saved = std::fs::read_to_string(env.dir.path().join("state.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert!(
        saved["disabled"]["o@x"]
            .as_str()
            .unwrap()
            .starts_with("invalid_grant")
    );
}

#[tokio::test]
async fn other_refresh_failures_cool_the_account_down() {
    let env = start(|c, sim| {
        c.accounts = vec![
            oauth_account("o@x", Tier::Ultra, "rt-o", sim),
            AccountSpec::api_key("b@x", Tier::Pro, "kb"),
        ]
    })
    .await;
    env.sim.oauth_grant("rt-o", Grant::Status(503));
    let res = env.chat("The token endpoint is down today").await;
    assert_eq!((res.status.as_u16(), res.account()), (200, "b@x"));
    let o = env.account_json("o@x").await;
    assert_eq!(o["disabled"], false);
    assert_eq!(o["cooldowns"][0]["reason"], "refresh_failed");
}
