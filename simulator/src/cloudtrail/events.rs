//! What CloudTrail records: the rotation events Secrets Manager logs and the event history of
//! each account and region.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Map, Value, json};

/// `eventSource` of everything Secrets Manager logs.
pub const SECRETS_MANAGER_EVENT_SOURCE: &str = "secretsmanager.amazonaws.com";
/// The resource type CloudTrail gives secrets.
pub const SECRET_RESOURCE_TYPE: &str = "AWS::SecretsManager::Secret";

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
    pub(super) events: BTreeMap<(i64, u64), RecordedEvent>,
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

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
