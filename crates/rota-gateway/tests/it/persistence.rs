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
