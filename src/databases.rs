//! What the exporter knows about RDS and Aurora databases: plain data, no
//! SDK types, as `inventory` is for secrets. A database has one check,
//! `master_password_managed`, judged from the listing itself, so its verdict
//! is never unknown: when a listing fails, the target's last one is kept or
//! dropped whole.

use std::sync::Arc;

use serde::Serialize;

/// The `check` label of a database's verdict.
pub const MASTER_PASSWORD_MANAGED: &str = "master_password_managed";

/// What a database is to RDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseKind {
    /// A DB instance outside any cluster.
    Instance,
    /// An Aurora, Multi-AZ, Neptune or DocumentDB cluster: its members are
    /// judged through it.
    Cluster,
}

impl DatabaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Instance => "instance",
            DatabaseKind::Cluster => "cluster",
        }
    }
}

/// One database as `DescribeDBInstances` or `DescribeDBClusters` saw it. A
/// member instance of a cluster is not one: its cluster holds the master
/// password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseRecord {
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    /// `DBInstanceIdentifier` or `DBClusterIdentifier`.
    pub identifier: String,
    pub kind: DatabaseKind,
    pub engine: Arc<str>,
    /// `MasterUserSecret.SecretArn`: the Secrets Manager secret RDS keeps
    /// the master password in, when it manages it.
    pub master_secret_arn: Option<String>,
    /// `ReadReplicaSourceDBInstanceIdentifier`: a read replica's master
    /// password is its source's.
    pub replica_of: Option<String>,
}

/// Why a database has no `master_password_managed` verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotApplicable {
    /// Neptune has no master password: access is through IAM.
    NoMasterPassword,
    /// RDS Custom does not let Secrets Manager manage the master password.
    RdsCustom,
    /// A read replica has its source's master password.
    ReadReplica,
}

impl NotApplicable {
    pub fn describe(self) -> &'static str {
        match self {
            NotApplicable::NoMasterPassword => "the engine has no master password",
            NotApplicable::RdsCustom => {
                "RDS Custom does not let Secrets Manager manage the master password"
            }
            NotApplicable::ReadReplica => "a read replica has its source's master password",
        }
    }
}

/// Engines with no master password to manage, by prefix of `Engine`.
pub const ENGINES_WITHOUT_MASTER_PASSWORD: [&str; 1] = ["neptune"];

/// Engines of RDS Custom, by prefix of `Engine`.
pub const RDS_CUSTOM_ENGINE_PREFIX: &str = "custom-";

impl DatabaseRecord {
    /// Why the check does not apply, if it does not.
    pub fn not_applicable(&self) -> Option<NotApplicable> {
        // Read at every scrape: a case-blind prefix test, no lowered copy.
        let engine_starts_with = |prefix: &str| {
            self.engine
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
        };
        if ENGINES_WITHOUT_MASTER_PASSWORD
            .iter()
            .any(|prefix| engine_starts_with(prefix))
        {
            Some(NotApplicable::NoMasterPassword)
        } else if engine_starts_with(RDS_CUSTOM_ENGINE_PREFIX) {
            Some(NotApplicable::RdsCustom)
        } else if self.replica_of.is_some() {
            Some(NotApplicable::ReadReplica)
        } else {
            None
        }
    }

    /// The `master_password_managed` verdict: `None` when it does not apply.
    pub fn master_password_managed(&self) -> Option<bool> {
        match self.not_applicable() {
            Some(_) => None,
            None => Some(self.master_secret_arn.is_some()),
        }
    }
}

/// A target's databases, once both listings have answered for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseInventory {
    /// Sorted by identifier, then kind.
    pub databases: Arc<[Arc<DatabaseRecord>]>,
    pub noncompliant: usize,
}

impl DatabaseInventory {
    pub fn new(databases: Arc<[Arc<DatabaseRecord>]>) -> Self {
        let noncompliant = databases
            .iter()
            .filter(|database| database.master_password_managed() == Some(false))
            .count();
        Self {
            databases,
            noncompliant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(kind: DatabaseKind, engine: &str, secret: bool) -> DatabaseRecord {
        DatabaseRecord {
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            identifier: "orders".into(),
            kind,
            engine: engine.into(),
            master_secret_arn: secret.then(|| {
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!db-1-AbCdEf".to_owned()
            }),
            replica_of: None,
        }
    }

    #[test]
    fn a_database_without_a_master_user_secret_fails() {
        assert_eq!(
            database(DatabaseKind::Instance, "postgres", false).master_password_managed(),
            Some(false)
        );
        assert_eq!(
            database(DatabaseKind::Cluster, "aurora-mysql", true).master_password_managed(),
            Some(true)
        );
    }

    #[test]
    fn neptune_rds_custom_and_read_replicas_are_not_judged() {
        let neptune = database(DatabaseKind::Cluster, "Neptune", false);
        assert_eq!(
            neptune.not_applicable(),
            Some(NotApplicable::NoMasterPassword)
        );
        assert_eq!(neptune.master_password_managed(), None);
        let custom = database(DatabaseKind::Instance, "custom-sqlserver-ee", false);
        assert_eq!(custom.not_applicable(), Some(NotApplicable::RdsCustom));
        let mut replica = database(DatabaseKind::Instance, "mysql", false);
        replica.replica_of = Some("orders-primary".into());
        assert_eq!(replica.master_password_managed(), None);
    }
}
