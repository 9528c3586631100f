//! The AWS seam: SDK clients built for each use from shared parts (one
//! HTTPS client, credentials cached per account), with explicit timeouts and
//! a retry partition per account, service and region.

// Every value here may come from AWS, and AWS has sent dates that overflow
// unchecked arithmetic (a far-future `LastRotatedDate` once panicked the
// whole poll): arithmetic is checked or saturating, or says why it cannot
// overflow.
#![deny(clippy::arithmetic_side_effects)]

mod assume_role;
pub mod cloudtrail;
pub mod cloudwatch;
pub mod ec2;
mod errors;
pub mod lambda;
pub mod organizations;
pub mod pages;
pub mod query;
pub mod rds;
mod request_counter;
pub mod secretsmanager;
pub mod ssm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::retries::RetryPartition;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;
use aws_types::region::Region;

use crate::config::{Account, AwsClientSettings};
use crate::snapshot::ErrorReason;

use assume_role::AssumeRoleCredentials;
pub use errors::{SourceError, classify_sdk_error};
pub use request_counter::RequestCounter;

/// A method of [`ClientFactory`] that builds a client of one AWS service for
/// a target from the shared parts: the one HTTPS client, the timeouts and
/// retries of the configuration, the credential cache, a retry partition per
/// account, service and region, and the request counter. Each SDK crate has
/// its own config builder type, so the steps are the same text, not the same
/// function: a new AWS API is one invocation.
macro_rules! sdk_client {
    ($(#[$doc:meta])* $method:ident, $sdk:ident, $service:literal) => {
        $(#[$doc])*
        pub fn $method(&self, target: &Target) -> $sdk::Client {
            let parts = &self.parts;
            let mut builder = $sdk::config::Builder::from(&parts.base)
                .region(Region::new(target.region.clone()))
                .timeout_config(parts.timeouts())
                .http_client(parts.http_client.clone())
                .retry_config(parts.retries())
                .identity_cache(parts.identity_cache.clone())
                .retry_partition(Self::retry_partition($service, target))
                .interceptor(parts.request_counter.clone());
            if let Some(credentials) = self.credentials_for(target) {
                builder.set_credentials_provider(Some(credentials));
            }
            $sdk::Client::from_conf(builder.build())
        }
    };
}

/// One (account, region) to poll, or to publish to (CloudWatch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub account_id: String,
    pub account_name: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: String,
}

impl Target {
    /// Every (account, region) of the configured accounts, sorted.
    pub fn all(accounts: &[Account]) -> Vec<Target> {
        let mut targets: Vec<Target> = accounts
            .iter()
            .flat_map(|account| {
                account.regions.iter().map(move |region| Target {
                    account_id: account.id.clone(),
                    account_name: account.name.clone(),
                    role_arn: account.role_arn.clone(),
                    external_id: account.external_id.clone(),
                    region: region.clone(),
                })
            })
            .collect();
        targets.sort();
        targets.dedup();
        targets
    }
}

/// How many credential providers the identity cache holds before it evicts
/// one. The SDK's default (64) suits an application with a handful of
/// providers; with one per account, a fleet past 64 accounts would evict
/// credentials still valid and call `AssumeRole` again on every poll.
pub const CREDENTIAL_CACHE_ACCOUNTS: usize = 100_000;

/// Idle connections kept per endpoint (one per service and region). A poll
/// has at most `max_concurrent_targets` inventory requests in flight, but the
/// CloudTrail loops of thousands of targets can open hundreds of connections
/// to one endpoint at start-up; hyper keeps every one of them idle by
/// default, with its read and write buffers and TLS state: at 2,000 targets
/// that was 2,098 idle connections and over 100 MiB.
pub const MAX_IDLE_CONNECTIONS_PER_ENDPOINT: usize = 64;

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy from
/// the environment), built once. Left to itself, each SDK client builds its
/// own, so thousands of targets would hold thousands of connection pools:
/// gigabytes of idle connections and their buffers, and file descriptors
/// past the usual limits.
fn shared_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    // The pool settings belong to each connector: this builder's own are
    // not passed to a connector made by the function.
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default()
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS_PER_ENDPOINT)
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// STS throttles the calling account at 600 requests a second, and every
/// `AssumeRole` is made with the base credentials, whatever the account it
/// enters: a start-up over thousands of accounts, with the CloudTrail loops
/// of every target starting at once, would burst past that. Kept well below
/// the quota so that other users of the base account have room, and because
/// calls are paced as they start: a busy runtime that wakes many paced calls
/// late sends them together (at 400 a second the benchmark saw up to 582 in
/// one second against the simulator's STS).
pub const ASSUME_ROLES_PER_SECOND: u32 = 300;

/// Spaces calls evenly: each takes the next free slot, `interval` after the
/// previous one, and waits for it.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl Pacer {
    /// At a rate given as a fraction (validation keeps it positive; the
    /// floor guards a hand-built one from dividing by zero).
    pub(crate) fn per_second(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }

    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1)
                .checked_div(per_second.max(1))
                .unwrap_or(Duration::from_secs(1)),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }

    pub(crate) async fn wait(&self) {
        let slot = {
            let mut next = lock(&self.next);
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot.checked_add(self.interval).unwrap_or(slot);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Credentials whose loads (cache misses only) are paced.
#[derive(Debug)]
struct PacedCredentials {
    inner: SharedCredentialsProvider,
    pacer: Arc<Pacer>,
}

impl ProvideCredentials for PacedCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.pacer.wait().await;
            self.inner.provide_credentials().await
        })
    }
}

/// What every SDK client is built from, shared by all of them.
#[derive(Debug)]
struct ClientParts {
    base: SdkConfig,
    settings: AwsClientSettings,
    request_counter: RequestCounter,
    identity_cache: SharedIdentityCache,
    http_client: SharedHttpClient,
}

