//! The checks about rotation (`rotation_*`), which an exemption skips.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::format::{format_duration, format_time};
use super::schedule::{ScheduleCache, ScheduleGap};
use super::verdict::{Check, Judge, Judged, UnknownVerdict, Verdict};
use super::{elapsed, start_of_day};
use crate::config::Thresholds;
use crate::inventory::{PreviousVersionAccess, SecretRecord, Unknown};
use crate::snapshot::ErrorReason;

const DAY: Duration = Duration::from_secs(86_400);

/// What `rotation_age`, `rotation_pending` and `previous_version_read`
/// need when they need a version looked up.
const NEEDS_VERSIONS: &str = "secretsmanager:ListSecretVersionIds";
/// What `rotation_failed` needs.
const NEEDS_CLOUDTRAIL: &str = "cloudtrail:LookupEvents";

pub(super) fn rotation_enabled(judge: Judge, record: &SecretRecord) -> Verdict {
    if record.rotation_enabled {
        return judge.verdict(Check::RotationEnabled, true, || {
            "rotation is enabled".to_string()
        });
    }
    let reason = if record.rotation_rules.is_some() {
        "rotation is disabled (rotation rules are still set but are not in force)"
    } else {
        "rotation is disabled"
    };
    judge.verdict(Check::RotationEnabled, false, || reason.to_string())
}

/// The longest gap between scheduled rotations, or why it is not known;
/// `None` when rotation is off and the check does not apply.
///
/// The rotation window (`RotationRules.Duration`) is not added. A rotation may
/// land anywhere in its window, so two rotations can be up to gap + window
/// apart, but that slack is at most a day and the usual `rate(30 days)` under a
/// 30d policy would fail for it. AWS Config's `maximumAllowedRotationFrequency`
/// compares the schedule alone as well, so both report the same secrets. A
/// rotation that actually runs late is what `rotation_age` and
/// `rotation_overdue` catch, from real dates.
pub(super) fn rotation_interval(
    record: &SecretRecord,
    cache: &ScheduleCache,
    now: DateTime<Utc>,
) -> Option<Result<Duration, String>> {
    if !record.rotation_enabled {
        return None;
    }
    let rules = record.rotation_rules.clone().unwrap_or_default();
    // ScheduleExpression takes precedence: for a cron schedule AWS leaves
    // AutomaticallyAfterDays unset, for rate(N days) it mirrors it.
    if let Some(expression) = rules.schedule_expression.as_deref() {
        let outcome = match cache.longest_gap(expression, now) {
            ScheduleGap::Longest(gap) => Ok(gap),
            ScheduleGap::NeverRepeats => Err(format!(
                "rotation is enabled but schedule {expression} stops firing, so rotation would stop"
            )),
            ScheduleGap::Unreadable(problem) => Err(format!(
                "rotation is enabled but its schedule cannot be read ({problem})"
            )),
        };
        return Some(outcome);
    }
    let outcome = match rules.automatically_after_days {
        Some(days) if days > 0 => Ok(DAY.saturating_mul(u32::try_from(days).unwrap_or(u32::MAX))),
        Some(days) => Err(format!(
            "rotation is enabled but AutomaticallyAfterDays is {days}, not a number of days"
        )),
        None => Err("rotation is enabled but no rotation schedule is set".to_string()),
    };
    Some(outcome)
}

pub(super) fn rotation_interval_verdict(
    judge: Judge,
    interval: Result<Duration, String>,
    thresholds: &Thresholds,
) -> Verdict {
    let limit = thresholds.max_rotation_interval;
    match interval {
        Ok(gap) => {
            let compliant = gap <= limit;
            let reason = || {
                if compliant {
                    format!(
                        "schedule leaves at most {} between rotations, policy allows {}",
                        format_duration(gap),
                        format_duration(limit)
                    )
                } else {
                    format!(
                        "schedule leaves up to {} between rotations, policy allows {}",
                        format_duration(gap),
                        format_duration(limit)
                    )
                }
            };
            judge.measured(Check::RotationInterval, compliant, reason, gap, limit)
        }
        Err(reason) => judge
            .verdict(Check::RotationInterval, false, || reason)
            .with_limit(limit),
    }
}

