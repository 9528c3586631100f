//! CloudTrail's `LookupEvents` over the events the simulator records, with AWS's limits: 90 days
//! of history, late delivery, one lookup attribute, 50 events a page and a request rate per
//! account and region.

pub(crate) mod events;
pub(crate) mod settings;

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value, json};

use crate::awsjson::JsonError;
use crate::caller::Caller;
use crate::ids::fnv1a;
use crate::state::Shared;
use crate::token;

pub use events::{
    RecordedEvent, RotationEventName, RotationEventSpec, SECRET_RESOURCE_TYPE,
    SECRETS_MANAGER_EVENT_SOURCE, SecretIdForm,
};
pub use settings::DEFAULT_LOOKUP_RATE;

use events::Trail;

/// LookupEvents answers at most this many events a page.
pub const LOOKUP_PAGE_LIMIT: i64 = 50;
/// CloudTrail's event history keeps this many days.
pub const HISTORY_DAYS: i64 = 90;

const LOOKUP_KEYS: [&str; 8] = [
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

pub(crate) fn handle(
    shared: &Shared,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Value, JsonError> {
    if operation != "LookupEvents" {
        return Err(JsonError::without_message(
            axum::http::StatusCode::BAD_REQUEST,
            "UnknownOperationException",
        ));
    }
    if !shared
        .cloudtrail_settings()
        .admit(&caller.account, &caller.region, Instant::now())
    {
        return Err(JsonError::bad_request(
            "ThrottlingException",
            "Rate exceeded",
        ));
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| {
            JsonError::bad_request(
                "SerializationException",
                "Start of structure or map found where not expected.",
            )
        })?
    };
    let now = Utc::now();
    let query = Query::parse(&input, now)?;
    let world = shared.world();
    Ok(lookup(
        world.trail(&caller.account, &caller.region),
        &query,
        now,
    ))
}

struct Query {
    attribute: Option<(String, String)>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    insights: bool,
    limit: usize,
    /// Continue below this (event time, arrival) key.
    cursor: Option<(i64, u64)>,
    /// Binds tokens to the query they were issued for.
    fingerprint: u64,
}

fn invalid_attributes(message: impl Into<String>) -> JsonError {
    JsonError::bad_request("InvalidLookupAttributesException", message)
}

fn invalid_time_range() -> JsonError {
    JsonError::bad_request(
        "InvalidTimeRangeException",
        "Start time must be before end time and both must be valid times.",
    )
}

fn invalid_token() -> JsonError {
    JsonError::bad_request("InvalidNextTokenException", "Invalid NextToken.")
}

fn time_field(input: &Value, field: &str) -> Result<Option<DateTime<Utc>>, JsonError> {
    let Some(value) = input.get(field).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let seconds = value.as_f64().ok_or_else(|| {
        JsonError::bad_request(
            "SerializationException",
            format!("{field} must be a timestamp in epoch seconds"),
        )
    })?;
    let millis = (seconds * 1000.0).round();
    if !millis.is_finite() || millis.abs() > 1e15 {
        return Err(invalid_time_range());
    }
    Utc.timestamp_millis_opt(millis as i64)
        .single()
        .map(Some)
        .ok_or_else(invalid_time_range)
}

impl Query {
    fn parse(input: &Value, now: DateTime<Utc>) -> Result<Self, JsonError> {
        let attributes = match input.get("LookupAttributes").filter(|v| !v.is_null()) {
            None => Vec::new(),
            Some(list) => list
                .as_array()
                .ok_or_else(|| invalid_attributes("LookupAttributes must be a list."))?
                .clone(),
        };
        if attributes.len() > 1 {
            return Err(invalid_attributes(
                "You cannot specify more than one lookup attribute.",
            ));
        }
        let attribute = match attributes.first() {
            None => None,
            Some(item) => {
                let key = item
                    .get("AttributeKey")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !LOOKUP_KEYS.contains(&key) {
                    return Err(invalid_attributes(format!(
                        "AttributeKey '{key}' is not one of {}.",
                        LOOKUP_KEYS.join(", ")
                    )));
                }
                let value = item
                    .get("AttributeValue")
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty() && v.len() <= 2000)
                    .ok_or_else(|| {
                        invalid_attributes(
                            "AttributeValue must be between 1 and 2000 characters long.",
                        )
                    })?;
                Some((key.to_string(), value.to_string()))
            }
        };

        let start = time_field(input, "StartTime")?;
        let end = time_field(input, "EndTime")?;
        let history_start = now - Duration::days(HISTORY_DAYS);
        let end_or_now = end.unwrap_or(now);
        let start_or_oldest = start.unwrap_or(history_start);
        if start_or_oldest > end_or_now {
            return Err(invalid_time_range());
        }

        let insights = match input.get("EventCategory").and_then(Value::as_str) {
            None => false,
            Some("insight") => true,
            Some(other) => {
                return Err(JsonError::bad_request(
                    "InvalidEventCategoryException",
                    format!("EventCategory '{other}' is not valid; the only category is insight."),
                ));
            }
        };

        let limit = match input.get("MaxResults").filter(|v| !v.is_null()) {
            None => LOOKUP_PAGE_LIMIT as usize,
            Some(value) => {
                let number = value.as_i64().ok_or_else(|| {
                    JsonError::bad_request(
                        "SerializationException",
                        "MaxResults must be an integer",
                    )
                })?;
                if !(1..=LOOKUP_PAGE_LIMIT).contains(&number) {
                    return Err(JsonError::bad_request(
                        "InvalidMaxResultsException",
                        format!(
                            "MaxResults {number} is invalid: it must be between 1 and \
                             {LOOKUP_PAGE_LIMIT}."
                        ),
                    ));
                }
                number as usize
            }
        };

        // The raw inputs, not the defaults: an omitted EndTime means "now" on every page.
        let canonical = |field: &str| input.get(field).map(Value::to_string).unwrap_or_default();
        let (key, value) = attribute.clone().unwrap_or_default();
        let fingerprint = fnv1a(&[
            &key,
            &value,
            &canonical("StartTime"),
            &canonical("EndTime"),
            &canonical("EventCategory"),
        ]);
        let cursor = match input.get("NextToken").filter(|v| !v.is_null()) {
            None => None,
            Some(token) => Some(decode_token(
                token.as_str().ok_or_else(invalid_token)?,
                fingerprint,
            )?),
        };

        Ok(Self {
            attribute,
            start: start_or_oldest.max(history_start),
            end: end_or_now,
            insights,
            limit,
            cursor,
            fingerprint,
        })
    }

    fn accepts(&self, event: &RecordedEvent) -> bool {
        let Some((key, value)) = &self.attribute else {
            return true;
        };
        match key.as_str() {
            "EventId" => event.event_id == *value,
            "EventName" => event.event_name == *value,
            "ReadOnly" => event.read_only.to_string() == *value,
            "Username" => event.username.as_deref() == Some(value),
            "ResourceType" => event.resources.iter().any(|(kind, _)| kind == value),
            "ResourceName" => event.resources.iter().any(|(_, name)| name == value),
            "EventSource" => event.event_source == *value,
            _ => event.access_key_id.as_deref() == Some(value),
        }
    }
}

