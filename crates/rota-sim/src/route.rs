//! Which endpoint a request is for, from its method, path, headers and query.
//!
//! One table for the three APIs. `/v1/models[/{id}]` is shared: a `POST` (a Gemini method call
//! such as `models/{m}:generateContent`) or a request with an `x-goog-*` header or a `key`
//! query parameter is Gemini; one with `anthropic-version` or `x-api-key` is Anthropic;
//! anything else is OpenAI.

use http::{HeaderMap, Method};

use crate::oauth::form_pairs;

/// The error and credential dialect of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// OpenAI: `{"error":{…}}`, `Authorization: Bearer`.
    OpenAi,
    /// Anthropic: `{"type":"error","error":{…}}`, `x-api-key`.
    Anthropic,
    /// Gemini: `{"error":{"code","message","status"}}`, `x-goog-api-key` or `?key=`.
    Gemini,
}

/// A Gemini model method (`models/{model}:{method}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GeminiMethod {
    /// `:generateContent`.
    Generate,
    /// `:streamGenerateContent` (SSE with `?alt=sse`, else one JSON array).
    Stream,
    /// `:countTokens`.
    CountTokens,
    /// `:embedContent`.
    Embed,
    /// `:batchEmbedContents`.
    BatchEmbed,
}

/// What is asked of a stored object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjectAction {
    /// `GET …/{id}`.
    Get,
    /// `DELETE …/{id}`.
    Delete,
    /// `POST …/{id}/cancel`.
    Cancel,
    /// `GET …/{id}/input_items`.
    InputItems,
}

/// Every API endpoint the sim serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions` (legacy).
    Completions,
    /// `POST /v1/responses`.
    Responses,
    /// `GET|DELETE /v1/responses/{id}`, `POST …/cancel`, `GET …/input_items`.
    Response {
        /// The response id from the path.
        id: String,
        /// What is asked.
        action: ObjectAction,
    },
    /// `POST /v1/conversations`.
    Conversations,
    /// `GET|DELETE /v1/conversations/{id}`.
    Conversation {
        /// The conversation id from the path.
        id: String,
        /// [`ObjectAction::Get`] or [`ObjectAction::Delete`].
        action: ObjectAction,
    },
    /// `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI `GET /v1/models[/{id}]`.
    Models {
        /// The model asked for, if any.
        id: Option<String>,
    },
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// Anthropic `GET /v1/models[/{id}]`.
    AnthropicModels {
        /// The model asked for, if any.
        id: Option<String>,
    },
    /// `POST /v1beta|v1/models/{model}:{method}`.
    Gemini {
        /// The model from the path.
        model: String,
        /// The method from the path.
        method: GeminiMethod,
    },
    /// Gemini `GET /v1beta|v1/models[/{model}]`.
    GeminiModels {
        /// The model asked for, if any.
        id: Option<String>,
    },
}

impl Endpoint {
    /// The dialect of errors and credentials on this endpoint.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Self::Messages | Self::CountTokens | Self::AnthropicModels { .. } => Dialect::Anthropic,
            Self::Gemini { .. } | Self::GeminiModels { .. } => Dialect::Gemini,
            _ => Dialect::OpenAi,
        }
    }

    /// Whether the request must carry a JSON object body.
    pub(crate) fn wants_body(&self) -> bool {
        matches!(
            self,
            Self::Chat
                | Self::Completions
                | Self::Responses
                | Self::Embeddings
                | Self::Messages
                | Self::CountTokens
                | Self::Gemini { .. }
        )
    }

    /// Whether this endpoint generates a turn (chat, completions, Responses, messages,
    /// Gemini `generateContent` / `streamGenerateContent`): the requests the prompt cache and
    /// the quotas count.
    pub(crate) fn is_turn(&self) -> bool {
        matches!(
            self,
            Self::Chat
                | Self::Completions
                | Self::Responses
                | Self::Messages
                | Self::Gemini {
                    method: GeminiMethod::Generate | GeminiMethod::Stream,
                    ..
                }
        )
    }

    /// The model named by the path (Gemini methods and model lookups).
    pub(crate) fn path_model(&self) -> Option<&str> {
        match self {
            Self::Gemini { model, .. } => Some(model.as_str()),
            Self::Models { id } | Self::AnthropicModels { id } | Self::GeminiModels { id } => {
                id.as_deref()
            }
            _ => None,
        }
    }
}

