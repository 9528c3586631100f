//! The background poll: every (account, region) concurrently with a bound,
//! each under its own timeout, so one slow or failing target never blanks
//! or delays the others. Each poll builds one immutable snapshot.

// Every value here may come from AWS, and AWS has sent dates that overflow
// unchecked arithmetic (a far-future `LastRotatedDate` once panicked the
// whole poll): arithmetic is checked or saturating, or says why it cannot
// overflow.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use tokio::time::MissedTickBehavior;

use crate::aws::secretsmanager::{SecretsSource, VersionFacts};
use crate::aws::{SourceError, Target};
use crate::config::{Config, Policy};
use crate::databases::DatabaseInventory;
use crate::inventory::{PreviousVersionAccess, SecretRecord, Unknown};
use crate::metrics::ExporterMetrics;
use crate::parameters::{ParameterInventory, ParameterReport};
use crate::policy;
use crate::snapshot::{
    ErrorReason, SecretReport, Snapshot, SnapshotStore, Source, SourceHealth, TargetError,
    TargetSnapshot,
};
use crate::sources::{SnapshotView, TargetPart};
use crate::targets::{TargetList, TargetSet};
use crate::vpcs::VpcInventory;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A failed target keeps its last good secrets for this many poll intervals,
/// so a blip does not make every alert on its secrets resolve and re-fire.
pub const STALE_INTERVALS: u32 = 3;

/// `ListSecretVersionIds` requests per second per target. Secrets Manager
/// allows 50 a second per account and region; the rest is left to other
/// callers in the account. A target needing 10,000 lookups (a large account
/// seen for the first time with many values set by hand) takes about four
/// minutes: `serve` spreads that over polls, `check` waits for it.
pub const VERSION_LOOKUPS_PER_SECOND: u32 = 40;

/// `ListSecretVersionIds` requests in flight per target: at about 100 ms a
/// request, enough to keep the pace above.
const VERSION_LOOKUPS_IN_FLIGHT: usize = 8;

/// A deadline as far off as the clock allows, for a timeout too large to add.
fn far_future() -> tokio::time::Instant {
    // About 30 years, what tokio itself treats as "never".
    let thirty_years = Duration::from_secs(86_400 * 365 * 30);
    let now = tokio::time::Instant::now();
    now.checked_add(thirty_years).unwrap_or(now)
}

/// Creation times of the versions the checks need, by (secret ARN, version
/// id). Only versions still current or pending are kept.
type VersionCache = HashMap<(String, String), DateTime<Utc>>;

/// The last lookup of a secret's previous version.
#[derive(Debug, Clone)]
struct PreviousLookup {
    version_id: Box<str>,
    last_accessed: Option<DateTime<Utc>>,
    /// Creation of the current version, which replaced it.
    replaced_at: Option<DateTime<Utc>>,
    looked_up_on: chrono::NaiveDate,
}

/// What the poller keeps of one target's versions between polls.
#[derive(Debug, Default)]
struct TargetVersions {
    created: VersionCache,
    /// By secret ARN.
    previous: HashMap<String, PreviousLookup>,
}

impl TargetVersions {
    fn knows_creation(&self, record: &SecretRecord, id: &str) -> bool {
        self.created
            .contains_key(&(record.arn.clone(), id.to_owned()))
    }

    /// The lookup of the record's previous version, when it is of the
    /// version the record names now.
    fn previous_lookup(&self, record: &SecretRecord) -> Option<&PreviousLookup> {
        let id = record.previous_version_id()?;
        self.previous
            .get(&record.arn)
            .filter(|lookup| &*lookup.version_id == id)
    }

    fn previous_access(&self, record: &SecretRecord) -> Option<PreviousVersionAccess> {
        self.previous_lookup(record)
            .map(|lookup| PreviousVersionAccess::Known {
                last_accessed: lookup.last_accessed,
                replaced_at: lookup.replaced_at,
            })
    }

    /// Whether the record needs a `ListSecretVersionIds` now. The
    /// previous version is looked up once a day, and not while its last
    /// rotation is recent enough that no read of it can be late.
    fn wants_lookup(&self, record: &SecretRecord, policy: &Policy, now: DateTime<Utc>) -> bool {
        let previous_due = || {
            record.has_rotated_previous_version()
                && self
                    .previous_lookup(record)
                    .is_none_or(|lookup| lookup.looked_up_on < now.date_naive())
                && !policy::previous_version_reads_still_allowed(
                    record,
                    policy::thresholds_for(record, policy).previous_version_grace,
                    now,
                )
        };
        record
            .versions_needed()
            .any(|id| !self.knows_creation(record, id))
            || previous_due()
    }

