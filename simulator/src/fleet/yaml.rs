//! Fleet files: the YAML form of a fleet, with times relative to now.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::assemble::{
    AccountDraft, DEFAULT_BASE_ACCOUNT, DEFAULT_REGION, Extras, Fleet, FleetError, PlacedSecret,
    add_organization_drafts, assemble,
};
use super::check::{check_account_id, check_secret_name};
use super::ec2::{EndpointSpec, EndpointState, EndpointType, PlacedVpc, VpcSpec};
use super::lambda::{
    LambdaPolicy, LambdaSpec, LambdaState, LastUpdateStatus, PlacedLambda, check_function_name,
};
use super::organization::{AccountState, OrgAccount, OrgUnit, Organization};
use super::rds::{DatabaseKind, DatabaseSpec, PlacedDatabase};
use super::spec::{RotationSpec, SecretSpec, VersionSpec};
use super::ssm::{
    ParameterPolicy, ParameterSpec, ParameterTier, ParameterType, PlacedParameter, PolicyKind,
    PolicyStatus, PolicyUnit, check_parameter,
};
use crate::state::{Fault, FaultRule};
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
    parameters: Vec<ParameterFile>,
    #[serde(default)]
    databases: Vec<DatabaseFile>,
    #[serde(default)]
    vpcs: Vec<VpcFile>,
    #[serde(default)]
    faults: Vec<FaultFile>,
    #[serde(default)]
    ssm: SsmFile,
    #[serde(default)]
    organization: Option<OrganizationFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SsmFile {
    #[serde(default)]
    short_pages: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterFile {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    name: String,
    #[serde(default, rename = "type")]
    parameter_type: ParameterType,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    tier: ParameterTier,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    last_modified_user: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    data_type: Option<String>,
    #[serde(default)]
    allowed_pattern: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    policies: Vec<PolicyFile>,
}

/// `{ type: Expiration, timestamp: +30d }`, `{ type: ExpirationNotification, before: 15,
/// unit: Days }` or `{ type: NoChangeNotification, after: 20, unit: Days }`, each with an optional
/// `status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(rename = "type")]
    kind: PolicyType,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    before: Option<u32>,
    #[serde(default)]
    after: Option<u32>,
    #[serde(default)]
    unit: PolicyUnit,
    #[serde(default)]
    status: Option<PolicyStatus>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum PolicyType {
    Expiration,
    ExpirationNotification,
    NoChangeNotification,
}

impl PolicyFile {
    fn into_policy(self, now: DateTime<Utc>) -> Result<ParameterPolicy, String> {
        let kind = match (self.kind, self.timestamp, self.before, self.after) {
            (PolicyType::Expiration, Some(text), None, None) => PolicyKind::Expiration(
                parse_time(&text, now).map_err(|e| format!("timestamp: {e}"))?,
            ),
            (PolicyType::ExpirationNotification, None, Some(before), None) => {
                PolicyKind::ExpirationNotification {
                    before,
                    unit: self.unit,
                }
            }
            (PolicyType::NoChangeNotification, None, None, Some(after)) => {
                PolicyKind::NoChangeNotification {
                    after,
                    unit: self.unit,
                }
            }
            _ => {
                return Err(
                    "type: an Expiration policy takes `timestamp`, an ExpirationNotification \
                            `before` and a NoChangeNotification `after`, and nothing else"
                        .to_string(),
                );
            }
        };
        Ok(ParameterPolicy {
            kind,
            status: self.status,
        })
    }
}

impl ParameterFile {
    fn into_spec(self, now: DateTime<Utc>) -> Result<ParameterSpec, String> {
        let mut spec = ParameterSpec::new(self.name);
        spec.last_modified = match &self.last_modified {
            Some(text) => parse_time(text, now).map_err(|e| format!("last_modified: {e}"))?,
            None => now,
        };
        spec.parameter_type = self.parameter_type;
        spec.key_id = self.key_id;
        spec.tier = self.tier;
        spec.last_modified_user = self.last_modified_user;
        spec.description = self.description;
        if let Some(version) = self.version {
            spec.version = version;
        }
        if let Some(data_type) = self.data_type {
            spec.data_type = data_type;
        }
        spec.allowed_pattern = self.allowed_pattern;
        spec.tags = self.tags.into_iter().collect();
        for (index, policy) in self.policies.into_iter().enumerate() {
            spec.policies.push(
                policy
                    .into_policy(now)
                    .map_err(|e| format!("policies[{index}].{e}"))?,
            );
        }
        check_parameter(&spec)?;
        Ok(spec)
    }
}

/// A fault rule the simulator starts with; unset filters match everything, as in [`FaultRule`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    error: FaultKind,
    /// For `error: delay`.
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    times: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Throttling,
    AccessDenied,
    InternalError,
    Delay,
    RepeatNextToken,
    EndlessNextToken,
    DuplicateEntry,
    MalformedBody,
}

