//! Secrets Manager's read-only metadata operations, answered in AWS's awsJson1.1 shapes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::awsjson::JsonError;
use crate::caller::Caller;
use crate::fleet::SecretSpec;
use crate::state::Shared;
use crate::store::{RegionStore, StoredSecret};
use crate::time::{epoch_seconds, midnight};
use crate::token;

const PAGE_LIMIT: i64 = 100;
const FILTER_KEYS: [&str; 7] = [
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];

pub(crate) fn handle(
    shared: &Shared,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Value, JsonError> {
    let known = matches!(
        operation,
        "ListSecrets" | "DescribeSecret" | "ListSecretVersionIds"
    );
    if !known {
        return Err(JsonError::without_message(
            axum::http::StatusCode::BAD_REQUEST,
            "UnknownOperationException",
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
    let world = shared.world();
    let store = world.store(&caller.account, &caller.region);
    match operation {
        "ListSecrets" => list_secrets(store, &input),
        "DescribeSecret" => {
            let secret = find_secret(store, &input, caller)?;
            Ok(Value::Object(secret_entry(secret, "VersionIdsToStages")))
        }
        _ => list_secret_version_ids(find_secret(store, &input, caller)?, &input),
    }
}

fn find_secret<'a>(
    store: Option<&'a RegionStore>,
    input: &Value,
    caller: &Caller,
) -> Result<&'a Arc<StoredSecret>, JsonError> {
    let Some(secret_id) = input.get("SecretId").and_then(Value::as_str) else {
        return Err(JsonError::validation(
            "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: \
             Member must not be null",
        ));
    };
    store
        .and_then(|store| store.find(secret_id, &caller.account, &caller.region))
        .ok_or_else(|| {
            JsonError::bad_request(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            )
        })
}

fn max_results(input: &Value) -> Result<usize, JsonError> {
    let Some(value) = input.get("MaxResults") else {
        return Ok(PAGE_LIMIT as usize);
    };
    let Some(number) = value.as_i64() else {
        return Err(JsonError::bad_request(
            "SerializationException",
            "MaxResults must be an integer",
        ));
    };
    if number < 1 {
        return Err(JsonError::validation(format!(
            "1 validation error detected: Value '{number}' at 'maxResults' failed to satisfy \
             constraint: Member must have value greater than or equal to 1"
        )));
    }
    if number > PAGE_LIMIT {
        return Err(JsonError::validation(format!(
            "1 validation error detected: Value '{number}' at 'maxResults' failed to satisfy \
             constraint: Member must have value less than or equal to {PAGE_LIMIT}"
        )));
    }
    Ok(number as usize)
}

struct Filter {
    key: String,
    values: Vec<String>,
}

impl Filter {
    /// Values of one filter are alternatives; a `!` value excludes what it names.
    fn accepts(&self, secret: &SecretSpec) -> bool {
        let (negated, positive): (Vec<&str>, Vec<&str>) = self
            .values
            .iter()
            .map(String::as_str)
            .partition(|v| v.starts_with('!'));
        let excluded = negated
            .iter()
            .any(|value| self.field_matches(secret, &value[1..]));
        let included =
            positive.is_empty() || positive.iter().any(|v| self.field_matches(secret, v));
        included && !excluded
    }

    fn field_matches(&self, secret: &SecretSpec, prefix: &str) -> bool {
        let starts = |text: &str| text.starts_with(prefix);
        match self.key.as_str() {
            "name" => starts(&secret.name),
            "description" => secret.description.as_deref().is_some_and(starts),
            "tag-key" => secret.tags.iter().any(|(key, _)| starts(key)),
            "tag-value" => secret.tags.iter().any(|(_, value)| starts(value)),
            "primary-region" => secret.primary_region.as_deref().is_some_and(starts),
            "owning-service" => secret.owning_service.as_deref().is_some_and(starts),
            _ => {
                starts(&secret.name)
                    || secret.description.as_deref().is_some_and(starts)
                    || secret
                        .tags
                        .iter()
                        .any(|(key, value)| starts(key) || starts(value))
            }
        }
    }
}

fn filters(input: &Value) -> Result<Vec<Filter>, JsonError> {
    let Some(list) = input.get("Filters").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut filters = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let key = item.get("Key").and_then(Value::as_str).unwrap_or_default();
        if !FILTER_KEYS.contains(&key) {
            return Err(JsonError::validation(format!(
                "1 validation error detected: Value '{key}' at 'filters.{}.member.key' failed to \
                 satisfy constraint: Member must satisfy enum value set: [{}]",
                index + 1,
                FILTER_KEYS.join(", ")
            )));
        }
        let values = item
            .get("Values")
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        filters.push(Filter {
            key: key.to_string(),
            values,
        });
    }
    Ok(filters)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortBy {
    CreatedDate,
    Name,
    LastChangedDate,
    LastAccessedDate,
}

fn invalid_token() -> JsonError {
    JsonError::bad_request(
        "InvalidNextTokenException",
        "The NextToken value is invalid.",
    )
}

/// Tokens are opaque to clients; inside they carry the sort and the first key of the next page.
fn encode_token(text: &str) -> String {
    token::encode(text)
}

fn decode_token(token: &str) -> Result<String, JsonError> {
    token::decode(token).ok_or_else(invalid_token)
}

/// Collects one page; the first wanted secret past it becomes the next page's start.
struct Pager {
    limit: usize,
    page: Vec<Arc<StoredSecret>>,
    next_key: Option<String>,
}

impl Pager {
    /// Returns false once the page is full and the walk can stop.
    fn offer(&mut self, key: String, secret: &Arc<StoredSecret>) -> bool {
        if self.page.len() == self.limit {
            self.next_key = Some(key);
            return false;
        }
        self.page.push(Arc::clone(secret));
        true
    }
}

fn list_secrets(store: Option<&RegionStore>, input: &Value) -> Result<Value, JsonError> {
    let limit = max_results(input)?;
    let include_deleted = input
        .get("IncludePlannedDeletion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let filters = filters(input)?;
    let ascending = match input.get("SortOrder").and_then(Value::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(JsonError::validation(format!(
                "1 validation error detected: Value '{other}' at 'sortOrder' failed to satisfy \
                 constraint: Member must satisfy enum value set: [asc, desc]"
            )));
        }
    };
    let sort_by = match input.get("SortBy").and_then(Value::as_str) {
        None | Some("created-date") => SortBy::CreatedDate,
        Some("name") => SortBy::Name,
        Some("last-changed-date") => SortBy::LastChangedDate,
        Some("last-accessed-date") => SortBy::LastAccessedDate,
        Some(other) => {
            return Err(JsonError::validation(format!(
                "1 validation error detected: Value '{other}' at 'sortBy' failed to satisfy \
                 constraint: Member must satisfy enum value set: [created-date, \
                 last-accessed-date, last-changed-date, name]"
            )));
        }
    };
    let order_tag = format!(
        "{}{}",
        match sort_by {
            SortBy::CreatedDate => "c",
            SortBy::Name => "n",
            SortBy::LastChangedDate => "l",
            SortBy::LastAccessedDate => "a",
        },
        if ascending { "a" } else { "d" }
    );
    let start = match input.get("NextToken").and_then(Value::as_str) {
        None => None,
        Some(token) => {
            let decoded = decode_token(token)?;
            let (tag, key) = decoded.split_once('|').ok_or_else(invalid_token)?;
            if tag != order_tag {
                return Err(invalid_token());
            }
            Some(key.to_string())
        }
    };

    let Some(store) = store else {
        return Ok(json!({ "SecretList": [] }));
    };
    let wanted = |secret: &StoredSecret| {
        (include_deleted || secret.spec.deleted.is_none())
            && filters.iter().all(|filter| filter.accepts(&secret.spec))
    };
    let mut pager = Pager {
        limit,
        page: Vec::with_capacity(limit),
        next_key: None,
    };
    match sort_by {
        SortBy::CreatedDate => {
            let from = match &start {
                Some(key) => {
                    let (millis, name) = key.split_once('|').ok_or_else(invalid_token)?;
                    let millis: i64 = millis.parse().map_err(|_| invalid_token())?;
                    Some((millis, name.to_string()))
                }
                None => None,
            };
            let keys: Box<dyn Iterator<Item = &(i64, String)>> = match (from, ascending) {
                (None, true) => Box::new(store.by_created.iter()),
                (None, false) => Box::new(store.by_created.iter().rev()),
                (Some(from), true) => Box::new(store.by_created.range(from..)),
                (Some(from), false) => Box::new(store.by_created.range(..=from).rev()),
            };
            for (millis, name) in keys {
                let Some(secret) = store.by_name.get(name) else {
                    continue;
                };
                if wanted(secret) && !pager.offer(format!("{millis}|{name}"), secret) {
                    break;
                }
            }
        }
        SortBy::Name => {
            let entries: Box<dyn Iterator<Item = (&String, &Arc<StoredSecret>)>> =
                match (start, ascending) {
                    (None, true) => Box::new(store.by_name.iter()),
                    (None, false) => Box::new(store.by_name.iter().rev()),
                    (Some(from), true) => Box::new(store.by_name.range(from..)),
                    (Some(from), false) => Box::new(store.by_name.range(..=from).rev()),
                };
            for (name, secret) in entries {
                if wanted(secret) && !pager.offer(name.clone(), secret) {
                    break;
                }
            }
        }
        SortBy::LastChangedDate | SortBy::LastAccessedDate => {
            // Rare orderings: sorted on demand, paged by position.
            let offset: usize = match &start {
                Some(key) => key.parse().map_err(|_| invalid_token())?,
                None => 0,
            };
            let mut all: Vec<&Arc<StoredSecret>> =
                store.by_name.values().filter(|s| wanted(s)).collect();
            let date = |secret: &StoredSecret| match sort_by {
                SortBy::LastAccessedDate => secret.spec.last_accessed.map(midnight),
                _ => secret.spec.last_changed,
            };
            all.sort_by(|a, b| {
                date(a)
                    .cmp(&date(b))
                    .then_with(|| a.spec.name.cmp(&b.spec.name))
            });
            if !ascending {
                all.reverse();
            }
            pager.page = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|s| Arc::clone(s))
                .collect();
            if offset + limit < all.len() {
                pager.next_key = Some((offset + limit).to_string());
            }
        }
    }
    let entries: Vec<Value> = pager
        .page
        .iter()
        .map(|secret| Value::Object(secret_entry(secret, "SecretVersionsToStages")))
        .collect();
    let mut answer = Map::new();
    answer.insert("SecretList".into(), Value::Array(entries));
    if let Some(key) = pager.next_key {
        answer.insert(
            "NextToken".into(),
            Value::String(encode_token(&format!("{order_tag}|{key}"))),
        );
    }
    Ok(Value::Object(answer))
}

/// One secret as `ListSecrets` (`SecretVersionsToStages`) or `DescribeSecret`
/// (`VersionIdsToStages`) shows it, leaving out every field AWS leaves out.
fn secret_entry(secret: &StoredSecret, versions_key: &str) -> Map<String, Value> {
    let spec = &secret.spec;
    let mut entry = Map::new();
    let date = |when: chrono::DateTime<chrono::Utc>| json!(epoch_seconds(when));
    entry.insert("ARN".into(), json!(secret.arn));
    entry.insert("Name".into(), json!(spec.name));
    if let Some(secret_type) = &spec.secret_type {
        entry.insert("Type".into(), json!(secret_type));
    }
    if let Some(description) = &spec.description {
        entry.insert("Description".into(), json!(description));
    }
    if let Some(key) = &spec.kms_key_id {
        entry.insert("KmsKeyId".into(), json!(key));
    }
    if let Some(rotation) = &spec.rotation {
        entry.insert("RotationEnabled".into(), json!(rotation.enabled));
        if let Some(lambda) = &rotation.lambda_arn {
            entry.insert("RotationLambdaARN".into(), json!(lambda));
        }
        let mut rules = Map::new();
        if let Some(days) = rotation.automatically_after_days {
            rules.insert("AutomaticallyAfterDays".into(), json!(days));
        }
        if let Some(duration) = &rotation.duration {
            rules.insert("Duration".into(), json!(duration));
        }
        if let Some(expression) = &rotation.schedule_expression {
            rules.insert("ScheduleExpression".into(), json!(expression));
        }
        if !rules.is_empty() {
            entry.insert("RotationRules".into(), Value::Object(rules));
        }
    }
    if !spec.external_secret_rotation_metadata.is_empty() {
        let items: Vec<Value> = spec
            .external_secret_rotation_metadata
            .iter()
            .map(|(key, value)| json!({ "Key": key, "Value": value }))
            .collect();
        entry.insert("ExternalSecretRotationMetadata".into(), Value::Array(items));
    }
    if let Some(role) = &spec.external_secret_rotation_role_arn {
        entry.insert("ExternalSecretRotationRoleArn".into(), json!(role));
    }
    if let Some(when) = spec.last_rotated {
        entry.insert("LastRotatedDate".into(), date(when));
    }
    if let Some(when) = spec.last_changed {
        entry.insert("LastChangedDate".into(), date(when));
    }
    if let Some(when) = spec.last_accessed {
        entry.insert("LastAccessedDate".into(), date(midnight(when)));
    }
    if let Some(when) = spec.deleted {
        entry.insert("DeletedDate".into(), date(when));
    }
    if let Some(when) = spec.next_rotation {
        entry.insert("NextRotationDate".into(), date(when));
    }
    if !spec.tags.is_empty() {
        let tags: Vec<Value> = spec
            .tags
            .iter()
            .map(|(key, value)| json!({ "Key": key, "Value": value }))
            .collect();
        entry.insert("Tags".into(), Value::Array(tags));
    }
    let stages: BTreeMap<&str, &Vec<String>> = spec
        .versions
        .iter()
        .zip(&secret.version_ids)
        .filter(|(version, _)| !version.stages.is_empty())
        .map(|(version, id)| (id.as_str(), &version.stages))
        .collect();
    entry.insert(versions_key.into(), json!(stages));
    if let Some(service) = &spec.owning_service {
        entry.insert("OwningService".into(), json!(service));
    }
    entry.insert("CreatedDate".into(), date(spec.created));
    if let Some(region) = &spec.primary_region {
        entry.insert("PrimaryRegion".into(), json!(region));
    }
    entry
}

fn list_secret_version_ids(secret: &Arc<StoredSecret>, input: &Value) -> Result<Value, JsonError> {
    let limit = max_results(input)?;
    let include_deprecated = input
        .get("IncludeDeprecated")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let offset: usize = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => decode_token(token)?
            .strip_prefix("v|")
            .and_then(|offset| offset.parse().ok())
            .ok_or_else(invalid_token)?,
    };
    let spec = &secret.spec;
    let mut versions: Vec<(usize, &crate::fleet::VersionSpec)> = spec
        .versions
        .iter()
        .enumerate()
        .filter(|(_, version)| include_deprecated || !version.stages.is_empty())
        .collect();
    versions.sort_by(|a, b| b.1.created.cmp(&a.1.created).then(a.0.cmp(&b.0)));
    let kms_key = spec
        .kms_key_id
        .clone()
        .unwrap_or_else(|| "DefaultEncryptionKey".to_string());
    let page: Vec<Value> = versions
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(index, version)| {
            let mut entry = Map::new();
            entry.insert("VersionId".into(), json!(secret.version_ids[*index]));
            if !version.stages.is_empty() {
                entry.insert("VersionStages".into(), json!(version.stages));
            }
            if let Some(when) = version.last_accessed {
                entry.insert(
                    "LastAccessedDate".into(),
                    json!(epoch_seconds(midnight(when))),
                );
            }
            entry.insert("CreatedDate".into(), json!(epoch_seconds(version.created)));
            entry.insert("KmsKeyIds".into(), json!([kms_key]));
            Value::Object(entry)
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("Versions".into(), Value::Array(page));
    if offset + limit < versions.len() {
        answer.insert(
            "NextToken".into(),
            json!(encode_token(&format!("v|{}", offset + limit))),
        );
    }
    answer.insert("ARN".into(), json!(secret.arn));
    answer.insert("Name".into(), json!(spec.name));
    Ok(Value::Object(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let token = encode_token("cd|1700000000000|a/b");
        assert_eq!(
            decode_token(&token).ok().as_deref(),
            Some("cd|1700000000000|a/b")
        );
        for bad in ["zz", "abc", "ff"] {
            assert_eq!(
                decode_token(bad).err().map(|e| e.code),
                Some("InvalidNextTokenException"),
                "{bad}"
            );
        }
    }

    #[test]
    fn filter_values_are_prefixes_and_bang_excludes() {
        let secret = SecretSpec::new("prod/db").tag("team", "payments");
        let filter = |key: &str, values: &[&str]| Filter {
            key: key.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert!(filter("name", &["prod/"]).accepts(&secret));
        assert!(!filter("name", &["dev/"]).accepts(&secret));
        assert!(filter("name", &["dev/", "prod"]).accepts(&secret));
        assert!(!filter("name", &["!prod"]).accepts(&secret));
        assert!(filter("tag-key", &["te"]).accepts(&secret));
        assert!(filter("tag-value", &["pay"]).accepts(&secret));
        assert!(!filter("description", &["x"]).accepts(&secret));
        assert!(filter("all", &["pay"]).accepts(&secret));
    }
}
