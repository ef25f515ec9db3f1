//! A fast fake LLM upstream: reads the request body, answers a small JSON, or a short SSE
//! stream when the body asks for `"stream":true`.
//!
//! `fast-upstream --listen 127.0.0.1:19000`

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};

const ANSWER: &[u8] = br#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":1}}"#;

async fn handle(
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let streams = body.windows(13).any(|w| w == b"\"stream\":true");
    if !streams {
        let res = Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(ANSWER)).boxed());
        return Ok(res.unwrap_or_default());
    }
    // First event at once, then a few more 1 ms apart: TTFB is what is measured.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(8);
    tokio::spawn(async move {
        for i in 0..5 {
            let event = format!("data: {{\"delta\":\"part {i}\"}}\n\n");
            if tx.send(Ok(Frame::data(Bytes::from(event)))).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = tx
            .send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n"))))
            .await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let res = Response::builder()
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(StreamBody::new(stream)));
    Ok(res.unwrap_or_default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = rota_bench::arg("--listen")
        .unwrap_or_else(|| "127.0.0.1:19000".into())
        .parse()
        .map_err(std::io::Error::other)?;
    rota_bench::serve(addr, handle).await
}
