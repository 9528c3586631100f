//! Fleet files: the YAML form of a fleet, with times relative to now.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::assemble::{
    AccountDraft, DEFAULT_BASE_ACCOUNT, DEFAULT_REGION, Fleet, FleetError, PlacedSecret,
    add_organization_drafts, assemble,
};
use super::check::{check_account_id, check_secret_name};
use super::lambda::{
    LambdaPolicy, LambdaSpec, LambdaState, LastUpdateStatus, PlacedLambda, check_function_name,
};
use super::organization::{AccountState, OrgAccount, OrgUnit, Organization};
use super::spec::{RotationSpec, SecretSpec, VersionSpec};
use crate::time::parse_time;

impl Fleet {
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
    #[serde(default)]
    lambdas: Vec<LambdaFile>,
    #[serde(default)]
    organization: Option<OrganizationFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LambdaFile {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    name: String,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    state: LambdaState,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    state_reason_code: Option<String>,
    #[serde(default)]
    last_update_status: LastUpdateStatus,
    #[serde(default)]
    last_update_status_reason: Option<String>,
    #[serde(default)]
    last_update_status_reason_code: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    policy: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    last_modified: Option<String>,
}

/// What `policy:` may be: a policy document as a string, or `{ allow_secretsmanager: bool }`.
/// Read by hand rather than as an untagged enum, whose errors lose the field's path.
fn lambda_policy(value: Option<serde_yaml_ng::Value>) -> Result<LambdaPolicy, String> {
    use serde_yaml_ng::Value;
    let expected = "policy: expected a policy document as a string, or \
                    { allow_secretsmanager: true | false }";
    match value {
        None => Ok(LambdaPolicy::AllowSecretsManager),
        Some(Value::String(text)) => {
            if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                return Err("policy: not a JSON document".to_string());
            }
            Ok(LambdaPolicy::Document(text))
        }
        Some(Value::Mapping(map)) if map.len() == 1 => match map.get("allow_secretsmanager") {
            Some(Value::Bool(true)) => Ok(LambdaPolicy::AllowSecretsManager),
            Some(Value::Bool(false)) => Ok(LambdaPolicy::None),
            _ => Err(expected.to_string()),
        },
        Some(_) => Err(expected.to_string()),
    }
}

