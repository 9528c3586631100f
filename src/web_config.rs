//! `--web.config.file`: TLS, client certificates, basic authentication and
//! extra response headers for the HTTP server, in the file format of the
//! Prometheus exporter-toolkit so that one web config works for every exporter
//! on a host.
//!
//! Everything is read and checked by [`load`], so a bad certificate stops the
//! exporter at start instead of failing the first scrape. Certificate and key
//! files are read again when they change on disk, so a renewed certificate is
//! served without a restart.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// A slow or silent client must not hold a connection slot, nor delay a
/// graceful shutdown, for longer than this.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Verified credentials remembered, so that a scrape every few seconds does
/// not pay a bcrypt verification each time. A handful of users is the use
/// case; the bound only stops a client cycling passwords from growing it.
const AUTH_CACHE_CAPACITY: usize = 100;

/// A problem in the web config file, naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("web.config.file {}: {}{message}", file.display(), key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct WebConfigError {
    pub file: PathBuf,
    /// Dotted path of the offending key (`tls_server_config.cert_file`), or
    /// the line of a YAML syntax error.
    pub key: Option<String>,
    pub message: String,
}

/// A loaded and validated web config: certificates are parsed, hashes are
/// checked, headers are valid.
#[derive(Clone)]
pub struct WebConfig {
    file: PathBuf,
    tls: Option<Arc<ServerConfig>>,
    basic_auth: Option<Arc<BasicAuth>>,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl WebConfig {
    /// The file this configuration was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    pub fn basic_auth_enabled(&self) -> bool {
        self.basic_auth.is_some()
    }

    /// Names of the `basic_auth_users`, sorted.
    pub fn basic_auth_users(&self) -> Vec<&str> {
        self.basic_auth
            .as_ref()
            .map(|auth| auth.users.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The extra response headers of `http_server_config.headers`.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
}

// Password hashes stay out of logs and panics.
impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("file", &self.file)
            .field("tls", &self.tls_enabled())
            .field("basic_auth_users", &self.basic_auth_users())
            .field("headers", &self.headers)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Raw document: the exporter-toolkit keys. Keys the toolkit has and this
// exporter does not implement are parsed as `IgnoredAny` only to be refused
// with a message that says so, rather than "unknown field".
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of web config keys")]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTlsServerConfig>,
    #[serde(default)]
    http_server_config: Option<RawHttpServerConfig>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rate_limit: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsServerConfig {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cert: Option<IgnoredAny>,
    #[serde(default)]
    key: Option<IgnoredAny>,
    #[serde(default)]
    client_ca: Option<IgnoredAny>,
    #[serde(default)]
    client_allowed_sans: Option<IgnoredAny>,
    #[serde(default)]
    cipher_suites: Option<IgnoredAny>,
    #[serde(default)]
    curve_preferences: Option<IgnoredAny>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServerConfig {
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    http2: Option<IgnoredAny>,
}

/// Reads, parses and validates a web config file, including the certificate,
/// key and CA files it names (relative paths are relative to the directory of
/// the web config file, as in exporter-toolkit).
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let error = |key: Option<&str>, message: String| WebConfigError {
        file: path.to_path_buf(),
        key: key.map(str::to_owned),
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|err| error(None, format!("cannot read file: {err}")))?;
    let raw = parse_raw(&text).map_err(|(key, message)| error(key.as_deref(), message))?;
    validate(raw, path).map_err(|(key, message)| error(Some(&key), message))
}

fn parse_raw(text: &str) -> Result<RawWebConfig, (Option<String>, String)> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Option<RawWebConfig>>(deserializer) {
        Ok(raw) => Ok(raw.unwrap_or_default()),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.inner();
            let mut message = inner.to_string();
            // serde_yaml_ng prefixes its own, coarser path; ours is the precise one.
            if let Some((prefix, rest)) = message.split_once(": ")
                && !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
            {
                message = rest.to_owned();
            }
            let key = if path == "." {
                inner.location().map(|at| format!("line {}", at.line()))
            } else {
                Some(path)
            };
            Err((key, message))
        }
    }
}

