//! CloudTrail's `LookupEvents` over the events the simulator records, with AWS's limits: 90 days
//! of history, late delivery, one lookup attribute, 50 events a page and a request rate per
//! account and region.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use serde_json::{Map, Value, json};

use crate::awsjson::JsonError;
use crate::caller::Caller;
use crate::ids::fnv1a;
use crate::state::Shared;
use crate::token;

/// `eventSource` of everything Secrets Manager logs.
pub const SECRETS_MANAGER_EVENT_SOURCE: &str = "secretsmanager.amazonaws.com";
/// The resource type CloudTrail gives secrets.
pub const SECRET_RESOURCE_TYPE: &str = "AWS::SecretsManager::Secret";
/// LookupEvents answers at most this many events a page.
pub const LOOKUP_PAGE_LIMIT: i64 = 50;
/// CloudTrail's event history keeps this many days.
pub const HISTORY_DAYS: i64 = 90;
/// LookupEvents' quota per account and region, in requests per second.
pub const DEFAULT_LOOKUP_RATE: f64 = 2.0;

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

/// The service events Secrets Manager logs about rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationEventName {
    Started,
    Succeeded,
    Failed,
    /// Logged when Secrets Manager removes `AWSPENDING` because a new version was put by hand
    /// while a rotation was unfinished.
    Abandoned,
}

impl RotationEventName {
    /// The `eventName`, such as `RotationFailed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "RotationStarted",
            Self::Succeeded => "RotationSucceeded",
            Self::Failed => "RotationFailed",
            Self::Abandoned => "RotationAbandoned",
        }
    }
}

impl fmt::Display for RotationEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `additionalEventData.SecretId` names the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretIdForm {
    /// The full ARN, as AWS writes it.
    #[default]
    Arn,
    /// The bare name, to test readers that must cope with either.
    Name,
}

/// A Secrets Manager rotation event to record with [`crate::SimulatorHandle::record_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEventSpec {
    pub name: RotationEventName,
    /// The secret's name or ARN. It need not exist (any more): events outlive secrets.
    pub secret: String,
    /// `eventTime`; CloudTrail keeps whole seconds, so the fraction is dropped.
    pub at: DateTime<Utc>,
    /// When `LookupEvents` starts returning the event; `None`: `at` plus the delivery delay
    /// set with [`crate::SimulatorHandle::set_cloudtrail_delivery_delay`].
    pub visible_at: Option<DateTime<Utc>>,
    pub secret_id_form: SecretIdForm,
    /// The event's `errorMessage`; `None` gives `RotationFailed` a Lambda error and the other
    /// events none.
    pub error_message: Option<String>,
    /// Lists the secret under `resources` (and so in `LookupEvents`' `Resources`). AWS's rotation
    /// events carry the secret in `additionalEventData` only, so this is off by default.
    pub with_resources: bool,
    /// The rotation's token, the tail of `requestID` (AWS uses the new version's id);
    /// `None`: generated.
    pub client_request_token: Option<String>,
}

impl RotationEventSpec {
    pub fn new(name: RotationEventName, secret: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            name,
            secret: secret.into(),
            at,
            visible_at: None,
            secret_id_form: SecretIdForm::Arn,
            error_message: None,
            with_resources: false,
            client_request_token: None,
        }
    }

    pub fn visible_at(mut self, when: DateTime<Utc>) -> Self {
        self.visible_at = Some(when);
        self
    }

    pub fn secret_id_form(mut self, form: SecretIdForm) -> Self {
        self.secret_id_form = form;
        self
    }

    /// `additionalEventData.SecretId` carries the secret's name instead of its ARN.
    pub fn secret_id_as_name(self) -> Self {
        self.secret_id_form(SecretIdForm::Name)
    }

    pub fn error_message(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }

    pub fn with_resources(mut self) -> Self {
        self.with_resources = true;
        self
    }

    pub fn client_request_token(mut self, token: impl Into<String>) -> Self {
        self.client_request_token = Some(token.into());
        self
    }
}

