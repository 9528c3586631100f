//! The checks of SPEC.md as pure functions of (record, policy, now).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::config::{Override, OverrideMatch, Policy, Thresholds};
use crate::inventory::{SecretRecord, Unknown};
use crate::rotation_events::RotationEvent;
use crate::schedule;

/// The AWS managed key, which every principal with access to the account's
/// Secrets Manager can use: the thing `kms_customer_managed` is about.
const AWS_MANAGED_KEY_ALIAS: &str = "alias/aws/secretsmanager";

const NO_REASON_GIVEN: &str = "(no reason given)";

const DAY: Duration = Duration::from_secs(86_400);

/// The `check` label values, in the order SPEC.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    RotationEnabled,
    RotationInterval,
    RotationAge,
    RotationOverdue,
    RotationFailed,
    RotationPending,
    KmsCustomerManaged,
    Unused,
    RequiredTags,
}

impl Check {
    pub const ALL: [Check; 9] = [
        Check::RotationEnabled,
        Check::RotationInterval,
        Check::RotationAge,
        Check::RotationOverdue,
        Check::RotationFailed,
        Check::RotationPending,
        Check::KmsCustomerManaged,
        Check::Unused,
        Check::RequiredTags,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::RotationEnabled => "rotation_enabled",
            Check::RotationInterval => "rotation_interval",
            Check::RotationAge => "rotation_age",
            Check::RotationOverdue => "rotation_overdue",
            Check::RotationFailed => "rotation_failed",
            Check::RotationPending => "rotation_pending",
            Check::KmsCustomerManaged => "kms_customer_managed",
            Check::Unused => "unused",
            Check::RequiredTags => "required_tags",
        }
    }

    /// The position in `Check::ALL`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The checks about rotation, which an exemption skips. The others (the
    /// key, use and tags) hold for a secret whatever rotates it.
    pub fn is_about_rotation(self) -> bool {
        match self {
            Check::RotationEnabled
            | Check::RotationInterval
            | Check::RotationAge
            | Check::RotationOverdue
            | Check::RotationFailed
            | Check::RotationPending => true,
            Check::KmsCustomerManaged | Check::Unused | Check::RequiredTags => false,
        }
    }
}

/// A check that applies but could not be judged, because a fact it needs
/// could not be established: it has no verdict, never a guessed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnknownVerdict {
    pub check: Check,
    /// The call that would have given the missing fact.
    pub needs: &'static str,
    pub reason: Unknown,
}

/// What `rotation_age` and `rotation_pending` need when they need a
/// version's creation.
const NEEDS_VERSIONS: &str = "secretsmanager:ListSecretVersionIds";
/// What `rotation_failed` needs.
const NEEDS_CLOUDTRAIL: &str = "cloudtrail:LookupEvents";

/// The verdict of one applicable check. The sentence and the numbers behind
/// it (for `check`) are boxed apart: a snapshot served to `/metrics` has
/// none, and then a verdict is 16 bytes instead of 72, nine times over for
/// each of 100,000 secrets, in each of the two snapshots alive during a poll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub check: Check,
    pub compliant: bool,
    /// `None` when judged by [`evaluate_bare`].
    #[serde(flatten)]
    pub detail: Option<Box<VerdictDetail>>,
}

/// Why a check gave its verdict, so that `check --output=json` can say why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictDetail {
    /// A sentence a person can act on, e.g. "value is 41d 3h old, policy allows 30d".
    pub reason: String,
    /// The measured value in seconds (age, schedule gap, lateness), when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_seconds: Option<f64>,
    /// The limit it was compared with, in seconds, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_seconds: Option<f64>,
    /// The CloudTrail event behind the verdict (`rotation_failed`, `rotation_pending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Arc<RotationEvent>>,
}

impl Verdict {
    /// A verdict without its detail, as a served snapshot holds it.
    pub fn bare(check: Check, compliant: bool) -> Self {
        Self {
            check,
            compliant,
            detail: None,
        }
    }

    /// The sentence; empty once the detail has been dropped.
    pub fn reason(&self) -> &str {
        self.detail.as_ref().map_or("", |detail| &detail.reason)
    }

