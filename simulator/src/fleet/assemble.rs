//! The checked fleet, assembled from drafts of its accounts and the secrets placed in them.

use std::collections::{HashMap, HashSet};

use super::check::{check_account_id, check_region, check_secret_name};
use super::ec2::{PlacedVpc, check_vpc, derived_endpoint_id, derived_vpc_id};
use super::lambda::{PlacedLambda, check_lambda};
use super::organization::Organization;
use super::rds::{DatabaseKind, PlacedDatabase, check_database, managed_secret_arn};
use super::spec::{Account, SecretSpec};
use super::ssm::{PlacedParameter, check_parameter};
use crate::organizations::model::{OrgState, settle};
use crate::state::{Fault, FaultRule};

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

/// A secret together with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedSecret {
    pub account: String,
    pub region: String,
    pub secret: SecretSpec,
}

/// The simulated world: accounts with their regions, the secrets in each (account, region) and
/// the organization the accounts may belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    base_account: String,
    regions: Vec<String>,
    accounts: Vec<Account>,
    secrets: Vec<PlacedSecret>,
    lambdas: Vec<PlacedLambda>,
    parameters: Vec<PlacedParameter>,
    databases: Vec<PlacedDatabase>,
    vpcs: Vec<PlacedVpc>,
    faults: Vec<FaultRule>,
    ssm_short_pages: bool,
    organization: Option<OrgState>,
}

/// A fleet taken apart for the simulator to serve.
pub(crate) struct FleetParts {
    pub base_account: String,
    pub regions: Vec<String>,
    pub accounts: Vec<Account>,
    pub secrets: Vec<PlacedSecret>,
    pub lambdas: Vec<PlacedLambda>,
    pub parameters: Vec<PlacedParameter>,
    pub databases: Vec<PlacedDatabase>,
    pub vpcs: Vec<PlacedVpc>,
    pub faults: Vec<FaultRule>,
    pub ssm_short_pages: bool,
    pub organization: Option<OrgState>,
}

/// The services a fault rule may name, as the request counters name them.
pub(crate) const SERVICES: [&str; 9] = [
    "sts",
    "secretsmanager",
    "cloudtrail",
    "organizations",
    "lambda",
    "cloudwatch",
    "ssm",
    "rds",
    "ec2",
];

/// What the fleet adds besides its accounts and the resources in them: fault rules the simulator
/// starts with, and how SSM pages.
#[derive(Debug, Clone, Default)]
pub(super) struct Extras {
    pub(super) parameters: Vec<PlacedParameter>,
    pub(super) databases: Vec<PlacedDatabase>,
    pub(super) vpcs: Vec<PlacedVpc>,
    pub(super) faults: Vec<FaultRule>,
    pub(super) ssm_short_pages: bool,
}

/// The region used when neither the fleet nor an account names any.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The base account when a fleet names none.
pub const DEFAULT_BASE_ACCOUNT: &str = "123456789012";

impl Fleet {
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

    /// The Lambda functions, each with its account and region.
    pub fn lambdas(&self) -> &[PlacedLambda] {
        &self.lambdas
    }

    /// The SSM parameters, each with its account and region.
    pub fn parameters(&self) -> &[PlacedParameter] {
        &self.parameters
    }

    /// The RDS DB instances and clusters, each with its account and region, in fleet order.
    pub fn databases(&self) -> &[PlacedDatabase] {
        &self.databases
    }

    /// The VPCs with their endpoints, each with its account and region, ids settled.
    pub fn vpcs(&self) -> &[PlacedVpc] {
        &self.vpcs
    }

    /// The fault rules the simulator starts with (`deny_ssm`, `deny_rds` and `deny_ec2`
    /// accounts included), in order.
    pub fn faults(&self) -> &[FaultRule] {
        &self.faults
    }

    /// Whether `DescribeParameters` may answer short pages, as AWS does (see
    /// [`crate::FleetBuilder::ssm_short_pages`]).
    pub fn ssm_short_pages(&self) -> bool {
        self.ssm_short_pages
    }

    /// Whether the fleet has an organization (see [`Organization`]).
    pub fn has_organization(&self) -> bool {
        self.organization.is_some()
    }

