//! What the exporter knows about one secret: plain data, no SDK types, so the
//! compliance checks, the metrics and the tests never depend on the AWS SDK.

use chrono::{DateTime, Utc};
use litemap::LiteMap;
use serde::Serialize;

use crate::rotation_events::SecretRotationEvents;

/// The rotation schedule as `ListSecrets` returns it. The fields stay on a
/// secret after rotation is disabled, so their presence says nothing about
/// whether rotation is on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationRules {
    pub automatically_after_days: Option<i64>,
    /// The rotation window, for example `3h`.
    pub duration: Option<String>,
    /// `rate(...)` or `cron(...)`.
    pub schedule_expression: Option<String>,
}

/// One secret as seen by one poll of one (account, region).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecretRecord {
    pub account_id: String,
    pub region: String,
    pub arn: String,
    pub name: String,
    /// `None` means the AWS managed key `aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    /// A missing `RotationEnabled` is false.
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    pub rotation_rules: Option<RotationRules>,
    pub created: Option<DateTime<Utc>>,
    pub last_changed: Option<DateTime<Utc>>,
    pub last_accessed: Option<DateTime<Utc>>,
    pub last_rotated: Option<DateTime<Utc>>,
    pub next_rotation: Option<DateTime<Utc>>,
    /// Set when the secret is scheduled for deletion.
    pub deleted: Option<DateTime<Utc>>,
    pub owning_service: Option<String>,
    pub primary_region: Option<String>,
    pub tags: LiteMap<String, String>,
    /// Version id to its staging labels (`AWSCURRENT`, `AWSPENDING`, ...).
    pub version_stages: LiteMap<String, Vec<String>>,
    /// Creation of the `AWSCURRENT` version, when it has been looked up.
    pub current_version_created: Option<DateTime<Utc>>,
    /// Creation of a version that carries `AWSPENDING` without `AWSCURRENT`,
    /// when it has been looked up.
    pub pending_since: Option<DateTime<Utc>>,
    /// The newest CloudTrail rotation event of each kind. `None` while the
    /// target's CloudTrail history is not known (disabled, or the start-up
    /// lookback has not completed): then `rotation_failed` cannot be judged.
    pub rotation_events: Option<SecretRotationEvents>,
}

impl SecretRecord {
    /// The version id that carries `AWSCURRENT`, if any.
    pub fn current_version_id(&self) -> Option<&str> {
        self.version_with_stage("AWSCURRENT")
    }

    /// A version carrying `AWSPENDING` but not `AWSCURRENT`: a rotation that
    /// started and has not finished.
    pub fn pending_version_id(&self) -> Option<&str> {
        self.version_stages
            .iter()
            .find(|(_, stages)| {
                stages.iter().any(|s| s == "AWSPENDING")
                    && !stages.iter().any(|s| s == "AWSCURRENT")
            })
            .map(|(id, _)| id.as_str())
    }

    fn version_with_stage(&self, stage: &str) -> Option<&str> {
        self.version_stages
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }
}
