//! Admin API: auth, 404s, validation, health and metrics.

use http::Method;

use crate::common::*;

#[tokio::test]
async fn admin_auth_and_errors() {
    let env = start(|_, _| {}).await;
    let none = env.send(Method::GET, "/admin/accounts", &[], "").await;
    assert_eq!(none.status, 401);
    let wrong = env
        .send(
            Method::GET,
            "/admin/accounts",
            &[("authorization", "Bearer nope")],
            "",
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.json()["error"]["message"].is_string());
    for (m, p) in [
        (Method::POST, "/admin/accounts/zz@x/enable"),
        (Method::POST, "/admin/accounts/zz@x/disable"),
        (Method::DELETE, "/admin/accounts/zz@x/cooldowns"),
    ] {
        assert_eq!(env.admin(m, p, "").await.status, 404, "{p}");
    }
    for bad in [
        r#"{"mode":"Fast"}"#,
        r#"{"window_seconds":-1}"#,
        r#"{"max_wait_seconds":1.5}"#,
        "nope",
        r#"{"x":1}"#,
    ] {
        assert_eq!(
            env.admin(Method::PUT, "/admin/scheduling", bad)
                .await
                .status,
            400,
            "{bad}"
        );
    }
    let list = env.admin(Method::GET, "/admin/accounts", "").await.json();
    let a = &list[0];
    assert_eq!(a["email"], "a@x");
    assert_eq!(a["tier"], "ULTRA");
    assert_eq!(a["disabled"], false);
    assert!(a["disabled_reason"].is_null());
    assert_eq!(a["oauth"], false);
    assert_eq!(a["requests"], 0);
    let d = env
        .admin(
            Method::POST,
            "/admin/accounts/b@x/disable",
            r#"{"reason":"maintenance"}"#,
        )
        .await;
    assert_eq!(d.json()["disabled_reason"], "maintenance");
    let d = env
        .admin(Method::POST, "/admin/accounts/c@x/disable", "")
        .await;
    assert_eq!(d.json()["disabled_reason"], "disabled by admin");
    let e = env
        .admin(Method::POST, "/admin/accounts/b@x/enable", "")
        .await;
    assert_eq!(e.json()["disabled"], false);
    let s = env
        .admin(
            Method::PUT,
            "/admin/scheduling",
            r#"{"max_wait_seconds":5}"#,
        )
        .await
        .json();
    assert_eq!(
        s,
        serde_json::json!({"mode":"Balance","max_wait_seconds":5,"window_seconds":60})
    );
}

#[tokio::test]
async fn admin_api_is_off_without_a_token() {
    let env = start(|c, _| c.admin_token = None).await;
    let res = env.admin(Method::GET, "/admin/accounts", "").await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn health_and_metrics() {
    let env = start(|_, _| {}).await;
    let h = env.send(Method::GET, "/healthz", &[], "").await;
    assert_eq!((h.status.as_u16(), &h.body[..]), (200, &b"ok"[..]));
    env.chat("Count this request in the metrics").await;
    let m = env.send(Method::GET, "/metrics", &[], "").await;
    assert_eq!(m.status, 200);
    let text = String::from_utf8_lossy(&m.body);
    for name in [
        "rota_requests_total{",
        "rota_request_attempts",
        "rota_bindings",
        "rota_decisions_total",
        "rota_account_outcomes_total{",
    ] {
        assert!(text.contains(name), "{name} missing in\n{text}");
    }
}