    pub fn observed_seconds(&self) -> Option<f64> {
        self.detail
            .as_ref()
            .and_then(|detail| detail.observed_seconds)
    }

    pub fn limit_seconds(&self) -> Option<f64> {
        self.detail.as_ref().and_then(|detail| detail.limit_seconds)
    }

    pub fn event(&self) -> Option<&Arc<RotationEvent>> {
        self.detail
            .as_ref()
            .and_then(|detail| detail.event.as_ref())
    }

    fn with_limit(mut self, limit: Duration) -> Self {
        if let Some(detail) = &mut self.detail {
            detail.limit_seconds = Some(limit.as_secs_f64());
        }
        self
    }

    fn with_event(mut self, event: Option<Arc<RotationEvent>>) -> Self {
        if let Some(detail) = &mut self.detail {
            detail.event = event;
        }
        self
    }
}

/// Why no rotation check applies to a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exemption {
    /// The exempt tag's value, or "(no reason given)" when it is empty.
    pub reason: String,
    /// From `<exempt_tag>-until: YYYY-MM-DD`; the exemption ends at the start of that day (UTC).
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Set while an exemption is in force; then no rotation check applies.
    pub exemption: Option<Exemption>,
    /// Why exemption tags on the secret do not exempt it: an end date that has
    /// passed or cannot be read, or an end date without the exempt tag. The
    /// checks apply in all of these cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption_ignored: Option<String>,
    /// Scheduled for deletion: inventoried, no check applies.
    pub scheduled_for_deletion: bool,
    /// The longest gap of the rotation schedule, when rotation is on and its
    /// schedule is known and fires repeatedly. Rules left over on a secret whose
    /// rotation is off describe nothing that will happen, so they give none.
    pub rotation_interval: Option<Duration>,
    /// The `max_age` in force for this secret after overrides.
    pub max_age: Duration,
    /// One per applicable check that could be judged, in `Check::ALL` order.
    pub verdicts: Vec<Verdict>,
    /// The applicable checks that could not be judged, in `Check::ALL` order.
    pub unknown: Vec<UnknownVerdict>,
    /// How old the value is, as the `rotation_age` check measured it; kept
    /// when the verdicts' details are dropped (CloudWatch publishes it).
    #[serde(skip)]
    pub value_age_seconds: Option<f64>,
}

impl Evaluation {
    /// No verdict says non-compliant (also true when no check applies, and
    /// when some could not be judged: see `unknown`).
    pub fn compliant(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.compliant)
    }

    pub fn verdict(&self, check: Check) -> Option<&Verdict> {
        self.verdicts.iter().find(|verdict| verdict.check == check)
    }
}

/// The first override whose every given field matches the secret.
pub fn matching_override<'p>(record: &SecretRecord, policy: &'p Policy) -> Option<&'p Override> {
    policy
        .overrides
        .iter()
        .find(|candidate| override_matches(&candidate.matcher, record))
}

fn override_matches(matcher: &OverrideMatch, record: &SecretRecord) -> bool {
    let name_matches = match (&matcher.name_glob, &matcher.name) {
        (Some(glob), _) => glob.is_match(&record.name),
        // Validation compiles every name into a glob; a hand-built matcher
        // without one still means the name it names.
        (None, Some(name)) => *name == record.name,
        (None, None) => true,
    };
    name_matches
        && matcher
            .account
            .as_ref()
            .is_none_or(|account| **account == *record.account_id)
        && matcher
            .region
            .as_ref()
            .is_none_or(|region| **region == *record.region)
        && matcher.tags.iter().all(|(key, value)| {
            record.tags.get(key.as_str()).map(|held| &**held) == Some(value.as_str())
        })
}

/// The thresholds in force for one secret: the first matching override laid over the defaults.
pub fn thresholds_for(record: &SecretRecord, policy: &Policy) -> Thresholds {
    match matching_override(record, policy) {
        Some(chosen) => policy.defaults.overlaid(&chosen.thresholds),
        None => policy.defaults.clone(),
    }
}

/// What the longest gap of one schedule expression came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ScheduleGap {
    Longest(Duration),
    /// Parses, but stops firing (a cron whose years run out): no bound on the gap.
    NeverRepeats,
    Unreadable(String),
}

