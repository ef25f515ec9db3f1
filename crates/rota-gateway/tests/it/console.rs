//! The admin console (`GET /ui`) driven in headless Chromium through chromedriver, against
//! the real gateway on real sockets with rota-sim upstream; and the console's headers and the
//! live feed (`GET /admin/events`) over plain HTTP.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the
//! browser test fails and says so. Screenshots go to `target/console/`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use rota_sim::{Behavior, RateLimit};
use serde_json::{Value, json};

use crate::common::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ENTER: char = '\u{e007}';

/// `target/console/` of whoever runs the tests.
fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("console");
    std::fs::create_dir_all(&dir).expect("create target/console");
    dir
}

/// chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and a fresh headless Chromium through it.
async fn browser(profile: &Path) -> (Driver, Client) {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the console's browser test needs Debian's {package} \
             (apt-get install -y chromium chromium-driver; .ci/run installs them)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    (driver, client)
}

/// The text of `css` (empty when absent or hidden).
async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(el) => el.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (at most 10 s) until the text of `css` satisfies `ok`; returns it.
async fn text_until(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = text(c, css).await;
        if ok(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "{css}: still {t:?} after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most 10 s) until the input `css` holds `want`.
async fn value_until(c: &Client, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let el = c.find(Locator::Css(css)).await.expect(css);
        let v = el.prop("value").await.expect("value").unwrap_or_default();
        if v == want {
            return;
        }
        assert!(Instant::now() < deadline, "{css}: still {v:?} after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn enabled(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .is_enabled()
        .await
        .expect("enabled")
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(name), png).expect("write the screenshot");
}

/// The seconds a cooldown cell shows ("29.4 s (rate_limited)" → 29.4).
fn seconds(cell: &str) -> f64 {
    cell.split(" s")
        .next()
        .and_then(|n| n.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seconds in {cell:?}"))
}

/// Runs `body` with a browser, then closes the browser and chromedriver whatever happened.
async fn with_browser<F, Fut>(body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let profile = tempfile::tempdir().expect("profile dir");
    let (driver, client) = browser(profile.path()).await;
    let outcome = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
    let _ = client.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_headless_chromium() {
    let started = Instant::now();
    let env = start(|_, _| {}).await;
    let off = start(|c, _| c.admin_token = None).await;
    with_browser(|c| async move {
        let base = env.gw.base_url();
        c.goto(&format!("{base}/ui")).await.expect("open /ui");
        assert_eq!(c.title().await.expect("title"), "rota console");

        // Log in: a wrong token is refused and asked for again; then the right one (typed
        // and sent with Enter, as from the keyboard).
        let token = c.find(Locator::Css("#token")).await.expect("token input");
        token.send_keys("wrong-token").await.expect("type");
        click(&c, "#login-submit").await;
        text_until(&c, "#login-error", |t| t.contains("Wrong token")).await;
        screenshot(&c, "login.png").await;
        token.clear().await.expect("clear");
        token
            .send_keys(&format!("{ADMIN}{ENTER}"))
            .await
            .expect("type");
        text_until(&c, "#acc-body", |t| t.contains("c@x")).await;
        let kept: Value = c
            .execute(
                "return [sessionStorage.getItem('rota.adminToken'), localStorage.length, document.cookie]",
                vec![],
            )
            .await
            .expect("storage");
        assert_eq!(kept, json!([ADMIN, 0, ""]), "the token lives in sessionStorage only");
        text_until(&c, "#feed-state", |t| t.contains("live")).await;

        // Two conversations after the page opened: the feed shows them, and they bind.
        let one = env.chat("Console test: first conversation").await;
        let two = env.chat("Console test: second conversation").await;
        assert_eq!(one.status, 200);
        assert_eq!(two.status, 200);
        let feed = text_until(&c, "#feed-body", |t| t.lines().count() >= 2).await;
        assert!(feed.contains("chat_completions"), "{feed}");
        assert!(feed.contains(one.account()), "{feed}");

        // Clear bindings: the count.
        click(&c, "#clear-bindings").await;
        text_until(&c, "#clear-msg", |t| t == "Cleared 2 bindings").await;
        // Again, from the keyboard (Enter on the focused button).
        c.find(Locator::Css("#clear-bindings"))
            .await
            .expect("button")
            .send_keys(&ENTER.to_string())
            .await
            .expect("Enter");
        text_until(&c, "#clear-msg", |t| t == "Cleared 0 bindings").await;

        // Mode: max wait is for CacheFirst only, and saved with it; then PerformanceFirst,
        // applied, is what the API says.
        let mode = c.find(Locator::Css("#mode")).await.expect("mode");
        assert!(!enabled(&c, "#max-wait").await, "Balance: no max wait");
        mode.select_by_value("CacheFirst").await.expect("select");
        assert!(enabled(&c, "#max-wait").await);
        let wait = c.find(Locator::Css("#max-wait")).await.expect("max wait");
        wait.clear().await.expect("clear");
        wait.send_keys("5").await.expect("type");
        click(&c, "#sched-save").await;
        text_until(&c, "#sched-msg", |t| t.starts_with("Saved: CacheFirst")).await;
        let s = env.admin(Method::GET, "/admin/scheduling", "").await.json();
        assert_eq!(
            s,
            json!({"mode": "CacheFirst", "max_wait_seconds": 5, "window_seconds": 60})
        );
        mode.select_by_value("PerformanceFirst").await.expect("select");
        assert!(!enabled(&c, "#max-wait").await);
        click(&c, "#sched-save").await;
        text_until(&c, "#sched-msg", |t| t.starts_with("Saved: PerformanceFirst")).await;
        let s = env.admin(Method::GET, "/admin/scheduling", "").await.json();
        assert_eq!(
            s,
            json!({"mode": "PerformanceFirst", "max_wait_seconds": 5, "window_seconds": 60})
        );
        // A change made elsewhere (another operator, another replica) shows in the card.
        let put = env
            .admin(Method::PUT, "/admin/scheduling", r#"{"window_seconds":42}"#)
            .await;
        assert_eq!(put.status, 200);
        value_until(&c, "#window", "42").await;
        // A value the API refuses: its message shows, and nothing changed.
        let window = c.find(Locator::Css("#window")).await.expect("window");
        window.clear().await.expect("clear");
        window.send_keys("400000000").await.expect("type");
        click(&c, "#sched-save").await;
        text_until(&c, "#sched-msg", |t| {
            t.starts_with("Failed: window_seconds must be an integer")
        })
        .await;
        let s = env.admin(Method::GET, "/admin/scheduling", "").await.json();
        assert_eq!(s["window_seconds"], 42);
        assert_eq!(
            c.find(Locator::Css("#mode")).await.expect("mode").prop("value").await.expect("value"),
            Some("PerformanceFirst".to_owned())
        );

        // Fixed account b@x from the drop-down: the next request is served by it.
        let choice = c.find(Locator::Css("#fixed-account")).await.expect("drop-down");
        choice.select_by_value("b@x").await.expect("select");
        click(&c, "#fixed-on").await;
        text_until(&c, "#fixed-msg", |t| t.contains("b@x")).await;
        let fixed = env.chat("Console test: fixed account").await;
        assert_eq!(fixed.status, 200);
        assert_eq!(fixed.account(), "b@x");

        // A 429 for b@x: the request rotates, and b@x's row counts down its cooldown.
        let limit = RateLimit::new()
            .reason("RATE_LIMIT_EXCEEDED")
            .retry_info(Duration::from_secs(30));
        env.sim.script_next("kb", 1, Behavior::RateLimit(limit));
        let rotated = env.chat("Console test: rate-limited").await;
        assert_eq!(rotated.status, 200);
        assert_ne!(rotated.account(), "b@x");
        click(&c, "#fixed-on").await;
        text_until(&c, "#fixed-msg", |t| t.starts_with("Off")).await;
        let f = env.admin(Method::GET, "/admin/fixed-account", "").await.json();
        assert_eq!(f, json!({"email": null}));
        let cell = "#acc-body tr[data-email='b@x'] .cooldown";
        let first = text_until(&c, cell, |t| t.contains(" s (rate_limited)")).await;
        assert_eq!(text(&c, "#acc-body tr[data-email='b@x'] .status").await, "cooling");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = text(&c, cell).await;
        let (a, b) = (seconds(&first), seconds(&second));
        assert!(a <= 30.0 && b < a - 0.5 && b > a - 2.5, "{first:?} then {second:?}");
        let feed = text_until(&c, "#feed-body", |t| t.contains("rotation")).await;
        assert!(feed.contains("b@x"), "{feed}");
        screenshot(&c, "console.png").await;

        // Clear b@x's cooldowns from its row.
        click(&c, "#acc-body tr[data-email='b@x'] button.clear").await;
        text_until(&c, cell, |t| t == "—").await;
        let b = env.account_json("b@x").await;
        assert_eq!(b["cooldowns"], json!([]));

        // Disable c@x from its row (the reason shows), then enable it again.
        click(&c, "#acc-body tr[data-email='c@x'] button.toggle").await;
        text_until(&c, "#acc-body tr[data-email='c@x'] .reason", |t| {
            t == "disabled by admin"
        })
        .await;
        assert_eq!(env.account_json("c@x").await["disabled"], true);
        click(&c, "#acc-body tr[data-email='c@x'] button.toggle").await;
        text_until(&c, "#acc-body tr[data-email='c@x'] .status", |t| t == "ready").await;
        assert_eq!(env.account_json("c@x").await["disabled"], false);

        // A token that stops working (401) is forgotten and asked for again.
        c.execute("sessionStorage.setItem('rota.adminToken', 'stale')", vec![])
            .await
            .expect("script");
        c.refresh().await.expect("reload");
        text_until(&c, "#login-error", |t| t.contains("refused")).await;

        // "Forget token" forgets it.
        c.find(Locator::Css("#token"))
            .await
            .expect("token input")
            .send_keys(&format!("{ADMIN}{ENTER}"))
            .await
            .expect("type");
        text_until(&c, "#acc-body", |t| t.contains("c@x")).await;
        click(&c, "#forget").await;
        text_until(&c, "#login-h", |t| t == "Admin token").await;
        let kept = c
            .execute("return sessionStorage.length", vec![])
            .await
            .expect("script");
        assert_eq!(kept, json!(0));

        // No admin token configured: the page says how to turn the admin API on.
        c.goto(&format!("{}/ui", off.gw.base_url())).await.expect("open /ui");
        text_until(&c, "#off", |t| t.contains("admin_token")).await;
        screenshot(&c, "admin-off.png").await;

        demo_binary(&c).await;
    })
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "the browser test took {took:?}"
    );
}

/// The real binary in demo mode: it prints the console's address; the console shows the demo
/// accounts, a demo rate limit and the feed (the README's screenshot); SIGTERM with the feed
/// open still stops it at once (open feeds end first).
async fn demo_binary(c: &Client) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rota-gateway"))
        .args(["--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Driver(child);
    let base = format!("http://127.0.0.1:{port}");
    let printed = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let found = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("console:"));
        lines.for_each(drop); // keep the pipe open until the demo exits
        found
    });
    let wanted = format!("console: {base}/ui (token demo-admin)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the demo did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.goto(&format!("{base}/ui"))
        .await
        .expect("open the demo's /ui");
    c.find(Locator::Css("#token"))
        .await
        .expect("token input")
        .send_keys(&format!("demo-admin{ENTER}"))
        .await
        .expect("type");
    text_until(c, "#feed-state", |t| t.contains("live")).await;
    let http = client();
    let auth = [("authorization", "Bearer demo-admin")];
    for first in [
        "Plan a three-day trip to Lisbon",
        "Summarise this design doc",
    ] {
        assert_eq!(
            post_chat(&http, &base, &chat_body("gpt-4o", first, false))
                .await
                .status,
            200
        );
    }
    let limit = send(
        &http,
        &base,
        Method::POST,
        "/demo/rate-limit/ultra@demo.rota",
        &auth,
        "",
    )
    .await;
    assert_eq!(limit.status, 200);
    let rotated = post_chat(
        &http,
        &base,
        &chat_turn2("gpt-4o", "Plan a three-day trip to Lisbon"),
    )
    .await;
    assert_eq!(rotated.header("x-rota-decision"), "rotation");
    let claude = chat_body("claude-opus-4", "Review this pull request", false);
    assert_eq!(post_chat(&http, &base, &claude).await.status, 200);
    text_until(
        c,
        "#acc-body tr[data-email='ultra@demo.rota'] .cooldown",
        |t| t.contains(" s ("),
    )
    .await;
    text_until(c, "#feed-body", |t| t.lines().count() >= 4).await;
    screenshot(c, "demo.png").await;

    let pid = demo.0.id().to_string();
    let stopped = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut demo = demo;
    let status = tokio::task::spawn_blocking(move || {
        let status = demo.0.wait();
        (demo, status)
    })
    .await
    .expect("join")
    .1
    .expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "an open feed must not hold the shutdown up: {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        printed.await.expect("stdout").as_deref(),
        Some(wanted.as_str())
    );
}

#[tokio::test]
async fn console_headers_and_the_event_stream() {
    let env = start(|_, _| {}).await;
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let res = env.send(Method::GET, path, &[], "").await;
        assert_eq!(res.status, 200, "{path}");
        assert!(res.header("content-type").starts_with(kind), "{path}");
        assert_eq!(res.header("x-content-type-options"), "nosniff");
        let csp = res.header("content-security-policy");
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
    }
    let page = env.send(Method::GET, "/ui", &[], "").await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline code"
    );

    // The feed needs the admin token (and is off with the admin API).
    let missing = env.send(Method::GET, "/admin/events", &[], "").await;
    assert_eq!(missing.status, 401);
    let wrong = [("authorization", "Bearer not-the-token")];
    let wrong = env.send(Method::GET, "/admin/events", &wrong, "").await;
    assert_eq!(wrong.status, 401);
    let off = start(|c, _| c.admin_token = None).await;
    let auth = format!("Bearer {ADMIN}");
    let off = off
        .send(
            Method::GET,
            "/admin/events",
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(off.status, 404);

    // One event per finished request, with its facts.
    let req = Request::get(format!("{}/admin/events", env.gw.base_url()))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let res = env.client.request(req).await.expect("answer");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let answer = env.chat("An event for the live feed, please").await;
    let bad = env
        .send(Method::POST, "/v1/chat/completions", &[], "nope")
        .await;
    assert_eq!(bad.status, 400);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.matches("data: ").count() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .expect("events in time")
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let events: Vec<Value> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("JSON"))
        .collect();
    let ok = &events[0];
    assert_eq!(ok["route"], "chat_completions");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["account"], answer.account());
    assert_eq!(ok["decision"], answer.header("x-rota-decision"));
    assert_eq!(ok["attempts"], 1);
    assert_eq!(ok["model"], answer.header("x-mapped-model"));
    assert!(
        ok["session"]
            .as_str()
            .is_some_and(|s| s.chars().count() <= 12)
    );
    assert!(ok["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(events[1]["status"], 400);
    assert_eq!(events[1]["account"], Value::Null);
}
