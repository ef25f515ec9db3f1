//! The admin API (`/admin/*`, `Authorization: Bearer <admin_token>`).
//!
//! Enable, disable and `PUT /admin/scheduling` are persisted before they are acknowledged
//! ([`StateStore::commit`](crate::state::StateStore::commit)): when the state cannot be
//! written the answer is a 500 naming the cause, and nothing changed. Clearing cooldowns,
//! the fixed account and clearing bindings are runtime only.

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
use crate::config::MAX_DURATION;
use crate::dialect::json_response;
use crate::state::{Change, CommitError, SettingsPatch};

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
        .route("/admin/fleet", get(fleet))
        .route("/admin/events", get(crate::events::stream))
}

fn error(status: StatusCode, message: &str) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::NOT_FOUND => "not_found_error",
        s if s.is_server_error() => "server_error",
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
    let tokens = pool.tokens(a.id);
    // The share of prompt tokens the provider's cache served (null before any usage).
    let hit_ratio = (tokens.input > 0).then(|| tokens.cached as f64 / tokens.input as f64);
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
        "tokens": {
            "input": tokens.input,
            "cached": tokens.cached,
            "cache_write": tokens.cache_write,
            "output": tokens.output,
        },
        "cache_hit_ratio": hit_ratio,
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

/// Persists `change`, then makes it ([`StateStore::commit`](crate::state::StateStore::commit));
/// the refusal on an error: 404 for an unknown account, 500 naming the cause when the state
/// cannot be written.
async fn commit(st: &AppState, change: Change) -> Result<(), Response> {
    let email = match &change {
        Change::Enable { email } | Change::Disable { email, .. } => email.clone(),
        _ => String::new(),
    };
    match st.store.commit(&st.pool, change).await {
        Ok(()) => Ok(()),
        Err(CommitError::UnknownAccount) => Err(unknown(&email)),
        Err(e) => {
            tracing::error!(error = %e, "admin change refused: the state could not be saved");
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
        }
    }
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
    let change = Change::Enable {
        email: email.clone(),
    };
    if let Err(refused) = commit(&st, change).await {
        return refused;
    }
    tracing::info!(account = %email, "account enabled by admin");
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
    let change = Change::Disable {
        email: email.clone(),
        reason,
    };
    if let Err(refused) = commit(&st, change).await {
        return refused;
    }
    tracing::info!(account = %email, "account disabled by admin");
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

/// Reads a partial settings update; `Err` is a 400 message.
fn settings_patch(body: &[u8]) -> Result<SettingsPatch, String> {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return Err(
            "body must be a JSON object with mode, max_wait_seconds and/or window_seconds".into(),
        );
    };
    let mut patch = SettingsPatch::default();
    for (k, v) in &o {
        match k.as_str() {
            "mode" => {
                let m = v.as_str().ok_or("mode must be a string")?;
                patch.mode = Some(m.parse::<Mode>().map_err(|e| format!("mode: {e}"))?);
            }
            "max_wait_seconds" | "window_seconds" => {
                let most = MAX_DURATION.as_secs();
                let n = v
                    .as_u64()
                    .filter(|n| *n <= most)
                    .ok_or_else(|| format!("{k} must be an integer from 0 to {most}"))?;
                let d = Some(Duration::from_secs(n));
                if k == "max_wait_seconds" {
                    patch.max_wait = d;
                } else {
                    patch.window = d;
                }
            }
            other => return Err(format!("unknown field {other:?}")),
        }
    }
    Ok(patch)
}

async fn put_scheduling(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    let patch = match settings_patch(&body) {
        Ok(p) => p,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    if let Err(refused) = commit(&st, Change::Scheduling(patch)).await {
        return refused;
    }
    let settings = st.pool.settings();
    tracing::info!(mode = %settings.mode, max_wait = ?settings.max_wait, window = ?settings.window, "scheduling changed by admin");
    json_response(StatusCode::OK, &settings_json(settings))
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

/// `GET /admin/fleet`: this replica's link to the fleet — whether Redis answers, errors so
/// far, how late the other replicas' pushes arrive (SPEC §8).
async fn fleet(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&st, &headers) {
        return r;
    }
    let body = match &st.fleet {
        None => json!({"enabled": false}),
        Some(fleet) => {
            let s = fleet.status();
            json!({
                "enabled": true,
                "connected": s.connected,
                "errors": s.errors,
                "replica": format!("{:016x}", s.replica),
                "key_prefix": s.key_prefix,
                "received": s.received,
                "sync_lag_ms": {"last": s.last_lag_ms, "max": s.max_lag_ms},
                "cached_bindings": s.cached_bindings,
            })
        }
    };
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_settings() {
        let s = Settings::default();
        let s2 = settings_patch(br#"{"mode":"CacheFirst"}"#)
            .expect("ok")
            .apply(s);
        assert_eq!(s2.mode, Mode::CacheFirst);
        assert_eq!(s2.window, s.window);
        let p = settings_patch(br#"{"max_wait_seconds":315360000}"#).expect("ten years");
        assert_eq!(p.max_wait, Some(MAX_DURATION));
        assert_eq!(p.mode, None);
        assert!(settings_patch(br#"{"mode":"Fast"}"#).is_err());
        assert!(settings_patch(br#"{"window_seconds":-1}"#).is_err());
        assert!(settings_patch(br#"{"window_seconds":1.5}"#).is_err());
        assert!(settings_patch(br#"{"window_seconds":315360001}"#).is_err());
        assert!(settings_patch(br#"{"max_wait_seconds":18446744073709551615}"#).is_err());
        assert!(settings_patch(b"nope").is_err());
    }
}
