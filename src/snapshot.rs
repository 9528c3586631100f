//! The result of one poll, immutable once built, swapped in whole so that a
//! scrape always sees one complete poll.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::databases::DatabaseInventory;
use crate::inventory::{SecretRecord, Unknown};
use crate::parameters::ParameterInventory;
use crate::policy::{Check, Evaluation};
use crate::vpcs::VpcInventory;

/// The API a target's health refers to (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    SecretsManager,
    CloudTrail,
    CloudWatch,
    Organizations,
    Lambda,
    Ssm,
    Rds,
    Ec2,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SecretsManager => "secretsmanager",
            Source::CloudTrail => "cloudtrail",
            Source::CloudWatch => "cloudwatch",
            Source::Organizations => "organizations",
            Source::Lambda => "lambda",
            Source::Ssm => "ssm",
            Source::Rds => "rds",
            Source::Ec2 => "ec2",
        }
    }
}

/// The bounded `reason` label of `secrets_rotation_exporter_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    Throttled,
    AccessDenied,
    Timeout,
    Network,
    Service,
    InvalidResponse,
    /// The exporter's own work on a target panicked: a bug, most likely met
    /// on an answer nobody expected. The target is down, the others go on.
    Internal,
    Other,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 8] = [
        ErrorReason::Throttled,
        ErrorReason::AccessDenied,
        ErrorReason::Timeout,
        ErrorReason::Network,
        ErrorReason::Service,
        ErrorReason::InvalidResponse,
        ErrorReason::Internal,
        ErrorReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Throttled => "throttled",
            ErrorReason::AccessDenied => "access_denied",
            ErrorReason::Timeout => "timeout",
            ErrorReason::Network => "network",
            ErrorReason::Service => "service",
            ErrorReason::InvalidResponse => "invalid_response",
            ErrorReason::Internal => "internal",
            ErrorReason::Other => "other",
        }
    }
}

/// Health of one source of one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceHealth {
    pub source: Source,
    /// The last poll of this source succeeded.
    pub up: bool,
    pub last_success: Option<DateTime<Utc>>,
    /// How long the last poll of this source took.
    pub poll_duration: Duration,
    /// The last error, while `up` is false.
    pub last_error: Option<TargetError>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetError {
    pub reason: ErrorReason,
    pub message: String,
}

/// One secret and its verdicts. The record is shared with the poller's
/// memory and with the snapshots before and after, as long as it does not
/// change: at fleet scale a copy per snapshot is most of the exporter's
/// memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretReport {
    pub record: Arc<SecretRecord>,
    pub evaluation: Evaluation,
}

/// How one check came out over a target's secrets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckCount {
    /// Secrets with a verdict.
    pub judged: usize,
    /// Secrets whose verdict is non-compliant.
    pub noncompliant: usize,
    /// Secrets the check applies to but could not be judged.
    pub unknown: usize,
}

/// What a target's secrets come to, worked out once when the snapshot is
/// assembled. `/metrics`, CloudWatch, `check`, the landing page and the
/// poll log all read it, so they can never count differently.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TargetSummary {
    /// The inventory has succeeded at least once: its secrets are known,
    /// though they may be those of an earlier poll.
    pub inventory_known: bool,
    /// The inventory succeeded in the last poll.
    pub inventory_fresh: bool,
    /// CloudTrail's history of the target has been read at least once.
    pub cloudtrail_read: bool,
    pub secrets: usize,
    /// Secrets with at least one non-compliant verdict.
    pub noncompliant_secrets: usize,
    /// Secrets with at least one check that could not be judged.
    pub unevaluated_secrets: usize,
    /// In `Check::ALL` order.
    pub checks: [CheckCount; Check::ALL.len()],
    /// Checks that could not be judged, by check and reason, with how many
    /// secrets; sorted.
    pub unknown: Vec<(Check, Unknown, usize)>,
    /// How old the oldest value is, in seconds, among the secrets whose age
    /// is known.
    pub max_value_age_seconds: Option<f64>,
}

