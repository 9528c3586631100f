//! What the fleet is made of: accounts, and secrets with their versions and rotation settings.

use chrono::{DateTime, Duration, Utc};

/// One AWS account of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// The regions the account uses; never empty once the fleet is built.
    pub regions: Vec<String>,
    /// AssumeRole into this account answers `AccessDenied`.
    pub deny_assume_role: bool,
    /// When set, AssumeRole into this account must carry this `ExternalId`.
    pub external_id: Option<String>,
}

/// Rotation settings of a secret, as `RotateSecret` would have left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSpec {
    /// False keeps the rules on the secret, as AWS does after rotation is disabled.
    pub enabled: bool,
    pub lambda_arn: Option<String>,
    pub automatically_after_days: Option<i64>,
    pub schedule_expression: Option<String>,
    /// The rotation window, such as `3h`.
    pub duration: Option<String>,
}

impl RotationSpec {
    /// Enabled rotation every `days` days (`RotationRules.AutomaticallyAfterDays`).
    pub fn every_days(days: i64) -> Self {
        Self {
            enabled: true,
            lambda_arn: None,
            automatically_after_days: Some(days),
            schedule_expression: None,
            duration: None,
        }
    }

    /// Enabled rotation on a `rate(...)` or `cron(...)` schedule.
    pub fn schedule(expression: impl Into<String>) -> Self {
        Self {
            enabled: true,
            lambda_arn: None,
            automatically_after_days: None,
            schedule_expression: Some(expression.into()),
            duration: None,
        }
    }

    pub fn lambda(mut self, arn: impl Into<String>) -> Self {
        self.lambda_arn = Some(arn.into());
        self
    }

    pub fn window(mut self, duration: impl Into<String>) -> Self {
        self.duration = Some(duration.into());
        self
    }

    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The same rules with rotation turned off.
    pub fn disabled(self) -> Self {
        self.enabled(false)
    }
}

/// Staging label of the live version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Staging label of the version a rotation is creating.
pub const AWSPENDING: &str = "AWSPENDING";
/// Staging label of the version before the live one.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// One version of a secret's value (the value itself is never simulated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSpec {
    /// `None`: a deterministic UUID-shaped id is generated when the secret is stored.
    pub id: Option<String>,
    /// Staging labels; a version without any is deprecated.
    pub stages: Vec<String>,
    pub created: DateTime<Utc>,
    pub last_accessed: Option<DateTime<Utc>>,
}

impl VersionSpec {
    pub fn new<S: Into<String>>(
        stages: impl IntoIterator<Item = S>,
        created: DateTime<Utc>,
    ) -> Self {
        Self {
            id: None,
            stages: stages.into_iter().map(Into::into).collect(),
            created,
            last_accessed: None,
        }
    }

    pub fn current(created: DateTime<Utc>) -> Self {
        Self::new([AWSCURRENT], created)
    }

    pub fn previous(created: DateTime<Utc>) -> Self {
        Self::new([AWSPREVIOUS], created)
    }

    pub fn pending(created: DateTime<Utc>) -> Self {
        Self::new([AWSPENDING], created)
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn last_accessed(mut self, when: DateTime<Utc>) -> Self {
        self.last_accessed = Some(when);
        self
    }
}

/// A secret's metadata. A field left `None` is left out of the API answers, as AWS does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
    /// `None`: encrypted with the `aws/secretsmanager` key, so AWS sends no `KmsKeyId`.
    pub kms_key_id: Option<String>,
    /// In the order AWS returns them.
    pub tags: Vec<(String, String)>,
    pub owning_service: Option<String>,
    pub primary_region: Option<String>,
    /// `Type`: set only on managed external secrets, naming the partner that holds the value.
    pub secret_type: Option<String>,
    /// `ExternalSecretRotationMetadata` of a managed external secret, in the order AWS returns it.
    pub external_secret_rotation_metadata: Vec<(String, String)>,
    /// `ExternalSecretRotationRoleArn`: the role Secrets Manager assumes to rotate an external
    /// secret, which has no rotation Lambda.
    pub external_secret_rotation_role_arn: Option<String>,
    /// `None`: rotation never configured, so AWS sends no `RotationEnabled`.
    pub rotation: Option<RotationSpec>,
    pub last_rotated: Option<DateTime<Utc>>,
    pub last_changed: Option<DateTime<Utc>>,
    /// Served truncated to midnight UTC, as AWS keeps the date only.
    pub last_accessed: Option<DateTime<Utc>>,
    pub next_rotation: Option<DateTime<Utc>>,
    /// Set when the secret is scheduled for deletion.
    pub deleted: Option<DateTime<Utc>>,
    /// Empty: one `AWSCURRENT` version created at `last_rotated`, else at `created`.
    pub versions: Vec<VersionSpec>,
}

