//! The one place for the names, HELP texts and types of every family, and
//! for the label names derived from configuration, so that `/metrics`,
//! config validation and the tests cannot disagree about them.

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

pub const ACCOUNT_INFO: MetricFamily = gauge(
    "aws_account_info",
    "Attributes of an AWS account the exporter polls: its name, where Organizations places it and the account tags chosen by labels.account_tags; always 1.",
);
pub const SECRET_INFO: MetricFamily = gauge(
    "aws_secretsmanager_secret_info",
    "Attributes of a Secrets Manager secret, with rotation_type saying who rotates it (lambda, service, external or none); always 1.",
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
pub const SECRET_PREVIOUS_VERSION_LAST_ACCESSED: MetricFamily = gauge(
    "aws_secretsmanager_secret_previous_version_last_accessed_timestamp_seconds",
    "When the AWSPREVIOUS version, the value the last rotation replaced, was last read (LastAccessedDate, day precision), as a Unix timestamp.",
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
pub const SSM_PARAMETER_INFO: MetricFamily = gauge(
    "aws_ssm_parameter_info",
    "Attributes of an SSM Parameter Store parameter: its type, tier and KMS key (empty unless a SecureString); always 1.",
);
pub const SSM_PARAMETER_LAST_MODIFIED: MetricFamily = gauge(
    "aws_ssm_parameter_last_modified_timestamp_seconds",
    "When the parameter's value was last written (LastModifiedDate), as a Unix timestamp.",
);
pub const SSM_PARAMETER_COMPLIANT: MetricFamily = gauge(
    "aws_ssm_parameter_compliant",
    "Whether the parameter passes the compliance check (1) or not (0); one series per applicable check.",
);
pub const SSM_PARAMETERS: MetricFamily = gauge(
    "aws_ssm_parameters",
    "Number of SSM parameters the exporter lists in the account and region (the types and paths of sources.ssm_parameters).",
);
pub const SSM_NONCOMPLIANT_PARAMETERS: MetricFamily = gauge(
    "aws_ssm_noncompliant_parameters",
    "Number of SSM parameters in the account and region that fail the compliance check; no series while the check could not be judged for one of them.",
);
pub const RDS_DATABASE_INFO: MetricFamily = gauge(
    "aws_rds_database_info",
    "An RDS DB instance outside any cluster, or a DB cluster (which stands for its members), with its engine; always 1.",
);
pub const RDS_DATABASE_COMPLIANT: MetricFamily = gauge(
    "aws_rds_database_compliant",
    "Whether the database passes the compliance check (1) or not (0): master_password_managed is 0 when RDS does not keep the master password in Secrets Manager. No series where the check does not apply.",
);
pub const VPC_INFO: MetricFamily = gauge(
    "aws_vpc_info",
    "A VPC the account owns, and whether it is the region's default VPC; always 1.",
);
pub const VPC_COMPLIANT: MetricFamily = gauge(
    "aws_vpc_compliant",
    "Whether the VPC passes the compliance check (1) or not (0): secretsmanager_endpoint is 0 without an available Secrets Manager interface endpoint with private DNS. No series for default VPCs (unless included) or exempt ones.",
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
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: MetricFamily = gauge(
    "secrets_rotation_exporter_config_last_reload_successful",
    "Whether the last configuration (re)load succeeded: 1, or 0 while the previous configuration still runs.",
);
pub const CONFIG_LAST_RELOAD_SUCCESS: MetricFamily = gauge(
    "secrets_rotation_exporter_config_last_reload_success_timestamp_seconds",
    "When the configuration was last loaded successfully, as a Unix timestamp.",
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
pub const ALL_FAMILIES: [MetricFamily; 41] = [
    ACCOUNT_INFO,
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
    SECRET_PREVIOUS_VERSION_LAST_ACCESSED,
    SECRET_ROTATION_LAST_EVENT,
    SECRET_EXEMPT,
    SECRET_COMPLIANT,
    SECRETS,
    NONCOMPLIANT_SECRETS,
    UNEVALUATED_SECRETS,
    ROTATION_EVENTS_TOTAL,
    SSM_PARAMETER_INFO,
    SSM_PARAMETER_LAST_MODIFIED,
    SSM_PARAMETER_COMPLIANT,
    SSM_PARAMETERS,
    SSM_NONCOMPLIANT_PARAMETERS,
    RDS_DATABASE_INFO,
    RDS_DATABASE_COMPLIANT,
    VPC_INFO,
    VPC_COMPLIANT,
    TARGET_UP,
    TARGET_LAST_SUCCESS,
    TARGET_POLL_DURATION,
    LAST_POLL,
    BUILD_INFO,
    ERRORS_TOTAL,
    AWS_REQUESTS_TOTAL,
    POLLS_SKIPPED_TOTAL,
    POLL_DURATION,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_LAST_RELOAD_SUCCESS,
];

/// The Prometheus label name a tag key is copied to on
/// `aws_secretsmanager_secret_info`: `tag_` and the key with every character
/// outside `[a-zA-Z0-9_]` replaced by `_`. Config validation names its label
/// with it too, to reject two tag keys that would become one label.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_become_valid_label_names() {
        assert_eq!(tag_label_name("team"), "tag_team");
        assert_eq!(tag_label_name("cost-center:é.x"), "tag_cost_center___x");
        assert_eq!(tag_label_name("9lives"), "tag_9lives");
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
}
