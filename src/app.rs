//! Wiring shared by `serve`, `check` and `demo`: the base AWS configuration,
//! the targets, the poller, the CloudWatch publisher and the HTTP state.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use thiserror::Error;

use crate::aws::{ClientFactory, RequestCounter, SourceError, Target};
use crate::cloudwatch::{self, CloudWatchExporter};
use crate::config::{Account, Config, Shard};
use crate::metrics::{ExporterMetrics, RenderOptions, revision};
use crate::poller::Poller;
use crate::snapshot::SnapshotStore;
use crate::sources::cloudtrail::{
    LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET, RotationEvents, RotationTracker,
};
use crate::sources::{PerTargetSource, RunningSource, SnapshotView, TargetLoops};
use crate::web::AppState;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("the exporter's metric schema did not register: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(
        "no accounts are configured and the account of the base credentials could not be found (sts:GetCallerIdentity): {0}"
    )]
    CallerIdentity(SourceError),
}

/// The base configuration from the standard AWS chain: environment, profile,
/// web identity, ECS/EC2 metadata; `AWS_ENDPOINT_URL` points every client
/// at an emulator.
pub async fn base_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The accounts `shard` polls; `count` replicas with indexes 0 to count - 1
/// together poll every account exactly once.
pub fn shard_accounts(accounts: &[Account], shard: Shard) -> Vec<Account> {
    accounts
        .iter()
        .filter(|account| shard.owns(&account.id))
        .cloned()
        .collect()
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
    /// Reads rotation events from CloudTrail when `cloudtrail.enabled`.
    pub tracker: Option<Arc<RotationTracker<ClientFactory>>>,
    /// Every source read per target apart from the inventory, as `serve`
    /// starts them and `check` reads them once.
    pub sources: Vec<Arc<dyn RunningSource>>,
    pub state: Arc<AppState>,
    /// Publishes after each poll and reconciles alarms, when the config asks
    /// for either; `cloudwatch::start` runs its reconciler.
    pub cloudwatch: Option<Arc<CloudWatchExporter>>,
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
        let base_account = if config.accounts.is_empty() {
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
            Some(id) => vec![Account {
                id: id.clone(),
                role_arn: None,
                external_id: None,
                regions: config.regions.clone(),
                name: None,
            }],
            None => config.accounts.clone(),
        };
        let targets = Target::all(&shard_accounts(&accounts, config.shard));
        let config = Arc::new(config);
        let store = Arc::new(SnapshotStore::new());
        let factory = Arc::new(factory);
        let cloudwatch =
            cloudwatch::publisher(&config, &factory, base_account.as_deref(), &metrics).await;
        let mut poller = Poller::new(
            config.clone(),
            targets.clone(),
            factory.clone(),
            store.clone(),
            metrics.clone(),
        );
        let mut sources = Sources::default();
        let tracker = config.cloudtrail.enabled.then(|| {
            sources.register(
                &mut poller,
                TargetLoops::new(
                    RotationEvents::new(factory, config.cloudtrail.lookback),
                    targets,
                    config.poll_interval,
                    config.cloudtrail.requests_per_second,
                    metrics.clone(),
                )
                .limit_requests_in_flight(
                    config.aws.max_concurrent_targets * LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET,
                ),
            )
        });
        if let Some(cloudwatch) = &cloudwatch {
            poller.set_hook(cloudwatch.clone());
        }
        let poller = Arc::new(poller);
        let state = Arc::new(
            AppState::new(
                store,
                metrics.clone(),
                RenderOptions::from_labels(&config.labels),
            )
            .watch_polls(config.poll_interval),
        );
        Ok(Self {
            config,
            metrics,
            poller,
            tracker,
            sources: sources.running,
            state,
            cloudwatch,
        })
    }
}
