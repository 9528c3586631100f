//! The accounts, regions, secrets and organization the simulator starts with, from a YAML file
//! or a builder.

mod assemble;
mod builder;
mod check;
mod ec2;
mod lambda;
mod organization;
mod rds;
mod spec;
mod ssm;
mod yaml;

pub use assemble::{DEFAULT_BASE_ACCOUNT, DEFAULT_REGION, Fleet, FleetError, PlacedSecret};
pub use builder::FleetBuilder;
pub(crate) use check::{check_account_id, check_secret_name};
pub(crate) use ec2::dhcp_options_id;
pub use ec2::{
    DEFAULT_VPC_CIDR, DEFAULT_VPC_DEFAULT_CIDR, EndpointSpec, EndpointState, EndpointType,
    PlacedVpc, VpcSpec,
};
pub(crate) use lambda::check_lambda;
pub use lambda::{
    DEFAULT_RUNTIME, LambdaPolicy, LambdaSpec, LambdaState, LastUpdateStatus, PlacedLambda,
    SECRETS_MANAGER_PRINCIPAL, lambda_arn,
};
pub use organization::{AccountState, OrgAccount, OrgUnit, Organization};
pub use rds::{
    DEFAULT_MASTER_SECRET_KEY, DatabaseKind, DatabaseSpec, PlacedDatabase, database_arn,
    database_resource_id, default_engine_version, managed_secret_arn,
};
pub use spec::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Account, RotationSpec, SecretSpec, VersionSpec,
};
pub(crate) use ssm::check_parameter;
pub use ssm::{
    DEFAULT_PARAMETER_KEY, ParameterPolicy, ParameterSpec, ParameterTier, ParameterType,
    PlacedParameter, PolicyKind, PolicyStatus, PolicyUnit, parameter_arn,
};
