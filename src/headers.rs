//! The response headers rota adds (SPEC §6).

use http::HeaderName;

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