    /// The id of the fleet's organization, such as `o-a1b2c3d4e5`.
    pub fn organization_id(&self) -> Option<&str> {
        self.organization.as_ref().map(|org| org.id.as_str())
    }

    pub(crate) fn into_parts(self) -> FleetParts {
        FleetParts {
            base_account: self.base_account,
            regions: self.regions,
            accounts: self.accounts,
            secrets: self.secrets,
            lambdas: self.lambdas,
            parameters: self.parameters,
            databases: self.databases,
            vpcs: self.vpcs,
            faults: self.faults,
            ssm_short_pages: self.ssm_short_pages,
            organization: self.organization,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct AccountDraft {
    pub(super) id: String,
    pub(super) regions: Option<Vec<String>>,
    pub(super) deny_assume_role: bool,
    /// Every SSM request of the account answers `AccessDeniedException`.
    pub(super) deny_ssm: bool,
    /// Every RDS request of the account answers `AccessDenied`.
    pub(super) deny_rds: bool,
    /// Every EC2 request of the account answers `UnauthorizedOperation`.
    pub(super) deny_ec2: bool,
    pub(super) external_id: Option<String>,
    pub(super) current_region: Option<String>,
}

/// Adds a draft for every account of the organization the fleet does not list yet: each must be
/// an account of the simulated AWS too, so that a client can enter it.
pub(super) fn add_organization_drafts(
    organization: Option<&Organization>,
    base_account: &str,
    drafts: &mut Vec<AccountDraft>,
) {
    let Some(organization) = organization else {
        return;
    };
    let management = organization
        .management_account
        .clone()
        .unwrap_or_else(|| base_account.to_string());
    let mut members = vec![management];
    members.extend(organization.delegated_administrators.iter().cloned());
    fn placed(unit: &super::organization::OrgUnit, into: &mut Vec<String>) {
        into.extend(unit.accounts.iter().cloned());
        for child in &unit.units {
            placed(child, into);
        }
    }
    for unit in &organization.units {
        placed(unit, &mut members);
    }
    members.extend(organization.accounts.iter().map(|a| a.id.clone()));
    for member in members {
        if !drafts.iter().any(|draft| draft.id == member) {
            drafts.push(AccountDraft {
                id: member,
                ..AccountDraft::default()
            });
        }
    }
}

/// Checks a fleet and settles each account's regions: its own list or the fleet default, plus
/// any region holding one of its secrets.
pub(super) fn assemble(
    base_account: String,
    regions: Vec<String>,
    mut drafts: Vec<AccountDraft>,
    secrets: Vec<PlacedSecret>,
    lambdas: Vec<PlacedLambda>,
    organization: Option<Organization>,
    extras: Extras,
) -> Result<Fleet, String> {
    let Extras {
        parameters,
        mut databases,
        mut vpcs,
        mut faults,
        ssm_short_pages,
    } = extras;
    check_account_id(&base_account).map_err(|e| format!("base_account: {e}"))?;
    for region in &regions {
        check_region(region).map_err(|e| format!("regions: {e}"))?;
    }
    // The organization is checked first: its errors name the field better than a bad account
    // id found among the drafts it adds.
    let organization = organization
        .map(|spec| settle(&spec, &base_account).map(|state| (spec, state)))
        .transpose()?;
    add_organization_drafts(
        organization.as_ref().map(|(spec, _)| spec),
        &base_account,
        &mut drafts,
    );
    let mut accounts: Vec<Account> = Vec::with_capacity(drafts.len());
    let mut denied_services = Vec::new();
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
        for (denied, service) in [
            (draft.deny_ssm, "ssm"),
            (draft.deny_rds, "rds"),
            (draft.deny_ec2, "ec2"),
        ] {
            if denied {
                denied_services.push(
                    FaultRule::new(Fault::AccessDenied)
                        .service(service)
                        .account(draft.id.clone()),
                );
            }
        }
        accounts.push(Account {
            id: draft.id,
            regions: account_regions,
            deny_assume_role: draft.deny_assume_role,
            external_id: draft.external_id,
        });
    }
    let mut seen = HashSet::with_capacity(secrets.len());
    for placed in &secrets {
        let where_ = format!(
            "secret {} in {}/{}",
            placed.secret.name, placed.account, placed.region
        );
        check_secret_name(&placed.secret.name).map_err(|e| format!("{where_}: {e}"))?;
        uses_region(&mut accounts, &placed.account, &placed.region)
            .map_err(|e| format!("{where_}: {e}"))?;
        if !seen.insert((&placed.account, &placed.region, &placed.secret.name)) {
            return Err(format!("{where_}: the name is used twice"));
        }
    }
    let mut functions = HashSet::with_capacity(lambdas.len());
    for placed in &lambdas {
        let where_ = format!(
            "function {} in {}/{}",
            placed.lambda.name, placed.account, placed.region
        );
        check_lambda(&placed.lambda).map_err(|e| format!("{where_}: {e}"))?;
        uses_region(&mut accounts, &placed.account, &placed.region)
            .map_err(|e| format!("{where_}: {e}"))?;
        if !functions.insert((&placed.account, &placed.region, &placed.lambda.name)) {
            return Err(format!("{where_}: the name is used twice"));
        }
    }
    let mut names = HashSet::with_capacity(parameters.len());
    for placed in &parameters {
        let where_ = format!(
            "parameter {} in {}/{}",
            placed.parameter.name, placed.account, placed.region
        );
        check_parameter(&placed.parameter).map_err(|e| format!("{where_}: {e}"))?;
        uses_region(&mut accounts, &placed.account, &placed.region)
            .map_err(|e| format!("{where_}: {e}"))?;
        if !names.insert((&placed.account, &placed.region, &placed.parameter.name)) {
            return Err(format!("{where_}: the name is used twice"));
        }
    }
    settle_databases(&mut databases, &mut accounts, &secrets)?;
    settle_vpcs(&mut vpcs, &mut accounts)?;
    for (index, rule) in faults.iter().enumerate() {
        check_fault(rule, &accounts).map_err(|e| format!("faults[{index}]: {e}"))?;
    }
    // The first matching rule applies: explicit rules, the more specific wish, come before the
    // accounts' `deny_ssm`, `deny_rds` and `deny_ec2`.
    faults.extend(denied_services);
    Ok(Fleet {
        base_account,
        regions,
        accounts,
        secrets,
        lambdas,
        parameters,
        databases,
        vpcs,
        faults,
        ssm_short_pages,
        organization: organization.map(|(_, state)| state),
    })
}

/// Makes `region` one of `account`'s regions, for a resource the fleet puts there.
fn uses_region(accounts: &mut [Account], account: &str, region: &str) -> Result<(), String> {
    check_region(region)?;
    let Some(known) = accounts.iter_mut().find(|a| a.id == account) else {
        return Err(format!("account {account} is not in the fleet"));
    };
    if !known.regions.iter().any(|r| r == region) {
        known.regions.push(region.to_string());
    }
    Ok(())
}

/// Checks the databases, each error naming `databases[i]`, and settles what they refer to:
/// the clusters of members (the first member in the fleet is the writer), the sources of read
/// replicas and the secrets of managed passwords.
fn settle_databases(
    databases: &mut [PlacedDatabase],
    accounts: &mut [Account],
    secrets: &[PlacedSecret],
) -> Result<(), String> {
    let mut seen = HashSet::with_capacity(databases.len());
    for (index, placed) in databases.iter().enumerate() {
        let path = format!("databases[{index}]");
        check_database(&placed.database).map_err(|e| format!("{path}.{e}"))?;
        uses_region(accounts, &placed.account, &placed.region)
            .map_err(|e| format!("{path}: {e}"))?;
        let key = (
            placed.account.clone(),
            placed.region.clone(),
            placed.database.kind,
            placed.database.identifier.clone(),
        );
        if !seen.insert(key) {
            return Err(format!(
                "{path}.identifier: `{}` is used twice in {}/{}",
                placed.database.identifier, placed.account, placed.region
            ));
        }
    }
    let has = |account: &str, region: &str, kind: DatabaseKind, id: &str| {
        seen.contains(&(
            account.to_string(),
            region.to_string(),
            kind,
            id.to_string(),
        ))
    };
    let mut writers = HashSet::new();
    for (index, placed) in databases.iter_mut().enumerate() {
        let path = format!("databases[{index}]");
        let (account, region) = (placed.account.as_str(), placed.region.as_str());
        let spec = &placed.database;
        if let Some(cluster) = &spec.cluster {
            if !has(account, region, DatabaseKind::Cluster, cluster) {
                return Err(format!(
                    "{path}.cluster: no cluster `{cluster}` in {account}/{region}"
                ));
            }
            placed.cluster_writer =
                writers.insert((account.to_string(), region.to_string(), cluster.clone()));
        }
        if let Some(source) = &spec.read_replica_of
            && !source.starts_with("arn:")
            && !has(account, region, DatabaseKind::Instance, source)
        {
            return Err(format!(
                "{path}.read_replica_of: no instance `{source}` in {account}/{region} (name one \
                 of another region by its ARN)"
            ));
        }
        placed.master_secret_arn = match (&spec.master_secret, spec.managed_password) {
            (_, false) => None,
            (None, true) => Some(managed_secret_arn(account, region, spec)),
            (Some(name), true) => {
                let found = secrets.iter().any(|secret| {
                    secret.account == account
                        && secret.region == region
                        && secret.secret.name == *name
                });
                if !found {
                    return Err(format!(
                        "{path}.master_secret: no secret `{name}` in {account}/{region}"
                    ));
                }
                Some(crate::store::secret_arn(account, region, name))
            }
        };
    }
    Ok(())
}

/// Checks the VPCs, each error naming `vpcs[i]`, and gives every VPC and endpoint without an id
/// one derived from where it lives.
fn settle_vpcs(vpcs: &mut [PlacedVpc], accounts: &mut [Account]) -> Result<(), String> {
    let mut per_place: HashMap<(String, String), usize> = HashMap::new();
    let mut defaults = HashSet::new();
    let mut ids = HashSet::new();
    for (index, placed) in vpcs.iter_mut().enumerate() {
        let path = format!("vpcs[{index}]");
        check_vpc(&placed.vpc).map_err(|e| format!("{path}.{e}"))?;
        uses_region(accounts, &placed.account, &placed.region)
            .map_err(|e| format!("{path}: {e}"))?;
        let place = (placed.account.clone(), placed.region.clone());
        let position = per_place.entry(place.clone()).or_default();
        let vpc_id = placed
            .vpc
            .vpc_id
            .clone()
            .unwrap_or_else(|| derived_vpc_id(&place.0, &place.1, *position));
        *position += 1;
        if !ids.insert(vpc_id.clone()) {
            return Err(format!("{path}.vpc_id: `{vpc_id}` is used twice"));
        }
        if placed.vpc.default && !defaults.insert(place.clone()) {
            return Err(format!(
                "{path}.default: {}/{} has a default VPC already",
                place.0, place.1
            ));
        }
        for (number, endpoint) in placed.vpc.endpoints.iter_mut().enumerate() {
            let id = endpoint
                .id
                .clone()
                .unwrap_or_else(|| derived_endpoint_id(&vpc_id, number));
            if !ids.insert(id.clone()) {
                return Err(format!(
                    "{path}.endpoints[{number}].id: `{id}` is used twice"
                ));
            }
            endpoint.id = Some(id);
        }
        placed.vpc.vpc_id = Some(vpc_id);
    }
    Ok(())
}

fn check_fault(rule: &FaultRule, accounts: &[Account]) -> Result<(), String> {
    if let Some(service) = &rule.service
        && !SERVICES.contains(&service.as_str())
    {
        return Err(format!(
            "service `{service}` is not one of {}",
            SERVICES.join(", ")
        ));
    }
    if let Some(account) = &rule.account
        && !accounts.iter().any(|a| a.id == *account)
    {
        return Err(format!("account {account} is not in the fleet"));
    }
    if let Some(region) = &rule.region {
        check_region(region)?;
    }
    if rule.remaining == Some(0) {
        return Err("times must be 1 or more".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
