//! The HTTP surface: the routes and their `/metrics` rendering, the web
//! config file (`--web.config.file`) with its TLS and basic authentication,
//! and the one `serve` that runs them.

mod auth;
mod config;
mod metrics_body;
mod routes;
mod serve;
mod tls;

pub use auth::protect;
pub use config::{WebConfig, WebConfigError, load, parse, unprotected};
pub use routes::{AppState, Clock, STALLED_AFTER_POLL_INTERVALS, app};
pub use serve::{
    HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_TIMEOUT, ServeLimits,
    TLS_HANDSHAKE_TIMEOUT, WRITE_TIMEOUT, serve, serve_with_limits,
};
