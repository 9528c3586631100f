//! `PutMetricAlarm`, `DescribeAlarms` and `DeleteAlarms`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ciborium::Value;

use super::request::{
    boolean, check_dimensions, field, integer, number, pairs, required_text, strings, text,
};
use super::response::{CborError, Out, dimensions_out};
use super::store::{AlarmRecord, Store, key};
use crate::caller::Caller;
use crate::token;

/// DescribeAlarms answers at most this many alarms a page (default 50).
pub const DESCRIBE_ALARMS_PAGE_LIMIT: usize = 100;
/// DeleteAlarms takes at most this many names.
pub const MAX_DELETE_ALARMS: usize = 100;
/// An alarm has at most this many tags.
pub const MAX_TAGS: usize = 50;

const DEFAULT_DESCRIBE_ALARMS_PAGE: usize = 50;

const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const COMPARISONS: [&str; 7] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
const MISSING_DATA: [&str; 4] = ["breaching", "notBreaching", "ignore", "missing"];

fn alarm_arn(caller: &Caller, name: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{}:alarm:{name}",
        caller.region, caller.account
    )
}

pub(super) fn put_metric_alarm(
    store: &mut Store,
    caller: &Caller,
    input: &Value,
    now: DateTime<Utc>,
) -> Result<Out, CborError> {
    let name = required_text(input, "AlarmName")?;
    if name.is_empty() || name.chars().count() > 255 {
        return Err(CborError::invalid(
            "The parameter AlarmName must be 1 to 255 characters.",
        ));
    }
    if field(input, "Metrics").is_some() {
        return Err(CborError::invalid(
            "Metric math alarms are not supported by this simulator.",
        ));
    }
    let metric_name = required_text(input, "MetricName")?;
    let namespace = required_text(input, "Namespace")?;
    let statistic = text(input, "Statistic")?;
    let extended_statistic = text(input, "ExtendedStatistic")?;
    match (&statistic, &extended_statistic) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(CborError::combination(
                "Exactly one of Statistic or ExtendedStatistic must be specified.",
            ));
        }
        (Some(statistic), None) if !STATISTICS.contains(&statistic.as_str()) => {
            return Err(CborError::invalid(format!(
                "The value {statistic} for parameter Statistic is invalid."
            )));
        }
        _ => {}
    }
    let period = integer(input, "Period")?.ok_or_else(|| CborError::missing("Period"))?;
    if !(period == 10 || period == 20 || period == 30 || (period >= 60 && period % 60 == 0)) {
        return Err(CborError::invalid(format!(
            "The value {period} for parameter Period is invalid: use 10, 20, 30 or a multiple of 60."
        )));
    }
    let evaluation_periods = integer(input, "EvaluationPeriods")?
        .ok_or_else(|| CborError::missing("EvaluationPeriods"))?;
    if evaluation_periods < 1 {
        return Err(CborError::invalid("EvaluationPeriods must be at least 1."));
    }
    if period.saturating_mul(evaluation_periods) > 86_400 * 7 {
        return Err(CborError::invalid(
            "Period multiplied by EvaluationPeriods must not exceed one week.",
        ));
    }
    let datapoints_to_alarm = integer(input, "DatapointsToAlarm")?;
    if datapoints_to_alarm.is_some_and(|d| d < 1 || d > evaluation_periods) {
        return Err(CborError::invalid(
            "DatapointsToAlarm must be between 1 and EvaluationPeriods.",
        ));
    }
    let threshold = number(input, "Threshold")?.ok_or_else(|| CborError::missing("Threshold"))?;
    let comparison_operator = required_text(input, "ComparisonOperator")?;
    if !COMPARISONS.contains(&comparison_operator.as_str()) {
        return Err(CborError::invalid(format!(
            "The value {comparison_operator} for parameter ComparisonOperator is invalid."
        )));
    }
    let treat_missing_data = text(input, "TreatMissingData")?;
    if let Some(treat) = &treat_missing_data
        && !MISSING_DATA.contains(&treat.as_str())
    {
        return Err(CborError::invalid(format!(
            "The value {treat} for parameter TreatMissingData is invalid."
        )));
    }
    let dimensions = pairs(input, "Dimensions", "Name", "Value")?;
    check_dimensions("Dimensions", &dimensions)?;
    let ok_actions = strings(input, "OKActions")?;
    let alarm_actions = strings(input, "AlarmActions")?;
    let insufficient_data_actions = strings(input, "InsufficientDataActions")?;
    for action in ok_actions
        .iter()
        .chain(&alarm_actions)
        .chain(&insufficient_data_actions)
    {
        if !action.starts_with("arn:") {
            return Err(CborError::invalid(format!(
                "Invalid action {action}: must be an ARN."
            )));
        }
    }
    for (name, actions) in [
        ("OKActions", &ok_actions),
        ("AlarmActions", &alarm_actions),
        ("InsufficientDataActions", &insufficient_data_actions),
    ] {
        if actions.len() > 5 {
            return Err(CborError::invalid(format!(
                "The collection {name} must not have a size greater than 5."
            )));
        }
    }
    let tags = pairs(input, "Tags", "Key", "Value")?;
    if tags.len() > MAX_TAGS {
        return Err(CborError::invalid(format!(
            "The collection Tags must not have a size greater than {MAX_TAGS}."
        )));
    }
    let alarms = store
        .alarms
        .entry(key(&caller.account, &caller.region))
        .or_default();
    let existing = alarms.get(&name);
    let record = AlarmRecord {
        arn: alarm_arn(caller, &name),
        description: text(input, "AlarmDescription")?,
        actions_enabled: boolean(input, "ActionsEnabled")?.unwrap_or(true),
        ok_actions,
        alarm_actions,
        insufficient_data_actions,
        metric_name: Some(metric_name),
        namespace: Some(namespace),
        statistic,
        extended_statistic,
        dimensions,
        period: Some(period),
        unit: text(input, "Unit")?,
        evaluation_periods,
        datapoints_to_alarm,
        threshold: Some(threshold),
        comparison_operator,
        treat_missing_data,
        tags: match existing {
            // AWS ignores Tags when PutMetricAlarm updates an alarm.
            Some(existing) => existing.tags.clone(),
            None => tags.into_iter().collect(),
        },
        configuration_updated: now,
        state_value: existing.map_or_else(
            || "INSUFFICIENT_DATA".to_string(),
            |e| e.state_value.clone(),
        ),
        name: name.clone(),
    };
    alarms.insert(name, record);
    Ok(Out::Map(Vec::new()))
}

