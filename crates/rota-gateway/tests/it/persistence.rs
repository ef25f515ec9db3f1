//! State survives restarts; a corrupt state file is moved aside.

use std::time::Duration;

use http::Method;
use rota::core::{Mode, Secret};
use rota_gateway::Config;

use crate::common::*;

fn config_in(env: &Env) -> Config {
    let mut c = Config::new(env.sim.base_url(), accounts());
    c.admin_token = Some(Secret::new(ADMIN));
    c.state_dir = env.dir.path().to_owned();
    c
}

#[tokio::test]
async fn restart_keeps_disabled_accounts_and_settings() {
    let env = start(|_, _| {}).await;
    env.admin(
        Method::POST,
        "/admin/accounts/b@x/disable",
        r#"{"reason":"broken"}"#,
    )
    .await;
    let put = r#"{"mode":"CacheFirst","max_wait_seconds":7,"window_seconds":0}"#;
    assert_eq!(
        env.admin(Method::PUT, "/admin/scheduling", put)
            .await
            .status,
        200
    );
    env.admin(Method::PUT, "/admin/fixed-account", r#"{"email":"c@x"}"#)
        .await;

    let gw = restart(config_in(&env)).await;
    let settings = gw.pool().settings();
    assert_eq!(settings.mode, Mode::CacheFirst);
    assert_eq!(settings.max_wait, Duration::from_secs(7));
    assert_eq!(settings.window, Duration::ZERO);
    let id = gw.pool().account_id("b@x").unwrap();
    assert_eq!(
        gw.pool().scheduler().disabled_reason(id).as_deref(),
        Some("broken")
    );
    assert_eq!(
        gw.pool().fixed_account(),
        None,
        "the fixed account is runtime only"
    );

    // Enabling is persisted too.
    env.admin(Method::POST, "/admin/accounts/b@x/enable", "")
        .await;
    let gw = restart(config_in(&env)).await;
    let id = gw.pool().account_id("b@x").unwrap();
    assert_eq!(gw.pool().scheduler().disabled_reason(id), None);
}

#[tokio::test]
async fn corrupt_state_is_moved_aside_and_unknown_accounts_ignored() {
    let env = start(|_, _| {}).await;
    let path = env.dir.path().join("state.json");
    std::fs::write(&path, b"{\"version\":1,\"disabled\":").unwrap();
    let gw = restart(config_in(&env)).await;
    assert_eq!(gw.pool().settings(), rota::core::Settings::default());
    assert!(!path.exists());
    let aside = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        })
        .count();
    assert_eq!(aside, 1);

    std::fs::write(
        &path,
        br#"{"version":1,"disabled":{"ghost@x":"gone","a@x":"off"}}"#,
    )
    .unwrap();
    let gw = restart(config_in(&env)).await;
    let id = gw.pool().account_id("a@x").unwrap();
    assert_eq!(
        gw.pool().scheduler().disabled_reason(id).as_deref(),
        Some("off")
    );
}

#[tokio::test]
async fn an_admin_change_that_cannot_be_persisted_is_a_500_and_changes_nothing() {
    let env = start(|_, _| {}).await;
    let ok = env
        .admin(
            Method::POST,
            "/admin/accounts/c@x/disable",
            r#"{"reason":"kept"}"#,
        )
        .await;
    assert_eq!(ok.status, 200);

    // After start, the state file can no longer be written: a directory stands where the
    // temp file goes (the gateway runs in this process, so it has this pid). Root or not.
    let blocker = env
        .dir
        .path()
        .join(format!(".state.json.tmp-{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();

    let res = env
        .admin(
            Method::POST,
            "/admin/accounts/b@x/disable",
            r#"{"reason":"lost"}"#,
        )
        .await;
    assert_eq!(res.status, 500, "{:?}", res.body);
    let msg = res.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(msg.starts_with("cannot persist the change: "), "{msg}");
    assert!(msg.contains("state.json"), "names the file: {msg}");
    assert_eq!(res.json()["error"]["type"], "server_error");
    assert_eq!(env.account_json("b@x").await["disabled"], false);

    let put = r#"{"mode":"PerformanceFirst","max_wait_seconds":3}"#;
    let res = env.admin(Method::PUT, "/admin/scheduling", put).await;
    assert_eq!(res.status, 500, "{:?}", res.body);
    let now = env.admin(Method::GET, "/admin/scheduling", "").await.json();
    assert_eq!(now["mode"], "Balance", "{now}");
    assert_eq!(env.gw.pool().settings(), rota::core::Settings::default());

    let res = env
        .admin(Method::POST, "/admin/accounts/c@x/enable", "")
        .await;
    assert_eq!(res.status, 500);
    assert_eq!(env.account_json("c@x").await["disabled"], true);
    // Unknown accounts are still a 404, not a write.
    let res = env
        .admin(Method::POST, "/admin/accounts/ghost@x/enable", "")
        .await;
    assert_eq!(res.status, 404);

    // Fixed, then restarted: the state is what the API acknowledged.
    std::fs::remove_dir(&blocker).unwrap();
    let api = env
        .admin(Method::GET, "/admin/accounts", "")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["email"].clone(), a["disabled_reason"].clone()))
        .collect::<Vec<_>>();
    let gw = restart(config_in(&env)).await;
    let restarted = gw
        .pool()
        .snapshot()
        .into_iter()
        .map(|a| (a.email.into(), a.disabled_reason.into()))
        .collect::<Vec<_>>();
    assert_eq!(restarted, api);
    assert_eq!(gw.pool().settings(), rota::core::Settings::default());
    let id = gw.pool().account_id("c@x").unwrap();
    assert_eq!(
        gw.pool().scheduler().disabled_reason(id).as_deref(),
        Some("kept")
    );

    // And the next change is persisted again.
    let res = env
        .admin(
            Method::POST,
            "/admin/accounts/b@x/disable",
            r#"{"reason":"now"}"#,
        )
        .await;
    assert_eq!(res.status, 200);
    let saved = std::fs::read(env.dir.path().join("state.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(saved["disabled"]["b@x"], "now");
}

#[tokio::test]
async fn concurrent_admin_changes_are_all_persisted() {
    let env = start(|_, _| {}).await;
    let changes = [
        ("/admin/accounts/a@x/disable", r#"{"reason":"one"}"#),
        ("/admin/accounts/b@x/disable", r#"{"reason":"two"}"#),
        ("/admin/accounts/c@x/disable", r#"{"reason":"three"}"#),
    ];
    let (a, b, c) = tokio::join!(
        env.admin(Method::POST, changes[0].0, changes[0].1),
        env.admin(Method::POST, changes[1].0, changes[1].1),
        env.admin(Method::POST, changes[2].0, changes[2].1),
    );
    assert!([a, b, c].iter().all(|r| r.status == 200));
    let (d, e) = tokio::join!(
        env.admin(
            Method::PUT,
            "/admin/scheduling",
            r#"{"max_wait_seconds":9}"#
        ),
        env.admin(Method::PUT, "/admin/scheduling", r#"{"window_seconds":11}"#),
    );
    assert!([d, e].iter().all(|r| r.status == 200));
    let saved = std::fs::read(env.dir.path().join("state.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(
        saved["disabled"].as_object().map(|o| o.len()),
        Some(3),
        "{saved}"
    );
    assert_eq!(saved["scheduling"]["max_wait_seconds"], 9, "{saved}");
    assert_eq!(saved["scheduling"]["window_seconds"], 11, "{saved}");
}
