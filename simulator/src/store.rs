//! Secrets held per (account, region), indexed so that a page of `ListSecrets` costs O(page).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::cloudtrail::events::Trail;
use crate::fleet::{
    AWSCURRENT, Account, DatabaseKind, LambdaSpec, ParameterSpec, PlacedDatabase, SecretSpec,
    VpcSpec,
};
use crate::ids::{derived_chars, derived_uuid};
use crate::organizations::model::OrgState;

/// A secret as served: its spec with versions settled and its ARN.
#[derive(Debug, Clone)]
pub(crate) struct StoredSecret {
    pub spec: SecretSpec,
    /// Version ids in the same order as `spec.versions`.
    pub version_ids: Vec<String>,
    pub arn: String,
}

#[derive(Debug, Default)]
pub(crate) struct RegionStore {
    pub by_name: BTreeMap<String, Arc<StoredSecret>>,
    pub by_created: BTreeSet<(i64, String)>,
}

impl StoredSecret {
    /// The spec with every version's id filled in, ready to be changed and stored again.
    pub fn settled_spec(&self) -> SecretSpec {
        let mut spec = self.spec.clone();
        for (version, id) in spec.versions.iter_mut().zip(&self.version_ids) {
            version.id = Some(id.clone());
        }
        spec
    }
}

impl RegionStore {
    pub fn insert(&mut self, secret: StoredSecret) -> Option<Arc<StoredSecret>> {
        let name = secret.spec.name.clone();
        let created = secret.spec.created.timestamp_millis();
        let previous = self.by_name.insert(name.clone(), Arc::new(secret));
        if let Some(old) = &previous {
            self.by_created
                .remove(&(old.spec.created.timestamp_millis(), name.clone()));
        }
        self.by_created.insert((created, name));
        previous
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<StoredSecret>> {
        let removed = self.by_name.remove(name)?;
        self.by_created
            .remove(&(removed.spec.created.timestamp_millis(), name.to_string()));
        Some(removed)
    }

    /// Finds a secret by name, full ARN or partial ARN (the ARN without its random suffix).
    pub fn find(&self, secret_id: &str, account: &str, region: &str) -> Option<&Arc<StoredSecret>> {
        let Some(rest) = secret_id.strip_prefix("arn:") else {
            return self.by_name.get(secret_id);
        };
        let prefix = format!("aws:secretsmanager:{region}:{account}:secret:");
        let name_part = rest.strip_prefix(&prefix)?;
        if let Some(secret) = name_part
            .len()
            .checked_sub(7)
            .and_then(|cut| name_part.get(..cut))
            .and_then(|name| self.by_name.get(name))
            .filter(|secret| secret.arn == secret_id)
        {
            return Some(secret);
        }
        self.by_name.get(name_part)
    }
}

#[derive(Debug, Default)]
pub(crate) struct World {
    pub accounts: BTreeMap<String, Account>,
    pub stores: HashMap<(String, String), RegionStore>,
    /// CloudTrail event history per (account, region).
    pub trails: HashMap<(String, String), Trail>,
    /// Lambda functions per (account, region), by name.
    pub lambdas: HashMap<(String, String), BTreeMap<String, LambdaSpec>>,
    /// SSM parameters per (account, region), by name: `DescribeParameters` pages in name order.
    pub parameters: HashMap<(String, String), BTreeMap<String, ParameterSpec>>,
    /// RDS DB instances and clusters per (account, region), by identifier.
    pub databases: HashMap<(String, String), Databases>,
    /// VPCs per (account, region), by VPC id: `DescribeVpcs` pages in id order.
    pub vpcs: HashMap<(String, String), BTreeMap<String, VpcSpec>>,
    /// `DescribeParameters` examines at most `MaxResults` parameters a page, as AWS may.
    pub ssm_short_pages: bool,
    /// `None` when the fleet has no organization: every account is in none.
    pub organization: Option<OrgState>,
    /// The fleet's default regions, for accounts added while the simulator runs.
    pub default_regions: Vec<String>,
}

/// The RDS databases of one account-region; instances and clusters have separate names.
#[derive(Debug, Default)]
pub(crate) struct Databases {
    pub instances: BTreeMap<String, PlacedDatabase>,
    pub clusters: BTreeMap<String, PlacedDatabase>,
}

impl Databases {
    pub fn of_kind(&self, kind: DatabaseKind) -> &BTreeMap<String, PlacedDatabase> {
        match kind {
            DatabaseKind::Instance => &self.instances,
            DatabaseKind::Cluster => &self.clusters,
        }
    }
}

impl World {
    pub fn databases(&self, account: &str, region: &str) -> Option<&Databases> {
        self.databases
            .get(&(account.to_string(), region.to_string()))
    }

    /// Adds a database of the fleet where it lives.
    pub fn put_database(&mut self, placed: PlacedDatabase) {
        let place = (placed.account.clone(), placed.region.clone());
        let databases = self.databases.entry(place).or_default();
        let by_id = match placed.database.kind {
            DatabaseKind::Instance => &mut databases.instances,
            DatabaseKind::Cluster => &mut databases.clusters,
        };
        by_id.insert(placed.database.identifier.clone(), placed);
    }

    pub fn vpcs(&self, account: &str, region: &str) -> Option<&BTreeMap<String, VpcSpec>> {
        self.vpcs.get(&(account.to_string(), region.to_string()))
    }

    pub fn store(&self, account: &str, region: &str) -> Option<&RegionStore> {
        self.stores.get(&(account.to_string(), region.to_string()))
    }

    pub fn trail(&self, account: &str, region: &str) -> Option<&Trail> {
        self.trails.get(&(account.to_string(), region.to_string()))
    }

