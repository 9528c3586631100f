//! The accounts, regions and secrets the simulator starts with, from a YAML file or a builder.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::time::parse_time;

/// A fleet that cannot be built or loaded; the text names the offending field.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read fleet file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

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

/// A secret together with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedSecret {
    pub account: String,
    pub region: String,
    pub secret: SecretSpec,
}

/// The simulated world: accounts with their regions and the secrets in each (account, region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    base_account: String,
    regions: Vec<String>,
    accounts: Vec<Account>,
    secrets: Vec<PlacedSecret>,
}

/// The region used when neither the fleet nor an account names any.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The base account when a fleet names none.
pub const DEFAULT_BASE_ACCOUNT: &str = "123456789012";

impl Fleet {
    pub fn builder() -> FleetBuilder {
        FleetBuilder::default()
    }

    /// Loads a fleet file; relative times count from now.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, FleetError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml_str(&text, Utc::now())
            .map_err(|error| FleetError::Invalid(format!("{}: {error}", path.display())))
    }

    /// Parses fleet YAML; relative times count from `now`.
    pub fn from_yaml_str(text: &str, now: DateTime<Utc>) -> Result<Self, FleetError> {
        // serde_yaml_ng already names the path of the offending field in its messages.
        let file: FleetFile = serde_yaml_ng::from_str(text)
            .map_err(|error| FleetError::Invalid(error.to_string()))?;
        file.into_fleet(now).map_err(FleetError::Invalid)
    }

    /// The account of the base credentials.
    pub fn base_account(&self) -> &str {
        &self.base_account
    }

    /// Default regions of every account.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// Every account, the base account included, with its effective regions.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn secrets(&self) -> &[PlacedSecret] {
        &self.secrets
    }

    pub(crate) fn into_parts(self) -> (String, Vec<Account>, Vec<PlacedSecret>) {
        (self.base_account, self.accounts, self.secrets)
    }
}

#[derive(Debug, Clone, Default)]
struct AccountDraft {
    id: String,
    regions: Option<Vec<String>>,
    deny_assume_role: bool,
    external_id: Option<String>,
    current_region: Option<String>,
}

/// Builds a [`Fleet`]. `account` and `region` select where the following `secret` calls put
/// their secrets:
///
/// ```
/// use simulator::{Fleet, RotationSpec, SecretSpec};
/// let fleet = Fleet::builder()
///     .base_account("123456789012")
///     .regions(["us-east-1", "eu-west-1"])
///     .account("111111111111")
///     .region("eu-west-1")
///     .secret(SecretSpec::new("payments/db").created_days_ago(400).tag("team", "payments"))
///     .secret(SecretSpec::new("payments/api").rotation(RotationSpec::every_days(30)))
///     .account("222222222222")
///     .deny_assume_role()
///     .build()?;
/// assert_eq!(fleet.secrets().len(), 2);
/// # Ok::<(), simulator::FleetError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct FleetBuilder {
    base_account: Option<String>,
    regions: Vec<String>,
    accounts: Vec<AccountDraft>,
    current_account: Option<usize>,
    secrets: Vec<PlacedSecret>,
}

impl FleetBuilder {
    /// The account of the base credentials; default `123456789012`.
    pub fn base_account(mut self, id: impl Into<String>) -> Self {
        self.base_account = Some(id.into());
        self
    }

    /// Default regions of every account; default `us-east-1`.
    pub fn regions<S: Into<String>>(mut self, regions: impl IntoIterator<Item = S>) -> Self {
        self.regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// Selects the account (adding it if new) for the calls that follow.
    pub fn account(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        let index = match self.accounts.iter().position(|draft| draft.id == id) {
            Some(index) => index,
            None => {
                self.accounts.push(AccountDraft {
                    id,
                    ..AccountDraft::default()
                });
                self.accounts.len() - 1
            }
        };
        self.current_account = Some(index);
        self
    }

    /// The selected account's regions, replacing the fleet default for it.
    pub fn account_regions<S: Into<String>>(
        mut self,
        regions: impl IntoIterator<Item = S>,
    ) -> Self {
        let regions = regions.into_iter().map(Into::into).collect();
        self.current_draft().regions = Some(regions);
        self
    }

    /// AssumeRole into the selected account answers `AccessDenied`.
    pub fn deny_assume_role(mut self) -> Self {
        self.current_draft().deny_assume_role = true;
        self
    }

    /// AssumeRole into the selected account must carry this `ExternalId`.
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.current_draft().external_id = Some(external_id.into());
        self
    }

