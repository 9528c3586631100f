//! CloudWatch: after each poll, aggregate compliance is published as
//! CloudWatch metrics; the alarms the config asks for are kept in that state
//! by reconciling what exists (read with `DescribeAlarms`) with what is wanted.
//!
//! CloudWatch bills per metric (each unique name and dimension set), so the
//! default is aggregates per account and region plus fleet totals; one series
//! per secret only when `cloudwatch.per_secret_metrics` asks for it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, MetricDatum, StandardUnit, Statistic,
    Tag,
};
use aws_types::region::Region;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::aws::{RequestCounter, SourceError, classify_sdk_error};
use crate::compliance::Check;
use crate::config::{AwsClientSettings, CloudWatch as CloudWatchConfig, Config};
use crate::metrics::ExporterMetrics;
use crate::poller::PollHook;
use crate::snapshot::{Snapshot, Source, SourceHealth, TargetError, TargetSnapshot, TargetSummary};

/// PutMetricData takes at most 1,000 data a request.
pub const MAX_DATA_PER_REQUEST: usize = 1000;
/// PutMetricData takes at most 1 MiB a request; this leaves room for the
/// envelope and for the estimate being short.
pub const MAX_REQUEST_BYTES: usize = 900 * 1024;
/// PutMetricAlarm's quota per account and region.
pub const PUT_METRIC_ALARM_PER_SECOND: u32 = 3;
/// DeleteAlarms takes at most 100 names a request.
pub const MAX_DELETE_PER_REQUEST: usize = 100;
/// The tag every alarm this exporter creates carries. Only alarms under the
/// prefix that carry it are ever deleted.
pub const MANAGED_TAG_KEY: &str = "managed-by";
pub const MANAGED_TAG_VALUE: &str = "secrets-rotation-exporter";

/// Metric names, as the docs and alarms refer to them.
pub const METRIC_SECRETS: &str = "Secrets";
pub const METRIC_NONCOMPLIANT_SECRETS: &str = "NonCompliantSecrets";
pub const METRIC_ROTATION_FAILURES: &str = "RotationFailures";
pub const METRIC_OVERDUE_ROTATIONS: &str = "OverdueRotations";
pub const METRIC_MAX_ROTATION_AGE_DAYS: &str = "MaxRotationAgeDays";
pub const METRIC_HEARTBEAT: &str = "ExporterHeartbeat";
/// Per secret (opt-in): how many checks the secret fails.
pub const METRIC_SECRET_FAILED_CHECKS: &str = "SecretFailedChecks";

pub const DIMENSION_ACCOUNT: &str = "AccountId";
pub const DIMENSION_REGION: &str = "Region";
pub const DIMENSION_CHECK: &str = "Check";
pub const DIMENSION_SECRET: &str = "SecretName";
/// On the fleet totals and the alarms of one replica when the fleet is
/// split (`shard`), so that replicas publishing to one account and region
/// neither mix their totals nor manage each other's alarms.
pub const DIMENSION_SHARD: &str = "Shard";

const SECONDS_PER_DAY: f64 = 86_400.0;

// ---------------------------------------------------------------------------
// Metric data
// ---------------------------------------------------------------------------

/// One value to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub metric_name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    pub value: f64,
    /// Counts are `Count`; the age is `None` (days have no CloudWatch unit).
    pub count: bool,
}

impl Datum {
    fn new(metric_name: &'static str, dimensions: Vec<(&'static str, String)>, value: f64) -> Self {
        Self {
            metric_name,
            dimensions,
            value,
            count: true,
        }
    }

    /// A generous estimate of the datum's size on the wire.
    fn estimated_bytes(&self) -> usize {
        64 + self.metric_name.len()
            + self
                .dimensions
                .iter()
                .map(|(name, value)| 24 + name.len() + value.len())
                .sum::<usize>()
    }
}

/// A fleet's or a target's totals. A count is `None` where it is not known:
/// no datum is published for it, and a gap is what CloudWatch shows.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    secrets: usize,
    noncompliant: usize,
    rotation_failures: Option<usize>,
    overdue: Option<usize>,
    max_age_days: Option<f64>,
}

impl Totals {
    fn of(summary: &TargetSummary) -> Self {
        Totals {
            secrets: summary.secrets,
            noncompliant: summary.noncompliant_secrets,
            rotation_failures: summary.noncompliant(Check::RotationFailed),
            overdue: summary.noncompliant(Check::RotationOverdue),
            max_age_days: summary
                .max_value_age_seconds
                .map(|age| age / SECONDS_PER_DAY),
        }
    }
}

