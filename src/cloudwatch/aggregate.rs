//! The data one poll publishes: per account and region, and the fleet's
//! totals, all read from the targets' summaries.

use crate::parameters::ParameterSummary;
use crate::policy::{Check, ParameterCheck};
use crate::snapshot::{Snapshot, TargetSummary};

use super::{
    DIMENSION_ACCOUNT, DIMENSION_CHECK, DIMENSION_REGION, DIMENSION_SECRET, DIMENSION_SHARD,
    MAX_DATA_PER_REQUEST, MAX_REQUEST_BYTES, METRIC_HEARTBEAT, METRIC_MAX_ROTATION_AGE_DAYS,
    METRIC_NONCOMPLIANT_PARAMETERS, METRIC_NONCOMPLIANT_SECRETS, METRIC_OVERDUE_ROTATIONS,
    METRIC_PARAMETERS, METRIC_ROTATION_FAILURES, METRIC_SECRET_FAILED_CHECKS, METRIC_SECRETS,
};

const SECONDS_PER_DAY: f64 = 86_400.0;

/// One value to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub metric_name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    pub value: f64,
    /// Counts are `Count`; the age is `None` (days have no CloudWatch unit).
    pub count: bool,
}

impl Datum {
    fn new(metric_name: &'static str, dimensions: Vec<(&'static str, String)>, value: f64) -> Self {
        Self {
            metric_name,
            dimensions,
            value,
            count: true,
        }
    }

    /// A generous estimate of the datum's size on the wire.
    fn estimated_bytes(&self) -> usize {
        64 + self.metric_name.len()
            + self
                .dimensions
                .iter()
                .map(|(name, value)| 24 + name.len() + value.len())
                .sum::<usize>()
    }
}

/// A count of failing secrets as CloudWatch gets it: those known to fail,
/// and whether some could not be judged. It is published when it is
/// complete, or when it is already above zero, as a floor: those failures
/// are certain, and CloudWatch alarms fire at one or more. A zero with
/// unjudged parts would claim "none" where nothing was looked at, so it is
/// left out, and CloudWatch shows a gap.
#[derive(Debug, Default, Clone, Copy)]
struct AtLeast {
    known: usize,
    some_unknown: bool,
}

impl AtLeast {
    fn of_check(summary: &TargetSummary, check: Check) -> Self {
        AtLeast {
            known: summary.checks[check.index()].noncompliant,
            some_unknown: summary.noncompliant(check).is_none(),
        }
    }

    fn add(&mut self, other: AtLeast) {
        self.known = self.known.saturating_add(other.known);
        self.some_unknown |= other.some_unknown;
    }

    fn published(self) -> Option<usize> {
        (!self.some_unknown || self.known > 0).then_some(self.known)
    }
}

/// A fleet's or a target's SSM parameter totals.
#[derive(Debug, Default, Clone, Copy)]
struct ParameterTotals {
    parameters: usize,
    noncompliant: AtLeast,
}

impl ParameterTotals {
    fn of(summary: &ParameterSummary) -> Self {
        ParameterTotals {
            parameters: summary.parameters,
            noncompliant: AtLeast {
                known: summary.noncompliant_parameters,
                some_unknown: summary.unevaluated_parameters > 0,
            },
        }
    }

    fn add(&mut self, other: &ParameterTotals) {
        self.parameters = self.parameters.saturating_add(other.parameters);
        self.noncompliant.add(other.noncompliant);
    }

    fn push(&self, data: &mut Vec<Datum>, dimensions: &dyn Fn() -> Vec<(&'static str, String)>) {
        data.push(Datum::new(
            METRIC_PARAMETERS,
            dimensions(),
            self.parameters as f64,
        ));
        if let Some(noncompliant) = self.noncompliant.published() {
            data.push(Datum::new(
                METRIC_NONCOMPLIANT_PARAMETERS,
                dimensions(),
                noncompliant as f64,
            ));
        }
    }
}

/// A fleet's or a target's totals.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    secrets: usize,
    noncompliant: AtLeast,
    rotation_failures: AtLeast,
    overdue: AtLeast,
    max_age_days: Option<f64>,
}

impl Totals {
    fn of(summary: &TargetSummary) -> Self {
        Totals {
            secrets: summary.secrets,
            noncompliant: AtLeast {
                known: summary.noncompliant_secrets,
                some_unknown: summary.unevaluated_secrets > 0,
            },
            rotation_failures: AtLeast::of_check(summary, Check::RotationFailed),
            overdue: AtLeast::of_check(summary, Check::RotationOverdue),
            max_age_days: summary
                .max_value_age_seconds
                .map(|age| age / SECONDS_PER_DAY),
        }
    }

