//! Systems Manager Parameter Store's metadata reads, `DescribeParameters` and
//! `ListTagsForResource`, in AWS's awsJson1.1 shapes (`X-Amz-Target: AmazonSSM.<Operation>`).
//! The operations that read values (`GetParameter`, `GetParameters`, `GetParametersByPath`,
//! `GetParameterHistory`) are counted and refused: the simulator holds no values, and a reader of
//! metadata must never ask for one.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::awsjson::JsonError;
use crate::caller::Caller;
use crate::fleet::{ParameterSpec, parameter_arn};
use crate::state::Shared;
use crate::time::epoch_seconds;
use crate::token;

/// The `X-Amz-Target` prefix of every SSM operation.
pub(crate) const TARGET_PREFIX: &str = "AmazonSSM";

/// `DescribeParameters` answers at most this many parameters a page (its `MaxResults` limit).
pub const DESCRIBE_PARAMETERS_PAGE_LIMIT: usize = 50;
/// The page size when `MaxResults` is left out. AWS does not document it; 10 is what the service
/// has been seen to answer, and what moto answers.
pub const DESCRIBE_PARAMETERS_DEFAULT_PAGE: usize = 10;

/// The operations that read values: refused, whoever asks.
pub const VALUE_OPERATIONS: [&str; 4] = [
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "GetParameterHistory",
];

/// Longest `NextToken` accepted: a hex-encoded tag and parameter name, with room to spare.
const MAX_TOKEN_LEN: usize = 8192;
const TOKEN_TAG: &str = "ssm-dp|";
const FILTER_KEY_PATTERN: &str = "tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType";
const MAX_FILTER_VALUES: usize = 50;
const MAX_FILTER_VALUE_LEN: usize = 1024;
const MAX_FILTER_KEY_LEN: usize = 132;
const MAX_FILTER_OPTION_LEN: usize = 10;
/// The resource types of SSM's `ListTagsForResource`; only parameters are simulated.
const RESOURCE_TYPES: [&str; 9] = [
    "Document",
    "ManagedInstance",
    "MaintenanceWindow",
    "Parameter",
    "PatchBaseline",
    "OpsItem",
    "OpsMetadata",
    "Automation",
    "Association",
];

pub(crate) fn handle(
    shared: &Shared,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Value, JsonError> {
    match operation {
        "DescribeParameters" | "ListTagsForResource" => {}
        _ if VALUE_OPERATIONS.contains(&operation) => {
            return Err(values_refused(caller, operation));
        }
        _ => {
            return Err(JsonError::without_message(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
            ));
        }
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| serialization("the body is not JSON"))?
    };
    if !input.is_object() {
        return Err(serialization("the body is not a JSON object"));
    }
    let world = shared.world();
    let parameters = world.parameters(&caller.account, &caller.region);
    if operation == "DescribeParameters" {
        describe_parameters(
            parameters,
            &input,
            caller,
            world.ssm_short_pages,
            Utc::now(),
        )
    } else {
        list_tags(parameters, &input)
    }
}

fn serialization(message: &str) -> JsonError {
    JsonError::bad_request("SerializationException", message)
}

fn values_refused(caller: &Caller, operation: &str) -> JsonError {
    JsonError::bad_request(
        "AccessDeniedException",
        format!(
            "User: {} is not authorized to perform: ssm:{operation}: the AWS simulator never \
             serves parameter values",
            caller.principal_arn
        ),
    )
}

/// AWS's message for members that break the model's constraints, every one of them.
fn validation_errors(errors: &[String]) -> JsonError {
    let plural = if errors.len() == 1 { "" } else { "s" };
    JsonError::validation(format!(
        "{} validation error{plural} detected: {}",
        errors.len(),
        errors.join("; ")
    ))
}

fn invalid_token() -> JsonError {
    JsonError::bad_request("InvalidNextToken", "The specified token isn't valid.")
}

fn invalid_filter_key(message: impl Into<String>) -> JsonError {
    JsonError::bad_request("InvalidFilterKey", message)
}

fn invalid_filter_option(option: &str, valid: &str) -> JsonError {
    JsonError::bad_request(
        "InvalidFilterOption",
        format!(
            "The following filter option is not valid: {option}. Valid options include: [{valid}]."
        ),
    )
}