/// Sums counts some of which may be unknown. A sum that is already above
/// zero is published even with unknown parts, since those failures are
/// certain (the alarms fire at one or more); a zero with unknown parts would
/// claim "none" where some targets were not looked at, so it stays unknown.
#[derive(Debug, Default, Clone, Copy)]
struct AtLeast {
    known: usize,
    some_unknown: bool,
}

impl AtLeast {
    fn add(&mut self, count: Option<usize>) {
        match count {
            Some(count) => self.known = self.known.saturating_add(count),
            None => self.some_unknown = true,
        }
    }

    fn total(&self) -> Option<usize> {
        (!self.some_unknown || self.known > 0).then_some(self.known)
    }
}

fn max_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The data one poll publishes. Only targets whose inventory succeeded in
/// this poll are published: a gap in CloudWatch means "unknown", which the
/// heartbeat alarm turns into an alarm, where a stale number would not.
/// Every account and region gets `Secrets`, `NonCompliantSecrets` (in
/// total and by `Check`, each count only where it is known), `OverdueRotations`
/// and `RotationFailures` (when known), `MaxRotationAgeDays` (when a secret has
/// an age) and `ExporterHeartbeat` 1; the fleet gets the same without
/// dimensions (with `Shard` alone when the fleet is split between replicas),
/// which the alarms watch. Every count comes from the targets' summaries, as
/// `/metrics` does. Values that are not finite are left out.
pub fn aggregate(snapshot: &Snapshot, per_secret: bool, shard: Option<&str>) -> Vec<Datum> {
    let mut data = Vec::new();
    let mut fleet = Totals::default();
    let (mut fleet_failures, mut fleet_overdue) = (AtLeast::default(), AtLeast::default());
    for target in snapshot
        .targets
        .iter()
        .filter(|t| t.summary.inventory_fresh)
    {
        let summary = &target.summary;
        let totals = Totals::of(summary);
        fleet.secrets += totals.secrets;
        fleet.noncompliant += totals.noncompliant;
        fleet_failures.add(totals.rotation_failures);
        fleet_overdue.add(totals.overdue);
        fleet.max_age_days = max_option(fleet.max_age_days, totals.max_age_days);
        if per_secret {
            for secret in target
                .secrets
                .iter()
                .filter(|s| !s.evaluation.scheduled_for_deletion)
            {
                let failed = secret
                    .evaluation
                    .verdicts
                    .iter()
                    .filter(|v| !v.compliant)
                    .count();
                data.push(Datum::new(
                    METRIC_SECRET_FAILED_CHECKS,
                    vec![
                        (DIMENSION_ACCOUNT, target.account_id.clone()),
                        (DIMENSION_REGION, target.region.clone()),
                        (DIMENSION_SECRET, secret.record.name.clone()),
                    ],
                    failed as f64,
                ));
            }
        }
        let dimensions = || {
            vec![
                (DIMENSION_ACCOUNT, target.account_id.clone()),
                (DIMENSION_REGION, target.region.clone()),
            ]
        };
        push_totals(&mut data, &totals, &dimensions);
        for check in Check::ALL {
            let Some(count) = summary.noncompliant(check) else {
                continue;
            };
            let mut with_check = dimensions();
            with_check.push((DIMENSION_CHECK, check.as_str().to_string()));
            data.push(Datum::new(
                METRIC_NONCOMPLIANT_SECRETS,
                with_check,
                count as f64,
            ));
        }
    }
    if snapshot.targets.iter().any(|t| t.summary.inventory_fresh) {
        fleet.rotation_failures = fleet_failures.total();
        fleet.overdue = fleet_overdue.total();
        let fleet_dimensions = || {
            shard
                .map(|shard| vec![(DIMENSION_SHARD, shard.to_string())])
                .unwrap_or_default()
        };
        push_totals(&mut data, &fleet, &fleet_dimensions);
    }
    data.retain(|datum| datum.value.is_finite());
    data
}

