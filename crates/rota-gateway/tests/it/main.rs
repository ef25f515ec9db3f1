//! Integration tests: the real gateway on real sockets, rota-sim as the upstream.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod admin;
mod binary;
mod common;
mod concurrency;
mod config_errors;
mod console;
mod crash;
mod credentials;
mod endpoints;
mod errors;
mod faults;
mod fleet;
mod oauth;
mod objects;
mod paths;
mod persistence;
mod routing;
mod shutdown;
mod usage;
mod workers;
