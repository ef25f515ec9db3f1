//! Replacing rota's policies with your own: a classifier closure that reads a 418 as "rate
//! limited", and a credential injector that sends the key in a custom header.
//!
//! ```text
//! cargo run --example custom_policy
//! ```

use std::convert::Infallible;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use rota::core::{AccountSpec, Credential, Failure, Outcome, Protocol, Reason, Tier};
use rota::select::strip_client_credentials;
use rota::{AccountSelectLayer, Pool, RateLimitMarkLayer, RetryRotateLayer, SessionIdLayer};
use tower::{ServiceBuilder, ServiceExt};

/// Our upstream's dialect: 418 means "slow down"; everything else as usual.
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Outcome {
    if status == StatusCode::IM_A_TEAPOT {
        return Outcome::Failure(Failure::new(Reason::RateLimited));
    }
    rota::core::classify::classify(status, headers, body, now)
}

/// Our upstream wants the key in `x-team-key`, whatever the route.
fn team_key(req: &mut Request<Bytes>, account: &AccountSpec, _protocol: Protocol) {
    strip_client_credentials(req);
    if let Credential::ApiKey(key) = &account.credential
        && let Ok(mut value) = HeaderValue::from_str(key.expose())
    {
        value.set_sensitive(true);
        req.headers_mut().insert("x-team-key", value);
    }
}

#[tokio::main]
async fn main() {
    let pool = Pool::builder()
        .account(AccountSpec::api_key(
            "teapot@example.com",
            Tier::Ultra,
            "key-teapot",
        ))
        .account(AccountSpec::api_key(
            "plain@example.com",
            Tier::Pro,
            "key-plain",
        ))
        .build()
        .expect("unique emails");

    // A stand-in upstream: the teapot account is always "rate limited".
    let upstream = tower::service_fn(|req: Request<Bytes>| async move {
        let key = req
            .headers()
            .get("x-team-key")
            .and_then(|k| k.to_str().ok());
        let status = match key {
            Some("key-teapot") => StatusCode::IM_A_TEAPOT,
            Some(_) => StatusCode::OK,
            None => StatusCode::UNAUTHORIZED,
        };
        let text = format!("answered for x-team-key {key:?}");
        let mut res = Response::new(Full::new(Bytes::from(text)));
        *res.status_mut() = status;
        Ok::<_, Infallible>(res)
    });

    let svc = ServiceBuilder::new()
        .layer(SessionIdLayer::new())
        .layer(RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool.clone()).credentials(team_key))
        .layer(RateLimitMarkLayer::new(pool.clone()).classifier(classify))
        .service(upstream);

    let body =
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello from a custom policy"}]}"#;
    let req = Request::post("/v1/chat/completions")
        .header("authorization", "Bearer client-key") // stripped: never reaches the upstream
        .body(Bytes::from(body))
        .expect("valid request");
    let res = svc.oneshot(req).await.expect("served");

    println!("status:          {}", res.status());
    for name in ["x-account-email", "x-rota-attempts", "x-rota-decision"] {
        println!("{name:<16} {:?}", res.headers()[name]);
    }
    let text = res
        .into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes();
    println!("body:            {}", String::from_utf8_lossy(&text));
    for account in pool.snapshot() {
        println!("{:<20} cooldowns: {:?}", account.email, account.cooldowns);
    }
}
