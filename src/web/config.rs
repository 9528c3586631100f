//! `--web.config.file`: TLS, client certificates, basic authentication and
//! extra response headers for the HTTP server, in the file format of the
//! Prometheus exporter-toolkit so that one web config works for every exporter
//! on a host.
//!
//! Everything is read and checked by [`load`], so a bad certificate stops the
//! exporter at start instead of failing the first scrape. Certificate and key
//! files are read again when they change on disk, so a renewed certificate is
//! served without a restart.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use rustls::ServerConfig;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::auth::BasicAuth;
use super::tls::tls_server_config;

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
    pub(super) file: PathBuf,
    pub(super) tls: Option<Arc<ServerConfig>>,
    pub(super) basic_auth: Option<Arc<BasicAuth>>,
    pub(super) headers: Arc<[(HeaderName, HeaderValue)]>,
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
            .map(|auth| auth.users().collect())
            .unwrap_or_default()
    }

    /// The extra response headers of `http_server_config.headers`.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
}

/// What a server on `address` with `web` lacks to keep `/metrics` to the
/// scrapers: `/metrics` names every secret, its ARN, tags and account, which
/// anyone who can reach a non-loopback address would otherwise read. Empty
/// on a loopback address, where only the host itself connects.
pub fn unprotected(address: SocketAddr, web: Option<&WebConfig>) -> Vec<&'static str> {
    if address.ip().is_loopback() {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if !web.is_some_and(WebConfig::tls_enabled) {
        missing.push("TLS");
    }
    if !web.is_some_and(WebConfig::basic_auth_enabled) {
        missing.push("basic authentication");
    }
    missing
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
pub(super) struct RawTlsServerConfig {
    #[serde(default)]
    pub(super) cert_file: Option<String>,
    #[serde(default)]
    pub(super) key_file: Option<String>,
    #[serde(default)]
    pub(super) client_auth_type: Option<String>,
    #[serde(default)]
    pub(super) client_ca_file: Option<String>,
    #[serde(default)]
    pub(super) min_version: Option<String>,
    #[serde(default)]
    pub(super) max_version: Option<String>,
    #[serde(default)]
    pub(super) cert: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) key: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) client_ca: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) client_allowed_sans: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) cipher_suites: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) curve_preferences: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) prefer_server_cipher_suites: Option<IgnoredAny>,
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
    parse(&text, path)
}

/// Parses and validates the text of a web config file; `path` names the
/// file in errors and is where relative certificate paths start. Kept apart
/// from [`load`] so the YAML handling can be fuzzed without a file per input.
pub fn parse(text: &str, path: &Path) -> Result<WebConfig, WebConfigError> {
    let error = |key: Option<&str>, message: String| WebConfigError {
        file: path.to_path_buf(),
        key: key.map(str::to_owned),
        message,
    };
    let raw = parse_raw(text).map_err(|(key, message)| error(key.as_deref(), message))?;
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

pub(super) type Problem = (String, String);

pub(super) fn problem(key: &str, message: impl Into<String>) -> Problem {
    (key.to_owned(), message.into())
}

pub(super) fn not_supported(key: &str, instead: &str) -> Problem {
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
