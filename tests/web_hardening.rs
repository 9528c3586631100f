//! Hostile clients against the real `serve` on 127.0.0.1:0: slow headers,
//! clients that never read, slow clients at shutdown, floods of wrong
//! passwords. The limits are shortened through `ServeLimits` so the tests
//! run in seconds; what is asserted is that each limit holds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use chrono::Utc;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use secrets_rotation_exporter::web::{self, ServeLimits, WebConfig};
use simulator::{Fleet, SecretSpec};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

fn test_app() -> Router {
    Router::new().route("/metrics", get(|| async { "up 1\n" }))
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(app: Router, web: Option<WebConfig>, limits: ServeLimits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            web::serve_with_limits(listener, app, web.as_ref(), limits, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Asks for shutdown and returns how long `serve` took to return.
    async fn shut_down(mut self, at_most: Duration) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(at_most, self.task)
            .await
            .unwrap_or_else(|_| panic!("serve did not return within {at_most:?}"))
            .expect("server task")
            .expect("clean shutdown");
        started.elapsed()
    }
}

fn short_limits() -> ServeLimits {
    ServeLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        shutdown_timeout: Duration::from_secs(2),
        tls_handshake_timeout: Duration::from_secs(1),
        max_connections: 512,
    }
}

/// A connection that sends the start of a request head and no more.
async fn slow_header_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("send part of a head");
    tcp
}

/// How long until the server closes `stream` (end of file or reset), or
/// `None` if it is still open after `wait`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    wait: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                // A 408 or similar before closing is fine.
                Ok(_) => continue,
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

