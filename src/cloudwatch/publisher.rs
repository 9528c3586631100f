//! The running part: publishing after each poll, reconciling alarms
//! periodically, and the health of both.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::aws::cloudwatch::SdkCloudWatch;
use crate::aws::{ClientFactory, SourceError, Target};
use crate::config::Config;
use crate::metrics::ExporterMetrics;
use crate::poller::PollHook;
use crate::snapshot::{Snapshot, Source, SourceHealth, TargetError};

use super::{CloudWatchApi, Plan, aggregate, apply, batches, plan};

/// The CloudWatch operations the exporter calls, for the request counters.
pub const OPERATIONS: [&str; 5] = [
    "PutMetricData",
    "DescribeAlarms",
    "ListTagsForResource",
    "PutMetricAlarm",
    "DeleteAlarms",
];

#[derive(Debug, Default)]
struct Outcome {
    error: Option<SourceError>,
    duration: Duration,
}

#[derive(Debug, Default)]
struct HealthState {
    publish: Option<Outcome>,
    reconcile: Option<Outcome>,
    last_success: Option<DateTime<Utc>>,
}

/// Publishes after each poll and reconciles alarms. Its health is the
/// `source="cloudwatch"` series of the account and region it writes to; a
/// failure there never holds up polling or `/metrics`.
pub struct CloudWatchExporter {
    api: Arc<dyn CloudWatchApi>,
    config: Arc<Config>,
    account_id: String,
    region: String,
    metrics: ExporterMetrics,
    health: Mutex<HealthState>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stands for the account of the base credentials where it is not known:
/// the lookup failed, or (`alarms plan|apply`) nothing needed it.
const UNKNOWN_ACCOUNT: &str = "unknown";

/// The account of an IAM role ARN (`arn:aws:iam::<account>:role/...`).
pub fn role_account(role_arn: &str) -> Option<&str> {
    crate::config::role_arn_account(role_arn).ok()
}

/// Where metrics and alarms go: `cloudwatch.region`, else the base
/// configuration's region, else the first configured region.
pub fn publishing_region(config: &Config, base_region: Option<&str>) -> String {
    config
        .cloudwatch
        .region
        .clone()
        .or_else(|| base_region.map(str::to_owned))
        .or_else(|| config.regions.first().cloned())
        .or_else(|| {
            config
                .accounts
                .first()
                .and_then(|a| a.regions.first().cloned())
        })
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// The account and region metrics and alarms go to, and the role that
/// reaches them. The account is `cloudwatch.role_arn`'s, else
/// `base_account`, the account of the base credentials when known.
pub fn publishing_target(
    config: &Config,
    factory: &ClientFactory,
    base_account: Option<&str>,
) -> Target {
    let cloudwatch = &config.cloudwatch;
    Target {
        account_id: cloudwatch
            .role_arn
            .as_deref()
            .and_then(role_account)
            .or(base_account)
            .unwrap_or(UNKNOWN_ACCOUNT)
            .to_owned(),
        account_name: None,
        role_arn: cloudwatch.role_arn.clone(),
        external_id: cloudwatch.external_id.clone(),
        region: publishing_region(config, factory.base_region()),
    }
}

impl CloudWatchExporter {
    pub fn new(
        api: Arc<dyn CloudWatchApi>,
        config: Arc<Config>,
        account_id: String,
        region: String,
        metrics: ExporterMetrics,
    ) -> Self {
        metrics.init_target(&account_id, &region, Source::CloudWatch);
        for operation in OPERATIONS {
            metrics.init_aws_operation("cloudwatch", operation);
        }
        Self {
            api,
            config,
            account_id,
            region,
            metrics,
            health: Mutex::new(HealthState::default()),
        }
    }

    /// Publishes to `publishing_target`, through a client `factory` builds.
    pub fn connect(
        config: Arc<Config>,
        factory: &ClientFactory,
        base_account: Option<&str>,
        metrics: ExporterMetrics,
    ) -> Self {
        let target = publishing_target(&config, factory, base_account);
        let api = SdkCloudWatch::new(factory.cloudwatch(&target));
        Self::new(
            Arc::new(api),
            config,
            target.account_id,
            target.region,
            metrics,
        )
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn api(&self) -> &dyn CloudWatchApi {
        self.api.as_ref()
    }

    fn record(&self, failure: Option<SourceError>, duration: Duration, reconcile: bool) {
        if let Some(err) = &failure {
            self.metrics.record_error(
                &self.account_id,
                &self.region,
                Source::CloudWatch,
                err.reason,
            );
        }
        let mut health = lock(&self.health);
        let outcome = Outcome {
            error: failure,
            duration,
        };
        if reconcile {
            health.reconcile = Some(outcome);
        } else {
            health.publish = Some(outcome);
        }
        let failing = [&health.publish, &health.reconcile]
            .into_iter()
            .flatten()
            .any(|o| o.error.is_some());
        if !failing {
            health.last_success = Some(Utc::now());
        }
    }

    /// The health series of the publishing account and region, once
    /// something has been tried.
    pub fn health(&self) -> Option<SourceHealth> {
        let health = lock(&self.health);
        let outcomes: Vec<&Outcome> = [&health.publish, &health.reconcile]
            .into_iter()
            .flatten()
            .collect();
        if outcomes.is_empty() {
            return None;
        }
        let last_error = outcomes.iter().find_map(|o| o.error.clone());
        Some(SourceHealth {
            source: Source::CloudWatch,
            up: last_error.is_none(),
            last_success: health.last_success,
            poll_duration: health
                .publish
                .as_ref()
                .or(health.reconcile.as_ref())
                .map(|o| o.duration)
                .unwrap_or_default(),
            last_error: last_error.map(TargetError::from),
        })
    }

    /// Publishes one poll's aggregates. Returns the number of requests sent.
    pub async fn publish(&self, snapshot: &Snapshot) -> Result<usize, SourceError> {
        let started = Instant::now();
        let data = aggregate(
            snapshot,
            self.config.cloudwatch.per_secret_metrics,
            self.config.shard.label().as_deref(),
        );
        let batches = batches(data);
        let deadline = self.config.aws.target_timeout;
        let namespace = &self.config.cloudwatch.namespace;
        let sent = tokio::time::timeout(deadline, async {
            for batch in &batches {
                self.api.put_metric_data(namespace, batch).await?;
            }
            Ok::<(), SourceError>(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::timeout(format!(
                "publishing to CloudWatch took longer than {}s",
                deadline.as_secs()
            )))
        });
        if let Err(err) = &sent {
            tracing::warn!(
                account_id = %self.account_id,
                region = %self.region,
                reason = err.reason.as_str(),
                error = %err.message,
                "publishing to CloudWatch failed"
            );
        }
        self.record(sent.clone().err(), started.elapsed(), false);
        sent.map(|()| batches.len())
    }

    /// Plans and applies the alarm changes; logs what it changed. The whole
    /// of it runs under one reconcile interval: every request has its own
    /// timeout, but an alarm listing that keeps paging must not hold the
    /// reconciler past its next turn.
    pub async fn reconcile(&self) -> Result<Plan, SourceError> {
        let started = Instant::now();
        let deadline = self.config.cloudwatch.alarms.reconcile_interval;
        let result: Result<Plan, SourceError> = tokio::time::timeout(deadline, async {
            let plan = plan(self.api.as_ref(), &self.config).await?;
            apply(self.api.as_ref(), &plan).await?;
            Ok(plan)
        })
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::timeout(format!(
                "reconciling CloudWatch alarms took longer than {}s",
                deadline.as_secs()
            )))
        });
        match &result {
            Ok(plan) if !plan.is_empty() => tracing::info!(
                created = plan.create.len(),
                updated = plan.update.len(),
                deleted = plan.delete.len(),
                "CloudWatch alarms reconciled"
            ),
            Ok(_) => tracing::debug!("CloudWatch alarms already as configured"),
            Err(err) => tracing::warn!(
                account_id = %self.account_id,
                region = %self.region,
                reason = err.reason.as_str(),
                error = %err.message,
                "reconciling CloudWatch alarms failed"
            ),
        }
        self.record(result.as_ref().err().cloned(), started.elapsed(), true);
        result
    }

