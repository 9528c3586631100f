//! Rotation events from CloudTrail `LookupEvents`: one call chain per event
//! name, never an `EventSource` filter (that would page through every
//! `GetSecretValue` of the account).

use std::future::Future;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};

use super::{ClientFactory, SourceError, Target, classify_sdk_error};
use crate::rotation_events::{LookedUpEvent, RotationEventKind};

/// The largest page `LookupEvents` serves.
pub const PAGE_SIZE: i32 = 50;

/// One page of events of one kind in a time range.
pub struct EventPage {
    pub events: Vec<LookedUpEvent>,
    pub next_token: Option<String>,
}

/// The CloudTrail seam; the tracker paces the calls.
pub trait CloudTrailSource: Send + Sync + 'static {
    fn lookup_page(
        &self,
        target: &Target,
        kind: RotationEventKind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<EventPage, SourceError>> + Send;
}

fn smithy_time(time: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(time.timestamp(), time.timestamp_subsec_nanos())
}

impl CloudTrailSource for ClientFactory {
    async fn lookup_page(
        &self,
        target: &Target,
        kind: RotationEventKind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<String>,
    ) -> Result<EventPage, SourceError> {
        let client = self.cloudtrail(target);
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value(kind.event_name())
            .build()
            .map_err(|err| SourceError::invalid_response(format!("LookupEvents request: {err}")))?;
        let output = client
            .lookup_events()
            .lookup_attributes(attribute)
            .start_time(smithy_time(start))
            .end_time(smithy_time(end))
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|err| classify_sdk_error(&err))?;
        let events = output
            .events()
            .iter()
            .map(|event| LookedUpEvent {
                event_id: event.event_id().map(str::to_owned),
                event_name: event.event_name().map(str::to_owned),
                event_time: event
                    .event_time()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                resource_names: event
                    .resources()
                    .iter()
                    .filter_map(|resource| resource.resource_name().map(str::to_owned))
                    .collect(),
                cloudtrail_event: event.cloud_trail_event().map(str::to_owned),
            })
            .collect();
        Ok(EventPage {
            events,
            // An empty token is the end too; looping on it would never stop.
            next_token: output
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }
}
