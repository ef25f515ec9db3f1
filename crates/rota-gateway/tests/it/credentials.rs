//! SPEC §5 attribution / §7 credentials: on every route, the upstream receives the account's
//! credential in the route's header, whatever the client sends — its own keys, or a
//! `Connection` header naming the credential headers (which, stripped after the credential
//! was set, used to send no credential at all and bench every account for 30 minutes).

use http::Method;

use crate::common::{ADMIN, start};

/// (method, path, body, the header the account's key must arrive in, its value)
fn routes() -> Vec<(
    Method,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    let chat = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Which header carries the key?"}]}"#;
    let responses = r#"{"model":"gpt-4o","input":"Which header carries the key, please?"}"#;
    let messages = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"Which header carries the key?"}]}"#;
    let gemini =
        r#"{"contents":[{"role":"user","parts":[{"text":"Which header carries the key?"}]}]}"#;
    vec![
        (
            Method::POST,
            "/v1/chat/completions",
            chat,
            "authorization",
            "Bearer ka",
        ),
        (
            Method::POST,
            "/v1/responses",
            responses,
            "authorization",
            "Bearer ka",
        ),
        (Method::POST, "/v1/messages", messages, "x-api-key", "ka"),
        (
            Method::POST,
            "/v1beta/models/gemini-2.5-pro:generateContent",
            gemini,
            "x-goog-api-key",
            "ka",
        ),
        (
            Method::POST,
            "/v1/messages/count_tokens",
            messages,
            "x-api-key",
            "ka",
        ),
        (
            Method::POST,
            "/v1/models/gemini-2.5-pro:countTokens",
            gemini,
            "x-goog-api-key",
            "ka",
        ),
        (
            Method::POST,
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":"k"}"#,
            "authorization",
            "Bearer ka",
        ),
        (
            Method::GET,
            "/v1beta/models/gemini-2.5-pro",
            "",
            "x-goog-api-key",
            "ka",
        ),
        // The shared model list: which API asks is read from the client's headers (below).
        (Method::GET, "/v1/models", "", "authorization", "Bearer ka"),
    ]
}

/// The header `/v1/models` carries the account's key in, for a client that sends `attack`:
/// its `x-api-key` makes it Anthropic's list, an `x-goog-api-key` Gemini's (SPEC §7).
fn model_list_credential(attack: &[(&str, &str)]) -> (&'static str, &'static str) {
    let has = |name: &str| attack.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if has("x-api-key") {
        ("x-api-key", "ka")
    } else if has("x-goog-api-key") {
        ("x-goog-api-key", "ka")
    } else {
        ("authorization", "Bearer ka")
    }
}

#[tokio::test]
async fn no_client_header_can_strip_or_replace_the_account_credential() {
    let env = start(|_, _| {}).await;
    let attacks: [&[(&str, &str)]; 3] = [
        &[("connection", "authorization, x-api-key, x-goog-api-key")],
        &[
            ("connection", "keep-alive, Authorization"),
            ("authorization", "Bearer evil"),
            ("x-api-key", "evil"),
            ("x-goog-api-key", "evil"),
        ],
        &[("authorization", "Bearer evil"), ("x-api-key", "evil")],
    ];
    for (method, path, body, header, want) in routes() {
        for attack in attacks {
            let (header, want) = if path == "/v1/models" {
                model_list_credential(attack)
            } else {
                (header, want)
            };
            env.sim.clear_log();
            let mut headers = attack.to_vec();
            if method == Method::POST {
                headers.push(("content-type", "application/json"));
            }
            let res = env.send(method.clone(), path, &headers, body).await;
            assert_eq!(
                res.status,
                200,
                "{path} {attack:?}: {}",
                String::from_utf8_lossy(&res.body)
            );
            let got = env.sim.requests();
            assert_eq!(got.len(), 1, "{path} {attack:?}: one upstream request");
            let seen = &got[0].headers;
            assert_eq!(
                seen.get(header).and_then(|v| v.to_str().ok()),
                Some(want),
                "{path} {attack:?}: the account's credential in {header}"
            );
            for other in ["authorization", "x-api-key", "x-goog-api-key"] {
                if other != header {
                    assert!(
                        seen.get(other).is_none(),
                        "{path} {attack:?}: no {other} upstream"
                    );
                }
            }
            assert!(seen.get("connection").is_none_or(|v| {
                !v.to_str()
                    .unwrap_or("")
                    .to_ascii_lowercase()
                    .contains("authorization")
            }));
        }
    }
    // and nobody was benched
    let list = env
        .send(
            Method::GET,
            "/admin/accounts",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            "",
        )
        .await
        .json();
    for account in list.as_array().expect("accounts") {
        assert_eq!(account["cooldowns"], serde_json::json!([]), "{account}");
    }
}
