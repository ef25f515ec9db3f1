//! Credentials: where they arrived, which one a script is chosen by, and the strict check of
//! the header each real API reads.

use std::collections::HashSet;

use http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use crate::oauth::form_pairs;
use crate::route::Dialect;

/// Every place a credential may arrive in, each empty value counted as absent.
#[derive(Debug, Default)]
pub(crate) struct Creds {
    bearer: Option<String>,
    x_api_key: Option<String>,
    goog: Option<String>,
    query: Option<String>,
}

impl Creds {
    /// Reads `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` and the `key` query
    /// parameter.
    pub(crate) fn read(headers: &HeaderMap, query: Option<&str>) -> Self {
        let value = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        let query = query.and_then(|q| {
            form_pairs(q.as_bytes())
                .find(|(name, _)| name == "key")
                .map(|(_, value)| value)
                .filter(|value| !value.is_empty())
        });
        Self {
            bearer,
            x_api_key: value("x-api-key"),
            goog: value("x-goog-api-key"),
            query,
        }
    }

    /// The first credential found: bearer, `x-api-key`, `x-goog-api-key`, `?key=`.
    pub(crate) fn first(&self) -> Option<String> {
        self.bearer
            .clone()
            .or_else(|| self.x_api_key.clone())
            .or_else(|| self.goog.clone())
            .or_else(|| self.query.clone())
    }

    /// The credential in the header `dialect`'s real API reads, or the 401 message it answers.
    ///
    /// OpenAI: `Authorization: Bearer` only. Anthropic: `x-api-key`, or a bearer OAuth token.
    /// Gemini: `x-goog-api-key` or `?key=`, or a bearer OAuth token. An OAuth token is one the
    /// sim's token endpoint handed out (`issued`), or one shaped like the provider's own
    /// (`sk-ant-oat…`, `ya29.…`).
    pub(crate) fn strict(
        &self,
        dialect: Dialect,
        issued: &HashSet<String>,
    ) -> Result<String, &'static str> {
        let oauth = self.bearer.as_ref().filter(|t| {
            issued.contains(*t) || t.starts_with("sk-ant-oat") || t.starts_with("ya29.")
        });
        match dialect {
            Dialect::OpenAi => self.bearer.clone().ok_or(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            ),
            Dialect::Anthropic => match (&self.x_api_key, oauth, &self.bearer) {
                (Some(key), _, _) => Ok(key.clone()),
                (None, Some(token), _) => Ok(token.clone()),
                (None, None, Some(_)) => Err("OAuth authentication is currently not supported."),
                (None, None, None) => Err("x-api-key header is required"),
            },
            Dialect::Gemini => self
                .goog
                .clone()
                .or_else(|| self.query.clone())
                .or_else(|| oauth.cloned())
                .ok_or(
                    "Request is missing required authentication credential. Expected an API key in the x-goog-api-key header or the key query parameter, or an OAuth 2 access token.",
                ),
        }
    }
}

/// A stable name for the account behind `key` that does not reveal it: the first 8 lowercase
/// hex characters of the SHA-256 of the key. This is what the sim's `x-sim-account` answer
/// header carries (`none` for a request without a credential).
pub fn account_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn first_found_order() {
        let mut h = HeaderMap::new();
        assert_eq!(
            Creds::read(&h, Some("a=1&key=q%2B1")).first(),
            Some("q+1".into())
        );
        h.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(Creds::read(&h, Some("key=q")).first(), Some("g".into()));
        h.insert("x-api-key", HeaderValue::from_static("a"));
        assert_eq!(Creds::read(&h, None).first(), Some("a".into()));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic zzz"));
        assert_eq!(Creds::read(&h, None).first(), Some("a".into()));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  b "),
        );
        assert_eq!(Creds::read(&h, None).first(), Some("b".into()));
        assert_eq!(Creds::read(&HeaderMap::new(), Some("key=")).first(), None);
    }

    #[test]
    fn strict_reads_each_api_header() {
        let issued: HashSet<String> = ["at-1".to_owned()].into();
        let bearer = |t: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(t));
            Creds::read(&h, None)
        };
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k"));
        let x_api_key = Creds::read(&h, None);
        assert!(x_api_key.strict(Dialect::OpenAi, &issued).is_err());
        assert_eq!(
            x_api_key.strict(Dialect::Anthropic, &issued),
            Ok("k".into())
        );
        assert!(x_api_key.strict(Dialect::Gemini, &issued).is_err());
        assert_eq!(
            bearer("Bearer k").strict(Dialect::OpenAi, &issued),
            Ok("k".into())
        );
        assert!(
            bearer("Bearer k")
                .strict(Dialect::Anthropic, &issued)
                .is_err()
        );
        assert!(bearer("Bearer k").strict(Dialect::Gemini, &issued).is_err());
        assert_eq!(
            bearer("Bearer at-1").strict(Dialect::Anthropic, &issued),
            Ok("at-1".into())
        );
        assert_eq!(
            bearer("Bearer at-1").strict(Dialect::Gemini, &issued),
            Ok("at-1".into())
        );
        let query = Creds::read(&HeaderMap::new(), Some("key=q"));
        assert_eq!(query.strict(Dialect::Gemini, &issued), Ok("q".into()));
        assert!(query.strict(Dialect::OpenAi, &issued).is_err());
    }

    #[test]
    fn account_ids_hide_the_key() {
        // SHA-256("key-a") = f10f7812 41e2…
        let id = account_id("key-a");
        assert_eq!(id, "f10f7812");
        assert_ne!(id, account_id("key-b"));
        assert!(!id.contains("key"));
    }
}
