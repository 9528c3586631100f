//! The checks that hold for a secret whatever rotates it, so an exempt secret
//! is still judged on them: its key, its use, its tags.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use litemap::LiteMap;

use super::format::format_duration;
use super::verdict::{Check, Judge, Verdict};
use super::{elapsed, start_of_day};
use crate::config::{Policy, Thresholds};
use crate::inventory::SecretRecord;

/// The AWS managed key, which every principal with access to the account's
/// Secrets Manager can use: the thing `kms_customer_managed` is about.
const AWS_MANAGED_KEY_ALIAS: &str = "alias/aws/secretsmanager";

pub(super) fn kms_customer_managed(
    judge: Judge,
    record: &SecretRecord,
    policy: &Policy,
    thresholds: &Thresholds,
) -> Option<Verdict> {
    thresholds.require_customer_managed_key.then(|| {
        key_verdict(
            judge,
            Check::KmsCustomerManaged,
            record.kms_key_id.as_deref(),
            AWS_MANAGED_KEY_ALIAS,
            policy,
        )
    })
}

/// Whether `key` (`None`: the service's AWS managed key, `aws_managed`) is
/// a customer managed key the policy allows. The same rule for a secret and
/// an SSM parameter, each with its service's managed key.
pub(super) fn key_verdict<C>(
    judge: Judge,
    check: C,
    key: Option<&str>,
    aws_managed: &str,
    policy: &Policy,
) -> Verdict<C> {
    let Some(key) = key else {
        return judge.verdict(check, false, || {
            format!("encrypted with the AWS managed key {aws_managed}")
        });
    };
    if key_short_form(key) == aws_managed {
        return judge.verdict(check, false, || {
            format!("encrypted with the AWS managed key ({key})")
        });
    }
    if policy.kms_key_arns.is_empty() {
        return judge.verdict(check, true, || {
            format!("encrypted with the customer managed key {key}")
        });
    }
    let allowed = policy
        .kms_key_arns
        .iter()
        .any(|allowed| same_key(key, allowed));
    let reason = || {
        if allowed {
            format!("encrypted with the allowed key {key}")
        } else {
            format!("encrypted with {key}, which is not in kms_key_arns")
        }
    };
    judge.verdict(check, allowed, reason)
}

/// Two references name the same key when they are equal, or when at least one
/// of them is a bare key id or alias (which does not say which account or
/// region) and the key id or alias inside the other matches it. Two ARNs must
/// be equal. An alias and a key id never match each other: telling which key
/// an alias points to takes a KMS call, and this module does no I/O.
fn same_key(left: &str, right: &str) -> bool {
    if left == right {
        return true;
    }
    if is_arn(left) && is_arn(right) {
        return false;
    }
    key_short_form(left) == key_short_form(right)
}

fn is_arn(reference: &str) -> bool {
    reference.starts_with("arn:")
}

/// `arn:...:key/ID` gives `ID`, `arn:...:alias/NAME` gives `alias/NAME`; bare
/// key ids and aliases are already short.
fn key_short_form(reference: &str) -> &str {
    if !is_arn(reference) {
        return reference;
    }
    let resource = reference.splitn(6, ':').nth(5).unwrap_or(reference);
    resource.strip_prefix("key/").unwrap_or(resource)
}

/// AWS records LastAccessedDate as the day only, at 00:00 UTC. The access
/// could have been any time that day, so the secret counts as used until the
/// end of it: otherwise one read at noon would be reported unused up to a day
/// early.
pub(super) fn unused(
    judge: Judge,
    record: &SecretRecord,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Verdict {
    let limit = thresholds.unused_after;
    let check = Check::Unused;
    if let Some(accessed) = record.last_accessed {
        let day = accessed.date_naive();
        let end_of_day = start_of_day(day)
            .checked_add_signed(TimeDelta::days(1))
            .unwrap_or(accessed);
        let idle = elapsed(end_of_day, now);
        let compliant = idle <= limit;
        let reason = || {
            format!(
                "last accessed on {day} (AWS records only the day), so unused for at least {}; policy allows {}",
                format_duration(idle),
                format_duration(limit)
            )
        };
        return judge.measured(check, compliant, reason, idle, limit);
    }
    let Some(created) = record.created else {
        return judge
            .verdict(check, false, || {
                "cannot tell whether it is used: never accessed and no creation date is known"
                    .to_string()
            })
            .with_limit(limit);
    };
    let idle = elapsed(created, now);
    let compliant = idle <= limit;
    let reason = || {
        format!(
            "never accessed since it was created {} ago, policy allows {}",
            format_duration(idle),
            format_duration(limit)
        )
    };
    judge.measured(check, compliant, reason, idle, limit)
}

pub(super) fn required_tags(
    judge: Judge,
    record: &SecretRecord,
    thresholds: &Thresholds,
) -> Verdict {
    tags_verdict(judge, Check::RequiredTags, &record.tags, thresholds)
}

/// Tag keys are compared exactly, as AWS does. A key that is present with an
/// empty value counts as present: the check asks for the key, and a policy
/// that cares about values should use `overrides` with tag matches. Without
/// `required_tags`, a resource must have at least one tag of its own. The
/// same for a secret and a parameter.
pub(super) fn tags_verdict<C>(
    judge: Judge,
    check: C,
    tags: &LiteMap<Arc<str>, Arc<str>>,
    thresholds: &Thresholds,
) -> Verdict<C> {
    if thresholds.required_tags.is_empty() {
        let own_tags = tags.keys().filter(|key| !key.starts_with("aws:")).count();
        return if own_tags > 0 {
            judge.verdict(check, true, || format!("has {own_tags} tag(s) of its own"))
        } else if tags.is_empty() {
            judge.verdict(check, false, || "has no tags".to_string())
        } else {
            judge.verdict(check, false, || {
                "has only tags set by AWS (aws:...), none of its own".to_string()
            })
        };
    }
    let missing: Vec<&str> = thresholds
        .required_tags
        .iter()
        .filter(|key| !tags.contains_key(key.as_str()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        judge.verdict(check, true, || {
            format!(
                "has every required tag ({})",
                thresholds.required_tags.join(", ")
            )
        })
    } else {
        judge.verdict(check, false, || {
            format!("missing required tag(s): {}", missing.join(", "))
        })
    }
}