impl FaultFile {
    fn into_rule(self) -> Result<FaultRule, String> {
        let error = match (self.error, self.delay_ms) {
            (FaultKind::Delay, Some(ms)) => Fault::Delay(std::time::Duration::from_millis(ms)),
            (FaultKind::Delay, None) => return Err("delay_ms: a delay needs it".to_string()),
            (_, Some(_)) => return Err("delay_ms: only for `error: delay`".to_string()),
            (FaultKind::Throttling, None) => Fault::Throttling,
            (FaultKind::AccessDenied, None) => Fault::AccessDenied,
            (FaultKind::InternalError, None) => Fault::InternalError,
            (FaultKind::RepeatNextToken, None) => Fault::RepeatNextToken,
            (FaultKind::EndlessNextToken, None) => Fault::EndlessNextToken,
            (FaultKind::DuplicateEntry, None) => Fault::DuplicateEntry,
            (FaultKind::MalformedBody, None) => Fault::MalformedBody,
        };
        Ok(FaultRule {
            service: self.service,
            operation: self.operation,
            account: self.account,
            region: self.region,
            error,
            remaining: self.times,
        })
    }
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
    /// Every SSM request of the account answers `AccessDeniedException`.
    #[serde(default)]
    deny_ssm: bool,
    /// Every RDS request of the account answers `AccessDenied`.
    #[serde(default)]
    deny_rds: bool,
    /// Every EC2 request of the account answers `UnauthorizedOperation`.
    #[serde(default)]
    deny_ec2: bool,
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

/// An entry of a section whose `account` and `region` say where it goes.
trait Located {
    /// Takes the entry's `account` and `region`.
    fn take_location(&mut self) -> (Option<String>, Option<String>);
}

macro_rules! located {
    ($($file:ty),*) => {$(
        impl Located for $file {
            fn take_location(&mut self) -> (Option<String>, Option<String>) {
                (self.account.take(), self.region.take())
            }
        }
    )*};
}

located!(SecretFile, LambdaFile, ParameterFile, DatabaseFile, VpcFile);

/// What places the entries of the sections: the accounts listed and the fleet's defaults.
struct Placer<'a> {
    drafts: &'a [AccountDraft],
    base_account: &'a str,
    regions: &'a [String],
}

