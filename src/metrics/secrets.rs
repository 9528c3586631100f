//! The families built from one [`Snapshot`]: one series per secret, per
//! target, or per target and source, written fresh on every rendering.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::accounts::{render_databases, render_vpcs};
use super::exposition::{
    CHUNK_BYTES, FamilyWriter, Output, SampleValue, escaped, push_escaped, push_escaped_label,
    push_label,
};
use super::parameters::render_parameters;
use super::schema::{
    ACCOUNT_INFO, ALL_FAMILIES, AWS_MANAGED_KEY, LAST_POLL, MetricFamily, NONCOMPLIANT_SECRETS,
    ROTATION_EVENTS_TOTAL, SECRET_COMPLIANT, SECRET_CREATED, SECRET_CURRENT_VERSION_CREATED,
    SECRET_DELETION, SECRET_EXEMPT, SECRET_INFO, SECRET_LAST_ACCESSED, SECRET_LAST_CHANGED,
    SECRET_LAST_ROTATED, SECRET_NEXT_ROTATION, SECRET_PREVIOUS_VERSION_LAST_ACCESSED,
    SECRET_ROTATION_ENABLED, SECRET_ROTATION_INTERVAL, SECRET_ROTATION_LAST_EVENT,
    SECRET_ROTATION_MAX_AGE, SECRET_ROTATION_PENDING_SINCE, SECRETS, TARGET_LAST_SUCCESS,
    TARGET_POLL_DURATION, TARGET_UP, UNEVALUATED_SECRETS, tag_label_name,
};
use crate::config::{Config, Labels, SeriesBudget, VerdictSeries};
use crate::inventory::SecretRecord;
use crate::policy::Check;
use crate::rotation_events::RotationEventKind;
use crate::snapshot::{AccountInfo, SecretReport, Snapshot, SourceHealth, TargetSnapshot};

#[derive(Debug, Clone, PartialEq, Eq)]
struct TagLabel {
    key: String,
    label: String,
}

/// How a snapshot is rendered: which tag keys become `tag_<key>` labels on
/// `aws_secretsmanager_secret_info`, which account tag keys on
/// `aws_account_info`, and which families and verdicts are served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    tag_labels: Vec<TagLabel>,
    account_tag_labels: Vec<TagLabel>,
    /// The families `metrics.include` and `metrics.exclude` leave out,
    /// worked out once rather than matched at every rendering.
    left_out: Vec<&'static str>,
    verdicts: VerdictSeries,
    /// `aws_secretsmanager_secret_info` carries `db_identifier` (RDS is
    /// inventoried).
    database_label: bool,
}

/// The `tag_<key>` labels of `keys`. Two keys that sanitise to the same
/// label name (`team-a`, `team_a`) would repeat a label and make Prometheus
/// reject the whole scrape, so only the first of them is kept.
fn tag_labels<I, S>(keys: I) -> Vec<TagLabel>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut labels: Vec<TagLabel> = Vec::new();
    for key in keys {
        let key = key.into();
        let label = tag_label_name(&key);
        if labels.iter().all(|existing| existing.label != label) {
            labels.push(TagLabel { key, label });
        }
    }
    labels
}