    /// Selects the region of the following secrets in the selected account.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.current_draft().current_region = Some(region.into());
        self
    }

    /// Adds a secret to the selected account and region.
    pub fn secret(mut self, secret: SecretSpec) -> Self {
        let (account, region) = self.placement();
        self.secrets.push(PlacedSecret {
            account,
            region,
            secret,
        });
        self
    }

    /// Adds many secrets to the selected account and region.
    pub fn secrets(mut self, secrets: impl IntoIterator<Item = SecretSpec>) -> Self {
        let (account, region) = self.placement();
        self.secrets
            .extend(secrets.into_iter().map(|secret| PlacedSecret {
                account: account.clone(),
                region: region.clone(),
                secret,
            }));
        self
    }

    /// Adds a secret to an explicit account and region, whatever is selected.
    pub fn secret_in(
        mut self,
        account: impl Into<String>,
        region: impl Into<String>,
        secret: SecretSpec,
    ) -> Self {
        let account = account.into();
        let selected = self.current_account;
        self = self.account(account.clone());
        self.current_account = selected;
        self.secrets.push(PlacedSecret {
            account,
            region: region.into(),
            secret,
        });
        self
    }

    pub fn build(self) -> Result<Fleet, FleetError> {
        let base_account = self
            .base_account
            .unwrap_or_else(|| DEFAULT_BASE_ACCOUNT.to_string());
        let regions = if self.regions.is_empty() {
            vec![DEFAULT_REGION.to_string()]
        } else {
            self.regions
        };
        let mut drafts = self.accounts;
        if !drafts.iter().any(|draft| draft.id == base_account) {
            drafts.insert(
                0,
                AccountDraft {
                    id: base_account.clone(),
                    ..AccountDraft::default()
                },
            );
        }
        assemble(base_account, regions, drafts, self.secrets).map_err(FleetError::Invalid)
    }

    fn current_draft(&mut self) -> &mut AccountDraft {
        let index = match self.current_account {
            Some(index) => index,
            None => {
                let base = self
                    .base_account
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BASE_ACCOUNT.to_string());
                let index = match self.accounts.iter().position(|draft| draft.id == base) {
                    Some(index) => index,
                    None => {
                        self.accounts.push(AccountDraft {
                            id: base,
                            ..AccountDraft::default()
                        });
                        self.accounts.len() - 1
                    }
                };
                self.current_account = Some(index);
                index
            }
        };
        &mut self.accounts[index]
    }

    fn placement(&mut self) -> (String, String) {
        let default_region = self
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let draft = self.current_draft();
        let region = draft
            .current_region
            .clone()
            .or_else(|| draft.regions.as_ref().and_then(|r| r.first().cloned()))
            .unwrap_or(default_region);
        (draft.id.clone(), region)
    }
}

