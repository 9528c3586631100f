//! Every metric name, label and HELP text the exporter serves, and their
//! rendering in the Prometheus text exposition format (version 0.0.4).
//!
//! The families built from a poll are written by hand from the immutable
//! [`Snapshot`] instead of being kept in a `prometheus` registry: each scrape
//! emits fresh families, so a secret that vanished from AWS leaves no label set
//! behind, and writing straight into one buffer keeps a scrape of 100,000
//! secrets free of per-series allocations. Only the process-lifetime
//! instruments (counters that must survive polls) live in a registry, in
//! [`ExporterMetrics`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::config::Labels;
use crate::inventory::SecretRecord;
use crate::policy::Check;
use crate::rotation_events::RotationEventKind;
use crate::snapshot::{ErrorReason, SecretReport, Snapshot, Source, TargetSnapshot};

/// The value written for the `kms_key` label when a secret has no `KmsKeyId`.
pub const AWS_MANAGED_KEY: &str = "aws/secretsmanager";

/// The `# TYPE` of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
    Histogram,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Histogram => "histogram",
        }
    }
}

/// One metric family of the exposition: its name, `# HELP` text and `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub metric_type: MetricType,
}

const fn gauge(name: &'static str, help: &'static str) -> MetricFamily {
    MetricFamily {
        name,
        help,
        metric_type: MetricType::Gauge,
    }
}

const fn counter(name: &'static str, help: &'static str) -> MetricFamily {
    MetricFamily {
        name,
        help,
        metric_type: MetricType::Counter,
    }
}

