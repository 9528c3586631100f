//! SSM Parameter Store, inventoried beside Secrets Manager when
//! `sources.ssm_parameters.enabled`: each target's loop lists its
//! parameters with `DescribeParameters` (50 a page) once a poll interval,
//! and, with `tags: true`, reads each parameter's tags with
//! `ListTagsForResource` once per [`TAGS_REFRESH`]. A failed listing takes
//! the target's `source="ssm"` health down and keeps the last listing for
//! [`KEEP_AFTER_FAILURE`](super::KEEP_AFTER_FAILURE) intervals, as the inventory does with secrets;
//! the Secrets Manager side of the target is not touched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use litemap::LiteMap;

use super::{
    HeldListing, PerTargetSource, ReadContext, SnapshotView, TargetLoops, TargetPart, after, lock,
};
use crate::aws::ssm::{SsmApi, list_parameters};
use crate::aws::{SourceError, Target};
use crate::config::SsmParametersSource;
use crate::inventory::{SecretRecord, Unknown};
use crate::parameters::ParameterRecord;
use crate::snapshot::{ErrorReason, Source};

/// Requests per second per target. Parameter Store does not publish the
/// quota of `DescribeParameters` and `ListTagsForResource`, and clients
/// that list in a loop are throttled after a few dozen requests: the
/// exporter stays well below, leaving the account's throughput to the
/// applications that read their parameters.
pub const SSM_REQUESTS_PER_SECOND: f64 = 2.0;

/// How often each parameter's tags are read again. Tags change seldom and
/// a change does not touch `LastModifiedDate`, so they are read on a
/// schedule: one request per parameter per refresh.
pub const TAGS_REFRESH: Duration = Duration::from_secs(3600);

/// The SSM loops of every target.
pub type ParameterReader<A> = TargetLoops<SsmParameters<A>>;

/// What is known of one parameter's tags.
#[derive(Debug, Clone)]
struct TagRead {
    tags: Result<LiteMap<Arc<str>, Arc<str>>, Unknown>,
    next_read: DateTime<Utc>,
}

/// What is known of one target's parameters.
#[derive(Debug, Default)]
pub struct SsmState {
    /// The last listing that succeeded, sorted by name, with tags set.
    parameters: HeldListing<ParameterRecord>,
    /// Tags by parameter name, when tags are read.
    tags: HashMap<String, TagRead>,
    /// Requests the last read made, for the next read's deadline.
    last_requests: u32,
}

/// Reads SSM parameters through `A`.
pub struct SsmParameters<A> {
    api: Arc<A>,
    settings: SsmParametersSource,
    /// How long one read may spend reading tags; the rest wait for the
    /// next read.
    tags_time_budget: Duration,
    /// The poll interval, for how long a failed target keeps its listing.
    poll_interval: Duration,
}

impl<A> SsmParameters<A> {
    pub fn new(api: Arc<A>, settings: SsmParametersSource, poll_interval: Duration) -> Self {
        Self {
            api,
            settings,
            tags_time_budget: poll_interval.checked_div(2).unwrap_or(poll_interval),
            poll_interval,
        }
    }
}

