//! The HTTP surface. `/metrics` encodes the newest snapshot and never calls
//! AWS; the rendering of a snapshot is cached until the next poll replaces it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{CONTENT_TYPE, ExporterMetrics, RenderOptions, render_snapshot};
use crate::snapshot::{Snapshot, SnapshotStore};

pub struct AppState {
    pub store: Arc<SnapshotStore>,
    pub metrics: ExporterMetrics,
    pub render_options: RenderOptions,
    /// The snapshot last rendered and its text, so that many scrapes of one
    /// poll cost one rendering.
    rendered: Mutex<Option<(Arc<Snapshot>, Arc<str>)>>,
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
            rendered: Mutex::new(None),
        }
    }

    fn snapshot_text(&self, snapshot: &Arc<Snapshot>) -> Arc<str> {
        let mut cache = self
            .rendered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached, text)) = cache.as_ref()
            && Arc::ptr_eq(cached, snapshot)
        {
            return text.clone();
        }
        let mut text = String::new();
        render_snapshot(snapshot, &self.render_options, &mut text);
        let text: Arc<str> = text.into();
        *cache = Some((snapshot.clone(), text.clone()));
        text
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut body = String::new();
    if let Some(snapshot) = state.store.load() {
        body.push_str(&state.snapshot_text(&snapshot));
    }
    if let Err(err) = state.metrics.render(&mut body) {
        tracing::error!(error = %err, "encoding the exporter's own metrics failed");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {err}\n"),
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
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
            let secrets: usize = snapshot.targets.iter().map(|t| t.secrets.len()).sum();
            let down = snapshot
                .targets
                .iter()
                .filter(|t| t.health.iter().any(|h| !h.up))
                .count();
            format!(
                "Last poll completed {}: {} targets ({} down), {} secrets.",
                snapshot.completed_at.to_rfc3339(),
                snapshot.targets.len(),
                down,
                secrets
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