impl RenderOptions {
    /// With the secret tag keys `tag_keys` (and no account tags).
    pub fn new<I, S>(tag_keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            tag_labels: tag_labels(tag_keys),
            ..Self::default()
        }
    }

    pub fn from_labels(labels: &Labels) -> Self {
        Self::new(labels.tags.iter().cloned())
            .with_account_tags(labels.account_tags.iter().cloned())
    }

    /// As the configuration says: its `labels` and its `metrics` budget.
    pub fn from_config(config: &Config) -> Self {
        Self::from_labels(&config.labels)
            .with_budget(&config.metrics)
            .with_database_label(config.sources.rds)
    }

    /// With `db_identifier` on `aws_secretsmanager_secret_info`: the RDS
    /// database whose master password the secret holds, empty for the
    /// others.
    pub fn with_database_label(mut self, database_label: bool) -> Self {
        self.database_label = database_label;
        self
    }

    /// Serving only what `budget` lets through.
    pub fn with_budget(mut self, budget: &SeriesBudget) -> Self {
        self.left_out = ALL_FAMILIES
            .iter()
            .filter(|family| !budget.serves(family.name))
            .map(|family| family.name)
            .collect();
        self.verdicts = budget.verdicts;
        self
    }

    /// Whether the family named `family` is served.
    pub fn serves(&self, family: &str) -> bool {
        !self.left_out.contains(&family)
    }

    /// With the account tag keys `account_tag_keys` on `aws_account_info`.
    pub fn with_account_tags<I, S>(mut self, account_tag_keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.account_tag_labels = tag_labels(account_tag_keys);
        self
    }

    /// The `tag_<key>` label names, in the order they are written.
    pub fn tag_label_names(&self) -> impl Iterator<Item = &str> {
        self.tag_labels.iter().map(|tag| tag.label.as_str())
    }

    /// Each tag key copied to a label, with its label name.
    pub(super) fn tag_keys_and_labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tag_labels
            .iter()
            .map(|tag| (tag.key.as_str(), tag.label.as_str()))
    }

    /// Which verdicts get a `_compliant` series.
    pub(super) fn verdict_series(&self) -> VerdictSeries {
        self.verdicts
    }
}

/// Appends the families built from one poll. The snapshot's order (targets
/// by account and region, secrets by name) is the exposition order.
pub fn render_snapshot(snapshot: &Snapshot, options: &RenderOptions, out: &mut String) {
    render(snapshot, options, &mut Output::new(out, None));
}

/// Writes what [`render_snapshot`] appends to `sink`, in chunks of about
/// 256 KiB, never holding the whole text: at 100,000 secrets the text is
/// hundreds of megabytes and its gzip a few dozen.
pub fn write_snapshot(
    snapshot: &Snapshot,
    options: &RenderOptions,
    sink: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    // One long `_info` line past the chunk size would only grow the buffer.
    let mut text = String::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
    let mut output = Output::new(&mut text, Some(sink));
    render(snapshot, options, &mut output);
    output.finish()
}

