//! The one server: plain HTTP, or what a web config asks for (TLS, client
//! certificates, basic authentication, extra headers), with the same limits
//! on every connection so that no client can hold the server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::auth::protect;
use super::config::WebConfig;

/// Prometheus sends a scrape's request in one packet; a client that has not
/// sent a whole request head by then is broken or holding the connection
/// on purpose (slowloris). HTTP/1.1 restarts this timer as soon as a
/// response is sent, so it also bounds a kept-alive HTTP/1.1 connection
/// waiting for its next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/2 connection with no request open is closed after this. Longer
/// than the header timeout so that an HTTP/2 scraper on a 15 s or 30 s
/// interval keeps its connection, short enough that idle connections do not
/// pile up against the connection cap.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A response must be sent whole within this from when it is ready. A
/// client that stops reading (or reads a trickle) otherwise holds its
/// connection, and for a plain `/metrics` one of the few rendering slots,
/// for as long as it likes. Longer than any Prometheus scrape timeout that
/// fits a scrape interval of up to 30 s.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// On shutdown, requests in flight get this long to finish; then the
/// connections still open are dropped. Kubernetes sends SIGKILL 30 s after
/// SIGTERM by default, so the exporter exits well before that.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS handshake is a few round trips; a client that has not finished it
/// by then holds a connection slot for nothing.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A few scrapers and a browser need a handful of connections; 512 is what
/// Prometheus itself allows (`--web.max-connections`) and keeps a flood of
/// connections from using up the process's file descriptors, which the AWS
/// clients need too. Lowered to half the file descriptor limit when that is
/// smaller.
pub const MAX_CONNECTIONS: usize = 512;

/// A scraper uses one stream at a time; hyper's default of 200 would let
/// one connection multiply itself past the connection cap.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;

/// The limits [`serve`] applies to every connection. Tests shorten them
/// through [`serve_with_limits`]; the exporter uses the defaults.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            shutdown_timeout: SHUTDOWN_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// What a connection is served with: the routes behind the basic
/// authentication and headers of the web config, and its TLS. A reload of
/// the web config replaces it; connections already open keep theirs, new
/// ones get the new one.
pub struct Front {
    app: Router,
    acceptor: Option<TlsAcceptor>,
}

impl Front {
    /// `app` as `web` asks to serve it: plain HTTP without a web config.
    pub fn new(app: Router, web: Option<&WebConfig>) -> Self {
        match web {
            None => Self {
                app,
                acceptor: None,
            },
            Some(web) => {
                tracing::info!(
                    web_config_file = %web.file.display(),
                    tls = web.tls_enabled(),
                    basic_auth = web.basic_auth_enabled(),
                    "serving with the web config"
                );
                Self {
                    app: protect(app, web),
                    acceptor: web.tls.clone().map(TlsAcceptor::from),
                }
            }
        }
    }
}

/// The [`Front`] new connections get; shared by every listener.
pub type FrontHandle = Arc<arc_swap::ArcSwap<Front>>;

/// Serves `app` on `listener` until `shutdown` resolves: plain HTTP without
/// a web config, otherwise with the TLS, client certificates, basic
/// authentication and headers of `web`, under the default [`ServeLimits`].
/// On shutdown it stops accepting and lets requests in flight finish, for
/// at most [`SHUTDOWN_TIMEOUT`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Option<&WebConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_limits(listener, app, web, ServeLimits::default(), shutdown).await
}

/// [`serve`] with other limits.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    web: Option<&WebConfig>,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let front = Arc::new(arc_swap::ArcSwap::from_pointee(Front::new(app, web)));
    serve_front(listener, front, limits, shutdown).await
}

/// Serves each new connection on `listener` with the [`Front`] `front` holds
/// when it arrives, until `shutdown` resolves.
pub async fn serve_front(
    listener: TcpListener,
    front: FrontHandle,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max_connections = connection_cap(limits.max_connections, open_files_limit());
    if max_connections < limits.max_connections {
        tracing::info!(
            max_connections,
            "at most this many connections at once: half the open files limit"
        );
    }
    // Past the cap the server stops accepting, and new connections wait in
    // the kernel's listen queue rather than being accepted and closed: a
    // waiting connection costs no file descriptor of ours, and a scraper
    // behind a burst of slow clients is served, in arrival order, as soon
    // as the header timeout frees a slot, instead of failing at once. This
    // is what Prometheus' own `--web.max-connections` does.
    let slots = Arc::new(Semaphore::new(max_connections));
    let limits = Arc::new(limits);
    // Every connection holds a receiver: the send tells them to wind down.
    let (stop_tx, _) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(error = %err, "accepting a connection failed");
                    if !is_connection_error(&err) {
                        // Out of file descriptors or similar: give it a moment
                        // rather than spin.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let current = front.load();
        connections.spawn(connection(
            tcp,
            peer,
            current.acceptor.clone(),
            current.app.clone(),
            Arc::clone(&limits),
            stop_tx.subscribe(),
            slot,
        ));
    }
    drop(listener);
    stop_tx.send_replace(());
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            connections = connections.len(),
            "shutdown deadline passed: closing the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// `configured`, or half the open files limit if that is lower: the other
/// half is for the AWS clients, the log and the listener.
fn connection_cap(configured: usize, open_files_limit: Option<u64>) -> usize {
    match open_files_limit {
        Some(limit) => {
            let half = usize::try_from(limit / 2).unwrap_or(usize::MAX);
            configured.min(half).max(1)
        }
        None => configured.max(1),
    }
}

/// The soft `RLIMIT_NOFILE`, or `None` when unlimited or unknown.
#[cfg(unix)]
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes the struct it is given.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if status != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn open_files_limit() -> Option<u64> {
    None
}

#[derive(Clone, Copy)]
enum Protocol {
    /// Plain HTTP: HTTP/1.1, or HTTP/2 with prior knowledge.
    Detect,
    Http1,
    Http2,
}

async fn connection(
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    limits: Arc<ServeLimits>,
    mut stop: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
) {
    // Responses are written whole by hyper; Nagle would only delay the last
    // segment of each.
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        serve_connection(
            TokioIo::new(tcp),
            Protocol::Detect,
            app,
            &limits,
            stop,
            peer,
        )
        .await;
        return;
    };
    let handshake = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        _ = stop.changed() => return,
    };
    let protocol = if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        Protocol::Http2
    } else {
        Protocol::Http1
    };
    serve_connection(TokioIo::new(stream), protocol, app, &limits, stop, peer).await;
}