/// Measured from the newest of LastRotatedDate and the AWSCURRENT version's
/// creation: LastRotatedDate does not move on a manual PutSecretValue, the
/// version does. LastChangedDate is not used: tagging or describing a secret
/// moves it without touching the value.
/// Also returns the value's age, when known, which CloudWatch publishes.
/// When the value may have changed outside rotation and the current
/// version's creation could not be looked up, the age is unknown: the listed
/// dates would make a value set by hand yesterday look months old.
pub(super) fn rotation_age(
    judge: Judge,
    record: &SecretRecord,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Result<(Verdict, Option<Duration>), UnknownVerdict> {
    if let Some(reason) = record.versions_unknown
        && record.current_version_created.is_none()
        && record.current_version_id().is_some()
        && record.value_may_have_changed_outside_rotation()
    {
        return Err(UnknownVerdict {
            check: Check::RotationAge,
            needs: NEEDS_VERSIONS,
            reason,
        });
    }
    let limit = thresholds.max_age;
    let newest_change = [
        (record.last_rotated, "last rotated"),
        (record.current_version_created, "current version created"),
    ]
    .into_iter()
    .filter_map(|(when, what)| when.map(|when| (when, what)))
    .max_by_key(|(when, _)| *when);
    let Some((changed, what)) = newest_change.or(record.created.map(|when| (when, "created")))
    else {
        let unknown = judge.verdict(Check::RotationAge, false, || {
            "cannot tell when the value last changed: no rotation, version or creation date is known"
                .to_string()
        });
        return Ok((unknown.with_limit(limit), None));
    };
    let age = elapsed(changed, now);
    let compliant = age <= limit;
    let reason = || {
        format!(
            "value is {} old ({what} {}), policy allows {}",
            format_duration(age),
            format_time(changed),
            format_duration(limit)
        )
    };
    Ok((
        judge.measured(Check::RotationAge, compliant, reason, age, limit),
        Some(age),
    ))
}

pub(super) fn rotation_overdue(
    judge: Judge,
    record: &SecretRecord,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Verdict> {
    if !record.rotation_enabled {
        return None;
    }
    let due = record.next_rotation?;
    let grace = thresholds.overdue_grace;
    let lateness = elapsed(due, now);
    let compliant = lateness <= grace;
    let reason = || {
        if due > now {
            format!(
                "next rotation is due {} (in {})",
                format_time(due),
                format_duration(elapsed(now, due))
            )
        } else if compliant {
            format!(
                "next rotation was due {} ago, within the {} grace",
                format_duration(lateness),
                format_duration(grace)
            )
        } else {
            format!(
                "next rotation was due {} ago ({}), grace is {}",
                format_duration(lateness),
                format_time(due),
                format_duration(grace)
            )
        }
    };
    Some(judge.measured(Check::RotationOverdue, compliant, reason, lateness, grace))
}

/// Judged only where the target's CloudTrail history is known, and only for
/// secrets that rotate or have rotation events: a secret that never rotated
/// cannot have failed to. Where CloudTrail is read but its history is not
/// known, a secret that rotates gets no verdict: nothing was looked at.
pub(super) fn rotation_failed(judge: Judge, record: &SecretRecord) -> Option<Judged> {
    let Some(events) = record.rotation_events.as_ref() else {
        let reason = record.rotation_events_unknown?;
        return record.rotation_enabled.then_some(Err(UnknownVerdict {
            check: Check::RotationFailed,
            needs: NEEDS_CLOUDTRAIL,
            reason,
        }));
    };
    let newest = events.newest();
    if newest.is_none() && !record.rotation_enabled {
        return None;
    }
    let check = Check::RotationFailed;
    let Some(newest) = newest else {
        return Some(Ok(judge.verdict(check, true, || {
            "no rotation event in CloudTrail's window".to_owned()
        })));
    };
    let compliant = !newest.kind.is_failure();
    let reason = || {
        let mut reason = format!(
            "the newest rotation event is {} at {} (event {})",
            newest.kind.event_name(),
            format_time(newest.time),
            newest.id
        );
        if let Some(message) = &newest.message {
            reason.push_str(&format!(": {message}"));
        }
        reason
    };
    Some(Ok(judge
        .verdict(check, compliant, reason)
        .with_event(Some(newest.clone()))))
}

pub(super) fn rotation_pending(
    judge: Judge,
    record: &SecretRecord,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Judged> {
    let version = record.pending_version_id()?;
    let Some(since) = record.pending_since else {
        return record.versions_unknown.map(|reason| {
            Err(UnknownVerdict {
                check: Check::RotationPending,
                needs: NEEDS_VERSIONS,
                reason,
            })
        });
    };
    let limit = thresholds.pending_timeout;
    let pending_for = elapsed(since, now);
    let compliant = pending_for <= limit;
    let reason = || {
        format!(
            "version {version} has been AWSPENDING for {} (since {}), policy allows {}",
            format_duration(pending_for),
            format_time(since),
            format_duration(limit)
        )
    };
    // The rotation that left the version pending, when CloudTrail saw it start.
    let started = record
        .rotation_events
        .as_ref()
        .and_then(|events| events.started.clone());
    Some(Ok(judge
        .measured(
            Check::RotationPending,
            compliant,
            reason,
            pending_for,
            limit,
        )
        .with_event(started)))
}

/// Whether every read of the previous version up to `now` is within
/// `grace` of its replacement, whatever the reads: the version was replaced
/// no earlier than `LastRotatedDate` (a later manual change only moves the
/// replacement later), and today is within the grace of that day. Then no
/// lookup of the version is needed.
pub fn previous_version_reads_still_allowed(
    record: &SecretRecord,
    grace: Duration,
    now: DateTime<Utc>,
) -> bool {
    record.last_rotated.is_some_and(|rotated| {
        elapsed(
            start_of_day(rotated.date_naive()),
            start_of_day(now.date_naive()),
        ) <= grace
    })
}

/// Judged on the day the `AWSPREVIOUS` version was last read (a day, no
/// time) against the day it was replaced: the newest of `LastRotatedDate`
/// and the current version's creation. A read on a later day than the
/// grace allows means some application still holds the replaced value,
/// except a read on the day the next rotation started: multi-user
/// rotation's Lambda reads `AWSPREVIOUS` then, to clone its user.
pub(super) fn previous_version_read(
    judge: Judge,
    record: &SecretRecord,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Judged> {
    if !record.has_rotated_previous_version() {
        return None;
    }
    let check = Check::PreviousVersionRead;
    let grace = thresholds.previous_version_grace;
    // Within the grace of the last rotation, no read can be late yet:
    // compliant whatever a lookup would say, so none is needed.
    if let Some(rotated) = record.last_rotated
        && previous_version_reads_still_allowed(record, grace, now)
    {
        let until = start_of_day(rotated.date_naive())
            .checked_add_signed(chrono::Duration::from_std(grace).unwrap_or_default())
            .unwrap_or(rotated);
        return Some(Ok(judge.verdict(check, true, || {
            format!(
                "the previous version was replaced on or after {}; it may be read until {}",
                rotated.format("%Y-%m-%d"),
                until.format("%Y-%m-%d")
            )
        })));
    }
    let (last_accessed, replaced_at) = match record.previous_version_access? {
        PreviousVersionAccess::Unknown(reason) => {
            return Some(Err(UnknownVerdict {
                check,
                needs: NEEDS_VERSIONS,
                reason,
            }));
        }
        PreviousVersionAccess::Known {
            last_accessed,
            replaced_at,
        } => (last_accessed, replaced_at),
    };
    let version = record.previous_version_id().unwrap_or_default();
    let Some(read) = last_accessed else {
        return Some(Ok(judge.verdict(check, true, || {
            format!("version {version} (AWSPREVIOUS) has not been read since it was replaced")
        })));
    };
    let read_day = start_of_day(read.date_naive());
    let Some(replaced) = [record.last_rotated, replaced_at]
        .into_iter()
        .flatten()
        .max()
    else {
        // The day it was replaced cannot be told: no verdict is guessed.
        return Some(Err(UnknownVerdict {
            check,
            needs: NEEDS_VERSIONS,
            reason: Unknown::Failed(ErrorReason::InvalidResponse),
        }));
    };
    let replaced_day = start_of_day(replaced.date_naive());
    let after = elapsed(replaced_day, read_day);
    let within_grace = after <= grace;
    // The next rotation's own read: a pending version created on the day
    // of the read, or a rotation CloudTrail saw start that day.
    let next_rotation_started = [
        record.pending_since,
        record
            .rotation_events
            .as_ref()
            .and_then(|events| events.started.as_ref().map(|event| event.time)),
    ]
    .into_iter()
    .flatten()
    .any(|started| started > replaced && start_of_day(started.date_naive()) == read_day);
    let compliant = within_grace || next_rotation_started;
    let reason = || {
        let read_on = read.format("%Y-%m-%d");
        let replaced_on = replaced.format("%Y-%m-%d");
        if within_grace {
            format!(
                "version {version} (AWSPREVIOUS) was last read on {read_on}, {} after it was replaced on {replaced_on}; policy allows {}",
                format_duration(after),
                format_duration(grace)
            )
        } else if next_rotation_started {
            format!(
                "version {version} (AWSPREVIOUS) was last read on {read_on}, the day the next rotation started (its Lambda reads AWSPREVIOUS)"
            )
        } else {
            format!(
                "version {version} (AWSPREVIOUS) was still read on {read_on}, {} after it was replaced on {replaced_on}; policy allows {}: an application did not pick up the new value",
                format_duration(after),
                format_duration(grace)
            )
        }
    };
    Some(Ok(judge.measured(check, compliant, reason, after, grace)))
}
