//! Reads rotation events from CloudTrail for every target, apart from the
//! inventory: CloudTrail allows 2 `LookupEvents` per second per account and
//! region, so a start-up history can take minutes, and a slow or throttled
//! CloudTrail must never hold back the inventory of any target.
//!
//! Each target has its own loop. A refresh asks, for each of the four event
//! names, for the events since the watermark minus an overlap wide enough
//! for CloudTrail's late delivery; the ledger de-duplicates by `EventId`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::SemaphorePermit;

use crate::aws::cloudtrail::CloudTrailSource;
use crate::aws::{SourceError, Target};
use crate::inventory::{SecretRecord, Unknown};
use crate::metrics::ExporterMetrics;
use crate::rotation_events::{EventLedger, RotationEventKind, parse_event};
use crate::snapshot::{ErrorReason, Source, SourceHealth, TargetError};

/// CloudTrail delivers an event within about 15 minutes of the API call;
/// each lookup reaches this far behind the previous one's end.
pub const LATE_DELIVERY_OVERLAP: Duration = Duration::from_secs(20 * 60);

/// `LookupEvents` requests in flight across all targets, per target polled
/// at once (`aws.max_concurrent_targets`): 128 by default. Each target
/// keeps its own pace (1 or 2 requests a second), but every target's
/// refresh starts on the same tick; unbounded, 2,000 targets send 2,000
/// requests at once and hold their clients and responses together.
pub const LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET: usize = 4;

/// After a throttled refresh a target's pace is slowed by this factor, up
/// to `MAX_SLOWDOWN`, and restored by a refresh that succeeds.
const SLOWDOWN_STEP: u32 = 2;
const MAX_SLOWDOWN: u32 = 8;

/// What the tracker knows of one target.
#[derive(Debug, Default)]
struct TargetTrail {
    ledger: EventLedger,
    /// The end of the last complete read; `None` until the start-up history
    /// has been read, and until then no verdict rests on CloudTrail.
    watermark: Option<DateTime<Utc>>,
    health: Option<SourceHealth>,
    last_success: Option<DateTime<Utc>>,
    /// When the next `LookupEvents` of this target may be sent.
    next_request: Option<tokio::time::Instant>,
    slowdown: u32,
}

/// The CloudTrail side of a target as the snapshot shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailStatus {
    pub health: Option<SourceHealth>,
    pub new_events: [u64; 4],
}

/// The seam between the poller and the tracker, so the poller stays
/// independent of the CloudTrail client type.
pub trait TrailView: Send + Sync {
    /// Sets `rotation_events` on the target's records (when its history is
    /// known, else clears them) and returns the target's CloudTrail status.
    /// A record whose events did not change is left alone, so it stays
    /// shared with the snapshots that already hold it.
    fn annotate(
        &self,
        account_id: &str,
        region: &str,
        records: &mut [Arc<SecretRecord>],
    ) -> TrailStatus;
}

pub struct RotationTracker<C> {
    source: Arc<C>,
    targets: Vec<Target>,
    lookback: Duration,
    min_request_interval: Duration,
    poll_interval: Duration,
    metrics: ExporterMetrics,
    trails: HashMap<(String, String), Mutex<TargetTrail>>,
    /// Bounds the requests in flight across targets; see
    /// [`LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET`].
    in_flight: tokio::sync::Semaphore,
    /// Told when a refresh learned a new event or the target's health
    /// changed, so the snapshot is rebuilt without waiting for a poll.
    changed: Option<Arc<tokio::sync::Notify>>,
}

