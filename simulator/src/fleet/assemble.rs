//! The checked fleet, assembled from drafts of its accounts and the secrets placed in them.

use super::check::{check_account_id, check_region, check_secret_name};
use super::lambda::{PlacedLambda, check_lambda};
use super::organization::Organization;
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
    pub faults: Vec<FaultRule>,
    pub ssm_short_pages: bool,
    pub organization: Option<OrgState>,
}

/// The services a fault rule may name, as the request counters name them.
pub(crate) const SERVICES: [&str; 7] = [
    "sts",
    "secretsmanager",
    "cloudtrail",
    "organizations",
    "lambda",
    "cloudwatch",
    "ssm",
];

/// What the fleet adds besides its accounts and the resources in them: fault rules the simulator
/// starts with, and how SSM pages.
#[derive(Debug, Clone, Default)]
pub(super) struct Extras {
    pub(super) parameters: Vec<PlacedParameter>,
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

    /// The fault rules the simulator starts with (`deny_ssm` accounts included), in order.
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
    let mut denied_ssm = Vec::new();
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
        if draft.deny_ssm {
            denied_ssm.push(
                FaultRule::new(Fault::AccessDenied)
                    .service("ssm")
                    .account(draft.id.clone()),
            );
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
    let mut functions = std::collections::HashSet::with_capacity(lambdas.len());
    for placed in &lambdas {
        let where_ = format!(
            "function {} in {}/{}",
            placed.lambda.name, placed.account, placed.region
        );
        check_lambda(&placed.lambda).map_err(|e| format!("{where_}: {e}"))?;
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
        if !functions.insert((&placed.account, &placed.region, &placed.lambda.name)) {
            return Err(format!("{where_}: the name is used twice"));
        }
    }
    let mut names = std::collections::HashSet::with_capacity(parameters.len());
    for placed in &parameters {
        let where_ = format!(
            "parameter {} in {}/{}",
            placed.parameter.name, placed.account, placed.region
        );
        check_parameter(&placed.parameter).map_err(|e| format!("{where_}: {e}"))?;
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
        if !names.insert((&placed.account, &placed.region, &placed.parameter.name)) {
            return Err(format!("{where_}: the name is used twice"));
        }
    }
    for (index, rule) in faults.iter().enumerate() {
        check_fault(rule, &accounts).map_err(|e| format!("faults[{index}]: {e}"))?;
    }
    // The first matching rule applies: explicit rules, the more specific wish, come before the
    // accounts' `deny_ssm`.
    faults.extend(denied_ssm);
    Ok(Fleet {
        base_account,
        regions,
        accounts,
        secrets,
        lambdas,
        parameters,
        faults,
        ssm_short_pages,
        organization: organization.map(|(_, state)| state),
    })
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
