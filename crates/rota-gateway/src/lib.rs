//! rota-gateway: a ready-to-run LLM gateway built from rota's tower layers (SPEC §7).
//!
//! ```text
//! client ─▶ edge (auth, body limit, buffer, request facts, 400 on bad JSON) ─▶ SessionIdLayer
//!        ─▶ RetryRotateLayer ─▶ AccountSelectLayer ─▶ RateLimitMarkLayer ─▶ OAuthLayer ─▶ Forward
//! ```
//!
//! The binary is thin: [`cli`] parses arguments, [`config`] reads the TOML file, and
//! [`app::Gateway`] builds the pool, one stack per worker thread and the router and serves
//! them (each worker a single-threaded runtime with its own upstream connections), with
//! [`dispatch`] sending the API routes straight to [`edge::api`]. Tests start the
//! same app in-process with [`app::serve`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod budget;
pub mod cli;
pub mod config;
mod conn;
pub mod demo;
pub mod dialect;
pub mod dispatch;
pub mod edge;
pub mod events;
pub mod forward;
pub mod idle;
pub mod metrics;
pub mod oauth;
pub mod routes;
mod server;
pub mod state;
pub mod ui;

pub use app::{Gateway, Running, serve};
pub use config::{Config, ConfigError};
