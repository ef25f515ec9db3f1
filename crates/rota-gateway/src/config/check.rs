//! Start-up checks of values the gateway will later put on the wire (SPEC §7): credentials
//! become header values, mapping targets become model names in bodies and Gemini paths.

use rota::core::mapping::{MAX_MODEL_NAME_LEN, is_model_pattern, is_plain_model_name};

use super::ConfigError;

/// Checks that a credential (API key, refresh token, admin token) can be sent, or compared
/// with what a client sends, as an HTTP header value — raw or after `Bearer `: visible ASCII
/// and inner spaces only, no leading or trailing whitespace (parsers trim it, so it could never
/// match), not empty. The message never shows the secret.
pub(super) fn credential(field: &str, value: &str) -> Result<(), ConfigError> {
    let why = if value.is_empty() {
        Some("is empty")
    } else if value.bytes().any(|b| b.is_ascii_control()) {
        Some("contains a control character (CR, LF, NUL, tab, …)")
    } else if !value.is_ascii() {
        Some("contains a non-ASCII character")
    } else if value.starts_with(' ') || value.ends_with(' ') {
        Some("has leading or trailing whitespace")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(ConfigError::new(
            field,
            format!("not a valid HTTP header value: it {why}"),
        )),
    }
}

/// Checks one `[model_mapping]` entry: the source is a model name or a `*` pattern, the
/// target a plain model name ([`is_plain_model_name`]).
pub(super) fn mapping(from: &str, to: &str) -> Result<(), ConfigError> {
    let field = format!("model_mapping.{from:?}");
    let shape =
        format!("1 to {MAX_MODEL_NAME_LEN} ASCII letters, digits and -._@+, not \".\" or \"..\"");
    if !is_model_pattern(from) {
        return Err(ConfigError::new(
            field,
            format!("the source is not a model name or pattern ({shape}, and * wildcards)"),
        ));
    }
    if !is_plain_model_name(to) {
        return Err(ConfigError::new(
            field,
            format!("the target {to:?} is not a plain model name ({shape})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn accepted_credentials_are_header_values_raw_and_as_bearer() {
        for good in ["k", "sk-proj-AbC_123.xyz", "a b", "=+/~!"] {
            credential("f", good).expect(good);
            assert!(HeaderValue::from_str(good).is_ok());
            assert!(HeaderValue::from_str(&format!("Bearer {good}")).is_ok());
        }
        for bad in [
            "",
            "secret\r\nX-Injected: 1",
            "secret\0",
            "sec\tret",
            "secret\u{7f}",
            " secret",
            "secret ",
            "secrét",
        ] {
            let e = credential("auth.admin_token", bad).expect_err(bad);
            assert_eq!(e.field, "auth.admin_token");
            assert!(!e.message.contains("sec"), "the secret is not shown: {e}");
        }
    }

    #[test]
    fn mapping_entries() {
        mapping("claude-*", "claude-sonnet-4-5@20250929").expect("valid");
        mapping("*", "gpt-4o-mini").expect("valid");
        for (from, to) in [
            ("gpt-4o", ""),
            ("gpt-4o", "a/b"),
            ("gpt-4o", ".."),
            ("gpt-4o", "x*"),
            ("gpt-4o", "a%2fb"),
            ("gpt-4o", "a b"),
            ("gpt-4o", "a\nb"),
            ("a/*", "b"),
            ("", "b"),
        ] {
            let e = mapping(from, to).expect_err(to);
            assert!(e.field.starts_with("model_mapping."), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
