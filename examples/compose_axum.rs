//! The four rota layers in an axum app, in front of a hyper-util client.
//!
//! ```text
//! cargo run --example compose_axum
//! ```
//!
//! Forwards to `ROTA_UPSTREAM` (e.g. `http://127.0.0.1:9000`) with the accounts' keys from
//! `ROTA_KEYS` (comma-separated); without `ROTA_UPSTREAM` it starts a simulated upstream
//! (rota-sim) with two demo accounts. Listens on `ROTA_LISTEN` (default `127.0.0.1:8046`).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rota::body::MarkBody;
use rota::core::{AccountSpec, Mode, Tier};
use rota::{
    AccountSelectLayer, BoxError, Pool, RateLimitMarkLayer, RetryRotateLayer, SessionIdLayer,
};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

/// The rota stack as the app's state: buffered requests in, upstream responses out.
type Rota = BoxCloneSyncService<
    http::Request<Bytes>,
    http::Response<MarkBody<hyper::body::Incoming>>,
    BoxError,
>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // 1. Where to forward, and with which accounts.
    let (base_url, keys, _sim) = match std::env::var("ROTA_UPSTREAM") {
        Ok(url) => {
            let keys = std::env::var("ROTA_KEYS").unwrap_or_default();
            (url, keys.split(',').map(str::to_owned).collect(), None)
        }
        Err(_) => {
            let sim = rota_sim::Sim::start().await?;
            (
                sim.base_url(),
                vec!["key-a".into(), "key-b".into()],
                Some(sim),
            )
        }
    };
    let pool = Pool::builder()
        .accounts(keys.iter().enumerate().map(|(i, key)| {
            AccountSpec::api_key(format!("account-{i}@example.com"), Tier::Pro, key)
        }))
        .mode(Mode::Balance)
        .build()?;

    // 2. The upstream: any tower service; here a hyper-util client that sends the request's
    //    path and query to the base URL (a production gateway adds a timeout here).
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let upstream = tower::service_fn(move |req: http::Request<Bytes>| {
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let uri = format!("{base_url}{pq}").parse();
        let client = client.clone();
        async move {
            parts.uri = uri?;
            Ok::<_, BoxError>(
                client
                    .request(http::Request::from_parts(parts, Full::new(body)))
                    .await?,
            )
        }
    });

    // 3. The four layers, outermost first.
    let rota: Rota = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(SessionIdLayer::new())
            .layer(RetryRotateLayer::new(pool.clone()))
            .layer(AccountSelectLayer::new(pool.clone()))
            .layer(RateLimitMarkLayer::new(pool))
            .service(upstream),
    );

    // 4. axum buffers the body (rota replays it on retries) and maps rota's errors.
    let app = Router::new().fallback(forward).with_state(rota);
    let listen = std::env::var("ROTA_LISTEN").unwrap_or_else(|_| "127.0.0.1:8046".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    println!("rota listening on http://{addr}; try:");
    println!(
        "  curl -si http://{addr}/v1/chat/completions -H 'content-type: application/json' \\\n    \
         -d '{{\"model\":\"gpt-4o\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello there, rota!\"}}]}}'"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Buffers the request body, runs it through rota, and turns rota's errors into HTTP answers.
async fn forward(State(rota): State<Rota>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 32 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    match rota.oneshot(http::Request::from_parts(parts, body)).await {
        Ok(res) => res.map(Body::new),
        Err(err) => match rota::Error::find(&err) {
            Some(rota::Error::AllAccountsLimited { retry_after, .. }) => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let headers = [(header::RETRY_AFTER, secs.to_string())];
                (StatusCode::TOO_MANY_REQUESTS, headers, err.to_string()).into_response()
            }
            Some(rota::Error::NoAccounts { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response()
            }
            _ => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
        },
    }
}