fn invalid_filter_value(message: impl Into<String>) -> JsonError {
    JsonError::bad_request("InvalidFilterValue", message)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Name,
    Path,
    Type,
    KeyId,
    Tier,
    DataType,
    Tag(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Equals,
    BeginsWith,
    Contains,
    Recursive,
    OneLevel,
}

/// One filter: values are alternatives, filters must all hold.
#[derive(Debug)]
struct Filter {
    field: Field,
    how: Match,
    values: Vec<String>,
}

/// `/` followed by the name without its leading `/`: Parameter Store compares names and paths
/// this way, so that `a` sits at the root `/` as `/a` does.
fn rooted(name: &str) -> String {
    format!("/{}", name.trim_start_matches('/'))
}

impl Filter {
    fn accepts(&self, spec: &ParameterSpec) -> bool {
        let text_matches = |text: &str| {
            self.values.iter().any(|value| match self.how {
                Match::BeginsWith => text.starts_with(value.as_str()),
                Match::Contains => text.contains(value.as_str()),
                _ => text == value,
            })
        };
        match &self.field {
            Field::Name if self.how == Match::Contains => text_matches(&spec.name),
            Field::Name => {
                let name = rooted(&spec.name);
                self.values.iter().any(|value| {
                    let value = rooted(value);
                    if self.how == Match::BeginsWith {
                        name.starts_with(&value)
                    } else {
                        name == value
                    }
                })
            }
            Field::Path => {
                let name = rooted(&spec.name);
                self.values.iter().any(|value| {
                    let path = rooted(value.trim_end_matches('/'));
                    let below = if path == "/" {
                        name.strip_prefix('/')
                    } else {
                        name.strip_prefix(&path)
                            .and_then(|rest| rest.strip_prefix('/'))
                    };
                    match below {
                        Some(rest) => self.how == Match::Recursive || !rest.contains('/'),
                        None => false,
                    }
                })
            }
            Field::Type => text_matches(spec.parameter_type.as_str()),
            Field::KeyId => spec.effective_key_id().is_some_and(text_matches),
            Field::Tier => text_matches(spec.tier.as_str()),
            Field::DataType => text_matches(&spec.data_type),
            Field::Tag(key) => spec
                .tags
                .iter()
                .filter(|(tag, _)| tag == key)
                .any(|(_, value)| self.values.is_empty() || text_matches(value)),
        }
    }
}

/// A list of strings, or a `SerializationException` as the SDK's model would give.
fn strings(value: &Value, member: &str) -> Result<Vec<String>, JsonError> {
    let Some(items) = value.as_array() else {
        return Err(serialization(&format!(
            "{member} must be a list of strings"
        )));
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| serialization(&format!("{member} must be a list of strings")))
        })
        .collect()
}

fn check_values(values: &[String], at: &str, errors: &mut Vec<String>) {
    if values.len() > MAX_FILTER_VALUES {
        errors.push(format!(
            "Value at '{at}' failed to satisfy constraint: Member must have length less than or \
             equal to {MAX_FILTER_VALUES}"
        ));
    }
    if values
        .iter()
        .any(|v| v.is_empty() || v.len() > MAX_FILTER_VALUE_LEN)
    {
        errors.push(format!(
            "Value at '{at}' failed to satisfy constraint: Member must satisfy constraint: \
             [Member must have length less than or equal to {MAX_FILTER_VALUE_LEN}, Member must \
             have length greater than or equal to 1]"
        ));
    }
}

fn key_shaped(key: &str) -> bool {
    matches!(
        key,
        "Name" | "Type" | "KeyId" | "Path" | "Label" | "Tier" | "DataType"
    ) || key.strip_prefix("tag:").is_some_and(|tag| !tag.is_empty())
}

