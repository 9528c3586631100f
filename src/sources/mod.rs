//! Sources read for every target apart from the inventory, each on its own
//! schedule and at its own pace: a slow or throttled one never holds back
//! the inventory of any target, nor another source.
//!
//! A source is a [`PerTargetSource`]: what it keeps of a target and how it
//! reads one. [`TargetLoops`] gives every source the same machinery: a loop
//! per target, requests paced within the source's quota, a bound on the
//! requests in flight across targets, a slower pace after throttling, the
//! target's health series and error counts, and a signal to rebuild the
//! snapshot when a read learned something. Adding a source is its module
//! (`impl PerTargetSource`), its loops built and registered in `app.rs`,
//! and what it contributes to records and checks.

// Every value here may come from AWS, and AWS has sent dates that overflow
// unchecked arithmetic (a far-future `LastRotatedDate` once panicked the
// whole poll): arithmetic is checked or saturating, or says why it cannot
// overflow.
#![deny(clippy::arithmetic_side_effects)]

pub mod cloudtrail;
pub mod lambda;
pub mod rds;
pub mod ssm;
pub mod vpc_endpoints;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::sync::SemaphorePermit;

use crate::aws::{SourceError, Target};
use crate::metrics::ExporterMetrics;
use crate::snapshot::{ErrorReason, Source, SourceHealth, TargetError};
use crate::targets::{TargetList, TargetSet};

/// After a throttled read a target's pace is slowed by this factor, up to
/// `MAX_SLOWDOWN`, and restored by a read that succeeds.
const SLOWDOWN_STEP: u32 = 2;
const MAX_SLOWDOWN: u32 = 8;

/// One AWS API read for every target, apart from the inventory.
pub trait PerTargetSource: Send + Sync + 'static {
    /// What the source keeps of a target between reads.
    type State: Default + Send + 'static;

    /// The `source` label of its health series and errors.
    fn source(&self) -> Source;

    /// The AWS operations it calls, as (service, operation): their request
    /// counters exist from start-up.
    fn operations(&self) -> &'static [(&'static str, &'static str)];

    /// How often each target's loop ticks, given the poll interval.
    fn loop_interval(&self, poll_interval: Duration) -> Duration {
        poll_interval
    }

    /// Whether the source reads what the inventory listed, and so must be
    /// read after a poll (as `check` does) rather than before.
    fn reads_inventory(&self) -> bool {
        false
    }

    /// Changes whenever the source should look again at once, besides its
    /// ticks (a new snapshot that may name new things to read).
    fn wake_on(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// How long the next read of a target may take before it fails with
    /// `timeout`: one interval, unless the source knows its next read is
    /// larger than usual.
    fn read_deadline(&self, _state: &Self::State, interval: Duration) -> Duration {
        interval
    }

    /// Reads the target up to `now`, taking a turn from `read` before each
    /// request. Returns whether the read learned something the snapshot
    /// shows. An error fails the whole read: the target's health goes down
    /// with its reason, and the next read asks again.
    fn read<'a>(
        &'a self,
        target: &'a Target,
        state: &'a Mutex<Self::State>,
        read: &'a ReadContext<'a>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, SourceError>> + Send + 'a;
}

/// The loops' bookkeeping of one target.
#[derive(Debug, Default)]
struct Book {
    health: Option<SourceHealth>,
    last_success: Option<DateTime<Utc>>,
    /// When the next request of this target may be sent.
    next_request: Option<tokio::time::Instant>,
    slowdown: u32,
}

struct Slot<St> {
    state: Mutex<St>,
    book: Mutex<Book>,
}

/// A poisoned lock only means a read panicked mid-update (and was counted
/// as `internal`); what it holds is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `time` moved back by `by`, or the earliest time there is: a lookback
/// past the start of time reads everything rather than failing.
fn before(time: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| time.checked_sub_signed(by))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `time` moved on by `by`, or the latest time there is.
fn after(time: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| time.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What a read of one target may use besides its state: its turns to send
/// a request, and the counting of what it had to skip.
pub struct ReadContext<'a> {
    book: &'a Mutex<Book>,
    in_flight: &'a tokio::sync::Semaphore,
    min_request_interval: Duration,
    metrics: &'a ExporterMetrics,
    target: &'a Target,
    source: Source,
}