/// Longest gaps of schedule expressions, so that a poll of 100,000 secrets
/// sharing a few schedules walks each cron expression's year once.
///
/// Gaps are computed from the start of the UTC day of `now`, so a cached
/// value is exactly what a fresh computation at any time that day gives, and
/// `evaluate_with` stays a pure function of its inputs. Entries of earlier days
/// are dropped when the day changes. Safe to share between threads.
#[derive(Debug, Default)]
pub struct ScheduleCache {
    memo: Mutex<DayMemo>,
}

#[derive(Debug, Default)]
struct DayMemo {
    day: Option<NaiveDate>,
    gaps: HashMap<String, ScheduleGap>,
}

impl ScheduleCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn longest_gap(&self, expression: &str, now: DateTime<Utc>) -> ScheduleGap {
        let day = now.date_naive();
        if let Some(known) = self.lookup(expression, day) {
            return known;
        }
        // Computed outside the lock: a cron year walk must not stall other
        // threads evaluating rate() schedules.
        let gap = match schedule::parse(expression) {
            Ok(parsed) => match parsed.longest_gap(start_of_day(day)) {
                Some(gap) => ScheduleGap::Longest(gap),
                None => ScheduleGap::NeverRepeats,
            },
            Err(error) => ScheduleGap::Unreadable(error.to_string()),
        };
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.day != Some(day) {
            memo.gaps.clear();
            memo.day = Some(day);
        }
        memo.gaps.insert(expression.to_string(), gap.clone());
        gap
    }

    fn lookup(&self, expression: &str, day: NaiveDate) -> Option<ScheduleGap> {
        let memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.day == Some(day) {
            memo.gaps.get(expression).cloned()
        } else {
            None
        }
    }
}

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
        // 16 slots for 9 verdicts on each of 100,000 secrets.
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
    evaluation
}

/// A verdict, or why the check could not give one.
type Judged = Result<Verdict, UnknownVerdict>;

impl Evaluation {
    fn push(&mut self, judged: Judged) {
        match judged {
            Ok(verdict) => self.verdicts.push(verdict),
            Err(unknown) => self.unknown.push(unknown),
        }
    }

    fn extend(&mut self, judged: Option<Judged>) {
        if let Some(judged) = judged {
            self.push(judged);
        }
    }
}

/// The exemption in force at `now`, and why exemption tags are ignored if they are.
///
/// An end date that cannot be read does not exempt: an exemption is a hole in
/// the policy, and a typo must not turn a dated hole into a permanent one. The
/// problem is reported in `Evaluation::exemption_ignored` instead, next to the
/// verdicts it lets through.
fn exemption_at(
    record: &SecretRecord,
    exempt_tag: &str,
    now: DateTime<Utc>,
) -> (Option<Exemption>, Option<String>) {
    let until_tag = format!("{exempt_tag}-until");
    let until_value = record
        .tags
        .get(until_tag.as_str())
        .map(|value| value.trim());
    let Some(reason) = record.tags.get(exempt_tag).map(|value| value.trim()) else {
        let ignored = until_value.map(|value| {
            format!("tag {until_tag} is set to {value:?} but tag {exempt_tag} is missing, so nothing is exempt")
        });
        return (None, ignored);
    };
    let reason = if reason.is_empty() {
        NO_REASON_GIVEN.to_string()
    } else {
        reason.to_string()
    };
    let until = match until_value {
        None => None,
        Some(value) => match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(day) => Some(start_of_day(day)),
            Err(_) => {
                return (
                    None,
                    Some(format!(
                        "tag {until_tag} is {value:?}, not a date like 2030-12-31, so the exemption ({reason}) does not hold"
                    )),
                );
            }
        },
    };
    match until {
        Some(end) if now >= end => (
            None,
            Some(format!(
                "the exemption ({reason}) ended on {}",
                end.format("%Y-%m-%d")
            )),
        ),
        _ => (Some(Exemption { reason, until }), None),
    }
}

