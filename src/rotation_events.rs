//! Secrets Manager rotation events from CloudTrail: parsing, matching to
//! secrets, and the per-target ledger that de-duplicates them and keeps the
//! newest event of each kind per secret.

// Every value here may come from AWS, and AWS has sent dates that overflow
// unchecked arithmetic (a far-future `LastRotatedDate` once panicked the
// whole poll): arithmetic is checked or saturating, or says why it cannot
// overflow.
#![deny(clippy::arithmetic_side_effects)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// The four events Secrets Manager logs for a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationEventKind {
    Started,
    Succeeded,
    Failed,
    Abandoned,
}

impl RotationEventKind {
    pub const ALL: [RotationEventKind; 4] = [
        RotationEventKind::Started,
        RotationEventKind::Succeeded,
        RotationEventKind::Failed,
        RotationEventKind::Abandoned,
    ];

    /// The `event` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationEventKind::Started => "started",
            RotationEventKind::Succeeded => "succeeded",
            RotationEventKind::Failed => "failed",
            RotationEventKind::Abandoned => "abandoned",
        }
    }

    /// The CloudTrail `EventName`.
    pub fn event_name(self) -> &'static str {
        match self {
            RotationEventKind::Started => "RotationStarted",
            RotationEventKind::Succeeded => "RotationSucceeded",
            RotationEventKind::Failed => "RotationFailed",
            RotationEventKind::Abandoned => "RotationAbandoned",
        }
    }

    pub fn from_event_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.event_name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Ends a rotation badly.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            RotationEventKind::Failed | RotationEventKind::Abandoned
        )
    }

    /// Among events of the same second, the one that ends a rotation is the
    /// newer: a rotation starts before it fails or succeeds.
    fn order_within_second(self) -> u8 {
        match self {
            RotationEventKind::Started => 0,
            RotationEventKind::Succeeded => 1,
            RotationEventKind::Abandoned => 2,
            RotationEventKind::Failed => 3,
        }
    }
}

/// One rotation event as `LookupEvents` returns it, before parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct LookedUpEvent {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    /// `Resources[].ResourceName` of the lookup answer.
    pub resource_names: Vec<String>,
    /// The raw `CloudTrailEvent` JSON.
    pub cloudtrail_event: Option<String>,
}

/// A parsed rotation event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationEvent {
    pub id: String,
    pub kind: RotationEventKind,
    pub time: DateTime<Utc>,
    /// The secret's ARN or name, as the event names it.
    pub secret: String,
    /// The error message of a failed rotation, when the event carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed rotation event {event_id}: {problem}")]
pub struct MalformedEvent {
    pub event_id: String,
    pub problem: String,
}

/// The secret an event is about: `additionalEventData.SecretId` (an ARN or
/// a name), else the event's resources, whose ARN key CloudTrail spells
/// `ARN`, `arn` or `aRN` depending on the event.
fn secret_of(event: &Value, resource_names: &[String]) -> Option<String> {
    if let Some(id) = event
        .get("additionalEventData")
        .and_then(|data| data.get("SecretId").or_else(|| data.get("secretId")))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
    {
        return Some(id.to_owned());
    }
    if let Some(resources) = event.get("resources").and_then(Value::as_array) {
        for resource in resources {
            let arn = ["ARN", "arn", "aRN", "Arn"]
                .iter()
                .find_map(|key| resource.get(*key).and_then(Value::as_str));
            if let Some(arn) = arn.filter(|arn| arn.contains(":secretsmanager:")) {
                return Some(arn.to_owned());
            }
        }
    }
    resource_names.iter().find(|name| !name.is_empty()).cloned()
}