    /// Keeps what one lookup of `record`'s versions says.
    fn learn(
        &mut self,
        record: &SecretRecord,
        versions: &BTreeMap<String, VersionFacts>,
        today: chrono::NaiveDate,
    ) {
        for id in record.versions_needed() {
            if let Some(created) = versions.get(id).and_then(|version| version.created) {
                self.created
                    .insert((record.arn.clone(), id.to_owned()), created);
            }
        }
        // A previous version missing from the listing moved on between the
        // two calls (a rotation ended): it is asked again at the next poll.
        if record.has_rotated_previous_version()
            && let Some(id) = record.previous_version_id()
            && let Some(previous) = versions.get(id)
        {
            let replaced_at = record
                .current_version_id()
                .and_then(|current| versions.get(current))
                .and_then(|current| current.created);
            self.previous.insert(
                record.arn.clone(),
                PreviousLookup {
                    version_id: id.into(),
                    last_accessed: previous.last_accessed,
                    replaced_at,
                    looked_up_on: today,
                },
            );
        }
    }

    /// Forgets what the records no longer need: memory stays proportional
    /// to the fleet, not to its history.
    fn keep_only(&mut self, records: &[SecretRecord]) {
        let live: std::collections::HashSet<(String, String)> = records
            .iter()
            .flat_map(|r| {
                [r.current_version_id(), r.pending_version_id()]
                    .into_iter()
                    .flatten()
                    .map(|id| (r.arn.clone(), id.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.created.retain(|key, _| live.contains(key));
        let rotating: std::collections::HashSet<&str> = records
            .iter()
            .filter(|r| r.has_rotated_previous_version())
            .map(|r| r.arn.as_str())
            .collect();
        self.previous
            .retain(|arn, _| rotating.contains(arn.as_str()));
    }
}

/// Work that follows each poll outside the poller, such as publishing to
/// CloudWatch, and the health it reports on every snapshot.
pub trait PollHook: Send + Sync {
    /// Runs after each poll, once its snapshot is served.
    fn after_poll<'a>(&'a self, snapshot: &'a Snapshot) -> futures::future::BoxFuture<'a, ()>;
    /// Adds the hook's own health series to a snapshot being built.
    fn decorate(&self, snapshot: &mut Snapshot);
}

/// Adds health of its own to every snapshot being built.
pub trait Decorate: Send + Sync {
    fn decorate(&self, snapshot: &mut Snapshot);
}

/// Whether a poll covers every target or only those added since the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PollScope {
    Whole,
    Added,
}

/// What the poller remembers of a target between polls.
#[derive(Debug, Default)]
struct TargetMemory {
    target: Option<Target>,
    /// Shared with the snapshots built from them.
    records: Vec<Arc<SecretRecord>>,
    last_success: Option<DateTime<Utc>>,
    /// The inventory's health after the last poll.
    health: Option<SourceHealth>,
}

/// The result of polling one target once.
struct TargetOutcome {
    target: Target,
    result: Result<Vec<Arc<SecretRecord>>, SourceError>,
    duration: Duration,
}

pub struct Poller<S> {
    /// Replaced by a reload; each poll and snapshot reads it once.
    config: arc_swap::ArcSwap<Config>,
    /// Told when a reload replaced the configuration, so the ticks follow a
    /// new `poll_interval`.
    config_changed: tokio::sync::Notify,
    /// What to poll; discovery may change it between polls.
    targets: TargetSet,
    source: Arc<S>,
    store: Arc<SnapshotStore>,
    metrics: ExporterMetrics,
    memory: Mutex<HashMap<(String, String), TargetMemory>>,
    versions: Mutex<HashMap<(String, String), TargetVersions>>,
    /// What the sources read apart from the inventory add to each snapshot.
    views: Vec<Arc<dyn SnapshotView>>,
    /// Signalled by a source's loops when they learn something new.
    sources_changed: Arc<tokio::sync::Notify>,
    hook: std::sync::OnceLock<Arc<dyn PollHook>>,
    /// Health of what is read once for the fleet rather than per target
    /// (Organizations discovery), added to every snapshot.
    decorations: Vec<Arc<dyn Decorate>>,
    /// Longest gaps of cron schedules, shared by every secret using the same expression.
    schedules: policy::ScheduleCache,
    /// Whether snapshots keep each verdict's sentence and numbers (`check`
    /// prints them; `/metrics` does not use them).
    explain: AtomicBool,
    /// Whether version lookups run to the end instead of stopping at the
    /// target's deadline (`check` judges everything it listed in one poll).
    complete_version_lookups: AtomicBool,
}

impl<S: SecretsSource> Poller<S> {
    pub fn new(
        config: Arc<Config>,
        targets: TargetSet,
        source: Arc<S>,
        store: Arc<SnapshotStore>,
        metrics: ExporterMetrics,
    ) -> Self {
        for target in &targets.current().targets {
            metrics.init_target(&target.account_id, &target.region, Source::SecretsManager);
        }
        Self {
            config: arc_swap::ArcSwap::new(config),
            config_changed: tokio::sync::Notify::new(),
            targets,
            source,
            store,
            metrics,
            memory: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            views: Vec::new(),
            sources_changed: Arc::new(tokio::sync::Notify::new()),
            hook: std::sync::OnceLock::new(),
            decorations: Vec::new(),
            schedules: policy::ScheduleCache::new(),
            explain: AtomicBool::new(false),
            complete_version_lookups: AtomicBool::new(false),
        }
    }

    /// Makes the following snapshots keep the sentence of every verdict.
    pub fn explain_verdicts(&self, explain: bool) {
        self.explain.store(explain, Ordering::Relaxed);
    }

    /// Makes every poll wait for all the version lookups its checks need,
    /// however long that takes at the quota's pace, instead of leaving the
    /// rest unknown until the next poll.
    pub fn complete_version_lookups(&self, complete: bool) {
        self.complete_version_lookups
            .store(complete, Ordering::Relaxed);
    }

    /// A source whose knowledge is merged into every snapshot.
    pub fn add_view(&mut self, view: Arc<dyn SnapshotView>) {
        self.views.push(view);
    }

    /// The configuration polls run with now.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Runs the following polls and snapshots with `config` (a reload).
    pub fn set_config(&self, config: Arc<Config>) {
        self.config.store(config);
        self.config_changed.notify_one();
    }

    /// Something whose health every snapshot shows.
    pub fn add_decoration(&mut self, decoration: Arc<dyn Decorate>) {
        self.decorations.push(decoration);
    }

    /// Sets the work that follows each poll; only the first call counts.
    pub fn set_hook(&self, hook: Arc<dyn PollHook>) -> bool {
        self.hook.set(hook).is_ok()
    }

    /// What a source's loops signal to have the snapshot rebuilt.
    pub fn sources_changed(&self) -> Arc<tokio::sync::Notify> {
        self.sources_changed.clone()
    }

    /// Counts a failure of the inventory of `target` in `errors_total`.
    fn count_error(&self, target: &Target, reason: ErrorReason) {
        self.metrics.record_error(
            &target.account_id,
            &target.region,
            Source::SecretsManager,
            reason,
        );
    }

    /// The targets polled now.
    pub fn targets(&self) -> Arc<TargetList> {
        self.targets.current()
    }

    /// The current targets that have never been polled: those discovery
    /// found since the last poll.
    fn unpolled_targets(&self) -> Vec<Target> {
        let list = self.targets.current();
        let memory = lock(&self.memory);
        list.targets
            .iter()
            .filter(|t| !memory.contains_key(&(t.account_id.clone(), t.region.clone())))
            .cloned()
            .collect()
    }

    pub fn store(&self) -> &Arc<SnapshotStore> {
        &self.store
    }

    /// Polls every target once, judges every secret at `now` and publishes
    /// the snapshot.
    /// Waits for the work that follows the poll (publishing to CloudWatch)
    /// too, as `check` and the tests want; `serve` runs that work beside the
    /// next polls (see [`Poller::run`]).
    pub async fn poll_once(&self, now: DateTime<Utc>) -> Arc<Snapshot> {
        let snapshot = self.poll_inventory(now).await;
        self.after_poll(snapshot, now).await
    }

    /// [`Poller::poll_once`] with `between` run after the inventory and
    /// before the work that follows the poll: what a source reads of the
    /// new inventory (the rotation Lambdas) is judged, and published, with it.
    pub async fn poll_once_then<F: std::future::Future<Output = ()>>(
        &self,
        now: DateTime<Utc>,
        between: impl FnOnce() -> F,
    ) -> Arc<Snapshot> {
        let snapshot = self.poll_inventory(now).await;
        between().await;
        let snapshot = self.republish(now).unwrap_or(snapshot);
        self.after_poll(snapshot, now).await
    }

    /// Polls every target once, judges every secret at `now` and publishes
    /// the snapshot, without the work that follows a poll.
    async fn poll_inventory(&self, now: DateTime<Utc>) -> Arc<Snapshot> {
        let list = self.targets.current();
        self.poll_targets(list.targets.clone(), PollScope::Whole, now)
            .await
    }

    /// Polls the targets that have never been polled, until there are none:
    /// accounts discovery found are polled as soon as it finds them rather
    /// than at the next tick. Ends because every target polled, up or down,
    /// is remembered.
    async fn poll_unpolled(&self) {
        loop {
            let unpolled = self.unpolled_targets();
            if unpolled.is_empty() {
                break;
            }
            tracing::info!(targets = unpolled.len(), "polling newly found targets");
            self.poll_targets(unpolled, PollScope::Added, Utc::now())
                .await;
        }
    }

    /// Polls `targets` once and publishes the snapshot of everything
    /// remembered, judged at `now`.
    async fn poll_targets(
        &self,
        targets: Vec<Target>,
        scope: PollScope,
        now: DateTime<Utc>,
    ) -> Arc<Snapshot> {
        let started = Instant::now();
        let config = self.config();
        let settings = &config.aws;
        let target_timeout = settings.target_timeout;
        let outcomes: Vec<TargetOutcome> = futures::stream::iter(targets)
            .map(|target| async move {
                let began = Instant::now();
                // A panic in one target's work (a bug met on an answer
                // nobody expected) takes that target down, never the
                // poll: the other targets are served, and the next poll
                // tries again. The work holds no lock across an await,
                // and the locks it takes recover from poisoning.
                let result = AssertUnwindSafe(self.poll_target(&target, target_timeout, now))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        Err(SourceError::from_panic("polling the target", &*panic))
                    });
                TargetOutcome {
                    target,
                    result,
                    duration: began.elapsed(),
                }
            })
            .buffer_unordered(settings.max_concurrent_targets.max(1))
            .collect()
            .await;

        let snapshot = self.publish_poll(outcomes, scope, now, started.elapsed());
        if scope == PollScope::Whole {
            self.metrics.observe_poll_duration(started.elapsed());
        }
        // The previous listing is gone now; the previous snapshot goes once
        // the next scrape has rendered this one (src/web/metrics_body.rs trims again).
        crate::allocator::release_free_memory();
        snapshot
    }

    /// Runs the hook on a poll's snapshot, and serves the hook's new health
    /// at once rather than a poll later.
    async fn after_poll(&self, snapshot: Arc<Snapshot>, now: DateTime<Utc>) -> Arc<Snapshot> {
        let Some(hook) = self.hook.get() else {
            return snapshot;
        };
        hook.after_poll(&snapshot).await;
        self.republish(now).unwrap_or(snapshot)
    }

    /// Lists one target's secrets and looks up the versions its checks need,
    /// within `target_timeout`.
    async fn poll_target(
        &self,
        target: &Target,
        target_timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Arc<SecretRecord>>, SourceError> {
        let deadline = tokio::time::Instant::now()
            .checked_add(target_timeout)
            .unwrap_or_else(far_future);
        let listed = match tokio::time::timeout_at(deadline, self.source.list_secrets(target)).await
        {
            Ok(listed) => listed,
            Err(_) => Err(SourceError::timeout(format!(
                "listing secrets took longer than {}s",
                target_timeout.as_secs()
            ))),
        };
        let mut records = self.unique_by_arn(target, listed?);
        // A lookup the deadline cuts off leaves its verdicts unknown, not the
        // target down: the listing is good.
        let lookup_deadline =
            (!self.complete_version_lookups.load(Ordering::Relaxed)).then_some(deadline);
        self.resolve_versions(target, &mut records, lookup_deadline, now)
            .await;
        Ok(self.share_unchanged(target, records))
    }

    /// The listing with one record per ARN. A listing that names a secret
    /// twice is an answer that cannot be trusted in that respect; the
    /// secret is still listed once (its series would otherwise be
    /// duplicated in `/metrics`, which Prometheus rejects, and it would
    /// count twice), each extra copy is counted as `invalid_response` and
    /// logged, and the target stays up.
    fn unique_by_arn(&self, target: &Target, listed: Vec<SecretRecord>) -> Vec<SecretRecord> {
        let mut seen = std::collections::HashSet::with_capacity(listed.len());
        let mut unique = Vec::with_capacity(listed.len());
        for record in listed {
            if seen.contains(record.arn.as_str()) {
                tracing::warn!(
                    account_id = %target.account_id,
                    region = %target.region,
                    secret_arn = %record.arn,
                    "ListSecrets listed a secret twice; keeping the first copy"
                );
                self.count_error(target, ErrorReason::InvalidResponse);
                continue;
            }
            seen.insert(record.arn.clone());
            unique.push(record);
        }
        unique
    }

    /// The new listing of a target, with every record that has not changed
    /// since the last poll replaced by the one already held. Most secrets do
    /// not change between polls; sharing them keeps one copy of the fleet
    /// alive instead of two (the served snapshot's and the new poll's), and
    /// this runs as each target's listing arrives, so at most the listings
    /// of the targets in flight exist twice.
    fn share_unchanged(
        &self,
        target: &Target,
        listed: Vec<SecretRecord>,
    ) -> Vec<Arc<SecretRecord>> {
        // The served snapshot holds the same records as the poller's
        // memory, and reading it takes no lock a republish could hold.
        let served = self.store.load();
        let previous: &[SecretReport] = served
            .as_deref()
            .and_then(|snapshot| {
                snapshot
                    .targets
                    .binary_search_by(|held| {
                        (held.account_id.as_str(), held.region.as_str())
                            .cmp(&(target.account_id.as_str(), target.region.as_str()))
                    })
                    .ok()
                    .map(|index| snapshot.targets[index].secrets.as_slice())
            })
            .unwrap_or_default();
        // ListSecrets returns a stable order, so the same position is
        // nearly always the same secret; the index serves the rest.
        let mut by_arn: Option<HashMap<&str, &Arc<SecretRecord>>> = None;
        let mut shared = Vec::with_capacity(listed.len());
        for (position, mut record) in listed.into_iter().enumerate() {
            let held = match previous.get(position) {
                Some(held) if held.record.arn == record.arn => Some(&held.record),
                _ => by_arn
                    .get_or_insert_with(|| {
                        previous
                            .iter()
                            .map(|held| (held.record.arn.as_str(), &held.record))
                            .collect()
                    })
                    .get(record.arn.as_str())
                    .copied(),
            };
            let Some(held) = held else {
                shared.push(Arc::new(record));
                continue;
            };
            // The listing knows nothing of CloudTrail; the events held are
            // carried over and brought up to date when the snapshot is
            // assembled.
            record.rotation_events = held.rotation_events.clone();
            record.rotation_events_unknown = held.rotation_events_unknown;
            // Nor of the rotation Lambda, which its own source reads.
            record.rotation_function = held.rotation_function.clone();
            if **held == record {
                shared.push(Arc::clone(held));
            } else {
                shared.push(Arc::new(record));
            }
        }
        shared
    }

    /// Looks up versions with `ListSecretVersionIds`, only where a check
    /// needs something not yet known: the creation of a pending version (a
    /// rotation in progress or stuck) or of a new current version whose
    /// value may have changed outside rotation, and once a UTC day for each
    /// rotating secret with a previous version, when that version was last
    /// read (`LastAccessedDate` is a day: asking more often learns nothing).
    /// One lookup answers both. Lookups go at the quota's pace until
    /// `deadline`; a secret whose lookup was not made or failed is marked,
    /// and its checks that need it are unknown. A previous version looked
    /// up on an earlier day stays known until its next lookup.
    async fn resolve_versions(
        &self,
        target: &Target,
        records: &mut [SecretRecord],
        deadline: Option<tokio::time::Instant>,
        now: DateTime<Utc>,
    ) {
        let key = (target.account_id.clone(), target.region.clone());
        let mut cache = lock(&self.versions).remove(&key).unwrap_or_default();
        let today = now.date_naive();
        let config = self.config();
        let wanted: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, record)| cache.wants_lookup(record, &config.policy, now))
            .map(|(index, _)| index)
            .collect();
        let mut failed: HashMap<usize, Unknown> = HashMap::new();
        // Why the lookups not made were not made: the deadline, or a denial
        // or throttle that every further request would meet too.
        let mut stopped: Option<Unknown> = None;
        let mut answered = 0usize;
        if !wanted.is_empty() {
            let mut pace = tokio::time::interval(
                Duration::from_secs(1)
                    .checked_div(VERSION_LOOKUPS_PER_SECOND)
                    .unwrap_or(Duration::from_secs(1)),
            );
            pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let pace = tokio::sync::Mutex::new(pace);
            let shared: &[SecretRecord] = records;
            let lookups = futures::stream::iter(wanted.iter().copied())
                .map(|index| {
                    let pace = &pace;
                    async move {
                        pace.lock().await.tick().await;
                        let arn = &shared[index].arn;
                        (index, self.source.versions(target, arn).await)
                    }
                })
                .buffer_unordered(VERSION_LOOKUPS_IN_FLIGHT);
            tokio::pin!(lookups);
            loop {
                let next = match deadline {
                    Some(deadline) => match tokio::time::timeout_at(deadline, lookups.next()).await
                    {
                        Ok(next) => next,
                        Err(_) => {
                            let left = wanted.len().saturating_sub(answered);
                            tracing::warn!(
                                account_id = %target.account_id,
                                region = %target.region,
                                "version lookups reached the target's deadline; the rest ({left}) are asked at the next poll"
                            );
                            self.count_error(target, ErrorReason::Timeout);
                            stopped = Some(Unknown::Failed(ErrorReason::Timeout));
                            break;
                        }
                    },
                    None => lookups.next().await,
                };
                let Some((index, result)) = next else {
                    break;
                };
                answered = answered.saturating_add(1);
                let record = &shared[index];
                match result {
                    Ok(versions) => cache.learn(record, &versions, today),
                    Err(err) => {
                        tracing::warn!(
                            account_id = %target.account_id,
                            region = %target.region,
                            secret = %record.name,
                            reason = err.reason.as_str(),
                            error = %err.message,
                            "ListSecretVersionIds failed"
                        );
                        self.count_error(target, err.reason);
                        failed.insert(index, Unknown::Failed(err.reason));
                        if matches!(
                            err.reason,
                            ErrorReason::AccessDenied | ErrorReason::Throttled
                        ) {
                            stopped = Some(Unknown::Failed(err.reason));
                            break;
                        }
                    }
                }
            }
        }
        for (index, record) in records.iter_mut().enumerate() {
            let why_unknown = || {
                failed
                    .get(&index)
                    .copied()
                    .or(stopped)
                    .unwrap_or(Unknown::NotYetRead)
            };
            let created = |id: Option<&str>| {
                id.and_then(|id| {
                    cache
                        .created
                        .get(&(record.arn.clone(), id.to_owned()))
                        .copied()
                })
            };
            record.current_version_created = created(record.current_version_id());
            record.pending_since = created(record.pending_version_id());
            let missing = record
                .versions_needed()
                .any(|id| !cache.knows_creation(record, id));
            record.versions_unknown = missing.then(why_unknown);
            record.previous_version_access = record.has_rotated_previous_version().then(|| {
                cache
                    .previous_access(record)
                    .unwrap_or_else(|| PreviousVersionAccess::Unknown(why_unknown()))
            });
        }
        cache.keep_only(records);
        lock(&self.versions).insert(key, cache);
    }

