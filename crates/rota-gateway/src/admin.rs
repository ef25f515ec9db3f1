//! The admin API (`/admin/*`, `Authorization: Bearer <admin_token>`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use http::{HeaderMap, StatusCode};
use rota::Pool;
use rota::core::scheduler::AccountView;
use rota::core::{Credential, Mode, Settings};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::dialect::json_response;

/// The admin routes (state still to be supplied).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/accounts", get(accounts))
        .route("/admin/accounts/{email}/enable", post(enable))
        .route("/admin/accounts/{email}/disable", post(disable))
        .route("/admin/accounts/{email}/cooldowns", delete(clear_cooldowns))
        .route("/admin/scheduling", get(get_scheduling).put(put_scheduling))
        .route("/admin/fixed-account", get(get_fixed).put(put_fixed))
        .route("/admin/bindings/clear", post(clear_bindings))
}

fn error(status: StatusCode, message: &str) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::NOT_FOUND => "not_found_error",
        _ => "invalid_request_error",
    };
    json_response(
        status,
        &json!({"error": {"message": message, "type": kind}}),
    )
}

/// Checks the admin token: the refusal (404 when the admin API is off, 401 when the token is
/// missing or wrong), or `None` when allowed.
pub fn denied(st: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &st.admin_token else {
        return Some(error(
            StatusCode::NOT_FOUND,
            "the admin API is off (no auth.admin_token)",
        ));
    };
    match crate::edge::bearer_token(headers) {
        Some(p) if bool::from(token.expose().as_bytes().ct_eq(p)) => None,
        Some(_) => Some(error(StatusCode::UNAUTHORIZED, "invalid admin token")),
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "missing admin token (Authorization: Bearer …)",
        )),
    }
}

/// One account as JSON.
pub fn account_json(pool: &Pool, a: &AccountView) -> Value {
    let oauth = pool
        .scheduler()
        .specs()
        .get(a.id.index())
        .is_some_and(|s| matches!(s.credential, Credential::OAuth { .. }));
    json!({
        "email": a.email,
        "tier": a.tier.as_str(),
        "disabled": a.disabled,
        "disabled_reason": a.disabled_reason,
        "cooldowns": a.cooldowns.iter().map(|c| json!({
            "model": c.model,
            "reason": c.reason.as_str(),
            "remaining_ms": u64::try_from(c.remaining.as_millis()).unwrap_or(u64::MAX),
        })).collect::<Vec<_>>(),
        "requests": a.requests,
        "failures": a.failures,
        "consecutive_failures": a.consecutive_failures,
        "oauth": oauth,
    })
}

fn one_account(pool: &Pool, email: &str) -> Response {
    match pool.snapshot().iter().find(|a| a.email == email) {
        Some(a) => json_response(StatusCode::OK, &account_json(pool, a)),
        None => unknown(email),
    }
}

fn unknown(email: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("unknown account {email:?}"))
}

async fn accounts(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    let list: Vec<Value> = st
        .pool
        .snapshot()
        .iter()
        .map(|a| account_json(&st.pool, a))
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

async fn enable(
    State(st): State<Arc<AppState>>,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    if st.pool.enable(&email).is_err() {
        return unknown(&email);
    }
    tracing::info!(account = %email, "account enabled by admin");
    st.store.save(&st.pool).await;
    one_account(&st.pool, &email)
}

async fn disable(
    State(st): State<Arc<AppState>>,
    Path(email): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) => match o.get("reason") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return error(StatusCode::BAD_REQUEST, "reason must be a string"),
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "body must be a JSON object like {\"reason\": \"…\"}",
                );
            }
        }
    };
    let reason = reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "disabled by admin".to_owned());
    if st.pool.disable(&email, reason).is_err() {
        return unknown(&email);
    }
    tracing::info!(account = %email, "account disabled by admin");
    st.store.save(&st.pool).await;
    one_account(&st.pool, &email)
}

async fn clear_cooldowns(
    State(st): State<Arc<AppState>>,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    if st.pool.clear_cooldowns(&email).is_err() {
        return unknown(&email);
    }
    one_account(&st.pool, &email)
}

fn settings_json(s: Settings) -> Value {
    json!({
        "mode": s.mode.as_str(),
        "max_wait_seconds": s.max_wait.as_secs(),
        "window_seconds": s.window.as_secs(),
    })
}

async fn get_scheduling(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    json_response(StatusCode::OK, &settings_json(st.pool.settings()))
}

/// Applies a partial settings update; `Err` is a 400 message.
fn update_settings(mut s: Settings, body: &[u8]) -> Result<Settings, String> {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return Err(
            "body must be a JSON object with mode, max_wait_seconds and/or window_seconds".into(),
        );
    };
    for (k, v) in &o {
        match k.as_str() {
            "mode" => {
                let m = v.as_str().ok_or("mode must be a string")?;
                s.mode = m.parse::<Mode>().map_err(|e| format!("mode: {e}"))?;
            }
            "max_wait_seconds" | "window_seconds" => {
                let n = v
                    .as_u64()
                    .ok_or_else(|| format!("{k} must be a non-negative integer"))?;
                if k == "max_wait_seconds" {
                    s.max_wait = Duration::from_secs(n);
                } else {
                    s.window = Duration::from_secs(n);
                }
            }
            other => return Err(format!("unknown field {other:?}")),
        }
    }
    Ok(s)
}

async fn put_scheduling(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    let settings = match update_settings(st.pool.settings(), &body) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    st.pool.set_settings(settings);
    tracing::info!(mode = %settings.mode, max_wait = ?settings.max_wait, window = ?settings.window, "scheduling changed by admin");
    st.store.save(&st.pool).await;
    json_response(StatusCode::OK, &settings_json(st.pool.settings()))
}

async fn get_fixed(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    json_response(StatusCode::OK, &json!({"email": st.pool.fixed_account()}))
}

async fn put_fixed(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    let email = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(o)) => match o.get("email") {
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            _ => return error(StatusCode::BAD_REQUEST, "email must be a string or null"),
        },
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "body must be a JSON object like {\"email\": \"…\"}",
            );
        }
    };
    if st.pool.set_fixed_account(email.as_deref()).is_err() {
        return unknown(email.as_deref().unwrap_or(""));
    }
    tracing::info!(account = ?email, "fixed account set by admin");
    json_response(StatusCode::OK, &json!({"email": st.pool.fixed_account()}))
}

async fn clear_bindings(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    match st.pool.clear_bindings().await {
        Ok(n) => json_response(StatusCode::OK, &json!({"cleared": n})),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_settings() {
        let s = Settings::default();
        let s2 = update_settings(s, br#"{"mode":"CacheFirst"}"#).expect("ok");
        assert_eq!(s2.mode, Mode::CacheFirst);
        assert_eq!(s2.window, s.window);
        assert!(update_settings(s, br#"{"mode":"Fast"}"#).is_err());
        assert!(update_settings(s, br#"{"window_seconds":-1}"#).is_err());
        assert!(update_settings(s, br#"{"window_seconds":1.5}"#).is_err());
        assert!(update_settings(s, b"nope").is_err());
    }
}
