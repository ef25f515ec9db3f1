//! The baseline: a bare hyper pass-through proxy that does the least any LLM gateway must —
//! buffer the request body, swap the client's key for an upstream key, forward over a pooled
//! client, stream the answer back.
//!
//! `bare-proxy --listen 127.0.0.1:19001 --upstream http://127.0.0.1:19000 [--workers N]`
//!
//! Without `--workers` it serves on one multi-threaded tokio runtime, as most hyper servers
//! do; with `--workers N` on N single-threaded runtimes, each with its own upstream client —
//! the gateway's own serving model (`bench/load.sh` runs both as baselines).

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type Upstream = Client<HttpConnector, Full<Bytes>>;
type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

async fn handle(
    client: Upstream,
    base: &'static str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let Ok(uri) = format!("{base}{pq}").parse::<Uri>() else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    parts.headers.remove(http::header::HOST);
    parts.headers.remove(http::header::AUTHORIZATION);
    parts
        .headers
        .insert("x-api-key", HeaderValue::from_static("upstream-key"));
    match client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(res) => Ok(res.map(|b| b.map_err(Into::into).boxed())),
        Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::new()).map_err(Into::into).boxed());
    *res.status_mut() = code;
    res
}

fn main() -> std::io::Result<()> {
    let addr = rota_bench::arg("--listen")
        .unwrap_or_else(|| "127.0.0.1:19001".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let base: &'static str = rota_bench::arg("--upstream")
        .unwrap_or_else(|| "http://127.0.0.1:19000".into())
        .leak();
    let make = move || {
        let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
        move |req| handle(client.clone(), base, req)
    };
    match rota_bench::arg("--workers").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => rota_bench::serve_on_workers(addr, n, make),
        None => tokio::runtime::Runtime::new()?.block_on(rota_bench::serve(addr, make())),
    }
}