fn push_totals(
    data: &mut Vec<Datum>,
    totals: &Totals,
    dimensions: &dyn Fn() -> Vec<(&'static str, String)>,
) {
    data.push(Datum::new(
        METRIC_SECRETS,
        dimensions(),
        totals.secrets as f64,
    ));
    data.push(Datum::new(
        METRIC_NONCOMPLIANT_SECRETS,
        dimensions(),
        totals.noncompliant as f64,
    ));
    if let Some(failures) = totals.rotation_failures {
        data.push(Datum::new(
            METRIC_ROTATION_FAILURES,
            dimensions(),
            failures as f64,
        ));
    }
    if let Some(overdue) = totals.overdue {
        data.push(Datum::new(
            METRIC_OVERDUE_ROTATIONS,
            dimensions(),
            overdue as f64,
        ));
    }
    if let Some(days) = totals.max_age_days {
        data.push(Datum {
            count: false,
            ..Datum::new(METRIC_MAX_ROTATION_AGE_DAYS, dimensions(), days)
        });
    }
    data.push(Datum::new(METRIC_HEARTBEAT, dimensions(), 1.0));
}

/// Splits data into PutMetricData requests within both of its limits.
pub fn batches(data: Vec<Datum>) -> Vec<Vec<Datum>> {
    let mut batches: Vec<Vec<Datum>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for datum in data {
        let size = datum.estimated_bytes();
        if !current.is_empty()
            && (current.len() == MAX_DATA_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES)
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(datum);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

// ---------------------------------------------------------------------------
// Alarms
// ---------------------------------------------------------------------------

/// An alarm as the exporter wants it, or as CloudWatch describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmDefinition {
    pub name: String,
    pub description: Option<String>,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub period_seconds: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: f64,
    pub comparison_operator: String,
    pub treat_missing_data: Option<String>,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub unit: Option<String>,
}

impl AlarmDefinition {
    /// What differs from `wanted`, one short phrase per field.
    pub fn differences(&self, wanted: &AlarmDefinition) -> Vec<String> {
        let mut changes = Vec::new();
        let mut compare = |field: &str, have: String, want: String| {
            if have != want {
                changes.push(format!("{field}: {have} -> {want}"));
            }
        };
        let opt = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".to_string());
        let list = |items: &[String]| format!("[{}]", items.join(", "));
        let dims = |items: &[(String, String)]| {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        compare(
            "description",
            opt(&self.description),
            opt(&wanted.description),
        );
        compare(
            "namespace",
            self.namespace.clone(),
            wanted.namespace.clone(),
        );
        compare(
            "metric",
            self.metric_name.clone(),
            wanted.metric_name.clone(),
        );
        let mut have_dims = self.dimensions.clone();
        have_dims.sort();
        let mut want_dims = wanted.dimensions.clone();
        want_dims.sort();
        compare("dimensions", dims(&have_dims), dims(&want_dims));
        compare(
            "statistic",
            self.statistic.clone(),
            wanted.statistic.clone(),
        );
        compare(
            "period",
            format!("{}s", self.period_seconds),
            format!("{}s", wanted.period_seconds),
        );
        compare(
            "evaluation_periods",
            self.evaluation_periods.to_string(),
            wanted.evaluation_periods.to_string(),
        );
        compare(
            "datapoints_to_alarm",
            self.datapoints_to_alarm
                .map_or_else(|| "(none)".to_string(), |d| d.to_string()),
            wanted
                .datapoints_to_alarm
                .map_or_else(|| "(none)".to_string(), |d| d.to_string()),
        );
        compare(
            "threshold",
            self.threshold.to_string(),
            wanted.threshold.to_string(),
        );
        compare(
            "comparison",
            self.comparison_operator.clone(),
            wanted.comparison_operator.clone(),
        );
        compare(
            "treat_missing_data",
            opt(&self.treat_missing_data),
            opt(&wanted.treat_missing_data),
        );
        compare(
            "actions_enabled",
            self.actions_enabled.to_string(),
            wanted.actions_enabled.to_string(),
        );
        compare(
            "alarm_actions",
            list(&self.alarm_actions),
            list(&wanted.alarm_actions),
        );
        compare(
            "ok_actions",
            list(&self.ok_actions),
            list(&wanted.ok_actions),
        );
        compare(
            "insufficient_data_actions",
            list(&self.insufficient_data_actions),
            list(&wanted.insufficient_data_actions),
        );
        compare("unit", opt(&self.unit), opt(&wanted.unit));
        changes
    }
}

/// An alarm that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingAlarm {
    pub arn: String,
    pub definition: AlarmDefinition,
}

/// CloudWatch's period: 60 seconds or a multiple, at least one poll so that
/// every period normally holds one datum.
fn alarm_period(poll_interval: Duration, evaluation_periods: u64) -> i32 {
    let minutes = poll_interval.as_secs().div_ceil(60).max(1);
    // CloudWatch evaluates at most one day of periods.
    let max_minutes = (24 * 60 / evaluation_periods).max(1);
    i32::try_from(minutes.min(max_minutes) * 60).unwrap_or(86_400)
}

/// The alarms `config` asks for: rotation failures at or above 1, the
/// exporter's heartbeat missing (treated as breaching: a silent exporter
/// must page), and optionally non-compliant secrets at or above a count.
/// All watch the fleet totals, so their number does not grow with the fleet.
pub fn desired_alarms(config: &Config) -> Vec<AlarmDefinition> {
    let cloudwatch = &config.cloudwatch;
    let alarms = &cloudwatch.alarms;
    let prefix = alarm_prefix(config);
    let shard = config.shard.label();
    // A replica's alarms watch its own totals.
    let dimensions: Vec<(String, String)> = shard
        .iter()
        .map(|shard| (DIMENSION_SHARD.to_string(), shard.clone()))
        .collect();
    let of_replica = |description: String| match &shard {
        Some(shard) => format!("{description}; shard {shard}"),
        None => description,
    };
    let base = |suffix: &str, metric: &str, description: String| AlarmDefinition {
        name: format!("{prefix}{suffix}"),
        description: Some(of_replica(description)),
        namespace: cloudwatch.namespace.clone(),
        metric_name: metric.to_string(),
        dimensions: dimensions.clone(),
        statistic: "Maximum".to_string(),
        period_seconds: alarm_period(config.poll_interval, 2),
        evaluation_periods: 2,
        datapoints_to_alarm: Some(1),
        threshold: 1.0,
        comparison_operator: "GreaterThanOrEqualToThreshold".to_string(),
        // A missing datum says nothing about rotations: the heartbeat alarm
        // covers a silent exporter, so these keep their state.
        treat_missing_data: Some("ignore".to_string()),
        actions_enabled: true,
        alarm_actions: alarms.actions.clone(),
        ok_actions: alarms.actions.clone(),
        insufficient_data_actions: Vec::new(),
        unit: None,
    };
    let mut wanted = vec![
        base(
            "rotation-failures",
            METRIC_ROTATION_FAILURES,
            "Secrets Manager secrets whose newest rotation failed or was abandoned (managed by secrets-rotation-exporter)".to_string(),
        ),
        AlarmDefinition {
            statistic: "Minimum".to_string(),
            period_seconds: alarm_period(config.poll_interval, 3),
            evaluation_periods: 3,
            datapoints_to_alarm: Some(3),
            comparison_operator: "LessThanThreshold".to_string(),
            treat_missing_data: Some("breaching".to_string()),
            ..base(
                "exporter-heartbeat",
                METRIC_HEARTBEAT,
                "secrets-rotation-exporter has published nothing for three poll intervals (managed by secrets-rotation-exporter)".to_string(),
            )
        },
    ];
    if let Some(threshold) = alarms.noncompliant_secrets {
        wanted.push(AlarmDefinition {
            threshold: threshold as f64,
            ..base(
                "noncompliant-secrets",
                METRIC_NONCOMPLIANT_SECRETS,
                format!("At least {threshold} Secrets Manager secrets fail a rotation policy check (managed by secrets-rotation-exporter)"),
            )
        });
    }
    wanted
}

/// What reconciling would change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub create: Vec<AlarmDefinition>,
    /// The wanted definition, what changes, and the ARN when the managed tag is missing.
    pub update: Vec<Update>,
    pub delete: Vec<String>,
    /// Wanted alarms that already match.
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub alarm: AlarmDefinition,
    pub changes: Vec<String>,
    /// Set when the alarm lacks the managed tag, which PutMetricAlarm does
    /// not add to an existing alarm.
    pub tag_arn: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The tag that marks an alarm as the exporter's to change and delete.
fn managed_tag() -> Tag {
    Tag::builder()
        .key(MANAGED_TAG_KEY)
        .value(MANAGED_TAG_VALUE)
        .build()
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for alarm in &self.create {
            writeln!(
                f,
                "create {} ({} {} {} {} over {}s)",
                alarm.name,
                alarm.metric_name,
                alarm.statistic,
                comparison_symbol(&alarm.comparison_operator),
                alarm.threshold,
                alarm.period_seconds
            )?;
        }
        for update in &self.update {
            let mut changes = update.changes.clone();
            if update.tag_arn.is_some() {
                changes.push(format!("tag {MANAGED_TAG_KEY}={MANAGED_TAG_VALUE}"));
            }
            writeln!(f, "update {} ({})", update.alarm.name, changes.join("; "))?;
        }
        for name in &self.delete {
            writeln!(f, "delete {name}")?;
        }
        if self.is_empty() {
            writeln!(f, "no changes: {} alarms up to date", self.unchanged)
        } else {
            writeln!(
                f,
                "{} to create, {} to update, {} to delete, {} unchanged",
                self.create.len(),
                self.update.len(),
                self.delete.len(),
                self.unchanged
            )
        }
    }
}

fn comparison_symbol(operator: &str) -> &str {
    match operator {
        "GreaterThanOrEqualToThreshold" => ">=",
        "GreaterThanThreshold" => ">",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "<=",
        other => other,
    }
}

fn is_managed(tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(key, value)| key == MANAGED_TAG_KEY && value == MANAGED_TAG_VALUE)
}