pub const SECRET_INFO: MetricFamily = gauge(
    "aws_secretsmanager_secret_info",
    "Attributes of a Secrets Manager secret; always 1.",
);
pub const SECRET_CREATED: MetricFamily = gauge(
    "aws_secretsmanager_secret_created_timestamp_seconds",
    "When the secret was created (CreatedDate), as a Unix timestamp.",
);
pub const SECRET_LAST_CHANGED: MetricFamily = gauge(
    "aws_secretsmanager_secret_last_changed_timestamp_seconds",
    "When the secret was last changed (LastChangedDate), as a Unix timestamp.",
);
pub const SECRET_LAST_ACCESSED: MetricFamily = gauge(
    "aws_secretsmanager_secret_last_accessed_timestamp_seconds",
    "When the secret was last accessed (LastAccessedDate, day precision), as a Unix timestamp.",
);
pub const SECRET_LAST_ROTATED: MetricFamily = gauge(
    "aws_secretsmanager_secret_last_rotated_timestamp_seconds",
    "When the secret was last rotated (LastRotatedDate), as a Unix timestamp.",
);
pub const SECRET_CURRENT_VERSION_CREATED: MetricFamily = gauge(
    "aws_secretsmanager_secret_current_version_created_timestamp_seconds",
    "When the AWSCURRENT version of the secret was created, as a Unix timestamp.",
);
pub const SECRET_NEXT_ROTATION: MetricFamily = gauge(
    "aws_secretsmanager_secret_next_rotation_timestamp_seconds",
    "When the next scheduled rotation is due (NextRotationDate), as a Unix timestamp.",
);
pub const SECRET_DELETION: MetricFamily = gauge(
    "aws_secretsmanager_secret_deletion_timestamp_seconds",
    "When the secret was scheduled for deletion (DeletedDate), as a Unix timestamp.",
);
pub const SECRET_ROTATION_ENABLED: MetricFamily = gauge(
    "aws_secretsmanager_secret_rotation_enabled",
    "Whether automatic rotation is enabled for the secret (1) or not (0).",
);
pub const SECRET_ROTATION_INTERVAL: MetricFamily = gauge(
    "aws_secretsmanager_secret_rotation_interval_seconds",
    "Longest gap between two rotations of the secret's rotation schedule, in seconds.",
);
pub const SECRET_ROTATION_MAX_AGE: MetricFamily = gauge(
    "aws_secretsmanager_secret_rotation_max_age_seconds",
    "Maximum age of the secret's value allowed by the policy in force for it, in seconds.",
);
pub const SECRET_ROTATION_PENDING_SINCE: MetricFamily = gauge(
    "aws_secretsmanager_secret_rotation_pending_since_timestamp_seconds",
    "When the version staged AWSPENDING without AWSCURRENT was created, as a Unix timestamp.",
);
pub const SECRET_ROTATION_LAST_EVENT: MetricFamily = gauge(
    "aws_secretsmanager_secret_rotation_last_event_timestamp_seconds",
    "When the newest CloudTrail rotation event of each kind happened, as a Unix timestamp.",
);
pub const SECRET_EXEMPT: MetricFamily = gauge(
    "aws_secretsmanager_secret_exempt",
    "Whether the secret is exempt from the rotation checks by tag (1) or not (0).",
);
pub const SECRET_COMPLIANT: MetricFamily = gauge(
    "aws_secretsmanager_secret_compliant",
    "Whether the secret passes the compliance check (1) or not (0); one series per applicable check.",
);
pub const SECRETS: MetricFamily = gauge(
    "aws_secretsmanager_secrets",
    "Number of secrets in the account and region.",
);
pub const NONCOMPLIANT_SECRETS: MetricFamily = gauge(
    "aws_secretsmanager_noncompliant_secrets",
    "Number of secrets in the account and region that fail the compliance check.",
);
pub const UNEVALUATED_SECRETS: MetricFamily = gauge(
    "aws_secretsmanager_unevaluated_secrets",
    "Number of secrets in the account and region whose compliance check could not be judged, by reason; they have no compliant series for it, and the target no noncompliant count.",
);
pub const ROTATION_EVENTS_TOTAL: MetricFamily = counter(
    "aws_secretsmanager_rotation_events_total",
    "Rotation events seen in CloudTrail since the exporter started.",
);
pub const TARGET_UP: MetricFamily = gauge(
    "secrets_rotation_exporter_target_up",
    "Whether the last poll of this account, region and source succeeded (1) or not (0).",
);
pub const TARGET_LAST_SUCCESS: MetricFamily = gauge(
    "secrets_rotation_exporter_target_last_success_timestamp_seconds",
    "When the poll of this account, region and source last succeeded, as a Unix timestamp.",
);
pub const TARGET_POLL_DURATION: MetricFamily = gauge(
    "secrets_rotation_exporter_target_poll_duration_seconds",
    "How long the last poll of this account, region and source took, in seconds.",
);
pub const LAST_POLL: MetricFamily = gauge(
    "secrets_rotation_exporter_last_poll_timestamp_seconds",
    "When the last completed poll ended, as a Unix timestamp.",
);
pub const BUILD_INFO: MetricFamily = gauge(
    "secrets_rotation_exporter_build_info",
    "Version and revision the exporter was built from; always 1.",
);
pub const ERRORS_TOTAL: MetricFamily = counter(
    "secrets_rotation_exporter_errors_total",
    "Failed polls of an account, region and source, by reason.",
);
pub const AWS_REQUESTS_TOTAL: MetricFamily = counter(
    "secrets_rotation_exporter_aws_requests_total",
    "AWS API requests made by the exporter, by service, operation and outcome.",
);
pub const POLLS_SKIPPED_TOTAL: MetricFamily = counter(
    "secrets_rotation_exporter_polls_skipped_total",
    "Poll ticks skipped because the previous poll was still running.",
);
pub const POLL_DURATION: MetricFamily = MetricFamily {
    name: "secrets_rotation_exporter_poll_duration_seconds",
    help: "How long complete polls of every target took, in seconds.",
    metric_type: MetricType::Histogram,
};

/// Every family the exporter can serve, in exposition order: the ones built
/// from a snapshot, then the exporter's own.
pub const ALL_FAMILIES: [MetricFamily; 28] = [
    SECRET_INFO,
    SECRET_CREATED,
    SECRET_LAST_CHANGED,
    SECRET_LAST_ACCESSED,
    SECRET_LAST_ROTATED,
    SECRET_CURRENT_VERSION_CREATED,
    SECRET_NEXT_ROTATION,
    SECRET_DELETION,
    SECRET_ROTATION_ENABLED,
    SECRET_ROTATION_INTERVAL,
    SECRET_ROTATION_MAX_AGE,
    SECRET_ROTATION_PENDING_SINCE,
    SECRET_ROTATION_LAST_EVENT,
    SECRET_EXEMPT,
    SECRET_COMPLIANT,
    SECRETS,
    NONCOMPLIANT_SECRETS,
    UNEVALUATED_SECRETS,
    ROTATION_EVENTS_TOTAL,
    TARGET_UP,
    TARGET_LAST_SUCCESS,
    TARGET_POLL_DURATION,
    LAST_POLL,
    BUILD_INFO,
    ERRORS_TOTAL,
    AWS_REQUESTS_TOTAL,
    POLLS_SKIPPED_TOTAL,
    POLL_DURATION,
];

