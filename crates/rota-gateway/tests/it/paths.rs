//! Path segments that are not plain model names are a 400 and never reach the upstream.

use std::time::Duration;

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const BODY: &str =
    r#"{"contents":[{"role":"user","parts":[{"text":"Hello Gemini, a path test"}]}]}"#;

/// Sends `path` byte for byte (no client-side URI checks) and returns the answer's status.
async fn raw_status(base: &str, path: &[u8]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = b"POST ".to_vec();
    req.extend_from_slice(path);
    let head = format!(
        " HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    req.extend_from_slice(head.as_bytes());
    conn.write_all(&req).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn a_model_segment_that_is_not_a_plain_name_is_400_and_never_forwarded() {
    let env = start(|_, _| {}).await;
    let bad = [
        "/v1beta/models/..%2f..%2fadmin:generateContent",
        "/v1beta/models/..%2F..%2Fadmin:streamGenerateContent?alt=sse",
        "/v1beta/models/../../admin:generateContent",
        "/v1beta/models/..:generateContent",
        "/v1beta/models/a/b:generateContent",
        "/v1beta/models/gemini%00pro:generateContent",
        "/v1beta/models/gemini%0d%0aX-Injected:%201:generateContent",
        "/v1beta/models/gemini%20pro:generateContent",
        "/v1beta/models/:generateContent",
    ];
    for path in bad {
        let res = env.send(Method::POST, path, &[], BODY).await;
        assert_eq!(res.status, 400, "{path}: {:?}", res.body);
        let body = res.json();
        assert_eq!(
            body["error"]["code"], 400,
            "Gemini dialect for {path}: {body}"
        );
        assert_eq!(
            body["error"]["status"], "INVALID_ARGUMENT",
            "{path}: {body}"
        );
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains("not a plain model name"), "{path}: {msg}");
    }
    // Raw bytes a client library would refuse to send: control characters, DEL, non-ASCII.
    let base = env.gw.base_url();
    for raw in [
        &b"/v1beta/models/gemini\x01pro:generateContent"[..],
        b"/v1beta/models/gemini\x7fpro:generateContent",
        b"/v1beta/models/gemini\xc3\xa9:generateContent",
        b"/v1beta/models/gemini\tpro:generateContent",
    ] {
        let status = raw_status(&base, raw).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(raw));
    }
    assert!(
        env.sim.requests().is_empty(),
        "nothing reached the upstream: {:?}",
        env.sim
            .requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );

    // An unknown method on a plain model is still a 404; a good path is still forwarded.
    let res = env
        .send(Method::POST, "/v1beta/models/gemini-pro:nope", &[], BODY)
        .await;
    assert_eq!(res.status, 404);
    let path = "/v1beta/models/claude-sonnet-4-5@20250929:generateContent";
    let res = env.send(Method::POST, path, &[], BODY).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let rec = env.sim.requests();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].path, path);
}