type Problem = (String, String);

fn problem(key: &str, message: impl Into<String>) -> Problem {
    (key.to_owned(), message.into())
}

fn not_supported(key: &str, instead: &str) -> Problem {
    problem(
        key,
        format!(
            "not supported by secrets-rotation-exporter (an exporter-toolkit option it does not implement); {instead}"
        ),
    )
}

fn validate(raw: RawWebConfig, file: &Path) -> Result<WebConfig, Problem> {
    let base_dir = file.parent().unwrap_or(Path::new(""));
    if raw.rate_limit.is_some() {
        return Err(not_supported(
            "rate_limit",
            "rate-limit in a reverse proxy and remove the key",
        ));
    }
    let tls = match raw.tls_server_config {
        Some(tls) => tls_server_config(tls, base_dir)?,
        None => None,
    };
    let http = raw.http_server_config.unwrap_or_default();
    if http.http2.is_some() {
        return Err(not_supported(
            "http_server_config.http2",
            "HTTP/2 is always offered over TLS (ALPN); remove the key",
        ));
    }
    let headers = extra_headers(http.headers.unwrap_or_default())?;
    let basic_auth = match raw.basic_auth_users {
        Some(users) if !users.is_empty() => Some(Arc::new(BasicAuth::new(users)?)),
        _ => None,
    };
    Ok(WebConfig {
        file: file.to_path_buf(),
        tls,
        basic_auth,
        headers: headers.into(),
    })
}

/// The headers exporter-toolkit lets a web config set, with the values it
/// accepts where the header is an enumeration. Kept identical so a file valid
/// for one exporter is valid for all.
struct AllowedHeader {
    name: &'static str,
    lowercase: &'static str,
    values: &'static [&'static str],
}

const ALLOWED_HEADERS: &[AllowedHeader] = &[
    AllowedHeader {
        name: "Strict-Transport-Security",
        lowercase: "strict-transport-security",
        values: &[],
    },
    AllowedHeader {
        name: "X-Content-Type-Options",
        lowercase: "x-content-type-options",
        values: &["nosniff"],
    },
    AllowedHeader {
        name: "X-Frame-Options",
        lowercase: "x-frame-options",
        values: &["deny", "sameorigin"],
    },
    AllowedHeader {
        name: "X-XSS-Protection",
        lowercase: "x-xss-protection",
        values: &[],
    },
    AllowedHeader {
        name: "Content-Security-Policy",
        lowercase: "content-security-policy",
        values: &[],
    },
];

fn extra_headers(
    headers: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Problem> {
    let mut extra = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let key = format!("http_server_config.headers.{name}");
        let Some(allowed) = ALLOWED_HEADERS.iter().find(|allowed| allowed.name == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|allowed| allowed.name).collect();
            return Err(problem(
                &key,
                format!(
                    "this header cannot be configured; allowed: {}",
                    names.join(", ")
                ),
            ));
        };
        // exporter-toolkit: a blank value leaves the header unset.
        if value.is_empty() {
            continue;
        }
        if !allowed.values.is_empty() && !allowed.values.contains(&value.as_str()) {
            return Err(problem(
                &key,
                format!(
                    "invalid value {value:?}; expected one of: {}",
                    allowed.values.join(", ")
                ),
            ));
        }
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| problem(&key, "value is not a valid HTTP header value"))?;
        extra.push((HeaderName::from_static(allowed.lowercase), header_value));
    }
    Ok(extra)
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuthType {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "NoClientCert" => Self::NoClientCert,
            "RequestClientCert" => Self::RequestClientCert,
            // exporter-toolkit keeps the old name working.
            "RequireAnyClientCert" | "RequireClientCert" => Self::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => Self::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => Self::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
}

fn tls_version(
    key: &str,
    text: &str,
) -> Result<&'static rustls::SupportedProtocolVersion, Problem> {
    match text {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(problem(
            key,
            format!("{text} is not supported (obsolete); use TLS12 or TLS13"),
        )),
        _ => Err(problem(
            key,
            format!("unknown TLS version {text:?}; expected TLS12 or TLS13"),
        )),
    }
}