/// Checks a fleet and settles each account's regions: its own list or the fleet default, plus
/// any region holding one of its secrets.
fn assemble(
    base_account: String,
    regions: Vec<String>,
    drafts: Vec<AccountDraft>,
    secrets: Vec<PlacedSecret>,
) -> Result<Fleet, String> {
    check_account_id(&base_account).map_err(|e| format!("base_account: {e}"))?;
    for region in &regions {
        check_region(region).map_err(|e| format!("regions: {e}"))?;
    }
    let mut accounts: Vec<Account> = Vec::with_capacity(drafts.len());
    for draft in drafts {
        check_account_id(&draft.id).map_err(|e| format!("accounts: {e}"))?;
        if accounts.iter().any(|account| account.id == draft.id) {
            return Err(format!("accounts: account {} is listed twice", draft.id));
        }
        let account_regions = draft.regions.unwrap_or_else(|| regions.clone());
        if account_regions.is_empty() {
            return Err(format!("accounts: account {} has no regions", draft.id));
        }
        for region in &account_regions {
            check_region(region).map_err(|e| format!("accounts: account {}: {e}", draft.id))?;
        }
        accounts.push(Account {
            id: draft.id,
            regions: account_regions,
            deny_assume_role: draft.deny_assume_role,
            external_id: draft.external_id,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(secrets.len());
    for placed in &secrets {
        let where_ = format!(
            "secret {} in {}/{}",
            placed.secret.name, placed.account, placed.region
        );
        check_secret_name(&placed.secret.name).map_err(|e| format!("{where_}: {e}"))?;
        check_region(&placed.region).map_err(|e| format!("{where_}: {e}"))?;
        let Some(account) = accounts.iter_mut().find(|a| a.id == placed.account) else {
            return Err(format!(
                "{where_}: account {} is not in the fleet",
                placed.account
            ));
        };
        if !account.regions.contains(&placed.region) {
            account.regions.push(placed.region.clone());
        }
        if !seen.insert((&placed.account, &placed.region, &placed.secret.name)) {
            return Err(format!("{where_}: the name is used twice"));
        }
    }
    Ok(Fleet {
        base_account,
        regions,
        accounts,
        secrets,
    })
}

pub(crate) fn check_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("`{id}` is not a 12-digit AWS account id"))
    }
}

fn check_region(region: &str) -> Result<(), String> {
    let shaped = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-');
    if shaped {
        Ok(())
    } else {
        Err(format!("`{region}` is not a region name such as us-east-1"))
    }
}

