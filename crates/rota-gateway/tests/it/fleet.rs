//! SPEC §8 fleet mode: two (and three) gateway replicas over real sockets on a real Redis —
//! the machine's (127.0.0.1:6379), each test under its own key prefix, or one the test starts
//! itself on a free port when it must stop it. Every affinity and propagation test also runs
//! the same traffic without `[fleet]`, and asserts that it then fails: the tests can fail.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use http::Method;
use rota::core::Mode;
use rota_gateway::{Config, Running};
use rota_redis::FleetConfig;
use rota_sim::{Behavior, RateLimit, Sim, SimHandle};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{ADMIN, Answer, accounts, chat_body, client, free_port, restart, send};

const MACHINE_REDIS: &str = "redis://127.0.0.1:6379/0";

/// A key prefix no other test (or run) uses.
fn prefix(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("it-{test}-{}-{n}:", std::process::id())
}

/// A sim and `n` gateway replicas on it, each tuned from the defaults (3 accounts, window
/// off so only bindings keep a conversation on its account), with `[fleet]` on `redis` (under
/// `prefix`) when given.
struct Fleet {
    sim: SimHandle,
    replicas: Vec<Running>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn fleet(n: usize, redis: Option<(&str, &str)>, tune: impl Fn(&mut Config)) -> Fleet {
    let sim = Sim::start().await.expect("sim");
    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(sim.base_url(), accounts());
        config.admin_token = Some(rota::core::Secret::new(ADMIN));
        config.state_dir = dir.path().to_owned();
        config.settings.window = Duration::ZERO;
        if let Some((url, prefix)) = redis {
            let mut f = FleetConfig::new(url);
            f.key_prefix = prefix.to_owned();
            config.fleet = Some(f);
        }
        tune(&mut config);
        replicas.push(restart(config).await);
        dirs.push(dir);
    }
    Fleet {
        sim,
        replicas,
        _dirs: dirs,
    }
}

impl Fleet {
    async fn chat(&self, replica: usize, body: &str) -> Answer {
        let base = self.replicas[replica].base_url();
        let headers = [("content-type", "application/json")];
        send(
            &client(),
            &base,
            Method::POST,
            "/v1/chat/completions",
            &headers,
            body,
        )
        .await
    }

    async fn admin(&self, replica: usize, method: Method, path: &str, body: &str) -> Answer {
        let auth = format!("Bearer {ADMIN}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let base = self.replicas[replica].base_url();
        send(&client(), &base, method, path, &headers, body).await
    }

    async fn status(&self, replica: usize) -> Value {
        self.admin(replica, Method::GET, "/admin/fleet", "")
            .await
            .json()
    }
}

/// A conversation's turn `n` (1-based): the same first message, `n` user messages.
fn turn(conversation: usize, n: usize) -> String {
    let mut messages = vec![
        json!({"role": "user", "content": format!("Conversation number {conversation}, please begin")}),
    ];
    for i in 1..n {
        messages.push(json!({"role": "assistant", "content": "Sure."}));
        messages.push(json!({"role": "user", "content": format!("Follow-up {i}")}));
    }
    json!({"model": "gpt-4o", "messages": messages}).to_string()
}

/// The share of turns 2..=3 served by the previous turn's account, with turns alternating
/// between replica 0 and replica 1.
async fn alternating_affinity(fleet: &Fleet, conversations: usize) -> f64 {
    let (mut kept, mut turns) = (0, 0);
    for batch in (0..conversations).collect::<Vec<_>>().chunks(20) {
        let runs = batch.iter().map(|&c| async move {
            let mut previous = String::new();
            let mut kept = 0;
            for n in 1..=3 {
                let res = fleet.chat((n + 1) % 2, &turn(c, n)).await;
                assert_eq!(res.status, 200, "{:?}", res.body);
                if n > 1 && res.account() == previous {
                    kept += 1;
                }
                previous = res.account().to_owned();
            }
            kept
        });
        for k in futures_util::future::join_all(runs).await {
            kept += k;
            turns += 2;
        }
    }
    f64::from(kept) / f64::from(turns)
}

#[tokio::test]
async fn conversations_alternating_between_replicas_stay_on_one_account() {
    let p = prefix("affinity");
    let shared = fleet(2, Some((MACHINE_REDIS, &p)), |_| {}).await;
    let affinity = alternating_affinity(&shared, 200).await;
    assert!(
        affinity >= 0.99,
        "with [fleet]: {affinity:.3} of turns kept their account"
    );

    let alone = fleet(2, None, |_| {}).await;
    let split = alternating_affinity(&alone, 200).await;
    assert!(
        split < 0.9,
        "without [fleet] the replicas must disagree ({split:.3}), or this test proves nothing"
    );
}

#[tokio::test]
async fn concurrent_first_turns_on_two_replicas_land_on_one_account() {
    let p = prefix("first");
    let fleet = fleet(2, Some((MACHINE_REDIS, &p)), |_| {}).await;
    // Put the replicas' rotation cursors out of step, so each alone would pick differently.
    fleet
        .chat(
            1,
            &chat_body("gpt-4o", "An opening conversation elsewhere", false),
        )
        .await;
    for c in 0..40 {
        let body = turn(1000 + c, 1);
        let (a, b) = tokio::join!(fleet.chat(0, &body), fleet.chat(1, &body));
        assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200));
        assert_eq!(
            a.account(),
            b.account(),
            "conversation {c}: one winner, both follow it"
        );
    }
}