impl TargetSummary {
    pub fn of(health: &[SourceHealth], secrets: &[SecretReport]) -> Self {
        let inventory_health = health.iter().find(|h| h.source == Source::SecretsManager);
        let mut summary = TargetSummary {
            inventory_known: !secrets.is_empty()
                || inventory_health.is_some_and(|h| h.up || h.last_success.is_some()),
            inventory_fresh: inventory_health.is_some_and(|h| h.up),
            cloudtrail_read: health
                .iter()
                .any(|h| h.source == Source::CloudTrail && h.last_success.is_some()),
            secrets: secrets.len(),
            ..TargetSummary::default()
        };
        let mut unknown: std::collections::BTreeMap<(Check, Unknown), usize> =
            std::collections::BTreeMap::new();
        for secret in secrets {
            let evaluation = &secret.evaluation;
            if !evaluation.compliant() {
                summary.noncompliant_secrets += 1;
            }
            if !evaluation.unknown.is_empty() {
                summary.unevaluated_secrets += 1;
            }
            for verdict in &evaluation.verdicts {
                let count = &mut summary.checks[verdict.check.index()];
                count.judged += 1;
                count.noncompliant += usize::from(!verdict.compliant);
            }
            for missing in &evaluation.unknown {
                summary.checks[missing.check.index()].unknown += 1;
                *unknown.entry((missing.check, missing.reason)).or_default() += 1;
            }
            if let Some(age) = evaluation.value_age_seconds {
                summary.max_value_age_seconds = Some(
                    summary
                        .max_value_age_seconds
                        .map_or(age, |held| held.max(age)),
                );
            }
        }
        summary.unknown = unknown
            .into_iter()
            .map(|((check, reason), count)| (check, reason, count))
            .collect();
        summary
    }

    /// How many secrets fail `check`, when that is known: `None` while any
    /// secret's verdict on it is unknown, and for `rotation_failed` while
    /// CloudTrail has never been read and nothing was judged. A count then
    /// would be a 0 that means "not looked at".
    pub fn noncompliant(&self, check: Check) -> Option<usize> {
        let count = self.checks[check.index()];
        if count.unknown > 0 {
            return None;
        }
        if check == Check::RotationFailed && !self.cloudtrail_read && count.judged == 0 {
            return None;
        }
        Some(count.noncompliant)
    }
}

/// One (account, region).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetSnapshot {
    pub account_id: String,
    pub account_name: Option<String>,
    pub region: String,
    pub health: Vec<SourceHealth>,
    /// The secrets of the last successful inventory, sorted by name. A failed
    /// target keeps them for three poll intervals.
    pub secrets: Vec<SecretReport>,
    /// Rotation events first seen since the exporter started, in
    /// `RotationEventKind::ALL` order; `None` when CloudTrail is not read.
    pub rotation_events_total: Option<[u64; 4]>,
    /// Worked out from `health` and `secrets` by [`TargetSnapshot::new`].
    pub summary: TargetSummary,
    /// The SSM parameters, once `DescribeParameters` has answered for the
    /// target; `None` when the source is off or has never listed it.
    pub parameters: Option<ParameterInventory>,
    /// The RDS databases, once both listings have answered for the target;
    /// `None` when the source is off or has never listed it.
    pub databases: Option<DatabaseInventory>,
    /// The VPCs, judged, once both listings have answered for the target;
    /// `None` when the source is off or has never listed it.
    pub vpcs: Option<VpcInventory>,
}

impl TargetSnapshot {
    pub fn new(
        account_id: String,
        account_name: Option<String>,
        region: String,
        health: Vec<SourceHealth>,
        secrets: Vec<SecretReport>,
        rotation_events_total: Option<[u64; 4]>,
    ) -> Self {
        let summary = TargetSummary::of(&health, &secrets);
        Self {
            account_id,
            account_name,
            region,
            health,
            secrets,
            rotation_events_total,
            summary,
            parameters: None,
            databases: None,
            vpcs: None,
        }
    }