    fn add(&mut self, other: &Totals) {
        self.secrets = self.secrets.saturating_add(other.secrets);
        self.noncompliant.add(other.noncompliant);
        self.rotation_failures.add(other.rotation_failures);
        self.overdue.add(other.overdue);
        self.max_age_days = max_option(self.max_age_days, other.max_age_days);
    }
}

fn max_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The data one poll publishes. Only targets whose inventory succeeded in
/// this poll are published: a gap in CloudWatch means "unknown", which the
/// heartbeat alarm turns into an alarm, where a stale number would not.
/// Every account and region gets `Secrets`, `NonCompliantSecrets` (in
/// total and by `Check`), `OverdueRotations`, `RotationFailures`,
/// `MaxRotationAgeDays` (when a secret has an age) and `ExporterHeartbeat` 1;
/// the fleet gets the same without dimensions (with `Shard` alone when the
/// fleet is split between replicas), which the alarms watch. Where SSM
/// parameters are listed, `Parameters` and `NonCompliantParameters` (in
/// total and by `Check`) too. Every count
/// comes from the targets' summaries, as `/metrics` does, and is published
/// as [`AtLeast`] says. Values that are not finite are left out.
pub fn aggregate(snapshot: &Snapshot, per_secret: bool, shard: Option<&str>) -> Vec<Datum> {
    let mut data = Vec::new();
    let mut fleet = Totals::default();
    let mut fleet_parameters: Option<ParameterTotals> = None;
    for target in snapshot
        .targets
        .iter()
        .filter(|t| t.summary.inventory_fresh)
    {
        let summary = &target.summary;
        let totals = Totals::of(summary);
        fleet.add(&totals);
        if per_secret {
            for secret in target
                .secrets
                .iter()
                .filter(|s| !s.evaluation.scheduled_for_deletion)
            {
                let failed = AtLeast {
                    known: secret
                        .evaluation
                        .verdicts
                        .iter()
                        .filter(|v| !v.compliant)
                        .count(),
                    some_unknown: !secret.evaluation.unknown.is_empty(),
                };
                let Some(failed) = failed.published() else {
                    continue;
                };
                data.push(Datum::new(
                    METRIC_SECRET_FAILED_CHECKS,
                    vec![
                        (DIMENSION_ACCOUNT, target.account_id.clone()),
                        (DIMENSION_REGION, target.region.clone()),
                        (DIMENSION_SECRET, secret.record.name.clone()),
                    ],
                    failed as f64,
                ));
            }
        }
        let dimensions = || {
            vec![
                (DIMENSION_ACCOUNT, target.account_id.clone()),
                (DIMENSION_REGION, target.region.clone()),
            ]
        };
        push_totals(&mut data, &totals, &dimensions);
        for check in Check::ALL {
            let Some(count) = AtLeast::of_check(summary, check).published() else {
                continue;
            };
            let mut with_check = dimensions();
            with_check.push((DIMENSION_CHECK, check.as_str().to_string()));
            data.push(Datum::new(
                METRIC_NONCOMPLIANT_SECRETS,
                with_check,
                count as f64,
            ));
        }
        if let Some(inventory) = &target.parameters {
            let summary = &inventory.summary;
            let totals = ParameterTotals::of(summary);
            fleet_parameters
                .get_or_insert_with(ParameterTotals::default)
                .add(&totals);
            totals.push(&mut data, &dimensions);
            for check in ParameterCheck::ALL {
                let Some(count) = summary.checks.get(check.index()).filter(|c| c.judged > 0) else {
                    continue;
                };
                let count = AtLeast {
                    known: count.noncompliant,
                    some_unknown: count.unknown > 0,
                };
                let Some(count) = count.published() else {
                    continue;
                };
                let mut with_check = dimensions();
                with_check.push((DIMENSION_CHECK, check.as_str().to_string()));
                data.push(Datum::new(
                    METRIC_NONCOMPLIANT_PARAMETERS,
                    with_check,
                    count as f64,
                ));
            }
        }
    }
    if snapshot.targets.iter().any(|t| t.summary.inventory_fresh) {
        let fleet_dimensions = || {
            shard
                .map(|shard| vec![(DIMENSION_SHARD, shard.to_string())])
                .unwrap_or_default()
        };
        push_totals(&mut data, &fleet, &fleet_dimensions);
        if let Some(parameters) = &fleet_parameters {
            parameters.push(&mut data, &fleet_dimensions);
        }
    }
    data.retain(|datum| datum.value.is_finite());
    data
}

