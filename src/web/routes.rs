//! The routes of the exporter: `/metrics`, `/healthz`, `/readyz` and a
//! landing page, over the state they share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

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

/// What `POST /-/reload` runs: re-reading the configuration files.
pub trait Reload: Send + Sync {
    /// Ok, or every problem that kept the running configuration.
    fn reload(&self) -> BoxFuture<'_, Result<(), String>>;
}

pub struct AppState {
    pub store: Arc<SnapshotStore>,
    pub metrics: ExporterMetrics,
    /// Replaced by a reload that changes `labels`.
    render_options: ArcSwap<RenderOptions>,
    pub(super) body: BodyCache,
    polls: Option<PollWatch>,
    /// Set with `--web.enable-lifecycle`: `POST /-/reload` is refused
    /// without it. Weak: the reloader holds the exporter, which holds this.
    lifecycle: std::sync::OnceLock<std::sync::Weak<dyn Reload>>,
}

/// What `/healthz` needs to tell a stuck poll loop from a running one.
struct PollWatch {
    /// In milliseconds; a reload may change it.
    poll_interval_ms: AtomicU64,
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
            render_options: ArcSwap::from_pointee(render_options),
            body: BodyCache::new(),
            polls: None,
            lifecycle: std::sync::OnceLock::new(),
        }
    }

    /// How snapshots are rendered now.
    pub fn render_options(&self) -> Arc<RenderOptions> {
        self.render_options.load_full()
    }

    /// Renders the following snapshots with `options`.
    pub fn set_render_options(&self, options: RenderOptions) {
        self.render_options.store(Arc::new(options));
    }

    /// Counts the stall of the poll loop in intervals of this length from now on.
    pub fn set_poll_interval(&self, poll_interval: Duration) {
        if let Some(watch) = &self.polls {
            watch
                .poll_interval_ms
                .store(millis(poll_interval), Ordering::Relaxed);
        }
    }

    /// Serves `POST /-/reload` with `reload` (`--web.enable-lifecycle`);
    /// only the first call counts.
    pub fn enable_lifecycle(&self, reload: Arc<dyn Reload>) {
        let _ = self.lifecycle.set(Arc::downgrade(&reload));
    }

    /// Makes `/healthz` fail when no poll has completed for
    /// [`STALLED_AFTER_POLL_INTERVALS`] intervals, counted from now until
    /// the first poll completes.
    pub fn watch_polls(self, poll_interval: Duration) -> Self {
        self.watch_polls_with_clock(poll_interval, Arc::new(Utc::now))
    }

    pub fn watch_polls_with_clock(mut self, poll_interval: Duration, clock: Clock) -> Self {
        self.polls = Some(PollWatch {
            poll_interval_ms: AtomicU64::new(millis(poll_interval)),
            started_at: clock(),
            clock,
        });
        self
    }

    /// Why the poll loop counts as stuck, if it does.
    fn poll_stall(&self) -> Option<String> {
        let watch = self.polls.as_ref()?;
        let allowed = Duration::from_millis(watch.poll_interval_ms.load(Ordering::Relaxed))
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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The default `--web.telemetry-path`.
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

/// The paths the exporter serves besides its telemetry path.
pub const RESERVED_PATHS: [&str; 4] = ["/", "/healthz", "/readyz", "/-/reload"];

/// The HTTP surface with `/metrics` where Prometheus expects it.
pub fn app(state: Arc<AppState>) -> Router {
    app_with_telemetry_path(state, DEFAULT_TELEMETRY_PATH)
}

/// The HTTP surface with the metrics at `telemetry_path`
/// (`--web.telemetry-path`). Inside a Tokio runtime it also starts rendering
/// each new snapshot ahead of the scrapes
/// ([`AppState::prerender_each_snapshot`]).
pub fn app_with_telemetry_path(state: Arc<AppState>, telemetry_path: &str) -> Router {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(Arc::clone(&state).prerender_each_snapshot());
    }
    Router::new()
        .route("/", get(landing))
        .route(telemetry_path, get(metrics_body::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/-/reload", post(reload).put(reload))
        .with_state(state)
}

/// Re-reads the configuration, as Prometheus' own `/-/reload`: 403 unless
/// `--web.enable-lifecycle`, 500 with the problems when the new
/// configuration is refused (the running one stays).
async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let Some(lifecycle) = state.lifecycle.get() else {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
    };
    let Some(lifecycle) = lifecycle.upgrade() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    };
    match lifecycle.reload().await {
        Ok(()) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Err(problems) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "failed to reload the configuration; the previous one still runs:\n{problems}\n"
            ),
        )
            .into_response(),
    }
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