fn lock(trail: &Mutex<TargetTrail>) -> MutexGuard<'_, TargetTrail> {
    trail
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl<C: CloudTrailSource> RotationTracker<C> {
    pub fn new(
        source: Arc<C>,
        targets: Vec<Target>,
        lookback: Duration,
        requests_per_second: f64,
        poll_interval: Duration,
        metrics: ExporterMetrics,
    ) -> Self {
        let trails = targets
            .iter()
            .map(|t| ((t.account_id.clone(), t.region.clone()), Mutex::default()))
            .collect();
        for target in &targets {
            metrics.init_target(&target.account_id, &target.region, Source::CloudTrail);
        }
        // Validation keeps the rate in (0, 2]; the floor only guards a
        // hand-built tracker from dividing by zero.
        let min_request_interval = Duration::from_secs_f64(1.0 / requests_per_second.max(0.001));
        Self {
            source,
            targets,
            lookback,
            min_request_interval,
            poll_interval,
            metrics,
            trails,
            in_flight: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
            changed: None,
        }
    }

    /// At most `requests` `LookupEvents` in flight across all targets.
    pub fn limit_requests_in_flight(mut self, requests: usize) -> Self {
        self.in_flight =
            tokio::sync::Semaphore::new(requests.clamp(1, tokio::sync::Semaphore::MAX_PERMITS));
        self
    }

    pub fn notify_changes(mut self, changed: Arc<tokio::sync::Notify>) -> Self {
        self.changed = Some(changed);
        self
    }

    fn trail(&self, target: &Target) -> Option<&Mutex<TargetTrail>> {
        self.trails
            .get(&(target.account_id.clone(), target.region.clone()))
    }

    /// Waits until this target may send its next request, and until fewer
    /// than the limit are in flight across targets, then books the target's
    /// following turn from now: time spent waiting for a slot must not let
    /// two requests of one target go closer together than its pace. Only
    /// this target's refresh waits: the others go on.
    async fn take_turn(&self, trail: &Mutex<TargetTrail>) -> Option<SemaphorePermit<'_>> {
        let (wait_until, interval) = {
            let state = lock(trail);
            (
                state.next_request,
                self.min_request_interval * state.slowdown.max(1),
            )
        };
        if let Some(at) = wait_until {
            tokio::time::sleep_until(at).await;
        }
        // Never closed, so acquiring cannot fail; without a permit the
        // request would only go unbounded.
        let permit = self.in_flight.acquire().await.ok();
        lock(trail).next_request = Some(tokio::time::Instant::now() + interval);
        permit
    }

    /// Reads the target's new events up to `now`.
    pub async fn refresh(&self, target: &Target, now: DateTime<Utc>) {
        let Some(trail) = self.trail(target) else {
            return;
        };
        let began = Instant::now();
        let watermark = lock(trail).watermark;
        let (start, history) = match watermark {
            None => (now - chrono_duration(self.lookback), true),
            Some(watermark) => (watermark - chrono_duration(LATE_DELIVERY_OVERLAP), false),
        };
        let mut failure: Option<SourceError> = None;
        let mut learned = false;
        'kinds: for kind in RotationEventKind::ALL {
            let mut next_token = None;
            loop {
                let permit = self.take_turn(trail).await;
                let page = self
                    .source
                    .lookup_page(target, kind, start, now, next_token.take())
                    .await;
                drop(permit);
                let page = match page {
                    Ok(page) => page,
                    Err(err) => {
                        failure = Some(err);
                        break 'kinds;
                    }
                };
                let mut state = lock(trail);
                for raw in &page.events {
                    match parse_event(raw) {
                        // History read at start-up sets the newest events but
                        // never the counter: a restart is not a burst.
                        Ok(event) => {
                            learned |= state.ledger.record(event, !history);
                        }
                        Err(malformed) => {
                            state.ledger.malformed += 1;
                            self.metrics.record_error(
                                &target.account_id,
                                &target.region,
                                Source::CloudTrail,
                                ErrorReason::InvalidResponse,
                            );
                            tracing::warn!(
                                account_id = %target.account_id,
                                region = %target.region,
                                error = %malformed,
                                "skipping a malformed CloudTrail event"
                            );
                        }
                    }
                }
                drop(state);
                match page.next_token {
                    Some(token) => next_token = Some(token),
                    None => break,
                }
            }
        }
        let mut state = lock(trail);
        let poll_duration = began.elapsed();
        let was_up = state.health.as_ref().map(|h| h.up);
        match failure {
            None => {
                // The watermark only moves when every kind was read to the
                // end: a partial read is asked again, and the ledger drops
                // the events it already has.
                state.watermark = Some(now);
                state.last_success = Some(now);
                state.slowdown = 1;
                state
                    .ledger
                    .forget_before(now - chrono_duration(LATE_DELIVERY_OVERLAP * 2));
                state.health = Some(SourceHealth {
                    source: Source::CloudTrail,
                    up: true,
                    last_success: Some(now),
                    poll_duration,
                    last_error: None,
                });
            }
            Some(err) => {
                if err.reason == ErrorReason::Throttled {
                    state.slowdown = (state.slowdown.max(1) * SLOWDOWN_STEP).min(MAX_SLOWDOWN);
                }
                tracing::warn!(
                    account_id = %target.account_id,
                    region = %target.region,
                    reason = err.reason.as_str(),
                    error = %err.message,
                    "reading rotation events failed"
                );
                self.metrics.record_error(
                    &target.account_id,
                    &target.region,
                    Source::CloudTrail,
                    err.reason,
                );
                state.health = Some(SourceHealth {
                    source: Source::CloudTrail,
                    up: false,
                    last_success: state.last_success,
                    poll_duration,
                    last_error: Some(TargetError::from(err)),
                });
            }
        }
        let now_up = state.health.as_ref().map(|h| h.up);
        drop(state);
        if (learned || was_up != now_up)
            && let Some(changed) = &self.changed
        {
            changed.notify_one();
        }
    }

    /// Refreshes every target once, concurrently; each keeps its own pace.
    pub async fn refresh_all(&self, now: DateTime<Utc>) {
        futures::future::join_all(self.targets.iter().map(|t| self.refresh(t, now))).await;
    }

    /// One loop per target until `shutdown`: a target whose refresh runs
    /// long skips its missed ticks without delaying any other.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let loops = self.targets.clone().into_iter().map(|target| {
            let tracker = self.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(tracker.poll_interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = stopped(&mut shutdown) => break,
                        _ = async {
                            ticker.tick().await;
                            tracker.refresh(&target, Utc::now()).await;
                        } => {}
                    }
                }
            })
        });
        futures::future::join_all(loops).await;
    }
}