fn push_totals(
    data: &mut Vec<Datum>,
    totals: &Totals,
    dimensions: &dyn Fn() -> Vec<(&'static str, String)>,
) {
    data.push(Datum::new(
        METRIC_SECRETS,
        dimensions(),
        totals.secrets as f64,
    ));
    if let Some(noncompliant) = totals.noncompliant.published() {
        data.push(Datum::new(
            METRIC_NONCOMPLIANT_SECRETS,
            dimensions(),
            noncompliant as f64,
        ));
    }
    if let Some(failures) = totals.rotation_failures.published() {
        data.push(Datum::new(
            METRIC_ROTATION_FAILURES,
            dimensions(),
            failures as f64,
        ));
    }
    if let Some(overdue) = totals.overdue.published() {
        data.push(Datum::new(
            METRIC_OVERDUE_ROTATIONS,
            dimensions(),
            overdue as f64,
        ));
    }
    if let Some(days) = totals.max_age_days {
        data.push(Datum {
            count: false,
            ..Datum::new(METRIC_MAX_ROTATION_AGE_DAYS, dimensions(), days)
        });
    }
    data.push(Datum::new(METRIC_HEARTBEAT, dimensions(), 1.0));
}

/// Splits data into PutMetricData requests within both of its limits.
pub fn batches(data: Vec<Datum>) -> Vec<Vec<Datum>> {
    let mut batches: Vec<Vec<Datum>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for datum in data {
        let size = datum.estimated_bytes();
        if !current.is_empty()
            && (current.len() == MAX_DATA_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES)
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(datum);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::inventory::{SecretRecord, Unknown};
    use crate::policy::{Evaluation, UnknownVerdict, Verdict};
    use crate::snapshot::{ErrorReason, SecretReport, Source, SourceHealth, TargetSnapshot};

    fn datum(value: f64, name_len: usize) -> Datum {
        Datum::new(
            METRIC_SECRET_FAILED_CHECKS,
            vec![(DIMENSION_SECRET, "s".repeat(name_len))],
            value,
        )
    }

    #[test]
    fn batches_hold_at_most_a_thousand_data_and_stay_under_a_mebibyte() {
        let small = batches((0..2500).map(|i| datum(f64::from(i), 10)).collect());
        assert_eq!(
            small.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let large = batches((0..1000).map(|i| datum(f64::from(i), 1500)).collect());
        assert!(large.len() > 1);
        for batch in &large {
            let bytes: usize = batch.iter().map(Datum::estimated_bytes).sum();
            assert!(bytes <= MAX_REQUEST_BYTES, "{bytes} bytes in one request");
        }
        assert_eq!(large.iter().map(Vec::len).sum::<usize>(), 1000);
    }

    /// A rotating secret judged on everything but `rotation_failed`, which
    /// CloudTrail (denied) could not tell; `failing` checks fail.
    fn unread(name: &str, failing: &[Check]) -> SecretReport {
        SecretReport {
            record: Arc::new(SecretRecord {
                name: name.to_owned(),
                ..SecretRecord::default()
            }),
            evaluation: Evaluation {
                exemption: None,
                exemption_ignored: None,
                scheduled_for_deletion: false,
                rotation_interval: None,
                max_age: Duration::from_secs(86_400),
                verdicts: Check::ALL
                    .into_iter()
                    .filter(|check| *check != Check::RotationFailed)
                    .map(|check| Verdict::bare(check, !failing.contains(&check)))
                    .collect(),
                unknown: vec![UnknownVerdict {
                    check: Check::RotationFailed,
                    needs: "cloudtrail:LookupEvents",
                    reason: Unknown::Failed(ErrorReason::AccessDenied),
                }],
                value_age_seconds: None,
            },
        }
    }

    fn target(account_id: &str, secrets: Vec<SecretReport>) -> TargetSnapshot {
        let up = |source| SourceHealth {
            source,
            up: true,
            last_success: None,
            poll_duration: Duration::ZERO,
            last_error: None,
        };
        TargetSnapshot::new(
            account_id.to_owned(),
            None,
            "us-east-1".to_owned(),
            vec![up(Source::SecretsManager)],
            secrets,
            None,
        )
    }

    fn published(data: &[Datum], metric: &str, account: Option<&str>) -> Option<f64> {
        let found: Vec<f64> = data
            .iter()
            .filter(|d| d.metric_name == metric)
            .filter(|d| {
                let dimensions: Vec<_> = d.dimensions.iter().map(|(k, _)| *k).collect();
                match account {
                    Some(account) => {
                        dimensions == [DIMENSION_ACCOUNT, DIMENSION_REGION]
                            && d.dimensions[0].1 == account
                    }
                    None => dimensions.is_empty(),
                }
            })
            .map(|d| d.value)
            .collect();
        assert!(found.len() <= 1, "{metric} {account:?} twice: {found:?}");
        found.first().copied()
    }

    #[test]
    fn counts_with_unjudged_parts_are_published_only_as_a_floor_above_zero() {
        // CloudTrail denied everywhere: nothing may claim that no rotation failed.
        let quiet = Snapshot {
            completed_at: chrono::DateTime::default(),
            targets: vec![target("111111111111", vec![unread("a", &[])])],
            accounts: Default::default(),
        };
        let data = aggregate(&quiet, true, None);
        assert_eq!(published(&data, METRIC_ROTATION_FAILURES, None), None);
        assert_eq!(
            published(&data, METRIC_ROTATION_FAILURES, Some("111111111111")),
            None
        );
        assert_eq!(published(&data, METRIC_NONCOMPLIANT_SECRETS, None), None);
        assert!(
            !data
                .iter()
                .any(|d| d.metric_name == METRIC_SECRET_FAILED_CHECKS),
            "a secret with an unjudged check and no failure claims 0 failed checks"
        );
        assert_eq!(published(&data, METRIC_SECRETS, None), Some(1.0));
        assert_eq!(published(&data, METRIC_OVERDUE_ROTATIONS, None), Some(0.0));

        // A failure that is certain is published, as a floor, so the alarms fire.
        let failing = Snapshot {
            completed_at: chrono::DateTime::default(),
            targets: vec![
                target("111111111111", vec![unread("a", &[])]),
                target("222222222222", vec![unread("b", &[Check::RotationOverdue])]),
            ],
            accounts: Default::default(),
        };
        let data = aggregate(&failing, true, None);
        assert_eq!(
            published(&data, METRIC_NONCOMPLIANT_SECRETS, None),
            Some(1.0)
        );
        assert_eq!(published(&data, METRIC_OVERDUE_ROTATIONS, None), Some(1.0));
        assert_eq!(
            published(&data, METRIC_NONCOMPLIANT_SECRETS, Some("111111111111")),
            None
        );
        assert_eq!(
            published(&data, METRIC_NONCOMPLIANT_SECRETS, Some("222222222222")),
            Some(1.0)
        );
        assert_eq!(published(&data, METRIC_ROTATION_FAILURES, None), None);
    }

    #[test]
    fn listed_parameters_are_counted_per_target_and_for_the_fleet() {
        use crate::parameters::{
            ParameterExpiration, ParameterInventory, ParameterRecord, ParameterReport,
        };
        use crate::policy::{ParameterCheck, ParameterEvaluation};

        let parameter = |name: &str, age_ok: bool| ParameterReport {
            record: Arc::new(ParameterRecord {
                account_id: "111111111111".into(),
                region: "us-east-1".into(),
                name: name.to_owned(),
                parameter_type: "SecureString".into(),
                key_id: None,
                tier: None,
                last_modified: None,
                version: None,
                expiration: ParameterExpiration::None,
                tags: None,
                tags_unknown: None,
            }),
            evaluation: ParameterEvaluation {
                max_age: None,
                verdicts: vec![Verdict::bare(ParameterCheck::ParameterAge, age_ok)],
                unknown: Vec::new(),
            },
        };
        let listed = target("111111111111", vec![unread("a", &[])]).with_parameters(Some(
            ParameterInventory::new(vec![parameter("/a", true), parameter("/b", false)]),
        ));
        let unlisted = target("222222222222", vec![unread("b", &[])]);
        let snapshot = Snapshot {
            completed_at: chrono::DateTime::default(),
            targets: vec![listed, unlisted],
            accounts: Default::default(),
        };
        let data = aggregate(&snapshot, false, None);
        assert_eq!(
            published(&data, METRIC_PARAMETERS, Some("111111111111")),
            Some(2.0)
        );
        assert_eq!(
            published(&data, METRIC_NONCOMPLIANT_PARAMETERS, Some("111111111111")),
            Some(1.0)
        );
        // A target whose parameters are not listed gets no parameter count.
        assert_eq!(
            published(&data, METRIC_PARAMETERS, Some("222222222222")),
            None
        );
        assert_eq!(published(&data, METRIC_PARAMETERS, None), Some(2.0));
        assert_eq!(
            published(&data, METRIC_NONCOMPLIANT_PARAMETERS, None),
            Some(1.0)
        );
        let by_check: Vec<f64> = data
            .iter()
            .filter(|d| {
                d.metric_name == METRIC_NONCOMPLIANT_PARAMETERS
                    && d.dimensions
                        .iter()
                        .any(|(k, v)| *k == DIMENSION_CHECK && v == "parameter_age")
            })
            .map(|d| d.value)
            .collect();
        assert_eq!(by_check, [1.0]);
    }
}
