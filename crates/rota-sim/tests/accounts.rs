//! What stays on an account, over real sockets: scripts on every route, objects stored per
//! account, strict credential headers, and no key ever echoed back.

mod support;

use http::Method;
use rota_sim::{Behavior, RateLimit, Sim, account_id};
use serde_json::json;
use support::{Api, call, openai, send};

/// (api, method, path, body) of every endpoint that is not a generation.
fn new_endpoints() -> Vec<(Api, Method, &'static str, &'static str)> {
    vec![
        (
            Api::OpenAi,
            Method::POST,
            "/v1/embeddings",
            r#"{"model":"e","input":"x"}"#,
        ),
        (
            Api::OpenAi,
            Method::POST,
            "/v1/completions",
            r#"{"model":"i","prompt":"x"}"#,
        ),
        (Api::OpenAi, Method::GET, "/v1/models", ""),
        (Api::OpenAi, Method::GET, "/v1/models/gpt-4o", ""),
        (Api::OpenAi, Method::GET, "/v1/responses/resp_x", ""),
        (Api::OpenAi, Method::DELETE, "/v1/responses/resp_x", ""),
        (Api::OpenAi, Method::POST, "/v1/responses/resp_x/cancel", ""),
        (
            Api::OpenAi,
            Method::GET,
            "/v1/responses/resp_x/input_items",
            "",
        ),
        (
            Api::Anthropic,
            Method::POST,
            "/v1/messages/count_tokens",
            r#"{"model":"c"}"#,
        ),
        (Api::Anthropic, Method::GET, "/v1/models", ""),
        (Api::Anthropic, Method::GET, "/v1/models/c", ""),
        (
            Api::Gemini,
            Method::POST,
            "/v1beta/models/g:countTokens",
            "{}",
        ),
        (Api::Gemini, Method::POST, "/v1/models/g:embedContent", "{}"),
        (
            Api::Gemini,
            Method::POST,
            "/v1/models/g:batchEmbedContents",
            "{}",
        ),
        (
            Api::Gemini,
            Method::POST,
            "/v1/models/g:generateContent",
            "{}",
        ),
        (Api::Gemini, Method::GET, "/v1beta/models", ""),
        (Api::Gemini, Method::GET, "/v1/models/g", ""),
    ]
}

#[tokio::test]
async fn scripts_apply_on_every_route() {
    let sim = Sim::start().await.expect("start");
    sim.script(
        "limited",
        Behavior::RateLimit(RateLimit::new().retry_after(7)),
    );
    sim.script("down", Behavior::Status(503));
    for (api, method, path, body) in new_endpoints() {
        let r = call(&sim, api, "limited", method.clone(), path, body).await;
        assert_eq!(r.status, 429, "{method} {path}");
        assert_eq!(r.header("retry-after"), "7", "{method} {path}");
        assert_eq!(r.json()["error"]["code"], 429);
        let d = call(&sim, api, "down", method.clone(), path, body).await;
        assert_eq!(d.status, 503, "{method} {path}");
        match api {
            Api::Anthropic => assert_eq!(d.json()["type"], "error", "{path}"),
            Api::OpenAi | Api::Gemini => assert_eq!(d.json()["error"]["code"], 503, "{path}"),
        }
        let ok = call(&sim, api, "fine", method.clone(), path, body).await;
        assert!(
            ok.status == 200 || path.contains("resp_x"),
            "{method} {path}: {}",
            ok.status
        );
    }
    assert!(sim.requests_for("limited").iter().all(|r| r.status == 429));
}

