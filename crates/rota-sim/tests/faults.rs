//! Connection-level faults of the simulated upstream, seen by a plain hyper client and by raw
//! sockets.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rota_sim::{Behavior, Grant, Sim, SimHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}"#;
const STREAM: &str = r#"{"model":"gpt-4o","stream":true,"messages":[]}"#;
/// How long a "nothing more arrives" check waits.
const QUIET: Duration = Duration::from_millis(300);
/// Generous bound for anything that should happen promptly.
const PROMPT: Duration = Duration::from_secs(2);

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request")
}

fn chat(sim: &SimHandle, key: &str, body: &str) -> Request<Full<Bytes>> {
    request(
        Method::POST,
        &format!("{}/v1/chat/completions", sim.base_url()),
        &[("authorization", &format!("Bearer {key}"))],
        body,
    )
}

/// Sends `req`, failing the test if no outcome arrives within [`PROMPT`].
async fn send(
    client: &Http,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    timeout(PROMPT, client.request(req))
        .await
        .expect("an outcome within the bound")
}

/// A raw HTTP/1.1 chat request with `key` on a fresh socket.
async fn raw_chat(sim: &SimHandle, key: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(sim.addr()).await.expect("connect");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{CHAT}",
        CHAT.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp
}

/// Everything the peer sends until it closes (or resets).
async fn read_to_close(tcp: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut out = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match timeout(PROMPT, tcp.read(&mut buf))
            .await
            .expect("the peer closes within the bound")
        {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn reset_closes_before_any_byte() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::Reset);

    let mut tcp = raw_chat(&sim, "k").await;
    let (bytes, error) = read_to_close(&mut tcp).await;
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(error, Some(ErrorKind::ConnectionReset));

    let error = send(&client(), chat(&sim, "k", CHAT))
        .await
        .expect_err("a reset is no response");
    assert!(!error.is_connect(), "the connection was made: {error:?}");

    let log = sim.requests_for("k");
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.status == 0 && r.body == CHAT));
}

#[tokio::test]
async fn faults_are_per_request_on_a_kept_alive_connection() {
    let sim = Sim::start().await.expect("start");
    let client = client();
    let first = send(&client, chat(&sim, "k", CHAT)).await.expect("200");
    assert_eq!(first.status(), 200);
    first.into_body().collect().await.expect("body");

    // The pooled connection carries the next request; its fault resets it.
    sim.script_next("k", 1, Behavior::Reset);
    send(&client, chat(&sim, "k", CHAT))
        .await
        .expect_err("reset");
    let again = send(&client, chat(&sim, "k", CHAT)).await.expect("200");
    assert_eq!(again.status(), 200);
    assert_eq!(
        sim.requests_for("k")
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [200, 0, 200]
    );
}

#[tokio::test]
async fn stalled_error_head_sends_half_a_body_then_nothing() {
    let sim = Sim::start().await.expect("start");
    for status in [429_u16, 500] {
        let key = format!("k{status}");
        sim.script(&key, Behavior::StallAfterHeaders { status, sse: false });
        let response = send(&client(), chat(&sim, &key, CHAT))
            .await
            .expect("a head");
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.headers()["x-sim-account"],
            rota_sim::account_id(&key).as_str()
        );
        let length: usize = response.headers()["content-length"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("a length");
        let mut body = response.into_body();
        let mut got = Vec::new();
        let stalled = timeout(QUIET, async {
            while let Some(frame) = body.frame().await {
                got.extend_from_slice(&frame.expect("frame").into_data().expect("data"));
            }
        })
        .await;
        assert!(stalled.is_err(), "the body must not complete");
        assert_eq!(got.len(), length / 2);
        assert!(got.starts_with(b"{"));
        assert_eq!(sim.requests_for(&key)[0].status, status);
    }
}

#[tokio::test]
async fn stalled_stream_sends_its_first_event_then_nothing() {
    let sim = Sim::start().await.expect("start");
    sim.script(
        "k",
        Behavior::StallAfterHeaders {
            status: 200,
            sse: true,
        },
    );
    let response = send(&client(), chat(&sim, "k", STREAM))
        .await
        .expect("a head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let first = timeout(PROMPT, body.frame())
        .await
        .expect("a first event")
        .expect("a frame")
        .expect("data")
        .into_data()
        .expect("data");
    assert!(first.starts_with(b"data: {"), "{first:?}");
    assert!(timeout(QUIET, body.frame()).await.is_err(), "then nothing");

    // Dropping the sim closes the stalled connection: the body ends with an error.
    let at = Instant::now();
    drop(sim);
    let end = timeout(PROMPT, body.frame())
        .await
        .expect("the stall ends with the sim");
    assert!(
        matches!(end, Some(Err(_))),
        "a cut body is an error: {end:?}"
    );
    assert!(at.elapsed() < PROMPT);
}

#[tokio::test]
async fn stalled_json_ok_and_shutdown_ends_it() {
    let sim = Sim::start().await.expect("start");
    sim.script(
        "k",
        Behavior::StallAfterHeaders {
            status: 200,
            sse: false,
        },
    );
    let response = send(&client(), chat(&sim, "k", STREAM))
        .await
        .expect("a head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let mut body = response.into_body();
    let first = timeout(PROMPT, body.frame())
        .await
        .expect("half a body")
        .expect("a frame")
        .expect("data");
    assert!(first.is_data());
    assert!(timeout(QUIET, body.frame()).await.is_err(), "then nothing");
    sim.shutdown();
    let end = timeout(PROMPT, body.frame())
        .await
        .expect("the stall ends on shutdown");
    assert!(matches!(end, Some(Err(_))), "{end:?}");
}

#[tokio::test]
async fn garbage_is_not_http() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::Garbage);

    let mut tcp = raw_chat(&sim, "k").await;
    let (bytes, _) = read_to_close(&mut tcp).await;
    assert!(!bytes.is_empty());
    assert!(!bytes.starts_with(b"HTTP/"));

    let error = send(&client(), chat(&sim, "k", CHAT))
        .await
        .expect_err("garbage is no response");
    assert!(!error.is_connect(), "{error:?}");
    assert!(sim.requests_for("k").iter().all(|r| r.status == 0));
}

