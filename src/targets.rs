//! The accounts and (account, region) targets this replica polls. The list
//! changes while the exporter runs when discovery finds or loses accounts:
//! the poller, every source's loops and the snapshot read it from one
//! [`TargetSet`], so they never disagree about what is watched.

use std::collections::HashSet;
use std::sync::Arc;

use crate::aws::Target;
use crate::config::{Account, Shard};
use crate::snapshot::AccountInfo;

/// One account to poll: how to reach it and what `aws_account_info` says
/// of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledAccount {
    pub account: Account,
    /// Where Organizations places it, as names from the root down
    /// (`Root/Workloads/Prod`); `None` when it was not discovered.
    pub ou_path: Option<String>,
    /// The account's tags among `labels.account_tags`, sorted by key.
    pub tags: Vec<(String, String)>,
}

impl PolledAccount {
    /// An account of the configuration, known by nothing but its entry.
    pub fn configured(account: Account) -> Self {
        Self {
            account,
            ou_path: None,
            tags: Vec::new(),
        }
    }

    fn info(&self) -> AccountInfo {
        AccountInfo {
            account_id: self.account.id.clone(),
            account_name: self.account.name.clone(),
            ou_path: self.ou_path.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// What one replica polls at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    /// The accounts of this shard, sorted by id.
    pub accounts: Arc<[AccountInfo]>,
    /// Their (account, region) targets, sorted by account and region.
    pub targets: Vec<Target>,
    /// The (account, region) keys of `targets`, for lookups.
    keys: HashSet<(String, String)>,
}

impl TargetList {
    /// The targets of the accounts `shard` owns; `count` replicas with
    /// indexes 0 to count - 1 together cover every account exactly once.
    pub fn new(accounts: &[PolledAccount], shard: Shard) -> Self {
        let mut owned: Vec<&PolledAccount> = accounts
            .iter()
            .filter(|polled| shard.owns(&polled.account.id))
            .collect();
        owned.sort_by(|a, b| a.account.id.cmp(&b.account.id));
        owned.dedup_by(|a, b| a.account.id == b.account.id);
        let configs: Vec<Account> = owned.iter().map(|p| p.account.clone()).collect();
        Self {
            accounts: owned.iter().map(|polled| polled.info()).collect(),
            ..Self::of_targets(Target::all(&configs))
        }
    }

    /// The targets of the configured `accounts` that `shard` owns.
    pub fn configured(accounts: &[Account], shard: Shard) -> Self {
        let polled: Vec<PolledAccount> = accounts
            .iter()
            .cloned()
            .map(PolledAccount::configured)
            .collect();
        Self::new(&polled, shard)
    }

    /// These targets as they are, each account known by its id and name
    /// only.
    pub fn of_targets(mut targets: Vec<Target>) -> Self {
        targets.sort_by(|a, b| {
            (a.account_id.as_str(), a.region.as_str())
                .cmp(&(b.account_id.as_str(), b.region.as_str()))
        });
        targets.dedup_by(|a, b| a.account_id == b.account_id && a.region == b.region);
        let mut accounts: Vec<AccountInfo> = targets
            .iter()
            .map(|t| AccountInfo {
                account_id: t.account_id.clone(),
                account_name: t.account_name.clone(),
                ou_path: None,
                tags: Vec::new(),
            })
            .collect();
        accounts.dedup_by(|a, b| a.account_id == b.account_id);
        let keys = targets
            .iter()
            .map(|t| (t.account_id.clone(), t.region.clone()))
            .collect();
        Self {
            accounts: accounts.into(),
            targets,
            keys,
        }
    }

    pub fn contains(&self, account_id: &str, region: &str) -> bool {
        self.keys
            .contains(&(account_id.to_owned(), region.to_owned()))
    }

    /// The (account, region) keys of `self` that `other` lacks.
    pub fn missing_from<'a>(
        &'a self,
        other: &'a TargetList,
    ) -> impl Iterator<Item = &'a Target> + 'a {
        self.targets
            .iter()
            .filter(|t| !other.contains(&t.account_id, &t.region))
    }
}

/// The current [`TargetList`], shared by everything that polls or reads a
/// target, and the signal that it changed. Cloning shares the same list.
#[derive(Debug, Clone)]
pub struct TargetSet {
    current: Arc<tokio::sync::watch::Sender<Arc<TargetList>>>,
}

impl TargetSet {
    pub fn new(list: TargetList) -> Self {
        Self {
            current: Arc::new(tokio::sync::watch::Sender::new(Arc::new(list))),
        }
    }

    /// A set of these targets that nothing changes.
    pub fn fixed(targets: Vec<Target>) -> Self {
        Self::new(TargetList::of_targets(targets))
    }

    pub fn current(&self) -> Arc<TargetList> {
        self.current.borrow().clone()
    }

    /// Replaces the list; returns whether it changed. Watchers are told
    /// only of a change.
    pub fn publish(&self, list: TargetList) -> bool {
        self.current.send_if_modified(|held| {
            if **held == list {
                false
            } else {
                *held = Arc::new(list);
                true
            }
        })
    }

    /// A watcher whose `changed()` resolves at each change after this call.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Arc<TargetList>> {
        let mut receiver = self.current.subscribe();
        receiver.mark_unchanged();
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, regions: &[&str]) -> Account {
        Account {
            id: id.to_owned(),
            role_arn: None,
            external_id: None,
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            name: None,
        }
    }

    #[test]
    fn publishing_the_same_list_is_no_change() {
        let set = TargetSet::new(TargetList::configured(
            &[account("111111111111", &["us-east-1"])],
            Shard::default(),
        ));
        let watcher = set.watch();
        assert!(!set.publish(TargetList::configured(
            &[account("111111111111", &["us-east-1"])],
            Shard::default(),
        )));
        assert!(!watcher.has_changed().unwrap());
        assert!(set.publish(TargetList::configured(
            &[account("111111111111", &["us-east-1", "eu-west-1"])],
            Shard::default(),
        )));
        assert!(watcher.has_changed().unwrap());
        assert!(set.current().contains("111111111111", "eu-west-1"));
    }
}
