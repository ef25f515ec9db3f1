//! The request dialects rota recognises.

/// The API dialect of a request, decided from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI `POST /v1/chat/completions` (`messages`).
    OpenAiChat,
    /// OpenAI `POST /v1/responses` (`input`).
    OpenAiResponses,
    /// Anthropic `POST /v1/messages`.
    Anthropic,
    /// Gemini `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
    Gemini,
    /// Anything else (e.g. `GET /v1/models`).
    Other,
}

impl Protocol {
    /// Decides the protocol from a request path.
    ///
    /// ```
    /// use rota_core::Protocol;
    /// assert_eq!(Protocol::from_path("/v1/messages"), Protocol::Anthropic);
    /// assert_eq!(
    ///     Protocol::from_path("/v1beta/models/gemini-pro:generateContent"),
    ///     Protocol::Gemini
    /// );
    /// ```
    pub fn from_path(path: &str) -> Self {
        match path {
            "/v1/chat/completions" => Self::OpenAiChat,
            "/v1/responses" => Self::OpenAiResponses,
            "/v1/messages" => Self::Anthropic,
            p if p.starts_with("/v1beta/models/") && p.contains(':') => Self::Gemini,
            _ => Self::Other,
        }
    }

    /// For Gemini paths (`/v1beta/models/{model}:{method}`), the model and the method; the
    /// model is non-empty and is everything before the first `:`.
    ///
    /// ```
    /// use rota_core::Protocol;
    /// assert_eq!(
    ///     Protocol::gemini_path_parts("/v1beta/models/gemini-pro:generateContent"),
    ///     Some(("gemini-pro", "generateContent"))
    /// );
    /// assert_eq!(Protocol::gemini_path_parts("/v1beta/models/:generateContent"), None);
    /// ```
    pub fn gemini_path_parts(path: &str) -> Option<(&str, &str)> {
        let rest = path.strip_prefix("/v1beta/models/")?;
        rest.split_once(':').filter(|(model, _)| !model.is_empty())
    }

    /// For Gemini paths, the model named in the path (`/v1beta/models/{model}:method`).
    pub fn gemini_path_model(path: &str) -> Option<&str> {
        Self::gemini_path_parts(path).map(|(model, _)| model)
    }

    /// Whether a Gemini path asks for a stream (`:streamGenerateContent`).
    pub fn gemini_path_streams(path: &str) -> bool {
        path.ends_with(":streamGenerateContent")
    }
}