fn render(snapshot: &Snapshot, options: &RenderOptions, out: &mut Output<'_>) {
    use SampleValue as V;

    let on = |family: &MetricFamily| options.serves(family.name);
    // Only the time columns of the families served are gathered: under a
    // series budget the others would be read and dropped on every rendering.
    let served_times: Vec<RecordTime> = RecordTime::ALL
        .into_iter()
        .filter(|time| on(time.family()))
        .collect();
    let targets: Vec<TargetLabels<'_>> = snapshot
        .targets
        .iter()
        .map(|target| TargetLabels::new(target, &served_times))
        .collect();
    let targets = targets.as_slice();

    if on(&ACCOUNT_INFO) {
        write_account_info(out, &snapshot.accounts, options);
    }
    if on(&SECRET_INFO) {
        write_secret_info(out, targets, options);
    }
    for time in [
        RecordTime::Created,
        RecordTime::LastChanged,
        RecordTime::LastAccessed,
        RecordTime::LastRotated,
        RecordTime::CurrentVersionCreated,
        RecordTime::NextRotation,
        RecordTime::Deleted,
    ] {
        if served_times.contains(&time) {
            write_record_time_family(out, targets, time);
        }
    }
    if on(&SECRET_ROTATION_ENABLED) {
        write_rotation_enabled(out, targets);
    }
    if on(&SECRET_ROTATION_INTERVAL) {
        write_secret_family(out, &SECRET_ROTATION_INTERVAL, targets, |s| {
            s.evaluation.rotation_interval.map(V::duration)
        });
    }
    if on(&SECRET_ROTATION_MAX_AGE) {
        // No policy applies to a secret on its way out, so no limit is in force.
        write_secret_family(out, &SECRET_ROTATION_MAX_AGE, targets, |s| {
            (!s.evaluation.scheduled_for_deletion).then(|| V::duration(s.evaluation.max_age))
        });
    }
    for time in [
        RecordTime::PendingSince,
        RecordTime::PreviousVersionLastAccessed,
    ] {
        if served_times.contains(&time) {
            write_record_time_family(out, targets, time);
        }
    }
    if on(&SECRET_ROTATION_LAST_EVENT) {
        write_last_rotation_events(out, targets);
    }
    if on(&SECRET_EXEMPT) {
        write_secret_family(out, &SECRET_EXEMPT, targets, |s| {
            Some(V::flag(s.evaluation.exemption.is_some()))
        });
    }
    if on(&SECRET_COMPLIANT) {
        write_secret_compliant(out, targets, options.verdicts);
    }

    if on(&SECRETS) {
        write_secrets_per_target(out, targets);
    }
    if on(&NONCOMPLIANT_SECRETS) {
        write_noncompliant_per_target(out, targets);
    }
    if on(&UNEVALUATED_SECRETS) {
        write_unevaluated_per_target(out, targets);
    }
    if on(&ROTATION_EVENTS_TOTAL) {
        write_rotation_events_total(out, targets);
    }
    render_parameters(snapshot, options, out);
    render_databases(snapshot, options, out);
    render_vpcs(snapshot, options, out);

    if on(&TARGET_UP) {
        write_health_family(out, &TARGET_UP, targets, |h| Some(V::flag(h.up)));
    }
    if on(&TARGET_LAST_SUCCESS) {
        write_health_family(out, &TARGET_LAST_SUCCESS, targets, |h| {
            h.last_success.map(V::timestamp)
        });
    }
    if on(&TARGET_POLL_DURATION) {
        write_health_family(out, &TARGET_POLL_DURATION, targets, |h| {
            Some(V::duration(h.poll_duration))
        });
    }
    if on(&LAST_POLL) {
        FamilyWriter::new(out, &LAST_POLL).unlabelled_series(V::timestamp(snapshot.completed_at));
    }
}

/// The record times that each have a per-secret family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordTime {
    Created,
    LastChanged,
    LastAccessed,
    LastRotated,
    CurrentVersionCreated,
    NextRotation,
    Deleted,
    PendingSince,
    PreviousVersionLastAccessed,
}

impl RecordTime {
    const ALL: [RecordTime; 9] = [
        RecordTime::Created,
        RecordTime::LastChanged,
        RecordTime::LastAccessed,
        RecordTime::LastRotated,
        RecordTime::CurrentVersionCreated,
        RecordTime::NextRotation,
        RecordTime::Deleted,
        RecordTime::PendingSince,
        RecordTime::PreviousVersionLastAccessed,
    ];

    /// The family that serves this time.
    fn family(self) -> &'static MetricFamily {
        match self {
            RecordTime::Created => &SECRET_CREATED,
            RecordTime::LastChanged => &SECRET_LAST_CHANGED,
            RecordTime::LastAccessed => &SECRET_LAST_ACCESSED,
            RecordTime::LastRotated => &SECRET_LAST_ROTATED,
            RecordTime::CurrentVersionCreated => &SECRET_CURRENT_VERSION_CREATED,
            RecordTime::NextRotation => &SECRET_NEXT_ROTATION,
            RecordTime::Deleted => &SECRET_DELETION,
            RecordTime::PendingSince => &SECRET_ROTATION_PENDING_SINCE,
            RecordTime::PreviousVersionLastAccessed => &SECRET_PREVIOUS_VERSION_LAST_ACCESSED,
        }
    }

    fn of(self, record: &SecretRecord) -> Option<DateTime<Utc>> {
        match self {
            RecordTime::Created => record.created,
            RecordTime::LastChanged => record.last_changed,
            RecordTime::LastAccessed => record.last_accessed,
            RecordTime::LastRotated => record.last_rotated,
            RecordTime::CurrentVersionCreated => record.current_version_created,
            RecordTime::NextRotation => record.next_rotation,
            RecordTime::Deleted => record.deleted,
            RecordTime::PendingSince => record.pending_since,
            RecordTime::PreviousVersionLastAccessed => record.previous_version_last_accessed(),
        }
    }
}

