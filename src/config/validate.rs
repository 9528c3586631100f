//! Validation: the raw document becomes the typed `Config`, and every problem
//! found on the way is collected rather than only the first.

use std::collections::BTreeMap;
use std::time::Duration;

use super::aws_names::{is_account_id, is_iam_name_char, is_region, role_arn_account};
use super::duration::{format_config_duration, parse_duration};
use super::policy::validate_policy;
use super::raw::{RawAccount, RawConfig, RawDuration, RawLabels, RawShard};
use super::services::{validate_aws, validate_cloudtrail, validate_cloudwatch};
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
    fn duration(&mut self, path: &str, raw: Option<&RawDuration>, default: Duration) -> Duration {
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

    let raw_accounts = raw.accounts.unwrap_or_default();
    let accounts = validate_accounts(&mut problems, raw_accounts, &regions);

    let policy = validate_policy(&mut problems, raw.policy.unwrap_or_default());
    let cloudtrail = validate_cloudtrail(&mut problems, raw.cloudtrail.unwrap_or_default());
    let cloudwatch = validate_cloudwatch(&mut problems, raw.cloudwatch.unwrap_or_default());
    let labels = validate_labels(&mut problems, raw.labels.unwrap_or_default());
    let aws = validate_aws(&mut problems, raw.aws.unwrap_or_default(), poll_interval);
    let shard = raw
        .shard
        .map_or_else(Shard::default, |raw| validate_shard(&mut problems, &raw));

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
        discovery: super::Discovery::default(),
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
            match role_arn_account(role_arn) {
                Err(message) => problems.add(format!("{path}.role_arn"), message),
                Ok(arn_account) if id_valid && arn_account != raw.id => problems.add(
                    format!("{path}.role_arn"),
                    format!(
                        "account {arn_account} in the ARN does not match id {}",
                        raw.id
                    ),
                ),
                Ok(_) => {}
            }
        }

        if let Some(external_id) = &raw.external_id {
            if raw.role_arn.is_none() {
                problems.add(
                    format!("{path}.external_id"),
                    "is only used when assuming role_arn, which is not set",
                );
            }
            let length = external_id.chars().count();
            if !(2..=1224).contains(&length)
                || !external_id
                    .chars()
                    .all(|c| is_iam_name_char(c) || matches!(c, ':' | '/'))
            {
                problems.add(
                    format!("{path}.external_id"),
                    "must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
                );
            }
        }

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

    if accounts.is_empty() && default_regions.is_empty() {
        problems.add(
            "regions",
            "must not be empty: with no accounts listed, the account of the base credentials is polled in these regions",
        );
    } else if !without_regions.is_empty() {
        problems.add(
            "regions",
            format!(
                "must not be empty: {} {}",
                without_regions.join(", "),
                if without_regions.len() == 1 {
                    "has no regions of its own"
                } else {
                    "have no regions of their own"
                }
            ),
        );
    }
    accounts
}
fn validate_labels(problems: &mut Problems, raw: RawLabels) -> Labels {
    let tags = raw.tags.unwrap_or_default();
    let mut seen_keys: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_labels: BTreeMap<String, usize> = BTreeMap::new();
    for (index, key) in tags.iter().enumerate() {
        let path = format!("labels.tags[{index}]");
        if key.is_empty() {
            problems.add(path, "must not be empty");
            continue;
        }
        if let Some(first) = seen_keys.get(key.as_str()) {
            problems.add(
                path,
                format!("duplicate tag key {key:?} (also labels.tags[{first}])"),
            );
            continue;
        }
        seen_keys.insert(key, index);
        let label = tag_label_name(key);
        if let Some(first) = seen_labels.get(&label) {
            problems.add(
                path,
                format!(
                    "tag key {key:?} becomes label {label}, as does {:?} (labels.tags[{first}])",
                    tags[*first]
                ),
            );
            continue;
        }
        seen_labels.insert(label, index);
    }
    Labels {
        tags,
        account_tags: Vec::new(),
    }
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

pub(super) fn check_tag_keys(problems: &mut Problems, path: &str, keys: &[String]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, key) in keys.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if key.is_empty() {
            problems.add(item_path, "must not be empty");
        } else if let Some(first) = seen.get(key.as_str()) {
            problems.add(
                item_path,
                format!("duplicate tag key {key:?} (also {path}[{first}])"),
            );
        } else {
            seen.insert(key, index);
        }
    }
}
