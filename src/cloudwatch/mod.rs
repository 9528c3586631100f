//! CloudWatch: after each poll, aggregate compliance is published as
//! CloudWatch metrics; the alarms the config asks for are kept in that state
//! by reconciling what exists (read with `DescribeAlarms`) with what is wanted.
//!
//! CloudWatch bills per metric (each unique name and dimension set), so the
//! default is aggregates per account and region plus fleet totals; one series
//! per secret only when `cloudwatch.per_secret_metrics` asks for it.

mod aggregate;
mod alarms;
mod api;
mod publisher;

pub use aggregate::{Datum, aggregate, batches};
pub use alarms::{
    AlarmDefinition, AlarmsCommandError, ExistingAlarm, Plan, Update, alarm_prefix, alarms_command,
    apply, desired_alarms, plan,
};
pub use api::CloudWatchApi;
pub use publisher::{
    CloudWatchExporter, OPERATIONS, publisher, publishing_region, publishing_target, role_account,
    start,
};

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
/// SSM parameters listed, with `sources.ssm_parameters`.
pub const METRIC_PARAMETERS: &str = "Parameters";
/// Non-compliant SSM parameters, in total and by `Check`.
pub const METRIC_NONCOMPLIANT_PARAMETERS: &str = "NonCompliantParameters";

pub const DIMENSION_ACCOUNT: &str = "AccountId";
pub const DIMENSION_REGION: &str = "Region";
pub const DIMENSION_CHECK: &str = "Check";
pub const DIMENSION_SECRET: &str = "SecretName";
/// On the fleet totals and the alarms of one replica when the fleet is
/// split (`shard`), so that replicas publishing to one account and region
/// neither mix their totals nor manage each other's alarms.
pub const DIMENSION_SHARD: &str = "Shard";
