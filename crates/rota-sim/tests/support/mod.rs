//! Helpers shared by the shape and account tests: a plain hyper client and SSE parsing.

#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rota_sim::SimHandle;
use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub frames: Vec<Bytes>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.frames.concat()).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text()).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<missing>")
    }

    /// SSE events as (`event:` name, `data:` text), in order.
    pub fn events(&self) -> Vec<(Option<String>, String)> {
        let text = self.text();
        text.split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (name, data)
            })
            .collect()
    }

    /// The JSON `data:` of every event (skipping `[DONE]`).
    pub fn data(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(&d).unwrap_or_else(|e| panic!("{e}: {d}")))
            .collect()
    }
}

pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            frames.push(data);
        }
    }
    Reply {
        status,
        headers,
        frames,
    }
}

/// The credential header each API reads.
#[derive(Clone, Copy)]
pub enum Api {
    OpenAi,
    Anthropic,
    Gemini,
}

pub async fn call(
    sim: &SimHandle,
    api: Api,
    key: &str,
    method: Method,
    path: &str,
    body: &str,
) -> Reply {
    let url = format!("{}{path}", sim.base_url());
    let bearer = format!("Bearer {key}");
    let headers: Vec<(&str, &str)> = match api {
        Api::OpenAi => vec![("authorization", bearer.as_str())],
        Api::Anthropic => vec![("x-api-key", key), ("anthropic-version", "2023-06-01")],
        Api::Gemini => vec![("x-goog-api-key", key)],
    };
    send(method, &url, &headers, body).await
}

pub async fn openai(sim: &SimHandle, key: &str, path: &str, body: &str) -> Reply {
    call(sim, Api::OpenAi, key, Method::POST, path, body).await
}

pub fn names(reply: &Reply) -> Vec<String> {
    reply
        .events()
        .into_iter()
        .map(|(name, _)| name.unwrap_or_default())
        .collect()
}