fn encode_token(name: &str) -> String {
    token::encode(name)
}

fn decode_token(token: &str) -> Option<String> {
    token::decode(token).filter(|name| !name.is_empty())
}

pub(super) fn describe_alarms(
    store: &Store,
    caller: &Caller,
    input: &Value,
) -> Result<Out, CborError> {
    let names = strings(input, "AlarmNames")?;
    let prefix = text(input, "AlarmNamePrefix")?;
    if !names.is_empty() && prefix.is_some() {
        return Err(CborError::combination(
            "AlarmNames and AlarmNamePrefix cannot be used together.",
        ));
    }
    let types = strings(input, "AlarmTypes")?;
    for alarm_type in &types {
        if alarm_type != "MetricAlarm" && alarm_type != "CompositeAlarm" {
            return Err(CborError::invalid(format!(
                "The value {alarm_type} for parameter AlarmTypes is invalid."
            )));
        }
    }
    // Without AlarmTypes, AWS answers metric alarms only.
    let metric_alarms_wanted = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
    let state = text(input, "StateValue")?;
    let action_prefix = text(input, "ActionPrefix")?;
    let limit = match integer(input, "MaxRecords")? {
        None => DEFAULT_DESCRIBE_ALARMS_PAGE,
        Some(n) if (1..=DESCRIBE_ALARMS_PAGE_LIMIT as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(CborError::invalid(format!(
                "The value {n} for parameter MaxRecords is invalid: must be 1 to {DESCRIBE_ALARMS_PAGE_LIMIT}."
            )));
        }
    };
    let after = text(input, "NextToken")?
        .map(|token| {
            decode_token(&token).ok_or_else(|| {
                CborError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidNextToken",
                    "InvalidNextToken",
                    "The service cannot find the next token.",
                )
            })
        })
        .transpose()?;
    let empty = BTreeMap::new();
    let alarms = store
        .alarms
        .get(&key(&caller.account, &caller.region))
        .unwrap_or(&empty);
    let matching: Vec<&AlarmRecord> = alarms
        .values()
        .filter(|_| metric_alarms_wanted)
        .filter(|a| after.as_ref().is_none_or(|after| a.name > *after))
        .filter(|a| names.is_empty() || names.contains(&a.name))
        .filter(|a| {
            prefix
                .as_ref()
                .is_none_or(|p| a.name.starts_with(p.as_str()))
        })
        .filter(|a| state.as_ref().is_none_or(|s| *s == a.state_value))
        .filter(|a| {
            action_prefix.as_ref().is_none_or(|p| {
                a.alarm_actions
                    .iter()
                    .chain(&a.ok_actions)
                    .chain(&a.insufficient_data_actions)
                    .any(|action| action.starts_with(p.as_str()))
            })
        })
        .collect();
    let page: Vec<&AlarmRecord> = matching.iter().take(limit).copied().collect();
    let mut out = vec![(
        "MetricAlarms",
        Out::Array(page.iter().map(|a| alarm_out(a)).collect()),
    )];
    if matching.len() > page.len()
        && let Some(last) = page.last()
    {
        out.push(("NextToken", Out::Str(encode_token(&last.name))));
    }
    Ok(Out::Map(out))
}

