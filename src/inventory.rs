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

/// Who rotates a secret, as far as `ListSecrets` tells: the closed set of
/// values of the `rotation_type` label. It says who would rotate the secret,
/// whether or not rotation is on; [`SecretRecord::rotation_type`] derives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RotationType {
    /// A Lambda function the account owns (`RotationLambdaARN`).
    Lambda,
    /// The AWS service that owns the secret (`OwningService`, for example
    /// RDS for its `rds!` secrets), with no Lambda in the account.
    Service,
    /// Secrets Manager's managed rotation of a managed external secret, held
    /// by a partner (Salesforce, Snowflake, ...) and rotated with a role of
    /// the account.
    External,
    /// Nothing is set up to rotate it.
    None,
}

impl RotationType {
    pub const ALL: [RotationType; 4] = [
        RotationType::Lambda,
        RotationType::Service,
        RotationType::External,
        RotationType::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Lambda => "lambda",
            RotationType::Service => "service",
            RotationType::External => "external",
            RotationType::None => "none",
        }
    }
}

impl Serialize for RotationType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
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
    /// `Type`: the partner secret type of a managed external secret, for
    /// example `SalesforceClientSecret`; absent on every other secret.
    pub secret_type: Option<Arc<str>>,
    /// `ExternalSecretRotationRoleArn`: the role Secrets Manager assumes to
    /// rotate a managed external secret, where others have a Lambda.
    pub external_rotation_role_arn: Option<Arc<str>>,
    /// Whether `ExternalSecretRotationMetadata` listed any item. The items
    /// themselves (partner-specific, up to 2 KiB each) are not kept: only
    /// their presence says anything the exporter uses.
    pub external_rotation_metadata: bool,
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
    /// The version that carries `AWSPREVIOUS` without `AWSCURRENT`: the value
    /// the last rotation replaced.
    pub previous_version: Option<Box<str>>,
    /// When the previous version was last read, for a secret whose
    /// rotation is on; `None` where `previous_version_read` does not apply.
    pub previous_version_access: Option<PreviousVersionAccess>,
    /// What is known of the rotation Lambda, for a secret rotated by one
    /// with rotation on; `None` where `rotation_lambda` does not apply.
    pub rotation_function: Option<RotationFunction>,
    /// The RDS database whose master password this secret holds
    /// (`MasterUserSecret`), when RDS is inventoried and lists it.
    pub database: Option<Arc<str>>,
}

/// When the `AWSPREVIOUS` version was last read, from `ListSecretVersionIds`
/// (looked up at most once a day: the date it gives has no time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviousVersionAccess {
    Known {
        /// The day (00:00 UTC) the version was last read; `None`: never.
        last_accessed: Option<DateTime<Utc>>,
        /// When the `AWSCURRENT` version that replaced it was created.
        replaced_at: Option<DateTime<Utc>>,
    },
    /// The lookup was not made yet, or failed.
    Unknown(Unknown),
}

/// What the exporter knows of a secret's rotation Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationFunction {
    Known(Arc<LambdaFacts>),
    /// Not read yet, the read failed, or the function lives in an account
    /// the reader role cannot see (`access_denied`).
    Unknown(Unknown),
}

/// A rotation Lambda as `GetFunctionConfiguration` and `GetPolicy` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LambdaFacts {
    /// `ResourceNotFoundException`: the function (or the version or alias
    /// the ARN names) does not exist.
    Missing,
    Found(FunctionFacts),
}

/// The fields of a function the check reads; texts are cut to
/// [`MAX_FUNCTION_TEXT_BYTES`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FunctionFacts {
    /// `State`: `Active`, `Pending`, `Inactive` or `Failed`.
    pub state: Option<String>,
    pub state_reason: Option<String>,
    /// `LastUpdateStatus`: `Successful`, `Failed` or `InProgress`.
    pub last_update_status: Option<String>,
    pub last_update_status_reason: Option<String>,
    /// `Runtime`; absent for a container image function.
    pub runtime: Option<String>,
    /// Whether the resource policy lets `secretsmanager.amazonaws.com`
    /// invoke the function; false without a policy.
    pub secrets_manager_may_invoke: bool,
}

/// The longest text kept of a function's state, reasons and runtime: AWS
/// sends short values; only a malformed answer is cut.
pub const MAX_FUNCTION_TEXT_BYTES: usize = 1_024;

/// `text` cut to at most `max` bytes on a character boundary: a value
/// longer than any valid one is still kept, without letting one answer
/// hold an unbounded string.
pub fn bounded_text(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or_default()
}

impl SecretRecord {
    /// Who rotates the secret. When the fields of several kinds are set,
    /// the most specific wins: `external`, then `service`, then `lambda`.
    /// A managed external secret is rotated by Secrets Manager with its
    /// role, and a secret an AWS service owns by that service (Secrets
    /// Manager refuses to change its rotation); a `RotationLambdaARN` left
    /// on either from an earlier set-up is never invoked. Empty values count
    /// as absent.
    pub fn rotation_type(&self) -> RotationType {
        let set = |text: &Option<Arc<str>>| text.as_deref().is_some_and(|text| !text.is_empty());
        if set(&self.secret_type)
            || set(&self.external_rotation_role_arn)
            || self.external_rotation_metadata
        {
            RotationType::External
        } else if set(&self.owning_service) {
            RotationType::Service
        } else if set(&self.rotation_lambda_arn) {
            RotationType::Lambda
        } else {
            RotationType::None
        }
    }

