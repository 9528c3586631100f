//! The checks of an SSM parameter. A parameter never rotates by itself
//! ("Rotation: Manual"), so what is judged is how long its value has gone
//! unchanged, the key it is encrypted with, whether it is set to expire,
//! and its tags.

use chrono::{DateTime, Utc};

use super::elapsed;
use super::format::format_duration;
use super::hygiene::{key_verdict, tags_verdict};
use super::overrides::thresholds_for_parameter;
use super::verdict::{Judge, ParameterCheck, ParameterEvaluation, UnknownVerdict, Verdict};
use crate::config::{Policy, Thresholds};
use crate::inventory::Unknown;
use crate::parameters::{AWS_MANAGED_SSM_KEY, ParameterExpiration, ParameterRecord};
use crate::snapshot::ErrorReason;

type Judged = Result<Verdict<ParameterCheck>, UnknownVerdict<ParameterCheck>>;

const DESCRIBE_PARAMETERS: &str = "ssm:DescribeParameters";
const LIST_TAGS: &str = "ssm:ListTagsForResource";

/// Judges one parameter at `now`.
pub(super) fn judge_parameter(
    judge: Judge,
    record: &ParameterRecord,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ParameterEvaluation {
    let thresholds = thresholds_for_parameter(record, policy);
    let mut evaluation = ParameterEvaluation {
        max_age: thresholds.as_ref().ok().map(|t| t.max_age),
        verdicts: Vec::with_capacity(ParameterCheck::ALL.len()),
        unknown: Vec::new(),
    };
    let mut push = |judged: Judged| match judged {
        Ok(verdict) => evaluation.verdicts.push(verdict),
        Err(unknown) => evaluation.unknown.push(unknown),
    };
    // Which override applies is unknown: so is every check it sets a
    // threshold for.
    let unknown_thresholds = |check: ParameterCheck, why: Unknown| UnknownVerdict {
        check,
        needs: LIST_TAGS,
        reason: why,
    };
    match &thresholds {
        Ok(thresholds) => push(parameter_age(judge, record, thresholds, now)),
        Err(why) => push(Err(unknown_thresholds(ParameterCheck::ParameterAge, *why))),
    }
    match &thresholds {
        Ok(thresholds) => {
            if let Some(verdict) = kms_customer_managed(judge, record, policy, thresholds) {
                push(Ok(verdict));
            }
        }
        Err(why) if record.is_secure_string() => push(Err(unknown_thresholds(
            ParameterCheck::KmsCustomerManaged,
            *why,
        ))),
        Err(_) => {}
    }
    if policy.require_parameter_expiration {
        push(parameter_expiration(judge, record, now));
    }
    if let Some(judged) = match &thresholds {
        Ok(thresholds) => required_tags(judge, record, thresholds),
        Err(why) => tags_are_read(record)
            .then(|| Err(unknown_thresholds(ParameterCheck::RequiredTags, *why))),
    } {
        push(judged);
    }
    evaluation
}

/// `LastModifiedDate` against `max_age`: the value of a parameter changes
/// only when someone writes it.
fn parameter_age(
    judge: Judge,
    record: &ParameterRecord,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Judged {
    let check = ParameterCheck::ParameterAge;
    let Some(modified) = record.last_modified else {
        return Err(UnknownVerdict {
            check,
            needs: DESCRIBE_PARAMETERS,
            reason: Unknown::Failed(ErrorReason::InvalidResponse),
        });
    };
    let limit = thresholds.max_age;
    let age = elapsed(modified, now);
    let compliant = age <= limit;
    let reason = || {
        format!(
            "value last written {} ago (LastModifiedDate {}), policy allows {}",
            format_duration(age),
            modified.format("%Y-%m-%d"),
            format_duration(limit)
        )
    };
    Ok(judge.measured(check, compliant, reason, age, limit))
}

/// Only a `SecureString` is encrypted, so only it is judged.
fn kms_customer_managed(
    judge: Judge,
    record: &ParameterRecord,
    policy: &Policy,
    thresholds: &Thresholds,
) -> Option<Verdict<ParameterCheck>> {
    (thresholds.require_customer_managed_key && record.is_secure_string()).then(|| {
        key_verdict(
            judge,
            ParameterCheck::KmsCustomerManaged,
            record.key_id.as_deref(),
            AWS_MANAGED_SSM_KEY,
            policy,
        )
    })
}

/// With `policy.require_parameter_expiration`, every parameter must carry
/// an `Expiration` policy that has not passed. Only the Advanced tier takes
/// parameter policies, so a Standard parameter fails with a reason that
/// says so.
fn parameter_expiration(judge: Judge, record: &ParameterRecord, now: DateTime<Utc>) -> Judged {
    let check = ParameterCheck::ParameterExpiration;
    match &record.expiration {
        ParameterExpiration::Unreadable(_) => Err(UnknownVerdict {
            check,
            needs: DESCRIBE_PARAMETERS,
            reason: Unknown::Failed(ErrorReason::InvalidResponse),
        }),
        ParameterExpiration::None => Ok(judge.verdict(check, false, || {
            let tier = record.tier.as_deref().unwrap_or("Standard");
            if tier == "Standard" {
                "no Expiration policy: a Standard parameter takes no policies, move it to the Advanced tier to set one".to_owned()
            } else {
                format!("no Expiration policy on this {tier} parameter")
            }
        })),
        ParameterExpiration::At(at) => {
            let compliant = *at > now;
            Ok(judge.verdict(check, compliant, || {
                if compliant {
                    format!(
                        "expires on {} (in {})",
                        at.format("%Y-%m-%d %H:%M UTC"),
                        format_duration(elapsed(now, *at))
                    )
                } else {
                    format!(
                        "its Expiration policy passed on {} ({} ago)",
                        at.format("%Y-%m-%d %H:%M UTC"),
                        format_duration(elapsed(*at, now))
                    )
                }
            }))
        }
    }
}

/// Whether the parameter's tags are read at all (`sources.ssm_parameters.tags`).
fn tags_are_read(record: &ParameterRecord) -> bool {
    record.tags.is_some() || record.tags_unknown.is_some()
}

/// Judged only where tags are read: without them nothing can be said.
fn required_tags(
    judge: Judge,
    record: &ParameterRecord,
    thresholds: &Thresholds,
) -> Option<Judged> {
    if !tags_are_read(record) {
        return None;
    }
    let check = ParameterCheck::RequiredTags;
    let Some(tags) = &record.tags else {
        return Some(Err(UnknownVerdict {
            check,
            needs: LIST_TAGS,
            reason: record.tags_unknown.unwrap_or(Unknown::NotYetRead),
        }));
    };
    Some(Ok(tags_verdict(judge, check, tags, thresholds)))
}