/// The CloudWatch calls reconciliation and publishing need; pagination and
/// pacing live behind it.
pub trait CloudWatchApi: Send + Sync {
    fn put_metric_data<'a>(
        &'a self,
        namespace: &'a str,
        data: &'a [Datum],
    ) -> BoxFuture<'a, Result<(), SourceError>>;
    /// Every metric alarm whose name starts with `prefix`, all pages.
    fn describe_alarms<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExistingAlarm>, SourceError>>;
    fn alarm_tags<'a>(
        &'a self,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, SourceError>>;
    fn put_alarm<'a>(
        &'a self,
        alarm: &'a AlarmDefinition,
    ) -> BoxFuture<'a, Result<(), SourceError>>;
    fn tag_alarm<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<(), SourceError>>;
    fn delete_alarms<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<(), SourceError>>;
}

/// The names of the alarms this replica manages start with this:
/// `alarms.prefix`, then `shard-INDEX-of-COUNT-` when the fleet is split, so
/// that each replica plans and deletes only its own.
pub fn alarm_prefix(config: &Config) -> String {
    let prefix = &config.cloudwatch.alarms.prefix;
    match config.shard.label() {
        Some(shard) => format!("{prefix}shard-{shard}-"),
        None => prefix.clone(),
    }
}

/// Compares what exists under the prefix with what is wanted. Tags are read
/// only for alarms that might be deleted or updated, since DescribeAlarms
/// does not return them.
pub async fn plan(api: &dyn CloudWatchApi, config: &Config) -> Result<Plan, SourceError> {
    let wanted = desired_alarms(config);
    let prefix = alarm_prefix(config);
    let existing = api.describe_alarms(&prefix).await?;
    // Without a shard the prefix also covers the alarms of replicas that
    // split a fleet (`<prefix>shard-...`); those are theirs to manage.
    let other_replicas = config
        .shard
        .label()
        .is_none()
        .then(|| format!("{prefix}shard-"));
    let mut by_name: BTreeMap<&str, &ExistingAlarm> = existing
        .iter()
        .filter(|alarm| {
            other_replicas
                .as_deref()
                .is_none_or(|theirs| !alarm.definition.name.starts_with(theirs))
        })
        .map(|alarm| (alarm.definition.name.as_str(), alarm))
        .collect();
    let mut plan = Plan::default();
    for alarm in wanted {
        match by_name.remove(alarm.name.as_str()) {
            None => plan.create.push(alarm),
            Some(current) => {
                let changes = current.definition.differences(&alarm);
                let tagged = is_managed(&api.alarm_tags(&current.arn).await?);
                if changes.is_empty() && tagged {
                    plan.unchanged += 1;
                } else {
                    plan.update.push(Update {
                        alarm,
                        changes,
                        tag_arn: (!tagged).then(|| current.arn.clone()),
                    });
                }
            }
        }
    }
    // What is left is under the prefix but no longer wanted: only the
    // exporter's own (tagged) alarms go; one made by hand under the prefix stays.
    for (name, alarm) in by_name {
        if is_managed(&api.alarm_tags(&alarm.arn).await?) {
            plan.delete.push(name.to_string());
        }
    }
    Ok(plan)
}

