//! The accounts, regions, secrets and organization the simulator starts with, from a YAML file
//! or a builder.

mod assemble;
mod builder;
mod check;
mod organization;
mod spec;
mod yaml;

pub use assemble::{DEFAULT_BASE_ACCOUNT, DEFAULT_REGION, Fleet, FleetError, PlacedSecret};
pub use builder::FleetBuilder;
pub(crate) use check::{check_account_id, check_secret_name};
pub use organization::{AccountState, OrgAccount, OrgUnit, Organization};
pub use spec::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Account, RotationSpec, SecretSpec, VersionSpec,
};
