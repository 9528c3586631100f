//! `--web.config.file`: parsing and validation against fixture files, then
//! real servers on 127.0.0.1:0 with basic authentication, TLS and mutual TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use secrets_rotation_exporter::web::{self, WebConfig};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/web")
}

fn fixture_files(suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixture directory")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {suffix} fixtures");
    files
}

// ---------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------

/// Each bad fixture names, on its first line, the message it must produce.
#[test]
fn every_bad_fixture_fails_with_its_expected_message() {
    let mut failures = Vec::new();
    for file in fixture_files(".bad.yaml") {
        let text = std::fs::read_to_string(&file).expect("fixture");
        let expected = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be '# expect: ...'", file.display()))
            .replace("{dir}", &fixtures().display().to_string());
        let message = match web::load(&file) {
            Ok(_) => {
                failures.push(format!("{}: loaded, expected {expected:?}", file.display()));
                continue;
            }
            Err(err) => err.to_string(),
        };
        let prefix = format!("web.config.file {}: ", file.display());
        if !message.starts_with(&prefix) || !message.contains(&expected) {
            failures.push(format!(
                "{message:?}\n    expected {prefix:?} ... {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unsupported_exporter_toolkit_keys_are_named_as_such() {
    let err = web::load(&fixtures().join("cipher-suites.bad.yaml")).expect_err("refused");
    assert_eq!(err.key.as_deref(), Some("tls_server_config.cipher_suites"));
    assert!(err.message.contains("not supported"), "{}", err.message);
}

#[test]
fn a_missing_web_config_file_is_named() {
    let missing = fixtures().join("no-such-web-config.yml");
    let err = web::load(&missing).expect_err("missing file");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "web.config.file {}: cannot read file",
            missing.display()
        )),
        "{message}"
    );
}

#[test]
fn basic_auth_and_headers_fixture_loads() {
    let config = web::load(&fixtures().join("basic-auth-and-headers.ok.yaml")).expect("ok");
    assert!(config.basic_auth_enabled());
    assert!(!config.tls_enabled());
    assert_eq!(config.basic_auth_users(), vec!["prometheus"]);
    let headers: Vec<(String, String)> = config
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
        .collect();
    // The blank Content-Security-Policy is left unset, as in exporter-toolkit.
    assert_eq!(
        headers,
        vec![
            ("x-content-type-options".to_owned(), "nosniff".to_owned()),
            ("x-frame-options".to_owned(), "deny".to_owned()),
        ]
    );
    assert!(
        !format!("{config:?}").contains("$2y$"),
        "password hashes stay out of Debug output"
    );
}

#[test]
fn an_empty_web_config_enables_nothing() {
    let config = web::load(&fixtures().join("empty.ok.yaml")).expect("ok");
    assert!(!config.tls_enabled());
    assert!(!config.basic_auth_enabled());
    assert!(config.headers().is_empty());
}

// ---------------------------------------------------------------------------
// Certificates made for each test
// ---------------------------------------------------------------------------

struct Pki {
    dir: TempDir,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new(ca_name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, ca_name);
        let ca = params.self_signed(&key).expect("CA certificate");
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, names: &[&str], common_name: &str) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// Writes the server certificate and a web config with `extra` lines
    /// under `tls_server_config`, and loads it.
    fn web_config(&self, extra_tls: &str, rest: &str) -> WebConfig {
        let server = self.leaf(&["localhost", "127.0.0.1"], "exporter");
        self.write("server.crt", &server.cert_pem);
        self.write("server.key", &server.key_pem);
        self.write("ca.crt", &self.ca_pem);
        // Relative paths: resolved against the web config's directory.
        let yaml = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra_tls}{rest}"
        );
        let path = self.write("web.yml", &yaml);
        web::load(&path).expect("web config loads")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client_tls(trusted_ca_pem: &str, client: Option<&Leaf>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trusted_ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    match client {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let chain = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client chain");
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate")
        }
    }
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// `/slow` tells `slow_started` when a request has reached it, so a test can
/// shut down with a request surely in flight.
fn test_app(slow_started: Arc<Notify>) -> Router {
    Router::new()
        .route("/metrics", get(|| async { "up 1\n" }))
        .route(
            "/slow",
            get(move || async move {
                slow_started.notify_one();
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow done\n"
            }),
        )
}