/// The Prometheus label name a tag key is copied to: `tag_` and the key with
/// every character outside `[a-zA-Z0-9_]` replaced by `_`.
pub fn tag_label_name(tag_key: &str) -> String {
    let mut label = String::with_capacity(4 + tag_key.len());
    label.push_str("tag_");
    label.extend(tag_key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    label
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TagLabel {
    key: String,
    label: String,
}

/// How a snapshot is rendered: which tag keys become `tag_<key>` labels on
/// `aws_secretsmanager_secret_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    tag_labels: Vec<TagLabel>,
}

impl RenderOptions {
    /// Two keys that sanitise to the same label name (`team-a`, `team_a`)
    /// would repeat a label and make Prometheus reject the whole scrape, so
    /// only the first of them is kept.
    pub fn new<I, S>(tag_keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut tag_labels: Vec<TagLabel> = Vec::new();
        for key in tag_keys {
            let key = key.into();
            let label = tag_label_name(&key);
            if tag_labels.iter().all(|existing| existing.label != label) {
                tag_labels.push(TagLabel { key, label });
            }
        }
        Self { tag_labels }
    }

    pub fn from_labels(labels: &Labels) -> Self {
        Self::new(labels.tags.iter().cloned())
    }

    /// The `tag_<key>` label names, in the order they are written.
    pub fn tag_label_names(&self) -> impl Iterator<Item = &str> {
        self.tag_labels.iter().map(|tag| tag.label.as_str())
    }
}

/// A sample value. Every value the snapshot holds is an integer or a time
/// with nanosecond precision, so values are written as exact decimals: no
/// exponent, no rounding through `f64`, and never NaN or infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleValue {
    Count(u64),
    /// `whole` plus `nanos` billionths, `nanos` below one billion.
    Seconds {
        whole: i64,
        nanos: u32,
    },
}

impl SampleValue {
    fn flag(on: bool) -> Self {
        SampleValue::Count(u64::from(on))
    }

    fn count(n: usize) -> Self {
        SampleValue::Count(u64::try_from(n).unwrap_or(u64::MAX))
    }

    fn timestamp(time: DateTime<Utc>) -> Self {
        let mut whole = time.timestamp();
        let mut nanos = time.timestamp_subsec_nanos();
        // chrono counts a leap second as nanos past one billion.
        if nanos >= 1_000_000_000 {
            whole = whole.saturating_add(1);
            nanos -= 1_000_000_000;
        }
        SampleValue::Seconds { whole, nanos }
    }

    fn duration(duration: Duration) -> Self {
        SampleValue::Seconds {
            whole: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            nanos: duration.subsec_nanos(),
        }
    }

    fn write(self, out: &mut String) {
        let mut digits = itoa::Buffer::new();
        match self {
            SampleValue::Count(n) => out.push_str(digits.format(n)),
            SampleValue::Seconds { whole, nanos } => {
                // `whole` is the floor, so before 1970 the fraction counts up
                // from a more negative second: -1 s + 0.25 s is -0.75.
                let (negative, integer, fraction) = if whole < 0 && nanos > 0 {
                    (true, (whole + 1).unsigned_abs(), 1_000_000_000 - nanos)
                } else {
                    (whole < 0, whole.unsigned_abs(), nanos)
                };
                if negative {
                    out.push('-');
                }
                out.push_str(digits.format(integer));
                if fraction > 0 {
                    // Nine places with the trailing zeros dropped: the
                    // significant digits, after as many leading zeros as
                    // the remaining places leave.
                    let mut significant = fraction;
                    let mut places = 9;
                    while significant % 10 == 0 {
                        significant /= 10;
                        places -= 1;
                    }
                    let significant = digits.format(significant);
                    out.push('.');
                    for _ in significant.len()..places {
                        out.push('0');
                    }
                    out.push_str(significant);
                }
            }
        }
    }
}

