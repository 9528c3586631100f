//! The checks of SPEC.md as pure functions of (record, policy, now).
//!
//! `verdict` holds what a check gives, `rotation` and `hygiene` the checks,
//! `exemption` and `overrides` what decides which checks apply with which
//! thresholds, and `schedule` the `rate()` / `cron()` gaps `rotation_interval`
//! compares.

// Every value here may come from AWS, and AWS has sent dates that overflow
// unchecked arithmetic (a far-future `LastRotatedDate` once panicked the
// whole poll): arithmetic is checked or saturating, or says why it cannot
// overflow.
#![deny(clippy::arithmetic_side_effects)]

mod exemption;
mod format;
mod hygiene;
mod overrides;
mod parameter;
mod rotation;
mod rotation_lambda;
pub mod schedule;
mod verdict;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::Policy;
use crate::inventory::SecretRecord;
use crate::parameters::ParameterRecord;

pub use exemption::Exemption;
pub use format::format_duration;
pub use overrides::{matching_override, thresholds_for, thresholds_for_parameter};
pub use schedule::ScheduleCache;
pub use verdict::{
    Check, Evaluation, ParameterCheck, ParameterEvaluation, UnknownVerdict, Verdict, VerdictDetail,
};

use exemption::exemption_at;
use hygiene::{kms_customer_managed, required_tags, unused};
use rotation::{
    previous_version_read, rotation_age, rotation_enabled, rotation_failed, rotation_interval,
    rotation_interval_verdict, rotation_overdue, rotation_pending,
};
use rotation_lambda::rotation_lambda;

pub use rotation::previous_version_reads_still_allowed;
pub use rotation_lambda::{DEPRECATED_RUNTIMES, DEPRECATED_RUNTIMES_AS_OF, deprecated_since};
use verdict::Judge;

/// Judges one secret. Each call computes cron gaps afresh; evaluate many
/// secrets with `evaluate_with` and one shared `ScheduleCache`.
pub fn evaluate(record: &SecretRecord, policy: &Policy, now: DateTime<Utc>) -> Evaluation {
    evaluate_with(record, policy, now, &ScheduleCache::new())
}

/// Every verdict with its sentence and the numbers behind it, as `check`
/// prints them.
pub fn evaluate_with(
    record: &SecretRecord,
    policy: &Policy,
    now: DateTime<Utc>,
    cache: &ScheduleCache,
) -> Evaluation {
    judge(record, policy, now, cache, Judge { explain: true })
}

/// The verdicts without their details, as `/metrics` and CloudWatch use
/// them: the same verdicts as [`evaluate_with`], without formatting some
/// 700,000 sentences at 100,000 secrets only to drop them.
pub fn evaluate_bare(
    record: &SecretRecord,
    policy: &Policy,
    now: DateTime<Utc>,
    cache: &ScheduleCache,
) -> Evaluation {
    judge(record, policy, now, cache, Judge { explain: false })
}

/// Judges one SSM parameter, with the sentence and numbers behind each
/// verdict, as `check` prints them.
pub fn evaluate_parameter(
    record: &ParameterRecord,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ParameterEvaluation {
    parameter::judge_parameter(Judge { explain: true }, record, policy, now)
}

/// The same verdicts as [`evaluate_parameter`], bare, as `/metrics` uses them.
pub fn evaluate_parameter_bare(
    record: &ParameterRecord,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ParameterEvaluation {
    parameter::judge_parameter(Judge { explain: false }, record, policy, now)
}

fn judge(
    record: &SecretRecord,
    policy: &Policy,
    now: DateTime<Utc>,
    cache: &ScheduleCache,
    judge: Judge,
) -> Evaluation {
    let thresholds = thresholds_for(record, policy);
    let (exemption, exemption_ignored) = exemption_at(record, &policy.exempt_tag, now);
    let interval = rotation_interval(record, cache, now);
    let mut evaluation = Evaluation {
        exemption,
        exemption_ignored,
        scheduled_for_deletion: record.deleted.is_some(),
        rotation_interval: match &interval {
            Some(Ok(gap)) => Some(*gap),
            _ => None,
        },
        max_age: thresholds.max_age,
        // Room for every check at once: growth by doubling would leave
        // 16 slots for 11 verdicts on each of 100,000 secrets.
        verdicts: Vec::with_capacity(Check::ALL.len()),
        unknown: Vec::new(),
        value_age_seconds: None,
    };
    if evaluation.scheduled_for_deletion {
        return evaluation;
    }
    if evaluation.exemption.is_none() {
        evaluation.push(Ok(rotation_enabled(judge, record)));
        if let Some(interval) = interval {
            evaluation.push(Ok(rotation_interval_verdict(judge, interval, &thresholds)));
        }
        let age = rotation_age(judge, record, &thresholds, now);
        if let Ok((_, Some(age))) = &age {
            evaluation.value_age_seconds = Some(age.as_secs_f64());
        }
        evaluation.push(age.map(|(verdict, _)| verdict));
        evaluation.extend(rotation_overdue(judge, record, &thresholds, now).map(Ok));
        evaluation.extend(rotation_failed(judge, record));
        evaluation.extend(rotation_pending(judge, record, &thresholds, now));
    }
    evaluation.extend(kms_customer_managed(judge, record, policy, &thresholds).map(Ok));
    evaluation.push(Ok(unused(judge, record, &thresholds, now)));
    evaluation.push(Ok(required_tags(judge, record, &thresholds)));
    // Verdicts stay in `Check::ALL` order.
    if evaluation.exemption.is_none() {
        evaluation.extend(rotation_lambda(judge, record, now));
        evaluation.extend(previous_version_read(judge, record, &thresholds, now));
    }
    evaluation
}

/// Time from `since` to `now`; zero when `since` lies in the future (clock
/// skew between AWS and this host must not make anything look old).
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    // Two representable dates are at most about 525,000 years apart, well
    // inside what a `TimeDelta` holds: the difference itself cannot overflow.
    now.signed_duration_since(since)
        .to_std()
        .unwrap_or(Duration::ZERO)
}

fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}