    pub fn trail_mut(&mut self, account: &str, region: &str) -> &mut Trail {
        self.trails
            .entry((account.to_string(), region.to_string()))
            .or_default()
    }

    pub fn lambda(&self, account: &str, region: &str, name: &str) -> Option<&LambdaSpec> {
        self.lambdas
            .get(&(account.to_string(), region.to_string()))?
            .get(name)
    }

    pub fn lambdas_mut(
        &mut self,
        account: &str,
        region: &str,
    ) -> &mut BTreeMap<String, LambdaSpec> {
        self.lambdas
            .entry((account.to_string(), region.to_string()))
            .or_default()
    }

    pub fn parameters(
        &self,
        account: &str,
        region: &str,
    ) -> Option<&BTreeMap<String, ParameterSpec>> {
        self.parameters
            .get(&(account.to_string(), region.to_string()))
    }

    pub fn parameters_mut(
        &mut self,
        account: &str,
        region: &str,
    ) -> &mut BTreeMap<String, ParameterSpec> {
        self.parameters
            .entry((account.to_string(), region.to_string()))
            .or_default()
    }

    pub fn store_mut(&mut self, account: &str, region: &str) -> &mut RegionStore {
        self.stores
            .entry((account.to_string(), region.to_string()))
            .or_default()
    }

    pub fn put(
        &mut self,
        account: &str,
        region: &str,
        spec: SecretSpec,
    ) -> Option<Arc<StoredSecret>> {
        let stored = settle(account, region, spec);
        if let Some(known) = self.accounts.get_mut(account)
            && !known.regions.iter().any(|r| r == region)
        {
            known.regions.push(region.to_string());
        }
        self.store_mut(account, region).insert(stored)
    }
}

/// Gives a spec its ARN, a default `AWSCURRENT` version when it has none, and version ids.
pub(crate) fn settle(account: &str, region: &str, mut spec: SecretSpec) -> StoredSecret {
    if spec.versions.is_empty() {
        let created = spec.last_rotated.unwrap_or(spec.created).max(spec.created);
        spec.versions
            .push(crate::fleet::VersionSpec::new([AWSCURRENT], created));
    }
    let version_ids = spec
        .versions
        .iter()
        .enumerate()
        .map(|(index, version)| {
            version
                .id
                .clone()
                .unwrap_or_else(|| version_id(account, region, &spec.name, index))
        })
        .collect();
    StoredSecret {
        arn: secret_arn(account, region, &spec.name),
        version_ids,
        spec,
    }
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The ARN AWS would give the secret; its 6-character suffix is derived from where it lives.
pub fn secret_arn(account: &str, region: &str, name: &str) -> String {
    let suffix = derived_chars(&["arn", account, region, name], ALPHANUMERIC, 6);
    format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
}

fn version_id(account: &str, region: &str, name: &str, index: usize) -> String {
    let index = index.to_string();
    derived_uuid(&["version", account, region, name, &index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_reproducible_and_distinct_per_place() {
        let arn = secret_arn("111111111111", "us-east-1", "db/password");
        assert_eq!(arn, secret_arn("111111111111", "us-east-1", "db/password"));
        let prefix = "arn:aws:secretsmanager:us-east-1:111111111111:secret:db/password-";
        let suffix = arn.strip_prefix(prefix).unwrap_or_default();
        assert_eq!(suffix.len(), 6, "{arn}");
        assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()), "{arn}");
        assert_ne!(arn, secret_arn("111111111111", "eu-west-1", "db/password"));
    }

    #[test]
    fn secrets_are_found_by_name_and_by_full_or_partial_arn() {
        let mut store = RegionStore::default();
        store.insert(settle(
            "111111111111",
            "us-east-1",
            SecretSpec::new("app/key"),
        ));
        let arn = secret_arn("111111111111", "us-east-1", "app/key");
        let find = |id: &str| {
            store
                .find(id, "111111111111", "us-east-1")
                .map(|s| s.spec.name.clone())
        };
        assert_eq!(find("app/key").as_deref(), Some("app/key"));
        assert_eq!(find(&arn).as_deref(), Some("app/key"));
        assert_eq!(
            find("arn:aws:secretsmanager:us-east-1:111111111111:secret:app/key").as_deref(),
            Some("app/key")
        );
        assert_eq!(
            find("arn:aws:secretsmanager:eu-west-1:111111111111:secret:app/key"),
            None
        );
        assert_eq!(find("app/other"), None);
    }

    #[test]
    fn replacing_a_secret_moves_it_in_the_creation_index() {
        let mut store = RegionStore::default();
        let old = SecretSpec::new("s").created_days_ago(10);
        store.insert(settle("111111111111", "us-east-1", old));
        let new = SecretSpec::new("s").created_days_ago(1);
        let created = new.created.timestamp_millis();
        store.insert(settle("111111111111", "us-east-1", new));
        assert_eq!(
            store.by_created.iter().collect::<Vec<_>>(),
            [&(created, "s".to_string())]
        );
        assert!(store.remove("s").is_some());
        assert!(store.by_created.is_empty());
    }

    #[test]
    fn a_secret_without_versions_gets_a_current_one_at_its_last_rotation() {
        let spec = SecretSpec::new("s")
            .created_days_ago(100)
            .last_rotated_days_ago(3);
        let rotated = spec.last_rotated;
        let stored = settle("111111111111", "us-east-1", spec);
        assert_eq!(stored.spec.versions.len(), 1);
        assert_eq!(stored.spec.versions[0].stages, [AWSCURRENT]);
        assert_eq!(Some(stored.spec.versions[0].created), rotated);
        assert_eq!(stored.version_ids[0].len(), 36);
    }
}