/// One event of an account and region's history, as `LookupEvents` serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub event_id: String,
    pub event_name: String,
    /// Whole seconds, as CloudTrail keeps them.
    pub event_time: DateTime<Utc>,
    /// From this instant on `LookupEvents` returns the event.
    pub available_at: DateTime<Utc>,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    /// (`ResourceType`, `ResourceName`) pairs.
    pub resources: Vec<(String, String)>,
    /// The `CloudTrailEvent` JSON document, verbatim.
    pub cloud_trail_event: String,
}

/// The event history of one account and region, ordered by (event time, arrival).
#[derive(Debug, Default)]
pub(crate) struct Trail {
    events: BTreeMap<(i64, u64), RecordedEvent>,
}

impl Trail {
    pub fn insert(&mut self, sequence: u64, event: RecordedEvent) {
        self.events
            .insert((event.event_time.timestamp(), sequence), event);
    }

    /// The time of the newest event, in epoch seconds.
    pub fn latest_second(&self) -> Option<i64> {
        self.events.keys().next_back().map(|(second, _)| *second)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Newest first, as `LookupEvents` orders them.
    pub fn newest_first(&self) -> impl Iterator<Item = &RecordedEvent> {
        self.events.values().rev()
    }
}

/// Where a rotation event is recorded and about which secret.
pub(crate) struct EventPlace<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub secret_arn: &'a str,
    pub secret_name: &'a str,
    /// Used when the spec names no Lambda error of its own.
    pub lambda_arn: Option<&'a str>,
}

/// Builds the event AWS logs for `spec`, `RotationFailed` with its Lambda error.
pub(crate) fn rotation_event(
    place: &EventPlace<'_>,
    spec: &RotationEventSpec,
    event_id: String,
    fallback_token: String,
    delivery_delay: Duration,
) -> RecordedEvent {
    let at = spec.at.trunc_subsecs(0);
    let secret_id = match spec.secret_id_form {
        SecretIdForm::Arn => place.secret_arn,
        SecretIdForm::Name => place.secret_name,
    };
    let token = spec.client_request_token.clone().unwrap_or(fallback_token);
    let error_message = spec.error_message.clone().or_else(|| {
        (spec.name == RotationEventName::Failed).then(|| {
            let lambda = place.lambda_arn.map_or_else(
                || {
                    format!(
                        "arn:aws:lambda:{}:{}:function:SecretsManagerRotation",
                        place.region, place.account
                    )
                },
                str::to_string,
            );
            format!("Error when executing lambda {lambda} during setSecret step")
        })
    });
    let mut document = Map::new();
    document.insert("eventVersion".into(), json!("1.08"));
    document.insert(
        "userIdentity".into(),
        json!({ "accountId": place.account, "invokedBy": SECRETS_MANAGER_EVENT_SOURCE }),
    );
    document.insert(
        "eventTime".into(),
        json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    document.insert("eventSource".into(), json!(SECRETS_MANAGER_EVENT_SOURCE));
    document.insert("eventName".into(), json!(spec.name.as_str()));
    document.insert("awsRegion".into(), json!(place.region));
    document.insert(
        "sourceIPAddress".into(),
        json!(SECRETS_MANAGER_EVENT_SOURCE),
    );
    document.insert("userAgent".into(), json!(SECRETS_MANAGER_EVENT_SOURCE));
    if let Some(message) = &error_message {
        document.insert("errorMessage".into(), json!(message));
    }
    document.insert("requestParameters".into(), Value::Null);
    document.insert("responseElements".into(), Value::Null);
    document.insert(
        "additionalEventData".into(),
        json!({ "SecretId": secret_id }),
    );
    document.insert(
        "requestID".into(),
        json!(format!("Rotation-{}-{token}", place.secret_arn)),
    );
    document.insert("eventID".into(), json!(event_id));
    document.insert("readOnly".into(), json!(false));
    let mut resources = Vec::new();
    if spec.with_resources {
        document.insert(
            "resources".into(),
            json!([{
                "accountId": place.account,
                "type": SECRET_RESOURCE_TYPE,
                "ARN": place.secret_arn,
            }]),
        );
        resources.push((
            SECRET_RESOURCE_TYPE.to_string(),
            place.secret_arn.to_string(),
        ));
    }
    document.insert("eventType".into(), json!("AwsServiceEvent"));
    document.insert("managementEvent".into(), json!(true));
    document.insert("recipientAccountId".into(), json!(place.account));
    document.insert("eventCategory".into(), json!("Management"));
    RecordedEvent {
        event_id,
        event_name: spec.name.as_str().to_string(),
        event_time: at,
        available_at: spec.visible_at.unwrap_or(at + delivery_delay),
        event_source: SECRETS_MANAGER_EVENT_SOURCE.to_string(),
        username: None,
        access_key_id: None,
        read_only: false,
        resources,
        cloud_trail_event: Value::Object(document).to_string(),
    }
}

/// Delivery delay and request quota of `LookupEvents`.
#[derive(Debug)]
pub(crate) struct Settings {
    pub delivery_delay: Duration,
    rate: Option<f64>,
    buckets: HashMap<(String, String), Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            delivery_delay: Duration::zero(),
            rate: Some(DEFAULT_LOOKUP_RATE),
            buckets: HashMap::new(),
        }
    }
}

