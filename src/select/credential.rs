//! Putting the chosen account's credential on the request, and the mapped model in it.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Request, Uri};
use rota_core::{AccountSpec, Credential, Protocol};

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// Puts an account's credential on an outgoing request (SPEC §7 "Credentials").
///
/// Implemented for closures `Fn(&mut Request<Bytes>, &AccountSpec, Protocol)`.
pub trait InjectCredential: Clone + Send + Sync + 'static {
    /// Rewrites `req` so it authenticates upstream as `account`.
    fn inject(&self, req: &mut Request<Bytes>, account: &AccountSpec, protocol: Protocol);
}

impl<F> InjectCredential for F
where
    F: Fn(&mut Request<Bytes>, &AccountSpec, Protocol) + Clone + Send + Sync + 'static,
{
    fn inject(&self, req: &mut Request<Bytes>, account: &AccountSpec, protocol: Protocol) {
        self(req, account, protocol)
    }
}

/// The default: strip the client's hop-by-hop headers (and every header its `Connection`
/// names) and every client credential (`Authorization`, `x-api-key`, `x-goog-api-key`,
/// `?key=`), then send an API-key account's key in the route's own header —
/// `x-api-key` for Anthropic, `x-goog-api-key` for Gemini, `Authorization: Bearer` otherwise
/// ([`CredentialHeader::for_protocol`]). OAuth accounts are left without credential for an
/// inner layer that holds the access token (it writes it with [`put_credential`] too).
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteCredentials;

impl InjectCredential for RouteCredentials {
    fn inject(&self, req: &mut Request<Bytes>, account: &AccountSpec, protocol: Protocol) {
        crate::headers::strip_hop_by_hop(req.headers_mut());
        strip_client_credentials(req);
        if let Credential::ApiKey(key) = &account.credential {
            put_credential(req, CredentialHeader::for_protocol(protocol), key.expose());
        }
    }
}

/// Where an account's credential goes on an upstream request (SPEC §7 "Credentials").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialHeader {
    /// `Authorization: Bearer <secret>`: OpenAI routes, and every OAuth access token.
    Bearer,
    /// `x-api-key: <secret>`: Anthropic routes.
    XApiKey,
    /// `x-goog-api-key: <secret>`: Gemini routes.
    XGoogApiKey,
}

impl CredentialHeader {
    /// The header an API key is sent in on a route of `protocol`.
    pub const fn for_protocol(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Anthropic => Self::XApiKey,
            Protocol::Gemini => Self::XGoogApiKey,
            _ => Self::Bearer,
        }
    }
}

/// Writes an account's credential on an upstream request: the one function that does (API
/// keys here, OAuth access tokens in the gateway's OAuth layer). Nothing after it may remove
/// or rewrite headers. The value is marked sensitive, so no trace or debug output shows it.
/// A secret that is not a valid header value writes nothing (the configuration refuses such
/// secrets at start).
pub fn put_credential<B>(req: &mut Request<B>, header: CredentialHeader, secret: &str) {
    let (name, value) = match header {
        CredentialHeader::Bearer => (
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {secret}")),
        ),
        CredentialHeader::XApiKey => (X_API_KEY, HeaderValue::from_str(secret)),
        CredentialHeader::XGoogApiKey => (X_GOOG_API_KEY, HeaderValue::from_str(secret)),
    };
    match value {
        Ok(mut value) => {
            value.set_sensitive(true);
            req.headers_mut().insert(name, value);
        }
        Err(_) => tracing::error!("an account credential is not a valid header value"),
    }
}

/// Removes the client's own credentials from a request.
pub fn strip_client_credentials<B>(req: &mut Request<B>) {
    let headers = req.headers_mut();
    headers.remove(AUTHORIZATION);
    headers.remove(X_API_KEY);
    headers.remove(X_GOOG_API_KEY);
    if let Some(query) = req.uri().query()
        && query
            .split('&')
            .any(|p| p == "key" || p.starts_with("key="))
    {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !(p.is_empty() || *p == "key" || p.starts_with("key=")))
            .collect();
        let path = req.uri().path();
        let pq = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        set_path_and_query(req, &pq);
    }
}

