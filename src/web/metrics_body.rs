//! `/metrics` encodes the newest snapshot and never calls AWS. The gzip
//! encoding, which Prometheus asks for, is rendered into the encoder as soon
//! as a snapshot is stored and cached until the next one, so that a scrape
//! of 100,000 secrets costs a copy of a reference rather than hundreds of
//! megabytes of formatting or deflate. The plain text (about 3 KiB a secret,
//! ~300 MiB at 100,000) is never held whole: each plain scrape renders it
//! again, streamed to the client in pieces.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::StreamExt as _;
use tokio::sync::OnceCell;

use super::AppState;
use crate::metrics::{CONTENT_TYPE, ERRORS_TOTAL, RenderOptions, write_snapshot};
use crate::snapshot::Snapshot;

/// The renderings of `/metrics` kept between scrapes, and the bound on
/// those made per scrape.
pub(super) struct BodyCache {
    /// The snapshot last rendered and its encodings, so that many scrapes
    /// of one poll cost one rendering.
    rendered: Mutex<Option<Arc<Rendered>>>,
    /// The size of the last gzip rendering: the next poll's is much the
    /// same, and allocating it at once saves growing by doubling.
    last_gzip_len: AtomicUsize,
    /// Plain renderings run at most this many at once; more scrapes wait.
    /// Each holds its own working set while it runs, so fifty plain scrapes
    /// at once must not mean fifty renderings at once. A client that stops
    /// reading holds its slot until the server's write timeout drops its
    /// connection (src/web/serve.rs), which ends the rendering.
    plain_renderings: Arc<tokio::sync::Semaphore>,
    /// The rendering of the exporter's error counters, until they change.
    errors_rendered: Mutex<RenderedErrors>,
}

impl BodyCache {
    pub(super) fn new() -> Self {
        Self {
            rendered: Mutex::new(None),
            last_gzip_len: AtomicUsize::new(0),
            plain_renderings: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            errors_rendered: Mutex::default(),
        }
    }
}

/// `secrets_rotation_exporter_errors_total` as of one generation of the
/// counters, in each encoding once asked for.
#[derive(Default)]
struct RenderedErrors {
    generation: Option<u64>,
    plain: Option<Bytes>,
    gzip: Option<Bytes>,
}

/// One snapshot's gzip exposition, made once by whichever comes first: the
/// rendering that follows each poll or a scrape.
struct Rendered {
    snapshot: Arc<Snapshot>,
    gzip: OnceCell<Bytes>,
}

/// Pieces of a plain rendering (about 256 KiB each) queued per scrape: the
/// socket stays busy while the renderer works, and a slow client holds
/// about a megabyte, not the whole text.
const PLAIN_PIECES_IN_FLIGHT: usize = 4;

/// Hands each piece of a plain rendering to the response body. A scraper
/// that went away closes the channel, which stops the rendering.
struct PieceSender(tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for PieceSender {
    fn write(&mut self, piece: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(piece))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "scraper went away")
            })?;
        Ok(piece.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

/// The snapshot's text as one gzip member, rendered into the encoder chunk
/// by chunk. `capacity` is the expected compressed size.
fn gzip_snapshot(
    snapshot: &Snapshot,
    options: &RenderOptions,
    capacity: usize,
) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(capacity), GZIP_LEVEL);
    write_snapshot(snapshot, options, &mut encoder)?;
    let mut compressed = encoder.finish()?;
    compressed.shrink_to_fit();
    Ok(compressed)
}

