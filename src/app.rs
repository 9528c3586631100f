//! Wiring shared by `serve`, `check` and `demo`: the base AWS configuration,
//! the targets, the poller, the CloudWatch publisher and the HTTP state.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use thiserror::Error;

use crate::aws::organizations::{SdkOrganizations, organizations_region};
use crate::aws::{ClientFactory, RequestCounter, SourceError, Target};
use crate::cloudwatch::{self, CloudWatchExporter};
use crate::config::{Account, Config};
use crate::discovery::{AccountDiscovery, CurrentDiscovery, RunningDiscovery};
use crate::metrics::{ExporterMetrics, RenderOptions, revision};
use crate::poller::Poller;
use crate::snapshot::{Snapshot, SnapshotStore};
use crate::sources::cloudtrail::{
    LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET, RotationEvents, RotationTracker,
};
use crate::sources::lambda::{LAMBDA_REQUESTS_PER_SECOND, RotationLambdas};
use crate::sources::rds::{RDS_REQUESTS_PER_SECOND, RdsDatabases};
use crate::sources::ssm::{SSM_REQUESTS_PER_SECOND, SsmParameters};
use crate::sources::vpc_endpoints::{EC2_REQUESTS_PER_SECOND, VpcEndpoints};
use crate::sources::{PerTargetSource, RunningSource, SnapshotView, TargetLoops};
use crate::targets::{TargetList, TargetSet};
use crate::web::AppState;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("the exporter's metric schema did not register: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the account of the base credentials could not be found (sts:GetCallerIdentity): {0}")]
    CallerIdentity(SourceError),
}

/// The base configuration from the standard AWS chain: environment, profile,
/// web identity, ECS/EC2 metadata; `AWS_ENDPOINT_URL` points every client
/// at an emulator.
pub async fn base_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The sources read per target apart from the inventory, as they are
/// registered.
#[derive(Default)]
struct Sources {
    running: Vec<Arc<dyn RunningSource>>,
}

impl Sources {
    /// Registers a source's loops: they tell the poller when they learn
    /// something, the poller merges what they know into every snapshot, and
    /// `serve` and `check` run them.
    fn register<S: PerTargetSource>(
        &mut self,
        poller: &mut Poller<ClientFactory>,
        loops: TargetLoops<S>,
    ) -> Arc<TargetLoops<S>>
    where
        TargetLoops<S>: SnapshotView,
    {
        let loops = Arc::new(loops.notify_changes(poller.sources_changed()));
        poller.add_view(loops.clone());
        self.running.push(loops.clone());
        loops
    }
}

/// A running exporter's parts.
pub struct Exporter {
    pub config: Arc<Config>,
    pub metrics: ExporterMetrics,
    pub poller: Arc<Poller<ClientFactory>>,
    /// What is polled now; discovery changes it.
    pub targets: TargetSet,
    /// Reads the organization when `discovery.organizations` is set: `serve`
    /// starts it, `check` refreshes once before its poll.
    pub discovery: Option<Arc<dyn RunningDiscovery>>,
    /// Reads rotation events from CloudTrail when `cloudtrail.enabled`.
    pub tracker: Option<Arc<RotationTracker<ClientFactory>>>,
    /// Every source read per target apart from the inventory, as `serve`
    /// starts them and `check` reads them once.
    pub sources: Vec<Arc<dyn RunningSource>>,
    pub state: Arc<AppState>,
    /// Publishes after each poll and reconciles alarms, when the config asks
    /// for either; `cloudwatch::start` runs its reconciler.
    pub cloudwatch: Option<Arc<CloudWatchExporter>>,
    pub(crate) factory: Arc<ClientFactory>,
    /// The account of the base credentials, when it had to be looked up.
    base_account: tokio::sync::Mutex<Option<String>>,
    /// The discovery running now: `discovery` until a reload replaces it.
    pub(crate) current_discovery: Arc<CurrentDiscovery>,
}

