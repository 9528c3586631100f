//! What the exporter knows about one secret: plain data, no SDK types, so the
//! compliance checks, the metrics and the tests never depend on the AWS SDK.

// Every value here may come from AWS, and AWS has sent dates that overflow
// unchecked arithmetic (a far-future `LastRotatedDate` once panicked the
// whole poll): arithmetic is checked or saturating, or says why it cannot
// overflow.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use litemap::LiteMap;
use serde::Serialize;

use crate::rotation_events::SecretRotationEvents;
use crate::snapshot::ErrorReason;

/// Why a fact that a check needs could not be established. A check that
/// needs it gives no verdict (never a guess from the facts at hand), and
/// `check` reports it as not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unknown {
    /// Not asked yet: its turn did not come before the target's deadline,
    /// or CloudTrail's history is still being read. Asked again later.
    NotYetRead,
    /// The call that would have told failed.
    Failed(ErrorReason),
}

impl Unknown {
    /// The `reason` label: an error reason, or `not_yet_read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unknown::NotYetRead => "not_yet_read",
            Unknown::Failed(reason) => reason.as_str(),
        }
    }
}

impl Serialize for Unknown {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The rotation schedule as `ListSecrets` returns it. The fields stay on a
/// secret after rotation is disabled, so their presence says nothing about
/// whether rotation is on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationRules {
    pub automatically_after_days: Option<i64>,
    /// The rotation window, for example `3h`.
    pub duration: Option<Arc<str>>,
    /// `rate(...)` or `cron(...)`.
    pub schedule_expression: Option<Arc<str>>,
}

/// Holds one copy of each text that many secrets of a target share: the
/// account and region, key and Lambda ARNs, tag keys and values, schedules.
/// Records keep them as `Arc<str>`; at fleet scale a copy per secret of
/// each would be a third of the records' memory.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(held) = self.0.get(text) {
            return Arc::clone(held);
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

/// One secret as seen by one poll of one (account, region).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecretRecord {
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    pub arn: String,
    pub name: String,
    /// `None` means the AWS managed key `aws/secretsmanager`.
    pub kms_key_id: Option<Arc<str>>,
    /// A missing `RotationEnabled` is false.
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<Arc<str>>,
    pub rotation_rules: Option<RotationRules>,
    pub created: Option<DateTime<Utc>>,
    pub last_changed: Option<DateTime<Utc>>,
    pub last_accessed: Option<DateTime<Utc>>,
    pub last_rotated: Option<DateTime<Utc>>,
    pub next_rotation: Option<DateTime<Utc>>,
    /// Set when the secret is scheduled for deletion.
    pub deleted: Option<DateTime<Utc>>,
    pub owning_service: Option<Arc<str>>,
    pub primary_region: Option<Arc<str>>,
    pub tags: LiteMap<Arc<str>, Arc<str>>,
    /// The version that carries `AWSCURRENT`. Of all the staging labels
    /// `ListSecrets` returns, the checks need only this one and the pending
    /// version; see [`SecretRecord::set_version_stages`].
    pub current_version: Option<Box<str>>,
    /// A version carrying `AWSPENDING` but not `AWSCURRENT`: a rotation that
    /// started and has not finished.
    pub pending_version: Option<Box<str>>,
    /// Creation of the `AWSCURRENT` version, when it has been looked up.
    pub current_version_created: Option<DateTime<Utc>>,
    /// Creation of a version that carries `AWSPENDING` without `AWSCURRENT`,
    /// when it has been looked up.
    pub pending_since: Option<DateTime<Utc>>,
    /// The newest CloudTrail rotation event of each kind. `None` while the
    /// target's CloudTrail history is not known (disabled, or the start-up
    /// lookback has not completed): then `rotation_failed` cannot be judged.
    pub rotation_events: Option<SecretRotationEvents>,
    /// Set when CloudTrail is read but the target's history is not known,
    /// and why: `rotation_failed` is then unknown, not "nothing failed".
    pub rotation_events_unknown: Option<Unknown>,
    /// Set when a version creation the checks need (the pending version's,
    /// or the current version's when the value may have changed outside
    /// rotation) could not be looked up this poll, and why.
    pub versions_unknown: Option<Unknown>,
}

impl SecretRecord {
    /// The version id that carries `AWSCURRENT`, if any.
    pub fn current_version_id(&self) -> Option<&str> {
        self.current_version.as_deref()
    }

    /// A version carrying `AWSPENDING` but not `AWSCURRENT`: a rotation that
    /// started and has not finished.
    pub fn pending_version_id(&self) -> Option<&str> {
        self.pending_version.as_deref()
    }

