//! Validation of the sections on how the exporter reaches AWS: `cloudtrail`,
//! `cloudwatch` and `aws`, the settings of the SDK clients.

use std::time::Duration;

use super::aws_names::{is_iam_name_char, role_arn_account};
use super::duration::format_config_duration;
use super::raw::RawSsmParametersSource;
use super::raw::{RawAws, RawCloudTrail, RawCloudWatch, RawCount, RawSources};
use super::validate::{Problems, check_region};
use super::{
    Alarms, AwsClientSettings, CloudTrail, CloudWatch, LambdaSource, Sources, SsmParametersSource,
};
use crate::parameters::{PARAMETER_TYPES, SECURE_STRING};

const DEFAULT_CLOUDTRAIL_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
/// CloudTrail event history keeps 90 days.
const MAX_CLOUDTRAIL_LOOKBACK: Duration = Duration::from_secs(90 * 24 * 3600);
const DEFAULT_CLOUDTRAIL_RPS: f64 = 1.0;
/// The LookupEvents quota: 2 requests per second per account and region.
const MAX_CLOUDTRAIL_RPS: f64 = 2.0;
const DEFAULT_NAMESPACE: &str = "SecretsRotation";
const MAX_NAMESPACE_LEN: usize = 255;
const DEFAULT_ALARM_PREFIX: &str = "secrets-rotation-";
const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(3600);
/// Reconciling reads every managed alarm; more often than this only spends requests.
const MIN_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_MAX_CONCURRENT_TARGETS: i64 = 32;
const MAX_CONCURRENT_TARGETS: i64 = 1024;
const DEFAULT_MAX_ATTEMPTS: i64 = 3;
const MAX_ATTEMPTS: i64 = 10;
const DEFAULT_ROLE_SESSION_NAME: &str = "secrets-rotation-exporter";

/// A rotation Lambda's configuration and policy change seldom; an hour
/// keeps the reads to two requests per function per hour.
const DEFAULT_LAMBDA_REFRESH: Duration = Duration::from_secs(3600);
/// More often than this only spends requests: a broken function is found
/// weeks before the rotation it will break.
const MIN_LAMBDA_REFRESH: Duration = Duration::from_secs(60);

pub(super) fn validate_sources(problems: &mut Problems, raw: RawSources) -> Sources {
    let raw_lambda = raw.lambda.unwrap_or_default();
    let refresh_interval = problems
        .positive_duration(
            "sources.lambda.refresh_interval",
            raw_lambda.refresh_interval.as_ref(),
        )
        .unwrap_or(DEFAULT_LAMBDA_REFRESH);
    if refresh_interval < MIN_LAMBDA_REFRESH {
        problems.add(
            "sources.lambda.refresh_interval",
            format!(
                "must be at least 1m (got {})",
                format_config_duration(refresh_interval)
            ),
        );
    }
    Sources {
        ssm_parameters: validate_ssm_parameters(problems, raw.ssm_parameters.unwrap_or_default()),
        rds: raw.rds.and_then(|rds| rds.enabled).unwrap_or(false),
        vpc_endpoints: raw
            .vpc_endpoints
            .and_then(|vpc_endpoints| vpc_endpoints.enabled)
            .unwrap_or(false),
        lambda: LambdaSource { refresh_interval },
    }
}

/// The longest parameter name SSM allows, and so the longest path.
const MAX_PARAMETER_NAME_BYTES: usize = 2_048;
/// Each prefix is a listing of its own; more than this is a mistake.
const MAX_PATH_PREFIXES: usize = 100;