impl Exporter {
    /// Builds the clients and resolves the targets. With no accounts
    /// configured, the account of the base credentials is the one target
    /// account: that costs one `GetCallerIdentity` at start. The CloudWatch
    /// publisher is attached to the poller here, so that no poll goes
    /// unpublished.
    pub async fn build(config: Config, base: SdkConfig) -> Result<Self, StartError> {
        let metrics = ExporterMetrics::new(env!("CARGO_PKG_VERSION"), revision())?;
        for (service, operation) in [
            ("secretsmanager", "ListSecrets"),
            ("secretsmanager", "ListSecretVersionIds"),
            ("sts", "AssumeRole"),
        ] {
            metrics.init_aws_operation(service, operation);
        }
        let factory = ClientFactory::new(
            base,
            config.aws.clone(),
            RequestCounter::new(metrics.clone()),
        );
        let base_is_target = config.polls_base_account();
        let base_account = if config.needs_base_account() {
            Some(
                factory
                    .caller_account()
                    .await
                    .map_err(StartError::CallerIdentity)?,
            )
        } else {
            None
        };
        let accounts = match &base_account {
            Some(id) if base_is_target => vec![Account {
                id: id.clone(),
                role_arn: None,
                external_id: None,
                regions: config.regions.clone(),
                name: None,
            }],
            _ => config.accounts.clone(),
        };
        let target_set = TargetSet::new(TargetList::configured(&accounts, config.shard));
        let config = Arc::new(config);
        let store = Arc::new(SnapshotStore::new());
        let factory = Arc::new(factory);
        let cloudwatch =
            cloudwatch::publisher(&config, &factory, base_account.as_deref(), &metrics).await;
        let mut poller = Poller::new(
            config.clone(),
            target_set.clone(),
            factory.clone(),
            store.clone(),
            metrics.clone(),
        );
        let mut sources = Sources::default();
        let tracker = config.cloudtrail.enabled.then(|| {
            sources.register(
                &mut poller,
                TargetLoops::new(
                    RotationEvents::new(factory.clone(), config.cloudtrail.lookback),
                    target_set.clone(),
                    config.poll_interval,
                    config.cloudtrail.requests_per_second,
                    metrics.clone(),
                )
                .limit_requests_in_flight(
                    config.aws.max_concurrent_targets * LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET,
                ),
            )
        });
        // Rotation Lambdas are read whenever rotation is: a secret rotated
        // by one has the check, and the reads are per distinct function.
        sources.register(
            &mut poller,
            TargetLoops::new(
                RotationLambdas::new(
                    factory.clone(),
                    store.clone(),
                    config.sources.lambda.refresh_interval,
                ),
                target_set.clone(),
                config.poll_interval,
                LAMBDA_REQUESTS_PER_SECOND,
                metrics.clone(),
            ),
        );
        let ssm = &config.sources.ssm_parameters;
        if ssm.enabled {
            sources.register(
                &mut poller,
                TargetLoops::new(
                    SsmParameters::new(factory.clone(), ssm.clone(), config.poll_interval),
                    target_set.clone(),
                    config.poll_interval,
                    SSM_REQUESTS_PER_SECOND,
                    metrics.clone(),
                ),
            );
        }
        if config.sources.rds {
            sources.register(
                &mut poller,
                TargetLoops::new(
                    RdsDatabases::new(factory.clone(), config.poll_interval),
                    target_set.clone(),
                    config.poll_interval,
                    RDS_REQUESTS_PER_SECOND,
                    metrics.clone(),
                ),
            );
        }
        if config.sources.vpc_endpoints {
            sources.register(
                &mut poller,
                TargetLoops::new(
                    VpcEndpoints::new(factory.clone(), config.poll_interval),
                    target_set.clone(),
                    config.poll_interval,
                    EC2_REQUESTS_PER_SECOND,
                    metrics.clone(),
                ),
            );
        }
        let current_discovery = Arc::new(CurrentDiscovery::default());
        poller.add_decoration(current_discovery.clone());
        let discovery = build_discovery(
            &config,
            &factory,
            base_account.as_deref(),
            &target_set,
            &metrics,
            poller.sources_changed(),
        );
        current_discovery.replace(discovery.clone());
        if let Some(cloudwatch) = &cloudwatch {
            poller.set_hook(cloudwatch.clone());
        }
        let poller = Arc::new(poller);
        let state = Arc::new(
            AppState::new(store, metrics.clone(), RenderOptions::from_config(&config))
                .watch_polls(config.poll_interval),
        );
        metrics.record_config_load(true, chrono::Utc::now());
        Ok(Self {
            config,
            metrics,
            poller,
            targets: target_set,
            discovery,
            tracker,
            sources: sources.running,
            state,
            cloudwatch,
            factory,
            base_account: tokio::sync::Mutex::new(base_account),
            current_discovery,
        })
    }

    /// Reads every source once and polls once, judging at `now`, as
    /// `check` does: the sources that read what the inventory lists (the
    /// rotation Lambdas) after the poll, and then the snapshot is judged
    /// again with what they read, before CloudWatch is published to.
    pub async fn read_everything_once(&self, now: chrono::DateTime<chrono::Utc>) -> Arc<Snapshot> {
        let (after_poll, before_poll): (Vec<_>, Vec<_>) = self
            .sources
            .iter()
            .partition(|source| source.reads_inventory());
        futures::future::join_all(before_poll.iter().map(|source| source.read_all_once(now))).await;
        self.poller
            .poll_once_then(now, || async {
                futures::future::join_all(
                    after_poll.iter().map(|source| source.read_all_once(now)),
                )
                .await;
            })
            .await
    }

    /// The account of the base credentials, looked up once.
    pub(crate) async fn base_account(&self) -> Result<String, SourceError> {
        let mut known = self.base_account.lock().await;
        if let Some(account) = &*known {
            return Ok(account.clone());
        }
        let account = self.factory.caller_account().await?;
        *known = Some(account.clone());
        Ok(account)
    }
}

/// Organizations discovery as `config` asks for it, reading through
/// `factory`; `None` without `discovery.organizations`. Its health is
/// labelled with the account it reads from: the account of its role, else
/// `base_account`.
pub(crate) fn build_discovery(
    config: &Arc<Config>,
    factory: &ClientFactory,
    base_account: Option<&str>,
    targets: &TargetSet,
    metrics: &ExporterMetrics,
    sources_changed: Arc<tokio::sync::Notify>,
) -> Option<Arc<dyn RunningDiscovery>> {
    let org = config.discovery.organizations.as_ref()?;
    let reader = Target {
        account_id: org
            .role_arn
            .as_deref()
            .and_then(|arn| crate::config::role_arn_account(arn).ok())
            .or(base_account)
            .unwrap_or_default()
            .to_owned(),
        account_name: None,
        role_arn: org.role_arn.clone(),
        external_id: org.external_id.clone(),
        region: organizations_region(factory.base_region()).to_owned(),
    };
    let discovery = AccountDiscovery::new(
        SdkOrganizations::new(factory, &reader, org.requests_per_second),
        config.clone(),
        targets.clone(),
        metrics.clone(),
        reader.account_id,
        reader.region,
    )?
    .notify_changes(sources_changed);
    Some(Arc::new(discovery))
}