/// Marks a@x (key `ka`) with a 30 s rate limit through replica 0, waits 50 ms, and returns
/// how many requests replica 1 then sent to a@x out of ten new conversations.
async fn sent_to_the_limited_account(fleet: &Fleet) -> usize {
    let limit = RateLimit::new().retry_info(Duration::from_secs(30));
    fleet.sim.script_next("ka", 1, Behavior::RateLimit(limit));
    let res = fleet
        .chat(
            0,
            &chat_body("gpt-4o", "Who is free right now, please?", false),
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.header("x-rota-attempts")),
        (200, "2")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    fleet.sim.clear_log();
    for c in 0..10 {
        let res = fleet.chat(1, &turn(2000 + c, 1)).await;
        assert_eq!(res.status, 200);
    }
    fleet.sim.requests_for("ka").len()
}

#[tokio::test]
async fn a_cooldown_marked_on_one_replica_holds_on_the_other_within_50ms() {
    let p = prefix("cooldown");
    let shared = fleet(2, Some((MACHINE_REDIS, &p)), |_| {}).await;
    assert_eq!(sent_to_the_limited_account(&shared).await, 0);
    let account = shared
        .admin(1, Method::GET, "/admin/accounts", "")
        .await
        .json();
    let remaining = account[0]["cooldowns"][0]["remaining_ms"]
        .as_u64()
        .unwrap_or(0);
    assert!((29_000..=30_000).contains(&remaining), "{account}");

    let alone = fleet(2, None, |_| {}).await;
    assert!(
        sent_to_the_limited_account(&alone).await > 0,
        "the control: alone, B knows nothing"
    );
}

