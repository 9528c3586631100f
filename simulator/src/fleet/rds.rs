//! RDS databases of the fleet: DB instances and Aurora clusters, only what `DescribeDBInstances`
//! and `DescribeDBClusters` show. No database runs and no password exists.

use serde::Deserialize;

use crate::ids::derived_chars;

/// Whether an entry is a DB instance or a DB cluster (Aurora).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseKind {
    #[default]
    Instance,
    Cluster,
}

/// One DB instance or DB cluster. Fields left `None` take the engine's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSpec {
    /// `DBInstanceIdentifier` or `DBClusterIdentifier`: 1 to 63 letters, digits and hyphens,
    /// starting with a letter.
    pub identifier: String,
    pub kind: DatabaseKind,
    /// `None`: `postgres` for an instance, `aurora-postgresql` for a cluster.
    pub engine: Option<String>,
    /// `None`: a current version of the engine ([`default_engine_version`]).
    pub engine_version: Option<String>,
    /// `None`: `postgres` for PostgreSQL engines, `admin` for the others.
    pub master_username: Option<String>,
    /// `DBInstanceClass` of an instance; `None`: `db.t3.micro`, or `db.r6g.large` for Aurora.
    pub instance_class: Option<String>,
    /// RDS manages the master password in Secrets Manager: `MasterUserSecret` is present.
    pub managed_password: bool,
    /// The name of a fleet secret in the same account and region that is the managed password's
    /// secret; `None`: a made-up `rds!db-...` / `rds!cluster-...` secret ARN.
    pub master_secret: Option<String>,
    /// `MasterUserSecret.KmsKeyId`; `None`: `alias/aws/secretsmanager`.
    pub master_secret_kms_key: Option<String>,
    /// For an instance: the fleet cluster it is a member of.
    pub cluster: Option<String>,
    /// For an instance: the identifier of the instance it replicates.
    pub read_replica_of: Option<String>,
    /// `DBInstanceStatus` or `Status`.
    pub status: String,
    /// In the order AWS returns them.
    pub tags: Vec<(String, String)>,
}

/// The key `MasterUserSecret.KmsKeyId` names when the fleet names none.
pub const DEFAULT_MASTER_SECRET_KEY: &str = "alias/aws/secretsmanager";

impl DatabaseSpec {
    /// An available PostgreSQL DB instance with a password set by hand.
    pub fn instance(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            kind: DatabaseKind::Instance,
            engine: None,
            engine_version: None,
            master_username: None,
            instance_class: None,
            managed_password: false,
            master_secret: None,
            master_secret_kms_key: None,
            cluster: None,
            read_replica_of: None,
            status: "available".to_string(),
            tags: Vec::new(),
        }
    }

    /// An available Aurora PostgreSQL DB cluster with a password set by hand.
    pub fn cluster(identifier: impl Into<String>) -> Self {
        Self {
            kind: DatabaseKind::Cluster,
            ..Self::instance(identifier)
        }
    }

    pub fn engine(mut self, engine: impl Into<String>) -> Self {
        self.engine = Some(engine.into());
        self
    }

    pub fn engine_version(mut self, version: impl Into<String>) -> Self {
        self.engine_version = Some(version.into());
        self
    }

    /// RDS manages the master password in Secrets Manager.
    pub fn managed_password(mut self) -> Self {
        self.managed_password = true;
        self
    }

    /// The managed password's secret: a fleet secret of the same account and region.
    pub fn master_secret(mut self, secret_name: impl Into<String>) -> Self {
        self.managed_password = true;
        self.master_secret = Some(secret_name.into());
        self
    }

    /// Makes an instance a member of a fleet cluster.
    pub fn member_of(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self
    }

    pub fn read_replica_of(mut self, source: impl Into<String>) -> Self {
        self.read_replica_of = Some(source.into());
        self
    }

    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = status.into();
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

    pub fn effective_engine(&self) -> &str {
        match (&self.engine, self.kind) {
            (Some(engine), _) => engine,
            (None, DatabaseKind::Instance) => "postgres",
            (None, DatabaseKind::Cluster) => "aurora-postgresql",
        }
    }

    pub fn effective_engine_version(&self) -> &str {
        self.engine_version
            .as_deref()
            .unwrap_or_else(|| default_engine_version(self.effective_engine()))
    }

    pub fn effective_master_username(&self) -> &str {
        self.master_username.as_deref().unwrap_or_else(|| {
            if self.effective_engine().contains("postgres") {
                "postgres"
            } else {
                "admin"
            }
        })
    }

    pub fn effective_instance_class(&self) -> &str {
        self.instance_class.as_deref().unwrap_or_else(|| {
            if self.effective_engine().starts_with("aurora") {
                "db.r6g.large"
            } else {
                "db.t3.micro"
            }
        })
    }
}