/// Room for `last_len` and a little growth.
fn capacity_after(last_len: usize) -> usize {
    last_len.saturating_add(last_len / 16)
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
    /// The error counters' part of the body, rendered again only after a
    /// counter changed: one series per target, source and reason is most of
    /// the exporter's own text at fleet scale, and it rarely moves.
    fn errors_part(&self, gzip_wanted: bool) -> std::io::Result<Bytes> {
        let generation = self.metrics.errors_generation();
        let lock = || {
            self.body
                .errors_rendered
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        {
            let cached = lock();
            let part = if gzip_wanted {
                &cached.gzip
            } else {
                &cached.plain
            };
            if cached.generation == Some(generation)
                && let Some(part) = part
            {
                return Ok(part.clone());
            }
        }
        let mut text = String::new();
        self.metrics.render_errors(&mut text);
        let part = if text.is_empty() {
            Bytes::new()
        } else if gzip_wanted {
            gzip(text.as_bytes())?
        } else {
            Bytes::from(text)
        };
        // Rendered after `generation` was read, so never older than it; a
        // change in between is caught by the next scrape.
        let mut cached = lock();
        if cached.generation != Some(generation) {
            *cached = RenderedErrors {
                generation: Some(generation),
                ..RenderedErrors::default()
            };
        }
        if gzip_wanted {
            cached.gzip = Some(part.clone());
        } else {
            cached.plain = Some(part.clone());
        }
        Ok(part)
    }

    /// The cache entry of `snapshot`, replacing the previous poll's.
    fn rendered(&self, snapshot: &Arc<Snapshot>) -> Arc<Rendered> {
        let mut cache = self
            .body
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
            gzip: OnceCell::new(),
        });
        *cache = Some(rendered.clone());
        rendered
    }

    fn render_gzip(&self, snapshot: &Snapshot) -> std::io::Result<Bytes> {
        let capacity = capacity_after(self.body.last_gzip_len.load(Ordering::Relaxed));
        let compressed = gzip_snapshot(snapshot, &self.render_options(), capacity)?;
        self.body
            .last_gzip_len
            .store(compressed.len(), Ordering::Relaxed);
        Ok(Bytes::from(compressed))
    }

    /// The snapshot's text, rendered off the async workers and received in
    /// pieces as the renderer makes them.
    async fn snapshot_plain(
        self: &Arc<Self>,
        snapshot: Arc<Snapshot>,
    ) -> std::io::Result<tokio::sync::mpsc::Receiver<Bytes>> {
        let permit = Arc::clone(&self.body.plain_renderings)
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (sender, pieces) = tokio::sync::mpsc::channel(PLAIN_PIECES_IN_FLIGHT);
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut sink = PieceSender(sender);
            if let Err(err) = write_snapshot(&snapshot, &state.render_options(), &mut sink)
                && err.kind() != std::io::ErrorKind::BrokenPipe
            {
                tracing::error!(error = %err, "rendering the snapshot failed");
            }
        });
        Ok(pieces)
    }

    /// The snapshot's text as one gzip member, rendered into the encoder.
    async fn snapshot_gzip(self: &Arc<Self>, rendered: &Arc<Rendered>) -> std::io::Result<Bytes> {
        rendered
            .gzip
            .get_or_try_init(|| {
                let state = self.clone();
                let rendered = rendered.clone();
                async move {
                    tokio::task::spawn_blocking(move || state.render_gzip(&rendered.snapshot))
                        .await
                        .map_err(std::io::Error::other)?
                }
            })
            .await
            .cloned()
    }
}

impl AppState {
    /// Renders and compresses each new snapshot as soon as it is stored, so
    /// that the first scrape after a poll sends a cached body like every
    /// other, instead of waiting for the rendering of the whole fleet.
    /// Runs until the store is dropped.
    pub async fn prerender_each_snapshot(self: Arc<Self>) {
        let mut published = self.store.subscribe();
        while published.changed().await.is_ok() {
            let Some(snapshot) = self.store.load() else {
                continue;
            };
            let rendered = self.rendered(&snapshot);
            drop(snapshot);
            if let Err(err) = self.snapshot_gzip(&rendered).await {
                tracing::error!(error = %err, "rendering the snapshot failed");
            }
            drop(rendered);
            // The previous snapshot, released by the cache just now, is
            // returned to the system rather than kept resident until the
            // next poll.
            crate::allocator::release_free_memory();
        }
    }
}

fn internal_error(what: &str, err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "{what} failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} failed: {err}\n"),
    )
        .into_response()
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let gzip_wanted = accepts_gzip(&headers);
    let snapshot_part: futures::stream::BoxStream<'static, Bytes> = match state.store.load() {
        Some(snapshot) if gzip_wanted => {
            let rendered = state.rendered(&snapshot);
            match state.snapshot_gzip(&rendered).await {
                Ok(part) => Box::pin(futures::stream::iter([part])),
                Err(err) => return internal_error("rendering the snapshot", err),
            }
        }
        Some(snapshot) => {
            let pieces = match state.snapshot_plain(snapshot).await {
                Ok(pieces) => pieces,
                Err(err) => return internal_error("rendering the snapshot", err),
            };
            Box::pin(futures::stream::unfold(pieces, |mut pieces| async move {
                pieces.recv().await.map(|piece| (piece, pieces))
            }))
        }
        None => Box::pin(futures::stream::empty()),
    };
    // The exporter's own metrics move between polls, so the registry's few
    // are encoded on every scrape, after the cached part; the error
    // counters, one series per target, are kept until they change.
    let options = state.render_options();
    let mut own = String::new();
    if let Err(err) = state.metrics.render_registry_serving(&mut own, &options) {
        return internal_error("encoding the exporter's own metrics", err);
    }
    let errors = if options.serves(ERRORS_TOTAL.name) {
        match state.errors_part(gzip_wanted) {
            Ok(errors) => errors,
            Err(err) => return internal_error("compressing the exporter's error counters", err),
        }
    } else {
        Bytes::new()
    };
    let own = if gzip_wanted {
        match gzip(own.as_bytes()) {
            Ok(own) => own,
            Err(err) => return internal_error("compressing the exporter's own metrics", err),
        }
    } else {
        Bytes::from(own)
    };
    let parts = snapshot_part
        .chain(
            futures::stream::iter([own, errors])
                .filter(|part| std::future::ready(!part.is_empty())),
        )
        .map(Ok::<_, std::convert::Infallible>);
    let body = Body::from_stream(parts);
    let mut response = ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip_wanted {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests;
