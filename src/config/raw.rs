//! The document as written: these structs mirror the YAML, reject unknown
//! keys and check nothing else. Absent keys stay `None` so that defaults live
//! in one place, validation.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

use super::ConfigError;

pub(super) fn parse_raw(yaml: &str) -> Result<RawConfig, ConfigError> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(yaml);
    match serde_path_to_error::deserialize::<_, Option<RawConfig>>(deserializer) {
        Ok(raw) => Ok(raw.unwrap_or_default()),
        Err(err) => Err(yaml_problem(&err)),
    }
}

fn yaml_problem(err: &serde_path_to_error::Error<serde_yaml_ng::Error>) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.inner();
    let mut message = inner.to_string();
    // serde_yaml_ng prefixes its own, coarser path; ours is the precise one.
    if let Some((prefix, rest)) = message.split_once(": ")
        && looks_like_yaml_path(prefix)
    {
        message = rest.to_string();
    }
    let path = if path == "." {
        match inner.location() {
            Some(location) => format!("line {}", location.line()),
            None => "(document)".to_string(),
        }
    } else {
        path
    };
    ConfigError::single(path, message)
}

fn looks_like_yaml_path(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of configuration keys")]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) poll_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) regions: Option<Vec<String>>,
    #[serde(default)]
    pub(super) accounts: Option<Vec<RawAccount>>,
    #[serde(default)]
    pub(super) policy: Option<RawPolicy>,
    #[serde(default)]
    pub(super) cloudtrail: Option<RawCloudTrail>,
    #[serde(default)]
    pub(super) cloudwatch: Option<RawCloudWatch>,
    #[serde(default)]
    pub(super) labels: Option<RawLabels>,
    #[serde(default)]
    pub(super) discovery: Option<RawDiscovery>,
    #[serde(default)]
    pub(super) aws: Option<RawAws>,
    #[serde(default)]
    pub(super) shard: Option<RawShard>,
    #[serde(default)]
    pub(super) sources: Option<RawSources>,
    #[serde(default)]
    pub(super) metrics: Option<RawMetrics>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with include, exclude, verdicts"
)]
pub(super) struct RawMetrics {
    #[serde(default)]
    pub(super) include: Option<Vec<String>>,
    #[serde(default)]
    pub(super) exclude: Option<Vec<String>>,
    #[serde(default)]
    pub(super) verdicts: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with ssm_parameters, rds, vpc_endpoints, lambda"
)]
pub(super) struct RawSources {
    #[serde(default)]
    pub(super) ssm_parameters: Option<RawSsmParametersSource>,
    #[serde(default)]
    pub(super) rds: Option<RawEnabledSource>,
    #[serde(default)]
    pub(super) vpc_endpoints: Option<RawEnabledSource>,
    #[serde(default)]
    pub(super) lambda: Option<RawLambdaSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with enabled, types, path_prefixes, tags"
)]
pub(super) struct RawSsmParametersSource {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) types: Option<Vec<String>>,
    #[serde(default)]
    pub(super) path_prefixes: Option<Vec<String>>,
    #[serde(default)]
    pub(super) tags: Option<bool>,
}