/// Carries out a plan: PutMetricAlarm paced to its quota of 3 a second,
/// TagResource where the tag is missing, DeleteAlarms 100 names at a time.
pub async fn apply(api: &dyn CloudWatchApi, plan: &Plan) -> Result<(), SourceError> {
    let mut pacer = tokio::time::interval(Duration::from_millis(
        1000 / u64::from(PUT_METRIC_ALARM_PER_SECOND) + 1,
    ));
    pacer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for alarm in plan
        .create
        .iter()
        .chain(plan.update.iter().map(|update| &update.alarm))
    {
        pacer.tick().await;
        api.put_alarm(alarm).await?;
    }
    for arn in plan
        .update
        .iter()
        .filter_map(|update| update.tag_arn.as_ref())
    {
        api.tag_alarm(arn).await?;
    }
    for names in plan.delete.chunks(MAX_DELETE_PER_REQUEST) {
        api.delete_alarms(names).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The SDK adapter
// ---------------------------------------------------------------------------

/// CloudWatch through `aws-sdk-cloudwatch` (Smithy RPC v2 CBOR).
#[derive(Clone)]
pub struct SdkCloudWatch {
    client: aws_sdk_cloudwatch::Client,
}

impl SdkCloudWatch {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }

    /// A client for `region` with the exporter's timeouts and retries, the
    /// credentials of `role_arn` when given, and requests counted.
    pub async fn connect(
        base: &SdkConfig,
        settings: &AwsClientSettings,
        cloudwatch: &CloudWatchConfig,
        region: &str,
        request_counter: RequestCounter,
    ) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.operation_timeout)
            .operation_attempt_timeout(settings.operation_timeout)
            .operation_timeout(settings.operation_timeout)
            .build();
        let mut builder = aws_sdk_cloudwatch::config::Builder::from(base)
            .region(Region::new(region.to_string()))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
            .interceptor(request_counter);
        if let Some(role_arn) = &cloudwatch.role_arn {
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name(settings.role_session_name.clone())
                .configure(base);
            if let Some(external_id) = &cloudwatch.external_id {
                provider = provider.external_id(external_id.clone());
            }
            builder.set_credentials_provider(Some(SharedCredentialsProvider::new(
                provider.build().await,
            )));
        }
        Self::new(aws_sdk_cloudwatch::Client::from_conf(builder.build()))
    }
}

