//! The result of one poll, immutable once built, swapped in whole so that a
//! scrape always sees one complete poll.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::compliance::Evaluation;
use crate::inventory::SecretRecord;

/// The API a target's health refers to (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    SecretsManager,
    CloudTrail,
    CloudWatch,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SecretsManager => "secretsmanager",
            Source::CloudTrail => "cloudtrail",
            Source::CloudWatch => "cloudwatch",
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
    Other,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 7] = [
        ErrorReason::Throttled,
        ErrorReason::AccessDenied,
        ErrorReason::Timeout,
        ErrorReason::Network,
        ErrorReason::Service,
        ErrorReason::InvalidResponse,
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When the poll that built this snapshot ended.
    pub completed_at: DateTime<Utc>,
    /// Sorted by (account, region).
    pub targets: Vec<TargetSnapshot>,
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