fn validate_ssm_parameters(
    problems: &mut Problems,
    raw: RawSsmParametersSource,
) -> SsmParametersSource {
    const PATH: &str = "sources.ssm_parameters";
    let types = match raw.types {
        None => vec![SECURE_STRING.to_owned()],
        Some(types) => {
            if types.is_empty() {
                problems.add(
                    format!("{PATH}.types"),
                    "must not be empty (leave it out to list SecureString parameters)",
                );
            }
            for (index, kind) in types.iter().enumerate() {
                if !PARAMETER_TYPES.contains(&kind.as_str()) {
                    problems.add(
                        format!("{PATH}.types[{index}]"),
                        format!(
                            "must be one of {} (got {kind:?})",
                            PARAMETER_TYPES.join(", ")
                        ),
                    );
                } else if types
                    .get(..index)
                    .is_some_and(|before| before.contains(kind))
                {
                    problems.add(
                        format!("{PATH}.types[{index}]"),
                        format!("{kind} is listed twice"),
                    );
                }
            }
            types
        }
    };
    let raw_prefixes = raw.path_prefixes.unwrap_or_default();
    if raw_prefixes.len() > MAX_PATH_PREFIXES {
        problems.add(
            format!("{PATH}.path_prefixes"),
            format!(
                "must list at most {MAX_PATH_PREFIXES} prefixes (got {})",
                raw_prefixes.len()
            ),
        );
    }
    let mut path_prefixes: Vec<String> = Vec::with_capacity(raw_prefixes.len());
    for (index, prefix) in raw_prefixes.iter().enumerate() {
        let at = format!("{PATH}.path_prefixes[{index}]");
        if !prefix.starts_with('/') {
            problems.add(at, format!("must start with / (got {prefix:?})"));
            continue;
        }
        if prefix.len() > MAX_PARAMETER_NAME_BYTES {
            problems.add(
                at,
                format!("must be at most {MAX_PARAMETER_NAME_BYTES} bytes"),
            );
            continue;
        }
        if prefix.contains("//") {
            problems.add(at, format!("must not contain // (got {prefix:?})"));
            continue;
        }
        // `/prod/` and `/prod` name the same hierarchy to the Path filter.
        let normalised = match prefix.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed.to_owned(),
            _ => prefix.clone(),
        };
        if path_prefixes.contains(&normalised) {
            problems.add(at, format!("{prefix} is listed twice"));
            continue;
        }
        path_prefixes.push(normalised);
    }
    SsmParametersSource {
        enabled: raw.enabled.unwrap_or(false),
        types,
        path_prefixes,
        tags: raw.tags.unwrap_or(false),
    }
}

pub(super) fn validate_cloudtrail(problems: &mut Problems, raw: RawCloudTrail) -> CloudTrail {
    let lookback = problems
        .positive_duration("cloudtrail.lookback", raw.lookback.as_ref())
        .unwrap_or(DEFAULT_CLOUDTRAIL_LOOKBACK);
    if lookback > MAX_CLOUDTRAIL_LOOKBACK {
        problems.add(
            "cloudtrail.lookback",
            format!(
                "must be at most 90d, the event history CloudTrail keeps (got {})",
                format_config_duration(lookback)
            ),
        );
    }
    let requests_per_second = raw.requests_per_second.unwrap_or(DEFAULT_CLOUDTRAIL_RPS);
    if !(requests_per_second > 0.0 && requests_per_second <= MAX_CLOUDTRAIL_RPS) {
        problems.add(
            "cloudtrail.requests_per_second",
            format!(
                "must be greater than 0 and at most 2, the LookupEvents quota per account and region (got {requests_per_second})"
            ),
        );
    }
    CloudTrail {
        enabled: raw.enabled.unwrap_or(true),
        lookback,
        requests_per_second,
    }
}

