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
pub use routes::{
    AppState, Clock, DEFAULT_TELEMETRY_PATH, RESERVED_PATHS, Reload, STALLED_AFTER_POLL_INTERVALS,
    app, app_with_telemetry_path,
};
pub use serve::{
    Front, FrontHandle, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_TIMEOUT,
    ServeLimits, TLS_HANDSHAKE_TIMEOUT, WRITE_TIMEOUT, serve, serve_front, serve_with_limits,
};