/// The deprecated `Filters`: `Name` (names beginning with a value), `Type` or `KeyId` (equal).
fn legacy_filters(list: &Value) -> Result<Vec<Filter>, JsonError> {
    let Some(items) = list.as_array() else {
        return Err(serialization("Filters must be a list"));
    };
    let mut errors = Vec::new();
    let mut filters = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("filters.{}.member", index + 1);
        let key = item.get("Key").and_then(Value::as_str).unwrap_or_default();
        let values = match item.get("Values") {
            Some(values) => strings(values, "Values")?,
            None => Vec::new(),
        };
        let field = match key {
            "Name" => Some((Field::Name, Match::BeginsWith)),
            "Type" => Some((Field::Type, Match::Equals)),
            "KeyId" => Some((Field::KeyId, Match::Equals)),
            _ => {
                errors.push(format!(
                    "Value '{}' at '{at}.key' failed to satisfy constraint: Member must satisfy \
                     enum value set: [Name, Type, KeyId]",
                    clipped(key)
                ));
                None
            }
        };
        if values.is_empty() {
            errors.push(format!(
                "Value '[]' at '{at}.values' failed to satisfy constraint: Member must have \
                 length greater than or equal to 1"
            ));
        }
        check_values(&values, &format!("{at}.values"), &mut errors);
        if let Some((field, how)) = field {
            filters.push(Filter { field, how, values });
        }
    }
    if errors.is_empty() {
        Ok(filters)
    } else {
        Err(validation_errors(&errors))
    }
}

/// A client's text in an error message, cut short.
fn clipped(text: &str) -> String {
    match text.char_indices().nth(140) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// `ParameterFilters`: the model's constraints first, all reported at once as AWS does, then what
/// `DescribeParameters` itself refuses, one error at a time.
fn parameter_filters(list: &Value) -> Result<Vec<Filter>, JsonError> {
    let Some(items) = list.as_array() else {
        return Err(serialization("ParameterFilters must be a list"));
    };
    let mut errors = Vec::new();
    let mut read = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("parameterFilters.{}.member", index + 1);
        let Some(key) = item.get("Key").and_then(Value::as_str) else {
            errors.push(format!(
                "Value null at '{at}.key' failed to satisfy constraint: Member must not be null"
            ));
            continue;
        };
        if key.is_empty() || key.len() > MAX_FILTER_KEY_LEN {
            errors.push(format!(
                "Value '{}' at '{at}.key' failed to satisfy constraint: Member must have length \
                 between 1 and {MAX_FILTER_KEY_LEN}",
                clipped(key)
            ));
        } else if !key_shaped(key) {
            errors.push(format!(
                "Value '{key}' at '{at}.key' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: {FILTER_KEY_PATTERN}"
            ));
        }
        let option = match item.get("Option") {
            None | Some(Value::Null) => None,
            Some(Value::String(option)) => Some(option.as_str()),
            Some(_) => return Err(serialization("Option must be a string")),
        };
        if option.is_some_and(|o| o.is_empty() || o.len() > MAX_FILTER_OPTION_LEN) {
            errors.push(format!(
                "Value at '{at}.option' failed to satisfy constraint: Member must have length \
                 between 1 and {MAX_FILTER_OPTION_LEN}"
            ));
        }
        let values = match item.get("Values") {
            None | Some(Value::Null) => None,
            Some(values) => Some(strings(values, "Values")?),
        };
        if let Some(values) = &values {
            check_values(values, &format!("{at}.values"), &mut errors);
        }
        read.push((key, option, values));
    }
    if !errors.is_empty() {
        return Err(validation_errors(&errors));
    }
    let mut filters: Vec<Filter> = Vec::with_capacity(read.len());
    let mut seen: Vec<&str> = Vec::with_capacity(read.len());
    for (key, option, values) in read {
        if seen.contains(&key) {
            return Err(invalid_filter_key(format!(
                "The following filter is duplicated in the request: {key}. A request can contain \
                 only one occurrence of a specific filter."
            )));
        }
        seen.push(key);
        let field = match key {
            "Name" => Field::Name,
            "Path" => Field::Path,
            "Type" => Field::Type,
            "KeyId" => Field::KeyId,
            "Tier" => Field::Tier,
            "DataType" => Field::DataType,
            // Labels name versions: `GetParametersByPath` filters on them, `DescribeParameters`
            // does not.
            "Label" => {
                return Err(invalid_filter_key(
                    "The following filter key is not valid: Label. Valid filter keys include: \
                     [Path, Name, Type, KeyId, Tier, DataType, tag:<key>].",
                ));
            }
            tag => Field::Tag(tag.strip_prefix("tag:").unwrap_or(tag).to_string()),
        };
        let values = match (values, &field) {
            (Some(values), _) if !values.is_empty() => values,
            // A tag filter without values asks whether the tag is there at all.
            (_, Field::Tag(_)) => Vec::new(),
            _ => {
                return Err(invalid_filter_value(format!(
                    "The following filter values are missing : null for filter key {key}."
                )));
            }
        };
        let how = match (&field, option) {
            (Field::Path, None | Some("OneLevel")) => Match::OneLevel,
            (Field::Path, Some("Recursive")) => Match::Recursive,
            (Field::Path, Some(other)) => {
                return Err(invalid_filter_option(other, "Recursive, OneLevel"));
            }
            (_, None | Some("Equals")) => Match::Equals,
            (_, Some("BeginsWith")) => Match::BeginsWith,
            (Field::Name, Some("Contains")) => Match::Contains,
            (Field::Name, Some(other)) => {
                return Err(invalid_filter_option(other, "BeginsWith, Contains, Equals"));
            }
            (_, Some(other)) => return Err(invalid_filter_option(other, "BeginsWith, Equals")),
        };
        match &field {
            Field::Path => {
                for value in &values {
                    check_path_value(value)?;
                }
            }
            Field::Type => check_enum_values(&values, &["String", "StringList", "SecureString"])?,
            Field::Tier => {
                check_enum_values(&values, &["Standard", "Advanced", "Intelligent-Tiering"])?;
            }
            _ => {}
        }
        filters.push(Filter { field, how, values });
    }
    Ok(filters)
}

