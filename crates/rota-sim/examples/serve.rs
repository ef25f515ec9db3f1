//! Serves rota-sim alone, for trying a client (an SDK, curl) against it directly.
//!
//! `cargo run -p rota-sim --example serve -- [ADDR] [--lenient] [--control ADDR]` (default
//! `127.0.0.1:9100`): every key answers normally; `--lenient` accepts a credential in any
//! header. Port `0` picks a free port; the addresses are printed on stdout.
//!
//! `--control ADDR` also serves a small HTTP API that scripts the sim from another process
//! (the Python SDK suite in `tests/sdk` uses it):
//!
//! - `POST /script/{key}` with `{"status": 429, "times": 2, "retry_after_secs": 1.5,
//!   "retry_after_header": 2, "reason": "RATE_LIMIT_EXCEEDED", "message": "…"}`: the next
//!   `times` requests with credential `key` get that answer ([`SimHandle::script_next`]);
//!   without `times`, it becomes the key's default ([`SimHandle::script`]). `status` 200 is
//!   a normal answer; 429 a [`RateLimit`] (`retry_after_secs` as a `RetryInfo.retryDelay`,
//!   `retry_after_header` as a `Retry-After` header); any other code a [`Behavior::Status`].
//! - `POST /reset`: every key scripted through this API answers normally again; the request
//!   log and the stored objects are cleared.
//! - `GET /requests[?key=K]`: the recorded API requests (method, path, query, key, account,
//!   model, status, header names and values, body length, milliseconds since start).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use rota_sim::{Behavior, RateLimit, Recorded, Sim, SimHandle, account_id};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9100));
    let mut lenient = false;
    let mut control: Option<SocketAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--lenient" => lenient = true,
            "--control" => control = Some(args.next().ok_or("--control needs ADDR")?.parse()?),
            _ => addr = arg.parse()?,
        }
    }
    let sim = Sim::start_on(addr).await?;
    sim.strict_credentials(!lenient);
    println!("rota-sim listening on {}", sim.base_url());
    if let Some(control) = control {
        let listener = tokio::net::TcpListener::bind(control).await?;
        println!("rota-sim control on http://{}", listener.local_addr()?);
        let state = Control {
            sim: sim.clone(),
            scripted: Arc::default(),
            started: Instant::now(),
        };
        let app = axum::Router::new()
            .route("/script/{key}", post(script))
            .route("/reset", post(reset))
            .route("/requests", get(requests))
            .with_state(state);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("rota-sim control stopped: {error}");
            }
        });
    }
    tokio::signal::ctrl_c().await?;
    sim.shutdown();
    Ok(())
}

/// State of the control API.
#[derive(Clone)]
struct Control {
    sim: SimHandle,
    /// Every key scripted through the API, so `/reset` can restore them.
    scripted: Arc<Mutex<BTreeSet<String>>>,
    started: Instant,
}

/// Body of `POST /script/{key}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    status: u16,
    times: Option<usize>,
    retry_after_secs: Option<f64>,
    retry_after_header: Option<u64>,
    reason: Option<String>,
    message: Option<String>,
}

impl Script {
    fn behavior(self) -> Result<Behavior, String> {
        if self.status != 429 {
            if self.retry_after_secs.is_some() || self.retry_after_header.is_some() {
                return Err("retry_after_* only go with status 429".into());
            }
            return Ok(match self.status {
                200 => Behavior::Ok,
                code => Behavior::Status(code),
            });
        }
        let mut rl = RateLimit::new();
        if let Some(reason) = self.reason {
            rl = rl.reason(reason);
        }
        if let Some(secs) = self.retry_after_secs {
            let delay = Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?;
            rl = rl.retry_info(delay);
        }
        if let Some(secs) = self.retry_after_header {
            rl = rl.retry_after(secs);
        }
        if let Some(message) = self.message {
            rl = rl.message(message);
        }
        Ok(Behavior::RateLimit(rl))
    }
}

async fn script(
    State(c): State<Control>,
    Path(key): Path<String>,
    Json(body): Json<Script>,
) -> (StatusCode, Json<Value>) {
    let times = body.times;
    let behavior = match body.behavior() {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))),
    };
    if let Ok(mut keys) = c.scripted.lock() {
        keys.insert(key.clone());
    }
    match times {
        Some(n) => c.sim.script_next(&key, n, behavior),
        None => c.sim.script(&key, behavior),
    }
    (StatusCode::OK, Json(json!({ "key": key, "times": times })))
}

async fn reset(State(c): State<Control>) -> Json<Value> {
    let keys = c
        .scripted
        .lock()
        .map(|keys| keys.clone())
        .unwrap_or_default();
    for key in &keys {
        c.sim.script(key, Behavior::Ok);
    }
    c.sim.clear_log();
    c.sim.clear_objects();
    Json(json!({ "reset": keys.len() }))
}

#[derive(Deserialize)]
struct Filter {
    key: Option<String>,
}

async fn requests(State(c): State<Control>, Query(filter): Query<Filter>) -> Json<Value> {
    let records = match &filter.key {
        Some(key) => c.sim.requests_for(key),
        None => c.sim.requests(),
    };
    let list = records
        .iter()
        .map(|r| record(r, c.started))
        .collect::<Vec<_>>();
    Json(Value::Array(list))
}

fn record(r: &Recorded, started: Instant) -> Value {
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), Value::String(value))
        })
        .collect();
    json!({
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "key": r.key,
        "account": r.key.as_deref().map(account_id),
        "model": r.model,
        "status": r.status,
        "headers": headers,
        "body_len": r.body.len(),
        "ms": r.at.saturating_duration_since(started).as_secs_f64() * 1000.0,
    })
}