fn rotation_enabled(judge: Judge, record: &SecretRecord) -> Verdict {
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
fn rotation_interval(
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
        Some(days) if days > 0 => Ok(DAY * u32::try_from(days).unwrap_or(u32::MAX)),
        Some(days) => Err(format!(
            "rotation is enabled but AutomaticallyAfterDays is {days}, not a number of days"
        )),
        None => Err("rotation is enabled but no rotation schedule is set".to_string()),
    };
    Some(outcome)
}

fn rotation_interval_verdict(
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
fn rotation_age(
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

fn rotation_overdue(
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
fn rotation_failed(judge: Judge, record: &SecretRecord) -> Option<Judged> {
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

fn rotation_pending(
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

fn kms_customer_managed(
    judge: Judge,
    record: &SecretRecord,
    policy: &Policy,
    thresholds: &Thresholds,
) -> Option<Verdict> {
    if !thresholds.require_customer_managed_key {
        return None;
    }
    let check = Check::KmsCustomerManaged;
    let Some(key) = record.kms_key_id.as_deref() else {
        return Some(judge.verdict(check, false, || {
            format!("encrypted with the AWS managed key {AWS_MANAGED_KEY_ALIAS}")
        }));
    };
    if key_short_form(key) == AWS_MANAGED_KEY_ALIAS {
        return Some(judge.verdict(check, false, || {
            format!("encrypted with the AWS managed key ({key})")
        }));
    }
    if policy.kms_key_arns.is_empty() {
        return Some(judge.verdict(check, true, || {
            format!("encrypted with the customer managed key {key}")
        }));
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
    Some(judge.verdict(check, allowed, reason))
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
fn unused(
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

/// Tag keys are compared exactly, as AWS does. A key that is present with an
/// empty value counts as present: the check asks for the key, and a policy
/// that cares about values should use `overrides` with tag matches.
fn required_tags(judge: Judge, record: &SecretRecord, thresholds: &Thresholds) -> Verdict {
    let check = Check::RequiredTags;
    if thresholds.required_tags.is_empty() {
        let own_tags = record
            .tags
            .keys()
            .filter(|key| !key.starts_with("aws:"))
            .count();
        return if own_tags > 0 {
            judge.verdict(check, true, || format!("has {own_tags} tag(s) of its own"))
        } else if record.tags.is_empty() {
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
        .filter(|key| !record.tags.contains_key(key.as_str()))
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

/// How the checks write their verdicts: with the sentence and the numbers
/// behind them, or bare. A bare verdict never formats its sentence.
#[derive(Debug, Clone, Copy)]
struct Judge {
    explain: bool,
}

impl Judge {
    fn verdict(self, check: Check, compliant: bool, reason: impl FnOnce() -> String) -> Verdict {
        if !self.explain {
            return Verdict::bare(check, compliant);
        }
        Verdict {
            check,
            compliant,
            detail: Some(Box::new(VerdictDetail {
                reason: reason(),
                observed_seconds: None,
                limit_seconds: None,
                event: None,
            })),
        }
    }

    fn measured(
        self,
        check: Check,
        compliant: bool,
        reason: impl FnOnce() -> String,
        observed: Duration,
        limit: Duration,
    ) -> Verdict {
        let mut verdict = self.verdict(check, compliant, reason).with_limit(limit);
        if let Some(detail) = &mut verdict.detail {
            detail.observed_seconds = Some(observed.as_secs_f64());
        }
        verdict
    }
}

/// Time from `since` to `now`; zero when `since` lies in the future (clock
/// skew between AWS and this host must not make anything look old).
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn format_time(when: DateTime<Utc>) -> String {
    when.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration the way the configuration writes them: `41d 3h`, `30d 1s`,
/// `90s` becomes `1m 30s`. Every non-zero unit down to the second is shown so
/// that a value one second past its limit never reads the same as the limit.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let parts = [
        (total / 86_400, "d"),
        (total % 86_400 / 3_600, "h"),
        (total % 3_600 / 60, "m"),
        (total % 60, "s"),
    ];
    let mut text = String::new();
    for (amount, unit) in parts.into_iter().filter(|(amount, _)| *amount > 0) {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = write!(text, "{amount}{unit}");
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}
