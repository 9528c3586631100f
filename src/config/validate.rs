//! Validation: the raw document becomes the typed `Config`, and every problem
//! found on the way is collected rather than only the first.

use std::collections::BTreeMap;
use std::time::Duration;

use super::aws_names::{is_account_id, is_external_id, is_region, role_arn_account};
use super::discovery::validate_discovery;
use super::duration::{format_config_duration, parse_duration};
use super::metrics::validate_metrics;
use super::policy::validate_policy;
use super::raw::{RawAccount, RawConfig, RawDuration, RawLabels, RawShard};
use super::services::{validate_aws, validate_cloudtrail, validate_cloudwatch, validate_sources};
use super::{Account, Config, ConfigError, Labels, Problem, Shard};
use crate::metrics::tag_label_name;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Every problem found so far, in document order.
#[derive(Default)]
pub(super) struct Problems(Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Parses an optional duration, reporting a bad one and falling back to
    /// `default` so validation can go on.
    pub(super) fn duration(
        &mut self,
        path: &str,
        raw: Option<&RawDuration>,
        default: Duration,
    ) -> Duration {
        self.optional_duration(path, raw).unwrap_or(default)
    }

    fn optional_duration(&mut self, path: &str, raw: Option<&RawDuration>) -> Option<Duration> {
        let raw = raw?;
        match parse_duration(&raw.0) {
            Ok(duration) => Some(duration),
            Err(message) => {
                self.add(path, message);
                None
            }
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        path: &str,
        raw: Option<&RawDuration>,
    ) -> Option<Duration> {
        let duration = self.optional_duration(path, raw)?;
        if duration.is_zero() {
            self.add(path, "must be greater than 0");
        }
        Some(duration)
    }
}

pub(super) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();

    let poll_interval = problems.duration(
        "poll_interval",
        raw.poll_interval.as_ref(),
        DEFAULT_POLL_INTERVAL,
    );
    if poll_interval < MIN_POLL_INTERVAL {
        problems.add(
            "poll_interval",
            format!(
                "must be at least {} (got {})",
                format_config_duration(MIN_POLL_INTERVAL),
                format_config_duration(poll_interval)
            ),
        );
    }

    let regions = raw.regions.unwrap_or_default();
    check_regions(&mut problems, "regions", &regions);

    // Known before the sections it changes are read: discovered accounts
    // need the top-level regions, and account tags come from Organizations.
    let discovering = raw
        .discovery
        .as_ref()
        .is_some_and(|discovery| discovery.organizations.is_some());

    let raw_accounts = raw.accounts.unwrap_or_default();
    let accounts = validate_accounts(&mut problems, raw_accounts, &regions, discovering);

    let policy = validate_policy(&mut problems, raw.policy.unwrap_or_default());
    let cloudtrail = validate_cloudtrail(&mut problems, raw.cloudtrail.unwrap_or_default());
    let cloudwatch = validate_cloudwatch(&mut problems, raw.cloudwatch.unwrap_or_default());
    let labels = validate_labels(&mut problems, raw.labels.unwrap_or_default(), discovering);
    let discovery = validate_discovery(&mut problems, raw.discovery, &accounts);
    let aws = validate_aws(&mut problems, raw.aws.unwrap_or_default(), poll_interval);
    let shard = raw
        .shard
        .map_or_else(Shard::default, |raw| validate_shard(&mut problems, &raw));
    let sources = validate_sources(&mut problems, raw.sources.unwrap_or_default());
    let metrics = validate_metrics(&mut problems, raw.metrics.unwrap_or_default());

    if !problems.0.is_empty() {
        return Err(ConfigError {
            problems: problems.0,
        });
    }
    Ok(Config {
        poll_interval,
        regions,
        accounts,
        policy,
        cloudtrail,
        cloudwatch,
        labels,
        aws,
        shard,
        discovery,
        sources,
        metrics,
    })
}

fn validate_shard(problems: &mut Problems, raw: &RawShard) -> Shard {
    let count = match u32::try_from(raw.count.0) {
        Ok(count) if count >= 1 => count,
        _ => {
            problems.add(
                "shard.count",
                format!("must be at least 1 (got {})", raw.count.0),
            );
            return Shard::default();
        }
    };
    match u32::try_from(raw.index.0) {
        Ok(index) if index < count => Shard { index, count },
        _ => {
            problems.add(
                "shard.index",
                format!(
                    "must be from 0 to {} (count - 1) (got {})",
                    count - 1,
                    raw.index.0
                ),
            );
            Shard::default()
        }
    }
}