impl LambdaFile {
    fn into_spec(self, now: DateTime<Utc>) -> Result<LambdaSpec, String> {
        check_function_name(&self.name).map_err(|e| format!("name: {e}"))?;
        let mut spec = LambdaSpec::new(self.name);
        spec.last_modified = match &self.last_modified {
            Some(text) => parse_time(text, now).map_err(|e| format!("last_modified: {e}"))?,
            None => now,
        };
        if let Some(runtime) = self.runtime {
            spec.runtime = runtime;
        }
        spec.state = self.state;
        spec.state_reason = self.state_reason;
        spec.state_reason_code = self.state_reason_code;
        spec.last_update_status = self.last_update_status;
        spec.last_update_status_reason = self.last_update_status_reason;
        spec.last_update_status_reason_code = self.last_update_status_reason_code;
        spec.role = self.role;
        spec.policy = lambda_policy(self.policy)?;
        Ok(spec)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationFile {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    management_account: Option<String>,
    #[serde(default)]
    delegated_administrators: Vec<String>,
    #[serde(default)]
    root: Option<RootFile>,
    #[serde(default)]
    units: Vec<UnitFile>,
    #[serde(default)]
    accounts: Vec<OrgAccountFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootFile {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitFile {
    name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    units: Vec<UnitFile>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgAccountFile {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    state: Option<AccountState>,
    #[serde(default)]
    omit_state: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl OrganizationFile {
    fn into_spec(self) -> Organization {
        let root = self.root.unwrap_or(RootFile {
            id: None,
            name: None,
            tags: BTreeMap::new(),
        });
        Organization {
            id: self.id,
            management_account: self.management_account,
            delegated_administrators: self.delegated_administrators,
            root_id: root.id,
            root_name: root.name,
            root_tags: root.tags,
            units: self.units.into_iter().map(UnitFile::into_spec).collect(),
            accounts: self
                .accounts
                .into_iter()
                .map(|account| OrgAccount {
                    id: account.id,
                    name: account.name,
                    email: account.email,
                    state: account.state.unwrap_or_default(),
                    omit_state: account.omit_state,
                    tags: account.tags,
                })
                .collect(),
        }
    }
}

impl UnitFile {
    fn into_spec(self) -> OrgUnit {
        OrgUnit {
            name: self.name,
            id: self.id,
            accounts: self.accounts,
            units: self.units.into_iter().map(UnitFile::into_spec).collect(),
            tags: self.tags,
        }
    }
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

/// Where an entry of `section` goes: its account (default: the base account), which must be
/// listed, and its region (default: the account's first region, else the fleet's, else
/// us-east-1).
fn place(
    section: &str,
    index: usize,
    account: Option<String>,
    region: Option<String>,
    drafts: &[AccountDraft],
    base_account: &str,
    regions: &[String],
) -> Result<(String, String), String> {
    let account = account.unwrap_or_else(|| base_account.to_string());
    let Some(draft) = drafts.iter().find(|draft| draft.id == account) else {
        return Err(format!(
            "{section}[{index}].account: account {account} is not listed in accounts"
        ));
    };
    let region = region
        .or_else(|| draft.regions.as_ref().and_then(|r| r.first().cloned()))
        .or_else(|| regions.first().cloned())
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    Ok((account, region))
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
    #[serde(default, rename = "type")]
    secret_type: Option<String>,
    #[serde(default)]
    external_secret_rotation_metadata: BTreeMap<String, String>,
    #[serde(default)]
    external_secret_rotation_role_arn: Option<String>,
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
        let organization = self.organization.map(OrganizationFile::into_spec);
        add_organization_drafts(organization.as_ref(), &base_account, &mut drafts);
        let mut secrets = Vec::with_capacity(self.secrets.len());
        for (index, file) in self.secrets.into_iter().enumerate() {
            let (account, region) = place(
                "secrets",
                index,
                file.account.clone(),
                file.region.clone(),
                &drafts,
                &base_account,
                &regions,
            )?;
            let secret = file
                .into_spec(now)
                .map_err(|e| format!("secrets[{index}].{e}"))?;
            secrets.push(PlacedSecret {
                account,
                region,
                secret,
            });
        }
        let mut lambdas = Vec::with_capacity(self.lambdas.len());
        for (index, file) in self.lambdas.into_iter().enumerate() {
            let (account, region) = place(
                "lambdas",
                index,
                file.account.clone(),
                file.region.clone(),
                &drafts,
                &base_account,
                &regions,
            )?;
            let lambda = file
                .into_spec(now)
                .map_err(|e| format!("lambdas[{index}].{e}"))?;
            lambdas.push(PlacedLambda {
                account,
                region,
                lambda,
            });
        }
        assemble(
            base_account,
            regions,
            drafts,
            secrets,
            lambdas,
            organization,
        )
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
            secret_type: self.secret_type,
            external_secret_rotation_metadata: self
                .external_secret_rotation_metadata
                .into_iter()
                .collect(),
            external_secret_rotation_role_arn: self.external_secret_rotation_role_arn,
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
    use crate::fleet::AWSPENDING;

    use super::*;

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
        let fleet = Fleet::from_yaml_str(include_str!("../../fleets/example.yaml"), Utc::now())?;
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
    fn the_example_organization_fleet_parses() -> Result<(), FleetError> {
        let fleet =
            Fleet::from_yaml_str(include_str!("../../fleets/organization.yaml"), Utc::now())?;
        assert_eq!(fleet.organization_id(), Some("o-exampleorg1"));
        // The base account, the five members and the delegated administrator, all of them
        // accounts of the fleet though only one is listed under `accounts`.
        assert_eq!(fleet.accounts().len(), 7);
        let secret_accounts: Vec<&str> =
            fleet.secrets().iter().map(|p| p.account.as_str()).collect();
        assert_eq!(
            secret_accounts,
            ["123456789012", "111111111111", "222222222222"]
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