    /// Whether `rotation_lambda` applies: rotation is on and a Lambda of the
    /// account rotates the secret (not its owning service, nor Secrets
    /// Manager's managed rotation of an external secret).
    pub fn rotated_by_lambda(&self) -> bool {
        self.rotation_enabled
            && self.deleted.is_none()
            && self.rotation_type() == RotationType::Lambda
    }

    /// Whether `previous_version_read` applies: rotation is on and a
    /// version carries `AWSPREVIOUS`.
    pub fn has_rotated_previous_version(&self) -> bool {
        self.rotation_enabled && self.deleted.is_none() && self.previous_version.is_some()
    }

    /// The version id that carries `AWSPREVIOUS` without `AWSCURRENT`, if any.
    pub fn previous_version_id(&self) -> Option<&str> {
        self.previous_version.as_deref()
    }

    /// The day the previous version was last read, when known.
    pub fn previous_version_last_accessed(&self) -> Option<DateTime<Utc>> {
        match self.previous_version_access {
            Some(PreviousVersionAccess::Known { last_accessed, .. }) => last_accessed,
            _ => None,
        }
    }

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
        let mut previous: Option<&str> = None;
        let lowest =
            |held: Option<&'a str>, id: &'a str| Some(held.map_or(id, |held| held.min(id)));
        for (id, stages) in versions {
            let (mut is_current, mut is_pending, mut is_previous) = (false, false, false);
            for stage in stages {
                is_current |= stage == "AWSCURRENT";
                is_pending |= stage == "AWSPENDING";
                is_previous |= stage == "AWSPREVIOUS";
            }
            if is_current {
                current = lowest(current, id);
            } else {
                if is_pending {
                    pending = lowest(pending, id);
                }
                if is_previous {
                    previous = lowest(previous, id);
                }
            }
        }
        self.current_version = current.map(Box::from);
        self.pending_version = pending.map(Box::from);
        self.previous_version = previous.map(Box::from);
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

    fn with(edit: impl FnOnce(&mut SecretRecord)) -> SecretRecord {
        let mut record = SecretRecord::default();
        edit(&mut record);
        record
    }

    const LAMBDA: &str = "arn:aws:lambda:us-east-1:111111111111:function:rotate";
    const ROLE: &str = "arn:aws:iam::111111111111:role/salesforce-rotation";

    #[test]
    fn rotation_type_of_each_kind_alone() {
        assert_eq!(SecretRecord::default().rotation_type(), RotationType::None);
        let lambda = with(|r| r.rotation_lambda_arn = Some(LAMBDA.into()));
        assert_eq!(lambda.rotation_type(), RotationType::Lambda);
        let service = with(|r| r.owning_service = Some("rds".into()));
        assert_eq!(service.rotation_type(), RotationType::Service);
        // Any one of the three external fields is enough.
        let typed = with(|r| r.secret_type = Some("SalesforceClientSecret".into()));
        let role = with(|r| r.external_rotation_role_arn = Some(ROLE.into()));
        let metadata = with(|r| r.external_rotation_metadata = true);
        for external in [typed, role, metadata] {
            assert_eq!(external.rotation_type(), RotationType::External);
        }
    }

    #[test]
    fn rotation_type_precedence_is_external_then_service_then_lambda() {
        let everything = with(|r| {
            r.rotation_lambda_arn = Some(LAMBDA.into());
            r.owning_service = Some("rds".into());
            r.secret_type = Some("SnowflakeKeyPairAuthentication".into());
        });
        assert_eq!(everything.rotation_type(), RotationType::External);
        let managed_with_old_lambda = with(|r| {
            r.rotation_lambda_arn = Some(LAMBDA.into());
            r.owning_service = Some("rds".into());
        });
        assert_eq!(
            managed_with_old_lambda.rotation_type(),
            RotationType::Service
        );
    }

    #[test]
    fn rotation_type_ignores_whether_rotation_is_on_and_empty_values() {
        let off = with(|r| {
            r.rotation_enabled = false;
            r.rotation_lambda_arn = Some(LAMBDA.into());
        });
        assert_eq!(off.rotation_type(), RotationType::Lambda);
        let on = with(|r| r.rotation_enabled = true);
        assert_eq!(on.rotation_type(), RotationType::None);
        let empty = with(|r| {
            r.secret_type = Some("".into());
            r.external_rotation_role_arn = Some("".into());
            r.owning_service = Some("".into());
            r.rotation_lambda_arn = Some(LAMBDA.into());
        });
        assert_eq!(empty.rotation_type(), RotationType::Lambda);
    }

    #[test]
    fn rotation_type_labels_are_distinct_and_serialize_as_labels() {
        let labels: HashSet<&str> = RotationType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(labels.len(), RotationType::ALL.len());
        assert_eq!(
            serde_json::to_string(&RotationType::External)
                .ok()
                .as_deref(),
            Some("\"external\"")
        );
    }

    #[test]
    fn records_differing_only_in_external_fields_are_not_equal() {
        // The poller keeps the record of the last poll when it equals the
        // new one; a change of rotation type must not be lost that way.
        let plain = SecretRecord::default();
        for changed in [
            with(|r| r.secret_type = Some("DatadogApiKey".into())),
            with(|r| r.external_rotation_role_arn = Some(ROLE.into())),
            with(|r| r.external_rotation_metadata = true),
        ] {
            assert_ne!(changed, plain);
        }
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