pub(super) fn validate_cloudwatch(problems: &mut Problems, raw: RawCloudWatch) -> CloudWatch {
    let namespace = raw
        .namespace
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    if namespace.trim().is_empty() {
        problems.add("cloudwatch.namespace", "must not be empty");
    } else if namespace.chars().count() > MAX_NAMESPACE_LEN {
        problems.add(
            "cloudwatch.namespace",
            format!("must be at most {MAX_NAMESPACE_LEN} characters"),
        );
    } else if namespace.starts_with("AWS/") {
        problems.add(
            "cloudwatch.namespace",
            "must not start with \"AWS/\", which is reserved for AWS services",
        );
    }

    let raw_alarms = raw.alarms.unwrap_or_default();
    let prefix = raw_alarms
        .prefix
        .unwrap_or_else(|| DEFAULT_ALARM_PREFIX.to_string());
    if prefix.trim().is_empty() {
        problems.add(
            "cloudwatch.alarms.prefix",
            "must not be empty: it marks the alarms this exporter owns",
        );
    }
    let actions = raw_alarms.actions.unwrap_or_default();
    for (index, action) in actions.iter().enumerate() {
        if !action.starts_with("arn:") {
            problems.add(
                format!("cloudwatch.alarms.actions[{index}]"),
                format!("must be an ARN starting with \"arn:\" (got {action:?})"),
            );
        }
    }

    if let Some(region) = &raw.region {
        check_region(problems, "cloudwatch.region", region);
    }
    if let Some(role_arn) = &raw.role_arn
        && let Err(message) = role_arn_account(role_arn)
    {
        problems.add("cloudwatch.role_arn", message);
    }
    if raw.external_id.is_some() && raw.role_arn.is_none() {
        problems.add(
            "cloudwatch.external_id",
            "is only used when assuming role_arn, which is not set",
        );
    }
    let noncompliant_secrets = match raw_alarms.noncompliant_secrets {
        None => None,
        Some(RawCount(count)) if count >= 1 => u64::try_from(count).ok(),
        Some(RawCount(count)) => {
            problems.add(
                "cloudwatch.alarms.noncompliant_secrets",
                format!("must be at least 1 (got {count})"),
            );
            None
        }
    };
    let reconcile_interval = problems
        .positive_duration(
            "cloudwatch.alarms.reconcile_interval",
            raw_alarms.reconcile_interval.as_ref(),
        )
        .unwrap_or(DEFAULT_RECONCILE_INTERVAL);
    if reconcile_interval < MIN_RECONCILE_INTERVAL {
        problems.add(
            "cloudwatch.alarms.reconcile_interval",
            format!(
                "must be at least {} (got {})",
                format_config_duration(MIN_RECONCILE_INTERVAL),
                format_config_duration(reconcile_interval)
            ),
        );
    }

    CloudWatch {
        enabled: raw.enabled.unwrap_or(false),
        namespace,
        region: raw.region,
        role_arn: raw.role_arn,
        external_id: raw.external_id,
        per_secret_metrics: raw.per_secret_metrics.unwrap_or(false),
        alarms: Alarms {
            manage: raw_alarms.manage.unwrap_or(false),
            prefix,
            actions,
            noncompliant_secrets,
            reconcile_interval,
        },
    }
}

pub(super) fn validate_aws(
    problems: &mut Problems,
    raw: RawAws,
    poll_interval: Duration,
) -> AwsClientSettings {
    let connect_timeout = problems
        .positive_duration("aws.connect_timeout", raw.connect_timeout.as_ref())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let operation_timeout = problems
        .positive_duration("aws.operation_timeout", raw.operation_timeout.as_ref())
        .unwrap_or(DEFAULT_OPERATION_TIMEOUT);
    // A poll that may last a whole interval collides with the next tick,
    // which is then skipped: the deadline must leave part of the interval
    // free. Left unset, it shrinks with a short poll interval rather than
    // failing on a key the user never wrote.
    let target_timeout =
        match problems.positive_duration("aws.target_timeout", raw.target_timeout.as_ref()) {
            Some(timeout) => {
                if timeout >= poll_interval {
                    problems.add(
                        "aws.target_timeout",
                        format!(
                            "must be shorter than poll_interval, {} (got {})",
                            format_config_duration(poll_interval),
                            format_config_duration(timeout)
                        ),
                    );
                }
                timeout
            }
            // Four fifths; dividing first cannot overflow on a huge interval.
            None => DEFAULT_TARGET_TIMEOUT.min(poll_interval / 5 * 4),
        };

    let max_concurrent_targets = raw
        .max_concurrent_targets
        .map_or(DEFAULT_MAX_CONCURRENT_TARGETS, |count| count.0);
    if !(1..=MAX_CONCURRENT_TARGETS).contains(&max_concurrent_targets) {
        problems.add(
            "aws.max_concurrent_targets",
            format!(
                "must be between 1 and {MAX_CONCURRENT_TARGETS} (got {max_concurrent_targets})"
            ),
        );
    }
    let max_attempts = raw
        .max_attempts
        .map_or(DEFAULT_MAX_ATTEMPTS, |count| count.0);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        problems.add(
            "aws.max_attempts",
            format!("must be between 1 and {MAX_ATTEMPTS} (got {max_attempts})"),
        );
    }

    let role_session_name = raw
        .role_session_name
        .unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_string());
    let length = role_session_name.chars().count();
    if !(2..=64).contains(&length) || !role_session_name.chars().all(is_iam_name_char) {
        problems.add(
            "aws.role_session_name",
            "must be 2 to 64 characters of letters, digits and _+=,.@-",
        );
    }

    AwsClientSettings {
        connect_timeout,
        operation_timeout,
        target_timeout,
        max_concurrent_targets: usize::try_from(max_concurrent_targets).unwrap_or(1).max(1),
        max_attempts: u32::try_from(max_attempts).unwrap_or(1).max(1),
        role_session_name,
    }
}