impl SecretSpec {
    /// A secret created now, with no tags, no rotation and the default key.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            created: Utc::now(),
            kms_key_id: None,
            tags: Vec::new(),
            owning_service: None,
            primary_region: None,
            secret_type: None,
            external_secret_rotation_metadata: Vec::new(),
            external_secret_rotation_role_arn: None,
            rotation: None,
            last_rotated: None,
            last_changed: None,
            last_accessed: None,
            next_rotation: None,
            deleted: None,
            versions: Vec::new(),
        }
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    pub fn created(mut self, when: DateTime<Utc>) -> Self {
        self.created = when;
        self
    }

    pub fn created_days_ago(self, days: i64) -> Self {
        self.created(Utc::now() - Duration::days(days))
    }

    pub fn kms_key_id(mut self, key: impl Into<String>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }

    /// Adds a tag, replacing the value of an existing tag with the same key.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.tags.iter_mut().find(|(existing, _)| *existing == key) {
            Some(tag) => tag.1 = value,
            None => self.tags.push((key, value)),
        }
        self
    }

    pub fn untag(mut self, key: &str) -> Self {
        self.tags.retain(|(existing, _)| existing != key);
        self
    }

    pub fn owning_service(mut self, service: impl Into<String>) -> Self {
        self.owning_service = Some(service.into());
        self
    }

    pub fn primary_region(mut self, region: impl Into<String>) -> Self {
        self.primary_region = Some(region.into());
        self
    }

    /// The `Type` of a managed external secret.
    pub fn secret_type(mut self, secret_type: impl Into<String>) -> Self {
        self.secret_type = Some(secret_type.into());
        self
    }

    /// Adds an item of `ExternalSecretRotationMetadata`, replacing one with the same key.
    pub fn external_secret_rotation_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        let (key, value) = (key.into(), value.into());
        let items = &mut self.external_secret_rotation_metadata;
        match items.iter_mut().find(|(existing, _)| *existing == key) {
            Some(item) => item.1 = value,
            None => items.push((key, value)),
        }
        self
    }

    pub fn external_secret_rotation_role_arn(mut self, arn: impl Into<String>) -> Self {
        self.external_secret_rotation_role_arn = Some(arn.into());
        self
    }

    pub fn rotation(mut self, rotation: RotationSpec) -> Self {
        self.rotation = Some(rotation);
        self
    }

    /// Turns configured rotation on or off, keeping its rules. A secret whose rotation was never
    /// configured gets 30-day rules.
    pub fn rotation_enabled(mut self, enabled: bool) -> Self {
        let rotation = self
            .rotation
            .take()
            .unwrap_or_else(|| RotationSpec::every_days(30));
        self.rotation = Some(rotation.enabled(enabled));
        self
    }

    pub fn last_rotated(mut self, when: DateTime<Utc>) -> Self {
        self.last_rotated = Some(when);
        self
    }

    pub fn last_rotated_days_ago(self, days: i64) -> Self {
        self.last_rotated(Utc::now() - Duration::days(days))
    }

    pub fn last_changed(mut self, when: DateTime<Utc>) -> Self {
        self.last_changed = Some(when);
        self
    }

    pub fn last_changed_days_ago(self, days: i64) -> Self {
        self.last_changed(Utc::now() - Duration::days(days))
    }

    pub fn last_accessed(mut self, when: DateTime<Utc>) -> Self {
        self.last_accessed = Some(when);
        self
    }

    pub fn last_accessed_days_ago(self, days: i64) -> Self {
        self.last_accessed(Utc::now() - Duration::days(days))
    }

    pub fn next_rotation(mut self, when: DateTime<Utc>) -> Self {
        self.next_rotation = Some(when);
        self
    }

    /// Negative values put the next rotation in the past, as after a failed rotation.
    pub fn next_rotation_in_days(self, days: i64) -> Self {
        self.next_rotation(Utc::now() + Duration::days(days))
    }

    pub fn deleted(mut self, when: DateTime<Utc>) -> Self {
        self.deleted = Some(when);
        self
    }

    pub fn deleted_days_ago(self, days: i64) -> Self {
        self.deleted(Utc::now() - Duration::days(days))
    }

    pub fn version(mut self, version: VersionSpec) -> Self {
        self.versions.push(version);
        self
    }

    pub fn versions(mut self, versions: impl IntoIterator<Item = VersionSpec>) -> Self {
        self.versions = versions.into_iter().collect();
        self
    }
}