/// What the per-secret families of one target need, gathered once per
/// rendering. Escaping the same account, region and name for every series
/// was most of the rendering time; and at 100,000 secrets the records no
/// longer fit in the CPU cache, so reading one field of every record per
/// family waited on memory more than it wrote text. Here names and times
/// sit in compact arrays that each family reads in order.
struct TargetLabels<'s> {
    target: &'s TargetSnapshot,
    /// `account_id="...",region="..."`.
    identity: String,
    account_name: Cow<'s, str>,
    /// The secrets' escaped names, end to end; `name_ends[i]` is where the
    /// `i`th ends.
    names: String,
    name_ends: Vec<usize>,
    /// One column per [`RecordTime`], one row per secret; empty for a
    /// family not served.
    times: [Vec<Option<DateTime<Utc>>>; RecordTime::ALL.len()],
    rotation_enabled: Vec<bool>,
}

impl<'s> TargetLabels<'s> {
    fn new(target: &'s TargetSnapshot, served_times: &[RecordTime]) -> Self {
        let mut identity = String::with_capacity(40 + target.account_id.len());
        identity.push_str("account_id=\"");
        push_escaped(&mut identity, &target.account_id);
        identity.push('"');
        push_label(&mut identity, "region", &target.region);
        let count = target.secrets.len();
        let mut labels = Self {
            target,
            identity,
            account_name: escaped(target.account_name.as_deref().unwrap_or("")),
            names: String::with_capacity(count * 32),
            name_ends: Vec::with_capacity(count),
            times: std::array::from_fn(|_| Vec::new()),
            rotation_enabled: Vec::with_capacity(count),
        };
        for time in served_times {
            labels.times[*time as usize].reserve_exact(count);
        }
        for secret in &target.secrets {
            let record = &secret.record;
            push_escaped(&mut labels.names, &record.name);
            labels.name_ends.push(labels.names.len());
            for time in served_times {
                labels.times[*time as usize].push(time.of(record));
            }
            labels.rotation_enabled.push(record.rotation_enabled);
        }
        labels
    }

    /// The escaped names, in the target's order.
    fn names(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.name_ends.iter().copied());
        starts
            .zip(&self.name_ends)
            .map(|(start, &end)| self.names.get(start..end).unwrap_or_default())
    }

    /// Each secret with its escaped name.
    fn secrets(&self) -> impl Iterator<Item = (&'s SecretReport, &str)> {
        self.target.secrets.iter().zip(self.names())
    }

    fn times(&self, time: RecordTime) -> &[Option<DateTime<Utc>>] {
        // `ALL` lists the variants in declaration order, as the columns are.
        &self.times[time as usize]
    }
}

/// A family with one series per secret carrying only the three identifying
/// labels, a record time; an unknown time emits no series.
fn write_record_time_family(out: &mut Output<'_>, targets: &[TargetLabels<'_>], time: RecordTime) {
    let mut writer = FamilyWriter::new(out, time.family());
    for target in targets {
        writer.start_target(&target.identity);
        for (name, time) in target.names().zip(target.times(time)) {
            if let Some(time) = time {
                writer.start_secret_series(name);
                writer.end_series(SampleValue::timestamp(*time));
            }
        }
    }
}