/// Secrets Manager allows 1 to 512 of ASCII letters, digits and `/_+=.@-`, and `!` in the names
/// of secrets other services manage (`rds!db-...`).
pub(crate) fn check_secret_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c);
    if name.is_empty() || name.len() > 512 {
        Err(format!("name `{name}` must be 1 to 512 characters"))
    } else if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        Err(format!(
            "name `{name}` has `{bad}`; only ASCII letters, digits and /_+=.@-! are allowed"
        ))
    } else {
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    base_account: Option<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    accounts: Vec<AccountFile>,
    #[serde(default)]
    secrets: Vec<SecretFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    id: String,
    #[serde(default)]
    regions: Option<Vec<String>>,
    #[serde(default)]
    deny_assume_role: bool,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationFile {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    lambda_arn: Option<String>,
    #[serde(default)]
    automatically_after_days: Option<i64>,
    #[serde(default)]
    schedule_expression: Option<String>,
    #[serde(default)]
    duration: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionFile {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    stages: Vec<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    last_accessed: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretFile {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    owning_service: Option<String>,
    #[serde(default)]
    primary_region: Option<String>,
    #[serde(default)]
    rotation: Option<RotationFile>,
    #[serde(default)]
    last_rotated: Option<String>,
    #[serde(default)]
    last_changed: Option<String>,
    #[serde(default)]
    last_accessed: Option<String>,
    #[serde(default)]
    next_rotation: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
    #[serde(default)]
    versions: Vec<VersionFile>,
}

impl FleetFile {
    fn into_fleet(self, now: DateTime<Utc>) -> Result<Fleet, String> {
        let base_account = self
            .base_account
            .unwrap_or_else(|| DEFAULT_BASE_ACCOUNT.to_string());
        check_account_id(&base_account).map_err(|e| format!("base_account: {e}"))?;
        let regions = if self.regions.is_empty() {
            vec![DEFAULT_REGION.to_string()]
        } else {
            self.regions
        };
        let mut drafts = Vec::with_capacity(self.accounts.len() + 1);
        for (index, account) in self.accounts.into_iter().enumerate() {
            check_account_id(&account.id).map_err(|e| format!("accounts[{index}].id: {e}"))?;
            if matches!(&account.regions, Some(r) if r.is_empty()) {
                return Err(format!("accounts[{index}].regions: must not be empty"));
            }
            drafts.push(AccountDraft {
                id: account.id,
                regions: account.regions,
                deny_assume_role: account.deny_assume_role,
                external_id: account.external_id,
                current_region: None,
            });
        }
        if !drafts.iter().any(|draft| draft.id == base_account) {
            drafts.insert(
                0,
                AccountDraft {
                    id: base_account.clone(),
                    ..AccountDraft::default()
                },
            );
        }
        let mut secrets = Vec::with_capacity(self.secrets.len());
        for (index, file) in self.secrets.into_iter().enumerate() {
            let account = file.account.clone().unwrap_or_else(|| base_account.clone());
            let Some(draft) = drafts.iter().find(|draft| draft.id == account) else {
                return Err(format!(
                    "secrets[{index}].account: account {account} is not listed in accounts"
                ));
            };
            let region = file
                .region
                .clone()
                .or_else(|| draft.regions.as_ref().and_then(|r| r.first().cloned()))
                .or_else(|| regions.first().cloned())
                .unwrap_or_else(|| DEFAULT_REGION.to_string());
            let secret = file
                .into_spec(now)
                .map_err(|e| format!("secrets[{index}].{e}"))?;
            secrets.push(PlacedSecret {
                account,
                region,
                secret,
            });
        }
        assemble(base_account, regions, drafts, secrets)
    }
}

impl SecretFile {
    fn into_spec(self, now: DateTime<Utc>) -> Result<SecretSpec, String> {
        let time = |field: &str, text: &Option<String>| -> Result<Option<DateTime<Utc>>, String> {
            text.as_deref()
                .map(|t| parse_time(t, now).map_err(|e| format!("{field}: {e}")))
                .transpose()
        };
        check_secret_name(&self.name).map_err(|e| format!("name: {e}"))?;
        let created = time("created", &self.created)?.unwrap_or(now);
        let mut versions = Vec::with_capacity(self.versions.len());
        for (index, version) in self.versions.iter().enumerate() {
            let field = |name: &str| format!("versions[{index}].{name}");
            versions.push(VersionSpec {
                id: version.id.clone(),
                stages: version.stages.clone(),
                created: time(&field("created"), &version.created)?.unwrap_or(created),
                last_accessed: time(&field("last_accessed"), &version.last_accessed)?,
            });
        }
        let rotation = self.rotation.map(|rotation| RotationSpec {
            enabled: rotation.enabled,
            lambda_arn: rotation.lambda_arn,
            automatically_after_days: rotation.automatically_after_days,
            schedule_expression: rotation.schedule_expression,
            duration: rotation.duration,
        });
        Ok(SecretSpec {
            name: self.name,
            description: self.description,
            created,
            kms_key_id: self.kms_key_id,
            tags: self.tags.into_iter().collect(),
            owning_service: self.owning_service,
            primary_region: self.primary_region,
            rotation,
            last_rotated: time("last_rotated", &self.last_rotated)?,
            last_changed: time("last_changed", &self.last_changed)?,
            last_accessed: time("last_accessed", &self.last_accessed)?,
            next_rotation: time("next_rotation", &self.next_rotation)?,
            deleted: time("deleted", &self.deleted)?,
            versions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_places_secrets_in_the_selected_account_and_region() -> Result<(), FleetError> {
        let fleet = Fleet::builder()
            .base_account("123456789012")
            .regions(["us-east-1", "eu-west-1"])
            .secret(SecretSpec::new("base-secret"))
            .account("111111111111")
            .region("eu-west-1")
            .secret(SecretSpec::new("in-eu"))
            .region("ap-south-1")
            .secret(SecretSpec::new("in-ap"))
            .account("222222222222")
            .account_regions(["us-west-2"])
            .deny_assume_role()
            .secret(SecretSpec::new("in-west"))
            .build()?;
        let placed: Vec<_> = fleet
            .secrets()
            .iter()
            .map(|p| {
                (
                    p.account.as_str(),
                    p.region.as_str(),
                    p.secret.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("123456789012", "us-east-1", "base-secret"),
                ("111111111111", "eu-west-1", "in-eu"),
                ("111111111111", "ap-south-1", "in-ap"),
                ("222222222222", "us-west-2", "in-west"),
            ]
        );
        let account = |id: &str| fleet.accounts().iter().find(|a| a.id == id).cloned();
        assert_eq!(
            account("111111111111").map(|a| a.regions),
            Some(vec![
                "us-east-1".to_string(),
                "eu-west-1".to_string(),
                "ap-south-1".to_string()
            ])
        );
        assert_eq!(
            account("222222222222").map(|a| a.deny_assume_role),
            Some(true)
        );
        Ok(())
    }

    #[test]
    fn duplicate_names_in_one_account_region_are_rejected() {
        let error = Fleet::builder()
            .secret(SecretSpec::new("twice"))
            .secret(SecretSpec::new("twice"))
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("twice") && error.contains("used twice"),
            "{error}"
        );
    }

    #[test]
    fn bad_account_ids_and_names_are_rejected() {
        let error = Fleet::builder()
            .account("1234")
            .build()
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("`1234` is not a 12-digit")));
        let error = Fleet::builder()
            .secret(SecretSpec::new("has space"))
            .build()
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("has ` `")));
    }

    #[test]
    fn yaml_errors_name_their_path() {
        let now = Utc::now();
        let cases = [
            (
                "secrets:\n  - name: a\n    colour: red\n",
                "secrets[0]: unknown field `colour`",
            ),
            (
                "secrets:\n  - name: a\n    created: yesterday\n",
                "secrets[0].created: `yesterday`",
            ),
            (
                "secrets:\n  - name: a\n    versions:\n      - created: -1x\n",
                "secrets[0].versions[0].created: `-1x`",
            ),
            (
                "secrets:\n  - name: a\n    account: \"999999999999\"\n",
                "secrets[0].account: account 999999999999 is not listed",
            ),
            (
                "accounts:\n  - id: \"12\"\n",
                "accounts[0].id: `12` is not a 12-digit",
            ),
            (
                "accounts:\n  - id: \"111111111111\"\n    regions: []\n",
                "accounts[0].regions: must not be empty",
            ),
        ];
        for (yaml, expected) in cases {
            let error = Fleet::from_yaml_str(yaml, now)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.starts_with(expected), "{yaml}\n=> {error}");
        }
    }

    #[test]
    fn the_example_fleet_parses_and_covers_every_kind_of_secret() -> Result<(), FleetError> {
        let fleet = Fleet::from_yaml_str(include_str!("../fleets/example.yaml"), Utc::now())?;
        let secrets = fleet.secrets();
        assert_eq!(fleet.accounts().len(), 4);
        assert!(fleet.accounts().iter().any(|a| a.deny_assume_role));
        assert!(secrets.iter().any(|p| p.secret.rotation.is_none()));
        assert!(
            secrets
                .iter()
                .any(|p| p.secret.rotation.as_ref().is_some_and(|r| !r.enabled))
        );
        assert!(secrets.iter().any(|p| p.secret.deleted.is_some()));
        assert!(secrets.iter().any(|p| p.secret.tags.is_empty()));
        assert!(secrets.iter().any(|p| p.secret.owning_service.is_some()));
        assert!(secrets.iter().any(|p| p.region == "eu-west-1"));
        assert!(
            secrets
                .iter()
                .any(|p| p.secret.versions.iter().any(|v| v.stages == [AWSPENDING]))
        );
        Ok(())
    }

    #[test]
    fn yaml_defaults_follow_the_base_account_and_first_region() -> Result<(), FleetError> {
        let now = Utc::now();
        let yaml = r#"
base_account: "123456789012"
regions: [eu-west-1, us-east-1]
accounts:
  - id: "111111111111"
    regions: [ap-south-1]
secrets:
  - name: base
  - name: other
    account: "111111111111"
    rotation: { automatically_after_days: 7 }
"#;
        let fleet = Fleet::from_yaml_str(yaml, now)?;
        let placed: Vec<_> = fleet
            .secrets()
            .iter()
            .map(|p| (p.account.as_str(), p.region.as_str()))
            .collect();
        assert_eq!(
            placed,
            [
                ("123456789012", "eu-west-1"),
                ("111111111111", "ap-south-1")
            ]
        );
        let rotation = fleet.secrets()[1].secret.rotation.clone();
        assert_eq!(rotation, Some(RotationSpec::every_days(7)));
        assert_eq!(fleet.secrets()[0].secret.created, now);
        Ok(())
    }
}
