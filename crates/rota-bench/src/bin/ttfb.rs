//! Time to first byte of streamed answers: sends `--n` streaming requests one after another
//! and prints p50 / p99 in microseconds.
//!
//! `ttfb --url http://127.0.0.1:19001/v1/messages --n 2000`

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const BODY: &str = r#"{"model":"claude-sonnet-4-5","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"Stream me a short answer, please."}]}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let url =
        rota_bench::arg("--url").unwrap_or_else(|| "http://127.0.0.1:19001/v1/messages".into());
    let n: usize = rota_bench::arg("--n").map_or(Ok(2000), |v| v.parse())?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 100 {
        let req = Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("x-api-key", "sk-bench")
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))?;
        let start = Instant::now();
        let mut body = client.request(req).await?.into_body();
        let first = body.frame().await;
        let elapsed = start.elapsed();
        while body.frame().await.is_some() {}
        if first.is_some() && i >= 100 {
            samples.push(elapsed); // the first 100 warm the connection pool
        }
    }
    samples.sort();
    let pct = |p: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(Duration::ZERO)
    };
    println!(
        "ttfb_p50_us={} ttfb_p99_us={} n={}",
        pct(0.5).as_micros(),
        pct(0.99).as_micros(),
        samples.len()
    );
    Ok(())
}