/// A family with one series per secret carrying only the three identifying
/// labels; `value` returning `None` emits no series.
fn write_secret_family(
    out: &mut Output<'_>,
    family: &'static MetricFamily,
    targets: &[TargetLabels<'_>],
    value: impl Fn(&SecretReport) -> Option<SampleValue>,
) {
    let mut writer = FamilyWriter::new(out, family);
    for target in targets {
        writer.start_target(&target.identity);
        for (secret, name) in target.secrets() {
            if let Some(value) = value(secret) {
                writer.start_secret_series(name);
                writer.end_series(value);
            }
        }
    }
}

fn write_rotation_enabled(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &SECRET_ROTATION_ENABLED);
    for target in targets {
        writer.start_target(&target.identity);
        for (name, enabled) in target.names().zip(&target.rotation_enabled) {
            writer.start_secret_series(name);
            writer.end_series(SampleValue::flag(*enabled));
        }
    }
}

fn write_account_info(out: &mut Output<'_>, accounts: &[AccountInfo], options: &RenderOptions) {
    let mut writer = FamilyWriter::new(out, &ACCOUNT_INFO);
    let mut identity = String::new();
    for account in accounts {
        identity.clear();
        identity.push_str("account_id=\"");
        push_escaped(&mut identity, &account.account_id);
        identity.push('"');
        writer.start_target(&identity);
        let out = writer.start_target_series();
        push_label(
            out,
            "account_name",
            account.account_name.as_deref().unwrap_or(""),
        );
        push_label(out, "ou_path", account.ou_path.as_deref().unwrap_or(""));
        // Every configured tag is written, empty when the account lacks it,
        // so all series share one label set.
        for tag in &options.account_tag_labels {
            let value = account
                .tags
                .iter()
                .find(|(key, _)| *key == tag.key)
                .map_or("", |(_, value)| value.as_str());
            push_label(out, &tag.label, value);
        }
        writer.end_series(SampleValue::Count(1));
    }
}

fn write_secret_info(out: &mut Output<'_>, targets: &[TargetLabels<'_>], options: &RenderOptions) {
    let mut writer = FamilyWriter::new(out, &SECRET_INFO);
    for target in targets {
        writer.start_target(&target.identity);
        for (secret, name) in target.secrets() {
            let record = &secret.record;
            let out = writer.start_secret_series(name);
            push_label(out, "secret_arn", &record.arn);
            push_escaped_label(out, "account_name", &target.account_name);
            push_label(
                out,
                "owning_service",
                record.owning_service.as_deref().unwrap_or(""),
            );
            push_label(
                out,
                "primary_region",
                record.primary_region.as_deref().unwrap_or(""),
            );
            push_label(
                out,
                "kms_key",
                record.kms_key_id.as_deref().unwrap_or(AWS_MANAGED_KEY),
            );
            push_label(
                out,
                "rotation_lambda_arn",
                record.rotation_lambda_arn.as_deref().unwrap_or(""),
            );
            push_label(out, "rotation_type", record.rotation_type().as_str());
            if options.database_label {
                push_label(
                    out,
                    "db_identifier",
                    record.database.as_deref().unwrap_or(""),
                );
            }
            // Every configured tag is written, empty when the secret lacks
            // it, so all `_info` series share one label set.
            for tag in &options.tag_labels {
                let value = record
                    .tags
                    .get(tag.key.as_str())
                    .map_or("", |value| &**value);
                push_label(out, &tag.label, value);
            }
            writer.end_series(SampleValue::Count(1));
        }
    }
}

