//! The alarms the config asks for, the plan that brings what exists in line
//! with them, and carrying the plan out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::aws::cloudwatch::SdkCloudWatch;
use crate::aws::{ClientFactory, RequestCounter, SourceError};
use crate::config::Config;
use crate::metrics::ExporterMetrics;

use super::{
    CloudWatchApi, DIMENSION_SHARD, MANAGED_TAG_KEY, MANAGED_TAG_VALUE, MAX_DELETE_PER_REQUEST,
    METRIC_HEARTBEAT, METRIC_NONCOMPLIANT_SECRETS, METRIC_ROTATION_FAILURES,
    PUT_METRIC_ALARM_PER_SECOND, publishing_target,
};

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
    let metrics = ExporterMetrics::new(env!("CARGO_PKG_VERSION"), crate::metrics::revision())?;
    let factory = ClientFactory::new(
        base.clone(),
        config.aws.clone(),
        RequestCounter::new(metrics),
    );
    // Without a role, the account would only name the client's retry
    // partition: nothing here is labelled with it, so it is not looked up.
    let target = publishing_target(&config, &factory, None);
    let region = target.region.clone();
    let api = SdkCloudWatch::new(factory.cloudwatch(&target));
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

    #[test]
    fn the_alarm_period_covers_a_poll_within_a_day_of_evaluation() {
        assert_eq!(alarm_period(Duration::from_secs(300), 3), 300);
        assert_eq!(alarm_period(Duration::from_secs(90), 3), 120);
        assert_eq!(alarm_period(Duration::from_secs(30 * 3600), 3), 8 * 3600);
    }
}
