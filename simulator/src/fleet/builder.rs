//! Fleets written in code.

use super::assemble::{
    AccountDraft, DEFAULT_BASE_ACCOUNT, DEFAULT_REGION, Extras, Fleet, FleetError, PlacedSecret,
    assemble,
};
use super::ec2::{PlacedVpc, VpcSpec};
use super::lambda::{LambdaSpec, PlacedLambda};
use super::organization::Organization;
use super::rds::{DatabaseSpec, PlacedDatabase};
use super::spec::SecretSpec;
use super::ssm::{ParameterSpec, PlacedParameter};
use crate::state::FaultRule;

impl Fleet {
    pub fn builder() -> FleetBuilder {
        FleetBuilder::default()
    }
}

/// Builds a [`Fleet`]. `account` and `region` select where the following `secret`, `lambda` and
/// `parameter` calls put what they add:
///
/// ```
/// use simulator::{Fleet, ParameterSpec, RotationSpec, SecretSpec};
/// let fleet = Fleet::builder()
///     .base_account("123456789012")
///     .regions(["us-east-1", "eu-west-1"])
///     .account("111111111111")
///     .region("eu-west-1")
///     .secret(SecretSpec::new("payments/db").created_days_ago(400).tag("team", "payments"))
///     .secret(SecretSpec::new("payments/api").rotation(RotationSpec::every_days(30)))
///     .parameter(ParameterSpec::new("/payments/api/key").last_modified_days_ago(90))
///     .account("222222222222")
///     .deny_assume_role()
///     .deny_ssm()
///     .build()?;
/// assert_eq!(fleet.secrets().len(), 2);
/// assert_eq!(fleet.parameters().len(), 1);
/// # Ok::<(), simulator::FleetError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct FleetBuilder {
    base_account: Option<String>,
    regions: Vec<String>,
    accounts: Vec<AccountDraft>,
    current_account: Option<usize>,
    secrets: Vec<PlacedSecret>,
    lambdas: Vec<PlacedLambda>,
    organization: Option<Organization>,
    extras: Extras,
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

    /// Every SSM request signed by the selected account answers `AccessDeniedException`, in
    /// every region. It is a fault rule, so [`crate::SimulatorHandle::clear_faults`] lifts it.
    /// For one region, or throttling, add a [`FaultRule`] with [`Self::fault`].
    pub fn deny_ssm(mut self) -> Self {
        self.current_draft().deny_ssm = true;
        self
    }

    /// Every RDS request signed by the selected account answers `AccessDenied`, as
    /// [`Self::deny_ssm`] does for SSM.
    pub fn deny_rds(mut self) -> Self {
        self.current_draft().deny_rds = true;
        self
    }

    /// Every EC2 request signed by the selected account answers `UnauthorizedOperation`, as
    /// [`Self::deny_ssm`] does for SSM.
    pub fn deny_ec2(mut self) -> Self {
        self.current_draft().deny_ec2 = true;
        self
    }

    /// A fault rule the simulator starts with, as [`crate::SimulatorHandle::fail`] adds one:
    /// `.fault(FaultRule::new(Fault::Throttling).service("ssm").account("111111111111"))`.
    /// Rules apply in the order given, before any account's [`Self::deny_ssm`].
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.extras.faults.push(rule);
        self
    }

    /// Lets `DescribeParameters` answer short pages as AWS does: each page examines at most
    /// `MaxResults` parameters, so that with filters a page can hold fewer matches, or none, while
    /// a `NextToken` remains. Off by default: every page but the last is full.
    pub fn ssm_short_pages(mut self, short: bool) -> Self {
        self.extras.ssm_short_pages = short;
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

    /// Adds a Lambda function to the selected account and region.
    pub fn lambda(mut self, lambda: LambdaSpec) -> Self {
        let (account, region) = self.placement();
        self.lambdas.push(PlacedLambda {
            account,
            region,
            lambda,
        });
        self
    }

    /// Adds a Lambda function to an explicit account and region, whatever is selected.
    pub fn lambda_in(
        mut self,
        account: impl Into<String>,
        region: impl Into<String>,
        lambda: LambdaSpec,
    ) -> Self {
        let account = account.into();
        let selected = self.current_account;
        self = self.account(account.clone());
        self.current_account = selected;
        self.lambdas.push(PlacedLambda {
            account,
            region: region.into(),
            lambda,
        });
        self
    }

    /// Adds an SSM parameter to the selected account and region.
    pub fn parameter(mut self, parameter: ParameterSpec) -> Self {
        let (account, region) = self.placement();
        self.extras.parameters.push(PlacedParameter {
            account,
            region,
            parameter,
        });
        self
    }

    /// Adds many SSM parameters to the selected account and region.
    pub fn parameters(mut self, parameters: impl IntoIterator<Item = ParameterSpec>) -> Self {
        let (account, region) = self.placement();
        self.extras
            .parameters
            .extend(parameters.into_iter().map(|parameter| PlacedParameter {
                account: account.clone(),
                region: region.clone(),
                parameter,
            }));
        self
    }

    /// Adds an SSM parameter to an explicit account and region, whatever is selected.
    pub fn parameter_in(
        mut self,
        account: impl Into<String>,
        region: impl Into<String>,
        parameter: ParameterSpec,
    ) -> Self {
        let account = account.into();
        let selected = self.current_account;
        self = self.account(account.clone());
        self.current_account = selected;
        self.extras.parameters.push(PlacedParameter {
            account,
            region: region.into(),
            parameter,
        });
        self
    }

    /// Adds an RDS DB instance or DB cluster to the selected account and region.
    pub fn database(mut self, database: DatabaseSpec) -> Self {
        let (account, region) = self.placement();
        self.extras.databases.push(PlacedDatabase {
            account,
            region,
            database,
            master_secret_arn: None,
            cluster_writer: false,
        });
        self
    }

    /// Adds a VPC (with its endpoints) to the selected account and region.
    pub fn vpc(mut self, vpc: VpcSpec) -> Self {
        let (account, region) = self.placement();
        self.extras.vpcs.push(PlacedVpc {
            account,
            region,
            vpc,
        });
        self
    }

    /// The organization of the fleet's accounts; its accounts not added with
    /// [`FleetBuilder::account`] become accounts of the fleet with the default regions.
    pub fn organization(mut self, organization: Organization) -> Self {
        self.organization = Some(organization);
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
        assemble(
            base_account,
            regions,
            drafts,
            self.secrets,
            self.lambdas,
            self.organization,
            self.extras,
        )
        .map_err(FleetError::Invalid)
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
}
