//! `PutMetricData` and `ListMetrics`.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use ciborium::Value;

use super::request::{
    as_f64, check_dimensions, check_value, field, integer, list, number, pairs, required_text,
    text, timestamp,
};
use super::response::{CborError, Out, dimensions_out};
use super::store::{MetricDatumRecord, Store, key};
use crate::caller::Caller;

/// PutMetricData takes at most this many data (metrics and values) a request.
pub const MAX_METRIC_DATA: usize = 1000;

const LIST_METRICS_PAGE: usize = 500;

pub(super) fn put_metric_data(
    store: &mut Store,
    caller: &Caller,
    input: &Value,
    now: DateTime<Utc>,
) -> Result<Out, CborError> {
    let namespace = required_text(input, "Namespace")?;
    if namespace.is_empty() || namespace.len() > 255 {
        return Err(CborError::invalid(
            "The parameter Namespace must be 1 to 255 characters.",
        ));
    }
    if namespace.starts_with("AWS/") {
        return Err(CborError::invalid(
            "The value AWS/ for parameter Namespace is invalid.",
        ));
    }
    let items = list(input, "MetricData")?;
    if items.is_empty() {
        return Err(CborError::missing("MetricData"));
    }
    let mut records = Vec::with_capacity(items.len());
    let mut data = 0usize;
    for (index, item) in items.iter().enumerate() {
        let path = format!("MetricData.member.{}", index + 1);
        let metric_name = text(item, "MetricName")?
            .ok_or_else(|| CborError::missing(&format!("{path}.MetricName")))?;
        if metric_name.is_empty() || metric_name.len() > 255 {
            return Err(CborError::invalid(format!(
                "The parameter {path}.MetricName must be 1 to 255 characters."
            )));
        }
        let dimensions = pairs(item, "Dimensions", "Name", "Value")?;
        check_dimensions(&format!("{path}.Dimensions"), &dimensions)?;
        let value = number(item, "Value")?
            .map(|v| check_value(&format!("{path}.Value"), v))
            .transpose()?;
        let values: Vec<f64> = list(item, "Values")?
            .iter()
            .map(|v| {
                as_f64(v)
                    .ok_or_else(|| CborError::invalid(format!("{path}.Values must be numbers")))
                    .and_then(|v| check_value(&format!("{path}.Values"), v))
            })
            .collect::<Result<_, _>>()?;
        let counts: Vec<f64> = list(item, "Counts")?
            .iter()
            .map(|v| {
                as_f64(v)
                    .ok_or_else(|| CborError::invalid(format!("{path}.Counts must be numbers")))
            })
            .collect::<Result<_, _>>()?;
        if !counts.is_empty() && counts.len() != values.len() {
            return Err(CborError::combination(format!(
                "The parameters {path}.Values and {path}.Counts must be of the same size."
            )));
        }
        let statistic_values = match field(item, "StatisticValues") {
            None => None,
            Some(set) => {
                let mut out = [0.0; 4];
                for (slot, name) in out
                    .iter_mut()
                    .zip(["SampleCount", "Sum", "Minimum", "Maximum"])
                {
                    let stat_path = format!("{path}.StatisticValues.{name}");
                    *slot = check_value(
                        &stat_path,
                        number(set, name)?.ok_or_else(|| CborError::missing(&stat_path))?,
                    )?;
                }
                Some(out)
            }
        };
        let given = usize::from(value.is_some())
            + usize::from(!values.is_empty())
            + usize::from(statistic_values.is_some());
        if given > 1 {
            return Err(CborError::combination(format!(
                "The parameters {path}.Value, {path}.Values and {path}.StatisticValues are mutually exclusive."
            )));
        }
        data += values.len().max(1);
        let timestamp = timestamp(item, "Timestamp")?.unwrap_or(now);
        if timestamp < now - Duration::days(14) || timestamp > now + Duration::hours(2) {
            return Err(CborError::invalid(format!(
                "The parameter {path}.Timestamp must be within the last two weeks and at most two hours ahead."
            )));
        }
        records.push(MetricDatumRecord {
            namespace: namespace.clone(),
            metric_name,
            dimensions: dimensions.into_iter().collect(),
            value,
            values: if counts.is_empty() {
                values.iter().map(|v| (*v, 1.0)).collect()
            } else {
                values.into_iter().zip(counts).collect()
            },
            statistic_values,
            unit: text(item, "Unit")?,
            timestamp,
            storage_resolution: integer(item, "StorageResolution")?,
        });
    }
    if data > MAX_METRIC_DATA {
        return Err(CborError::invalid(format!(
            "The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
        )));
    }
    store
        .data
        .entry(key(&caller.account, &caller.region))
        .or_default()
        .extend(records);
    Ok(Out::Map(Vec::new()))
}

/// Namespace, metric name and dimensions: what CloudWatch bills as one metric.
type MetricIdentity = (String, String, Vec<(String, String)>);

pub(super) fn list_metrics(
    store: &Store,
    caller: &Caller,
    input: &Value,
) -> Result<Out, CborError> {
    let namespace = text(input, "Namespace")?;
    let metric_name = text(input, "MetricName")?;
    let filters = list(input, "Dimensions")?
        .iter()
        .map(|filter| Ok((required_text(filter, "Name")?, text(filter, "Value")?)))
        .collect::<Result<Vec<_>, CborError>>()?;
    let mut metrics: BTreeSet<MetricIdentity> = BTreeSet::new();
    for datum in store
        .data
        .get(&key(&caller.account, &caller.region))
        .into_iter()
        .flatten()
    {
        let wanted = namespace.as_ref().is_none_or(|n| *n == datum.namespace)
            && metric_name.as_ref().is_none_or(|m| *m == datum.metric_name)
            && filters.iter().all(|(name, value)| {
                datum
                    .dimensions
                    .get(name)
                    .is_some_and(|v| value.as_ref().is_none_or(|want| want == v))
            });
        if wanted {
            let dimensions = datum
                .dimensions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            metrics.insert((
                datum.namespace.clone(),
                datum.metric_name.clone(),
                dimensions,
            ));
        }
    }
    let start = match text(input, "NextToken")? {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|start| *start <= metrics.len())
            .ok_or_else(|| CborError::invalid("The service cannot find the next token."))?,
    };
    let page: Vec<Out> = metrics
        .iter()
        .skip(start)
        .take(LIST_METRICS_PAGE)
        .map(|(namespace, name, dimensions)| {
            Out::Map(vec![
                ("Namespace", Out::Str(namespace.clone())),
                ("MetricName", Out::Str(name.clone())),
                ("Dimensions", dimensions_out(dimensions)),
            ])
        })
        .collect();
    let mut out = Vec::new();
    let end = start + page.len();
    out.push(("Metrics", Out::Array(page)));
    if end < metrics.len() {
        out.push(("NextToken", Out::Str(end.to_string())));
    }
    Ok(Out::Map(out))
}