/// A version RDS currently offers for `engine`.
pub fn default_engine_version(engine: &str) -> &'static str {
    match engine {
        "postgres" => "16.3",
        "mysql" => "8.0.39",
        "mariadb" => "10.11.9",
        "aurora-postgresql" => "16.4",
        "aurora-mysql" => "8.0.mysql_aurora.3.08.0",
        e if e.starts_with("oracle") => "19.0.0.0.ru-2024-10.rur-2024-10.r1",
        e if e.starts_with("sqlserver") => "16.00.4150.1.v1",
        _ => "1.0",
    }
}

/// A database together with where it lives and what the fleet settled for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedDatabase {
    pub account: String,
    pub region: String,
    pub database: DatabaseSpec,
    /// `MasterUserSecret.SecretArn` when the password is managed.
    pub master_secret_arn: Option<String>,
    /// For a cluster member: whether it is the writer (the first member in the fleet).
    pub cluster_writer: bool,
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `DbiResourceId` (`db-` and 26 characters) or `DbClusterResourceId` (`cluster-` and 26).
pub fn database_resource_id(account: &str, region: &str, spec: &DatabaseSpec) -> String {
    let (prefix, seed) = match spec.kind {
        DatabaseKind::Instance => ("db-", "dbi"),
        DatabaseKind::Cluster => ("cluster-", "cluster"),
    };
    let chars = derived_chars(&[seed, account, region, &spec.identifier], UPPER_ALNUM, 26);
    format!("{prefix}{chars}")
}

/// `arn:aws:rds:<region>:<account>:db:<id>` or `...:cluster:<id>`.
pub fn database_arn(account: &str, region: &str, spec: &DatabaseSpec) -> String {
    let kind = match spec.kind {
        DatabaseKind::Instance => "db",
        DatabaseKind::Cluster => "cluster",
    };
    format!("arn:aws:rds:{region}:{account}:{kind}:{}", spec.identifier)
}

/// The secret RDS creates for a managed password, `rds!db-<uuid>-<6 chars>` or
/// `rds!cluster-<uuid>-<6 chars>`, derived from where the database lives.
pub fn managed_secret_arn(account: &str, region: &str, spec: &DatabaseSpec) -> String {
    let kind = match spec.kind {
        DatabaseKind::Instance => "db",
        DatabaseKind::Cluster => "cluster",
    };
    let uuid = crate::ids::derived_uuid(&["rds-secret", account, region, &spec.identifier]);
    crate::store::secret_arn(account, region, &format!("rds!{kind}-{uuid}"))
}

/// RDS identifiers: 1 to 63 ASCII letters, digits and hyphens, starting with a letter, without
/// two hyphens in a row or a hyphen at the end.
pub(crate) fn check_identifier(identifier: &str) -> Result<(), String> {
    let valid = (1..=63).contains(&identifier.len())
        && identifier.starts_with(|c: char| c.is_ascii_alphabetic())
        && identifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !identifier.ends_with('-')
        && !identifier.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "identifier `{identifier}` must be 1 to 63 letters, digits and hyphens, start with a \
             letter and have no two hyphens in a row nor one at the end"
        ))
    }
}

/// Checks one database alone; each message starts with the field at fault.
pub(crate) fn check_database(spec: &DatabaseSpec) -> Result<(), String> {
    check_identifier(&spec.identifier).map_err(|e| format!("identifier: {e}"))?;
    if spec.kind == DatabaseKind::Cluster {
        if spec.cluster.is_some() {
            return Err("cluster: only an instance is a member of a cluster".to_string());
        }
        if spec.read_replica_of.is_some() {
            return Err("read_replica_of: only for an instance".to_string());
        }
    }
    if !spec.managed_password
        && (spec.master_secret.is_some() || spec.master_secret_kms_key.is_some())
    {
        return Err("master_secret: only with managed_password: true".to_string());
    }
    if spec.status.is_empty() {
        return Err("status: must not be empty".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_rds_rules() {
        for good in ["a", "orders-db", "A1-b2"] {
            assert_eq!(check_identifier(good), Ok(()), "{good}");
        }
        for bad in ["", "1db", "a--b", "a-", "a_b", &"a".repeat(64)] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_ids_have_rds_shapes() {
        let spec = DatabaseSpec::instance("orders");
        let id = database_resource_id("111111111111", "us-east-1", &spec);
        assert!(id.starts_with("db-") && id.len() == 29, "{id}");
        let arn = managed_secret_arn("111111111111", "us-east-1", &spec);
        assert!(
            arn.starts_with("arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!db-"),
            "{arn}"
        );
        assert_eq!(
            database_arn("111111111111", "us-east-1", &DatabaseSpec::cluster("c")),
            "arn:aws:rds:us-east-1:111111111111:cluster:c"
        );
    }
}