impl Placer<'_> {
    /// Where an entry of `section` goes: its account (default: the base account), which must be
    /// listed, and its region (default: the account's first region, else the fleet's, else
    /// us-east-1).
    fn place(
        &self,
        section: &str,
        index: usize,
        account: Option<String>,
        region: Option<String>,
    ) -> Result<(String, String), String> {
        let account = account.unwrap_or_else(|| self.base_account.to_string());
        let Some(draft) = self.drafts.iter().find(|draft| draft.id == account) else {
            return Err(format!(
                "{section}[{index}].account: account {account} is not listed in accounts"
            ));
        };
        let region = region
            .or_else(|| draft.regions.as_ref().and_then(|r| r.first().cloned()))
            .or_else(|| self.regions.first().cloned())
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        Ok((account, region))
    }

    /// Places every entry of `section` and reads it with `read`, whose errors get the entry's
    /// path (`section[i].`) in front.
    fn place_all<F: Located, T>(
        &self,
        section: &str,
        files: Vec<F>,
        mut read: impl FnMut(F) -> Result<T, String>,
    ) -> Result<Vec<(String, String, T)>, String> {
        let mut placed = Vec::with_capacity(files.len());
        for (index, mut file) in files.into_iter().enumerate() {
            let (account, region) = file.take_location();
            let (account, region) = self.place(section, index, account, region)?;
            let entry = read(file).map_err(|e| format!("{section}[{index}].{e}"))?;
            placed.push((account, region, entry));
        }
        Ok(placed)
    }
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

/// An RDS DB instance or cluster: `databases:` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseFile {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    identifier: String,
    #[serde(default)]
    kind: DatabaseKind,
    #[serde(default)]
    engine: Option<String>,
    #[serde(default)]
    engine_version: Option<String>,
    #[serde(default)]
    master_username: Option<String>,
    #[serde(default)]
    instance_class: Option<String>,
    #[serde(default)]
    managed_password: bool,
    #[serde(default)]
    master_secret: Option<String>,
    #[serde(default)]
    master_secret_kms_key: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    read_replica_of: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl DatabaseFile {
    fn into_spec(self) -> DatabaseSpec {
        let mut spec = match self.kind {
            DatabaseKind::Instance => DatabaseSpec::instance(self.identifier),
            DatabaseKind::Cluster => DatabaseSpec::cluster(self.identifier),
        };
        spec.engine = self.engine;
        spec.engine_version = self.engine_version;
        spec.master_username = self.master_username;
        spec.instance_class = self.instance_class;
        spec.managed_password = self.managed_password;
        spec.master_secret = self.master_secret;
        spec.master_secret_kms_key = self.master_secret_kms_key;
        spec.cluster = self.cluster;
        spec.read_replica_of = self.read_replica_of;
        if let Some(status) = self.status {
            spec.status = status;
        }
        spec.tags = self.tags.into_iter().collect();
        spec
    }
}