#[tokio::test]
async fn bad_chunking_fails_the_body_of_a_200() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::BadChunking);
    let response = send(&client(), chat(&sim, "k", CHAT))
        .await
        .expect("a head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let body = timeout(PROMPT, response.into_body().collect())
        .await
        .expect("the body ends");
    assert!(body.is_err(), "a malformed chunk is an error");
    assert_eq!(sim.requests_for("k")[0].status, 200);
}

#[tokio::test]
async fn hang_never_answers_until_the_sim_stops() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::Hang);
    let client = client();
    let pending = tokio::spawn({
        let client = client.clone();
        let req = chat(&sim, "k", CHAT);
        async move { client.request(req).await.map(|r| r.status()) }
    });
    tokio::time::sleep(QUIET).await;
    assert!(!pending.is_finished(), "no answer");
    assert_eq!(sim.requests_for("k").len(), 1, "the request was read");
    assert_eq!(sim.requests_for("k")[0].status, 0);

    let mut tcp = raw_chat(&sim, "k").await;
    let mut buf = [0_u8; 64];
    assert!(timeout(QUIET, tcp.read(&mut buf)).await.is_err());

    sim.shutdown();
    let outcome = timeout(PROMPT, pending)
        .await
        .expect("the hang ends on shutdown")
        .expect("task");
    assert!(outcome.is_err(), "{outcome:?}");
    let (bytes, _) = read_to_close(&mut tcp).await;
    assert!(bytes.is_empty());
}

#[tokio::test]
async fn dropping_the_sim_ends_hung_connections() {
    let sim = Sim::start().await.expect("start");
    sim.script("k", Behavior::Hang);
    let mut tcp = raw_chat(&sim, "k").await;
    // Wait until the request is recorded, so the hang is in place.
    let at = Instant::now();
    while sim.requests_for("k").is_empty() {
        assert!(at.elapsed() < PROMPT);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(sim);
    let (bytes, _) = read_to_close(&mut tcp).await;
    assert!(bytes.is_empty());
}

#[tokio::test]
async fn bad_requests_do_not_consume_a_fault() {
    let sim = Sim::start().await.expect("start");
    sim.script_next("k", 1, Behavior::Reset);
    let reply = send(&client(), chat(&sim, "k", "[1]")).await.expect("400");
    assert_eq!(reply.status(), 400);
    send(&client(), chat(&sim, "k", CHAT))
        .await
        .expect_err("the queued reset");
}

fn token_request(sim: &SimHandle, refresh_token: &str) -> Request<Full<Bytes>> {
    request(
        Method::POST,
        &format!("{}/oauth/token", sim.base_url()),
        &[("content-type", "application/x-www-form-urlencoded")],
        &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
    )
}

#[tokio::test]
async fn token_endpoint_stalls_after_its_head() {
    let sim = Sim::start().await.expect("start");
    sim.oauth_grant("rt", Grant::StallAfterHeaders);
    let response = send(&client(), token_request(&sim, "rt"))
        .await
        .expect("a head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = timeout(QUIET, response.into_body().collect()).await;
    assert!(body.is_err(), "the token body never completes");
    assert_eq!(sim.token_requests().len(), 1);
    assert_eq!(sim.token_requests()[0].refresh_token.as_deref(), Some("rt"));
}

#[tokio::test]
async fn token_endpoint_hands_out_absurd_lifetimes() {
    let sim = Sim::start().await.expect("start");
    let huge = format!("\"{}\"", "9".repeat(10_000));
    for (n, raw) in ["1e19", "18446744073709551615", "-1", "1.5", "1e400", &huge]
        .into_iter()
        .enumerate()
    {
        let refresh = format!("rt{n}");
        sim.oauth_grant(
            &refresh,
            Grant::TokenRaw {
                access_token: format!("at-\"{n}\""),
                expires_in: raw.to_owned(),
            },
        );
        let response = send(&client(), token_request(&sim, &refresh))
            .await
            .expect("200");
        assert_eq!(response.status(), 200);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(
            text.ends_with(&format!(r#""expires_in":{raw}}}"#)),
            "{text}"
        );
        if raw != "1e400" {
            let v: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(v["access_token"], format!("at-\"{n}\""));
            assert_eq!(v["token_type"], "Bearer");
        }
    }
}

#[tokio::test]
async fn a_body_marker_fails_every_key() {
    let sim = Sim::start().await.expect("start");
    sim.script_body("POISON-PILL", Behavior::Status(500));
    sim.script_next("k1", 1, Behavior::Status(429));
    let poisoned = r#"{"model":"m","messages":[{"role":"user","content":"a POISON-PILL"}]}"#;
    for key in ["k1", "k2", "k3"] {
        let res = send(&client(), chat(&sim, key, poisoned))
            .await
            .expect("500");
        assert_eq!(res.status(), 500, "{key}");
    }
    // k1's queued 429 was not consumed by the marked request.
    let res = send(&client(), chat(&sim, "k1", CHAT)).await.expect("429");
    assert_eq!(res.status(), 429);
    let res = send(&client(), chat(&sim, "k2", CHAT)).await.expect("200");
    assert_eq!(res.status(), 200);
}