    /// Reconciles now and every `cloudwatch.alarms.reconcile_interval` until
    /// `stop` turns true.
    pub async fn run_reconciler(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.config.cloudwatch.alarms.reconcile_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = async { stop.wait_for(|stop| *stop).await.map(|_| ()) } => break,
                _ = ticker.tick() => {
                    let _ = self.reconcile().await;
                }
            }
        }
    }

    /// Adds the CloudWatch health to the snapshot: on the publishing
    /// account's target when it is polled, else on a target of its own that
    /// carries nothing but health.
    pub fn attach_health(&self, snapshot: &mut Snapshot) {
        if let Some(health) = self.health() {
            snapshot.attach_health(&self.account_id, &self.region, health);
        }
    }
}

impl PollHook for CloudWatchExporter {
    fn after_poll<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.config.cloudwatch.enabled {
                let _ = self.publish(snapshot).await;
            }
        })
    }

    fn decorate(&self, snapshot: &mut Snapshot) {
        self.attach_health(snapshot);
    }
}

/// The publisher `serve` runs when the config asks to publish after each
/// poll (`cloudwatch.enabled`) or to manage alarms
/// (`cloudwatch.alarms.manage`); `None` when it asks for neither.
/// `base_account` is the account of the base credentials when the caller
/// already knows it; otherwise it is looked up (`sts:GetCallerIdentity`)
/// only when no `cloudwatch.role_arn` names the account.
pub async fn publisher(
    config: &Arc<Config>,
    factory: &ClientFactory,
    base_account: Option<&str>,
    metrics: &ExporterMetrics,
) -> Option<Arc<CloudWatchExporter>> {
    let cloudwatch = &config.cloudwatch;
    if !cloudwatch.enabled && !cloudwatch.alarms.manage {
        return None;
    }
    let named_by_role = cloudwatch.role_arn.as_deref().and_then(role_account);
    let looked_up = match (base_account, named_by_role) {
        // The account labels CloudWatch's health only, and a role names its own.
        (None, None) => caller_account(factory).await,
        _ => None,
    };
    let publisher = CloudWatchExporter::connect(
        config.clone(),
        factory,
        base_account.or(looked_up.as_deref()),
        metrics.clone(),
    );
    tracing::info!(
        account_id = publisher.account_id(),
        region = publisher.region(),
        publish = cloudwatch.enabled,
        manage_alarms = cloudwatch.alarms.manage,
        "CloudWatch"
    );
    Some(Arc::new(publisher))
}

/// The account of the base credentials; a failure to find it leaves the
/// publisher working, with health labelled by an unknown account.
async fn caller_account(factory: &ClientFactory) -> Option<String> {
    match factory.caller_account().await {
        Ok(account) => Some(account),
        Err(err) => {
            tracing::warn!(
                reason = err.reason.as_str(),
                error = %err.message,
                "cannot find the account CloudWatch data goes to"
            );
            None
        }
    }
}

/// Starts reconciling alarms, at once and every
/// `cloudwatch.alarms.reconcile_interval`, when `cloudwatch.alarms.manage`.
/// Returns the reconciler's task, which ends when `stop` turns true.
pub fn start(
    publisher: Option<&Arc<CloudWatchExporter>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let publisher = publisher?;
    publisher
        .config
        .cloudwatch
        .alarms
        .manage
        .then(|| tokio::spawn(publisher.clone().run_reconciler(stop)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_account_reads_the_fifth_field() {
        assert_eq!(
            role_account("arn:aws:iam::999999999999:role/publisher"),
            Some("999999999999")
        );
        assert_eq!(role_account("not-an-arn"), None);
    }
}
