//! The response headers rota adds (SPEC §6), and the hop-by-hop headers no request or answer
//! carries past rota.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The account of the final attempt (or its alias).
pub const X_ACCOUNT_EMAIL: HeaderName = HeaderName::from_static("x-account-email");
/// The model sent upstream.
pub const X_MAPPED_MODEL: HeaderName = HeaderName::from_static("x-mapped-model");
/// How many attempts the request took.
pub const X_ROTA_ATTEMPTS: HeaderName = HeaderName::from_static("x-rota-attempts");
/// Why the final account was chosen: `fixed|sticky|window|rotation|grace`.
pub const X_ROTA_DECISION: HeaderName = HeaderName::from_static("x-rota-decision");
/// The default explicit session header.
pub const X_SESSION_ID: HeaderName = HeaderName::from_static("x-session-id");
/// The wait before a retry in milliseconds, which the OpenAI and Anthropic SDKs read first.
pub const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Says when to come back on a 429 (SPEC §6): `Retry-After` in whole seconds, rounded up, at
/// least 1, and, when `with_ms` (OpenAI and Anthropic routes), `retry-after-ms`. A header
/// already there (the upstream's own) is kept.
///
/// ```
/// use http::HeaderMap;
/// use std::time::Duration;
///
/// let mut h = HeaderMap::new();
/// rota::headers::set_retry_after(&mut h, Duration::from_millis(1500), true);
/// assert_eq!(h["retry-after"], "2");
/// assert_eq!(h["retry-after-ms"], "1500");
/// ```
pub fn set_retry_after(headers: &mut HeaderMap, wait: Duration, with_ms: bool) {
    if !headers.contains_key(header::RETRY_AFTER) {
        let secs = crate::mark::retry_after_secs(wait);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if with_ms && !headers.contains_key(RETRY_AFTER_MS) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        headers.insert(RETRY_AFTER_MS, HeaderValue::from(ms));
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction; as header
/// names, so removing them parses nothing per call.
pub static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including every header the `Connection` header names.
///
/// On a request this must run before the account's credential is set (SPEC §5 attribution):
/// a client that sends `Connection: authorization` would otherwise strip the credential.
///
/// ```
/// use http::HeaderMap;
/// use rota::headers::strip_hop_by_hop;
///
/// let mut h = HeaderMap::new();
/// h.insert("connection", "keep-alive, x-private".parse().unwrap());
/// h.insert("x-private", "1".parse().unwrap());
/// h.insert("content-type", "application/json".parse().unwrap());
/// strip_hop_by_hop(&mut h);
/// assert_eq!(h.len(), 1);
/// ```
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names (no hashing) tells.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("content-type", "application/json"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("content-type", "application/json")]));

        let mut h = headers(&[("te", "trailers"), ("x-api-key", "k")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h, headers(&[("x-api-key", "k")]));
    }

    #[test]
    fn end_to_end_headers_are_left_alone() {
        let plain = headers(&[("content-type", "application/json"), ("x-api-key", "k")]);
        let mut h = plain.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, plain);
    }
}