fn crypto_provider() -> Arc<CryptoProvider> {
    // The provider the AWS SDK already links; named explicitly so the choice
    // does not depend on a process-wide default being installed.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_server_config(
    raw: RawTlsServerConfig,
    base_dir: &Path,
) -> Result<Option<Arc<ServerConfig>>, Problem> {
    let unsupported = [
        (
            "cert",
            raw.cert.is_some(),
            "put the PEM in a file named by cert_file",
        ),
        (
            "key",
            raw.key.is_some(),
            "put the PEM in a file named by key_file",
        ),
        (
            "client_ca",
            raw.client_ca.is_some(),
            "put the PEM in a file named by client_ca_file",
        ),
        (
            "client_allowed_sans",
            raw.client_allowed_sans.is_some(),
            "admit clients through a dedicated client_ca_file and remove the key",
        ),
        (
            "cipher_suites",
            raw.cipher_suites.is_some(),
            "only modern cipher suites are offered; remove the key",
        ),
        (
            "curve_preferences",
            raw.curve_preferences.is_some(),
            "only modern key exchange groups are offered; remove the key",
        ),
        (
            "prefer_server_cipher_suites",
            raw.prefer_server_cipher_suites.is_some(),
            "the server's preference order is always used; remove the key",
        ),
    ];
    if let Some((name, _, instead)) = unsupported.iter().find(|(_, present, _)| *present) {
        return Err(not_supported(&format!("tls_server_config.{name}"), instead));
    }

    let tls_requested = raw.cert_file.is_some()
        || raw.key_file.is_some()
        || raw.client_ca_file.is_some()
        || raw.client_auth_type.is_some()
        || raw.min_version.is_some()
        || raw.max_version.is_some();
    if !tls_requested {
        return Ok(None);
    }

    let resolve = |name: &str| base_dir.join(name);
    let cert_file = raw
        .cert_file
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(resolve)
        .ok_or_else(|| {
            problem(
                "tls_server_config.cert_file",
                "required when TLS is configured",
            )
        })?;
    let key_file = raw
        .key_file
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(resolve)
        .ok_or_else(|| {
            problem(
                "tls_server_config.key_file",
                "required when TLS is configured",
            )
        })?;

    let min_version = match raw.min_version.as_deref() {
        Some(text) => tls_version("tls_server_config.min_version", text)?,
        None => &rustls::version::TLS12,
    };
    let max_version = match raw.max_version.as_deref() {
        Some(text) => tls_version("tls_server_config.max_version", text)?,
        None => &rustls::version::TLS13,
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| version_rank(v) >= version_rank(min_version))
            .filter(|v| version_rank(v) <= version_rank(max_version))
            .collect();
    if versions.is_empty() {
        return Err(problem(
            "tls_server_config.min_version",
            "is higher than max_version",
        ));
    }

    let client_auth = match raw.client_auth_type.as_deref() {
        None | Some("") => ClientAuthType::NoClientCert,
        Some(text) => ClientAuthType::parse(text).ok_or_else(|| {
            problem(
                "tls_server_config.client_auth_type",
                format!(
                    "unknown value {text:?}; expected one of NoClientCert, RequestClientCert, \
                     RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
                ),
            )
        })?,
    };
    let client_ca_file = raw
        .client_ca_file
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(resolve);

    let provider = crypto_provider();
    let verifier: Arc<dyn ClientCertVerifier> = match (client_auth, &client_ca_file) {
        (ClientAuthType::NoClientCert, Some(_)) => {
            return Err(problem(
                "tls_server_config.client_ca_file",
                "set without a client_auth_type that asks for client certificates; \
                 use RequireAndVerifyClientCert",
            ));
        }
        (ClientAuthType::NoClientCert, None) => WebPkiClientVerifier::no_client_auth(),
        (ClientAuthType::RequestClientCert, _) => Arc::new(AnyClientCert {
            mandatory: false,
            algorithms: provider.signature_verification_algorithms,
        }),
        (ClientAuthType::RequireAnyClientCert, _) => Arc::new(AnyClientCert {
            mandatory: true,
            algorithms: provider.signature_verification_algorithms,
        }),
        (verifying, None) => {
            return Err(problem(
                "tls_server_config.client_ca_file",
                format!("required when client_auth_type is {verifying:?}"),
            ));
        }
        (verifying, Some(ca_file)) => {
            let roots = client_ca_roots(ca_file)?;
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if verifying == ClientAuthType::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder.build().map_err(|err| {
                problem(
                    "tls_server_config.client_ca_file",
                    format!("cannot build a client certificate verifier: {err}"),
                )
            })?
        }
    };

    let resolver = ReloadingCertResolver::load(cert_file, key_file, provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|err| problem("tls_server_config.min_version", err.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

fn version_rank(version: &rustls::SupportedProtocolVersion) -> u16 {
    u16::from(version.version)
}

fn client_ca_roots(ca_file: &Path) -> Result<RootCertStore, Problem> {
    let key = "tls_server_config.client_ca_file";
    let certs = read_certificates(ca_file).map_err(|message| problem(key, message))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|err| {
            problem(
                key,
                format!("{}: not a usable CA certificate: {err}", ca_file.display()),
            )
        })?;
    }
    Ok(roots)
}

fn read_certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem =
        std::fs::read(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{}: invalid PEM: {err}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM \"CERTIFICATE\" block found",
            file.display()
        ));
    }
    Ok(certs)
}