async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // A dropped sender ends the loops too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl<C: CloudTrailSource> TrailView for RotationTracker<C> {
    fn annotate(
        &self,
        account_id: &str,
        region: &str,
        records: &mut [Arc<SecretRecord>],
    ) -> TrailStatus {
        let key = (account_id.to_owned(), region.to_owned());
        let Some(trail) = self.trails.get(&key) else {
            return TrailStatus {
                health: None,
                new_events: [0; 4],
            };
        };
        let state = lock(trail);
        let history_known = state.watermark.is_some();
        // Until the history is read, a rotation failure cannot be ruled out:
        // why is the last refresh's error, or that none has completed yet.
        let unknown = (!history_known).then(|| {
            match state.health.as_ref().and_then(|h| h.last_error.as_ref()) {
                Some(error) => Unknown::Failed(error.reason),
                None => Unknown::NotYetRead,
            }
        });
        for record in records.iter_mut() {
            let events = history_known.then(|| state.ledger.for_secret(&record.arn, &record.name));
            if record.rotation_events != events || record.rotation_events_unknown != unknown {
                let record = Arc::make_mut(record);
                record.rotation_events = events;
                record.rotation_events_unknown = unknown;
            }
        }
        let mut new_events = [0; 4];
        for (slot, kind) in new_events.iter_mut().zip(RotationEventKind::ALL) {
            *slot = state.ledger.new_events(kind);
        }
        TrailStatus {
            health: state.health.clone(),
            new_events,
        }
    }
}