fn failure_message(event: &Value) -> Option<String> {
    let candidates = [
        event.get("errorMessage"),
        event.get("additionalEventData").and_then(|data| {
            data.get("errorMessage")
                .or_else(|| data.get("ErrorMessage"))
        }),
        event
            .get("serviceEventDetails")
            .and_then(|details| details.get("errorMessage")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .map(str::to_owned)
}

/// Parses one looked-up event. Anything missing that the verdict needs
/// makes the event malformed: it is counted and skipped, never guessed.
pub fn parse_event(raw: &LookedUpEvent) -> Result<RotationEvent, MalformedEvent> {
    let event_id = raw.event_id.clone().unwrap_or_default();
    let malformed = |problem: &str| MalformedEvent {
        event_id: if event_id.is_empty() {
            "(no EventId)".to_owned()
        } else {
            event_id.clone()
        },
        problem: problem.to_owned(),
    };
    if event_id.is_empty() {
        return Err(malformed("no EventId"));
    }
    let kind = raw
        .event_name
        .as_deref()
        .and_then(RotationEventKind::from_event_name)
        .ok_or_else(|| malformed("not a rotation event name"))?;
    let time = raw.event_time.ok_or_else(|| malformed("no EventTime"))?;
    let body: Value = match raw.cloudtrail_event.as_deref() {
        Some(text) => serde_json::from_str(text)
            .map_err(|err| malformed(&format!("CloudTrailEvent is not JSON: {err}")))?,
        None => Value::Null,
    };
    if !body.is_null() && !body.is_object() {
        return Err(malformed("CloudTrailEvent is not a JSON object"));
    }
    let secret = secret_of(&body, &raw.resource_names)
        .ok_or_else(|| malformed("names no secret (no SecretId, no resources)"))?;
    Ok(RotationEvent {
        id: event_id,
        kind,
        time,
        secret,
        message: failure_message(&body),
    })
}

/// The newest event of each kind for one secret. The events are shared with
/// the ledger: every snapshot names them, and a copy per secret per snapshot
/// would cost hundreds of bytes each at fleet scale.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecretRotationEvents {
    pub started: Option<Arc<RotationEvent>>,
    pub succeeded: Option<Arc<RotationEvent>>,
    pub failed: Option<Arc<RotationEvent>>,
    pub abandoned: Option<Arc<RotationEvent>>,
}

impl SecretRotationEvents {
    pub fn get(&self, kind: RotationEventKind) -> Option<&Arc<RotationEvent>> {
        match kind {
            RotationEventKind::Started => self.started.as_ref(),
            RotationEventKind::Succeeded => self.succeeded.as_ref(),
            RotationEventKind::Failed => self.failed.as_ref(),
            RotationEventKind::Abandoned => self.abandoned.as_ref(),
        }
    }

    fn slot(&mut self, kind: RotationEventKind) -> &mut Option<Arc<RotationEvent>> {
        match kind {
            RotationEventKind::Started => &mut self.started,
            RotationEventKind::Succeeded => &mut self.succeeded,
            RotationEventKind::Failed => &mut self.failed,
            RotationEventKind::Abandoned => &mut self.abandoned,
        }
    }

    /// Keeps `event` if it is newer than the one held for its kind.
    fn offer(&mut self, event: &Arc<RotationEvent>) {
        let slot = self.slot(event.kind);
        if slot.as_ref().is_none_or(|held| event.time >= held.time) {
            *slot = Some(Arc::clone(event));
        }
    }

    /// The newest event of any kind: what `rotation_failed` judges.
    pub fn newest(&self) -> Option<&Arc<RotationEvent>> {
        RotationEventKind::ALL
            .into_iter()
            .filter_map(|kind| self.get(kind))
            .max_by_key(|event| (event.time, event.kind.order_within_second()))
    }

    fn merge(&mut self, other: &SecretRotationEvents) {
        for kind in RotationEventKind::ALL {
            if let Some(event) = other.get(kind) {
                self.offer(event);
            }
        }
    }
}

/// Everything known of one target's rotation events.
///
/// De-duplication is bounded by time: every lookup starts at the watermark
/// minus the overlap, so an id whose event is older than that can never
/// come back and is forgotten. A hard cap guards against a flood.
#[derive(Debug, Default)]
pub struct EventLedger {
    seen: HashSet<String>,
    seen_order: VecDeque<(DateTime<Utc>, String)>,
    /// Newest events per secret, keyed by the ARN or name the events use.
    by_secret: HashMap<String, SecretRotationEvents>,
    /// Events first seen after the start-up history, per kind.
    new_events: [u64; 4],
    pub malformed: u64,
}

/// How many event ids a ledger remembers at most.
pub const MAX_REMEMBERED_EVENT_IDS: usize = 100_000;

impl EventLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event. `count` is false for the start-up history, so that
    /// a restart never looks like a burst of new events to `increase()`.
    /// Returns whether the event was new.
    pub fn record(&mut self, event: RotationEvent, count: bool) -> bool {
        if !self.seen.insert(event.id.clone()) {
            return false;
        }
        self.seen_order.push_back((event.time, event.id.clone()));
        // Keep the oldest evicted first; events arrive in any order, and the
        // queue is pruned by time as well, so a rough order is enough.
        while self.seen_order.len() > MAX_REMEMBERED_EVENT_IDS {
            if let Some((_, id)) = self.seen_order.pop_front() {
                self.seen.remove(&id);
            }
        }
        if count {
            let counted = &mut self.new_events[event.kind.index()];
            *counted = counted.saturating_add(1);
        }
        let event = Arc::new(event);
        self.by_secret
            .entry(event.secret.clone())
            .or_default()
            .offer(&event);
        true
    }

    /// Forgets ids of events older than `horizon`: no later lookup reaches them.
    pub fn forget_before(&mut self, horizon: DateTime<Utc>) {
        self.seen_order.retain(|(time, id)| {
            let keep = *time >= horizon;
            if !keep {
                self.seen.remove(id);
            }
            keep
        });
    }

    /// Forgets the events older than `horizon` (the lookback): an exporter
    /// started now would not have read them, and verdicts must not rest on
    /// history one exporter has and another lacks. Secrets left without
    /// events are dropped, so a CloudTrail that keeps naming new secrets
    /// cannot grow the ledger without end. Returns whether an event went.
    pub fn forget_events_before(&mut self, horizon: DateTime<Utc>) -> bool {
        let mut forgot = false;
        self.by_secret.retain(|_, events| {
            for kind in RotationEventKind::ALL {
                let slot = events.slot(kind);
                if slot.as_ref().is_some_and(|event| event.time < horizon) {
                    *slot = None;
                    forgot = true;
                }
            }
            events.newest().is_some()
        });
        forgot
    }

    /// Secrets (by the ARN or name their events use) with events held.
    pub fn secrets_held(&self) -> usize {
        self.by_secret.len()
    }

    pub fn remembered_ids(&self) -> usize {
        self.seen.len()
    }

    pub fn new_events(&self, kind: RotationEventKind) -> u64 {
        self.new_events[kind.index()]
    }

    /// The events of the secret with this ARN and name: events may name it
    /// either way.
    pub fn for_secret(&self, arn: &str, name: &str) -> SecretRotationEvents {
        let mut events = SecretRotationEvents::default();
        for key in [arn, name] {
            if let Some(found) = self.by_secret.get(key) {
                events.merge(found);
            }
        }
        events
    }

    /// Every secret key with events, for tests and reports.
    pub fn secrets(&self) -> BTreeMap<&str, &SecretRotationEvents> {
        self.by_secret
            .iter()
            .map(|(key, events)| (key.as_str(), events))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000_i64.saturating_add(seconds), 0)
            .single()
            .unwrap_or_default()
    }

    fn raw(id: &str, name: &str, seconds: i64, json: &str) -> LookedUpEvent {
        LookedUpEvent {
            event_id: Some(id.to_owned()),
            event_name: Some(name.to_owned()),
            event_time: Some(at(seconds)),
            resource_names: vec![],
            cloudtrail_event: Some(json.to_owned()),
        }
    }

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf";

    #[test]
    fn secret_id_comes_from_additional_event_data_then_resources() {
        let by_id = raw(
            "1",
            "RotationFailed",
            0,
            &format!(r#"{{"additionalEventData":{{"SecretId":"{ARN}"}}}}"#),
        );
        assert_eq!(parse_event(&by_id).map(|e| e.secret), Ok(ARN.to_owned()));
        for key in ["ARN", "arn", "aRN"] {
            let json = format!(
                r#"{{"resources":[{{"type":"AWS::SecretsManager::Secret","{key}":"{ARN}"}}]}}"#
            );
            assert_eq!(
                parse_event(&raw("2", "RotationSucceeded", 0, &json)).map(|e| e.secret),
                Ok(ARN.to_owned()),
                "{key}"
            );
        }
        let mut from_lookup = raw("3", "RotationStarted", 0, "{}");
        from_lookup.resource_names = vec![ARN.to_owned()];
        assert_eq!(
            parse_event(&from_lookup).map(|e| e.secret),
            Ok(ARN.to_owned())
        );
    }

    #[test]
    fn malformed_events_are_rejected_with_the_reason() {
        let cases = [
            (raw("1", "RotationFailed", 0, "not json"), "not JSON"),
            (raw("2", "RotationFailed", 0, "[1]"), "not a JSON object"),
            (raw("3", "RotationFailed", 0, "{}"), "names no secret"),
            (
                raw("4", "GetSecretValue", 0, "{}"),
                "not a rotation event name",
            ),
            (raw("", "RotationFailed", 0, "{}"), "no EventId"),
        ];
        for (event, expected) in cases {
            let err = parse_event(&event)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(expected), "{err} should say {expected}");
        }
    }

    fn event(id: &str, kind: RotationEventKind, seconds: i64) -> RotationEvent {
        RotationEvent {
            id: id.to_owned(),
            kind,
            time: at(seconds),
            secret: ARN.to_owned(),
            message: None,
        }
    }

    #[test]
    fn the_ledger_counts_each_event_once_and_history_never() {
        let mut ledger = EventLedger::new();
        assert!(ledger.record(event("h", RotationEventKind::Failed, 0), false));
        assert!(ledger.record(event("a", RotationEventKind::Failed, 10), true));
        assert!(!ledger.record(event("a", RotationEventKind::Failed, 10), true));
        assert_eq!(ledger.new_events(RotationEventKind::Failed), 1);
        assert_eq!(
            ledger.for_secret(ARN, "db").failed.map(|e| e.id.clone()),
            Some("a".to_owned())
        );
    }

    #[test]
    fn the_newest_event_decides_and_a_failure_ends_its_second() {
        let mut ledger = EventLedger::new();
        ledger.record(event("s", RotationEventKind::Started, 100), true);
        ledger.record(event("f", RotationEventKind::Failed, 100), true);
        let events = ledger.for_secret(ARN, "db");
        assert_eq!(
            events.newest().map(|e| e.kind),
            Some(RotationEventKind::Failed)
        );
        ledger.record(event("ok", RotationEventKind::Succeeded, 200), true);
        let events = ledger.for_secret(ARN, "db");
        assert_eq!(
            events.newest().map(|e| e.kind),
            Some(RotationEventKind::Succeeded)
        );
        // An older event delivered late does not replace a newer one.
        ledger.record(event("late", RotationEventKind::Failed, 50), true);
        assert_eq!(
            ledger.for_secret(ARN, "db").failed.map(|e| e.id.clone()),
            Some("f".to_owned())
        );
    }

    #[test]
    fn forgetting_is_bounded_by_time() {
        let mut ledger = EventLedger::new();
        for i in 0..10 {
            ledger.record(
                event(&format!("e{i}"), RotationEventKind::Started, i * 60),
                true,
            );
        }
        ledger.forget_before(at(5 * 60));
        assert_eq!(ledger.remembered_ids(), 5);
        // The newest-event view is kept; only de-duplication memory goes.
        assert!(ledger.for_secret(ARN, "db").started.is_some());
    }
}
