//! The API routes (SPEC §7): the one list of them, by method and path, and what is wrong
//! with a path that names one but cannot be forwarded.

use http::{Method, StatusCode};
use rota::core::Protocol;
use rota::core::protocol::GEMINI_METHODS;

use crate::dialect::Dialect;

/// An API route of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions` (legacy).
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/responses`.
    Responses,
    /// `GET|DELETE /v1/responses/{id}`, `POST …/cancel`, `GET …/input_items`.
    Response,
    /// `POST /v1/conversations`.
    Conversations,
    /// `GET|POST|DELETE /v1/conversations/{id}` and its `items[/{item}]`.
    Conversation,
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// `POST /v1beta|v1/models/{model}:{method}`.
    Gemini,
    /// `GET /v1beta/models[/{model}]`.
    GeminiModels,
    /// `GET /v1/models[/{id}]`: OpenAI's, Anthropic's or Gemini's by the headers.
    Models,
}

impl Route {
    /// How many routes there are (for per-route tables).
    pub const COUNT: usize = Self::Models as usize + 1;

    /// The metrics / log label.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat_completions",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
            Self::Responses => "responses",
            Self::Response => "response",
            Self::Conversations => "conversations",
            Self::Conversation => "conversation",
            Self::Messages => "messages",
            Self::CountTokens => "count_tokens",
            Self::Gemini => "gemini",
            Self::GeminiModels => "gemini_models",
            Self::Models => "models",
        }
    }

    /// The dialect of the route's answers; `protocol` (from the path and headers) decides
    /// for the model list the three APIs share.
    pub const fn dialect(self, protocol: Protocol) -> Dialect {
        match self {
            Self::Gemini | Self::GeminiModels => Dialect::Gemini,
            Self::Messages | Self::CountTokens => Dialect::Anthropic,
            Self::Models => Dialect::of(protocol),
            _ => Dialect::OpenAi,
        }
    }

    /// Whether the request must carry a JSON object body (else 400 before scheduling).
    pub const fn wants_body(self) -> bool {
        matches!(
            self,
            Self::Chat
                | Self::Completions
                | Self::Embeddings
                | Self::Responses
                | Self::Messages
                | Self::CountTokens
                | Self::Gemini
        )
    }
}

/// What a request's method and path are to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMatch {
    /// An API route.
    Route(Route),
    /// An API path with a method it does not take (405).
    WrongMethod,
    /// Not an API path.
    None,
}

/// Matches a request against the API routes of SPEC §7 (a `HEAD` is taken like its `GET`).
/// The one place the API paths are listed.
pub fn api_route(method: &Method, path: &str) -> ApiMatch {
    use Route::*;
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let (route, allowed) = match path {
        "/v1/chat/completions" => (Chat, post),
        "/v1/completions" => (Completions, post),
        "/v1/embeddings" => (Embeddings, post),
        "/v1/responses" => (Responses, post),
        "/v1/conversations" => (Conversations, post),
        "/v1/messages" => (Messages, post),
        "/v1/messages/count_tokens" => (CountTokens, post),
        "/v1/models" => (Models, get),
        "/v1beta/models" => (GeminiModels, get),
        p => {
            if let Some(rest) = p.strip_prefix("/v1/responses/") {
                match rest.split_once('/') {
                    None if !rest.is_empty() => (Response, get || delete),
                    Some((id, "cancel")) if !id.is_empty() => (Response, post),
                    Some((id, "input_items")) if !id.is_empty() => (Response, get),
                    _ => return ApiMatch::None,
                }
            } else if let Some(rest) = p.strip_prefix("/v1/conversations/") {
                match rest.split('/').collect::<Vec<_>>()[..] {
                    [id] if !id.is_empty() => (Conversation, get || post || delete),
                    [id, "items"] if !id.is_empty() => (Conversation, get || post),
                    [id, "items", item] if !id.is_empty() && !item.is_empty() => {
                        (Conversation, get || delete)
                    }
                    _ => return ApiMatch::None,
                }
            } else if Protocol::gemini_path(p).is_some()
                || p.strip_prefix("/v1beta/models/")
                    .is_some_and(|r| r.contains(':'))
                || (post
                    && p.strip_prefix("/v1/models/")
                        .is_some_and(|r| r.contains(':')))
            {
                (Gemini, post)
            } else if p.strip_prefix("/v1beta/models/").is_some_and(no_slash) {
                (GeminiModels, get)
            } else if p.strip_prefix("/v1/models/").is_some_and(no_slash) {
                (Models, get)
            } else {
                return ApiMatch::None;
            }
        }
    };
    if allowed {
        ApiMatch::Route(route)
    } else {
        ApiMatch::WrongMethod
    }
}

/// A non-empty segment without `/`.
fn no_slash(s: &str) -> bool {
    !s.is_empty() && !s.contains('/')
}

/// What is wrong with a routed path, if anything, as the status and message of the answer:
/// an id or model segment that is not plain (`..`, `%2f`, control characters, …) is a 400, a
/// Gemini method rota does not route a 404. Either way the request never reaches the
/// upstream.
pub fn path_problem(route: Route, path: &str) -> Option<(StatusCode, &'static str)> {
    const UNKNOWN: &str = "unknown Gemini method (expected models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent or :batchEmbedContents)";
    const NOT_PLAIN: &str = "a path segment is not a plain name (1 to 256 ASCII letters, digits and -._@+:; no '/', '%', '..' or control characters)";
    let segment = match route {
        Route::Gemini => {
            let Some((model, method)) = path
                .strip_prefix("/v1beta/models/")
                .or_else(|| path.strip_prefix("/v1/models/"))
                .and_then(|rest| rest.split_once(':'))
            else {
                return Some((StatusCode::NOT_FOUND, UNKNOWN));
            };
            if !rota::core::mapping::is_plain_model_name(model) {
                let msg = "the model in the path is not a plain model name (1 to 256 ASCII letters, digits and -._@+; no '/', '%', '..' or control characters)";
                return Some((StatusCode::BAD_REQUEST, msg));
            }
            if !GEMINI_METHODS.contains(&method) {
                return Some((StatusCode::NOT_FOUND, UNKNOWN));
            }
            return None;
        }
        Route::GeminiModels => path.strip_prefix("/v1beta/models/"),
        Route::Models => path.strip_prefix("/v1/models/"),
        Route::Response | Route::Conversation => rota::core::protocol::path_object(path),
        _ => None,
    };
    match segment {
        Some(s) if !plain_segment(s) => Some((StatusCode::BAD_REQUEST, NOT_PLAIN)),
        _ => None,
    }
}

/// A model or object id fit for a path: 1 to 256 ASCII letters, digits and `-._@+:`, not
/// only dots.
fn plain_segment(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@+:".contains(&b))
        && s.bytes().any(|b| b != b'.')
}

/// The dialect of a path that is not routed (404, 405): `/v1beta/…` and Gemini method paths
/// are Gemini, `/v1/messages…` Anthropic, the rest OpenAI.
pub fn dialect_of_path(path: &str) -> Dialect {
    if path.starts_with("/v1beta/") || Protocol::gemini_path(path).is_some() {
        Dialect::Gemini
    } else if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_routes_by_method_and_path() {
        use ApiMatch::{None as NotApi, Route as Api, WrongMethod};
        let m = |s: &str| Method::from_bytes(s.as_bytes()).expect("method");
        let cases = [
            ("POST", "/v1/chat/completions", Api(Route::Chat)),
            ("POST", "/v1/completions", Api(Route::Completions)),
            ("POST", "/v1/embeddings", Api(Route::Embeddings)),
            ("POST", "/v1/responses", Api(Route::Responses)),
            ("GET", "/v1/responses/resp_1", Api(Route::Response)),
            ("DELETE", "/v1/responses/resp_1", Api(Route::Response)),
            ("POST", "/v1/responses/resp_1/cancel", Api(Route::Response)),
            (
                "GET",
                "/v1/responses/resp_1/input_items",
                Api(Route::Response),
            ),
            ("POST", "/v1/responses/resp_1", WrongMethod),
            ("GET", "/v1/responses/resp_1/cancel", WrongMethod),
            ("GET", "/v1/responses/resp_1/other", NotApi),
            ("POST", "/v1/conversations", Api(Route::Conversations)),
            ("POST", "/v1/conversations/conv_1", Api(Route::Conversation)),
            (
                "GET",
                "/v1/conversations/conv_1/items",
                Api(Route::Conversation),
            ),
            (
                "DELETE",
                "/v1/conversations/conv_1/items/msg_1",
                Api(Route::Conversation),
            ),
            ("POST", "/v1/messages", Api(Route::Messages)),
            ("POST", "/v1/messages/count_tokens", Api(Route::CountTokens)),
            ("GET", "/v1/models", Api(Route::Models)),
            ("HEAD", "/v1/models", Api(Route::Models)),
            ("GET", "/v1/models/ft:gpt-4o:org", Api(Route::Models)),
            ("GET", "/v1beta/models", Api(Route::GeminiModels)),
            ("GET", "/v1beta/models/gemini-pro", Api(Route::GeminiModels)),
            (
                "POST",
                "/v1beta/models/g:generateContent",
                Api(Route::Gemini),
            ),
            ("POST", "/v1beta/models/g:frobnicate", Api(Route::Gemini)),
            ("POST", "/v1/models/g:countTokens", Api(Route::Gemini)),
            ("POST", "/v1/models/g:embedContent", Api(Route::Gemini)),
            ("POST", "/v1/models/g:frobnicate", Api(Route::Gemini)),
            ("POST", "/v1/models/ft:gpt-4o:org", Api(Route::Gemini)),
            ("POST", "/v1beta/models/a/b", NotApi),
            (
                "POST",
                "/v1beta/models/:generateContent",
                Api(Route::Gemini),
            ),
            ("GET", "/v1/messages", WrongMethod),
            ("POST", "/v1/models", WrongMethod),
            ("GET", "/v1beta/models/g:generateContent", WrongMethod),
            ("POST", "/v1beta/models/", NotApi),
            ("POST", "/v1/messages/", NotApi),
            ("POST", "/v1/message", NotApi),
            ("GET", "/healthz", NotApi),
        ];
        for (method, path, expected) in cases {
            assert_eq!(api_route(&m(method), path), expected, "{method} {path}");
        }
    }

    #[test]
    fn path_problems() {
        let status = |r, p: &str| path_problem(r, p).map(|(s, _)| s.as_u16());
        assert_eq!(
            status(Route::Gemini, "/v1beta/models/g:generateContent"),
            None
        );
        assert_eq!(
            status(Route::Gemini, "/v1/models/g-1.5@x:countTokens"),
            None
        );
        assert_eq!(
            status(Route::Gemini, "/v1beta/models/g:frobnicate"),
            Some(404)
        );
        for bad in ["..", "..%2f..%2fadmin", "a/b", "a%00", "a\u{1}b", "a b"] {
            let path = format!("/v1beta/models/{bad}:generateContent");
            assert_eq!(status(Route::Gemini, &path), Some(400), "{path:?}");
            if !bad.contains('/') {
                let path = format!("/v1/responses/{bad}");
                assert_eq!(status(Route::Response, &path), Some(400), "{path:?}");
            }
        }
        assert_eq!(status(Route::Models, "/v1/models/ft:gpt-4o:org"), None);
        assert_eq!(status(Route::GeminiModels, "/v1beta/models/.."), Some(400));
        assert_eq!(status(Route::Response, "/v1/responses/resp_1/cancel"), None);
    }

    proptest::proptest! {
        /// Whatever the path, matching it and checking it never panic, and a routed path that
        /// passes the check names a plain model or id.
        #[test]
        fn any_path(
            path in "(/v1beta|/v1|/v2)?(/models|/responses|/conversations|/messages)?(/[a-zA-Z0-9:._%@+-]{0,12}){0,4}",
            method in proptest::sample::select(vec![Method::GET, Method::POST, Method::DELETE, Method::HEAD]),
        ) {
            let _ = dialect_of_path(&path);
            let _ = rota::core::protocol::is_turn(&method, &path);
            if let ApiMatch::Route(route) = api_route(&method, &path)
                && path_problem(route, &path).is_none()
            {
                let model = Protocol::gemini_path(&path).map(|g| g.model);
                let object = rota::core::protocol::path_object(&path);
                for segment in model.into_iter().chain(object) {
                    proptest::prop_assert!(plain_segment(segment), "{path}");
                }
            }
        }
    }

    #[test]
    fn unrouted_paths_answer_in_their_prefix_dialect() {
        assert_eq!(dialect_of_path("/v1beta/x"), Dialect::Gemini);
        assert_eq!(
            dialect_of_path("/v1/models/g:generateContent"),
            Dialect::Gemini
        );
        assert_eq!(dialect_of_path("/v1/messages/batches"), Dialect::Anthropic);
        assert_eq!(dialect_of_path("/v1/files"), Dialect::OpenAi);
    }
}