/// Whether a label value holds a byte the text format escapes. Checked in
/// blocks without an early exit so that the compiler can vectorise the scan,
/// which runs for every label value of a scrape.
fn needs_escaping(value: &str) -> bool {
    value.as_bytes().chunks(32).any(|block| {
        block.iter().fold(false, |found, &b| {
            found | (b == b'\\') | (b == b'"') | (b == b'\n')
        })
    })
}

/// Escapes a label value as the text format requires: backslash, double
/// quote and line feed.
fn push_escaped(out: &mut String, value: &str) {
    if !needs_escaping(value) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `value` escaped, borrowed when nothing needed escaping.
fn escaped(value: &str) -> Cow<'_, str> {
    if needs_escaping(value) {
        let mut out = String::with_capacity(value.len() + 8);
        push_escaped(&mut out, value);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

/// Appends `,name="value"`.
fn push_label(out: &mut String, name: &str, value: &str) {
    out.push(',');
    out.push_str(name);
    out.push_str("=\"");
    push_escaped(out, value);
    out.push('"');
}

/// Appends `,name="value"` for a value that is already escaped.
fn push_escaped_label(out: &mut String, name: &str, escaped_value: &str) {
    out.push(',');
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(escaped_value);
    out.push('"');
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
}

impl RecordTime {
    const ALL: [RecordTime; 8] = [
        RecordTime::Created,
        RecordTime::LastChanged,
        RecordTime::LastAccessed,
        RecordTime::LastRotated,
        RecordTime::CurrentVersionCreated,
        RecordTime::NextRotation,
        RecordTime::Deleted,
        RecordTime::PendingSince,
    ];

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
    /// One column per [`RecordTime`], one row per secret.
    times: [Vec<Option<DateTime<Utc>>>; RecordTime::ALL.len()],
    rotation_enabled: Vec<bool>,
}

impl<'s> TargetLabels<'s> {
    fn new(target: &'s TargetSnapshot) -> Self {
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
            times: std::array::from_fn(|_| Vec::with_capacity(count)),
            rotation_enabled: Vec::with_capacity(count),
        };
        for secret in &target.secrets {
            let record = &secret.record;
            push_escaped(&mut labels.names, &record.name);
            labels.name_ends.push(labels.names.len());
            for (column, time) in labels.times.iter_mut().zip(RecordTime::ALL) {
                column.push(time.of(record));
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

/// How much rendered text is gathered before it goes to the sink: large
/// enough that the sink (a gzip encoder) works on big blocks, small enough
/// to stay in the CPU cache.
const CHUNK_BYTES: usize = 256 * 1024;

/// Where rendered text goes: gathered in `text` and, when there is a sink,
/// handed to it every [`CHUNK_BYTES`], so that a streamed rendering never
/// holds the whole exposition.
struct Output<'a> {
    text: &'a mut String,
    sink: Option<&'a mut dyn std::io::Write>,
    /// The sink's first error; what is rendered after it is dropped.
    error: Option<std::io::Error>,
}

impl Output<'_> {
    /// Called between series, so that chunks end at line boundaries.
    fn series_written(&mut self) {
        if self.text.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        if self.error.is_none()
            && let Err(err) = sink.write_all(self.text.as_bytes())
        {
            self.error = Some(err);
        }
        self.text.clear();
    }
}

/// Writes the series of one family. The header goes out with the first
/// series only, so a family with nothing to report is left out entirely.
struct FamilyWriter<'w, 'a> {
    out: &'w mut Output<'a>,
    family: &'static MetricFamily,
    header_written: bool,
    /// `name{account_id="...",region="..."` of the current target.
    target_prefix: String,
    /// The target prefix followed by `,secret_name="`.
    secret_prefix: String,
}

/// `# HELP` and `# TYPE` of a family.
fn push_family_header(out: &mut String, family: &MetricFamily) {
    out.push_str("# HELP ");
    out.push_str(family.name);
    out.push(' ');
    out.push_str(family.help);
    out.push_str("\n# TYPE ");
    out.push_str(family.name);
    out.push(' ');
    out.push_str(family.metric_type.as_str());
    out.push('\n');
}

impl<'w, 'a> FamilyWriter<'w, 'a> {
    fn new(out: &'w mut Output<'a>, family: &'static MetricFamily) -> Self {
        Self {
            out,
            family,
            header_written: false,
            target_prefix: String::new(),
            secret_prefix: String::new(),
        }
    }

    fn write_header(&mut self) {
        if self.header_written {
            return;
        }
        self.header_written = true;
        push_family_header(self.out.text, self.family);
    }

    /// Makes `target` the one the next series belong to.
    fn start_target(&mut self, target: &TargetLabels<'_>) {
        self.target_prefix.clear();
        self.target_prefix.push_str(self.family.name);
        self.target_prefix.push('{');
        self.target_prefix.push_str(&target.identity);
        self.secret_prefix.clear();
        self.secret_prefix.push_str(&self.target_prefix);
        self.secret_prefix.push_str(",secret_name=\"");
    }

    /// Writes the current target's `name{account_id="...",region="..."`;
    /// more labels follow with [`push_label`] and the series ends with
    /// [`FamilyWriter::end_series`].
    fn start_target_series(&mut self) -> &mut String {
        self.write_header();
        let out = &mut *self.out.text;
        out.push_str(&self.target_prefix);
        out
    }

    /// As [`FamilyWriter::start_target_series`], with the secret's name.
    fn start_secret_series(&mut self, escaped_name: &str) -> &mut String {
        self.write_header();
        let out = &mut *self.out.text;
        out.push_str(&self.secret_prefix);
        out.push_str(escaped_name);
        out.push('"');
        out
    }

    fn end_series(&mut self, value: SampleValue) {
        let out = &mut *self.out.text;
        out.push_str("} ");
        value.write(out);
        out.push('\n');
        self.out.series_written();
    }

    fn unlabelled_series(&mut self, value: SampleValue) {
        self.write_header();
        let out = &mut *self.out.text;
        out.push_str(self.family.name);
        out.push(' ');
        value.write(out);
        out.push('\n');
        self.out.series_written();
    }
}

/// A family with one series per secret carrying only the three identifying
/// labels, a record time; an unknown time emits no series.
fn write_record_time_family(
    out: &mut Output<'_>,
    family: &'static MetricFamily,
    targets: &[TargetLabels<'_>],
    time: RecordTime,
) {
    let mut writer = FamilyWriter::new(out, family);
    for target in targets {
        writer.start_target(target);
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
        writer.start_target(target);
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
        writer.start_target(target);
        for (name, enabled) in target.names().zip(&target.rotation_enabled) {
            writer.start_secret_series(name);
            writer.end_series(SampleValue::flag(*enabled));
        }
    }
}

fn write_secret_info(out: &mut Output<'_>, targets: &[TargetLabels<'_>], options: &RenderOptions) {
    let mut writer = FamilyWriter::new(out, &SECRET_INFO);
    for target in targets {
        writer.start_target(target);
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

fn write_secret_compliant(out: &mut Output<'_>, targets: &[TargetLabels<'_>]) {
    let mut writer = FamilyWriter::new(out, &SECRET_COMPLIANT);
    for target in targets {
        writer.start_target(target);
        for (secret, name) in target.secrets() {
            for verdict in &secret.evaluation.verdicts {
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
        writer.start_target(target);
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
        writer.start_target(labels);
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
        writer.start_target(labels);
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
        writer.start_target(target);
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
        writer.start_target(target);
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
    value: impl Fn(&crate::snapshot::SourceHealth) -> Option<SampleValue>,
) {
    let mut writer = FamilyWriter::new(out, family);
    for target in targets {
        writer.start_target(target);
        for health in &target.target.health {
            if let Some(value) = value(health) {
                let out = writer.start_target_series();
                push_label(out, "source", health.source.as_str());
                writer.end_series(value);
            }
        }
    }
}

/// Appends the families built from one poll. The snapshot's order (targets
/// by account and region, secrets by name) is the exposition order.
pub fn render_snapshot(snapshot: &Snapshot, options: &RenderOptions, out: &mut String) {
    let mut output = Output {
        text: out,
        sink: None,
        error: None,
    };
    render(snapshot, options, &mut output);
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
    let mut output = Output {
        text: &mut text,
        sink: Some(sink),
        error: None,
    };
    render(snapshot, options, &mut output);
    output.flush();
    match output.error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

fn render(snapshot: &Snapshot, options: &RenderOptions, out: &mut Output<'_>) {
    use SampleValue as V;

    let targets: Vec<TargetLabels<'_>> = snapshot.targets.iter().map(TargetLabels::new).collect();
    let targets = targets.as_slice();

    write_secret_info(out, targets, options);
    for (family, time) in [
        (&SECRET_CREATED, RecordTime::Created),
        (&SECRET_LAST_CHANGED, RecordTime::LastChanged),
        (&SECRET_LAST_ACCESSED, RecordTime::LastAccessed),
        (&SECRET_LAST_ROTATED, RecordTime::LastRotated),
        (
            &SECRET_CURRENT_VERSION_CREATED,
            RecordTime::CurrentVersionCreated,
        ),
        (&SECRET_NEXT_ROTATION, RecordTime::NextRotation),
        (&SECRET_DELETION, RecordTime::Deleted),
    ] {
        write_record_time_family(out, family, targets, time);
    }
    write_rotation_enabled(out, targets);
    write_secret_family(out, &SECRET_ROTATION_INTERVAL, targets, |s| {
        s.evaluation.rotation_interval.map(V::duration)
    });
    // No policy applies to a secret on its way out, so no limit is in force.
    write_secret_family(out, &SECRET_ROTATION_MAX_AGE, targets, |s| {
        (!s.evaluation.scheduled_for_deletion).then(|| V::duration(s.evaluation.max_age))
    });
    write_record_time_family(
        out,
        &SECRET_ROTATION_PENDING_SINCE,
        targets,
        RecordTime::PendingSince,
    );
    write_last_rotation_events(out, targets);
    write_secret_family(out, &SECRET_EXEMPT, targets, |s| {
        Some(V::flag(s.evaluation.exemption.is_some()))
    });
    write_secret_compliant(out, targets);

    write_secrets_per_target(out, targets);
    write_noncompliant_per_target(out, targets);
    write_unevaluated_per_target(out, targets);
    write_rotation_events_total(out, targets);

    write_health_family(out, &TARGET_UP, targets, |h| Some(V::flag(h.up)));
    write_health_family(out, &TARGET_LAST_SUCCESS, targets, |h| {
        h.last_success.map(V::timestamp)
    });
    write_health_family(out, &TARGET_POLL_DURATION, targets, |h| {
        Some(V::duration(h.poll_duration))
    });
    FamilyWriter::new(out, &LAST_POLL).unlabelled_series(V::timestamp(snapshot.completed_at));
}

/// The `outcome` label of `secrets_rotation_exporter_aws_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    Ok,
    Error,
    Throttled,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 3] = [
        RequestOutcome::Ok,
        RequestOutcome::Error,
        RequestOutcome::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Error => "error",
            RequestOutcome::Throttled => "throttled",
        }
    }
}

/// Buckets for whole polls: a handful of accounts takes seconds, thousands
/// of accounts throttled by `LookupEvents` can take most of an hour.
const POLL_DURATION_BUCKETS: [f64; 12] = [
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// `secrets_rotation_exporter_errors_total`, kept apart from the registry:
/// one series per target, source and reason is 28,000 series at 2,000
/// targets, which the registry's encoder took over 100 ms to write on every
/// scrape although they change only when something fails. They are
/// rendered here, and the HTTP layer keeps the rendering until the next
/// change ([`ExporterMetrics::errors_generation`]).
#[derive(Debug, Default)]
struct ErrorCounters {
    counts: Mutex<BTreeMap<(String, String, Source), [u64; ErrorReason::ALL.len()]>>,
    /// Bumped by every change.
    generation: AtomicU64,
}

impl ErrorCounters {
    fn update(&self, account_id: &str, region: &str, source: Source, reason: Option<ErrorReason>) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let by_reason = counts
            .entry((account_id.to_owned(), region.to_owned(), source))
            .or_default();
        if let Some(reason) = reason
            && let Some(index) = ErrorReason::ALL.iter().position(|r| *r == reason)
        {
            by_reason[index] += 1;
        }
        self.generation.fetch_add(1, AtomicOrdering::Release);
    }

    fn render(&self, out: &mut String) {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts.is_empty() {
            return;
        }
        out.reserve(counts.len() * ErrorReason::ALL.len() * 120);
        push_family_header(out, &ERRORS_TOTAL);
        let mut number = itoa::Buffer::new();
        for ((account_id, region, source), by_reason) in counts.iter() {
            for (reason, count) in ErrorReason::ALL.iter().zip(by_reason) {
                out.push_str(ERRORS_TOTAL.name);
                out.push_str("{account_id=\"");
                push_escaped(out, account_id);
                out.push('"');
                push_label(out, "region", region);
                push_label(out, "source", source.as_str());
                push_label(out, "reason", reason.as_str());
                out.push_str("} ");
                out.push_str(number.format(*count));
                out.push('\n');
            }
        }
    }
}

/// The revision baked in at build time when the build sets it, for the
/// `revision` label of `secrets_rotation_exporter_build_info`.
pub fn revision() -> &'static str {
    option_env!("SECRETS_ROTATION_EXPORTER_REVISION").unwrap_or("unknown")
}

/// The exporter's own instruments, which live as long as the process rather
/// than one poll. Cloning shares the same instruments.
#[derive(Clone)]
pub struct ExporterMetrics {
    registry: Registry,
    errors: Arc<ErrorCounters>,
    aws_requests_total: IntCounterVec,
    polls_skipped_total: IntCounter,
    poll_duration: Histogram,
}

impl std::fmt::Debug for ExporterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterMetrics").finish_non_exhaustive()
    }
}

impl ExporterMetrics {
    /// Errors only if the schema above is malformed, which the tests rule out.
    pub fn new(version: &str, revision: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();

        let build_info = IntGaugeVec::new(
            Opts::new(BUILD_INFO.name, BUILD_INFO.help),
            &["version", "revision"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[version, revision]).set(1);

        let aws_requests_total = IntCounterVec::new(
            Opts::new(AWS_REQUESTS_TOTAL.name, AWS_REQUESTS_TOTAL.help),
            &["service", "operation", "outcome"],
        )?;
        registry.register(Box::new(aws_requests_total.clone()))?;

        let polls_skipped_total =
            IntCounter::new(POLLS_SKIPPED_TOTAL.name, POLLS_SKIPPED_TOTAL.help)?;
        registry.register(Box::new(polls_skipped_total.clone()))?;

        let poll_duration = Histogram::with_opts(
            HistogramOpts::new(POLL_DURATION.name, POLL_DURATION.help)
                .buckets(POLL_DURATION_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(poll_duration.clone()))?;

        Ok(Self {
            registry,
            errors: Arc::default(),
            aws_requests_total,
            polls_skipped_total,
            poll_duration,
        })
    }

    /// Creates the target's error series at 0 for every reason. A counter
    /// that first appears at 1 has no earlier sample, so `rate()` and
    /// `increase()` would miss its first error.
    pub fn init_target(&self, account_id: &str, region: &str, source: Source) {
        self.errors.update(account_id, region, source, None);
    }

    pub fn record_error(
        &self,
        account_id: &str,
        region: &str,
        source: Source,
        reason: ErrorReason,
    ) {
        self.errors.update(account_id, region, source, Some(reason));
    }

    /// Creates the operation's request series at 0 for every outcome, for the
    /// same reason as [`ExporterMetrics::init_target`].
    pub fn init_aws_operation(&self, service: &str, operation: &str) {
        for outcome in RequestOutcome::ALL {
            self.aws_requests_total
                .with_label_values(&[service, operation, outcome.as_str()]);
        }
    }

    pub fn record_aws_request(&self, service: &str, operation: &str, outcome: RequestOutcome) {
        self.aws_requests_total
            .with_label_values(&[service, operation, outcome.as_str()])
            .inc();
    }

    pub fn record_poll_skipped(&self) {
        self.polls_skipped_total.inc();
    }

    pub fn observe_poll_duration(&self, duration: Duration) {
        self.poll_duration.observe(duration.as_secs_f64());
    }

    /// For callers that register more collectors next to these.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every series of the exporter's own.
    pub fn render(&self, out: &mut String) -> Result<(), prometheus::Error> {
        self.render_registry(out)?;
        self.render_errors(out);
        Ok(())
    }

    /// The series of the registry: a few dozen, whatever the fleet.
    pub fn render_registry(&self, out: &mut String) -> Result<(), prometheus::Error> {
        TextEncoder::new().encode_utf8(&self.registry.gather(), out)
    }

    /// `secrets_rotation_exporter_errors_total`, one series per target,
    /// source and reason.
    pub fn render_errors(&self, out: &mut String) {
        self.errors.render(out);
    }

    /// Changes whenever what [`ExporterMetrics::render_errors`] writes may have.
    pub fn errors_generation(&self) -> u64 {
        self.errors.generation.load(AtomicOrdering::Acquire)
    }
}

/// The content type of what [`render_all`] writes.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The whole `/metrics` body: the newest snapshot's families, when a poll has
/// completed, then the exporter's own.
pub fn render_all(
    snapshot: Option<&Snapshot>,
    exporter: &ExporterMetrics,
    options: &RenderOptions,
    out: &mut String,
) -> Result<(), prometheus::Error> {
    if let Some(snapshot) = snapshot {
        render_snapshot(snapshot, options, out);
    }
    exporter.render(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rendered(value: SampleValue) -> String {
        let mut out = String::new();
        value.write(&mut out);
        out
    }

    #[test]
    fn whole_timestamps_print_as_integers() {
        let time = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single();
        let time = time.map(SampleValue::timestamp).map(rendered);
        assert_eq!(time.as_deref(), Some("1717243200"));
    }

    #[test]
    fn fractional_seconds_print_exactly_without_trailing_zeros() {
        let value = SampleValue::Seconds {
            whole: 1_717_243_200,
            nanos: 120_000_000,
        };
        assert_eq!(rendered(value), "1717243200.12");
        let value = SampleValue::duration(Duration::from_nanos(1_000_000_001));
        assert_eq!(rendered(value), "1.000000001");
    }

    #[test]
    fn times_before_1970_print_the_right_negative_value() {
        let time = DateTime::<Utc>::from_timestamp(-2, 250_000_000);
        assert_eq!(
            time.map(SampleValue::timestamp).map(rendered).as_deref(),
            Some("-1.75")
        );
        let time = DateTime::<Utc>::from_timestamp(-3, 0);
        assert_eq!(
            time.map(SampleValue::timestamp).map(rendered).as_deref(),
            Some("-3")
        );
    }

    #[test]
    fn huge_durations_saturate_instead_of_wrapping() {
        assert_eq!(
            rendered(SampleValue::duration(Duration::MAX)),
            "9223372036854775807.999999999"
        );
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut out = String::new();
        push_escaped(&mut out, "a\\b\"c\nd é");
        assert_eq!(out, "a\\\\b\\\"c\\nd é");
    }

    #[test]
    fn tag_keys_become_valid_label_names() {
        assert_eq!(tag_label_name("team"), "tag_team");
        assert_eq!(tag_label_name("cost-center:é.x"), "tag_cost_center___x");
        assert_eq!(tag_label_name("9lives"), "tag_9lives");
    }

    #[test]
    fn tag_keys_sanitised_to_one_label_keep_the_first() {
        let options = RenderOptions::new(["team-a", "env", "team_a"]);
        let labels: Vec<&str> = options.tag_label_names().collect();
        assert_eq!(labels, ["tag_team_a", "tag_env"]);
    }

    #[test]
    fn every_family_name_is_unique() {
        for (index, family) in ALL_FAMILIES.iter().enumerate() {
            assert!(
                ALL_FAMILIES[index + 1..]
                    .iter()
                    .all(|other| other.name != family.name),
                "{} is declared twice",
                family.name
            );
        }
    }

    #[test]
    fn exporter_metrics_start_errors_at_zero_for_every_reason() -> Result<(), prometheus::Error> {
        let metrics = ExporterMetrics::new("1.2.3", "abc")?;
        metrics.init_target("111111111111", "us-east-1", Source::SecretsManager);
        metrics.record_error(
            "111111111111",
            "us-east-1",
            Source::SecretsManager,
            ErrorReason::Throttled,
        );
        let mut out = String::new();
        metrics.render(&mut out)?;
        for reason in ErrorReason::ALL {
            let expected = if reason == ErrorReason::Throttled {
                1
            } else {
                0
            };
            let line = format!(
                "secrets_rotation_exporter_errors_total{{account_id=\"111111111111\",region=\"us-east-1\",source=\"secretsmanager\",reason=\"{}\"}} {expected}",
                reason.as_str()
            );
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
        assert!(out.contains(
            "secrets_rotation_exporter_build_info{revision=\"abc\",version=\"1.2.3\"} 1"
        ));
        Ok(())
    }
}
