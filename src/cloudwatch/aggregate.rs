//! The data one poll publishes: per account and region, and the fleet's
//! totals, all read from the targets' summaries.

use crate::policy::Check;
use crate::snapshot::{Snapshot, TargetSummary};

use super::{
    DIMENSION_ACCOUNT, DIMENSION_CHECK, DIMENSION_REGION, DIMENSION_SECRET, DIMENSION_SHARD,
    MAX_DATA_PER_REQUEST, MAX_REQUEST_BYTES, METRIC_HEARTBEAT, METRIC_MAX_ROTATION_AGE_DAYS,
    METRIC_NONCOMPLIANT_SECRETS, METRIC_OVERDUE_ROTATIONS, METRIC_ROTATION_FAILURES,
    METRIC_SECRET_FAILED_CHECKS, METRIC_SECRETS,
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

/// A fleet's or a target's totals. A count is `None` where it is not known:
/// no datum is published for it, and a gap is what CloudWatch shows.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    secrets: usize,
    noncompliant: usize,
    rotation_failures: Option<usize>,
    overdue: Option<usize>,
    max_age_days: Option<f64>,
}

impl Totals {
    fn of(summary: &TargetSummary) -> Self {
        Totals {
            secrets: summary.secrets,
            noncompliant: summary.noncompliant_secrets,
            rotation_failures: summary.noncompliant(Check::RotationFailed),
            overdue: summary.noncompliant(Check::RotationOverdue),
            max_age_days: summary
                .max_value_age_seconds
                .map(|age| age / SECONDS_PER_DAY),
        }
    }
}

/// Sums counts some of which may be unknown. A sum that is already above
/// zero is published even with unknown parts, since those failures are
/// certain (the alarms fire at one or more); a zero with unknown parts would
/// claim "none" where some targets were not looked at, so it stays unknown.
#[derive(Debug, Default, Clone, Copy)]
struct AtLeast {
    known: usize,
    some_unknown: bool,
}

impl AtLeast {
    fn add(&mut self, count: Option<usize>) {
        match count {
            Some(count) => self.known = self.known.saturating_add(count),
            None => self.some_unknown = true,
        }
    }

    fn total(&self) -> Option<usize> {
        (!self.some_unknown || self.known > 0).then_some(self.known)
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
/// total and by `Check`, each count only where it is known), `OverdueRotations`
/// and `RotationFailures` (when known), `MaxRotationAgeDays` (when a secret has
/// an age) and `ExporterHeartbeat` 1; the fleet gets the same without
/// dimensions (with `Shard` alone when the fleet is split between replicas),
/// which the alarms watch. Every count comes from the targets' summaries, as
/// `/metrics` does. Values that are not finite are left out.
pub fn aggregate(snapshot: &Snapshot, per_secret: bool, shard: Option<&str>) -> Vec<Datum> {
    let mut data = Vec::new();
    let mut fleet = Totals::default();
    let (mut fleet_failures, mut fleet_overdue) = (AtLeast::default(), AtLeast::default());
    for target in snapshot
        .targets
        .iter()
        .filter(|t| t.summary.inventory_fresh)
    {
        let summary = &target.summary;
        let totals = Totals::of(summary);
        fleet.secrets += totals.secrets;
        fleet.noncompliant += totals.noncompliant;
        fleet_failures.add(totals.rotation_failures);
        fleet_overdue.add(totals.overdue);
        fleet.max_age_days = max_option(fleet.max_age_days, totals.max_age_days);
        if per_secret {
            for secret in target
                .secrets
                .iter()
                .filter(|s| !s.evaluation.scheduled_for_deletion)
            {
                let failed = secret
                    .evaluation
                    .verdicts
                    .iter()
                    .filter(|v| !v.compliant)
                    .count();
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
            let Some(count) = summary.noncompliant(check) else {
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
    }
    if snapshot.targets.iter().any(|t| t.summary.inventory_fresh) {
        fleet.rotation_failures = fleet_failures.total();
        fleet.overdue = fleet_overdue.total();
        let fleet_dimensions = || {
            shard
                .map(|shard| vec![(DIMENSION_SHARD, shard.to_string())])
                .unwrap_or_default()
        };
        push_totals(&mut data, &fleet, &fleet_dimensions);
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
    data.push(Datum::new(
        METRIC_NONCOMPLIANT_SECRETS,
        dimensions(),
        totals.noncompliant as f64,
    ));
    if let Some(failures) = totals.rotation_failures {
        data.push(Datum::new(
            METRIC_ROTATION_FAILURES,
            dimensions(),
            failures as f64,
        ));
    }
    if let Some(overdue) = totals.overdue {
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
    use super::*;

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
}