impl ReadContext<'_> {
    /// Waits until this target may send its next request, and until fewer
    /// than the limit are in flight across targets, then books the target's
    /// following turn from now: time spent waiting for a slot must not let
    /// two requests of one target go closer together than its pace. Only
    /// this target's read waits: the others go on. Hold the permit while
    /// the request is in flight.
    pub async fn take_turn(&self) -> Option<SemaphorePermit<'_>> {
        let (wait_until, interval) = {
            let book = lock(self.book);
            (
                book.next_request,
                self.min_request_interval
                    .saturating_mul(book.slowdown.max(1)),
            )
        };
        if let Some(at) = wait_until {
            tokio::time::sleep_until(at).await;
        }
        // Never closed, so acquiring cannot fail; without a permit the
        // request would only go unbounded.
        let permit = self.in_flight.acquire().await.ok();
        let now = tokio::time::Instant::now();
        lock(self.book).next_request = Some(now.checked_add(interval).unwrap_or(now));
        permit
    }

    /// Counts an error that does not fail the read (a function the target's
    /// role cannot see), in `errors_total` with its reason.
    pub fn count_error(&self, reason: ErrorReason) {
        self.metrics.record_error(
            &self.target.account_id,
            &self.target.region,
            self.source,
            reason,
        );
    }

    /// Counts an item of an answer that could not be used and was skipped
    /// (`reason="invalid_response"`), without failing the read.
    pub fn skipped_invalid_item(&self) {
        self.metrics.record_error(
            &self.target.account_id,
            &self.target.region,
            self.source,
            ErrorReason::InvalidResponse,
        );
    }
}

/// A listing source keeps the last listing of a target that succeeded
/// for this many poll intervals after reads start failing, then drops it
/// rather than report it stale (as the inventory does with secrets).
pub const KEEP_AFTER_FAILURE: u32 = 3;

/// The last listing of one target that succeeded, sorted, with when it was
/// made. Records that did not change from one listing to the next stay the
/// same `Arc`, shared with the snapshots that hold them.
#[derive(Debug)]
pub struct HeldListing<R> {
    records: Option<Arc<[Arc<R>]>>,
    listed_at: Option<DateTime<Utc>>,
}

impl<R> Default for HeldListing<R> {
    fn default() -> Self {
        Self {
            records: None,
            listed_at: None,
        }
    }
}

impl<R: PartialEq> HeldListing<R> {
    /// Takes a listing made at `now`, sorted by `order`. Returns whether it
    /// differs from the one held.
    pub fn replace(
        &mut self,
        records: Vec<R>,
        now: DateTime<Utc>,
        order: impl Fn(&R, &R) -> std::cmp::Ordering,
    ) -> bool {
        self.listed_at = Some(now);
        let changed = self.records.as_ref().is_none_or(|held| {
            held.len() != records.len()
                || held
                    .iter()
                    .zip(&records)
                    .any(|(held, record)| **held != *record)
        });
        if changed {
            let previous = self.records.take();
            let shared: Vec<Arc<R>> = records
                .into_iter()
                .map(|record| {
                    previous
                        .as_ref()
                        .and_then(|held| {
                            held.binary_search_by(|h| order(h, &record))
                                .ok()
                                .and_then(|index| held.get(index))
                                .filter(|held| ***held == record)
                                .cloned()
                        })
                        .unwrap_or_else(|| Arc::new(record))
                })
                .collect();
            self.records = Some(shared.into());
        }
        changed
    }

    /// The listing, unless it was made more than [`KEEP_AFTER_FAILURE`]
    /// poll intervals before `now`.
    pub fn fresh(&self, poll_interval: Duration, now: DateTime<Utc>) -> Option<Arc<[Arc<R>]>> {
        let keep_for = poll_interval.saturating_mul(KEEP_AFTER_FAILURE);
        self.listed_at
            .is_some_and(|listed| after(listed, keep_for) >= now)
            .then(|| self.records.clone())
            .flatten()
    }
}