struct Server {
    addr: SocketAddr,
    slow_started: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(web: Option<WebConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let slow_started = Arc::new(Notify::new());
        let app = test_app(slow_started.clone());
        let task = tokio::spawn(async move {
            web::serve(listener, app, web.as_ref(), async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            slow_started,
            stop: Some(stop),
            task,
        }
    }

    async fn shut_down(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server stops within 5s")
            .expect("server task")
    }
}

struct Reply {
    status: u16,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn plain_get(addr: SocketAddr, path: &str, credentials: Option<(&str, &str)>) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client.get(format!("http://{addr}{path}"));
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.expect("plain HTTP request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

/// GET over TLS; any failure (handshake, refused client certificate, reset)
/// comes back as the error text.
async fn tls_get(addr: SocketAddr, tls: rustls::ClientConfig, path: &str) -> Result<Reply, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let connector = TlsConnector::from(Arc::new(tls));
    let server_name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let stream = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let request = axum::http::Request::get(format!("https://localhost{path}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(connection);
        sender.send_request(request).await
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("http1 handshake: {e}"))?;
        tokio::spawn(connection);
        sender.send_request(request).await
    }
    .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn with_alpn(mut tls: rustls::ClientConfig, protocols: &[&[u8]]) -> rustls::ClientConfig {
    tls.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    tls
}

// ---------------------------------------------------------------------------
// Plain HTTP, basic authentication, headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn without_a_web_config_it_serves_plain_http() {
    let server = Server::start(None).await;
    let reply = plain_get(server.addr, "/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "up 1\n");
    server.shut_down().await.expect("clean shutdown");
}

fn basic_auth_config(dir: &TempDir, password: &str) -> WebConfig {
    // Cost 4 keeps the test quick; the cost is read from the hash.
    let hash = bcrypt::hash(password, 4).expect("bcrypt hash");
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        format!(
            "basic_auth_users:\n  prometheus: {hash}\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        ),
    )
    .expect("write web config");
    web::load(&path).expect("web config loads")
}

#[tokio::test]
async fn basic_auth_refuses_missing_and_wrong_credentials_and_admits_the_right_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(Some(basic_auth_config(&dir, "s3cret:with:colons"))).await;

    let anonymous = plain_get(server.addr, "/metrics", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous
            .headers
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Basic"[..])
    );
    assert_eq!(
        anonymous
            .headers
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "configured headers are on the 401 too"
    );
    assert!(!anonymous.body.contains("up 1"));

    let wrong_password = plain_get(server.addr, "/metrics", Some(("prometheus", "guess"))).await;
    assert_eq!(wrong_password.status, 401);
    let wrong_user = plain_get(
        server.addr,
        "/metrics",
        Some(("admin", "s3cret:with:colons")),
    )
    .await;
    assert_eq!(wrong_user.status, 401);

    for _ in 0..3 {
        // Repeated scrapes are answered from the verification cache.
        let right = plain_get(
            server.addr,
            "/metrics",
            Some(("prometheus", "s3cret:with:colons")),
        )
        .await;
        assert_eq!(right.status, 200);
        assert_eq!(right.body, "up 1\n");
        assert_eq!(
            right
                .headers
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
    }
    // A cached success must not admit a different password afterwards.
    let after = plain_get(server.addr, "/metrics", Some(("prometheus", "s3cret:with"))).await;
    assert_eq!(after.status, 401);

    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn hashes_made_by_htpasswd_and_go_bcrypt_verify() {
    let config = web::load(&fixtures().join("basic-auth-and-headers.ok.yaml")).expect("ok");
    let server = Server::start(Some(config)).await;
    let right = plain_get(
        server.addr,
        "/metrics",
        Some(("prometheus", "fakepassword")),
    )
    .await;
    assert_eq!(right.status, 200);
    assert_eq!(
        right.headers.get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"deny"[..])
    );
    assert!(right.headers.get("content-security-policy").is_none());
    let wrong = plain_get(
        server.addr,
        "/metrics",
        Some(("prometheus", "fakepassword2")),
    )
    .await;
    assert_eq!(wrong.status, 401);
    server.shut_down().await.expect("clean shutdown");
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tls_serves_clients_that_trust_the_certificate_over_http1_and_h2() {
    let pki = Pki::new("test CA");
    let config = pki.web_config("", "");
    assert!(config.tls_enabled());
    let server = Server::start(Some(config)).await;

    for alpn in [
        &[b"http/1.1".as_slice()][..],
        &[b"h2".as_slice()][..],
        &[][..],
    ] {
        let reply = tls_get(
            server.addr,
            with_alpn(client_tls(&pki.ca_pem, None), alpn),
            "/metrics",
        )
        .await
        .unwrap_or_else(|err| panic!("ALPN {alpn:?}: {err}"));
        assert_eq!(reply.status, 200, "ALPN {alpn:?}");
        assert_eq!(reply.body, "up 1\n");
    }

    // A client that does not trust the certificate gets nothing.
    let stranger = Pki::new("another CA");
    let refused = tls_get(server.addr, client_tls(&stranger.ca_pem, None), "/metrics").await;
    assert!(
        refused.is_err(),
        "an untrusted certificate must fail the handshake"
    );

    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn failed_handshakes_do_not_stop_the_server() {
    let pki = Pki::new("test CA");
    let server = Server::start(Some(pki.web_config("", ""))).await;

    // Plain HTTP to the TLS port, then a client that hangs up mid-handshake.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));
    drop(TcpStream::connect(server.addr).await.expect("connect"));

    let reply = tls_get(server.addr, client_tls(&pki.ca_pem, None), "/metrics")
        .await
        .expect("served after failed handshakes");
    assert_eq!(reply.status, 200);
    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn tls_with_basic_auth_needs_both() {
    let pki = Pki::new("test CA");
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let config = pki.web_config("", &format!("basic_auth_users:\n  scraper: {hash}\n"));
    let server = Server::start(Some(config)).await;
    let reply = tls_get(server.addr, client_tls(&pki.ca_pem, None), "/metrics")
        .await
        .expect("TLS works");
    assert_eq!(reply.status, 401);
    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn tls12_only_server_refuses_a_tls13_only_client() {
    let pki = Pki::new("test CA");
    let server = Server::start(Some(pki.web_config("  max_version: TLS12\n", ""))).await;
    let tls13_only = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("CA"))
                .expect("root");
            roots
        })
        .with_no_client_auth();
    assert!(tls_get(server.addr, tls13_only, "/metrics").await.is_err());
    let reply = tls_get(server.addr, client_tls(&pki.ca_pem, None), "/metrics")
        .await
        .expect("TLS 1.2 is served");
    assert_eq!(reply.status, 200);
    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let pki = Pki::new("client CA");
    let config = pki.web_config(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
        "",
    );
    let server = Server::start(Some(config)).await;

    let anonymous = tls_get(server.addr, client_tls(&pki.ca_pem, None), "/metrics").await;
    assert!(anonymous.is_err(), "no client certificate: refused");

    let stranger = Pki::new("rogue CA");
    let rogue = stranger.leaf(&["prometheus"], "prometheus");
    let refused = tls_get(
        server.addr,
        client_tls(&pki.ca_pem, Some(&rogue)),
        "/metrics",
    )
    .await;
    assert!(refused.is_err(), "certificate from another CA: refused");

    let prometheus = pki.leaf(&["prometheus"], "prometheus");
    let reply = tls_get(
        server.addr,
        client_tls(&pki.ca_pem, Some(&prometheus)),
        "/metrics",
    )
    .await
    .expect("a certificate from the CA is served");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "up 1\n");
    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn verify_client_cert_if_given_admits_anonymous_clients_but_checks_presented_ones() {
    let pki = Pki::new("client CA");
    let config = pki.web_config(
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n",
        "",
    );
    let server = Server::start(Some(config)).await;
    let anonymous = tls_get(server.addr, client_tls(&pki.ca_pem, None), "/metrics")
        .await
        .expect("anonymous client served");
    assert_eq!(anonymous.status, 200);
    let rogue = Pki::new("rogue CA").leaf(&["prometheus"], "prometheus");
    assert!(
        tls_get(
            server.addr,
            client_tls(&pki.ca_pem, Some(&rogue)),
            "/metrics"
        )
        .await
        .is_err()
    );
    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn require_any_client_cert_accepts_any_certificate_but_requires_one() {
    let pki = Pki::new("server CA");
    let server = Server::start(Some(
        pki.web_config("  client_auth_type: RequireAnyClientCert\n", ""),
    ))
    .await;
    assert!(
        tls_get(server.addr, client_tls(&pki.ca_pem, None), "/metrics")
            .await
            .is_err()
    );
    let self_made = Pki::new("anyone").leaf(&["prometheus"], "prometheus");
    let reply = tls_get(
        server.addr,
        client_tls(&pki.ca_pem, Some(&self_made)),
        "/metrics",
    )
    .await
    .expect("any certificate is accepted");
    assert_eq!(reply.status, 200);
    server.shut_down().await.expect("clean shutdown");
}

#[test]
fn a_key_that_does_not_match_the_certificate_fails_at_load() {
    let pki = Pki::new("test CA");
    let server = pki.leaf(&["localhost"], "exporter");
    let other = pki.leaf(&["localhost"], "other");
    pki.write("server.crt", &server.cert_pem);
    pki.write("server.key", &other.key_pem);
    let path = pki.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let message = web::load(&path).expect_err("mismatch").to_string();
    assert!(
        message.contains("tls_server_config.key_file: ") && message.contains("does not fit"),
        "{message}"
    );

    pki.write("server.key", "not a key\n");
    let message = web::load(&path).expect_err("garbage key").to_string();
    assert!(
        message.contains("tls_server_config.key_file: "),
        "{message}"
    );
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = Pki::new("test CA");
    let server = Server::start(Some(pki.web_config("", ""))).await;

    let served_common_name = |addr: SocketAddr| {
        let tls = client_tls(&pki.ca_pem, None);
        async move {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let stream = TlsConnector::from(Arc::new(tls))
                .connect(ServerName::try_from("localhost").expect("name"), tcp)
                .await
                .expect("handshake");
            let cert = stream.get_ref().1.peer_certificates().expect("certificate")[0].clone();
            cert.as_ref().to_vec()
        }
    };
    let before = served_common_name(server.addr).await;

    let renewed = pki.leaf(&["localhost", "127.0.0.1"], "exporter renewed");
    pki.write("server.crt", &renewed.cert_pem);
    pki.write("server.key", &renewed.key_pem);
    let after = served_common_name(server.addr).await;
    assert_ne!(before, after, "the renewed certificate is served");
    let expected = CertificateDer::from_pem_slice(renewed.cert_pem.as_bytes()).expect("PEM");
    assert_eq!(after, expected.as_ref());

    // A broken renewal keeps the last good certificate in service.
    pki.write("server.key", "broken\n");
    assert_eq!(served_common_name(server.addr).await, after);
    server.shut_down().await.expect("clean shutdown");
}

#[tokio::test]
async fn tls_shutdown_lets_the_request_in_flight_finish() {
    let pki = Pki::new("test CA");
    let server = Server::start(Some(pki.web_config("", ""))).await;
    let addr = server.addr;
    let tls = client_tls(&pki.ca_pem, None);
    let in_flight = tokio::spawn(async move { tls_get(addr, tls, "/slow").await });
    server.slow_started.notified().await;
    server.shut_down().await.expect("clean shutdown");
    let reply = in_flight
        .await
        .expect("task")
        .expect("in-flight request completes");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "slow done\n");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}
