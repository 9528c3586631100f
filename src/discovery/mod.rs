//! Account discovery through AWS Organizations: the organization is read
//! every `refresh_interval`, and its active accounts in the included units
//! join the explicit `accounts` as targets. A refresh that fails keeps the
//! last good list: Organizations throttling or denying never empties
//! `/metrics`; it shows as `target_up{source="organizations"} 0`.

// Every value here may come from AWS: arithmetic is checked or saturating.
#![deny(clippy::arithmetic_side_effects)]

pub mod walk;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::aws::SourceError;
use crate::aws::organizations::{OrganizationsApi, partition_of_region};
use crate::config::{Account, Config, OrganizationsDiscovery};
use crate::metrics::ExporterMetrics;
use crate::poller::Decorate;
use crate::snapshot::{Snapshot, Source, SourceHealth, TargetError};
use crate::targets::{PolledAccount, TargetList, TargetSet};
use walk::{FoundAccount, Walk};

/// A refresh may take this long at least, whatever the refresh interval:
/// reading the tags of thousands of accounts at Organizations' pace takes
/// minutes.
const MIN_REFRESH_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// After a failed refresh the next comes sooner than the refresh interval,
/// but not sooner than this: a start-up that met a throttled Organizations
/// should not wait an hour for its accounts.
const MIN_RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The accounts to poll from the explicit `accounts` and what discovery
/// found. Explicit entries win for the same id (their role, external id,
/// regions and name; the discovered name fills in a missing one) and are
/// polled whether discovery finds them or not; discovered accounts are
/// read through the member role in every top-level region.
pub fn merge_accounts(
    explicit: &[Account],
    found: &[FoundAccount],
    scope: &OrganizationsDiscovery,
    regions: &[String],
    default_partition: &str,
) -> Vec<PolledAccount> {
    let found_by_id: BTreeMap<&str, &FoundAccount> = found
        .iter()
        .map(|account| (account.id.as_str(), account))
        .collect();
    let mut accounts: Vec<PolledAccount> = explicit
        .iter()
        .map(|account| {
            let discovered = found_by_id.get(account.id.as_str());
            let mut account = account.clone();
            if account.name.is_none() {
                account.name = discovered.and_then(|found| found.name.clone());
            }
            PolledAccount {
                account,
                ou_path: discovered.map(|found| found.ou_path.clone()),
                tags: discovered
                    .map(|found| found.tags.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let explicit_ids: std::collections::HashSet<&str> =
        explicit.iter().map(|account| account.id.as_str()).collect();
    for account in found {
        if explicit_ids.contains(account.id.as_str()) {
            continue;
        }
        let partition = account.partition.as_deref().unwrap_or(default_partition);
        accounts.push(PolledAccount {
            account: Account {
                id: account.id.clone(),
                role_arn: Some(format!(
                    "arn:{partition}:iam::{}:role/{}",
                    account.id, scope.member_role_name
                )),
                external_id: scope.member_external_id.clone(),
                regions: regions.to_vec(),
                name: account.name.clone(),
            },
            ou_path: Some(account.ou_path.clone()),
            tags: account.tags.clone(),
        });
    }
    accounts
}

/// What discovery keeps between refreshes.
#[derive(Debug, Default)]
struct Book {
    health: Option<SourceHealth>,
    last_success: Option<DateTime<Utc>>,
    /// The accounts of the last good walk, kept so that a reload can merge
    /// them with new explicit accounts before its own first walk.
    found: Option<Vec<FoundAccount>>,
}

/// Reads the organization and keeps the target list up to date.
pub struct AccountDiscovery<A> {
    api: A,
    config: Arc<Config>,
    scope: OrganizationsDiscovery,
    targets: TargetSet,
    metrics: ExporterMetrics,
    /// The account and region Organizations is read from, which label its
    /// health and errors.
    reader_account: String,
    reader_region: String,
    /// The partition of discovered accounts whose ARN does not name one.
    default_partition: String,
    book: Mutex<Book>,
    /// Told after each refresh, so the snapshot shows the new health.
    changed: Option<Arc<tokio::sync::Notify>>,
    /// Set when a reload replaced this discovery: it publishes nothing more
    /// and its loop ends.
    retired: std::sync::atomic::AtomicBool,
    retiring: tokio::sync::Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<A: OrganizationsApi> AccountDiscovery<A> {
    /// `None` when the configuration asks for no discovery.
    pub fn new(
        api: A,
        config: Arc<Config>,
        targets: TargetSet,
        metrics: ExporterMetrics,
        reader_account: String,
        reader_region: String,
    ) -> Option<Self> {
        let scope = config.discovery.organizations.clone()?;
        metrics.init_target(&reader_account, &reader_region, Source::Organizations);
        for operation in [
            "ListRoots",
            "ListOrganizationalUnitsForParent",
            "ListAccountsForParent",
        ] {
            metrics.init_aws_operation("organizations", operation);
        }
        if !config.labels.account_tags.is_empty() {
            metrics.init_aws_operation("organizations", "ListTagsForResource");
        }
        let default_partition = scope
            .role_arn
            .as_deref()
            .and_then(walk::arn_partition)
            .unwrap_or_else(|| partition_of_region(&reader_region).to_owned());
        Some(Self {
            api,
            config,
            scope,
            targets,
            metrics,
            reader_account,
            reader_region,
            default_partition,
            book: Mutex::default(),
            changed: None,
            retired: std::sync::atomic::AtomicBool::new(false),
            retiring: tokio::sync::Notify::new(),
        })
    }

    pub fn notify_changes(mut self, changed: Arc<tokio::sync::Notify>) -> Self {
        self.changed = Some(changed);
        self
    }

    /// The health of the last refresh; `None` before the first.
    pub fn health(&self) -> Option<SourceHealth> {
        lock(&self.book).health.clone()
    }

    /// Starts from what an earlier discovery knew (a reload replaced it):
    /// its last good accounts and health. The targets are worked out from
    /// them at once with this discovery's configuration, before its first
    /// walk.
    pub fn seed(&self, earlier: &dyn RunningDiscovery) {
        let found = earlier.found();
        {
            let mut book = lock(&self.book);
            // The health series goes on only where it is labelled the same.
            if earlier.reader() == (self.reader_account.as_str(), self.reader_region.as_str()) {
                book.health = earlier.health();
                book.last_success = book.health.as_ref().and_then(|h| h.last_success);
            }
            book.found = found.clone();
        }
        let accounts = match &found {
            Some(found) => self.merged(found),
            None => self
                .config
                .accounts
                .iter()
                .cloned()
                .map(PolledAccount::configured)
                .collect(),
        };
        self.targets
            .publish(TargetList::new(&accounts, self.config.shard));
    }

    fn merged(&self, found: &[FoundAccount]) -> Vec<PolledAccount> {
        merge_accounts(
            &self.config.accounts,
            found,
            &self.scope,
            &self.config.regions,
            &self.default_partition,
        )
    }

    /// Reads the organization once and, when that succeeds, makes its
    /// accounts the targets. Returns whether it succeeded; a failure keeps
    /// the targets as they were.
    pub async fn refresh(&self, now: DateTime<Utc>) -> bool {
        let began = Instant::now();
        let deadline = self.scope.refresh_interval.max(MIN_REFRESH_DEADLINE);
        let read = walk::walk(&self.api, &self.scope, &self.config.labels.account_tags);
        let result = match tokio::time::timeout(deadline, read).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::timeout(format!(
                "reading the organization took longer than {}s",
                deadline.as_secs()
            ))),
        };
        let poll_duration = began.elapsed();
        let succeeded = match result {
            Ok(walk) => {
                self.adopt(walk);
                let mut book = lock(&self.book);
                book.last_success = Some(now);
                book.health = Some(SourceHealth {
                    source: Source::Organizations,
                    up: true,
                    last_success: Some(now),
                    poll_duration,
                    last_error: None,
                });
                true
            }
            Err(err) => {
                tracing::warn!(
                    account_id = %self.reader_account,
                    reason = err.reason.as_str(),
                    error = %err.message,
                    "reading the organization failed; the accounts found before are still polled"
                );
                self.metrics.record_error(
                    &self.reader_account,
                    &self.reader_region,
                    Source::Organizations,
                    err.reason,
                );
                let mut book = lock(&self.book);
                book.health = Some(SourceHealth {
                    source: Source::Organizations,
                    up: false,
                    last_success: book.last_success,
                    poll_duration,
                    last_error: Some(TargetError::from(err)),
                });
                false
            }
        };
        if let Some(changed) = &self.changed {
            changed.notify_one();
        }
        succeeded
    }

    fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Makes a good walk's accounts the targets, and says what it could not use.
    fn adopt(&self, walk: Walk) {
        if self.is_retired() {
            return;
        }
        for skipped in &walk.skipped {
            tracing::warn!(account_id = %self.reader_account, "organization answer: {skipped}");
            self.metrics.record_error(
                &self.reader_account,
                &self.reader_region,
                Source::Organizations,
                crate::snapshot::ErrorReason::InvalidResponse,
            );
        }
        if !walk.units_not_found.is_empty() {
            tracing::warn!(
                units = %walk.units_not_found.join(", "),
                "discovery.organizations names units the organization does not have"
            );
        }
        let accounts = self.merged(&walk.accounts);
        lock(&self.book).found = Some(walk.accounts.clone());
        let list = TargetList::new(&accounts, self.config.shard);
        let before = self.targets.current();
        let added = list.accounts.iter().filter(|a| {
            before
                .accounts
                .binary_search_by(|held| held.account_id.cmp(&a.account_id))
                .is_err()
        });
        let added = added.count();
        let removed = before
            .accounts
            .iter()
            .filter(|a| {
                list.accounts
                    .binary_search_by(|held| held.account_id.cmp(&a.account_id))
                    .is_err()
            })
            .count();
        tracing::info!(
            discovered = walk.accounts.len(),
            inactive = walk.inactive,
            polled_accounts = list.accounts.len(),
            targets = list.targets.len(),
            added,
            removed,
            "organization read"
        );
        self.targets.publish(list);
    }

    /// Refreshes at once, then every `refresh_interval` until `shutdown`;
    /// after a failure, sooner: at the poll interval.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let retry_after = self
            .config
            .poll_interval
            .min(self.scope.refresh_interval)
            .max(MIN_RETRY_AFTER_FAILURE);
        let retiring = self.retiring.notified();
        tokio::pin!(retiring);
        retiring.as_mut().enable();
        while !self.is_retired() {
            let wait = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = &mut retiring => return,
                succeeded = self.refresh(Utc::now()) => {
                    if succeeded { self.scope.refresh_interval } else { retry_after }
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = &mut retiring => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl<A: OrganizationsApi> Decorate for AccountDiscovery<A> {
    fn decorate(&self, snapshot: &mut Snapshot) {
        if let Some(health) = self.health() {
            snapshot.attach_health(&self.reader_account, &self.reader_region, health);
        }
    }
}

/// Reads the organization once for `serve` or `check`, as a running source.
pub trait RunningDiscovery: Send + Sync {
    fn start(
        self: Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()>;

    fn refresh_once(&self, now: DateTime<Utc>) -> futures::future::BoxFuture<'_, bool>;

    fn health(&self) -> Option<SourceHealth>;

    /// The accounts of the last good walk.
    fn found(&self) -> Option<Vec<FoundAccount>>;

    /// The account and region Organizations is read from.
    fn reader(&self) -> (&str, &str);

    /// Adds its health to a snapshot being built.
    fn decorate(&self, snapshot: &mut Snapshot);

    /// Takes over from `earlier`, which a reload replaces: see
    /// [`AccountDiscovery::seed`].
    fn seed_from(&self, earlier: &dyn RunningDiscovery);

    /// Stops for good: no more refreshes, nothing more published.
    fn retire(&self);
}

/// The discovery running now, which a reload replaces: the poller asks it
/// for its health when it builds a snapshot.
#[derive(Default)]
pub struct CurrentDiscovery {
    current: Mutex<Option<Arc<dyn RunningDiscovery>>>,
}

impl CurrentDiscovery {
    pub fn get(&self) -> Option<Arc<dyn RunningDiscovery>> {
        lock(&self.current).clone()
    }

    /// Makes `discovery` the current one; returns the one it replaces.
    pub fn replace(
        &self,
        discovery: Option<Arc<dyn RunningDiscovery>>,
    ) -> Option<Arc<dyn RunningDiscovery>> {
        std::mem::replace(&mut *lock(&self.current), discovery)
    }
}

impl Decorate for CurrentDiscovery {
    fn decorate(&self, snapshot: &mut Snapshot) {
        if let Some(discovery) = self.get() {
            discovery.decorate(snapshot);
        }
    }
}

impl<A: OrganizationsApi> RunningDiscovery for AccountDiscovery<A> {
    fn start(
        self: Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    fn refresh_once(&self, now: DateTime<Utc>) -> futures::future::BoxFuture<'_, bool> {
        Box::pin(self.refresh(now))
    }

    fn health(&self) -> Option<SourceHealth> {
        AccountDiscovery::health(self)
    }

    fn found(&self) -> Option<Vec<FoundAccount>> {
        lock(&self.book).found.clone()
    }

    fn reader(&self) -> (&str, &str) {
        (&self.reader_account, &self.reader_region)
    }

    fn seed_from(&self, earlier: &dyn RunningDiscovery) {
        self.seed(earlier);
    }

    fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Release);
        self.retiring.notify_waiters();
    }

    fn decorate(&self, snapshot: &mut Snapshot) {
        Decorate::decorate(self, snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(id: &str, partition: Option<&str>) -> FoundAccount {
        FoundAccount {
            id: id.to_owned(),
            name: Some(format!("org-name-{id}")),
            ou_path: "Root/Workloads".to_owned(),
            partition: partition.map(str::to_owned),
            tags: vec![("cost-center".to_owned(), "cc-1".to_owned())],
        }
    }

    fn scope() -> OrganizationsDiscovery {
        OrganizationsDiscovery {
            role_arn: None,
            external_id: None,
            member_role_name: "platform/secrets-rotation-reader".to_owned(),
            member_external_id: Some("member-external".to_owned()),
            include_ous: Vec::new(),
            exclude_ous: Vec::new(),
            exclude_accounts: Vec::new(),
            refresh_interval: Duration::from_secs(3600),
            requests_per_second: 4.0,
        }
    }

    #[test]
    fn explicit_accounts_win_and_discovered_ones_use_the_member_role() {
        let explicit = vec![
            Account {
                id: "111111111111".to_owned(),
                role_arn: Some("arn:aws:iam::111111111111:role/own".to_owned()),
                external_id: Some("own-external".to_owned()),
                regions: vec!["eu-west-1".to_owned()],
                name: None,
            },
            Account {
                id: "555555555555".to_owned(),
                role_arn: None,
                external_id: None,
                regions: vec!["us-east-1".to_owned()],
                name: Some("not-in-the-org".to_owned()),
            },
        ];
        let regions = vec!["us-east-1".to_owned(), "eu-central-1".to_owned()];
        let merged = merge_accounts(
            &explicit,
            &[
                found("111111111111", Some("aws")),
                found("222222222222", Some("aws-cn")),
                found("333333333333", None),
            ],
            &scope(),
            &regions,
            "aws-us-gov",
        );
        let ids: Vec<&str> = merged.iter().map(|p| p.account.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "111111111111",
                "555555555555",
                "222222222222",
                "333333333333"
            ]
        );
        // The explicit entry keeps its role, external id and regions; the
        // organization fills in its name, place and tags.
        assert_eq!(merged[0].account.role_arn, explicit[0].role_arn);
        assert_eq!(merged[0].account.external_id, explicit[0].external_id);
        assert_eq!(merged[0].account.regions, ["eu-west-1"]);
        assert_eq!(
            merged[0].account.name.as_deref(),
            Some("org-name-111111111111")
        );
        assert_eq!(merged[0].ou_path.as_deref(), Some("Root/Workloads"));
        assert_eq!(merged[1].ou_path, None);
        assert_eq!(merged[1].account.name.as_deref(), Some("not-in-the-org"));
        assert_eq!(
            merged[2].account.role_arn.as_deref(),
            Some("arn:aws-cn:iam::222222222222:role/platform/secrets-rotation-reader")
        );
        assert_eq!(
            merged[3].account.role_arn.as_deref(),
            Some("arn:aws-us-gov:iam::333333333333:role/platform/secrets-rotation-reader")
        );
        assert_eq!(
            merged[3].account.external_id.as_deref(),
            Some("member-external")
        );
        assert_eq!(merged[3].account.regions, regions);
        assert_eq!(
            merged[3].tags,
            [("cost-center".to_owned(), "cc-1".to_owned())]
        );
    }
}