fn read_certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, Problem> {
    let chain = read_certificates(cert_file)
        .map_err(|message| problem("tls_server_config.cert_file", message))?;
    let key_pem = std::fs::read(key_file).map_err(|err| {
        problem(
            "tls_server_config.key_file",
            format!("cannot read {}: {err}", key_file.display()),
        )
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| {
        problem(
            "tls_server_config.key_file",
            format!("{}: no usable PEM private key: {err}", key_file.display()),
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|err| {
        problem(
            "tls_server_config.key_file",
            format!(
                "{} does not fit the certificate in {}: {err}",
                key_file.display(),
                cert_file.display()
            ),
        )
    })
}

/// What identifies one version of the certificate and key files on disk.
/// Kubernetes swaps a symlink and cert-manager rewrites in place; both change
/// the modification time or the size of the file the path resolves to.
type FileStamps = [Option<(SystemTime, u64)>; 2];

fn file_stamps(cert_file: &Path, key_file: &Path) -> FileStamps {
    let stamp = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|meta| Some((meta.modified().ok()?, meta.len())))
    };
    [stamp(cert_file), stamp(key_file)]
}

/// Serves the certificate loaded at start and, when the files change, the
/// renewed one; a renewal that does not load keeps the previous certificate
/// in service and is logged.
#[derive(Debug)]
struct ReloadingCertResolver {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(FileStamps, Arc<CertifiedKey>)>,
}

impl ReloadingCertResolver {
    fn load(
        cert_file: PathBuf,
        key_file: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, Problem> {
        let stamps = file_stamps(&cert_file, &key_file);
        let key = read_certified_key(&cert_file, &key_file, &provider)?;
        Ok(Self {
            cert_file,
            key_file,
            provider,
            current: Mutex::new((stamps, Arc::new(key))),
        })
    }
}

impl ResolvesServerCert for ReloadingCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let stamps = file_stamps(&self.cert_file, &self.key_file);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 != stamps {
            // Remember the stamps either way: a broken renewal is reported
            // once, and retried when the files change again.
            current.0 = stamps;
            match read_certified_key(&self.cert_file, &self.key_file, &self.provider) {
                Ok(key) => {
                    tracing::info!(cert_file = %self.cert_file.display(), "reloaded the TLS certificate");
                    current.1 = Arc::new(key);
                }
                Err((key, message)) => tracing::warn!(
                    %key,
                    error = %message,
                    "the changed TLS certificate or key does not load; still serving the previous one"
                ),
            }
        }
        Some(current.1.clone())
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is
/// asked for and its possession proven, but not checked against any CA, as
/// in Go's crypto/tls.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------
// Basic authentication
// ---------------------------------------------------------------------------

struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Hash verified for an unknown user, so that a wrong user name costs as
    /// long as a wrong password and user names cannot be probed by timing.
    decoy_hash: String,
    /// Outcome of past verifications, keyed by a SHA-256 of user, hash and
    /// password so that no password is kept in memory.
    verified: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time: a burst of bad passwords then costs one core,
    /// not all of them.
    bcrypt_slot: tokio::sync::Semaphore,
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> Result<Self, Problem> {
        for (user, hash) in &users {
            hash.parse::<bcrypt::HashParts>().map_err(|err| {
                problem(
                    &format!("basic_auth_users.{user}"),
                    format!(
                        "not a bcrypt hash ({err}); make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
                    ),
                )
            })?;
        }
        let decoy_hash = users.values().next().cloned().unwrap_or_default();
        Ok(Self {
            users,
            decoy_hash,
            verified: Mutex::new(HashMap::new()),
            bcrypt_slot: tokio::sync::Semaphore::new(1),
        })
    }

    async fn allows(&self, user: &str, password: &str) -> bool {
        let (known_user, hash) = match self.users.get(user) {
            Some(hash) => (true, hash.clone()),
            None => (false, self.decoy_hash.clone()),
        };
        let cache_key = credentials_digest(user, &hash, password);
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&cache_key)
            .copied();
        let matches = match cached {
            Some(matches) => matches,
            None => {
                let Ok(_slot) = self.bcrypt_slot.acquire().await else {
                    return false;
                };
                let password = password.to_owned();
                let matches = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(password, &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                let mut verified = self
                    .verified
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if verified.len() >= AUTH_CACHE_CAPACITY
                    && let Some(evicted) = verified.keys().next().copied()
                {
                    verified.remove(&evicted);
                }
                verified.insert(cache_key, matches);
                matches
            }
        };
        known_user && matches
    }
}

fn credentials_digest(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

/// `user:password` from an `Authorization: Basic` header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

struct Guard {
    basic_auth: Option<Arc<BasicAuth>>,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let allowed = match &guard.basic_auth {
        None => true,
        Some(auth) => match basic_credentials(&request) {
            Some((user, password)) => auth.allows(&user, &password).await,
            None => false,
        },
    };
    let mut response = if allowed {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"))],
            "Unauthorized\n",
        )
            .into_response()
    };
    // Set on every response, the 401 included, as exporter-toolkit does.
    for (name, value) in guard.headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// `app` behind the basic authentication and the extra headers of `web`.
pub fn protect(app: Router, web: &WebConfig) -> Router {
    if web.basic_auth.is_none() && web.headers.is_empty() {
        return app;
    }
    let state = Arc::new(Guard {
        basic_auth: web.basic_auth.clone(),
        headers: web.headers.clone(),
    });
    app.layer(axum::middleware::from_fn_with_state(state, guard))
}

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

/// Serves `app` on `listener` until `shutdown` resolves, with the TLS, client
/// certificates, basic authentication and headers of `web`. On shutdown it
/// stops accepting and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Option<&WebConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let Some(web) = web else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    tracing::info!(
        web_config_file = %web.file.display(),
        tls = web.tls_enabled(),
        basic_auth = web.basic_auth_enabled(),
        "serving with the web config"
    );
    let app = protect(app, web);
    match &web.tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => serve_tls(listener, app, tls.clone(), shutdown).await,
    }
}

async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    // Every connection holds a receiver: the send tells them to wind down,
    // `closed()` says they all have.
    let (stop_tx, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
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
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
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
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(stream);
            let result = if h2 {
                let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service);
                let mut connection = pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => result,
                    _ = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            } else {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades();
                let mut connection = pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => result,
                    _ = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop_tx.send_replace(());
    stop_tx.closed().await;
    Ok(())
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
