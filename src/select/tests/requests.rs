//! Credentials, model mapping and the response headers.

use super::*;

#[tokio::test]
async fn credential_goes_in_the_route_header_and_client_credentials_are_stripped() {
    let pool = two_accounts().build().expect("pool");
    let cases = [
        ("/v1/chat/completions", CHAT, "authorization", "Bearer ka"),
        (
            "/v1/responses",
            r#"{"model":"o3","input":"hello there tower"}"#,
            "authorization",
            "Bearer ka",
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-x","messages":[]}"#,
            "x-api-key",
            "ka",
        ),
        (
            "/v1beta/models/gemini-pro:generateContent?key=client-secret&alt=json",
            r#"{"contents":[]}"#,
            "x-goog-api-key",
            "ka",
        ),
    ];
    for (path, body, name, want) in cases {
        let log = Log::default();
        let svc =
            AccountSelectLayer::new(pool.clone()).layer(upstream(log.clone(), StatusCode::OK));
        svc.oneshot(request(path, body, None))
            .await
            .expect("served");
        let seen = seen(&log).pop().expect("one upstream call");
        assert_eq!(seen.headers[name], want, "{path}");
        let creds = ["authorization", "x-api-key", "x-goog-api-key"];
        for other in creds.iter().filter(|h| **h != name) {
            assert!(
                !seen.headers.contains_key(*other),
                "{path}: client {other} reached upstream"
            );
        }
        assert!(
            !seen.uri.contains("key="),
            "{path}: client ?key= reached upstream: {}",
            seen.uri
        );
    }
}

#[tokio::test]
async fn mapped_model_is_spliced_into_the_body_and_reported() {
    let pool = two_accounts()
        .mapping(ModelMapping::new([("gpt-4o", "gemini-3-pro-high")]))
        .build()
        .expect("pool");
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool).layer(upstream(log.clone(), StatusCode::OK));
    let res = svc.oneshot(chat(None)).await.expect("served");
    assert_eq!(header(&res, "x-mapped-model"), "gemini-3-pro-high");
    let seen = seen(&log).pop().expect("one upstream call");
    assert_eq!(
        seen.body,
        Bytes::from(CHAT.replace("\"gpt-4o\"", "\"gemini-3-pro-high\""))
    );
    assert_eq!(
        seen.selected
            .expect("selected on the request")
            .model
            .as_ref(),
        "gemini-3-pro-high"
    );
}

#[tokio::test]
async fn gemini_model_is_mapped_in_the_path() {
    let pool = two_accounts()
        .mapping(ModelMapping::new([("gemini-*", "gemini-3-pro-high")]))
        .build()
        .expect("pool");
    let log = Log::default();
    let svc = AccountSelectLayer::new(pool).layer(upstream(log.clone(), StatusCode::OK));
    let req = request(
        "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
        r#"{"contents":[{"role":"user","parts":[{"text":"Hello gemini, how are you?"}]}]}"#,
        None,
    );
    let res = svc.oneshot(req).await.expect("served");
    assert_eq!(header(&res, "x-mapped-model"), "gemini-3-pro-high");
    let seen = seen(&log).pop().expect("one upstream call");
    assert_eq!(
        seen.uri,
        "/v1beta/models/gemini-3-pro-high:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn headers_are_stamped_on_success() {
    let pool = two_accounts().build().expect("pool");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let res = svc.oneshot(chat(None)).await.expect("served");
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-mapped-model"), "gpt-4o");
    assert_eq!(header(&res, "x-rota-attempts"), "1");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
    let selected = res
        .extensions()
        .get::<SelectedAccount>()
        .expect("selected on the response");
    assert_eq!(selected.id, A);
}

#[tokio::test]
async fn headers_are_stamped_on_an_upstream_error_status() {
    let pool = two_accounts().build().expect("pool");
    let svc = AccountSelectLayer::new(pool)
        .layer(upstream(Log::default(), StatusCode::SERVICE_UNAVAILABLE));
    let mut req = chat(None);
    req.extensions_mut().insert(Attempt(2));
    let res = svc
        .oneshot(req)
        .await
        .expect("an error status is a response");
    assert_eq!(res.status(), 503);
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-mapped-model"), "gpt-4o");
    assert_eq!(header(&res, "x-rota-attempts"), "3");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
}

#[tokio::test]
async fn headers_are_stamped_on_a_streamed_answer_and_frames_pass_through() {
    let pool = two_accounts().build().expect("pool");
    let svc = AccountSelectLayer::new(pool).layer(upstream(Log::default(), StatusCode::OK));
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Stream me a story"}]}"#;
    let res = svc
        .oneshot(request("/v1/chat/completions", body, None))
        .await
        .expect("served");
    assert_eq!(header(&res, "x-account-email"), "a@x");
    assert_eq!(header(&res, "x-rota-attempts"), "1");
    assert_eq!(header(&res, "x-rota-decision"), "rotation");
    let mut body = res.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.expect("infallible").into_data().expect("data frame"));
    }
    assert_eq!(
        frames,
        ["data: one\n\n", "data: two\n\n", "data: [DONE]\n\n"]
    );
}

#[tokio::test]
async fn alias_labels_hide_the_email() {
    let pool = two_accounts()
        .labels(AccountLabels::Alias)
        .build()
        .expect("pool");
    let svc = AccountSelectLayer::new(pool.clone()).layer(upstream(Log::default(), StatusCode::OK));
    let res = svc.oneshot(chat(None)).await.expect("served");
    let label = header(&res, "x-account-email");
    assert!(label.starts_with("acct-") && label.len() == 17, "{label}");
    assert!(!label.contains("a@x"));
    assert_eq!(Some(label), pool.label(A).and_then(|v| v.to_str().ok()));
    assert_ne!(pool.label(A), pool.label(B), "aliases are distinct");
}