impl ClientParts {
    fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.settings.connect_timeout)
            .read_timeout(self.settings.operation_timeout)
            .operation_attempt_timeout(self.settings.operation_timeout)
            .operation_timeout(self.settings.operation_timeout)
            .build()
    }

    fn retries(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.settings.max_attempts)
    }

    /// An STS client with the base credentials, for `AssumeRole` into
    /// `account_id` (`None`: the base account's own calls).
    fn sts(&self, account_id: Option<&str>) -> aws_sdk_sts::Client {
        let mut builder = aws_sdk_sts::config::Builder::from(&self.base)
            .timeout_config(self.timeouts())
            .http_client(self.http_client.clone())
            .retry_config(self.retries())
            .interceptor(self.request_counter.clone());
        if let Some(account_id) = account_id {
            builder.set_retry_partition(Some(RetryPartition::new(format!("{account_id}/sts"))));
        }
        aws_sdk_sts::Client::from_conf(builder.build())
    }
}

/// Builds the SDK clients, one for each use.
///
/// A client is cheap to build from the shared parts and about 15 KiB to
/// keep: holding one per service and target would cost 75 MiB at 2,000
/// targets, for nothing. What is worth keeping is shared instead: the
/// HTTPS client and its connections, and the credentials. Credentials are
/// cached per role: every client that assumes a role gets the same
/// `SharedCredentialsProvider`, and so the same identity-cache partition,
/// so an account costs one `AssumeRole` per credential lifetime however
/// many regions and clients it has. The key is the role and not only the
/// account, because CloudWatch may be reached through another role in an
/// account that is also polled.
pub struct ClientFactory {
    parts: Arc<ClientParts>,
    assume_role_pacer: Arc<Pacer>,
    credentials: Mutex<HashMap<RoleKey, SharedCredentialsProvider>>,
}

/// Account, role ARN and external id.
type RoleKey = (String, String, Option<String>);

impl ClientFactory {
    /// `base` carries the base credentials and the endpoint (when
    /// `AWS_ENDPOINT_URL` or a test sets one).
    pub fn new(
        base: SdkConfig,
        settings: AwsClientSettings,
        request_counter: RequestCounter,
    ) -> Self {
        let http_client = base.http_client().unwrap_or_else(shared_https_client);
        Self {
            parts: Arc::new(ClientParts {
                base,
                settings,
                request_counter,
                identity_cache: IdentityCache::lazy()
                    .max_partitions(CREDENTIAL_CACHE_ACCOUNTS)
                    .build(),
                http_client,
            }),
            assume_role_pacer: Arc::new(Pacer::new(ASSUME_ROLES_PER_SECOND)),
            credentials: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &AwsClientSettings {
        &self.parts.settings
    }

    /// The region of the base configuration, when the AWS chain names one.
    pub fn base_region(&self) -> Option<&str> {
        self.parts.base.region().map(Region::as_ref)
    }

    /// AWS throttles each account separately, while the SDK's default retry
    /// partition (and its token bucket) is shared by every client of a
    /// region: one throttled account would then starve the others' retries.
    fn retry_partition(service: &str, target: &Target) -> RetryPartition {
        RetryPartition::new(format!(
            "{}/{}/{}",
            target.account_id, service, target.region
        ))
    }

    fn credentials_for(&self, target: &Target) -> Option<SharedCredentialsProvider> {
        let role_arn = target.role_arn.as_ref()?;
        let mut cache = lock(&self.credentials);
        let key = (
            target.account_id.clone(),
            role_arn.clone(),
            target.external_id.clone(),
        );
        let provider = cache.entry(key).or_insert_with(|| {
            SharedCredentialsProvider::new(PacedCredentials {
                inner: SharedCredentialsProvider::new(AssumeRoleCredentials {
                    parts: Arc::clone(&self.parts),
                    account_id: target.account_id.clone(),
                    role_arn: role_arn.clone(),
                    external_id: target.external_id.clone(),
                }),
                pacer: self.assume_role_pacer.clone(),
            })
        });
        Some(provider.clone())
    }

    sdk_client!(
        /// Secrets Manager in the target's account and region.
        secrets_manager,
        aws_sdk_secretsmanager,
        "secretsmanager"
    );
    sdk_client!(
        /// CloudTrail in the target's account and region.
        cloudtrail,
        aws_sdk_cloudtrail,
        "cloudtrail"
    );
    sdk_client!(
        /// Organizations, read from the target's account (the management or
        /// a delegated administrator account) in its partition's home region.
        organizations,
        aws_sdk_organizations,
        "organizations"
    );
    sdk_client!(
        /// Lambda in the target's account and region (a rotation function's).
        lambda,
        aws_sdk_lambda,
        "lambda"
    );
    sdk_client!(
        /// SSM Parameter Store in the target's account and region.
        ssm,
        aws_sdk_ssm,
        "ssm"
    );
    sdk_client!(
        /// CloudWatch in the target's account and region (where metrics are published).
        cloudwatch,
        aws_sdk_cloudwatch,
        "cloudwatch"
    );

    pub async fn caller_account(&self) -> Result<String, SourceError> {
        let client = self.parts.sts(None);
        let identity = client
            .get_caller_identity()
            .send()
            .await
            .map_err(|err| classify_sdk_error(&err))?;
        identity
            .account()
            .map(str::to_owned)
            .ok_or_else(|| SourceError {
                reason: ErrorReason::InvalidResponse,
                message: "GetCallerIdentity returned no account".to_owned(),
            })
    }
}

/// A poisoned lock only means another task panicked mid-insert into a cache
/// of clients; the map itself is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
