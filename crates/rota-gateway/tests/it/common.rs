//! Shared helpers: start the sim and a gateway on real sockets, send requests.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rota::core::{AccountSpec, Credential, Secret, Tier};
use rota_gateway::{Config, Running};
use rota_sim::{Sim, SimHandle};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;

pub const ADMIN: &str = "admin-secret";

pub struct Env {
    pub gw: Running,
    pub sim: SimHandle,
    pub dir: TempDir,
    pub client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn account(&self) -> &str {
        self.header("x-account-email")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Three API-key accounts: a@x ULTRA (ka), b@x PRO (kb), c@x FREE (kc).
pub fn accounts() -> Vec<AccountSpec> {
    vec![
        AccountSpec::api_key("a@x", Tier::Ultra, "ka"),
        AccountSpec::api_key("b@x", Tier::Pro, "kb"),
        AccountSpec::api_key("c@x", Tier::Free, "kc"),
    ]
}

pub fn oauth_account(email: &str, tier: Tier, refresh_token: &str, sim: &SimHandle) -> AccountSpec {
    AccountSpec {
        email: email.to_owned(),
        tier,
        credential: Credential::OAuth {
            refresh_token: Secret::new(refresh_token),
            token_url: format!("{}/oauth/token", sim.base_url()),
        },
        caps: rota::core::Caps::default(),
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Starts a sim and a gateway whose config is `tune`d from the defaults (3 accounts, admin
/// token, fresh state dir).
pub async fn start(tune: impl FnOnce(&mut Config, &SimHandle)) -> Env {
    let sim = Sim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(sim.base_url(), accounts());
    config.admin_token = Some(Secret::new(ADMIN));
    config.state_dir = dir.path().to_owned();
    tune(&mut config, &sim);
    let gw = restart(config).await;
    Env {
        gw,
        sim,
        dir,
        client: client(),
    }
}

pub async fn restart(config: Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    rota_gateway::serve(config, listener).await.expect("serve")
}

impl Env {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        send(
            &self.client,
            &self.gw.base_url(),
            method,
            path,
            headers,
            body,
        )
        .await
    }

    pub async fn chat(&self, first: &str) -> Answer {
        let body = chat_body("gpt-4o", first, false);
        post_chat(&self.client, &self.gw.base_url(), &body).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: &str) -> Answer {
        let auth = format!("Bearer {ADMIN}");
        self.send(
            method,
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    pub async fn account_json(&self, email: &str) -> Value {
        let list = self.admin(Method::GET, "/admin/accounts", "").await.json();
        list.as_array()
            .and_then(|l| l.iter().find(|a| a["email"] == email))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

pub async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answer in time")
        .expect("answer");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `POST /v1/chat/completions` with `body` and no extra headers, over `client`.
pub async fn post_chat(
    client: &Client<HttpConnector, Full<Bytes>>,
    base: &str,
    body: &str,
) -> Answer {
    send(
        client,
        base,
        Method::POST,
        "/v1/chat/completions",
        &[],
        body,
    )
    .await
}

/// An OpenAI chat body whose first user message is `first` (the session key).
pub fn chat_body(model: &str, first: &str, stream: bool) -> String {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": first}],
    })
    .to_string()
}

/// A two-turn conversation body (same first user message).
pub fn chat_turn2(model: &str, first: &str) -> String {
    serde_json::json!({
        "model": model,
        "messages": [
            {"role": "user", "content": first},
            {"role": "assistant", "content": "Sure."},
            {"role": "user", "content": "And now the second question please"},
        ],
    })
    .to_string()
}

/// A free port for a real binary to listen on: bound, read, released (the binary binds it a
/// moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("local address")
        .port()
}