impl Settings {
    /// `None` lifts the quota; buckets start full again.
    pub fn set_rate(&mut self, rate: Option<f64>) {
        self.rate = rate;
        self.buckets.clear();
    }

    /// Takes a token from the bucket of `account`/`region`; false when it is empty. The burst is
    /// one second's worth of requests (two at AWS's rate), never less than one request.
    pub fn admit(&mut self, account: &str, region: &str, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        let burst = rate.max(1.0);
        let bucket = self
            .buckets
            .entry((account.to_string(), region.to_string()))
            .or_insert(Bucket {
                tokens: burst,
                refilled: now,
            });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(crate) fn handle(
    shared: &Shared,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Value, JsonError> {
    if operation != "LookupEvents" {
        return Err(JsonError {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "UnknownOperationException",
            message: None,
        });
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
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut settings = Settings::default();
        let start = Instant::now();
        assert!(settings.admit("a", "r", start));
        assert!(settings.admit("a", "r", start));
        assert!(!settings.admit("a", "r", start));
        assert!(settings.admit("b", "r", start), "buckets are per account");
        assert!(settings.admit("a", "r", start + std::time::Duration::from_millis(500)));
        assert!(!settings.admit("a", "r", start + std::time::Duration::from_millis(600)));
        settings.set_rate(None);
        assert!((0..100).all(|_| settings.admit("a", "r", start)));
    }

    #[test]
    fn tokens_are_bound_to_their_query() {
        let token = encode_token(7, (1_700_000_000, 42));
        assert_eq!(decode_token(&token, 7).ok(), Some((1_700_000_000, 42)));
        assert!(decode_token(&token, 8).is_err());
        for bad in ["", "zz", "abc", "6374"] {
            assert!(decode_token(bad, 7).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_failed_rotation_names_the_lambda_and_the_secret() {
        let arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf";
        let place = EventPlace {
            account: "111111111111",
            region: "us-east-1",
            secret_arn: arn,
            secret_name: "db",
            lambda_arn: Some("arn:aws:lambda:us-east-1:111111111111:function:rotate"),
        };
        let at = Utc.timestamp_opt(1_767_225_600, 500_000_000).single();
        let at = at.unwrap_or_default();
        let spec = RotationEventSpec::new(RotationEventName::Failed, "db", at);
        let event = rotation_event(
            &place,
            &spec,
            "id-1".into(),
            "token".into(),
            Duration::minutes(5),
        );
        assert_eq!(event.event_time.timestamp_subsec_nanos(), 0);
        assert_eq!(event.available_at, event.event_time + Duration::minutes(5));
        let document: Value = serde_json::from_str(&event.cloud_trail_event).unwrap_or_default();
        assert_eq!(document["eventName"], "RotationFailed");
        assert_eq!(document["eventTime"], "2026-01-01T00:00:00Z");
        assert_eq!(document["additionalEventData"]["SecretId"], arn);
        assert_eq!(document["requestID"], format!("Rotation-{arn}-token"));
        let message = document["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains("function:rotate"), "{message}");
        assert!(document.get("resources").is_none());
    }
}