/// Each target's slot, by (account, region).
type Slots<St> = HashMap<(String, String), Arc<Slot<St>>>;

/// A loop per target for one source; see the module documentation.
pub struct TargetLoops<S: PerTargetSource> {
    source: S,
    /// The targets to read; a target that leaves it is forgotten, one that
    /// joins it gets a loop.
    targets: TargetSet,
    /// How often each target is read, in milliseconds; a reload may change it.
    interval_ms: std::sync::atomic::AtomicU64,
    min_request_interval: Duration,
    metrics: ExporterMetrics,
    slots: Mutex<Slots<S::State>>,
    /// Bounds the requests in flight across targets.
    in_flight: tokio::sync::Semaphore,
    /// Told when a read learned something or a target's health changed, so
    /// the snapshot is rebuilt without waiting for a poll.
    changed: Option<Arc<tokio::sync::Notify>>,
    /// Wakes every target's loop for a read now (see `wake_on`).
    wake: tokio::sync::Notify,
}

impl<S: PerTargetSource> TargetLoops<S> {
    /// Reads every target every `interval`, each at most
    /// `requests_per_second` requests a second.
    pub fn new(
        source: S,
        targets: TargetSet,
        interval: Duration,
        requests_per_second: f64,
        metrics: ExporterMetrics,
    ) -> Self {
        for (service, operation) in source.operations() {
            metrics.init_aws_operation(service, operation);
        }
        // Validation keeps each source's rate positive; the floor only
        // guards a hand-built loop from dividing by zero.
        let min_request_interval = Duration::from_secs_f64(1.0 / requests_per_second.max(0.001));
        let interval = source.loop_interval(interval);
        let loops = Self {
            source,
            targets,
            interval_ms: std::sync::atomic::AtomicU64::new(millis(interval)),
            min_request_interval,
            metrics,
            slots: Mutex::default(),
            in_flight: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
            changed: None,
            wake: tokio::sync::Notify::new(),
        };
        loops.follow(&loops.targets.current());
        loops
    }

    /// How often each target is read now.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Reads each target at the pace a new poll interval gives, from its
    /// next read on (a reload).
    pub fn set_interval(&self, poll_interval: Duration) {
        let interval = self.source.loop_interval(poll_interval);
        self.interval_ms
            .store(millis(interval), std::sync::atomic::Ordering::Relaxed);
    }

    /// At most `requests` in flight across all targets.
    pub fn limit_requests_in_flight(mut self, requests: usize) -> Self {
        self.in_flight =
            tokio::sync::Semaphore::new(requests.clamp(1, tokio::sync::Semaphore::MAX_PERMITS));
        self
    }

