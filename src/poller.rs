//! The background poll: every (account, region) concurrently with a bound,
//! each under its own timeout, so one slow or failing target never blanks
//! or delays the others. Each poll builds one immutable snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::MissedTickBehavior;

use crate::aws::secretsmanager::SecretsSource;
use crate::aws::{SourceError, Target};
use crate::compliance;
use crate::config::Config;
use crate::inventory::SecretRecord;
use crate::metrics::ExporterMetrics;
use crate::snapshot::{
    SecretReport, Snapshot, SnapshotStore, Source, SourceHealth, TargetError, TargetSnapshot,
};

/// A failed target keeps its last good secrets for this many poll intervals,
/// so a blip does not make every alert on its secrets resolve and re-fire.
pub const STALE_INTERVALS: u32 = 3;

/// What the poller remembers of a target between polls.
#[derive(Debug, Default)]
struct TargetMemory {
    records: Vec<SecretRecord>,
    last_success: Option<DateTime<Utc>>,
}

/// The result of polling one target once.
struct TargetOutcome {
    target: Target,
    result: Result<Vec<SecretRecord>, SourceError>,
    duration: Duration,
}

pub struct Poller<S> {
    config: Arc<Config>,
    targets: Vec<Target>,
    source: Arc<S>,
    store: Arc<SnapshotStore>,
    metrics: ExporterMetrics,
    memory: Mutex<HashMap<(String, String), TargetMemory>>,
    /// Longest gaps of cron schedules, shared by every secret using the same expression.
    schedules: compliance::ScheduleCache,
}

impl<S: SecretsSource> Poller<S> {
    pub fn new(
        config: Arc<Config>,
        targets: Vec<Target>,
        source: Arc<S>,
        store: Arc<SnapshotStore>,
        metrics: ExporterMetrics,
    ) -> Self {
        for target in &targets {
            metrics.init_target(&target.account_id, &target.region, Source::SecretsManager);
        }
        Self {
            config,
            targets,
            source,
            store,
            metrics,
            memory: Mutex::new(HashMap::new()),
            schedules: compliance::ScheduleCache::new(),
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn store(&self) -> &Arc<SnapshotStore> {
        &self.store
    }

    /// Polls every target once, judges every secret at `now` and publishes
    /// the snapshot.
    pub async fn poll_once(&self, now: DateTime<Utc>) -> Arc<Snapshot> {
        let started = Instant::now();
        let settings = &self.config.aws;
        let target_timeout = settings.target_timeout;
        let outcomes: Vec<TargetOutcome> = futures::stream::iter(self.targets.iter().cloned())
            .map(|target| async move {
                let began = Instant::now();
                let result =
                    match tokio::time::timeout(target_timeout, self.source.list_secrets(&target))
                        .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(SourceError::timeout(format!(
                            "listing secrets took longer than {}s",
                            target_timeout.as_secs()
                        ))),
                    };
                TargetOutcome {
                    target,
                    result,
                    duration: began.elapsed(),
                }
            })
            .buffer_unordered(settings.max_concurrent_targets.max(1))
            .collect()
            .await;

        let snapshot = self.build_snapshot(outcomes, now, started.elapsed());
        self.metrics.observe_poll_duration(started.elapsed());
        let snapshot = Arc::new(snapshot);
        self.store.store_arc(snapshot.clone());
        snapshot
    }

    fn build_snapshot(
        &self,
        outcomes: Vec<TargetOutcome>,
        now: DateTime<Utc>,
        elapsed: Duration,
    ) -> Snapshot {
        let keep_for = self.config.poll_interval * STALE_INTERVALS;
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut targets = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            let target = outcome.target;
            let remembered = memory
                .entry((target.account_id.clone(), target.region.clone()))
                .or_default();
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
                    self.metrics.record_error(
                        &target.account_id,
                        &target.region,
                        Source::SecretsManager,
                        err.reason,
                    );
                    let expired = match remembered.last_success {
                        Some(last) => (now - last).to_std().unwrap_or_default() >= keep_for,
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
            let secrets = remembered
                .records
                .iter()
                .map(|record| SecretReport {
                    evaluation: compliance::evaluate_with(
                        record,
                        &self.config.policy,
                        now,
                        &self.schedules,
                    ),
                    record: record.clone(),
                })
                .collect();
            targets.push(TargetSnapshot {
                account_id: target.account_id,
                account_name: target.account_name,
                region: target.region,
                health: vec![health],
                secrets,
            });
        }
        targets.sort_by(|a, b| {
            (a.account_id.as_str(), a.region.as_str())
                .cmp(&(b.account_id.as_str(), b.region.as_str()))
        });
        Snapshot {
            completed_at: now
                + chrono::Duration::from_std(elapsed).unwrap_or_else(|_| chrono::Duration::zero()),
            targets,
        }
    }

    /// Polls every `poll_interval` until `shutdown` resolves. A tick that
    /// comes while a poll is still running is skipped and counted, never
    /// queued: polls must not pile up behind a slow account.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.config.poll_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        let mut running: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => {
                    if running.as_ref().is_some_and(|poll| !poll.is_finished()) {
                        self.metrics.record_poll_skipped();
                        tracing::warn!("previous poll still running; skipping this tick");
                        continue;
                    }
                    let poller = self.clone();
                    running = Some(tokio::spawn(async move {
                        let snapshot = poller.poll_once(Utc::now()).await;
                        let secrets: usize = snapshot.targets.iter().map(|t| t.secrets.len()).sum();
                        let down = snapshot
                            .targets
                            .iter()
                            .filter(|t| t.health.iter().any(|h| !h.up))
                            .count();
                        tracing::info!(targets = snapshot.targets.len(), targets_down = down, secrets, "poll complete");
                    }));
                }
            }
        }
        if let Some(poll) = running {
            poll.abort();
        }
    }
}
