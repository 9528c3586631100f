//! Validation of the `policy` section and its overrides.

use super::aws_names::is_account_id;
use super::raw::{RawMatch, RawOverride, RawPolicy};
use super::thresholds::RawThresholds;
use super::validate::{Problems, check_region};
use super::{Override, OverrideMatch, Policy};

const DEFAULT_EXEMPT_TAG: &str = "rotation-exempt";

pub(super) fn validate_policy(problems: &mut Problems, raw: RawPolicy) -> Policy {
    let RawPolicy {
        max_rotation_interval,
        max_age,
        overdue_grace,
        pending_timeout,
        unused_after,
        require_customer_managed_key,
        kms_key_arns,
        required_tags,
        previous_version_grace,
        require_parameter_expiration,
        vpc_endpoint,
        exempt_tag,
        overrides,
    } = raw;
    let defaults = RawThresholds {
        max_rotation_interval,
        max_age,
        overdue_grace,
        pending_timeout,
        unused_after,
        require_customer_managed_key,
        required_tags,
        previous_version_grace,
    }
    .validate(problems, "policy")
    .or_defaults();

    let kms_key_arns = kms_key_arns.unwrap_or_default();
    for (index, key) in kms_key_arns.iter().enumerate() {
        if key.trim().is_empty() {
            problems.add(format!("policy.kms_key_arns[{index}]"), "must not be empty");
        }
    }

    let exempt_tag = exempt_tag.unwrap_or_else(|| DEFAULT_EXEMPT_TAG.to_string());
    if exempt_tag.trim().is_empty() {
        problems.add("policy.exempt_tag", "must not be empty");
    }

    let overrides = overrides
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, raw)| validate_override(problems, &format!("policy.overrides[{index}]"), raw))
        .collect();

    Policy {
        defaults,
        kms_key_arns,
        require_parameter_expiration: require_parameter_expiration.unwrap_or(false),
        include_default_vpcs: vpc_endpoint
            .and_then(|vpc_endpoint| vpc_endpoint.include_default_vpcs)
            .unwrap_or(false),
        exempt_tag,
        overrides,
    }
}

fn validate_override(problems: &mut Problems, path: &str, raw: RawOverride) -> Override {
    let RawOverride {
        matcher,
        max_rotation_interval,
        max_age,
        overdue_grace,
        pending_timeout,
        unused_after,
        require_customer_managed_key,
        required_tags,
        previous_version_grace,
    } = raw;
    let matcher = validate_match(problems, &format!("{path}.match"), matcher);
    let thresholds = RawThresholds {
        max_rotation_interval,
        max_age,
        overdue_grace,
        pending_timeout,
        unused_after,
        require_customer_managed_key,
        required_tags,
        previous_version_grace,
    }
    .validate(problems, path);
    Override {
        matcher,
        thresholds,
    }
}

fn validate_match(problems: &mut Problems, match_path: &str, raw: RawMatch) -> OverrideMatch {
    let RawMatch {
        name,
        account,
        region,
        tags,
    } = raw;
    let tags = tags.unwrap_or_default();
    if name.is_none() && account.is_none() && region.is_none() && tags.is_empty() {
        problems.add(
            match_path,
            "must give at least one of name, account, region, tags",
        );
    }

    let name_glob = name.as_ref().and_then(|pattern| {
        let name_path = format!("{match_path}.name");
        if pattern.is_empty() {
            problems.add(name_path, "must not be empty");
            return None;
        }
        match globset::Glob::new(pattern) {
            Ok(glob) => Some(glob.compile_matcher()),
            Err(err) => {
                problems.add(
                    name_path,
                    format!("invalid glob {pattern:?}: {}", err.kind()),
                );
                None
            }
        }
    });
    if let Some(account) = &account
        && !is_account_id(account)
    {
        problems.add(
            format!("{match_path}.account"),
            format!("must be exactly 12 digits (got {account:?})"),
        );
    }
    if let Some(region) = &region {
        check_region(problems, &format!("{match_path}.region"), region);
    }
    for key in tags.keys() {
        if key.is_empty() {
            problems.add(format!("{match_path}.tags"), "tag keys must not be empty");
        }
    }

    OverrideMatch {
        name,
        name_glob,
        account,
        region,
        tags,
    }
}