/// A VPC: `vpcs:` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VpcFile {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    vpc_id: Option<String>,
    #[serde(default)]
    cidr: Option<String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    endpoints: Vec<EndpointFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    service: String,
    #[serde(default, rename = "type")]
    endpoint_type: EndpointType,
    #[serde(default)]
    state: EndpointState,
    #[serde(default)]
    private_dns: Option<bool>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl VpcFile {
    fn into_spec(self, now: DateTime<Utc>) -> Result<VpcSpec, String> {
        let mut spec = if self.default {
            VpcSpec::default_vpc()
        } else {
            VpcSpec::new()
        };
        spec.vpc_id = self.vpc_id;
        if let Some(cidr) = self.cidr {
            spec.cidr = cidr;
        }
        spec.tags = self.tags.into_iter().collect();
        for (index, endpoint) in self.endpoints.into_iter().enumerate() {
            let created = match &endpoint.created {
                Some(text) => {
                    parse_time(text, now).map_err(|e| format!("endpoints[{index}].created: {e}"))?
                }
                None => now,
            };
            spec.endpoints.push(EndpointSpec {
                service: endpoint.service,
                endpoint_type: endpoint.endpoint_type,
                state: endpoint.state,
                private_dns: endpoint.private_dns,
                id: endpoint.id,
                created,
                tags: endpoint.tags.into_iter().collect(),
            });
        }
        Ok(spec)
    }
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
                deny_ssm: account.deny_ssm,
                deny_rds: account.deny_rds,
                deny_ec2: account.deny_ec2,
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
        let placer = Placer {
            drafts: &drafts,
            base_account: &base_account,
            regions: &regions,
        };
        let secrets = placer
            .place_all("secrets", self.secrets, |file| file.into_spec(now))?
            .into_iter()
            .map(|(account, region, secret)| PlacedSecret {
                account,
                region,
                secret,
            })
            .collect();
        let lambdas = placer
            .place_all("lambdas", self.lambdas, |file| file.into_spec(now))?
            .into_iter()
            .map(|(account, region, lambda)| PlacedLambda {
                account,
                region,
                lambda,
            })
            .collect();
        let parameters = placer
            .place_all("parameters", self.parameters, |file| file.into_spec(now))?
            .into_iter()
            .map(|(account, region, parameter)| PlacedParameter {
                account,
                region,
                parameter,
            })
            .collect();
        let databases = placer
            .place_all("databases", self.databases, |file| Ok(file.into_spec()))?
            .into_iter()
            .map(|(account, region, database)| PlacedDatabase {
                account,
                region,
                database,
                master_secret_arn: None,
                cluster_writer: false,
            })
            .collect();
        let vpcs = placer
            .place_all("vpcs", self.vpcs, |file| file.into_spec(now))?
            .into_iter()
            .map(|(account, region, vpc)| PlacedVpc {
                account,
                region,
                vpc,
            })
            .collect();
        let mut faults = Vec::with_capacity(self.faults.len());
        for (index, file) in self.faults.into_iter().enumerate() {
            faults.push(
                file.into_rule()
                    .map_err(|e| format!("faults[{index}].{e}"))?,
            );
        }
        assemble(
            base_account,
            regions,
            drafts,
            secrets,
            lambdas,
            organization,
            Extras {
                parameters,
                databases,
                vpcs,
                faults,
                ssm_short_pages: self.ssm.short_pages,
            },
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
        let parameters = fleet.parameters();
        let has = |wanted: &dyn Fn(&ParameterSpec) -> bool| {
            parameters.iter().any(|p| wanted(&p.parameter))
        };
        assert!(has(&|p| p.parameter_type == ParameterType::String));
        assert!(has(&|p| p.parameter_type == ParameterType::StringList));
        assert!(has(
            &|p| p.parameter_type == ParameterType::SecureString && p.key_id.is_none()
        ));
        assert!(has(&|p| p
            .key_id
            .as_deref()
            .is_some_and(|k| k.starts_with("arn:aws:kms:"))));
        assert!(has(&|p| p.tier == ParameterTier::Advanced
            && p.policies.iter().any(|policy| matches!(
                policy.kind,
                PolicyKind::Expiration(_)
            ))));
        assert!(has(
            &|p| p.last_modified < Utc::now() - chrono::Duration::days(365)
        ));
        assert!(parameters.iter().any(|p| p.region == "eu-west-1"));
        let databases = fleet.databases();
        let managed = databases.iter().find(|d| d.database.identifier == "orders");
        assert!(managed.is_some_and(|d| {
            d.master_secret_arn
                .as_deref()
                .is_some_and(|arn| arn.contains(":secret:rds!db-4f1e2d3c"))
        }));
        assert!(databases.iter().any(|d| !d.database.managed_password));
        assert_eq!(
            databases
                .iter()
                .filter(|d| d.database.cluster.as_deref() == Some("ledger"))
                .count(),
            2
        );
        let vpcs = fleet.vpcs();
        assert!(vpcs.iter().any(|v| v.vpc.default));
        assert!(
            vpcs.iter()
                .any(|v| v.vpc.endpoints.is_empty() && !v.vpc.default)
        );
        assert!(
            vpcs.iter()
                .any(|v| v.vpc.endpoints.iter().any(|e| !e.effective_private_dns()))
        );
        assert!(vpcs.iter().any(|v| {
            v.vpc
                .tags
                .iter()
                .any(|(k, _)| k == "secrets-rotation/exempt")
        }));
        Ok(())
    }

    #[test]
    fn yaml_parameters_faults_and_ssm_settings() -> Result<(), FleetError> {
        let now = Utc::now();
        let yaml = r#"
accounts:
  - id: "111111111111"
    deny_ssm: true
faults:
  - service: ssm
    account: "123456789012"
    region: eu-west-1
    error: throttling
    times: 2
ssm: { short_pages: true }
parameters:
  - name: /app/db/password
    tier: Advanced
    last_modified: -3d
    policies:
      - { type: Expiration, timestamp: 2026-12-31T00:00:00Z, status: Pending }
  - name: plain
    type: String
    account: "111111111111"
"#;
        let fleet = Fleet::from_yaml_str(yaml, now)?;
        let placed = &fleet.parameters()[0];
        assert_eq!(placed.account, "123456789012");
        assert_eq!(
            placed.parameter.last_modified,
            now - chrono::Duration::days(3)
        );
        assert_eq!(
            placed.parameter.policies[0].text(),
            r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-31T00:00:00.000Z"}}"#
        );
        assert_eq!(fleet.parameters()[1].parameter.effective_key_id(), None);
        assert!(fleet.ssm_short_pages());
        let faults = fleet.faults();
        assert_eq!(faults.len(), 2);
        assert_eq!(
            faults[0],
            FaultRule::new(Fault::Throttling)
                .service("ssm")
                .account("123456789012")
                .region("eu-west-1")
                .times(2)
        );
        assert_eq!(
            faults[1],
            FaultRule::new(Fault::AccessDenied)
                .service("ssm")
                .account("111111111111")
        );
        Ok(())
    }

    #[test]
    fn yaml_parameter_errors_name_their_path() {
        let cases = [
            (
                "parameters:\n  - name: a\n    colour: red\n",
                "parameters[0]: unknown field `colour`",
            ),
            (
                "parameters:\n  - name: a\n    type: Secret\n",
                "parameters[0].type: unknown variant `Secret`",
            ),
            (
                "parameters:\n  - name: a/b\n",
                "parameters[0].name: parameter name `a/b` is a path",
            ),
            (
                "parameters:\n  - name: a\n    type: String\n    key_id: alias/x\n",
                "parameters[0].key_id: only SecureString parameters have a key",
            ),
            (
                "parameters:\n  - name: a\n    policies:\n      - { type: Expiration, timestamp: +1d }\n",
                "parameters[0].policies: only Advanced parameters have policies, not Standard",
            ),
            (
                "parameters:\n  - name: a\n    tier: Advanced\n    policies:\n      - { type: Expiration, before: 3 }\n",
                "parameters[0].policies[0].type: an Expiration policy takes `timestamp`",
            ),
            (
                "parameters:\n  - name: a\n    tier: Advanced\n    policies:\n      - { type: Expiration, timestamp: soon }\n",
                "parameters[0].policies[0].timestamp: `soon`",
            ),
            (
                "parameters:\n  - name: a\n    last_modified: soon\n",
                "parameters[0].last_modified: `soon`",
            ),
            (
                "parameters:\n  - name: a\n  - name: a\n",
                "parameter a in 123456789012/us-east-1: the name is used twice",
            ),
            (
                "parameters:\n  - name: a\n    account: \"999999999999\"\n",
                "parameters[0].account: account 999999999999 is not listed",
            ),
            (
                "faults:\n  - error: delay\n",
                "faults[0].delay_ms: a delay needs it",
            ),
            (
                "faults:\n  - error: access_denied\n    service: sms\n",
                "faults[0]: service `sms` is not one of",
            ),
            (
                "faults:\n  - error: access_denied\n    account: \"999999999999\"\n",
                "faults[0]: account 999999999999 is not in the fleet",
            ),
            (
                "faults:\n  - error: explode\n",
                "faults[0].error: unknown variant `explode`",
            ),
            (
                "ssm: { long_pages: true }\n",
                "ssm: unknown field `long_pages`",
            ),
        ];
        let mut failures = Vec::new();
        for (yaml, expected) in cases {
            let error = Fleet::from_yaml_str(yaml, Utc::now())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            if !error.starts_with(expected) {
                failures.push(format!("{yaml}\n=> {error}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
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