fn sdk_dimensions(dimensions: &[(impl AsRef<str>, impl AsRef<str>)]) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|(name, value)| {
            Dimension::builder()
                .name(name.as_ref())
                .value(value.as_ref())
                .build()
        })
        .collect()
}

fn definition_of(alarm: &MetricAlarm) -> AlarmDefinition {
    AlarmDefinition {
        name: alarm.alarm_name().unwrap_or_default().to_string(),
        description: alarm.alarm_description().map(str::to_owned),
        namespace: alarm.namespace().unwrap_or_default().to_string(),
        metric_name: alarm.metric_name().unwrap_or_default().to_string(),
        dimensions: alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        statistic: alarm
            .statistic()
            .map(|s| s.as_str().to_string())
            .or_else(|| alarm.extended_statistic().map(str::to_owned))
            .unwrap_or_default(),
        period_seconds: alarm.period().unwrap_or_default(),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        threshold: alarm.threshold().unwrap_or(f64::NAN),
        comparison_operator: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        treat_missing_data: alarm.treat_missing_data().map(str::to_owned),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        alarm_actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
        unit: alarm.unit().map(|u| u.as_str().to_string()),
    }
}

impl CloudWatchApi for SdkCloudWatch {
    fn put_metric_data<'a>(
        &'a self,
        namespace: &'a str,
        data: &'a [Datum],
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            let data: Vec<MetricDatum> = data
                .iter()
                .map(|datum| {
                    MetricDatum::builder()
                        .metric_name(datum.metric_name)
                        .set_dimensions(Some(sdk_dimensions(&datum.dimensions)))
                        .value(datum.value)
                        .unit(if datum.count {
                            StandardUnit::Count
                        } else {
                            StandardUnit::None
                        })
                        .build()
                })
                .collect();
            self.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(data))
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }

    fn describe_alarms<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExistingAlarm>, SourceError>> {
        Box::pin(async move {
            let mut alarms = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .describe_alarms()
                    .alarm_name_prefix(prefix)
                    .alarm_types(AlarmType::MetricAlarm)
                    .max_records(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|err| classify_sdk_error(&err))?;
                alarms.extend(page.metric_alarms().iter().map(|alarm| ExistingAlarm {
                    arn: alarm.alarm_arn().unwrap_or_default().to_string(),
                    definition: definition_of(alarm),
                }));
                match page.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
            Ok(alarms)
        })
    }

    fn alarm_tags<'a>(
        &'a self,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, SourceError>> {
        Box::pin(async move {
            let output = self
                .client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(output
                .tags()
                .iter()
                .map(|tag| {
                    (
                        tag.key().unwrap_or_default().to_string(),
                        tag.value().unwrap_or_default().to_string(),
                    )
                })
                .collect())
        })
    }

    fn put_alarm<'a>(
        &'a self,
        alarm: &'a AlarmDefinition,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            self.client
                .put_metric_alarm()
                .alarm_name(&alarm.name)
                .set_alarm_description(alarm.description.clone())
                .namespace(&alarm.namespace)
                .metric_name(&alarm.metric_name)
                .set_dimensions(Some(sdk_dimensions(&alarm.dimensions)))
                .statistic(Statistic::from(alarm.statistic.as_str()))
                .period(alarm.period_seconds)
                .evaluation_periods(alarm.evaluation_periods)
                .set_datapoints_to_alarm(alarm.datapoints_to_alarm)
                .threshold(alarm.threshold)
                .comparison_operator(ComparisonOperator::from(alarm.comparison_operator.as_str()))
                .set_treat_missing_data(alarm.treat_missing_data.clone())
                .actions_enabled(alarm.actions_enabled)
                .set_alarm_actions(Some(alarm.alarm_actions.clone()))
                .set_ok_actions(Some(alarm.ok_actions.clone()))
                .set_insufficient_data_actions(Some(alarm.insufficient_data_actions.clone()))
                .tags(managed_tag())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }

    fn tag_alarm<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            self.client
                .tag_resource()
                .resource_arn(arn)
                .tags(managed_tag())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }

    fn delete_alarms<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            self.client
                .delete_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------