    /// With the target's SSM parameters.
    pub fn with_parameters(mut self, parameters: Option<ParameterInventory>) -> Self {
        self.parameters = parameters;
        self
    }

    /// With the target's databases and VPCs.
    pub fn with_account_resources(
        mut self,
        databases: Option<DatabaseInventory>,
        vpcs: Option<VpcInventory>,
    ) -> Self {
        self.databases = databases;
        self.vpcs = vpcs;
        self
    }

    /// Some source of the target failed its last poll.
    pub fn is_down(&self) -> bool {
        self.health.iter().any(|health| !health.up)
    }
}

/// What a whole snapshot comes to, summed from its targets' summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SnapshotTotals {
    pub targets: usize,
    pub targets_down: usize,
    pub secrets: usize,
    pub noncompliant_secrets: usize,
    pub unevaluated_secrets: usize,
}

/// What `aws_account_info` says of one polled account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    pub account_id: String,
    pub account_name: Option<String>,
    /// Names from the organization's root down to the account's parent
    /// (`Root/Workloads/Prod`); `None` for an account not discovered.
    pub ou_path: Option<String>,
    /// The account's tags among `labels.account_tags`, sorted by key.
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When the poll that built this snapshot ended.
    pub completed_at: DateTime<Utc>,
    /// Sorted by (account, region).
    pub targets: Vec<TargetSnapshot>,
    /// The accounts polled, sorted by id; shared with the target list.
    pub accounts: Arc<[AccountInfo]>,
}

impl Snapshot {
    /// Adds the health of a source that is read once for the fleet rather
    /// than per target (CloudWatch publishing, Organizations discovery):
    /// on the target of its account and region when that is polled, else on
    /// a target of its own that carries nothing but health.
    pub fn attach_health(&mut self, account_id: &str, region: &str, health: SourceHealth) {
        let found = self
            .targets
            .iter_mut()
            .find(|t| t.account_id == account_id && t.region == region);
        match found {
            Some(target) => {
                target.health.retain(|h| h.source != health.source);
                target.health.push(health);
            }
            None => {
                self.targets.push(TargetSnapshot::new(
                    account_id.to_owned(),
                    None,
                    region.to_owned(),
                    vec![health],
                    Vec::new(),
                    None,
                ));
                self.targets.sort_by(|a, b| {
                    (a.account_id.as_str(), a.region.as_str())
                        .cmp(&(b.account_id.as_str(), b.region.as_str()))
                });
            }
        }
    }

    pub fn totals(&self) -> SnapshotTotals {
        let mut totals = SnapshotTotals {
            targets: self.targets.len(),
            ..SnapshotTotals::default()
        };
        for target in &self.targets {
            totals.targets_down += usize::from(target.is_down());
            totals.secrets += target.summary.secrets;
            totals.noncompliant_secrets += target.summary.noncompliant_secrets;
            totals.unevaluated_secrets += target.summary.unevaluated_secrets;
        }
        totals
    }
}

/// Holds the newest snapshot. Readers never wait on a running poll.
pub struct SnapshotStore {
    current: ArcSwapOption<Snapshot>,
    /// Counts the snapshots stored, for whoever prepares each one ahead of
    /// its readers (the `/metrics` rendering).
    published: tokio::sync::watch::Sender<u64>,
}

impl Default for SnapshotStore {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            published: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl SnapshotStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes each time a snapshot is stored.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// `None` until the first poll completes.
    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    pub fn store(&self, snapshot: Snapshot) {
        self.store_arc(Arc::new(snapshot));
    }

    pub fn store_arc(&self, snapshot: Arc<Snapshot>) {
        self.current.store(Some(snapshot));
        self.published.send_modify(|count| *count += 1);
    }
}