fn encode_token(fingerprint: u64, key: (i64, u64)) -> String {
    token::encode(&format!("ct|{fingerprint:016x}|{}|{}", key.0, key.1))
}

fn decode_token(token: &str, fingerprint: u64) -> Result<(i64, u64), JsonError> {
    let text = token::decode(token).ok_or_else(invalid_token)?;
    let mut parts = text.split('|');
    let (Some("ct"), Some(bound), Some(seconds), Some(sequence), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid_token());
    };
    if u64::from_str_radix(bound, 16).ok() != Some(fingerprint) {
        return Err(invalid_token());
    }
    let seconds = seconds.parse().map_err(|_| invalid_token())?;
    let sequence = sequence.parse().map_err(|_| invalid_token())?;
    Ok((seconds, sequence))
}

fn lookup(trail: Option<&Trail>, query: &Query, now: DateTime<Utc>) -> Value {
    let mut answer = Map::new();
    let Some(trail) = trail.filter(|_| !query.insights) else {
        answer.insert("Events".into(), json!([]));
        return Value::Object(answer);
    };
    // Event times are whole seconds: the window is every second it touches inside its bounds.
    let first_second =
        query.start.timestamp() + i64::from(query.start.timestamp_subsec_nanos() > 0);
    let last_second = query.end.timestamp();
    let candidates: Box<dyn Iterator<Item = (&(i64, u64), &RecordedEvent)>> = match query.cursor {
        Some(cursor) => Box::new(trail.events.range(..cursor).rev()),
        None => Box::new(trail.events.range(..=(last_second, u64::MAX)).rev()),
    };
    let mut page = Vec::with_capacity(query.limit);
    let mut next = None;
    for (key, event) in candidates
        .filter(|(key, _)| key.0 <= last_second)
        .take_while(|(key, _)| key.0 >= first_second)
        .filter(|(_, event)| event.available_at <= now && query.accepts(event))
    {
        if page.len() == query.limit {
            next = page.last().map(|(last_key, _)| *last_key);
            break;
        }
        page.push((*key, event));
    }
    let events: Vec<Value> = page.iter().map(|(_, event)| event_entry(event)).collect();
    answer.insert("Events".into(), Value::Array(events));
    if let Some(key) = next {
        answer.insert(
            "NextToken".into(),
            json!(encode_token(query.fingerprint, key)),
        );
    }
    Value::Object(answer)
}

fn event_entry(event: &RecordedEvent) -> Value {
    let mut entry = Map::new();
    entry.insert("EventId".into(), json!(event.event_id));
    entry.insert("EventName".into(), json!(event.event_name));
    entry.insert("ReadOnly".into(), json!(event.read_only.to_string()));
    if let Some(key) = &event.access_key_id {
        entry.insert("AccessKeyId".into(), json!(key));
    }
    entry.insert("EventTime".into(), json!(event.event_time.timestamp()));
    entry.insert("EventSource".into(), json!(event.event_source));
    if let Some(username) = &event.username {
        entry.insert("Username".into(), json!(username));
    }
    let resources: Vec<Value> = event
        .resources
        .iter()
        .map(|(kind, name)| json!({ "ResourceType": kind, "ResourceName": name }))
        .collect();
    entry.insert("Resources".into(), Value::Array(resources));
    entry.insert("CloudTrailEvent".into(), json!(event.cloud_trail_event));
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_query() {
        let token = encode_token(7, (1_700_000_000, 42));
        assert_eq!(decode_token(&token, 7).ok(), Some((1_700_000_000, 42)));
        assert!(decode_token(&token, 8).is_err());
        for bad in ["", "zz", "abc", "6374"] {
            assert!(decode_token(bad, 7).is_err(), "{bad:?}");
        }
    }
}
