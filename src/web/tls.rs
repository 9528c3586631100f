//! The TLS side of the web config: protocol versions, client certificate
//! checks, and a server certificate that follows its files on disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

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

use super::config::{Problem, RawTlsServerConfig, not_supported, problem};

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

pub(super) fn tls_server_config(
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