/// A source whose only setting is whether it is read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with enabled")]
pub(super) struct RawEnabledSource {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with include_default_vpcs")]
pub(super) struct RawVpcEndpointPolicy {
    #[serde(default)]
    pub(super) include_default_vpcs: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with refresh_interval")]
pub(super) struct RawLambdaSource {
    #[serde(default)]
    pub(super) refresh_interval: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with index and count")]
pub(super) struct RawShard {
    pub(super) index: RawCount,
    pub(super) count: RawCount,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with id, role_arn, external_id, regions, name"
)]
pub(super) struct RawAccount {
    pub(super) id: String,
    #[serde(default)]
    pub(super) role_arn: Option<String>,
    #[serde(default)]
    pub(super) external_id: Option<String>,
    #[serde(default)]
    pub(super) regions: Option<Vec<String>>,
    #[serde(default)]
    pub(super) name: Option<String>,
}

/// The threshold keys are spelled out here and in `RawOverride` rather than
/// flattened from `RawThresholds`: serde does not support `flatten` together
/// with `deny_unknown_fields`, and the unknown-key message lists the keys in
/// the order written here. Validation moves both into a `RawThresholds`, so
/// a threshold declared in `thresholds!` but missing here does not compile.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of policy keys")]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub(super) max_rotation_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) max_age: Option<RawDuration>,
    #[serde(default)]
    pub(super) overdue_grace: Option<RawDuration>,
    #[serde(default)]
    pub(super) pending_timeout: Option<RawDuration>,
    #[serde(default)]
    pub(super) unused_after: Option<RawDuration>,
    #[serde(default)]
    pub(super) require_customer_managed_key: Option<bool>,
    #[serde(default)]
    pub(super) kms_key_arns: Option<Vec<String>>,
    #[serde(default)]
    pub(super) required_tags: Option<Vec<String>>,
    #[serde(default)]
    pub(super) previous_version_grace: Option<RawDuration>,
    #[serde(default)]
    pub(super) require_parameter_expiration: Option<bool>,
    #[serde(default)]
    pub(super) vpc_endpoint: Option<RawVpcEndpointPolicy>,
    #[serde(default)]
    pub(super) exempt_tag: Option<String>,
    #[serde(default)]
    pub(super) overrides: Option<Vec<RawOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with match and the thresholds to change"
)]
pub(super) struct RawOverride {
    #[serde(rename = "match")]
    pub(super) matcher: RawMatch,
    #[serde(default)]
    pub(super) max_rotation_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) max_age: Option<RawDuration>,
    #[serde(default)]
    pub(super) overdue_grace: Option<RawDuration>,
    #[serde(default)]
    pub(super) pending_timeout: Option<RawDuration>,
    #[serde(default)]
    pub(super) unused_after: Option<RawDuration>,
    #[serde(default)]
    pub(super) require_customer_managed_key: Option<bool>,
    #[serde(default)]
    pub(super) required_tags: Option<Vec<String>>,
    #[serde(default)]
    pub(super) previous_version_grace: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with name, account, region or tags"
)]
pub(super) struct RawMatch {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) account: Option<String>,
    #[serde(default)]
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with enabled, lookback, requests_per_second"
)]
pub(super) struct RawCloudTrail {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) lookback: Option<RawDuration>,
    #[serde(default)]
    pub(super) requests_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with enabled, namespace, region, role_arn, external_id, per_secret_metrics, alarms"
)]
pub(super) struct RawCloudWatch {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) role_arn: Option<String>,
    #[serde(default)]
    pub(super) external_id: Option<String>,
    #[serde(default)]
    pub(super) per_secret_metrics: Option<bool>,
    #[serde(default)]
    pub(super) alarms: Option<RawAlarms>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with manage, prefix, actions, noncompliant_secrets, reconcile_interval"
)]
pub(super) struct RawAlarms {
    #[serde(default)]
    pub(super) manage: Option<bool>,
    #[serde(default)]
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) actions: Option<Vec<String>>,
    #[serde(default)]
    pub(super) noncompliant_secrets: Option<RawCount>,
    #[serde(default)]
    pub(super) reconcile_interval: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with tags, account_tags")]
pub(super) struct RawLabels {
    #[serde(default)]
    pub(super) tags: Option<Vec<String>>,
    #[serde(default)]
    pub(super) account_tags: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with organizations")]
pub(super) struct RawDiscovery {
    #[serde(default)]
    pub(super) organizations: Option<RawOrganizations>,
}

/// `member_role_name` is required but optional here, so that its absence is
/// reported by validation with the other problems, saying what it is for.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with role_arn, external_id, member_role_name, member_external_id, include_ous, exclude_ous, exclude_accounts, refresh_interval, requests_per_second"
)]
pub(super) struct RawOrganizations {
    #[serde(default)]
    pub(super) role_arn: Option<String>,
    #[serde(default)]
    pub(super) external_id: Option<String>,
    #[serde(default)]
    pub(super) member_role_name: Option<String>,
    #[serde(default)]
    pub(super) member_external_id: Option<String>,
    #[serde(default)]
    pub(super) include_ous: Option<Vec<String>>,
    #[serde(default)]
    pub(super) exclude_ous: Option<Vec<String>>,
    #[serde(default)]
    pub(super) exclude_accounts: Option<Vec<String>>,
    #[serde(default)]
    pub(super) refresh_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) requests_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of AWS client settings")]
pub(super) struct RawAws {
    #[serde(default)]
    pub(super) connect_timeout: Option<RawDuration>,
    #[serde(default)]
    pub(super) operation_timeout: Option<RawDuration>,
    #[serde(default)]
    pub(super) target_timeout: Option<RawDuration>,
    #[serde(default)]
    pub(super) max_concurrent_targets: Option<RawCount>,
    #[serde(default)]
    pub(super) max_attempts: Option<RawCount>,
    #[serde(default)]
    pub(super) role_session_name: Option<String>,
}

/// A whole number; its range is checked during validation so that a
/// negative value gets the same message as one that is too large.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawCount(pub(super) i64);

impl<'de> Deserialize<'de> for RawCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = RawCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<RawCount, E> {
                Ok(RawCount(value))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<RawCount, E> {
                Ok(RawCount(i64::try_from(value).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_i64(CountVisitor)
    }
}

/// A duration kept as written; parsed during validation so that every bad
/// duration is reported, not only the first.
#[derive(Debug)]
pub(super) struct RawDuration(pub(super) String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 90s, 5m or 24h")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(value.to_string()))
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}