    pub fn notify_changes(mut self, changed: Arc<tokio::sync::Notify>) -> Self {
        self.changed = Some(changed);
        self
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    fn slot(&self, account_id: &str, region: &str) -> Option<Arc<Slot<S::State>>> {
        lock(&self.slots)
            .get(&(account_id.to_owned(), region.to_owned()))
            .cloned()
    }

    /// Makes the slots those of `list`: a new target starts with nothing
    /// read and its error series at 0; a target no longer listed is
    /// forgotten with its state, health and error series.
    fn follow(&self, list: &TargetList) {
        let mut slots = lock(&self.slots);
        let source = self.source.source();
        slots.retain(|(account_id, region), _| {
            let kept = list.contains(account_id, region);
            if !kept {
                self.metrics.forget_target(account_id, region, source);
            }
            kept
        });
        for target in &list.targets {
            let key = (target.account_id.clone(), target.region.clone());
            if let std::collections::hash_map::Entry::Vacant(vacant) = slots.entry(key) {
                self.metrics
                    .init_target(&target.account_id, &target.region, source);
                vacant.insert(Arc::new(Slot {
                    state: Mutex::default(),
                    book: Mutex::default(),
                }));
            }
        }
    }

    /// Reads one target up to `now` and records how it went.
    pub async fn refresh(&self, target: &Target, now: DateTime<Utc>) {
        let Some(slot) = self.slot(&target.account_id, &target.region) else {
            return;
        };
        let began = Instant::now();
        let source = self.source.source();
        let slot = &*slot;
        let context = ReadContext {
            book: &slot.book,
            in_flight: &self.in_flight,
            min_request_interval: self.min_request_interval,
            metrics: &self.metrics,
            target,
            source,
        };
        // A read gets a deadline, one interval unless the source asks for
        // more: a source that keeps answering (a listing that never ends, an
        // answer that never comes) must not hold the target's loop, nor
        // `check`, for ever. A panic in the read (a
        // bug met on an answer nobody expected) takes this target of this
        // source down, not the loop or the exporter; the state's lock
        // recovers from poisoning and the next read asks again.
        let read =
            AssertUnwindSafe(self.source.read(target, &slot.state, &context, now)).catch_unwind();
        let deadline = self
            .source
            .read_deadline(&lock(&slot.state), self.interval());
        let result = match tokio::time::timeout(deadline, read).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(SourceError::from_panic("reading the target", &*panic)),
            Err(_) => Err(SourceError::timeout(format!(
                "reading the target took longer than {}s",
                deadline.as_secs()
            ))),
        };
        let mut book = lock(&slot.book);
        let poll_duration = began.elapsed();
        let was_up = book.health.as_ref().map(|h| h.up);
        let learned = match result {
            Ok(learned) => {
                book.last_success = Some(now);
                book.slowdown = 1;
                book.health = Some(SourceHealth {
                    source,
                    up: true,
                    last_success: Some(now),
                    poll_duration,
                    last_error: None,
                });
                learned
            }
            Err(err) => {
                if err.reason == ErrorReason::Throttled {
                    book.slowdown = book
                        .slowdown
                        .max(1)
                        .saturating_mul(SLOWDOWN_STEP)
                        .min(MAX_SLOWDOWN);
                }
                tracing::warn!(
                    account_id = %target.account_id,
                    region = %target.region,
                    source = source.as_str(),
                    reason = err.reason.as_str(),
                    error = %err.message,
                    "reading the target failed"
                );
                self.metrics
                    .record_error(&target.account_id, &target.region, source, err.reason);
                book.health = Some(SourceHealth {
                    source,
                    up: false,
                    last_success: book.last_success,
                    poll_duration,
                    last_error: Some(TargetError::from(err)),
                });
                false
            }
        };
        let now_up = book.health.as_ref().map(|h| h.up);
        drop(book);
        if (learned || was_up != now_up)
            && let Some(changed) = &self.changed
        {
            changed.notify_one();
        }
    }

    /// Reads every current target once, concurrently; each keeps its own pace.
    pub async fn refresh_all(&self, now: DateTime<Utc>) {
        let list = self.targets.current();
        self.follow(&list);
        futures::future::join_all(list.targets.iter().map(|t| self.refresh(t, now))).await;
    }

