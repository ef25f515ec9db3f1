use std::convert::Infallible;

use bytes::Bytes;
use http::Request;
use rota_core::{BodyShape, RequestFacts, SessionId};
use tower::{ServiceBuilder, ServiceExt};

use super::*;

async fn facts_of(layer: SessionIdLayer, req: Request<Bytes>) -> (RequestFacts, Option<SessionId>) {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: Request<Bytes>| async move {
            let facts = req
                .extensions()
                .get::<RequestFacts>()
                .cloned()
                .expect("facts attached");
            Ok::<_, Infallible>((facts, req.extensions().get::<SessionId>().cloned()))
        })
        .oneshot(req)
        .await
        .expect("infallible")
}

fn post(path: &str, body: &str) -> Request<Bytes> {
    Request::post(path)
        .body(Bytes::from(body.to_owned()))
        .expect("valid request")
}

const CHAT: &str = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Explain tower layers please"}]}"#;

#[tokio::test]
async fn explicit_session_header_wins() {
    let mut req = post("/v1/chat/completions", CHAT);
    req.headers_mut()
        .insert("x-session-id", "conv-42".parse().expect("valid"));
    let (facts, id) = facts_of(SessionIdLayer::new(), req).await;
    assert_eq!(id, Some(SessionId("conv-42".into())));
    assert_eq!(facts.session_id, id);
}

#[tokio::test]
async fn empty_session_header_falls_through_to_the_body() {
    let mut req = post("/v1/chat/completions", CHAT);
    req.headers_mut()
        .insert("x-session-id", "  ".parse().expect("valid"));
    let (_, id) = facts_of(SessionIdLayer::new(), req).await;
    assert!(id.expect("body rule applies").as_str().starts_with("sid-"));
}

#[tokio::test]
async fn configured_session_headers_replace_the_default() {
    let mut req = post("/v1/chat/completions", CHAT);
    req.headers_mut()
        .insert("x-session-id", "ignored".parse().expect("valid"));
    req.headers_mut()
        .insert("x-conversation", "c-1".parse().expect("valid"));
    let layer = SessionIdLayer::with_headers([HeaderName::from_static("x-conversation")]);
    let (_, id) = facts_of(layer, req).await;
    assert_eq!(id, Some(SessionId("c-1".into())));
}

#[tokio::test]
async fn facts_carry_model_and_stream() {
    let (facts, _) = facts_of(SessionIdLayer::new(), post("/v1/chat/completions", CHAT)).await;
    assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
    assert!(facts.stream);
    assert_eq!(facts.body, BodyShape::JsonObject);
}

#[tokio::test]
async fn gemini_model_and_stream_come_from_the_path() {
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"Tell me about the moon"}]}]}"#;
    let req = post("/v1beta/models/gemini-2.5-pro:streamGenerateContent", body);
    let (facts, id) = facts_of(SessionIdLayer::new(), req).await;
    assert_eq!(facts.model.as_deref(), Some("gemini-2.5-pro"));
    assert!(facts.stream);
    assert!(id.is_some());
}

#[tokio::test]
async fn malformed_body_passes_on_without_session() {
    let (facts, id) = facts_of(SessionIdLayer::new(), post("/v1/messages", "{not json")).await;
    assert!(id.is_none());
    assert!(matches!(facts.body, BodyShape::Malformed(_)));
}

#[tokio::test]
async fn same_conversation_same_session_across_turns() {
    let turn1 = r#"{"model":"m","messages":[{"role":"user","content":"Plan a trip to Lisbon"}]}"#;
    let turn3 = r#"{"model":"m","messages":[{"role":"user","content":"Plan a trip to Lisbon"},{"role":"assistant","content":"Sure"},{"role":"user","content":"Add Porto"}]}"#;
    let (_, a) = facts_of(SessionIdLayer::new(), post("/v1/messages", turn1)).await;
    let (_, b) = facts_of(SessionIdLayer::new(), post("/v1/messages", turn3)).await;
    assert_eq!(a, b);
    assert!(a.is_some());
}