// ---------------------------------------------------------------------------
// Slow headers and silent connections
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_are_closed_after_the_header_timeout_while_scrapes_are_served() {
    let limits = short_limits();
    let header_timeout = limits.header_read_timeout;
    let server = Server::start(test_app(), None, limits).await;

    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(slow_header_client(server.addr).await);
    }
    let started = Instant::now();
    let reply = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .expect("scrape while 200 slow clients are connected");
    let scrape = started.elapsed();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.expect("body"), "up 1\n");
    println!("scrape with 200 slow-header clients connected: {scrape:?}");
    assert!(
        scrape < header_timeout,
        "the scrape waited {scrape:?}, as long as the slow clients are allowed"
    );

    let mut open = 0;
    let mut slowest = Duration::ZERO;
    for stream in &mut slow {
        match closed_within(stream, header_timeout + Duration::from_secs(3)).await {
            Some(after) => slowest = slowest.max(after),
            None => open += 1,
        }
    }
    println!("last slow-header client closed {slowest:?} after the scrape");
    assert_eq!(
        open, 0,
        "slow-header clients still open well past the header timeout"
    );
    server.shut_down(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_by_the_header_timeout() {
    let limits = short_limits();
    let header_timeout = limits.header_read_timeout;
    let server = Server::start(test_app(), None, limits).await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let closed = closed_within(&mut silent, header_timeout + Duration::from_secs(3)).await;
    assert!(closed.is_some(), "a silent plain connection stays open");
    server.shut_down(Duration::from_secs(5)).await;
}

struct Tls {
    _dir: TempDir,
    web: WebConfig,
    client: rustls::ClientConfig,
}

fn tls(extra: &str) -> Tls {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("server.crt"), certified.cert.pem()).expect("write cert");
    std::fs::write(
        dir.path().join("server.key"),
        certified.signing_key.serialize_pem(),
    )
    .expect("write key");
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}"),
    )
    .expect("write web config");
    let web = web::load(&path).expect("web config loads");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(certified.cert.pem().as_bytes()).expect("PEM"))
        .expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Tls {
        _dir: dir,
        web,
        client,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_connection_silent_after_the_handshake_is_closed_by_the_header_timeout() {
    let tls = tls("");
    let limits = short_limits();
    let header_timeout = limits.header_read_timeout;
    let server = Server::start(test_app(), Some(tls.web.clone()), limits).await;
    let mut failures = Vec::new();
    for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
        let mut client = tls.client.clone();
        client.alpn_protocols = vec![alpn.to_vec()];
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let mut stream = TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("handshake");
        let name = String::from_utf8_lossy(alpn).into_owned();
        match closed_within(&mut stream, header_timeout + Duration::from_secs(3)).await {
            Some(after) => println!("{name}: silent TLS connection closed after {after:?}"),
            None => failures.push(format!("{name}: still open")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.shut_down(Duration::from_secs(5)).await;
}

// ---------------------------------------------------------------------------
// Clients that never read
// ---------------------------------------------------------------------------

/// Enough secrets that a plain /metrics body is far larger than what the
/// socket buffers of a client that does not read can absorb.
fn large_fleet() -> Fleet {
    Fleet::builder()
        .base_account("111111111111")
        .regions(["us-east-1"])
        .account("111111111111")
        .region("us-east-1")
        .secrets((0..4_000).map(|i| {
            SecretSpec::new(format!("app/team-{:02}/service-secret-{i:05}", i % 40))
                .created_days_ago(3)
        }))
        .build()
        .expect("fleet")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_metrics_do_not_block_other_scrapes_past_the_write_timeout() {
    let simulator = simulator::start(large_fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let config = config::parse("regions: [us-east-1]\n").expect("config");
    let exporter = Exporter::build(config, simulator_sdk_config(&simulator).await)
        .await
        .expect("exporter builds");
    exporter.poller.poll_once(Utc::now()).await;
    let limits = short_limits();
    let write_timeout = limits.write_timeout;
    let server = Server::start(web::app(Arc::clone(&exporter.state)), None, limits).await;

    // As many as there are plain rendering slots, so that all are held.
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut stalled = Vec::new();
    for _ in 0..slots {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let mut tcp = socket.connect(server.addr).await.expect("connect");
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("request");
        stalled.push(tcp);
    }
    // Let the stalled responses fill every buffer on the way.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let scrape = tokio::time::timeout(
        write_timeout * 10,
        reqwest::get(format!("http://{}/metrics", server.addr)),
    )
    .await
    .expect("a plain scrape is answered once the stalled ones time out")
    .expect("scrape");
    assert_eq!(scrape.status(), 200);
    let body = scrape.text().await.expect("body");
    let elapsed = started.elapsed();
    println!(
        "plain scrape of {} bytes behind {slots} stalled readers: {elapsed:?} (write timeout {write_timeout:?})",
        body.len()
    );
    assert!(
        body.contains("aws_secretsmanager_secret_info"),
        "a whole exposition"
    );
    assert!(
        elapsed >= write_timeout / 2,
        "answered in {elapsed:?}: the stalled readers did not hold the rendering slots, so this test proves nothing"
    );
    assert!(
        elapsed < write_timeout * 5,
        "the scrape waited {elapsed:?}, far past the write timeout"
    );
    server.shut_down(Duration::from_secs(10)).await;
    drop(stalled);
    simulator.shutdown().await;
}

// ---------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_twenty_slow_clients_ends_within_the_shutdown_deadline() {
    let limits = ServeLimits {
        // Longer than the test: only the shutdown deadline can end them.
        header_read_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        shutdown_timeout: Duration::from_secs(2),
        ..short_limits()
    };
    let deadline = limits.shutdown_timeout;
    let server = Server::start(test_app(), None, limits).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(slow_header_client(server.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = server.shut_down(deadline + Duration::from_secs(5)).await;
    println!("shutdown with 20 slow clients: {took:?} (deadline {deadline:?})");
    assert!(
        took >= deadline.mul_f32(0.9),
        "shutdown took {took:?}: the slow clients were not waited for at all"
    );
    let mut open = 0;
    for stream in &mut slow {
        if closed_within(stream, Duration::from_secs(1))
            .await
            .is_none()
        {
            open += 1;
        }
    }
    assert_eq!(open, 0, "connections left open after shutdown");
}

// ---------------------------------------------------------------------------
// Basic authentication under a flood of wrong passwords
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_scraper_is_answered_quickly_during_a_flood_of_wrong_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The cost exporter-toolkit's docs and htpasswd -B use.
    let hash = bcrypt::hash("right password", 10).expect("hash");
    let path = dir.path().join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  scraper: {hash}\n")).expect("write");
    let web = web::load(&path).expect("web config loads");
    let server = Server::start(test_app(), Some(web), ServeLimits::default()).await;
    let url = format!("http://{}/metrics", server.addr);

    let scraper = reqwest::Client::new();
    let first = scraper
        .get(&url)
        .basic_auth("scraper", Some("right password"))
        .send()
        .await
        .expect("first scrape");
    assert_eq!(first.status(), 200, "the right password is admitted");

    let flooding = Arc::new(AtomicBool::new(true));
    let unauthorized = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for client in 0..200 {
        let (url, flooding, unauthorized, busy) = (
            url.clone(),
            flooding.clone(),
            unauthorized.clone(),
            busy.clone(),
        );
        flood.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut attempt = 0u64;
            while flooding.load(Ordering::Relaxed) {
                attempt += 1;
                let Ok(response) = http
                    .get(&url)
                    .basic_auth("scraper", Some(format!("guess {client} {attempt}")))
                    .send()
                    .await
                else {
                    continue;
                };
                match response.status().as_u16() {
                    401 => unauthorized.fetch_add(1, Ordering::Relaxed),
                    429 => busy.fetch_add(1, Ordering::Relaxed),
                    other => panic!("a wrong password got {other}"),
                };
            }
        }));
    }
    // Until the flood is in full swing: every bcrypt slot busy.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut latencies = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let response = scraper
            .get(&url)
            .basic_auth("scraper", Some("right password"))
            .send()
            .await
            .expect("scrape during the flood");
        let status = response.status();
        let body = response.text().await.expect("body");
        latencies.push(started.elapsed());
        assert_eq!((status.as_u16(), body.as_str()), (200, "up 1\n"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flooding.store(false, Ordering::Relaxed);
    for client in flood {
        client.await.expect("flood client");
    }
    let (unauthorized, busy) = (
        unauthorized.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
    );
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    println!(
        "scraper latencies during the flood: {latencies:?}, slowest {slowest:?}; flood answers: {unauthorized} x 401, {busy} x 429"
    );
    assert!(
        unauthorized > 0 && busy > 0,
        "the flood must both run bcrypt and be turned away ({unauthorized} x 401, {busy} x 429)"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "the verified scraper waited {slowest:?} during the flood: {latencies:?}"
    );
    server.shut_down(Duration::from_secs(15)).await;
}

#[test]
fn hashes_with_a_cost_bcrypt_refuses_fail_at_load_naming_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = bcrypt::hash("pw", 4).expect("hash");
    let mut failures = Vec::new();
    for cost in ["03", "99"] {
        let bad = format!("{}{cost}{}", &good[..4], &good[6..]);
        let path = dir.path().join(format!("web-{cost}.yml"));
        std::fs::write(
            &path,
            format!("basic_auth_users:\n  prometheus: {good}\n  scraper: {bad}\n"),
        )
        .expect("write");
        match web::load(&path) {
            Ok(_) => failures.push(format!("cost {cost}: loaded")),
            Err(err) => {
                let message = err.to_string();
                if err.key.as_deref() != Some("basic_auth_users.scraper")
                    || !message.contains(&format!("cost {cost}"))
                {
                    failures.push(format!("cost {cost}: {message}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// The start-up warning
// ---------------------------------------------------------------------------

#[test]
fn an_unprotected_non_loopback_address_is_reported_with_what_it_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let path = dir.path().join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  scraper: {hash}\n")).expect("write");
    let basic_auth = web::load(&path).expect("loads");
    let tls = tls("");
    let both = self::tls(&format!("basic_auth_users:\n  scraper: {hash}\n"));

    let any: SocketAddr = "0.0.0.0:9897".parse().expect("address");
    let loopback: SocketAddr = "127.0.0.1:9897".parse().expect("address");
    let loopback6: SocketAddr = "[::1]:9897".parse().expect("address");
    let cases: [(SocketAddr, Option<&WebConfig>, &[&str]); 6] = [
        (any, None, &["TLS", "basic authentication"]),
        (any, Some(&basic_auth), &["TLS"]),
        (any, Some(&tls.web), &["basic authentication"]),
        (any, Some(&both.web), &[]),
        (loopback, None, &[]),
        (loopback6, None, &[]),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(address, web, expected)| {
            let got = web::unprotected(*address, *web);
            (got != *expected).then(|| format!("{address} {:?}: {got:?}", web.is_some()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