fn alarm_out(alarm: &AlarmRecord) -> Out {
    let strings = |items: &[String]| Out::Array(items.iter().cloned().map(Out::Str).collect());
    let mut fields = vec![
        ("AlarmName", Out::Str(alarm.name.clone())),
        ("AlarmArn", Out::Str(alarm.arn.clone())),
        (
            "AlarmConfigurationUpdatedTimestamp",
            Out::Time(alarm.configuration_updated),
        ),
        ("ActionsEnabled", Out::Bool(alarm.actions_enabled)),
        ("OKActions", strings(&alarm.ok_actions)),
        ("AlarmActions", strings(&alarm.alarm_actions)),
        (
            "InsufficientDataActions",
            strings(&alarm.insufficient_data_actions),
        ),
        ("StateValue", Out::Str(alarm.state_value.clone())),
        (
            "StateReason",
            Out::Str("Unchecked: Initial alarm creation".to_string()),
        ),
        (
            "StateUpdatedTimestamp",
            Out::Time(alarm.configuration_updated),
        ),
        ("Dimensions", dimensions_out(&alarm.dimensions)),
        ("EvaluationPeriods", Out::Int(alarm.evaluation_periods)),
        (
            "ComparisonOperator",
            Out::Str(alarm.comparison_operator.clone()),
        ),
    ];
    let optional_strings = [
        ("AlarmDescription", &alarm.description),
        ("MetricName", &alarm.metric_name),
        ("Namespace", &alarm.namespace),
        ("Statistic", &alarm.statistic),
        ("ExtendedStatistic", &alarm.extended_statistic),
        ("Unit", &alarm.unit),
        ("TreatMissingData", &alarm.treat_missing_data),
    ];
    for (name, value) in optional_strings {
        if let Some(value) = value {
            fields.push((name, Out::Str(value.clone())));
        }
    }
    if let Some(period) = alarm.period {
        fields.push(("Period", Out::Int(period)));
    }
    if let Some(datapoints) = alarm.datapoints_to_alarm {
        fields.push(("DatapointsToAlarm", Out::Int(datapoints)));
    }
    if let Some(threshold) = alarm.threshold {
        fields.push(("Threshold", Out::Float(threshold)));
    }
    Out::Map(fields)
}

pub(super) fn delete_alarms(
    store: &mut Store,
    caller: &Caller,
    input: &Value,
) -> Result<Out, CborError> {
    let names = strings(input, "AlarmNames")?;
    if names.len() > MAX_DELETE_ALARMS {
        return Err(CborError::invalid(format!(
            "The collection AlarmNames must not have a size greater than {MAX_DELETE_ALARMS}."
        )));
    }
    let alarms = store
        .alarms
        .entry(key(&caller.account, &caller.region))
        .or_default();
    // AWS deletes nothing when one of the names does not exist.
    if let Some(missing) = names.iter().find(|name| !alarms.contains_key(*name)) {
        return Err(CborError::not_found(format!(
            "1 alarm(s) not found: [{missing}]"
        )));
    }
    for name in &names {
        alarms.remove(name);
    }
    Ok(Out::Map(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forged_ones_are_refused() {
        assert_eq!(
            decode_token(&encode_token("secrets-rotation-x")).as_deref(),
            Some("secrets-rotation-x")
        );
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token("abc"), None);
    }
}
