//! The routes of the exporter: `/metrics`, `/healthz`, `/readyz` and a
//! landing page, over the state they share.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::metrics_body::{self, BodyCache};
use crate::metrics::{ExporterMetrics, RenderOptions};
use crate::snapshot::SnapshotStore;

pub struct AppState {
    pub store: Arc<SnapshotStore>,
    pub metrics: ExporterMetrics,
    pub render_options: RenderOptions,
    pub(super) body: BodyCache,
}

impl AppState {
    pub fn new(
        store: Arc<SnapshotStore>,
        metrics: ExporterMetrics,
        render_options: RenderOptions,
    ) -> Self {
        Self {
            store,
            metrics,
            render_options,
            body: BodyCache::new(),
        }
    }
}

/// The HTTP surface. Inside a Tokio runtime it also starts rendering each
/// new snapshot ahead of the scrapes ([`AppState::prerender_each_snapshot`]).
pub fn app(state: Arc<AppState>) -> Router {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(Arc::clone(&state).prerender_each_snapshot());
    }
    Router::new()
        .route("/", get(landing))
        .route("/metrics", get(metrics_body::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once the first poll has completed: before that `/metrics` holds no
/// secrets, and a rollout should not shift traffic to a blank replica.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.load() {
        Some(_) => (StatusCode::OK, "ready\n").into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the first poll to complete\n",
        )
            .into_response(),
    }
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let status = match state.store.load() {
        Some(snapshot) => {
            let totals = snapshot.totals();
            format!(
                "Last poll completed {}: {} targets ({} down), {} secrets, {} non-compliant, {} not fully evaluated.",
                snapshot.completed_at.to_rfc3339(),
                totals.targets,
                totals.targets_down,
                totals.secrets,
                totals.noncompliant_secrets,
                totals.unevaluated_secrets,
            )
        }
        None => "Waiting for the first poll to complete.".to_owned(),
    };
    Html(format!(
        "<!DOCTYPE html>\n<html><head><title>secrets-rotation-exporter</title></head>\n\
         <body><h1>secrets-rotation-exporter</h1>\n<p>{status}</p>\n\
         <ul><li><a href=\"metrics\">metrics</a></li>\
         <li><a href=\"healthz\">healthz</a></li>\
         <li><a href=\"readyz\">readyz</a></li></ul>\n\
         <p>Version {}</p></body></html>\n",
        env!("CARGO_PKG_VERSION")
    ))
}
