//! The HTTP surface. `/metrics` encodes the newest snapshot and never calls
//! AWS; the rendering of a snapshot, plain and gzipped, is cached until the
//! next poll replaces it, so that a scrape of 100,000 secrets costs a copy of
//! a reference rather than hundreds of megabytes of formatting or deflate.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

use crate::metrics::{CONTENT_TYPE, ExporterMetrics, RenderOptions, render_snapshot};
use crate::snapshot::{Snapshot, SnapshotStore};

pub struct AppState {
    pub store: Arc<SnapshotStore>,
    pub metrics: ExporterMetrics,
    pub render_options: RenderOptions,
    /// The snapshot last rendered and its encodings, so that many scrapes
    /// of one poll cost one rendering.
    rendered: Mutex<Option<Arc<Rendered>>>,
}

/// One snapshot's exposition, each encoding made on the first scrape that
/// asks for it. Prometheus asks for gzip only, so the plain text is kept
/// only when some client wants it.
struct Rendered {
    snapshot: Arc<Snapshot>,
    plain: OnceCell<Bytes>,
    gzip: OnceCell<Bytes>,
}

/// Deflate's fastest level: on exposition text it compresses nearly as well
/// as the default and several times faster.
const GZIP_LEVEL: Compression = Compression::fast();

/// A gzip member of `text`. Concatenated members form one valid gzip stream
/// (RFC 1952), which is how the cached snapshot and the live exporter
/// metrics are sent together without recompressing the snapshot.
fn gzip(text: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 8), GZIP_LEVEL);
    encoder.write_all(text)?;
    Ok(Bytes::from(encoder.finish()?))
}

/// Whether `Accept-Encoding` accepts gzip: `gzip`, `x-gzip` or `*` with a
/// non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let quality = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            quality > 0.0
                && (name.eq_ignore_ascii_case("gzip")
                    || name.eq_ignore_ascii_case("x-gzip")
                    || name == "*")
        })
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

    /// The cache entry of `snapshot`, replacing the previous poll's.
    fn rendered(&self, snapshot: &Arc<Snapshot>) -> Arc<Rendered> {
        let mut cache = self
            .rendered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(rendered) = cache.as_ref()
            && Arc::ptr_eq(&rendered.snapshot, snapshot)
        {
            return rendered.clone();
        }
        let rendered = Arc::new(Rendered {
            snapshot: snapshot.clone(),
            plain: OnceCell::new(),
            gzip: OnceCell::new(),
        });
        *cache = Some(rendered.clone());
        rendered
    }

    fn render_text(&self, snapshot: &Snapshot) -> String {
        let mut text = String::new();
        render_snapshot(snapshot, &self.render_options, &mut text);
        // Growth by doubling leaves up to half the buffer unused, which the
        // cache would otherwise hold until the next poll.
        text.shrink_to_fit();
        text
    }

    /// The snapshot's text. Rendering 100,000 secrets takes a while, so it
    /// runs off the async workers; concurrent first scrapes share one.
    async fn snapshot_plain(self: &Arc<Self>, rendered: &Arc<Rendered>) -> std::io::Result<Bytes> {
        rendered
            .plain
            .get_or_try_init(|| {
                let state = self.clone();
                let rendered = rendered.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        Bytes::from(state.render_text(&rendered.snapshot))
                    })
                    .await
                    .map_err(std::io::Error::other)
                }
            })
            .await
            .cloned()
    }

    /// The snapshot's text as one gzip member. Made from the plain text when
    /// that is cached, else rendered for the purpose and dropped.
    async fn snapshot_gzip(self: &Arc<Self>, rendered: &Arc<Rendered>) -> std::io::Result<Bytes> {
        rendered
            .gzip
            .get_or_try_init(|| {
                let state = self.clone();
                let rendered = rendered.clone();
                async move {
                    tokio::task::spawn_blocking(move || match rendered.plain.get() {
                        Some(plain) => gzip(plain),
                        None => gzip(state.render_text(&rendered.snapshot).as_bytes()),
                    })
                    .await
                    .map_err(std::io::Error::other)?
                }
            })
            .await
            .cloned()
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

fn internal_error(what: &str, err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "{what} failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} failed: {err}\n"),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let gzip_wanted = accepts_gzip(&headers);
    let snapshot_part = match state.store.load() {
        Some(snapshot) => {
            let rendered = state.rendered(&snapshot);
            let part = if gzip_wanted {
                state.snapshot_gzip(&rendered).await
            } else {
                state.snapshot_plain(&rendered).await
            };
            match part {
                Ok(part) => Some(part),
                Err(err) => return internal_error("rendering the snapshot", err),
            }
        }
        None => None,
    };
    // The exporter's own metrics move between polls, so they are encoded
    // on every scrape, after the cached part.
    let mut own = String::new();
    if let Err(err) = state.metrics.render(&mut own) {
        return internal_error("encoding the exporter's own metrics", err);
    }
    let own = if gzip_wanted {
        match gzip(own.as_bytes()) {
            Ok(own) => own,
            Err(err) => return internal_error("compressing the exporter's own metrics", err),
        }
    } else {
        Bytes::from(own)
    };
    let parts = snapshot_part
        .into_iter()
        .chain([own])
        .map(Ok::<_, std::convert::Infallible>);
    let body = Body::from_stream(futures::stream::iter(parts));
    let mut response = ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip_wanted {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(header::ACCEPT_ENCODING, value);
        }
        headers
    }

    #[test]
    fn gzip_is_sent_only_when_accepted_with_a_non_zero_quality() {
        assert!(accepts_gzip(&accept("gzip")));
        assert!(accepts_gzip(&accept("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&accept("*")));
        assert!(accepts_gzip(&accept("identity, x-gzip")));
        assert!(!accepts_gzip(&accept("gzip;q=0")));
        assert!(!accepts_gzip(&accept("identity")));
        assert!(!accepts_gzip(&accept("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn concatenated_gzip_members_decompress_to_the_concatenated_text() -> std::io::Result<()> {
        use std::io::Read as _;
        let mut body = gzip(b"first part\n")?.to_vec();
        body.extend_from_slice(&gzip(b"second part\n")?);
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(body.as_slice()).read_to_string(&mut text)?;
        assert_eq!(text, "first part\nsecond part\n");
        Ok(())
    }
}