/// The dialect a 404 for an unknown `path` is written in.
pub(crate) fn dialect_of_prefix(path: &str) -> Dialect {
    if path.starts_with("/v1beta/") {
        Dialect::Gemini
    } else if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

/// The endpoint of a request, or `None` for an unknown route or method.
pub(crate) fn classify(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<Endpoint> {
    // A HEAD is answered like its GET (hyper sends no body).
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    if let Some(rest) = path.strip_prefix("/v1beta/") {
        return gemini(method, rest);
    }
    let rest = path.strip_prefix("/v1/")?;
    let post = method == Method::POST;
    let fixed = match rest {
        "chat/completions" if post => Some(Endpoint::Chat),
        "completions" if post => Some(Endpoint::Completions),
        "responses" if post => Some(Endpoint::Responses),
        "embeddings" if post => Some(Endpoint::Embeddings),
        "conversations" if post => Some(Endpoint::Conversations),
        "messages" if post => Some(Endpoint::Messages),
        "messages/count_tokens" if post => Some(Endpoint::CountTokens),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    if let Some(tail) = rest.strip_prefix("responses/") {
        let (id, action) = object_path(method, tail, true)?;
        return Some(Endpoint::Response { id, action });
    }
    if let Some(tail) = rest.strip_prefix("conversations/") {
        let (id, action) = object_path(method, tail, false)?;
        return Some(Endpoint::Conversation { id, action });
    }
    if rest != "models" && !rest.starts_with("models/") {
        return None;
    }
    if post || is_gemini(headers, query) {
        return gemini(method, rest);
    }
    if method != Method::GET {
        return None;
    }
    let id = match rest.strip_prefix("models/") {
        None => None,
        Some(id) if id.is_empty() || id.contains('/') => return None,
        Some(id) => Some(id.to_owned()),
    };
    if is_anthropic(headers) {
        Some(Endpoint::AnthropicModels { id })
    } else {
        Some(Endpoint::Models { id })
    }
}

/// `{id}`, `{id}/cancel` (responses only), `{id}/input_items` (responses only).
fn object_path(method: &Method, tail: &str, response: bool) -> Option<(String, ObjectAction)> {
    let (id, sub) = match tail.split_once('/') {
        Some((id, sub)) => (id, Some(sub)),
        None => (tail, None),
    };
    if id.is_empty() {
        return None;
    }
    let action = match (sub, method.as_str()) {
        (None, "GET") => ObjectAction::Get,
        (None, "DELETE") => ObjectAction::Delete,
        (Some("cancel"), "POST") if response => ObjectAction::Cancel,
        (Some("input_items"), "GET") if response => ObjectAction::InputItems,
        _ => return None,
    };
    Some((id.to_owned(), action))
}

/// `models`, `models/{m}` (GET) and `models/{m}:{method}` (POST) below a Gemini version.
fn gemini(method: &Method, rest: &str) -> Option<Endpoint> {
    if rest == "models" {
        return (method == Method::GET).then_some(Endpoint::GeminiModels { id: None });
    }
    let tail = rest.strip_prefix("models/")?;
    if tail.is_empty() || tail.contains('/') {
        return None;
    }
    if method == Method::GET {
        return (!tail.contains(':')).then(|| Endpoint::GeminiModels {
            id: Some(tail.to_owned()),
        });
    }
    if method != Method::POST {
        return None;
    }
    let (model, name) = tail.rsplit_once(':')?;
    let method = match name {
        "generateContent" => GeminiMethod::Generate,
        "streamGenerateContent" => GeminiMethod::Stream,
        "countTokens" => GeminiMethod::CountTokens,
        "embedContent" => GeminiMethod::Embed,
        "batchEmbedContents" => GeminiMethod::BatchEmbed,
        _ => return None,
    };
    (!model.is_empty()).then(|| Endpoint::Gemini {
        model: model.to_owned(),
        method,
    })
}

/// A request that speaks Anthropic on a shared path.
fn is_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version") || headers.contains_key("x-api-key")
}

/// A request that speaks Gemini on a shared path.
fn is_gemini(headers: &HeaderMap, query: Option<&str>) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("x-goog-"))
        || query.is_some_and(|q| form_pairs(q.as_bytes()).any(|(name, _)| name == "key"))
}

/// Whether a query string asks for SSE (`alt=sse`).
pub(crate) fn wants_sse(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_pairs(q.as_bytes()).any(|(name, value)| name == "alt" && value == "sse")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn of(method: Method, path: &str, header: Option<&'static str>) -> Option<Endpoint> {
        let mut headers = HeaderMap::new();
        if let Some(name) = header {
            headers.insert(name, HeaderValue::from_static("x"));
        }
        classify(&method, path, &headers, None)
    }

    #[test]
    fn shared_models_path_by_headers() {
        assert_eq!(
            of(Method::GET, "/v1/models", None),
            Some(Endpoint::Models { id: None })
        );
        assert_eq!(
            of(Method::GET, "/v1/models/ft:gpt-4o:org", None),
            Some(Endpoint::Models {
                id: Some("ft:gpt-4o:org".into())
            })
        );
        assert_eq!(
            of(Method::GET, "/v1/models/c", Some("anthropic-version")),
            Some(Endpoint::AnthropicModels {
                id: Some("c".into())
            })
        );
        assert_eq!(
            of(Method::GET, "/v1/models", Some("x-goog-api-key")),
            Some(Endpoint::GeminiModels { id: None })
        );
        assert_eq!(
            of(Method::POST, "/v1/models/g:countTokens", None),
            Some(Endpoint::Gemini {
                model: "g".into(),
                method: GeminiMethod::CountTokens
            })
        );
        let q = classify(
            &Method::GET,
            "/v1/models/g",
            &HeaderMap::new(),
            Some("key=k"),
        );
        assert_eq!(
            q,
            Some(Endpoint::GeminiModels {
                id: Some("g".into())
            })
        );
    }

    #[test]
    fn objects_and_unknowns() {
        assert_eq!(
            of(Method::POST, "/v1/responses/resp_1/cancel", None),
            Some(Endpoint::Response {
                id: "resp_1".into(),
                action: ObjectAction::Cancel
            })
        );
        assert_eq!(of(Method::POST, "/v1/responses/resp_1", None), None);
        assert_eq!(
            of(Method::GET, "/v1/conversations/c/input_items", None),
            None
        );
        assert_eq!(of(Method::GET, "/v1/chat/completions", None), None);
        assert_eq!(of(Method::POST, "/v1beta/models/g:frobnicate", None), None);
        assert_eq!(of(Method::POST, "/v2/x", None), None);
        assert_eq!(
            of(Method::HEAD, "/v1/models", None),
            Some(Endpoint::Models { id: None })
        );
        assert_eq!(dialect_of_prefix("/v1/messages/x"), Dialect::Anthropic);
        assert!(wants_sse(Some("key=1&alt=sse")));
        assert!(!wants_sse(Some("alt=json")));
    }
}