    /// One loop per target until `shutdown`: a target whose read runs long
    /// skips its missed ticks without delaying any other. When the targets
    /// change, a new target's loop starts at once and a removed target's
    /// loop is stopped, mid-read if need be.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if let Some(mut woken) = self.source.wake_on() {
            let loops = self.clone();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stopped(&mut stop) => break,
                        changed = woken.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            loops.wake.notify_waiters();
                        }
                    }
                }
            });
        }
        let mut targets_changed = self.targets.watch();
        let mut loops: HashMap<(String, String), tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let list = self.targets.current();
            self.follow(&list);
            loops.retain(|(account_id, region), running| {
                let kept = list.contains(account_id, region);
                if !kept {
                    running.abort();
                }
                kept
            });
            for target in &list.targets {
                let key = (target.account_id.clone(), target.region.clone());
                if loops.contains_key(&key) {
                    continue;
                }
                let running =
                    tokio::spawn(self.clone().target_loop(target.clone(), shutdown.clone()));
                loops.insert(key, running);
            }
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                changed = targets_changed.changed() => {
                    if changed.is_err() {
                        // The list can no longer change; the loops run on.
                        stopped(&mut shutdown).await;
                        break;
                    }
                }
            }
        }
        futures::future::join_all(loops.into_values()).await;
    }

    async fn target_loop(
        self: Arc<Self>,
        target: Target,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut interval = self.interval();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                _ = async {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = self.wake.notified() => {}
                    }
                    self.refresh(&target, Utc::now()).await;
                } => {}
            }
            if self.interval() != interval {
                // A reload changed the interval: the next read is one new
                // interval after this one.
                interval = self.interval();
                let next = tokio::time::Instant::now()
                    .checked_add(interval)
                    .unwrap_or_else(tokio::time::Instant::now);
                ticker = tokio::time::interval_at(next, interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            }
        }
    }

    /// The target's health after its last read, and its state, for the
    /// snapshot being assembled.
    /// The target's last listing that `listing` picks out of its state,
    /// unless it is older than [`KEEP_AFTER_FAILURE`] poll intervals, and
    /// the source's health added to `part`: what a listing source hands
    /// each snapshot.
    pub fn contribute_listing<R: PartialEq>(
        &self,
        account_id: &str,
        region: &str,
        poll_interval: Duration,
        part: &mut TargetPart,
        listing: impl FnOnce(&S::State) -> &HeldListing<R>,
    ) -> Option<Arc<[Arc<R>]>> {
        let now = Utc::now();
        self.with_target(account_id, region, |state, health| {
            part.health.extend(health.cloned());
            listing(state).fresh(poll_interval, now)
        })
        .flatten()
    }

    pub fn with_target<T>(
        &self,
        account_id: &str,
        region: &str,
        view: impl FnOnce(&S::State, Option<&SourceHealth>) -> T,
    ) -> Option<T> {
        let slot = self.slot(account_id, region)?;
        let health = lock(&slot.book).health.clone();
        let state = lock(&slot.state);
        Some(view(&state, health.as_ref()))
    }
}

/// What the sources add to one target's part of a snapshot being assembled.
#[derive(Debug, Default)]
pub struct TargetPart {
    /// Each source's health after its last read of the target.
    pub health: Vec<SourceHealth>,
    /// Rotation events first seen since start, when CloudTrail is read.
    pub rotation_events_total: Option<[u64; 4]>,
    /// The target's SSM parameters, when they are inventoried and listed.
    pub parameters: Option<Arc<[Arc<crate::parameters::ParameterRecord>]>>,
    /// The target's databases, when RDS is inventoried and listed.
    pub databases: Option<Arc<[Arc<crate::databases::DatabaseRecord>]>>,
    /// The target's VPCs, when VPC endpoints are inventoried and listed.
    pub vpcs: Option<Arc<[Arc<crate::vpcs::VpcRecord>]>>,
}

/// How what a source knows reaches the snapshot: the poller asks every
/// registered view about every target each time it assembles one.
pub trait SnapshotView: Send + Sync {
    /// Brings the target's records up to date with what the source knows,
    /// leaving a record that did not change alone (so it stays shared with
    /// the snapshots that hold it), and adds the source's health and figures
    /// to `part`.
    fn contribute(
        &self,
        account_id: &str,
        region: &str,
        records: &mut [Arc<crate::inventory::SecretRecord>],
        part: &mut TargetPart,
    );
}

/// A source's loops as the exporter runs them, whatever the source: `serve`
/// starts them, `check` reads every target once before its poll.
pub trait RunningSource: Send + Sync {
    /// Runs every target's loop until `shutdown`.
    fn start(
        self: Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()>;

    /// Reads every target once, up to `now`.
    fn read_all_once(&self, now: DateTime<Utc>) -> futures::future::BoxFuture<'_, ()>;

    /// Reads each target every `interval` from now on (a reload changed
    /// `poll_interval`).
    fn set_interval(&self, interval: Duration);

    /// Whether it reads what the inventory listed: `check` reads it after
    /// its poll.
    fn reads_inventory(&self) -> bool;
}

impl<S: PerTargetSource> RunningSource for TargetLoops<S> {
    fn start(
        self: Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    fn read_all_once(&self, now: DateTime<Utc>) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.refresh_all(now))
    }

    fn set_interval(&self, interval: Duration) {
        TargetLoops::set_interval(self, interval);
    }

    fn reads_inventory(&self) -> bool {
        self.source.reads_inventory()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // A dropped sender ends the loops too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
