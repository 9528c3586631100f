//! Rotation events from CloudTrail. CloudTrail allows 2 `LookupEvents` per
//! second per account and region, so a start-up history can take minutes:
//! it is read in per-target loops ([`TargetLoops`]), apart from the
//! inventory.
//!
//! A read asks, for each of the four event names, for the events since the
//! watermark minus an overlap wide enough for CloudTrail's late delivery;
//! the ledger de-duplicates by `EventId`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    PerTargetSource, ReadContext, SnapshotView, TargetLoops, TargetPart, after, before, lock,
};
use crate::aws::cloudtrail::CloudTrailSource;
use crate::aws::pages::Pages;
use crate::aws::{SourceError, Target};
use crate::inventory::{SecretRecord, Unknown};
use crate::rotation_events::{
    EventLedger, MalformedEvent, RotationEvent, RotationEventKind, parse_event,
};
use crate::snapshot::Source;

/// CloudTrail delivers an event within about 15 minutes of the API call;
/// each lookup reaches this far behind the previous one's end.
pub const LATE_DELIVERY_OVERLAP: Duration = Duration::from_secs(20 * 60);

/// Pages of one event kind in one read before the listing is taken to go
/// round: 500,000 events of a kind (one for every secret Secrets Manager
/// lets an account and region hold) are 10,000 pages of 50. The read's
/// deadline (one interval) usually ends a runaway listing first: at 2
/// requests a second, 10,000 pages take well over an hour.
pub const MAX_LOOKUP_PAGES: usize = 10_000;

/// `LookupEvents` requests in flight across all targets, per target polled
/// at once (`aws.max_concurrent_targets`): 128 by default. Each target
/// keeps its own pace (1 or 2 requests a second), but every target's
/// refresh starts on the same tick; unbounded, 2,000 targets send 2,000
/// requests at once and hold their clients and responses together.
pub const LOOKUPS_IN_FLIGHT_PER_CONCURRENT_TARGET: usize = 4;

/// How many poll intervals the start-up history may take: an hour at the
/// default 5m, 3,600 requests at 1 a second, 50 events each.
pub const HISTORY_READ_INTERVALS: u32 = 12;

/// The CloudTrail loops of every target.
pub type RotationTracker<C> = TargetLoops<RotationEvents<C>>;

/// What is known of one target's CloudTrail.
#[derive(Debug, Default)]
pub struct TrailState {
    ledger: EventLedger,
    /// The end of the last complete read; `None` until the start-up history
    /// has been read, and until then no verdict rests on CloudTrail.
    watermark: Option<DateTime<Utc>>,
}

impl TrailState {
    /// The events known of the target.
    pub fn ledger(&self) -> &EventLedger {
        &self.ledger
    }
}

/// Reads rotation events through `C`.
pub struct RotationEvents<C> {
    client: Arc<C>,
    lookback: Duration,
}

impl<C> RotationEvents<C> {
    /// Reads `lookback` of history first, then what is new.
    pub fn new(client: Arc<C>, lookback: Duration) -> Self {
        Self { client, lookback }
    }
}

/// The event, unless it is dated after `latest`: an event from the future
/// would never leave the ledger by age.
fn within(event: RotationEvent, latest: DateTime<Utc>) -> Result<RotationEvent, MalformedEvent> {
    if event.time > latest {
        return Err(MalformedEvent {
            problem: format!("dated {}, after the lookup's end", event.time),
            event_id: event.id,
        });
    }
    Ok(event)
}

impl<C: CloudTrailSource> PerTargetSource for RotationEvents<C> {
    type State = TrailState;

    fn source(&self) -> Source {
        Source::CloudTrail
    }

