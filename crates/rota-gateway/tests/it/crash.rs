//! The real binary killed with SIGKILL while admin changes are being written: after a restart
//! the state file is whole, equals an acknowledged state (or the one in flight), and no temp
//! file is left.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use rota_sim::{Sim, SimHandle};
use serde_json::{Value, json};

use crate::common::*;

/// Kills the gateway when dropped, so a failing test leaves no process behind.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes a config for `sim` and `state_dir` on a free port and starts the binary on it.
async fn spawn(sim: &SimHandle, dir: &Path) -> (Gateway, String) {
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\nstate_dir = {state:?}\nworkers = 2\n\n\
         [auth]\nadmin_token = \"{ADMIN}\"\n\n\
         [upstream]\nbase_url = \"{base}\"\n\n\
         [[accounts]]\nemail = \"a@x\"\napi_key = \"ka\"\n\n\
         [[accounts]]\nemail = \"b@x\"\napi_key = \"kb\"\n",
        state = dir.join("state"),
        base = sim.base_url(),
    );
    let path = dir.join("rota.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rota-gateway"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let gw = Gateway(child);
    let addr = format!("127.0.0.1:{port}");
    tokio::time::timeout(Duration::from_secs(20), async {
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the binary listens");
    (gw, format!("http://{addr}"))
}

/// One admin request; `None` when the gateway is gone (connection refused or reset).
async fn admin(base: &str, method: Method, path: &str, body: &str) -> Option<(u16, Value)> {
    let req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), client().request(req))
        .await
        .ok()?
        .ok()?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.ok()?.to_bytes();
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// What the state file should say: b@x's disabled reason and CacheFirst's max wait.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    disabled_b: Option<String>,
    max_wait: u64,
}

impl Model {
    fn of_file(v: &Value) -> Self {
        assert_eq!(v["version"], 1, "{v}");
        let disabled = v["disabled"].as_object().expect("disabled map");
        assert!(disabled.keys().all(|k| k == "b@x"), "{v}");
        Self {
            disabled_b: v["disabled"]["b@x"].as_str().map(str::to_owned),
            max_wait: v["scheduling"]["max_wait_seconds"]
                .as_u64()
                .expect("max wait"),
        }
    }
}

/// The `i`th change of the loop: disable b@x, enable it, or set the max wait.
fn change(i: usize, m: &mut Model) -> (Method, &'static str, String) {
    match i % 3 {
        0 => {
            let reason = format!("r{i}");
            m.disabled_b = Some(reason.clone());
            let body = json!({ "reason": reason }).to_string();
            (Method::POST, "/admin/accounts/b@x/disable", body)
        }
        1 => {
            m.disabled_b = None;
            (Method::POST, "/admin/accounts/b@x/enable", String::new())
        }
        _ => {
            m.max_wait = i as u64;
            let body = json!({ "max_wait_seconds": i }).to_string();
            (Method::PUT, "/admin/scheduling", body)
        }
    }
}

fn temp_files(state: &Path) -> Vec<String> {
    std::fs::read_dir(state)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".state.json.tmp-"))
        .collect()
}

#[tokio::test]
async fn sigkill_during_admin_writes_leaves_an_acknowledged_state_and_no_temp_file() {
    let sim = Sim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (mut gw, base) = spawn(&sim, dir.path()).await;

    // states[i]: the state once change i is made (states[0]: before any).
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let (acked, base) = (Arc::clone(&acked), base.clone());
        async move {
            let mut model = Model {
                disabled_b: None,
                max_wait: 60,
            };
            let mut states = vec![model.clone()];
            for i in 0.. {
                let (method, path, body) = change(i, &mut model);
                states.push(model.clone());
                match admin(&base, method, path, &body).await {
                    Some((200, _)) => acked.store(i + 1, Ordering::SeqCst),
                    Some((status, body)) => panic!("change {i}: {status} {body}"),
                    None => break,
                }
            }
            states
        }
    });
    tokio::time::timeout(Duration::from_secs(30), async {
        while acked.load(Ordering::SeqCst) < 40 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("admin changes are acknowledged");
    gw.0.kill().unwrap(); // SIGKILL, in the middle of the loop
    gw.0.wait().unwrap();
    let states = writer.await.unwrap();
    let n = acked.load(Ordering::SeqCst);
    // Acknowledged: changes 0..n. In flight when killed: change n (maybe written).
    let allowed = &states[n..(n + 2).min(states.len())];

    let text = std::fs::read(state.join("state.json")).expect("a state file");
    let file: Value = serde_json::from_slice(&text).expect("the state file is whole JSON");
    let on_disk = Model::of_file(&file);
    assert!(
        allowed.contains(&on_disk),
        "{on_disk:?} is neither the last acknowledged state nor the one in flight: {allowed:?}"
    );

    // A stale temp file of an earlier crash, to be sure the start removes them.
    std::fs::write(state.join(".state.json.tmp-1"), b"{\"version\":1,").unwrap();
    let (_gw, base) = spawn(&sim, dir.path()).await;
    assert_eq!(temp_files(&state), Vec::<String>::new());
    let restarted = std::fs::read(state.join("state.json")).unwrap();
    assert_eq!(restarted, text, "the restart did not rewrite the state");

    let (status, accounts) = admin(&base, Method::GET, "/admin/accounts", "")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let b = accounts
        .as_array()
        .and_then(|l| l.iter().find(|a| a["email"] == "b@x"))
        .cloned()
        .unwrap();
    assert_eq!(b["disabled_reason"].as_str(), on_disk.disabled_b.as_deref());
    let (_, sched) = admin(&base, Method::GET, "/admin/scheduling", "")
        .await
        .unwrap();
    assert_eq!(sched["max_wait_seconds"], on_disk.max_wait);
}
