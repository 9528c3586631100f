//! `TagResource`, `UntagResource` and `ListTagsForResource` on alarms.

use axum::http::StatusCode;
use ciborium::Value;

use super::alarms::MAX_TAGS;
use super::request::{pairs, required_text, strings};
use super::response::{CborError, Out};
use super::store::{AlarmRecord, Store, key};
use crate::caller::Caller;

fn alarm_by_arn<'a>(
    store: &'a mut Store,
    caller: &Caller,
    input: &Value,
) -> Result<&'a mut AlarmRecord, CborError> {
    let arn = required_text(input, "ResourceARN")?;
    let not_found = || {
        CborError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "ResourceNotFoundException",
            format!("Alarm {arn} does not exist."),
        )
    };
    let name = arn
        .strip_prefix(&format!(
            "arn:aws:cloudwatch:{}:{}:alarm:",
            caller.region, caller.account
        ))
        .ok_or_else(not_found)?
        .to_string();
    store
        .alarms
        .get_mut(&key(&caller.account, &caller.region))
        .and_then(|alarms| alarms.get_mut(&name))
        .ok_or_else(not_found)
}

pub(super) fn tag_resource(
    store: &mut Store,
    caller: &Caller,
    input: &Value,
    add: bool,
) -> Result<Out, CborError> {
    let alarm = alarm_by_arn(store, caller, input)?;
    if add {
        for (k, v) in pairs(input, "Tags", "Key", "Value")? {
            alarm.tags.insert(k, v);
        }
        if alarm.tags.len() > MAX_TAGS {
            return Err(CborError::invalid(format!(
                "An alarm has at most {MAX_TAGS} tags."
            )));
        }
    } else {
        for k in strings(input, "TagKeys")? {
            alarm.tags.remove(&k);
        }
    }
    Ok(Out::Map(Vec::new()))
}

pub(super) fn list_tags(store: &Store, caller: &Caller, input: &Value) -> Result<Out, CborError> {
    let arn = required_text(input, "ResourceARN")?;
    let alarm = store
        .alarms
        .get(&key(&caller.account, &caller.region))
        .and_then(|alarms| alarms.values().find(|a| a.arn == arn))
        .ok_or_else(|| {
            CborError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "ResourceNotFoundException",
                format!("Alarm {arn} does not exist."),
            )
        })?;
    let tags = alarm
        .tags
        .iter()
        .map(|(k, v)| {
            Out::Map(vec![
                ("Key", Out::Str(k.clone())),
                ("Value", Out::Str(v.clone())),
            ])
        })
        .collect();
    Ok(Out::Map(vec![("Tags", Out::Array(tags))]))
}