impl<A: SsmApi> SsmParameters<A> {
    /// Sets each parameter's tags from what is known, reading those due
    /// within the time budget. An error is counted and leaves the tags as
    /// they were (unknown when never read); a denial or a throttle stops
    /// this read's tag requests.
    async fn read_tags(
        &self,
        target: &Target,
        state: &Mutex<SsmState>,
        read: &ReadContext<'_>,
        records: &mut [ParameterRecord],
        now: DateTime<Utc>,
        requests: &mut u32,
    ) {
        let started = tokio::time::Instant::now();
        let mut stopped = false;
        for record in records.iter_mut() {
            let held = lock(state).tags.get(&record.name).cloned();
            let due = held.as_ref().is_none_or(|held| held.next_read <= now);
            let asked = due && !stopped && started.elapsed() < self.tags_time_budget;
            let mut answered = false;
            let tags = if asked {
                drop(read.take_turn().await);
                *requests = requests.saturating_add(1);
                match self.api.parameter_tags(target, &record.name).await {
                    Ok(tags) => {
                        answered = true;
                        Ok(tags)
                    }
                    Err(err) => {
                        read.count_error(err.reason);
                        tracing::warn!(
                            account_id = %target.account_id,
                            region = %target.region,
                            parameter = %record.name,
                            reason = err.reason.as_str(),
                            error = %err.message,
                            "reading a parameter's tags failed"
                        );
                        stopped = matches!(
                            err.reason,
                            ErrorReason::AccessDenied | ErrorReason::Throttled
                        );
                        // What was known stays known until a read succeeds.
                        match &held {
                            Some(TagRead { tags: Ok(tags), .. }) => Ok(tags.clone()),
                            _ => Err(Unknown::Failed(err.reason)),
                        }
                    }
                }
            } else {
                held.as_ref()
                    .map_or(Err(Unknown::NotYetRead), |held| held.tags.clone())
            };
            if asked || held.is_none() {
                // A failed read (even one that keeps the tags known before)
                // is asked again at the next read, not an hour later.
                let next_read = if answered {
                    after(now, TAGS_REFRESH)
                } else {
                    now
                };
                lock(state).tags.insert(
                    record.name.clone(),
                    TagRead {
                        tags: tags.clone(),
                        next_read,
                    },
                );
            }
            match tags {
                Ok(tags) => {
                    record.tags = Some(tags);
                    record.tags_unknown = None;
                }
                Err(why) => {
                    record.tags = None;
                    record.tags_unknown = Some(why);
                }
            }
        }
    }
}

impl<A: SsmApi> PerTargetSource for SsmParameters<A> {
    type State = SsmState;

    fn source(&self) -> Source {
        Source::Ssm
    }

    fn operations(&self) -> &'static [(&'static str, &'static str)] {
        if self.settings.tags {
            &[
                ("ssm", "DescribeParameters"),
                ("ssm", "ListTagsForResource"),
            ]
        } else {
            &[("ssm", "DescribeParameters")]
        }
    }

    /// A listing of thousands of parameters at this pace can outlast an
    /// interval: the deadline grows with the requests the last read made.
    fn read_deadline(&self, state: &SsmState, interval: Duration) -> Duration {
        let pace = Duration::from_secs_f64(1.0 / SSM_REQUESTS_PER_SECOND);
        let expected = pace
            .saturating_mul(state.last_requests)
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(60));
        interval.max(expected)
    }

    async fn read(
        &self,
        target: &Target,
        state: &Mutex<SsmState>,
        read: &ReadContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, SourceError> {
        let mut requests: u32 = 0;
        let listed = list_parameters(
            &*self.api,
            target,
            &self.settings.types,
            &self.settings.path_prefixes,
            || {
                requests = requests.saturating_add(1);
                async {
                    drop(read.take_turn().await);
                }
            },
        )
        .await;
        let (mut records, skipped) = match listed {
            Ok(listed) => listed,
            Err(err) => {
                lock(state).last_requests = requests;
                return Err(err);
            }
        };
        for _ in 0..skipped {
            read.skipped_invalid_item();
        }
        if self.settings.tags {
            // Tags of parameters no longer listed are forgotten.
            lock(state).tags.retain(|name, _| {
                records
                    .binary_search_by(|record| record.name.as_str().cmp(name))
                    .is_ok()
            });
            self.read_tags(target, state, read, &mut records, now, &mut requests)
                .await;
        }
        let mut state = lock(state);
        state.last_requests = requests;
        Ok(state
            .parameters
            .replace(records, now, |a, b| a.name.cmp(&b.name)))
    }
}

impl<A: SsmApi> SnapshotView for ParameterReader<A> {
    /// Hands the target's last listing to the snapshot, with the source's
    /// health; a listing older than [`KEEP_AFTER_FAILURE`](super::KEEP_AFTER_FAILURE) intervals is
    /// dropped.
    fn contribute(
        &self,
        account_id: &str,
        region: &str,
        _records: &mut [Arc<SecretRecord>],
        part: &mut TargetPart,
    ) {
        part.parameters = self.contribute_listing(
            account_id,
            region,
            self.source().poll_interval,
            part,
            |state| &state.parameters,
        );
    }
}