#[tokio::test]
async fn responses_are_stored_per_account() {
    let sim = Sim::start().await.expect("start");
    let created = openai(
        &sim,
        "a",
        "/v1/responses",
        r#"{"model":"o3","input":"remember me"}"#,
    )
    .await
    .json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(sim.owner_of(&id).as_deref(), Some("a"));
    let get = |key: &'static str, method: Method, path: String| {
        let sim = sim.clone();
        async move { call(&sim, Api::OpenAi, key, method, &path, "").await }
    };
    let by_id = format!("/v1/responses/{id}");

    let mine = get("a", Method::GET, by_id.clone()).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json()["id"], id.as_str());
    assert_eq!(mine.json()["status"], "completed");
    let theirs = get("b", Method::GET, by_id.clone()).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(
        theirs.json(),
        json!({"error":{"message":format!("No response found with id '{id}'."),"type":"invalid_request_error","param":null,"code":null}})
    );
    for path in [format!("{by_id}/input_items"), by_id.clone()] {
        assert_eq!(get("b", Method::GET, path).await.status, 404);
    }
    assert_eq!(get("b", Method::DELETE, by_id.clone()).await.status, 404);
    assert_eq!(
        get("b", Method::POST, format!("{by_id}/cancel"))
            .await
            .status,
        404
    );

    // A chain continues only on the account that owns the previous response.
    let chain = format!(r#"{{"model":"o3","input":"and then?","previous_response_id":"{id}"}}"#);
    let foreign = openai(&sim, "b", "/v1/responses", &chain).await;
    assert_eq!(foreign.status, 400);
    assert_eq!(
        foreign.json(),
        json!({"error":{"message":format!("Previous response with id '{id}' not found."),"type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}})
    );
    let streamed = openai(
        &sim,
        "b",
        "/v1/responses",
        &chain.replace("}", r#","stream":true}"#),
    )
    .await;
    assert_eq!(streamed.status, 400);
    let unknown = openai(
        &sim,
        "a",
        "/v1/responses",
        r#"{"model":"o3","input":"x","previous_response_id":"resp_nope"}"#,
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.json()["error"]["code"],
        "previous_response_not_found"
    );
    let next = openai(&sim, "a", "/v1/responses", &chain).await;
    assert_eq!(next.status, 200);
    let next = next.json();
    assert_eq!(next["previous_response_id"], id.as_str());
    assert_eq!(
        sim.owner_of(next["id"].as_str().expect("id")).as_deref(),
        Some("a")
    );

    let items = get("a", Method::GET, format!("{by_id}/input_items"))
        .await
        .json();
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], false);
    assert_eq!(items["data"][0]["role"], "user");
    assert_eq!(
        items["data"][0]["content"][0],
        json!({"type":"input_text","text":"remember me"})
    );
    assert_eq!(items["first_id"], items["data"][0]["id"]);

    // Only background responses can be cancelled.
    assert_eq!(
        get("a", Method::POST, format!("{by_id}/cancel"))
            .await
            .status,
        400
    );
    let queued = openai(
        &sim,
        "a",
        "/v1/responses",
        r#"{"model":"o3","input":"later","background":true}"#,
    )
    .await
    .json();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["background"], true);
    let queued_id = queued["id"].as_str().expect("id");
    let cancelled = get(
        "a",
        Method::POST,
        format!("/v1/responses/{queued_id}/cancel"),
    )
    .await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(
        get("a", Method::GET, format!("/v1/responses/{queued_id}"))
            .await
            .json()["status"],
        "cancelled"
    );

    let deleted = get("a", Method::DELETE, by_id.clone()).await;
    assert_eq!(
        deleted.json(),
        json!({"id": id, "object": "response", "deleted": true})
    );
    assert_eq!(get("a", Method::GET, by_id).await.status, 404);
    assert_eq!(sim.owner_of(&id), None);

    // `store: false` keeps nothing.
    let unstored = openai(
        &sim,
        "a",
        "/v1/responses",
        r#"{"model":"o3","input":"x","store":false}"#,
    )
    .await
    .json();
    assert_eq!(unstored["store"], false);
    assert_eq!(sim.owner_of(unstored["id"].as_str().expect("id")), None);
}

#[tokio::test]
async fn conversations_are_stored_per_account() {
    let sim = Sim::start().await.expect("start");
    let conv = openai(&sim, "a", "/v1/conversations", "{}").await.json();
    let id = conv["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("conv_"));
    assert_eq!(conv["object"], "conversation");
    assert_eq!(sim.owner_of(&id).as_deref(), Some("a"));
    let turn = format!(r#"{{"model":"o3","input":"hi","conversation":"{id}"}}"#);
    assert_eq!(openai(&sim, "b", "/v1/responses", &turn).await.status, 404);
    let ok = openai(&sim, "a", "/v1/responses", &turn).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["conversation"]["id"], id.as_str());
    let path = format!("/v1/conversations/{id}");
    assert_eq!(
        call(&sim, Api::OpenAi, "b", Method::GET, &path, "")
            .await
            .status,
        404
    );
    assert_eq!(
        call(&sim, Api::OpenAi, "a", Method::GET, &path, "")
            .await
            .json()["id"],
        id.as_str()
    );
    assert_eq!(
        call(&sim, Api::OpenAi, "a", Method::DELETE, &path, "")
            .await
            .json()["deleted"],
        true
    );
    assert_eq!(sim.owner_of(&id), None);
}

#[tokio::test]
async fn strict_credentials_read_each_api_header() {
    let sim = Sim::start().await.expect("start");
    let base = sim.base_url();
    let post = |path: &str, headers: &[(&str, &str)], body: &str| {
        let url = format!("{base}{path}");
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let body = body.to_owned();
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            send(Method::POST, &url, &headers, &body).await
        }
    };
    let chat = ("/v1/chat/completions", r#"{"model":"m"}"#);
    let messages = ("/v1/messages", r#"{"model":"c"}"#);
    let gemini = ("/v1beta/models/g:generateContent", "{}");

    // Strict by default; lenient on request: then any header counts.
    sim.strict_credentials(false);
    assert_eq!(
        post(messages.0, &[("authorization", "Bearer k")], messages.1)
            .await
            .status,
        200
    );
    sim.strict_credentials(true);
    sim.script_next("k", 1, Behavior::Status(503));

    let wrong_openai = post(chat.0, &[("x-api-key", "k")], chat.1).await;
    assert_eq!(wrong_openai.status, 401);
    let e = wrong_openai.json();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Authorization")),
        "{e}"
    );
    let wrong_anthropic = post(messages.0, &[("authorization", "Bearer k")], messages.1).await;
    assert_eq!(wrong_anthropic.status, 401);
    assert_eq!(wrong_anthropic.json()["type"], "error");
    assert_eq!(
        wrong_anthropic.json()["error"]["type"],
        "authentication_error"
    );
    let missing = post(messages.0, &[], messages.1).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json()["error"]["message"],
        "x-api-key header is required"
    );
    for headers in [
        &[("authorization", "Bearer k")][..],
        &[("x-api-key", "k")][..],
    ] {
        let wrong_gemini = post(gemini.0, headers, gemini.1).await;
        assert_eq!(wrong_gemini.status, 401, "{headers:?}");
        assert_eq!(wrong_gemini.json()["error"]["status"], "UNAUTHENTICATED");
    }
    let models = format!("{base}/v1/models");
    let wrong_models = send(
        Method::GET,
        &models,
        &[
            ("authorization", "Bearer k"),
            ("anthropic-version", "2023-06-01"),
        ],
        "",
    )
    .await;
    assert_eq!(wrong_models.status, 401);
    assert_eq!(wrong_models.json()["error"]["type"], "authentication_error");
    // The 401s consumed nothing: the queued 503 is still next, on the right header.
    assert_eq!(
        post(chat.0, &[("authorization", "Bearer k")], chat.1)
            .await
            .status,
        503
    );
    assert_eq!(
        post(chat.0, &[("authorization", "Bearer k")], chat.1)
            .await
            .status,
        200
    );
    assert_eq!(
        post(messages.0, &[("x-api-key", "k")], messages.1)
            .await
            .status,
        200
    );
    assert_eq!(
        post(gemini.0, &[("x-goog-api-key", "k")], gemini.1)
            .await
            .status,
        200
    );
    assert_eq!(
        post(&format!("{}?key=k", gemini.0), &[], gemini.1)
            .await
            .status,
        200
    );
    assert_eq!(
        send(Method::GET, &models, &[("x-api-key", "k")], "")
            .await
            .json()["has_more"],
        false
    );
    assert_eq!(
        send(Method::GET, &models, &[("authorization", "Bearer k")], "")
            .await
            .json()["object"],
        "list"
    );

    // An OAuth access token from the token endpoint is a bearer credential on every route.
    let grant = post(
        "/oauth/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        "grant_type=refresh_token&refresh_token=rt",
    )
    .await
    .json();
    let token = grant["access_token"].as_str().expect("token").to_owned();
    let bearer = format!("Bearer {token}");
    for (path, body) in [chat, messages, gemini] {
        let r = post(path, &[("authorization", bearer.as_str())], body).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("x-sim-account"), account_id(&token));
    }
    let refused: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .collect();
    assert_eq!(refused.len(), 6);
    assert!(
        refused
            .iter()
            .all(|r| r.key.as_deref() == Some("k") || r.key.is_none())
    );
}