    fn operations(&self) -> &'static [(&'static str, &'static str)] {
        &[("cloudtrail", "LookupEvents")]
    }

    /// The start-up history reads the whole lookback at 1 or 2 requests a
    /// second, which for a busy account is far more than a refresh: it gets
    /// `HISTORY_READ_INTERVALS` intervals before it counts as timed out.
    fn read_deadline(&self, state: &TrailState, interval: Duration) -> Duration {
        if state.watermark.is_none() {
            interval.saturating_mul(HISTORY_READ_INTERVALS)
        } else {
            interval
        }
    }

    async fn read(
        &self,
        target: &Target,
        state: &Mutex<TrailState>,
        read: &ReadContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, SourceError> {
        let watermark = lock(state).watermark;
        let (start, history) = match watermark {
            None => (before(now, self.lookback), true),
            Some(watermark) => (before(watermark, LATE_DELIVERY_OVERLAP), false),
        };
        let outcome = self
            .read_kinds(target, state, read, start, now, history)
            .await;
        // Whatever the outcome, nothing older than the lookback is kept: a
        // restarted exporter would not know it either, and a CloudTrail that
        // keeps producing events must not grow the ledger without end.
        let mut state = lock(state);
        let forgot = state
            .ledger
            .forget_events_before(before(now, self.lookback));
        let learned = outcome? | forgot;
        state.watermark = Some(now);
        let keep_from = before(now, LATE_DELIVERY_OVERLAP.saturating_mul(2));
        state.ledger.forget_before(keep_from);
        Ok(learned)
    }
}

impl<C: CloudTrailSource> RotationEvents<C> {
    /// Reads every event kind from `start` to `now` into the ledger.
    async fn read_kinds(
        &self,
        target: &Target,
        state: &Mutex<TrailState>,
        read: &ReadContext<'_>,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
        history: bool,
    ) -> Result<bool, SourceError> {
        let mut learned = false;
        // An event after the lookup's end is no answer to it; allowing for
        // clocks apart by as much as CloudTrail's delivery lag.
        let latest = after(now, LATE_DELIVERY_OVERLAP);
        for kind in RotationEventKind::ALL {
            let mut pages = Pages::new("LookupEvents", MAX_LOOKUP_PAGES);
            let mut next_token = None;
            loop {
                let permit = read.take_turn().await;
                let page = self
                    .client
                    .lookup_page(target, kind, start, now, next_token.take())
                    .await;
                drop(permit);
                // The watermark only moves when every kind was read to
                // the end: a partial read is asked again, and the ledger
                // drops the events it already has.
                let page = page?;
                {
                    let mut state = lock(state);
                    for raw in &page.events {
                        match parse_event(raw).and_then(|event| within(event, latest)) {
                            // History read at start-up sets the newest
                            // events but never the counter: a restart is
                            // not a burst.
                            Ok(event) => learned |= state.ledger.record(event, !history),
                            Err(malformed) => {
                                state.ledger.malformed = state.ledger.malformed.saturating_add(1);
                                read.skipped_invalid_item();
                                tracing::warn!(
                                    account_id = %target.account_id,
                                    region = %target.region,
                                    error = %malformed,
                                    "skipping a malformed CloudTrail event"
                                );
                            }
                        }
                    }
                }
                match pages.next_token(page.next_token.as_deref())? {
                    Some(token) => next_token = Some(token),
                    None => break,
                }
            }
        }
        Ok(learned)
    }
}

impl<C: CloudTrailSource> SnapshotView for RotationTracker<C> {
    /// Sets `rotation_events` on the target's records when its history is
    /// known, else clears them and says why they are unknown.
    fn contribute(
        &self,
        account_id: &str,
        region: &str,
        records: &mut [Arc<SecretRecord>],
        part: &mut TargetPart,
    ) {
        self.with_target(account_id, region, |state, health| {
            let history_known = state.watermark.is_some();
            // Until the history is read, a rotation failure cannot be ruled
            // out: why is the last read's error, or that none has completed.
            let unknown = (!history_known).then(|| {
                match health.and_then(|health| health.last_error.as_ref()) {
                    Some(error) => Unknown::Failed(error.reason),
                    None => Unknown::NotYetRead,
                }
            });
            for record in records.iter_mut() {
                let events =
                    history_known.then(|| state.ledger.for_secret(&record.arn, &record.name));
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
            part.health.extend(health.cloned());
            part.rotation_events_total = Some(new_events);
        });
    }
}