fn check_enum_values(values: &[String], valid: &[&str]) -> Result<(), JsonError> {
    match values.iter().find(|v| !valid.contains(&v.as_str())) {
        Some(bad) => Err(invalid_filter_value(format!(
            "The following filter value is not valid: {}. Valid values include: [{}].",
            clipped(bad),
            valid.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A `Path` value is a hierarchy: it starts with `/` and has only the characters of names.
fn check_path_value(value: &str) -> Result<(), JsonError> {
    let shaped = value.starts_with('/')
        && !value.contains("//")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    if !shaped {
        return Err(JsonError::validation(format!(
            "The parameter path {} doesn't meet the requirements: a path must begin with a \
             forward slash \"/\" and use only letters, numbers, and the symbols . (period), - \
             (hyphen), _ (underscore), with a forward slash between its levels.",
            clipped(value)
        )));
    }
    let lower = value.trim_start_matches('/').to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(JsonError::validation(
            "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" \
             (case-insensitive).",
        ));
    }
    Ok(())
}

fn max_results(input: &Value) -> Result<usize, JsonError> {
    let value = match input.get("MaxResults") {
        None | Some(Value::Null) => return Ok(DESCRIBE_PARAMETERS_DEFAULT_PAGE),
        Some(value) => value,
    };
    let Some(number) = value.as_i64() else {
        return Err(serialization("MaxResults must be an integer"));
    };
    let limit = DESCRIBE_PARAMETERS_PAGE_LIMIT as i64;
    if !(1..=limit).contains(&number) {
        let bound = if number < 1 {
            "greater than or equal to 1".to_string()
        } else {
            format!("less than or equal to {limit}")
        };
        return Err(validation_errors(&[format!(
            "Value '{number}' at 'maxResults' failed to satisfy constraint: Member must have \
             value {bound}"
        )]));
    }
    Ok(number as usize)
}

/// The name the next page starts at (inclusive), from a token this simulator issued.
fn next_token(input: &Value) -> Result<Option<String>, JsonError> {
    match input.get("NextToken") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.len() <= MAX_TOKEN_LEN => token::decode(text)
            .and_then(|decoded| decoded.strip_prefix(TOKEN_TAG).map(str::to_string))
            .map(Some)
            .ok_or_else(invalid_token),
        Some(Value::String(_)) => Err(invalid_token()),
        Some(_) => Err(serialization("NextToken must be a string")),
    }
}

fn describe_parameters(
    parameters: Option<&BTreeMap<String, ParameterSpec>>,
    input: &Value,
    caller: &Caller,
    short_pages: bool,
    now: DateTime<Utc>,
) -> Result<Value, JsonError> {
    let legacy = input.get("Filters").filter(|v| !v.is_null());
    let current = input.get("ParameterFilters").filter(|v| !v.is_null());
    let filters = match (legacy, current) {
        (Some(_), Some(_)) => {
            return Err(JsonError::validation(
                "You can use either Filters or ParameterFilters in a single request.",
            ));
        }
        (Some(list), None) => legacy_filters(list)?,
        (None, Some(list)) => parameter_filters(list)?,
        (None, None) => Vec::new(),
    };
    let limit = max_results(input)?;
    let start = next_token(input)?;
    let empty = BTreeMap::new();
    let parameters = parameters.unwrap_or(&empty);
    let entries: Box<dyn Iterator<Item = (&String, &ParameterSpec)>> = match &start {
        Some(from) => Box::new(parameters.range::<String, _>(from..)),
        None => Box::new(parameters.iter()),
    };
    let mut page = Vec::with_capacity(limit);
    let mut next = None;
    for (examined, (name, spec)) in entries.enumerate() {
        // AWS stops a page where an internal limit falls, matches or not; short pages model that
        // limit as `MaxResults` parameters examined.
        if short_pages && examined == limit {
            next = Some(name);
            break;
        }
        if !filters.iter().all(|filter| filter.accepts(spec)) {
            continue;
        }
        if page.len() == limit {
            next = Some(name);
            break;
        }
        page.push(metadata(spec, &caller.account, &caller.region, now));
    }
    let mut answer = Map::new();
    answer.insert("Parameters".into(), Value::Array(page));
    if let Some(name) = next {
        answer.insert(
            "NextToken".into(),
            Value::String(token::encode(&format!("{TOKEN_TAG}{name}"))),
        );
    }
    Ok(Value::Object(answer))
}

/// One `ParameterMetadata`, leaving out what AWS leaves out: `KeyId` of a parameter that is not a
/// `SecureString`, an unset description or pattern.
fn metadata(spec: &ParameterSpec, account: &str, region: &str, now: DateTime<Utc>) -> Value {
    let mut entry = Map::new();
    entry.insert("Name".into(), json!(spec.name));
    entry.insert(
        "ARN".into(),
        json!(parameter_arn(account, region, &spec.name)),
    );
    entry.insert("Type".into(), json!(spec.parameter_type.as_str()));
    if let Some(key) = spec.effective_key_id() {
        entry.insert("KeyId".into(), json!(key));
    }
    entry.insert(
        "LastModifiedDate".into(),
        json!(epoch_seconds(spec.last_modified)),
    );
    let user = spec
        .last_modified_user
        .clone()
        .unwrap_or_else(|| format!("arn:aws:iam::{account}:user/simulator"));
    entry.insert("LastModifiedUser".into(), json!(user));
    if let Some(description) = &spec.description {
        entry.insert("Description".into(), json!(description));
    }
    if let Some(pattern) = &spec.allowed_pattern {
        entry.insert("AllowedPattern".into(), json!(pattern));
    }
    entry.insert("Version".into(), json!(spec.version));
    entry.insert("Tier".into(), json!(spec.tier.as_str()));
    let policies: Vec<Value> = spec
        .policies
        .iter()
        .map(|policy| {
            json!({
                "PolicyText": policy.text(),
                "PolicyType": policy.policy_type(),
                "PolicyStatus": policy.status_at(now).as_str(),
            })
        })
        .collect();
    entry.insert("Policies".into(), Value::Array(policies));
    entry.insert("DataType".into(), json!(spec.data_type));
    Value::Object(entry)
}

fn list_tags(
    parameters: Option<&BTreeMap<String, ParameterSpec>>,
    input: &Value,
) -> Result<Value, JsonError> {
    let resource_type = match input.get("ResourceType") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(_) => return Err(serialization("ResourceType must be a string")),
    };
    let resource_id = match input.get("ResourceId") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(_) => return Err(serialization("ResourceId must be a string")),
    };
    let mut errors = Vec::new();
    match resource_type {
        None => errors.push(
            "Value null at 'resourceType' failed to satisfy constraint: Member must not be null"
                .to_string(),
        ),
        Some(kind) if !RESOURCE_TYPES.contains(&kind) => errors.push(format!(
            "Value '{}' at 'resourceType' failed to satisfy constraint: Member must satisfy enum \
             value set: [{}]",
            clipped(kind),
            RESOURCE_TYPES.join(", ")
        )),
        Some(_) => {}
    }
    if resource_id.is_none() {
        errors.push(
            "Value null at 'resourceId' failed to satisfy constraint: Member must not be null"
                .to_string(),
        );
    }
    if !errors.is_empty() {
        return Err(validation_errors(&errors));
    }
    if resource_type != Some("Parameter") {
        return Err(JsonError::bad_request(
            "InvalidResourceType",
            "The resource type isn't valid: the simulator holds parameters only.",
        ));
    }
    let id = resource_id.unwrap_or_default();
    // `plain` and `/plain` name the same root parameter, as in the filters.
    let found = parameters.and_then(|parameters| {
        parameters.get(id).or_else(|| {
            let wanted = rooted(id);
            parameters
                .values()
                .find(|spec| rooted(&spec.name) == wanted)
        })
    });
    let Some(spec) = found else {
        return Err(JsonError::bad_request(
            "InvalidResourceId",
            "The resource ID isn't valid. Verify that you entered the correct ID and try again.",
        ));
    };
    let tags: Vec<Value> = spec
        .tags
        .iter()
        .map(|(key, value)| json!({ "Key": key, "Value": value }))
        .collect();
    Ok(json!({ "TagList": tags }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{ParameterTier, ParameterType};

    fn caller() -> Caller {
        Caller {
            account: "123456789012".into(),
            principal_arn: "arn:aws:iam::123456789012:user/simulator".into(),
            user_id: "AIDA".into(),
            region: "us-east-1".into(),
        }
    }

    fn store(names: &[&str]) -> BTreeMap<String, ParameterSpec> {
        names
            .iter()
            .map(|name| (name.to_string(), ParameterSpec::new(*name)))
            .collect()
    }

    fn names(answer: &Value) -> Vec<String> {
        answer["Parameters"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|p| p["Name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn describe(store: &BTreeMap<String, ParameterSpec>, input: Value) -> Result<Value, JsonError> {
        describe_parameters(Some(store), &input, &caller(), false, Utc::now())
    }

    #[test]
    fn paths_select_one_level_or_every_level_below() -> Result<(), String> {
        let store = store(&["/a/b", "/a/b/c", "/a/bc", "/ab", "plain", "/x"]);
        let cases = [
            (
                json!({"Key": "Path", "Values": ["/a"]}),
                vec!["/a/b", "/a/bc"],
            ),
            (
                json!({"Key": "Path", "Option": "Recursive", "Values": ["/a/"]}),
                vec!["/a/b", "/a/b/c", "/a/bc"],
            ),
            (
                json!({"Key": "Path", "Option": "OneLevel", "Values": ["/"]}),
                vec!["/ab", "/x", "plain"],
            ),
            (
                json!({"Key": "Path", "Option": "Recursive", "Values": ["/"]}),
                vec!["/a/b", "/a/b/c", "/a/bc", "/ab", "/x", "plain"],
            ),
            (
                json!({"Key": "Name", "Option": "BeginsWith", "Values": ["/a/b"]}),
                vec!["/a/b", "/a/b/c", "/a/bc"],
            ),
            (json!({"Key": "Name", "Values": ["/plain"]}), vec!["plain"]),
            (
                json!({"Key": "Name", "Option": "Contains", "Values": ["b"]}),
                vec!["/a/b", "/a/b/c", "/a/bc", "/ab"],
            ),
        ];
        let mut failures = Vec::new();
        for (filter, expected) in cases {
            let answer = describe(&store, json!({ "ParameterFilters": [filter.clone()] }))
                .map_err(|e| format!("{filter}: {e:?}"))?;
            if names(&answer) != expected {
                failures.push(format!("{filter}: {:?} != {expected:?}", names(&answer)));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }

    #[test]
    fn bad_filters_get_the_error_aws_gives() {
        let store = store(&["/a"]);
        let cases = [
            (
                json!({"ParameterFilters": [{"Key": "Colour", "Values": ["x"]}]}),
                "ValidationException",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Label", "Values": ["x"]}]}),
                "InvalidFilterKey",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Name", "Values": ["a"]}, {"Key": "Name", "Values": ["b"]}]}),
                "InvalidFilterKey",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Name"}]}),
                "InvalidFilterValue",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Type", "Values": ["Secret"]}]}),
                "InvalidFilterValue",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Path", "Option": "BeginsWith", "Values": ["/a"]}]}),
                "InvalidFilterOption",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Type", "Option": "Contains", "Values": ["String"]}]}),
                "InvalidFilterOption",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Path", "Values": ["a"]}]}),
                "ValidationException",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Path", "Values": ["/aws/x"]}]}),
                "ValidationException",
            ),
            (
                json!({"ParameterFilters": [{"Key": "Name", "Values": [""]}]}),
                "ValidationException",
            ),
            (
                json!({"Filters": [{"Key": "Tier", "Values": ["Advanced"]}]}),
                "ValidationException",
            ),
            (
                json!({"Filters": [{"Key": "Name", "Values": ["a"]}], "ParameterFilters": []}),
                "ValidationException",
            ),
            (json!({"MaxResults": 51}), "ValidationException"),
            (json!({"MaxResults": 0}), "ValidationException"),
            (json!({"MaxResults": "ten"}), "SerializationException"),
            (json!({"NextToken": "zz"}), "InvalidNextToken"),
            (
                json!({"NextToken": token::encode("cd|1|x")}),
                "InvalidNextToken",
            ),
            (
                json!({"ParameterFilters": "Name"}),
                "SerializationException",
            ),
        ];
        let mut failures = Vec::new();
        for (input, code) in cases {
            let got = describe(&store, input.clone()).err().map(|e| e.code);
            if got != Some(code) {
                failures.push(format!("{input}: {got:?}, expected {code}"));
            }
        }
        let many: Vec<String> = (0..51).map(|i| i.to_string()).collect();
        let error = describe(
            &store,
            json!({"ParameterFilters": [{"Key": "Colour", "Values": many}]}),
        )
        .err()
        .and_then(|e| e.message)
        .unwrap_or_default();
        if !error.starts_with("2 validation errors detected") {
            failures.push(format!("every constraint is reported: {error}"));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn short_pages_keep_a_token_while_parameters_remain() -> Result<(), String> {
        let mut store = store(&["/a/1", "/a/2", "/b/1", "/b/2", "/b/3"]);
        if let Some(spec) = store.get_mut("/b/3") {
            spec.parameter_type = ParameterType::String;
        }
        let input = json!({
            "MaxResults": 2,
            "ParameterFilters": [{"Key": "Type", "Values": ["String"]}],
        });
        let first = describe_parameters(Some(&store), &input, &caller(), true, Utc::now())
            .map_err(|e| format!("{e:?}"))?;
        assert!(names(&first).is_empty());
        let token = first["NextToken"].as_str().ok_or("no token")?.to_string();
        let mut next = input.clone();
        next["NextToken"] = json!(token);
        let second = describe_parameters(Some(&store), &next, &caller(), true, Utc::now())
            .map_err(|e| format!("{e:?}"))?;
        assert!(names(&second).is_empty());
        next["NextToken"] = second["NextToken"].clone();
        let third = describe_parameters(Some(&store), &next, &caller(), true, Utc::now())
            .map_err(|e| format!("{e:?}"))?;
        assert_eq!(names(&third), ["/b/3"]);
        assert!(third.get("NextToken").is_none());
        // Without short pages, the first page finds the one match and says it is the last.
        let whole = describe(&store, input).map_err(|e| format!("{e:?}"))?;
        assert_eq!(names(&whole), ["/b/3"]);
        assert!(whole.get("NextToken").is_none());
        Ok(())
    }

    #[test]
    fn metadata_leaves_out_what_aws_leaves_out() {
        let now = Utc::now();
        let secure = metadata(
            &ParameterSpec::new("/a/b").tier(ParameterTier::Advanced),
            "111111111111",
            "eu-west-1",
            now,
        );
        assert_eq!(secure["KeyId"], "alias/aws/ssm");
        assert_eq!(
            secure["ARN"],
            "arn:aws:ssm:eu-west-1:111111111111:parameter/a/b"
        );
        assert_eq!(
            secure["LastModifiedUser"],
            "arn:aws:iam::111111111111:user/simulator"
        );
        assert_eq!(secure["Policies"], json!([]));
        assert!(secure.get("Description").is_none());
        let plain = metadata(
            &ParameterSpec::new("a").string(),
            "111111111111",
            "eu-west-1",
            now,
        );
        assert!(plain.get("KeyId").is_none());
        assert_eq!(
            plain["ARN"],
            "arn:aws:ssm:eu-west-1:111111111111:parameter/a"
        );
    }
}