    /// Folds one poll's outcomes into the memory, then builds and publishes
    /// the snapshot while still holding the memory, so that a concurrent
    /// `republish` can never publish an older view after it.
    fn publish_poll(
        &self,
        outcomes: Vec<TargetOutcome>,
        scope: PollScope,
        now: DateTime<Utc>,
        elapsed: Duration,
    ) -> Arc<Snapshot> {
        let keep_for = self
            .config
            .load()
            .poll_interval
            .saturating_mul(STALE_INTERVALS);
        let list = self.targets.current();
        let mut memory = lock(&self.memory);
        for outcome in outcomes {
            let target = outcome.target;
            // Discovery dropped the target while it was being polled.
            if !list.contains(&target.account_id, &target.region) {
                continue;
            }
            let remembered = memory
                .entry((target.account_id.clone(), target.region.clone()))
                .or_insert_with(|| {
                    // A target discovery added: its error series start at 0
                    // like those of the targets known at start-up.
                    self.metrics.init_target(
                        &target.account_id,
                        &target.region,
                        Source::SecretsManager,
                    );
                    TargetMemory::default()
                });
            let health = match outcome.result {
                Ok(records) => {
                    remembered.records = records;
                    remembered.last_success = Some(now);
                    SourceHealth {
                        source: Source::SecretsManager,
                        up: true,
                        last_success: Some(now),
                        poll_duration: outcome.duration,
                        last_error: None,
                    }
                }
                Err(err) => {
                    tracing::warn!(
                        account_id = %target.account_id,
                        region = %target.region,
                        reason = err.reason.as_str(),
                        error = %err.message,
                        "inventory failed"
                    );
                    self.count_error(&target, err.reason);
                    let expired = match remembered.last_success {
                        Some(last) => {
                            now.signed_duration_since(last).to_std().unwrap_or_default() >= keep_for
                        }
                        None => true,
                    };
                    if expired {
                        remembered.records.clear();
                    }
                    SourceHealth {
                        source: Source::SecretsManager,
                        up: false,
                        last_success: remembered.last_success,
                        poll_duration: outcome.duration,
                        last_error: Some(TargetError::from(err)),
                    }
                }
            };
            remembered.health = Some(health);
            remembered.target = Some(target);
        }
        let completed_at = match (scope, self.store.load()) {
            // Polling only the added targets is no poll of the fleet.
            (PollScope::Added, Some(previous)) => previous.completed_at,
            _ => chrono::Duration::from_std(elapsed)
                .ok()
                .and_then(|elapsed| now.checked_add_signed(elapsed))
                .unwrap_or(now),
        };
        let snapshot = Arc::new(self.assemble(&mut memory, now, completed_at));
        self.store.store_arc(snapshot.clone());
        snapshot
    }