#[tokio::test]
async fn answers_never_echo_the_key() {
    let sim = Sim::start().await.expect("start");
    let key = "sk-secret-account-key";
    let mut routes = new_endpoints();
    routes.extend([
        (
            Api::OpenAi,
            Method::POST,
            "/v1/chat/completions",
            r#"{"model":"m"}"#,
        ),
        (
            Api::OpenAi,
            Method::POST,
            "/v1/responses",
            r#"{"model":"m","input":"x","stream":true}"#,
        ),
        (
            Api::Anthropic,
            Method::POST,
            "/v1/messages",
            r#"{"model":"m","stream":true}"#,
        ),
        (
            Api::Gemini,
            Method::POST,
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            "{}",
        ),
    ]);
    for (api, method, path, body) in routes {
        let r = call(&sim, api, key, method.clone(), path, body).await;
        assert_eq!(
            r.header("x-sim-account"),
            account_id(key),
            "{method} {path}"
        );
        for (name, value) in &r.headers {
            assert!(
                !value
                    .as_bytes()
                    .windows(key.len())
                    .any(|w| w == key.as_bytes()),
                "{path}: {name}"
            );
        }
        assert!(!r.text().contains(key), "{path}");
    }
    assert!(sim.requests().iter().all(|r| r.key.as_deref() == Some(key)));
}
