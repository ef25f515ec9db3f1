//! The OAuth token endpoint: `POST /oauth/token` with a form-encoded refresh grant.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use bytes::Bytes;
use http::{Extensions, StatusCode, header};
use serde_json::json;
use tokio::time::Instant;

use crate::fault::Conn;
use crate::log::TokenRequest;
use crate::script::Grant;
use crate::server::{Shared, stalled_json};

/// Handles `POST /oauth/token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let mut refresh_token = None;
    let mut grant_type = None;
    for (name, value) in form_pairs(&body) {
        match name.as_str() {
            "refresh_token" if refresh_token.is_none() => refresh_token = Some(value),
            "grant_type" if grant_type.is_none() => grant_type = Some(value),
            _ => {}
        }
    }
    shared.tokens.lock().push(TokenRequest {
        refresh_token: refresh_token.clone(),
        grant_type: grant_type.clone(),
        at,
    });

    if grant_type.as_deref() != Some("refresh_token") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    let Some(refresh_token) = refresh_token.filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing refresh_token",
        );
    };
    let grant = shared.grants.lock().answer(&refresh_token);
    let handed_out = match &grant {
        Grant::Token { access_token, .. } | Grant::TokenRaw { access_token, .. } => {
            Some(access_token.clone())
        }
        Grant::StallAfterHeaders => Some(format!("at-{refresh_token}-stalled")),
        Grant::InvalidGrant | Grant::Status(_) => None,
    };
    if let Some(token) = handed_out {
        shared.issued.lock().insert(token);
    }
    match grant {
        Grant::Token {
            access_token,
            expires_in,
        } => json_response(
            StatusCode::OK,
            &json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": expires_in,
            }),
        ),
        Grant::InvalidGrant => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Token has been expired or revoked.",
        ),
        Grant::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            oauth_error(status, "server_error", &format!("simulated {code}"))
        }
        Grant::TokenRaw {
            access_token,
            expires_in,
        } => {
            // The access token goes through serde (escaped); `expires_in` is pasted as is.
            let token = json!(access_token);
            let body = format!(
                r#"{{"access_token":{token},"token_type":"Bearer","expires_in":{expires_in}}}"#
            );
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Grant::StallAfterHeaders => {
            let body = json!({
                "access_token": format!("at-{refresh_token}-stalled"),
                "token_type": "Bearer",
                "expires_in": 3600,
            })
            .to_string();
            let conn = extensions.get::<ConnectInfo<Conn>>().map(|c| &c.0);
            shared.take_over(conn, stalled_json(StatusCode::OK, body.as_bytes(), &[]))
        }
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Decodes an `application/x-www-form-urlencoded` body (or query string) into pairs.
/// Invalid UTF-8 is replaced, never rejected.
pub(crate) fn form_pairs(input: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            (percent_decode(name), percent_decode(value))
        })
}

/// Percent-decodes form text (`+` is a space; a malformed escape is kept literally).
fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input
                    .get(i + 1)
                    .and_then(|&h| hex_value(h))
                    .zip(input.get(i + 2).and_then(|&l| hex_value(l)));
                if let Some((high, low)) = hex {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let pairs: Vec<_> =
            form_pairs(b"grant_type=refresh_token&refresh_token=a%2Fb+c%3D&x&bad=%zz%4").collect();
        assert_eq!(
            pairs,
            vec![
                ("grant_type".into(), "refresh_token".into()),
                ("refresh_token".into(), "a/b c=".into()),
                ("x".into(), String::new()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let pairs: Vec<_> = form_pairs(b"k=%ff").collect();
        assert_eq!(pairs, vec![("k".into(), "\u{fffd}".into())]);
    }
}
