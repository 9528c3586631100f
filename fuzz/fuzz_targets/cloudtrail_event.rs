#![no_main]

//! Input: a header line of tab-separated fields (EventId, EventName,
//! EventTime in Unix seconds, ResourceName list separated by commas), then
//! the CloudTrailEvent document as the rest of the input. An empty field is
//! a field AWS left out. Text rather than `arbitrary` so that the seeds are
//! events one can read and edit.

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::rotation_events::{LookedUpEvent, parse_event};

fn present(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| field.to_owned())
}

/// Seconds, with out-of-range values pinned to the ends of what chrono
/// holds: AWS has sent far-future dates before.
fn time(field: &str) -> Option<DateTime<Utc>> {
    let seconds: i64 = field.trim().parse().ok()?;
    Some(
        DateTime::from_timestamp(seconds, 0).unwrap_or(if seconds < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        }),
    )
}

fuzz_target!(|text: &str| {
    let (header, document) = text.split_once('\n').unwrap_or((text, ""));
    let mut fields = header.split('\t');
    let mut next = || fields.next().unwrap_or("");
    let (id, name, at, resources) = (next(), next(), next(), next());
    let raw = LookedUpEvent {
        event_id: present(id),
        event_name: present(name),
        event_time: time(at),
        resource_names: resources
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
        cloudtrail_event: present(document),
    };
    if let Ok(event) = parse_event(&raw) {
        // An accepted event is one the verdict can use: it names its id and
        // its secret, and is exactly as old as CloudTrail says.
        assert_eq!(Some(&event.id), raw.event_id.as_ref());
        assert!(!event.secret.is_empty());
        assert_eq!(Some(event.time), raw.event_time);
    }
});
