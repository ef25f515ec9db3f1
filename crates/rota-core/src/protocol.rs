//! The request dialects rota recognises, and what a path says about a request.
//!
//! This is the one place that reads an API path: which dialect it speaks (and so where the
//! account's credential goes and which error shape answers it), where a Gemini path names
//! its model, which stored object a path names, and whether a request is a conversation turn.

use http::HeaderMap;

/// The API dialect of a request, decided from its path (and, for the model lists that the
/// three APIs share, its headers: [`Protocol::of_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI `POST /v1/chat/completions` (`messages`).
    OpenAiChat,
    /// OpenAI `POST /v1/responses` (`input`).
    OpenAiResponses,
    /// Anthropic: `POST /v1/messages`, `POST /v1/messages/count_tokens`, and `/v1/models`
    /// asked with Anthropic headers.
    Anthropic,
    /// Gemini: `models/{model}:{method}` and the model list, under `/v1beta/` or `/v1/`.
    Gemini,
    /// Any other OpenAI route (embeddings, legacy completions, models, stored responses).
    Other,
}

/// The Gemini model methods rota routes (`models/{model}:{method}`).
pub const GEMINI_METHODS: [&str; 5] = [
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
];

/// A Gemini method path split in three: `prefix` (`/v1beta/models/` or `/v1/models/`),
/// `model` (non-empty, everything up to the first `:`) and `method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeminiPath<'a> {
    /// `/v1beta/models/` or `/v1/models/`.
    pub prefix: &'a str,
    /// The model named in the path.
    pub model: &'a str,
    /// The method after the `:`.
    pub method: &'a str,
}

impl Protocol {
    /// Decides the protocol from a request path alone (a shared `/v1/models` list is
    /// [`Protocol::Other`] here; [`Protocol::of_request`] reads the headers too).
    ///
    /// ```
    /// use rota_core::Protocol;
    /// assert_eq!(Protocol::from_path("/v1/messages"), Protocol::Anthropic);
    /// assert_eq!(Protocol::from_path("/v1/messages/count_tokens"), Protocol::Anthropic);
    /// assert_eq!(
    ///     Protocol::from_path("/v1beta/models/gemini-pro:generateContent"),
    ///     Protocol::Gemini
    /// );
    /// assert_eq!(Protocol::from_path("/v1/models/gemini-pro:countTokens"), Protocol::Gemini);
    /// // an OpenAI fine-tuned model id has colons too, but no Gemini method
    /// assert_eq!(Protocol::from_path("/v1/models/ft:gpt-4o:org"), Protocol::Other);
    /// ```
    pub fn from_path(path: &str) -> Self {
        match path {
            "/v1/chat/completions" => Self::OpenAiChat,
            "/v1/responses" => Self::OpenAiResponses,
            "/v1/messages" | "/v1/messages/count_tokens" => Self::Anthropic,
            p if p.starts_with("/v1beta/") || Self::gemini_path(p).is_some() => Self::Gemini,
            _ => Self::Other,
        }
    }

    /// Decides the protocol from the path and, for `/v1/models[/{id}]` (which the three APIs
    /// share), the headers: `anthropic-version` or `x-api-key` make it Anthropic, an `x-goog-*`
    /// header or a `key` query parameter Gemini, anything else OpenAI.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use rota_core::Protocol;
    /// let mut h = HeaderMap::new();
    /// assert_eq!(Protocol::of_request("/v1/models", &h, None), Protocol::Other);
    /// assert_eq!(Protocol::of_request("/v1/models", &h, Some("key=k")), Protocol::Gemini);
    /// h.insert("anthropic-version", "2023-06-01".parse().unwrap());
    /// assert_eq!(Protocol::of_request("/v1/models/claude-x", &h, None), Protocol::Anthropic);
    /// ```
    pub fn of_request(path: &str, headers: &HeaderMap, query: Option<&str>) -> Self {
        let protocol = Self::from_path(path);
        if protocol != Self::Other || !is_model_list(path) {
            return protocol;
        }
        if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") {
            Self::Anthropic
        } else if headers.keys().any(|k| k.as_str().starts_with("x-goog-"))
            || query.is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")))
        {
            Self::Gemini
        } else {
            Self::Other
        }
    }

    /// Splits a Gemini method path: `/v1beta/models/{model}:{method}` (any method), or
    /// `/v1/models/{model}:{method}` with one of [`GEMINI_METHODS`] (so an OpenAI model id
    /// with colons is not taken for one). The model is non-empty.
    ///
    /// ```
    /// use rota_core::Protocol;
    /// let p = Protocol::gemini_path("/v1/models/gemini-pro:streamGenerateContent").unwrap();
    /// assert_eq!((p.prefix, p.model, p.method), ("/v1/models/", "gemini-pro", "streamGenerateContent"));
    /// assert_eq!(Protocol::gemini_path("/v1beta/models/:generateContent"), None);
    /// ```
    pub fn gemini_path(path: &str) -> Option<GeminiPath<'_>> {
        let (prefix, rest, any_method) = if let Some(rest) = path.strip_prefix("/v1beta/models/") {
            ("/v1beta/models/", rest, true)
        } else {
            ("/v1/models/", path.strip_prefix("/v1/models/")?, false)
        };
        let (model, method) = rest.split_once(':')?;
        (!model.is_empty() && (any_method || GEMINI_METHODS.contains(&method))).then_some(
            GeminiPath {
                prefix,
                model,
                method,
            },
        )
    }

    /// The model a path names, with what stands before and after it: a Gemini method path
    /// (`/v1beta/models/{model}:{method}`, after it `:{method}`), or a model lookup
    /// (`/v1/models/{id}`, `/v1beta/models/{id}`, nothing after it). Such a request's model is
    /// this one: it is mapped and rewritten in the path.
    ///
    /// ```
    /// use rota_core::Protocol;
    /// let (before, model, after) = Protocol::path_model("/v1/models/g:countTokens").unwrap();
    /// assert_eq!((before, model, after), ("/v1/models/", "g", ":countTokens"));
    /// let (before, model, after) = Protocol::path_model("/v1/models/ft:gpt-4o:org").unwrap();
    /// assert_eq!((before, model, after), ("/v1/models/", "ft:gpt-4o:org", ""));
    /// assert_eq!(Protocol::path_model("/v1/models"), None);
    /// assert_eq!(Protocol::path_model("/v1/chat/completions"), None);
    /// ```
    pub fn path_model(path: &str) -> Option<(&str, &str, &str)> {
        if let Some(g) = Self::gemini_path(path) {
            let after = &path[g.prefix.len() + g.model.len()..];
            return Some((g.prefix, g.model, after));
        }
        let prefix = ["/v1beta/models/", "/v1/models/"]
            .into_iter()
            .find(|p| path.starts_with(p))?;
        let model = &path[prefix.len()..];
        (!model.is_empty() && !model.contains('/')).then_some((prefix, model, ""))
    }

    /// Whether a Gemini path asks for a stream (`:streamGenerateContent`).
    pub fn gemini_path_streams(path: &str) -> bool {
        path.ends_with(":streamGenerateContent")
    }
}