    /// Forgets the targets no longer listed (their series go with them),
    /// and gives the others their listed account name and role.
    fn follow_targets(
        &self,
        memory: &mut HashMap<(String, String), TargetMemory>,
        list: &TargetList,
    ) {
        let mut versions = lock(&self.versions);
        memory.retain(|(account_id, region), remembered| {
            if !list.contains(account_id, region) {
                tracing::info!(
                    account_id,
                    region,
                    "target no longer polled; its series are dropped"
                );
                self.metrics
                    .forget_target(account_id, region, Source::SecretsManager);
                versions.remove(&(account_id.clone(), region.clone()));
                return false;
            }
            if let Some(held) = &mut remembered.target
                && let Ok(index) = list.targets.binary_search_by(|t| {
                    (t.account_id.as_str(), t.region.as_str())
                        .cmp(&(account_id.as_str(), region.as_str()))
                })
                && list.targets[index] != *held
            {
                *held = list.targets[index].clone();
            }
            true
        });
    }

    /// The snapshot of everything remembered, judged at `now`.
    fn assemble(
        &self,
        memory: &mut HashMap<(String, String), TargetMemory>,
        now: DateTime<Utc>,
        completed_at: DateTime<Utc>,
    ) -> Snapshot {
        let list = self.targets.current();
        let config = self.config();
        self.follow_targets(memory, &list);
        let mut targets = Vec::with_capacity(memory.len());
        for remembered in memory.values_mut() {
            let (Some(target), Some(inventory_health)) = (&remembered.target, &remembered.health)
            else {
                continue;
            };
            let mut part = TargetPart {
                health: vec![inventory_health.clone()],
                ..TargetPart::default()
            };
            for view in &self.views {
                view.contribute(
                    &target.account_id,
                    &target.region,
                    &mut remembered.records,
                    &mut part,
                );
            }
            let explain = self.explain.load(Ordering::Relaxed);
            let policy = &config.policy;
            let records = &remembered.records;
            // Judging is pure, but it reads AWS's values: a panic there (a
            // bug met on a value nobody expected) must cost this target its
            // verdicts, not the poll, and the next snapshot judges again.
            let parameter_records = part.parameters.take();
            let judged = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let secrets = records
                    .iter()
                    .map(|record| {
                        let judge = if explain {
                            policy::evaluate_with
                        } else {
                            policy::evaluate_bare
                        };
                        let evaluation = judge(record, policy, now, &self.schedules);
                        SecretReport {
                            evaluation,
                            record: Arc::clone(record),
                        }
                    })
                    .collect::<Vec<_>>();
                let parameters = parameter_records.as_ref().map(|listed| {
                    let judge = if explain {
                        policy::evaluate_parameter
                    } else {
                        policy::evaluate_parameter_bare
                    };
                    ParameterInventory::new(
                        listed
                            .iter()
                            .map(|record| ParameterReport {
                                evaluation: judge(record, policy, now),
                                record: Arc::clone(record),
                            })
                            .collect(),
                    )
                });
                (secrets, parameters)
            }));
            let (secrets, parameters) = match judged {
                Ok(judged) => judged,
                Err(panic) => {
                    let err = SourceError::from_panic("judging the target's secrets", &*panic);
                    tracing::error!(
                        account_id = %target.account_id,
                        region = %target.region,
                        error = %err.message,
                        "judging failed; the target is down until it succeeds"
                    );
                    self.count_error(target, err.reason);
                    if let Some(inventory) = part.health.first_mut() {
                        inventory.up = false;
                        inventory.last_error = Some(TargetError::from(err));
                    }
                    (Vec::new(), None)
                }
            };
            targets.push(
                TargetSnapshot::new(
                    target.account_id.clone(),
                    target.account_name.clone(),
                    target.region.clone(),
                    part.health,
                    secrets,
                    part.rotation_events_total,
                )
                .with_parameters(parameters)
                .with_account_resources(
                    part.databases.take().map(DatabaseInventory::new),
                    part.vpcs.take().map(|vpcs| {
                        VpcInventory::judge(&vpcs, policy.include_default_vpcs, &policy.exempt_tag)
                    }),
                ),
            );
        }
        targets.sort_by(|a, b| {
            (a.account_id.as_str(), a.region.as_str())
                .cmp(&(b.account_id.as_str(), b.region.as_str()))
        });
        let mut snapshot = Snapshot {
            completed_at,
            targets,
            accounts: list.accounts.clone(),
        };
        for decoration in &self.decorations {
            decoration.decorate(&mut snapshot);
        }
        if let Some(hook) = self.hook.get() {
            hook.decorate(&mut snapshot);
        }
        snapshot
    }

    /// Rebuilds the snapshot from the last inventory with the newest
    /// CloudTrail events, without calling AWS: a failed rotation reaches
    /// `/metrics` as soon as CloudTrail shows it, not at the next poll.
    /// Nothing is published before the first poll has completed.
    pub fn republish(&self, now: DateTime<Utc>) -> Option<Arc<Snapshot>> {
        let mut memory = lock(&self.memory);
        let previous = self.store.load()?;
        let snapshot = Arc::new(self.assemble(&mut memory, now, previous.completed_at));
        self.store.store_arc(snapshot.clone());
        Some(snapshot)
    }

    /// Polls every `poll_interval` until `shutdown` resolves. A tick that
    /// comes while a poll is still running is skipped and counted, never
    /// queued: polls must not pile up behind a slow account.
    ///
    /// The work after each poll (publishing to CloudWatch) runs beside the
    /// next polls, one at a time: a CloudWatch that hangs must not make the
    /// inventory skip ticks. A poll that ends while the previous publishing
    /// still runs is not published, and that is logged.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let sources_changed = self.sources_changed.clone();
        let mut targets_changed = self.targets.watch();
        let mut poll_interval = self.config.load().poll_interval;
        let mut ticker = tokio::time::interval(poll_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        let mut running: Option<tokio::task::JoinHandle<()>> = None;
        let publishing: Arc<tokio::sync::Mutex<()>> = Arc::default();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sources_changed.notified() => {
                    self.republish(Utc::now());
                }
                _ = self.config_changed.notified() => {
                    // The policy or labels may have changed: judge again now.
                    self.republish(Utc::now());
                    let configured = self.config.load().poll_interval;
                    if configured != poll_interval {
                        // The next poll comes one new interval from now.
                        poll_interval = configured;
                        let first = tokio::time::Instant::now()
                            .checked_add(poll_interval)
                            .unwrap_or_else(far_future);
                        ticker = tokio::time::interval_at(first, poll_interval);
                        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    }
                }
                Ok(()) = targets_changed.changed() => {
                    // The accounts that left go from /metrics at once; those
                    // that joined are polled now, or by the running poll
                    // when it ends.
                    self.republish(Utc::now());
                    if running.as_ref().is_some_and(|poll| !poll.is_finished()) {
                        continue;
                    }
                    let poller = self.clone();
                    running = Some(tokio::spawn(async move { poller.poll_unpolled().await }));
                }
                _ = ticker.tick() => {
                    if running.as_ref().is_some_and(|poll| !poll.is_finished()) {
                        self.metrics.record_poll_skipped();
                        tracing::warn!("previous poll still running; skipping this tick");
                        continue;
                    }
                    let poller = self.clone();
                    let publishing = publishing.clone();
                    running = Some(tokio::spawn(async move {
                        let now = Utc::now();
                        let snapshot = poller.poll_inventory(now).await;
                        let totals = snapshot.totals();
                        tracing::info!(
                            targets = totals.targets,
                            targets_down = totals.targets_down,
                            secrets = totals.secrets,
                            noncompliant_secrets = totals.noncompliant_secrets,
                            unevaluated_secrets = totals.unevaluated_secrets,
                            "poll complete"
                        );
                        match publishing.try_lock_owned() {
                            Ok(turn) => {
                                let publisher = poller.clone();
                                tokio::spawn(async move {
                                    publisher.after_poll(snapshot, now).await;
                                    drop(turn);
                                });
                            }
                            Err(_) => tracing::warn!(
                                "the previous poll's publishing is still running; this poll is not published"
                            ),
                        }
                        poller.poll_unpolled().await;
                    }));
                }
            }
        }
        if let Some(poll) = running {
            poll.abort();
        }
    }
}