/// Every verdict, or with `metrics.verdicts: failing` only the failing ones.
fn write_secret_compliant(
    out: &mut Output<'_>,
    targets: &[TargetLabels<'_>],
    verdicts: VerdictSeries,
) {
    let mut writer = FamilyWriter::new(out, &SECRET_COMPLIANT);
    let served = |compliant: bool| match verdicts {
        VerdictSeries::All => true,
        VerdictSeries::Failing => !compliant,
    };
    for target in targets {
        writer.start_target(&target.identity);
        for (secret, name) in target.secrets() {
            for verdict in secret
                .evaluation
                .verdicts
                .iter()
                .filter(|verdict| served(verdict.compliant))
            {
                let out = writer.start_secret_series(name);
                push_escaped_label(out, "check", verdict.check.as_str());
                writer.end_series(SampleValue::flag(verdict.compliant));
            }
        }
    }
}

/// A target that has never been listed successfully gets no aggregate
/// series: a 0 there would read as "no secrets" rather than "unknown".
fn write_secrets_per_target(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &SECRETS);
    for target in targets.iter().filter(|t| t.target.summary.inventory_known) {
        writer.start_target(&target.identity);
        writer.start_target_series();
        writer.end_series(SampleValue::count(target.target.summary.secrets));
    }
}

/// One series per check whose count is known, 0 included, so alerts need
/// no `absent()`. A check with a verdict that could not be judged (CloudTrail
/// never answered because the reader role lacks `cloudtrail:LookupEvents`,
/// say) has no count: it must not read as "nothing failed".
fn write_noncompliant_per_target(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &NONCOMPLIANT_SECRETS);
    for labels in targets.iter().filter(|t| t.target.summary.inventory_known) {
        writer.start_target(&labels.identity);
        for check in Check::ALL {
            let Some(count) = labels.target.summary.noncompliant(check) else {
                continue;
            };
            let out = writer.start_target_series();
            push_label(out, "check", check.as_str());
            writer.end_series(SampleValue::count(count));
        }
    }
}

/// Secrets a check applies to but could not judge, by check and reason;
/// only where there are some.
fn write_unevaluated_per_target(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &UNEVALUATED_SECRETS);
    for labels in targets {
        writer.start_target(&labels.identity);
        for (check, reason, count) in &labels.target.summary.unknown {
            let out = writer.start_target_series();
            push_label(out, "check", check.as_str());
            push_label(out, "reason", reason.as_str());
            writer.end_series(SampleValue::count(*count));
        }
    }
}

/// The newest CloudTrail event of each kind per secret; a kind never seen
/// in CloudTrail's window emits nothing.
fn write_last_rotation_events(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &SECRET_ROTATION_LAST_EVENT);
    for target in targets {
        writer.start_target(&target.identity);
        for (secret, name) in target.secrets() {
            let Some(events) = &secret.record.rotation_events else {
                continue;
            };
            for kind in RotationEventKind::ALL {
                if let Some(event) = events.get(kind) {
                    let out = writer.start_secret_series(name);
                    push_label(out, "event", kind.as_str());
                    writer.end_series(SampleValue::timestamp(event.time));
                }
            }
        }
    }
}

/// Events first seen since start, per target and kind, every kind from 0 so
/// that `increase()` sees the first one.
fn write_rotation_events_total(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &ROTATION_EVENTS_TOTAL);
    for target in targets {
        let Some(counts) = &target.target.rotation_events_total else {
            continue;
        };
        writer.start_target(&target.identity);
        for (kind, count) in RotationEventKind::ALL.into_iter().zip(counts) {
            let out = writer.start_target_series();
            push_label(out, "event", kind.as_str());
            writer.end_series(SampleValue::Count(*count));
        }
    }
}

fn write_health_family(
    out: &mut Output<'_>,
    family: &'static MetricFamily,
    targets: &[TargetLabels<'_>],
    value: impl Fn(&SourceHealth) -> Option<SampleValue>,
) {
    let mut writer = FamilyWriter::new(out, family);
    for target in targets {
        writer.start_target(&target.identity);
        for health in &target.target.health {
            if let Some(value) = value(health) {
                let out = writer.start_target_series();
                push_label(out, "source", health.source.as_str());
                writer.end_series(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_sanitised_to_one_label_keep_the_first() {
        let options = RenderOptions::new(["team-a", "env", "team_a"]);
        let labels: Vec<&str> = options.tag_label_names().collect();
        assert_eq!(labels, ["tag_team_a", "tag_env"]);
    }
}