/// Whether `path` is `/v1/models` or `/v1/models/{id}` (the list the three APIs share).
fn is_model_list(path: &str) -> bool {
    path == "/v1/models" || path.starts_with("/v1/models/")
}

/// The stored object a path names (SPEC §3a): `/v1/responses/{id}[/…]` and
/// `/v1/conversations/{id}[/…]`. The id is the whole segment, as sent.
///
/// ```
/// use rota_core::protocol::path_object;
/// assert_eq!(path_object("/v1/responses/resp_1/input_items"), Some("resp_1"));
/// assert_eq!(path_object("/v1/conversations/conv_9"), Some("conv_9"));
/// assert_eq!(path_object("/v1/responses"), None);
/// assert_eq!(path_object("/v1/responses/"), None);
/// ```
pub fn path_object(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/v1/responses/")
        .or_else(|| path.strip_prefix("/v1/conversations/"))?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// Whether a request is a conversation turn: it asks a model for an answer. Token counts,
/// model lists, embeddings and stored-object reads are not (SPEC §7: they are scheduled like
/// any request, but their 4xx answers never mark an account).
///
/// ```
/// use http::Method;
/// use rota_core::protocol::is_turn;
/// assert!(is_turn(&Method::POST, "/v1/chat/completions"));
/// assert!(is_turn(&Method::POST, "/v1/models/g:streamGenerateContent"));
/// assert!(!is_turn(&Method::POST, "/v1/messages/count_tokens"));
/// assert!(!is_turn(&Method::GET, "/v1/responses/resp_1"));
/// assert!(!is_turn(&Method::POST, "/v1beta/models/g:countTokens"));
/// ```
pub fn is_turn(method: &http::Method, path: &str) -> bool {
    if method != http::Method::POST {
        return false;
    }
    match path {
        "/v1/chat/completions" | "/v1/responses" | "/v1/messages" | "/v1/completions" => true,
        p => Protocol::gemini_path(p)
            .is_some_and(|g| matches!(g.method, "generateContent" | "streamGenerateContent")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_paths_under_both_versions() {
        let cases = [
            (
                "/v1beta/models/g:generateContent",
                Some(("g", "generateContent")),
            ),
            ("/v1beta/models/g:frobnicate", Some(("g", "frobnicate"))),
            (
                "/v1/models/g:batchEmbedContents",
                Some(("g", "batchEmbedContents")),
            ),
            ("/v1/models/g:frobnicate", None),
            ("/v1/models/ft:gpt-4o:org", None),
            ("/v1/models/:generateContent", None),
            ("/v2/models/g:generateContent", None),
        ];
        for (path, want) in cases {
            let got = Protocol::gemini_path(path).map(|g| (g.model, g.method));
            assert_eq!(got, want, "{path}");
        }
        assert_eq!(Protocol::from_path("/v1beta/models"), Protocol::Gemini);
        assert_eq!(Protocol::from_path("/v1/embeddings"), Protocol::Other);
    }

    #[test]
    fn model_lists_by_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-client", "genai-py".parse().expect("valid"));
        assert_eq!(
            Protocol::of_request("/v1/models/g", &h, None),
            Protocol::Gemini
        );
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k".parse().expect("valid"));
        assert_eq!(
            Protocol::of_request("/v1/models", &h, None),
            Protocol::Anthropic
        );
        // headers never turn another route into a model list
        assert_eq!(
            Protocol::of_request("/v1/embeddings", &h, None),
            Protocol::Other
        );
    }
}