fn set_path_and_query<B>(req: &mut Request<B>, pq: &str) {
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// Rewrites the model of a request to `mapped`: in the path when the path names it
/// ([`Protocol::path_model`]: Gemini methods, model lookups), else in the body (splicing the
/// bytes at `span`, never re-serialising).
pub(crate) fn rewrite_model(
    req: &mut Request<Bytes>,
    protocol: Protocol,
    span: Option<std::ops::Range<usize>>,
    mapped: &str,
) {
    if let Some((before, _, after)) = Protocol::path_model(req.uri().path()) {
        let mut pq = format!("{before}{mapped}{after}");
        if let Some(q) = req.uri().query() {
            pq.push('?');
            pq.push_str(q);
        }
        set_path_and_query(req, &pq);
        return;
    }
    if protocol == Protocol::Gemini {
        return;
    }
    let Some(span) = span else { return };
    let body = req.body();
    let (Some(head), Some(tail)) = (body.get(..span.start), body.get(span.end..)) else {
        return;
    };
    let mut out = BytesMut::with_capacity(body.len() + mapped.len());
    out.put_slice(head);
    escape_json_into(&mut out, mapped);
    out.put_slice(tail);
    *req.body_mut() = out.freeze();
    req.headers_mut().remove(http::header::CONTENT_LENGTH);
}

fn escape_json_into(out: &mut BytesMut, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.put_slice(b"\\\""),
            '\\' => out.put_slice(b"\\\\"),
            c if (c as u32) < 0x20 => out.put_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0; 4];
                out.put_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_core::Tier;

    fn req(uri: &str, body: &str) -> Request<Bytes> {
        Request::post(uri)
            .header("authorization", "Bearer client")
            .header("x-api-key", "client")
            .header("x-goog-api-key", "client")
            .body(Bytes::from(body.to_owned()))
            .expect("valid")
    }

    #[test]
    fn route_header_per_protocol_and_client_credentials_stripped() {
        let acct = AccountSpec::api_key("a@x", Tier::Pro, "acct-key");
        let cases = [
            (Protocol::OpenAiChat, "authorization", "Bearer acct-key"),
            (Protocol::Anthropic, "x-api-key", "acct-key"),
            (Protocol::Gemini, "x-goog-api-key", "acct-key"),
        ];
        for (protocol, header, want) in cases {
            let mut r = req("/p?alt=sse&key=client", "");
            RouteCredentials.inject(&mut r, &acct, protocol);
            assert_eq!(r.headers()[header], want);
            assert_eq!(r.headers().len(), 1, "only the account credential is left");
            assert_eq!(r.uri().query(), Some("alt=sse"));
        }
    }

    #[test]
    fn a_client_cannot_strip_the_credential_with_connection() {
        let acct = AccountSpec::api_key("a@x", Tier::Pro, "acct-key");
        let cases = [
            (Protocol::OpenAiChat, "authorization", "Bearer acct-key"),
            (Protocol::Anthropic, "x-api-key", "acct-key"),
            (Protocol::Gemini, "x-goog-api-key", "acct-key"),
        ];
        for (protocol, header, want) in cases {
            let mut r = req("/p", "");
            r.headers_mut().insert(
                "connection",
                HeaderValue::from_static("authorization, x-api-key, x-goog-api-key, keep-alive"),
            );
            RouteCredentials.inject(&mut r, &acct, protocol);
            assert_eq!(r.headers()[header], want);
            assert!(r.headers().get("connection").is_none());
            assert_eq!(r.headers().len(), 1);
        }
    }

    #[test]
    fn oauth_accounts_get_no_header_here() {
        let acct = AccountSpec {
            email: "o@x".into(),
            tier: Tier::Pro,
            credential: Credential::OAuth {
                refresh_token: rota_core::Secret::new("rt"),
                token_url: "http://t".into(),
            },
            caps: rota_core::Caps::default(),
        };
        let mut r = req("/v1/messages?key=k", "");
        RouteCredentials.inject(&mut r, &acct, Protocol::Anthropic);
        assert!(r.headers().is_empty());
        assert_eq!(r.uri().query(), None);
    }

    #[test]
    fn model_is_spliced_into_the_body() {
        let body = r#"{"model":"gpt-4o","x":1}"#;
        let mut r = req("/v1/chat/completions", body);
        rewrite_model(&mut r, Protocol::OpenAiChat, Some(10..16), "gem\"ini");
        assert_eq!(r.body(), &Bytes::from(r#"{"model":"gem\"ini","x":1}"#));
    }

    #[test]
    fn gemini_model_is_rewritten_in_the_path() {
        let mut r = req(
            "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
            "",
        );
        rewrite_model(&mut r, Protocol::Gemini, None, "gemini-3-pro-high");
        assert_eq!(
            r.uri().path_and_query().map(|p| p.as_str()),
            Some("/v1beta/models/gemini-3-pro-high:streamGenerateContent?alt=sse")
        );
    }

    #[test]
    fn gemini_v1_paths_keep_their_version() {
        let mut r = req("/v1/models/gemini-pro:countTokens", "");
        rewrite_model(&mut r, Protocol::Gemini, None, "gemini-3-pro-high");
        assert_eq!(r.uri().path(), "/v1/models/gemini-3-pro-high:countTokens");
    }

    #[test]
    fn out_of_range_span_leaves_the_body_alone() {
        let mut r = req("/v1/chat/completions", "{}");
        rewrite_model(&mut r, Protocol::OpenAiChat, Some(5..9), "m");
        assert_eq!(r.body(), &Bytes::from("{}"));
    }
}
