//! Model name mapping: exact names first, then the most specific wildcard.

use std::collections::HashMap;

/// Maps the model a client asked for to the model sent upstream.
///
/// Exact entries win; otherwise the most specific matching wildcard pattern (`*` matches any
/// run of characters; more literal characters = more specific; ties go to the pattern listed
/// first); otherwise the model is unchanged.
///
/// ```
/// use rota_core::ModelMapping;
/// let map = ModelMapping::new([
///     ("gpt-4o", "gemini-3-pro-high"),
///     ("claude-*", "claude-sonnet-4-5"),
///     ("claude-opus-*", "claude-opus-4-5"),
/// ]);
/// assert_eq!(map.map("gpt-4o"), "gemini-3-pro-high");
/// assert_eq!(map.map("claude-opus-4"), "claude-opus-4-5");
/// assert_eq!(map.map("claude-haiku"), "claude-sonnet-4-5");
/// assert_eq!(map.map("o3"), "o3");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ModelMapping {
    exact: HashMap<String, String>,
    /// Wildcard patterns, most specific first.
    wildcards: Vec<(String, String)>,
}

impl ModelMapping {
    /// Builds a mapping from `(pattern, target)` pairs.
    pub fn new<I, K, V>(entries: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for (k, v) in entries {
            let (k, v) = (k.into(), v.into());
            if k.contains('*') {
                wildcards.push((k, v));
            } else {
                exact.insert(k, v);
            }
        }
        // Stable sort keeps the listed order among equally specific patterns.
        wildcards.sort_by_key(|(pattern, _)| std::cmp::Reverse(literal_len(pattern)));
        Self { exact, wildcards }
    }

    /// Whether the mapping has no entries.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty()
    }

    /// The upstream model for `model`.
    pub fn map<'a>(&'a self, model: &'a str) -> &'a str {
        if let Some(target) = self.exact.get(model) {
            return target;
        }
        self.wildcards
            .iter()
            .find(|(pattern, _)| wildcard_match(pattern, model))
            .map_or(model, |(_, target)| target.as_str())
    }
}

/// Longest model name (and mapping pattern) rota accepts, in bytes.
pub const MAX_MODEL_NAME_LEN: usize = 256;

/// Whether `s` is a plain model name: what may stand in a request path segment, a mapping
/// target, or a Gemini path's `{model}` without any escaping or path meaning.
///
/// A plain model name is 1 to [`MAX_MODEL_NAME_LEN`] bytes of ASCII letters, digits and
/// `-` `.` `_` `@` `+`, and is neither `.` nor `..`. So `gemini-3-pro-high`,
/// `claude-sonnet-4-5@20250929` and `gpt-4o-mini` are plain, while an empty name, spaces,
/// `/`, `\`, `%` (percent-escapes), `:`, `?`, `#`, `*`, control characters and non-ASCII
/// letters are not.
///
/// ```
/// use rota_core::mapping::is_plain_model_name;
/// assert!(is_plain_model_name("claude-sonnet-4-5@20250929"));
/// assert!(!is_plain_model_name("..%2f..%2fadmin"));
/// assert!(!is_plain_model_name(".."));
/// ```
pub fn is_plain_model_name(s: &str) -> bool {
    name_shaped(s, false)
}

/// Whether `s` is a mapping pattern: a plain model name ([`is_plain_model_name`]) that may
/// also contain `*` wildcards (`claude-*`, `*-high`, `*`).
///
/// ```
/// use rota_core::mapping::is_model_pattern;
/// assert!(is_model_pattern("claude-*"));
/// assert!(is_model_pattern("gpt-4o"));
/// assert!(!is_model_pattern("claude/*"));
/// ```
pub fn is_model_pattern(s: &str) -> bool {
    name_shaped(s, true)
}

fn name_shaped(s: &str, wildcards: bool) -> bool {
    let allowed = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'@' | b'+')
            || (wildcards && b == b'*')
    };
    !s.is_empty()
        && s.len() <= MAX_MODEL_NAME_LEN
        && s != "."
        && s != ".."
        && s.bytes().all(allowed)
}

fn literal_len(pattern: &str) -> usize {
    pattern.bytes().filter(|b| *b != b'*').count()
}

/// Glob match where `*` matches any (possibly empty) run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty(); // no '*' at all: must be an exact match
    };
    for middle in parts {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_beats_wildcard() {
        let m = ModelMapping::new([("gpt-*", "a"), ("gpt-4o", "b")]);
        assert_eq!(m.map("gpt-4o"), "b");
        assert_eq!(m.map("gpt-5"), "a");
    }

    #[test]
    fn most_specific_wildcard_wins_regardless_of_order() {
        let m = ModelMapping::new([("*", "any"), ("claude-*", "c"), ("claude-*-4", "c4")]);
        assert_eq!(m.map("claude-opus-4"), "c4");
        assert_eq!(m.map("claude-opus"), "c");
        assert_eq!(m.map("gemini"), "any");
    }

    #[test]
    fn unmapped_model_is_unchanged() {
        let m = ModelMapping::new([("a", "b")]);
        assert_eq!(m.map("zzz"), "zzz");
        assert!(ModelMapping::default().is_empty());
    }

    #[test]
    fn plain_model_names() {
        for good in [
            "gemini-3-pro-high",
            "claude-sonnet-4-5@20250929",
            "gpt-4o-mini",
            "o3",
            "a+b_c.d",
            "...",
            ".hidden",
        ] {
            assert!(is_plain_model_name(good), "{good:?}");
        }
        let long = "a".repeat(MAX_MODEL_NAME_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a/b",
            "..%2f..%2fadmin",
            "a\\b",
            "a:b",
            "a?b",
            "a#b",
            "a*",
            "a\u{0}",
            "a\nb",
            "a\tb",
            "a\u{7f}",
            "mod\u{e8}le",
            &long,
        ] {
            assert!(!is_plain_model_name(bad), "{bad:?}");
        }
        assert!(is_plain_model_name(&long[1..]));
    }

    #[test]
    fn patterns_are_names_with_wildcards() {
        for good in ["*", "claude-*", "*-high", "a*c", "gpt-4o"] {
            assert!(is_model_pattern(good), "{good:?}");
        }
        for bad in ["", "..", "claude/*", "a *", "*%2f", "a\r"] {
            assert!(!is_model_pattern(bad), "{bad:?}");
        }
    }

    #[test]
    fn wildcard_in_the_middle_and_suffix() {
        assert!(wildcard_match("a*c", "abc"));
        assert!(wildcard_match("a*c", "ac"));
        assert!(!wildcard_match("a*c", "ab"));
        assert!(wildcard_match("*-high", "gemini-high"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }
}
