//! The real binary: serves on its worker threads, and SIGTERM stops it cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use rota_sim::Sim;

use crate::common::*;

#[tokio::test]
async fn the_binary_serves_on_its_workers_and_exits_cleanly_on_sigterm() {
    let sim = Sim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\nstate_dir = {state:?}\nworkers = 2\n\n\
         [upstream]\nbase_url = \"{base}\"\n\n\
         [[accounts]]\nemail = \"a@x\"\napi_key = \"ka\"\n\n\
         [[accounts]]\nemail = \"b@x\"\napi_key = \"kb\"\n",
        state = dir.path().join("state"),
        base = sim.base_url(),
    );
    let path = dir.path().join("rota.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rota-gateway"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let addr = format!("127.0.0.1:{port}");
    let up = tokio::time::timeout(Duration::from_secs(20), async {
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if up.is_err() {
        let _ = child.kill();
        panic!("the binary did not listen on {addr}");
    }

    // Two clients, two connections: one per worker.
    let body = chat_body("gpt-4o", "A question for the real binary", false);
    let mut served = Vec::new();
    for client in [client(), client()] {
        let res = post_chat(&client, &base, &body).await;
        assert_eq!(res.status, 200);
        served.push(res.account().to_owned());
    }
    assert_eq!(served[0], served[1], "one pool behind both workers");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
}