async fn serve_connection<I>(
    io: I,
    protocol: Protocol,
    app: Router,
    limits: &ServeLimits,
    mut stop: watch::Receiver<()>,
    peer: std::net::SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = Tracked {
        inner: TowerToHyperService::new(app),
        activity: Arc::clone(&activity),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    let builder = match protocol {
        Protocol::Detect => builder,
        Protocol::Http1 => builder.http1_only(),
        Protocol::Http2 => builder.http2_only(),
    };
    let connection = builder.serve_connection(io, service);
    let mut connection = pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        expired = activity.expired(limits) => {
            tracing::debug!(%peer, "closing the connection: {expired}");
            return;
        }
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            // A request in flight may finish, within the same limits.
            tokio::select! {
                result = connection.as_mut() => result,
                expired = activity.expired(limits) => {
                    tracing::debug!(%peer, "closing the connection: {expired}");
                    return;
                }
            }
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

// ---------------------------------------------------------------------------
// What a connection is doing, for the deadlines hyper does not enforce: the
// first request of an HTTP/2 (or not yet detected) connection, an idle
// HTTP/2 connection, and a response its client does not read.
// ---------------------------------------------------------------------------

struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    opened: Instant,
    requests_seen: bool,
    /// Requests whose response has not been sent whole.
    in_flight: usize,
    /// When `in_flight` last fell to zero.
    idle_since: Instant,
    /// When each response being sent was ready, by request number: the
    /// first entry is the oldest.
    sending: BTreeMap<u64, Instant>,
    next_request: u64,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                opened: now,
                requests_seen: false,
                in_flight: 0,
                idle_since: now,
                sending: BTreeMap::new(),
                next_request: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        let id = {
            let mut state = self.lock();
            state.requests_seen = true;
            state.in_flight += 1;
            state.next_request += 1;
            state.next_request
        };
        self.changed.notify_one();
        RequestGuard {
            activity: Arc::clone(self),
            id,
        }
    }

    /// The next deadline and what it is for; `None` while only handlers run.
    fn deadline(&self, limits: &ServeLimits) -> Option<(Instant, &'static str)> {
        let state = self.lock();
        if state.in_flight == 0 {
            return Some(if state.requests_seen {
                (state.idle_since + limits.idle_timeout, "idle timeout")
            } else {
                (
                    state.opened + limits.header_read_timeout,
                    "no request within the header read timeout",
                )
            });
        }
        let (_, ready) = state.sending.first_key_value()?;
        Some((
            *ready + limits.write_timeout,
            "response not read within the write timeout",
        ))
    }

    /// Resolves when the connection has passed one of its deadlines.
    async fn expired(&self, limits: &ServeLimits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                Some((deadline, why)) if deadline <= Instant::now() => return why,
                Some((deadline, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// One request, from its head until its response is sent whole or dropped.
struct RequestGuard {
    activity: Arc<Activity>,
    id: u64,
}

impl RequestGuard {
    fn response_ready(&self) {
        self.activity.lock().sending.insert(self.id, Instant::now());
        self.activity.changed.notify_one();
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        {
            let mut state = self.activity.lock();
            state.sending.remove(&self.id);
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
            }
        }
        self.activity.changed.notify_one();
    }
}

/// The router, with each request and its response body followed by the
/// connection's [`Activity`].
struct Tracked {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = self.activity.request_started();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            guard.response_ready();
            Ok(response.map(|body| TrackedBody {
                body,
                _guard: guard,
            }))
        })
    }
}

/// A response body that ends its request's [`RequestGuard`] when hyper is
/// done with it.
struct TrackedBody {
    body: Body,
    _guard: RequestGuard,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_half_the_open_files_to_the_rest() {
        let cases = [
            (512, None, 512),
            (512, Some(1_048_576), 512),
            (512, Some(200), 100),
            (512, Some(1), 1),
            (0, None, 1),
        ];
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|&(configured, limit, expected)| {
                let got = connection_cap(configured, limit);
                (got != expected)
                    .then(|| format!("{configured} with {limit:?}: {got}, expected {expected}"))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