    /// Whether the value may have changed after its last rotation: a manual
    /// `PutSecretValue` moves `LastChangedDate` but not `LastRotatedDate`.
    /// Then the `AWSCURRENT` version's creation is the value's last change,
    /// and `rotation_age` needs it. When the value cannot have changed, the
    /// last rotation (or creation) is its age and the version adds nothing
    /// worth a request.
    pub fn value_may_have_changed_outside_rotation(&self) -> bool {
        let Some(changed) = self.last_changed else {
            return false;
        };
        let known_change = match (self.last_rotated, self.created) {
            (Some(rotated), Some(created)) => rotated.max(created),
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => return true,
        };
        // LastChangedDate lags the version's creation by up to a few
        // seconds; a minute keeps a rotation from looking like a manual change.
        known_change
            .checked_add_signed(chrono::TimeDelta::seconds(60))
            .is_some_and(|settled| changed > settled)
    }

    /// The version ids whose creation the checks need: the pending one, and
    /// the current one when the value may have changed outside rotation.
    pub fn versions_needed(&self) -> impl Iterator<Item = &str> {
        [
            self.pending_version_id(),
            self.current_version_id()
                .filter(|_| self.value_may_have_changed_outside_rotation()),
        ]
        .into_iter()
        .flatten()
    }

    /// Sets the current and pending versions from `SecretVersionsToStages`
    /// (version id to its staging labels). When several versions qualify,
    /// the lowest id is taken, so the choice does not depend on the order
    /// of the response.
    pub fn set_version_stages<'a, Stages>(
        &mut self,
        versions: impl IntoIterator<Item = (&'a str, Stages)>,
    ) where
        Stages: IntoIterator<Item = &'a str>,
    {
        let mut current: Option<&str> = None;
        let mut pending: Option<&str> = None;
        let lowest =
            |held: Option<&'a str>, id: &'a str| Some(held.map_or(id, |held| held.min(id)));
        for (id, stages) in versions {
            let (mut is_current, mut is_pending) = (false, false);
            for stage in stages {
                is_current |= stage == "AWSCURRENT";
                is_pending |= stage == "AWSPENDING";
            }
            if is_current {
                current = lowest(current, id);
            } else if is_pending {
                pending = lowest(pending, id);
            }
        }
        self.current_version = current.map(Box::from);
        self.pending_version = pending.map(Box::from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(stages: &[(&'static str, &[&'static str])]) -> (Option<String>, Option<String>) {
        let mut record = SecretRecord::default();
        record.set_version_stages(
            stages
                .iter()
                .map(|(id, labels)| (*id, labels.iter().copied())),
        );
        (
            record.current_version_id().map(str::to_owned),
            record.pending_version_id().map(str::to_owned),
        )
    }

    #[test]
    fn current_and_pending_versions_come_from_the_staging_labels() {
        let some = |id: &str| Some(id.to_owned());
        assert_eq!(versions(&[]), (None, None));
        assert_eq!(
            versions(&[("v2", &["AWSPREVIOUS"]), ("v3", &["AWSCURRENT"])]),
            (some("v3"), None)
        );
        assert_eq!(
            versions(&[("v3", &["AWSCURRENT"]), ("v4", &["AWSPENDING"])]),
            (some("v3"), some("v4"))
        );
        // AWSPENDING left on the current version is not a rotation in progress.
        assert_eq!(
            versions(&[("v3", &["AWSCURRENT", "AWSPENDING"])]),
            (some("v3"), None)
        );
        // Labels AWS does not define are ignored.
        assert_eq!(versions(&[("v5", &["blue"])]), (None, None));
    }

    #[test]
    fn several_candidates_give_the_lowest_version_id_in_any_order() {
        let forward = versions(&[
            ("a", &["AWSPENDING"]),
            ("b", &["AWSPENDING"]),
            ("c", &["AWSCURRENT"]),
        ]);
        let backward = versions(&[
            ("c", &["AWSCURRENT"]),
            ("b", &["AWSPENDING"]),
            ("a", &["AWSPENDING"]),
        ]);
        assert_eq!(forward, (Some("c".into()), Some("a".into())));
        assert_eq!(backward, forward);
    }

    #[test]
    fn interned_text_is_one_allocation() {
        let mut shared = Interner::new();
        let first = shared.intern("arn:aws:kms:eu-west-1:111111111111:key/k");
        let again = shared.intern(&String::from("arn:aws:kms:eu-west-1:111111111111:key/k"));
        let other = shared.intern("team");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(&*other, "team");
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
