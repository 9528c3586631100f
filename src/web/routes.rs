//! The routes of the exporter: `/metrics`, `/healthz`, `/readyz` and a
//! landing page, over the state they share.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use super::metrics_body::{self, BodyCache};
use crate::config::format_config_duration;
use crate::metrics::{ExporterMetrics, RenderOptions};
use crate::snapshot::SnapshotStore;

/// `/healthz` fails once this many poll intervals pass without a completed
/// poll. One skipped tick (a poll that ran long) is normal; three in a row
/// mean the loop is stuck and a restart is the cure.
pub const STALLED_AFTER_POLL_INTERVALS: u32 = 3;

/// Where the web routes read the time; tests pass one they move by hand.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct AppState {
    pub store: Arc<SnapshotStore>,
    pub metrics: ExporterMetrics,
    pub render_options: RenderOptions,
    pub(super) body: BodyCache,
    polls: Option<PollWatch>,
}

/// What `/healthz` needs to tell a stuck poll loop from a running one.
struct PollWatch {
    poll_interval: Duration,
    /// Before the first poll completes, the stall is counted from here.
    started_at: DateTime<Utc>,
    clock: Clock,
}

impl AppState {
    /// A state whose `/healthz` watches no poll loop until
    /// [`AppState::watch_polls`] gives it the interval.
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
            polls: None,
        }
    }

    /// Makes `/healthz` fail when no poll has completed for
    /// [`STALLED_AFTER_POLL_INTERVALS`] intervals, counted from now until
    /// the first poll completes.
    pub fn watch_polls(self, poll_interval: Duration) -> Self {
        self.watch_polls_with_clock(poll_interval, Arc::new(Utc::now))
    }

    pub fn watch_polls_with_clock(mut self, poll_interval: Duration, clock: Clock) -> Self {
        self.polls = Some(PollWatch {
            poll_interval,
            started_at: clock(),
            clock,
        });
        self
    }

    /// Why the poll loop counts as stuck, if it does.
    fn poll_stall(&self) -> Option<String> {
        let watch = self.polls.as_ref()?;
        let allowed = watch
            .poll_interval
            .saturating_mul(STALLED_AFTER_POLL_INTERVALS);
        // An interval too long for chrono can never be overrun.
        let allowed_delta = chrono::TimeDelta::from_std(allowed).ok()?;
        let last = self.store.load().map(|snapshot| snapshot.completed_at);
        let since = last.unwrap_or(watch.started_at);
        if (watch.clock)().signed_duration_since(since) <= allowed_delta {
            return None;
        }
        let what = match last {
            Some(_) => "no poll has completed since",
            None => "no poll has completed since the start at",
        };
        Some(format!(
            "{what} {}, more than {STALLED_AFTER_POLL_INTERVALS} poll intervals ({}) ago",
            since.to_rfc3339(),
            format_config_duration(allowed)
        ))
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

/// Fails while the poll loop is stuck: `/metrics` would go on serving the
/// last snapshot, looking fresh to a scrape, while it ages.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.poll_stall() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(stall) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {stall}\n"),
        )
            .into_response(),
    }
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