// The running part: publisher after each poll, periodic reconciliation
// ---------------------------------------------------------------------------

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

/// The account of an IAM role ARN (`arn:aws:iam::<account>:role/...`).
pub fn role_account(role_arn: &str) -> Option<&str> {
    role_arn
        .split(':')
        .nth(4)
        .filter(|account| !account.is_empty())
}

/// Where metrics and alarms go: `cloudwatch.region`, else the base
/// configuration's region, else the first configured region.
pub fn publishing_region(config: &Config, base: &SdkConfig) -> String {
    config
        .cloudwatch
        .region
        .clone()
        .or_else(|| base.region().map(|r| r.to_string()))
        .or_else(|| config.regions.first().cloned())
        .or_else(|| {
            config
                .accounts
                .first()
                .and_then(|a| a.regions.first().cloned())
        })
        .unwrap_or_else(|| "us-east-1".to_string())
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

    /// Builds the SDK client for the configured account and region. The
    /// account (for the health labels) is that of `cloudwatch.role_arn`,
    /// else `base_account`.
    pub async fn connect(
        config: Arc<Config>,
        base: &SdkConfig,
        base_account: String,
        metrics: ExporterMetrics,
    ) -> Self {
        let region = publishing_region(&config, base);
        let api = SdkCloudWatch::connect(
            base,
            &config.aws,
            &config.cloudwatch,
            &region,
            RequestCounter::new(metrics.clone()),
        )
        .await;
        let account_id = config
            .cloudwatch
            .role_arn
            .as_deref()
            .and_then(role_account)
            .map_or(base_account, str::to_owned);
        Self::new(Arc::new(api), config, account_id, region, metrics)
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

    /// Plans and applies the alarm changes; logs what it changed.
    pub async fn reconcile(&self) -> Result<Plan, SourceError> {
        let started = Instant::now();
        let result: Result<Plan, SourceError> = async {
            let plan = plan(self.api.as_ref(), &self.config).await?;
            apply(self.api.as_ref(), &plan).await?;
            Ok(plan)
        }
        .await;
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
        let Some(health) = self.health() else {
            return;
        };
        let found = snapshot
            .targets
            .iter_mut()
            .find(|t| t.account_id == self.account_id && t.region == self.region);
        match found {
            Some(target) => {
                target.health.retain(|h| h.source != Source::CloudWatch);
                target.health.push(health);
            }
            None => {
                snapshot.targets.push(TargetSnapshot::new(
                    self.account_id.clone(),
                    None,
                    self.region.clone(),
                    vec![health],
                    Vec::new(),
                    None,
                ));
                snapshot.targets.sort_by(|a, b| {
                    (a.account_id.as_str(), a.region.as_str())
                        .cmp(&(b.account_id.as_str(), b.region.as_str()))
                });
            }
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

/// The account of the base credentials (`sts:GetCallerIdentity`), for the
/// health labels when no `cloudwatch.role_arn` names the account.
async fn caller_account(base: &SdkConfig, settings: &AwsClientSettings) -> Option<String> {
    let config = aws_sdk_sts::config::Builder::from(base)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_timeout(settings.operation_timeout)
                .build(),
        )
        .build();
    match aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(identity) => identity.account().map(str::to_owned),
        Err(err) => {
            let err = classify_sdk_error(&err);
            tracing::warn!(reason = err.reason.as_str(), error = %err.message, "cannot find the account CloudWatch data goes to");
            None
        }
    }
}

/// Starts CloudWatch for `serve` when the config asks for it: publishing
/// after each poll (`cloudwatch.enabled`) and reconciling alarms at start
/// and periodically (`cloudwatch.alarms.manage`). Returns the reconciler's
/// task, which ends when `stop` turns true.
pub async fn start(
    exporter: &crate::app::Exporter,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let config = exporter.config.clone();
    if !config.cloudwatch.enabled && !config.cloudwatch.alarms.manage {
        return None;
    }
    let base_account = match config.cloudwatch.role_arn {
        Some(_) => String::new(),
        None => caller_account(&exporter.sdk_config, &config.aws)
            .await
            .unwrap_or_else(|| "unknown".to_string()),
    };
    let cloudwatch = Arc::new(
        CloudWatchExporter::connect(
            config.clone(),
            &exporter.sdk_config,
            base_account,
            exporter.metrics.clone(),
        )
        .await,
    );
    tracing::info!(
        account_id = cloudwatch.account_id(),
        region = cloudwatch.region(),
        publish = config.cloudwatch.enabled,
        manage_alarms = config.cloudwatch.alarms.manage,
        "CloudWatch"
    );
    exporter.poller.set_hook(cloudwatch.clone());
    config
        .cloudwatch
        .alarms
        .manage
        .then(|| tokio::spawn(cloudwatch.run_reconciler(stop)))
}

/// Why `alarms plan` or `alarms apply` could not finish.
#[derive(Debug, thiserror::Error)]
pub enum AlarmsCommandError {
    #[error("the exporter's metric schema did not register: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("CloudWatch: {0}")]
    CloudWatch(#[from] SourceError),
    #[error("cannot write the plan: {0}")]
    Output(#[from] std::io::Error),
}

/// `alarms plan` (`apply` false) prints what reconciling would create,
/// update and delete; `alarms apply` prints the same, then does it.
pub async fn alarms_command(
    config: Config,
    base: &SdkConfig,
    apply_changes: bool,
    out: &mut dyn std::io::Write,
) -> Result<Plan, AlarmsCommandError> {
    let metrics = ExporterMetrics::new(env!("CARGO_PKG_VERSION"), crate::app::revision())?;
    let region = publishing_region(&config, base);
    let api = SdkCloudWatch::connect(
        base,
        &config.aws,
        &config.cloudwatch,
        &region,
        RequestCounter::new(metrics),
    )
    .await;
    if !config.cloudwatch.alarms.manage {
        writeln!(
            out,
            "note: cloudwatch.alarms.manage is false, so serve leaves these alarms alone"
        )?;
    }
    let planned = plan(&api, &config).await?;
    write!(out, "{planned}")?;
    if apply_changes && !planned.is_empty() {
        apply(&api, &planned).await?;
        writeln!(out, "applied in {region}")?;
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(value: f64, name_len: usize) -> Datum {
        Datum::new(
            METRIC_SECRET_FAILED_CHECKS,
            vec![(DIMENSION_SECRET, "s".repeat(name_len))],
            value,
        )
    }

    #[test]
    fn batches_hold_at_most_a_thousand_data_and_stay_under_a_mebibyte() {
        let small = batches((0..2500).map(|i| datum(f64::from(i), 10)).collect());
        assert_eq!(
            small.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let large = batches((0..1000).map(|i| datum(f64::from(i), 1500)).collect());
        assert!(large.len() > 1);
        for batch in &large {
            let bytes: usize = batch.iter().map(Datum::estimated_bytes).sum();
            assert!(bytes <= MAX_REQUEST_BYTES, "{bytes} bytes in one request");
        }
        assert_eq!(large.iter().map(Vec::len).sum::<usize>(), 1000);
    }

    #[test]
    fn the_alarm_period_covers_a_poll_within_a_day_of_evaluation() {
        assert_eq!(alarm_period(Duration::from_secs(300), 3), 300);
        assert_eq!(alarm_period(Duration::from_secs(90), 3), 120);
        assert_eq!(alarm_period(Duration::from_secs(30 * 3600), 3), 8 * 3600);
    }

    #[test]
    fn role_account_reads_the_fifth_field() {
        assert_eq!(
            role_account("arn:aws:iam::999999999999:role/publisher"),
            Some("999999999999")
        );
        assert_eq!(role_account("not-an-arn"), None);
    }
}