fn validate_accounts(
    problems: &mut Problems,
    raw_accounts: Vec<RawAccount>,
    default_regions: &[String],
    discovering: bool,
) -> Vec<Account> {
    let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut without_regions = Vec::new();
    let mut accounts = Vec::with_capacity(raw_accounts.len());
    for (index, raw) in raw_accounts.into_iter().enumerate() {
        let path = format!("accounts[{index}]");
        let id_valid = is_account_id(&raw.id);
        if !id_valid {
            problems.add(
                format!("{path}.id"),
                format!("must be exactly 12 digits (got {:?})", raw.id),
            );
        } else if let Some(first) = seen_ids.get(&raw.id) {
            problems.add(
                format!("{path}.id"),
                format!("duplicate account {} (also accounts[{first}])", raw.id),
            );
        } else {
            seen_ids.insert(raw.id.clone(), index);
        }

        if let Some(role_arn) = &raw.role_arn {
            let role_arn_path = format!("{path}.role_arn");
            match check_role_arn(problems, &role_arn_path, role_arn) {
                Some(arn_account) if id_valid && arn_account != raw.id => problems.add(
                    role_arn_path,
                    format!(
                        "account {arn_account} in the ARN does not match id {}",
                        raw.id
                    ),
                ),
                _ => {}
            }
        }

        check_role_external_id(
            problems,
            &format!("{path}.external_id"),
            raw.external_id.as_deref(),
            raw.role_arn.is_some(),
        );

        if raw.name.as_ref().is_some_and(|name| name.trim().is_empty()) {
            problems.add(format!("{path}.name"), "must not be empty when given");
        }

        let regions = match raw.regions {
            Some(own) => {
                let regions_path = format!("{path}.regions");
                if own.is_empty() {
                    problems.add(&regions_path, "must not be empty");
                }
                check_regions(problems, &regions_path, &own);
                own
            }
            None => {
                if default_regions.is_empty() {
                    without_regions.push(path);
                }
                default_regions.to_vec()
            }
        };

        accounts.push(Account {
            id: raw.id,
            role_arn: raw.role_arn,
            external_id: raw.external_id,
            regions,
            name: raw.name,
        });
    }

    // Every reason the top-level list is needed goes into one problem, so
    // that a file with several of them gets one line to fix, not several.
    if default_regions.is_empty() {
        let mut reasons = Vec::new();
        if discovering {
            reasons.push(
                "accounts discovered in AWS Organizations are polled in these regions".to_string(),
            );
        } else if accounts.is_empty() {
            reasons.push(
                "with no accounts listed, the account of the base credentials is polled in these regions"
                    .to_string(),
            );
        }
        if !without_regions.is_empty() {
            reasons.push(format!(
                "{} {}",
                without_regions.join(", "),
                if without_regions.len() == 1 {
                    "has no regions of its own"
                } else {
                    "have no regions of their own"
                }
            ));
        }
        if !reasons.is_empty() {
            problems.add(
                "regions",
                format!("must not be empty: {}", reasons.join("; ")),
            );
        }
    }
    accounts
}

/// Reports a role ARN that is not one; gives its account when it is.
pub(super) fn check_role_arn<'a>(
    problems: &mut Problems,
    path: &str,
    role_arn: &'a str,
) -> Option<&'a str> {
    match role_arn_account(role_arn) {
        Ok(account) => Some(account),
        Err(message) => {
            problems.add(path, message);
            None
        }
    }
}

/// An external id is only ever sent with `AssumeRole` of the `role_arn`
/// beside it: without one it would be silently ignored.
pub(super) fn check_role_external_id(
    problems: &mut Problems,
    path: &str,
    external_id: Option<&str>,
    role_arn_set: bool,
) {
    let Some(external_id) = external_id else {
        return;
    };
    if !role_arn_set {
        problems.add(
            path,
            "is only used when assuming role_arn, which is not set",
        );
    }
    check_external_id(problems, path, external_id);
}

/// What `AssumeRole` accepts as `ExternalId`, reported here rather than as
/// an `AccessDenied`-like failure of every target at run time.
pub(super) fn check_external_id(problems: &mut Problems, path: &str, external_id: &str) {
    if !is_external_id(external_id) {
        problems.add(
            path,
            "must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
        );
    }
}

fn validate_labels(problems: &mut Problems, raw: RawLabels, discovering: bool) -> Labels {
    let tags = raw.tags.unwrap_or_default();
    check_label_tag_keys(problems, "labels.tags", &tags);
    let account_tags = raw.account_tags.unwrap_or_default();
    if !account_tags.is_empty() && !discovering {
        problems.add(
            "labels.account_tags",
            "account tags are read from AWS Organizations, so they need discovery.organizations, which is not set",
        );
    }
    check_label_tag_keys(problems, "labels.account_tags", &account_tags);
    Labels { tags, account_tags }
}

pub(super) fn check_regions(problems: &mut Problems, path: &str, regions: &[String]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, region) in regions.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if let Some(first) = seen.get(region.as_str()) {
            problems.add(
                item_path,
                format!("duplicate region {region} (also {path}[{first}])"),
            );
            continue;
        }
        seen.insert(region, index);
        check_region(problems, &item_path, region);
    }
}

pub(super) fn check_region(problems: &mut Problems, path: &str, region: &str) {
    if !is_region(region) {
        problems.add(
            path,
            format!("{region:?} does not look like an AWS region (e.g. us-east-1, eu-central-2)"),
        );
    }
}

/// Tag keys that are only looked up: non-empty and unique.
pub(super) fn check_tag_keys(problems: &mut Problems, path: &str, keys: &[String]) {
    check_keys(problems, path, keys, None);
}

/// Tag keys copied onto a series as `tag_<key>` labels: also no two keys
/// may become the same label, because one series cannot carry a label twice.
fn check_label_tag_keys(problems: &mut Problems, path: &str, keys: &[String]) {
    check_keys(problems, path, keys, Some(tag_label_name));
}

/// One pass, so that each entry's problems come in the order of the list.
fn check_keys(
    problems: &mut Problems,
    path: &str,
    keys: &[String],
    label_of: Option<fn(&str) -> String>,
) {
    let mut seen_keys: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_labels: BTreeMap<String, usize> = BTreeMap::new();
    for (index, key) in keys.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if key.is_empty() {
            problems.add(item_path, "must not be empty");
            continue;
        }
        if let Some(first) = seen_keys.get(key.as_str()) {
            problems.add(
                item_path,
                format!("duplicate tag key {key:?} (also {path}[{first}])"),
            );
            continue;
        }
        seen_keys.insert(key, index);
        let Some(label_of) = label_of else {
            continue;
        };
        let label = label_of(key);
        if let Some(first) = seen_labels.get(&label) {
            problems.add(
                item_path,
                format!(
                    "tag key {key:?} becomes label {label}, as does {:?} ({path}[{first}])",
                    keys[*first]
                ),
            );
            continue;
        }
        seen_labels.insert(label, index);
    }
}