/// Polls `check` on replica `r` until it holds, for at most `within`.
async fn holds_within(
    fleet: &Fleet,
    r: usize,
    within: Duration,
    path: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let v = fleet.admin(r, Method::GET, path, "").await.json();
        if check(&v) {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "{path} on replica {r} after {:?}: {v}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn admin_changes_on_one_replica_hold_on_every_replica_within_100ms() {
    let p = prefix("admin");
    let fleet = fleet(3, Some((MACHINE_REDIS, &p)), |_| {}).await;
    let within = Duration::from_millis(100);
    let put = fleet
        .admin(
            0,
            Method::PUT,
            "/admin/scheduling",
            r#"{"mode":"PerformanceFirst","max_wait_seconds":7}"#,
        )
        .await;
    assert_eq!(put.status, 200);
    for r in 1..3 {
        holds_within(&fleet, r, within, "/admin/scheduling", |v| {
            v["mode"] == "PerformanceFirst" && v["max_wait_seconds"] == 7
        })
        .await;
    }
    fleet
        .admin(1, Method::PUT, "/admin/fixed-account", r#"{"email":"c@x"}"#)
        .await;
    holds_within(&fleet, 2, within, "/admin/fixed-account", |v| {
        v["email"] == "c@x"
    })
    .await;
    let res = fleet.chat(0, &turn(3000, 1)).await;
    assert_eq!(
        res.account(),
        "c@x",
        "replica 0 follows the fixed account set on replica 1"
    );
    fleet
        .admin(2, Method::PUT, "/admin/fixed-account", r#"{"email":null}"#)
        .await;
    holds_within(&fleet, 0, within, "/admin/fixed-account", |v| {
        v["email"].is_null()
    })
    .await;

    fleet
        .admin(0, Method::POST, "/admin/accounts/b@x/disable", "")
        .await;
    for r in 1..3 {
        holds_within(&fleet, r, within, "/admin/accounts", |v| {
            v[1]["disabled"] == true
        })
        .await;
    }
    fleet
        .admin(2, Method::POST, "/admin/accounts/b@x/enable", "")
        .await;
    holds_within(&fleet, 0, within, "/admin/accounts", |v| {
        v[1]["disabled"] == false
    })
    .await;

    // Balance again, a conversation bound everywhere, then cleared from one replica.
    fleet
        .admin(0, Method::PUT, "/admin/scheduling", r#"{"mode":"Balance"}"#)
        .await;
    holds_within(&fleet, 1, within, "/admin/scheduling", |v| {
        v["mode"] == "Balance"
    })
    .await;
    fleet.chat(1, &turn(3001, 1)).await;
    fleet.chat(1, &turn(3001, 2)).await;
    let cleared = fleet
        .admin(0, Method::POST, "/admin/bindings/clear", "")
        .await
        .json();
    assert!(cleared["cleared"].as_u64().unwrap_or(0) >= 1, "{cleared}");
    holds_within(&fleet, 1, within, "/admin/fleet", |v| {
        v["cached_bindings"] == 0
    })
    .await;
}

#[tokio::test]
async fn a_responses_chain_created_through_one_replica_continues_through_another() {
    let p = prefix("chain");
    let fleet = fleet(2, Some((MACHINE_REDIS, &p)), |c| {
        c.settings.mode = Mode::PerformanceFirst
    })
    .await;
    let headers = [("content-type", "application/json")];
    let post = |r: usize, body: Value| {
        let base = fleet.replicas[r].base_url();
        async move {
            send(
                &client(),
                &base,
                Method::POST,
                "/v1/responses",
                &headers,
                &body.to_string(),
            )
            .await
        }
    };
    let first = post(
        0,
        json!({"model": "gpt-4o", "input": "Begin a chain on one replica"}),
    )
    .await;
    let owner = first.account().to_owned();
    let mut previous = first.json()["id"].as_str().unwrap_or("").to_owned();
    for (r, input) in [(1, "and go on"), (0, "and on"), (1, "and end")] {
        let res = post(
            r,
            json!({"model": "gpt-4o", "previous_response_id": previous, "input": input}),
        )
        .await;
        assert_eq!(res.status, 200, "replica {r}: {:?}", res.body);
        assert_eq!(res.account(), owner, "replica {r}");
        previous = res.json()["id"].as_str().unwrap_or("").to_owned();
    }
}

/// A `redis-server` of the test's own, on a free port, that it can stop and start again.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw", "GET", key])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (!text.is_empty()).then_some(text)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn remaining_ms(accounts: &Value, index: usize) -> u64 {
    accounts[index]["cooldowns"]
        .as_array()
        .and_then(|c| c.iter().filter_map(|c| c["remaining_ms"].as_u64()).max())
        .unwrap_or(0)
}

#[tokio::test]
async fn redis_stopped_mid_load_and_restarted_loses_no_request_and_no_cooldown() {
    let mut redis = OwnRedis::start();
    let p = prefix("outage");
    let url = redis.url();
    let fleet = fleet(2, Some((&url, &p)), |_| {}).await;
    let mut served = 0;
    let mut load = async |fleet: &Fleet, from: usize| {
        for c in from..from + 60 {
            for n in 1..=2 {
                let res = fleet.chat((c + n) % 2, &turn(c, n)).await;
                assert_eq!(res.status, 200, "conversation {c} turn {n}: {:?}", res.body);
                served += 1;
            }
        }
    };
    // a@x cools for 60 s, marked through replica 0 while Redis is up.
    let limit = RateLimit::new().retry_info(Duration::from_secs(60));
    fleet.sim.script_next("ka", 1, Behavior::RateLimit(limit));
    load(&fleet, 0).await;
    let key_a = format!("{{{p}}}c:a@x|*");
    let before: u64 = redis
        .get(&key_a)
        .and_then(|v| v.split(' ').next()?.parse().ok())
        .expect("a@x's cooldown in Redis");

    redis.kill();
    // b@x cools for 120 s on replica 1 while Redis is away: nobody else can know yet.
    let limit = RateLimit::new().retry_info(Duration::from_secs(120));
    fleet.sim.script_next("kb", 1, Behavior::RateLimit(limit));
    load(&fleet, 100).await;
    for r in 0..2 {
        assert_eq!(
            fleet.status(r).await["connected"],
            false,
            "replica {r} noticed"
        );
    }
    redis.restart();
    let start = Instant::now();
    for r in 0..2 {
        while fleet.status(r).await["connected"] != true {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "replica {r} did not come back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    load(&fleet, 200).await;
    assert_eq!(served, 360, "every client request was served");

    // The way back pushed both cooldowns, neither shortened, and each replica has both.
    let after: u64 = redis
        .get(&key_a)
        .and_then(|v| v.split(' ').next()?.parse().ok())
        .expect("a@x's cooldown pushed back");
    assert!(
        after >= before,
        "a@x's deadline went from {before} to {after}"
    );
    assert!(
        redis.get(&format!("{{{p}}}c:b@x|*")).is_some(),
        "b@x's cooldown pushed back"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    for r in 0..2 {
        loop {
            let accounts = fleet
                .admin(r, Method::GET, "/admin/accounts", "")
                .await
                .json();
            if remaining_ms(&accounts, 1) > 100_000 && remaining_ms(&accounts, 0) > 40_000 {
                break;
            }
            assert!(Instant::now() < deadline, "replica {r}: {accounts}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A TCP proxy to `upstream` that, once `slow` is set, holds every chunk `delay` long.
async fn slow_proxy(
    upstream: u16,
    delay: Duration,
    slow: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let slow_up = slow.clone();
            let slow_down = slow.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    if slow_up.load(Ordering::Relaxed) {
                        tokio::time::sleep(delay).await;
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n @ 1..) = sr.read(&mut buf).await {
                    if slow_down.load(Ordering::Relaxed) {
                        tokio::time::sleep(delay).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_slow_redis_delays_no_request_beyond_op_timeout() {
    let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = slow_proxy(6379, Duration::from_secs(2), slow.clone()).await;
    let url = format!("redis://127.0.0.1:{port}/0");
    let p = prefix("slow");
    let fleet = fleet(2, Some((&url, &p)), |_| {}).await;
    assert_eq!(fleet.chat(0, &turn(4000, 1)).await.status, 200);
    slow.store(true, Ordering::Relaxed);
    for c in 0..20 {
        let start = Instant::now();
        let res = fleet.chat(c % 2, &turn(4100 + c, 1)).await;
        let took = start.elapsed();
        assert_eq!(res.status, 200);
        // op_timeout is 50 ms; Redis now takes 2 s per answer. Generous for a busy CI host.
        assert!(
            took < Duration::from_millis(1000),
            "conversation {c} took {took:?}"
        );
    }
    let status = fleet.status(0).await;
    assert_eq!(status["connected"], false, "{status}");
    assert!(status["errors"].as_u64().unwrap_or(0) >= 1, "{status}");
}
