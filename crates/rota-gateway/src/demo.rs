//! `--demo`: a simulated upstream, four demo accounts, and curl commands to try.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use rota::core::{AccountSpec, Secret, Tier};
use rota_sim::{Behavior, CacheConfig, RateLimit, Sim, SimHandle};
use serde_json::json;
use tokio::net::TcpListener;

use crate::app::{AppState, Gateway, Running};
use crate::config::Config;
use crate::dialect::json_response;

/// The demo's admin token.
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin";

/// The demo accounts: email, tier, API key.
pub const DEMO_ACCOUNTS: [(&str, Tier, &str); 4] = [
    ("ultra@demo.rota", Tier::Ultra, "demo-key-ultra"),
    ("pro1@demo.rota", Tier::Pro, "demo-key-pro1"),
    ("pro2@demo.rota", Tier::Pro, "demo-key-pro2"),
    ("free@demo.rota", Tier::Free, "demo-key-free"),
];

#[derive(Debug)]
struct DemoState {
    sim: SimHandle,
    app: Arc<AppState>,
    keys: HashMap<&'static str, &'static str>,
}

/// The demo configuration over a simulated upstream at `base_url`.
pub fn demo_config(base_url: &str) -> Config {
    let accounts = DEMO_ACCOUNTS
        .iter()
        .map(|(email, tier, key)| AccountSpec::api_key(*email, *tier, *key))
        .collect();
    let mut config = Config::new(base_url, accounts);
    config.admin_token = Some(Secret::new(DEMO_ADMIN_TOKEN));
    config.state_dir = std::env::temp_dir().join(format!("rota-demo-{}", std::process::id()));
    config.model_mapping = vec![
        ("claude-*".to_owned(), "claude-sonnet-4-5".to_owned()),
        ("gpt-4o".to_owned(), "gemini-3-pro-high".to_owned()),
    ];
    config
}

/// Starts the simulated upstream and the demo gateway on `listener`.
pub async fn start(
    listener: TcpListener,
) -> Result<(Running, SimHandle), Box<dyn std::error::Error + Send + Sync>> {
    let sim = Sim::start().await?;
    // The demo's short conversation is cached from 128 bytes on (two of the sim's 64-byte
    // blocks), so its second turn already reports cached tokens.
    sim.set_prompt_cache(CacheConfig {
        min_prefix_bytes: 128,
        ..CacheConfig::default()
    });
    let gateway = Gateway::new(demo_config(&sim.base_url()))?;
    let state = Arc::new(DemoState {
        sim: sim.clone(),
        app: gateway.state().clone(),
        keys: DEMO_ACCOUNTS.iter().map(|(e, _, k)| (*e, *k)).collect(),
    });
    let routes = Router::new()
        .route("/demo/rate-limit/{email}", post(rate_limit))
        .with_state(state);
    let running = gateway.merge(routes).serve(listener).await?;
    Ok((running, sim))
}

/// `POST /demo/rate-limit/{email}`: that account's next 3 upstream answers are 429 with a
/// 30 s `RetryInfo`.
async fn rate_limit(
    State(st): State<Arc<DemoState>>,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = crate::admin::denied(&st.app, &headers) {
        return r;
    }
    let Some(key) = st.keys.get(email.as_str()) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": format!("unknown demo account {email:?}")}}),
        );
    };
    let limit = RateLimit::new()
        .reason("RATE_LIMIT_EXCEEDED")
        .retry_info(Duration::from_secs(30));
    st.sim.script_next(key, 3, Behavior::RateLimit(limit));
    json_response(
        StatusCode::OK,
        &json!({"account": email, "scripted": "the next 3 upstream answers are 429 (retry in 30 s)"}),
    )
}

/// Runs the demo until `shutdown` completes.
pub async fn run(
    listen: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8045)));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let (running, _sim) = start(listener).await?;
    println!("{}", instructions(&running.base_url()));
    running.run_until(shutdown).await?;
    Ok(())
}

/// The console's address and the curl commands printed at start.
pub fn instructions(base: &str) -> String {
    let chat = |turn: &str| {
        format!(
            "curl -si {base}/v1/chat/completions -H 'content-type: application/json' \\\n  -d '{{\"model\":\"gpt-4o\",\"messages\":[{{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon for two in May: museums, food markets, fado and a day in Sintra, under 900 euros\"}}{turn}]}}'"
        )
    };
    let second = r#",{"role":"assistant","content":"Day 1: Alfama..."},{"role":"user","content":"Make day 2 cheaper"}"#;
    let admin = format!("-H 'authorization: Bearer {DEMO_ADMIN_TOKEN}'");
    format!(
        r#"
rota-gateway demo: simulated upstream, accounts ultra@demo.rota (ULTRA), pro1@ / pro2@demo.rota (PRO), free@demo.rota (FREE)
listening on {base}   client auth: open   admin token: {DEMO_ADMIN_TOKEN}
console: {base}/ui (token {DEMO_ADMIN_TOKEN})
model mapping: "gpt-4o" -> "gemini-3-pro-high", "claude-*" -> "claude-sonnet-4-5"

# 1. Two turns of one conversation: same X-Account-Email; the second says X-Rota-Decision: sticky
#    and its usage reports cached tokens (see cache_hit_ratio in /admin/accounts below)
{first}
{again}

# 2. Rate-limit the account that served it (next 3 upstream answers: 429, retry in 30 s) ...
curl -si -X POST {base}/demo/rate-limit/ultra@demo.rota {admin}
#    ... then the conversation again: another account, X-Rota-Decision: rotation, X-Rota-Attempts: 2
{again}

# 3. Admin API
curl -si {base}/admin/accounts {admin}
curl -si {base}/admin/scheduling {admin}
curl -si -X PUT {base}/admin/scheduling {admin} -H 'content-type: application/json' -d '{{"mode":"PerformanceFirst"}}'
curl -si -X PUT {base}/admin/fixed-account {admin} -H 'content-type: application/json' -d '{{"email":"pro2@demo.rota"}}'
curl -si -X PUT {base}/admin/fixed-account {admin} -H 'content-type: application/json' -d '{{"email":null}}'
curl -si -X POST {base}/admin/bindings/clear {admin}
curl -s {base}/metrics | grep ^rota_
"#,
        first = chat(""),
        again = chat(second),
    )
}
