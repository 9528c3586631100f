//! CloudWatch over the Smithy RPC v2 CBOR protocol the current SDK speaks
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, `smithy-protocol: rpc-v2-cbor`,
//! bodies possibly gzip-compressed): `PutMetricData`, `ListMetrics`, `PutMetricAlarm`,
//! `DescribeAlarms`, `DeleteAlarms`, `TagResource`, `UntagResource` and `ListTagsForResource`,
//! with AWS's limits and error shapes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, TimeZone, Utc};
use ciborium::Value;

use crate::caller::Caller;
use crate::state::{Fault, Refusal, Shared, UNKNOWN_ACCOUNT};
use crate::token;

/// The path prefix of every RPC v2 CBOR request to CloudWatch.
pub const RPC_PATH_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";
/// PutMetricData takes at most this many data (metrics and values) a request.
pub const MAX_METRIC_DATA: usize = 1000;
/// PutMetricData takes at most this many bytes a request, once decompressed.
pub const MAX_PUT_METRIC_DATA_BYTES: usize = 1024 * 1024;
/// A metric has at most this many dimensions.
pub const MAX_DIMENSIONS: usize = 30;
/// PutMetricAlarm's quota per account and region, in requests per second.
pub const DEFAULT_PUT_METRIC_ALARM_RATE: f64 = 3.0;
/// DescribeAlarms answers at most this many alarms a page (default 50).
pub const DESCRIBE_ALARMS_PAGE_LIMIT: usize = 100;
/// DeleteAlarms takes at most this many names.
pub const MAX_DELETE_ALARMS: usize = 100;
/// An alarm has at most this many tags.
pub const MAX_TAGS: usize = 50;

const DEFAULT_DESCRIBE_ALARMS_PAGE: usize = 50;
const LIST_METRICS_PAGE: usize = 500;
/// CloudWatch accepts values of magnitude up to 2^360 and none smaller than 2^-260 but zero.
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833_2e108;
const MIN_MAGNITUDE: f64 = 5.397_605_346_934_028e-79;

/// One datum as PutMetricData received it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatumRecord {
    pub namespace: String,
    pub metric_name: String,
    /// Name to value, as sent.
    pub dimensions: BTreeMap<String, String>,
    pub value: Option<f64>,
    /// `Values` (with their `Counts`, 1 when not given).
    pub values: Vec<(f64, f64)>,
    /// `StatisticValues`: sample count, sum, minimum, maximum.
    pub statistic_values: Option<[f64; 4]>,
    pub unit: Option<String>,
    /// `Timestamp`, else when it arrived.
    pub timestamp: DateTime<Utc>,
    pub storage_resolution: Option<i64>,
}

/// A metric alarm as PutMetricAlarm left it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: Option<i64>,
    pub unit: Option<String>,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: Option<f64>,
    pub comparison_operator: String,
    pub treat_missing_data: Option<String>,
    /// Tags are set at creation only; later PutMetricAlarm calls leave them alone, as AWS does.
    pub tags: BTreeMap<String, String>,
    pub configuration_updated: DateTime<Utc>,
    pub state_value: String,
}

/// Metric data, alarms and the PutMetricAlarm quota of every account and region.
#[derive(Debug)]
pub(crate) struct Store {
    data: HashMap<(String, String), Vec<MetricDatumRecord>>,
    alarms: HashMap<(String, String), BTreeMap<String, AlarmRecord>>,
    put_alarm_rate: Option<f64>,
    buckets: HashMap<(String, String), (f64, Instant)>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            data: HashMap::new(),
            alarms: HashMap::new(),
            put_alarm_rate: Some(DEFAULT_PUT_METRIC_ALARM_RATE),
            buckets: HashMap::new(),
        }
    }
}

impl Store {
    pub fn metric_data(&self, account: &str, region: &str) -> Vec<MetricDatumRecord> {
        self.data
            .get(&key(account, region))
            .cloned()
            .unwrap_or_default()
    }

    pub fn alarms(&self, account: &str, region: &str) -> Vec<AlarmRecord> {
        self.alarms
            .get(&key(account, region))
            .map(|alarms| alarms.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn set_put_alarm_rate(&mut self, rate: Option<f64>) {
        self.put_alarm_rate = rate;
        self.buckets.clear();
    }

    /// A token bucket per account and region with a burst of one second's worth.
    fn admit_put_alarm(&mut self, account: &str, region: &str, now: Instant) -> bool {
        let Some(rate) = self.put_alarm_rate else {
            return true;
        };
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        let burst = rate.max(1.0);
        let (tokens, refilled) = self
            .buckets
            .entry(key(account, region))
            .or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*refilled).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(burst);
        *refilled = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn key(account: &str, region: &str) -> (String, String) {
    (account.to_string(), region.to_string())
}

/// The operation of an RPC v2 CBOR request to CloudWatch, if this is one.
pub(crate) fn rpc_operation<'a>(path: &'a str, headers: &HeaderMap) -> Option<&'a str> {
    let operation = path.strip_prefix(RPC_PATH_PREFIX)?;
    let protocol = headers.get("smithy-protocol")?.to_str().ok()?;
    (protocol == "rpc-v2-cbor" && !operation.is_empty() && !operation.contains('/'))
        .then_some(operation)
}

/// An error in the shape the SDK reads: a CBOR map with `__type` and `message`, and the
/// awsQuery-compatible code in `x-amzn-query-error`.
#[derive(Debug)]
pub(crate) struct CborError {
    status: StatusCode,
    code: &'static str,
    shape: &'static str,
    message: String,
}

impl CborError {
    fn new(
        status: StatusCode,
        code: &'static str,
        shape: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            shape,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            "InvalidParameterValueException",
            message,
        )
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "MissingRequiredParameterException",
            format!("The parameter {parameter} is required."),
        )
    }

    fn combination(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterCombination",
            "InvalidParameterCombinationException",
            message,
        )
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "ResourceNotFound",
            message,
        )
    }

    fn throttled() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Throttling",
            "ThrottlingException",
            "Rate exceeded",
        )
    }

    fn into_response_with(self, request_id: &str) -> Response {
        let body = Out::Map(vec![
            (
                "__type",
                Out::Str(format!("com.amazonaws.cloudwatch#{}", self.shape)),
            ),
            ("message", Out::Str(self.message)),
        ]);
        let mut response = cbor_response(self.status, &body, request_id);
        if let Ok(value) = HeaderValue::from_str(&format!("{};Sender", self.code)) {
            response.headers_mut().insert("x-amzn-query-error", value);
        }
        response
    }
}

/// Serves one CloudWatch request: counts it, authenticates it, applies faults, then answers.
pub(crate) async fn serve(
    shared: &Shared,
    caller: Option<Caller>,
    refusal: Option<Refusal>,
    operation: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let account = caller
        .as_ref()
        .map_or(UNKNOWN_ACCOUNT, |c| c.account.as_str());
    shared.count("cloudwatch", operation, account);
    let Some(caller) = caller else {
        let error = match refusal {
            Some(Refusal::Expired) => CborError::new(
                StatusCode::BAD_REQUEST,
                "ExpiredToken",
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            _ => CborError::new(
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
        };
        return error.into_response_with(request_id);
    };
    if !shared
        .admit(operation, &caller.account, &caller.region)
        .await
    {
        return CborError::throttled().into_response_with(request_id);
    }
    if let Some(fault) = shared.take_fault(operation, &caller.account, &caller.region) {
        let error = match fault {
            Fault::Delay(duration) => {
                tokio::time::sleep(duration).await;
                None
            }
            Fault::Throttling => Some(CborError::throttled()),
            Fault::AccessDenied => Some(CborError::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "AccessDenied",
                format!(
                    "User: {} is not authorized to perform: cloudwatch:{operation} because no \
                     identity-based policy allows the cloudwatch:{operation} action",
                    caller.principal_arn
                ),
            )),
            Fault::InternalError => Some(CborError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceError",
                "InternalServiceFault",
                "Internal service error",
            )),
        };
        if let Some(error) = error {
            return error.into_response_with(request_id);
        }
    }
    match answer(shared, &caller, operation, headers, body) {
        Ok(value) => cbor_response(StatusCode::OK, &value, request_id),
        Err(error) => error.into_response_with(request_id),
    }
}

fn answer(
    shared: &Shared,
    caller: &Caller,
    operation: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Out, CborError> {
    let body = decompress(headers, body)?;
    if operation == "PutMetricData" && body.len() > MAX_PUT_METRIC_DATA_BYTES {
        return Err(CborError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "RequestEntityTooLarge",
            format!(
                "Request size {} exceeded {MAX_PUT_METRIC_DATA_BYTES} bytes",
                body.len()
            ),
        ));
    }
    let input = decode(&body)?;
    let now = Utc::now();
    let mut store = shared.cloudwatch();
    match operation {
        "PutMetricData" => put_metric_data(&mut store, caller, &input, now),
        "ListMetrics" => list_metrics(&store, caller, &input),
        "PutMetricAlarm" => {
            if !store.admit_put_alarm(&caller.account, &caller.region, Instant::now()) {
                return Err(CborError::throttled());
            }
            put_metric_alarm(&mut store, caller, &input, now)
        }
        "DescribeAlarms" => describe_alarms(&store, caller, &input),
        "DeleteAlarms" => delete_alarms(&mut store, caller, &input),
        "TagResource" => tag_resource(&mut store, caller, &input, true),
        "UntagResource" => tag_resource(&mut store, caller, &input, false),
        "ListTagsForResource" => list_tags(&store, caller, &input),
        _ => Err(CborError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "UnknownOperationException",
            format!("Unknown operation {operation}"),
        )),
    }
}

fn decompress(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, CborError> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("gzip")));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    // One byte past the limit is enough to tell a body that is too large.
    flate2::read::GzDecoder::new(body)
        .take(MAX_PUT_METRIC_DATA_BYTES as u64 * 4 + 1)
        .read_to_end(&mut out)
        .map_err(|err| CborError::invalid(format!("The request body is not valid gzip: {err}")))?;
    Ok(out)
}

fn decode(body: &[u8]) -> Result<Value, CborError> {
    if body.is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    let value: Value = ciborium::from_reader(body)
        .map_err(|err| CborError::invalid(format!("The request body is not valid CBOR: {err}")))?;
    match value {
        Value::Map(_) => Ok(value),
        _ => Err(CborError::invalid("The request body must be a CBOR map")),
    }
}

// ---------------------------------------------------------------------------
// Reading the input
// ---------------------------------------------------------------------------

fn field<'a>(map: &'a Value, name: &str) -> Option<&'a Value> {
    let Value::Map(entries) = map else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| matches!(k, Value::Text(text) if text == name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn text(map: &Value, name: &str) -> Result<Option<String>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(Value::Text(text)) => Ok(Some(text.clone())),
        Some(_) => Err(CborError::invalid(format!("{name} must be a string"))),
    }
}

fn required_text(map: &Value, name: &str) -> Result<String, CborError> {
    text(map, name)?.ok_or_else(|| CborError::missing(name))
}

fn number(map: &Value, name: &str) -> Result<Option<f64>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(value) => as_f64(value)
            .map(Some)
            .ok_or_else(|| CborError::invalid(format!("{name} must be a number"))),
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(i128::from(*i) as f64),
        _ => None,
    }
}

fn integer(map: &Value, name: &str) -> Result<Option<i64>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(Value::Integer(i)) => i64::try_from(i128::from(*i))
            .map(Some)
            .map_err(|_| CborError::invalid(format!("{name} is out of range"))),
        Some(_) => Err(CborError::invalid(format!("{name} must be an integer"))),
    }
}

fn boolean(map: &Value, name: &str) -> Result<Option<bool>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(CborError::invalid(format!("{name} must be a boolean"))),
    }
}

fn list<'a>(map: &'a Value, name: &str) -> Result<&'a [Value], CborError> {
    match field(map, name) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(CborError::invalid(format!("{name} must be a list"))),
    }
}

fn strings(map: &Value, name: &str) -> Result<Vec<String>, CborError> {
    list(map, name)?
        .iter()
        .map(|item| match item {
            Value::Text(text) => Ok(text.clone()),
            _ => Err(CborError::invalid(format!(
                "{name} must be a list of strings"
            ))),
        })
        .collect()
}

fn timestamp(map: &Value, name: &str) -> Result<Option<DateTime<Utc>>, CborError> {
    let Some(value) = field(map, name) else {
        return Ok(None);
    };
    let seconds = match value {
        Value::Tag(1, inner) => as_f64(inner),
        _ => None,
    }
    .filter(|s| s.is_finite())
    .ok_or_else(|| CborError::invalid(format!("{name} must be a timestamp")))?;
    let millis = (seconds * 1000.0).round() as i64;
    Utc.timestamp_millis_opt(millis)
        .single()
        .map(Some)
        .ok_or_else(|| CborError::invalid(format!("{name} is out of range")))
}

fn pairs(
    map: &Value,
    name: &str,
    key: &str,
    value: &str,
) -> Result<Vec<(String, String)>, CborError> {
    list(map, name)?
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let key_path = format!("{name}.member.{}.{key}", index + 1);
            let value_path = format!("{name}.member.{}.{value}", index + 1);
            Ok((
                text(item, key)?.ok_or_else(|| CborError::missing(&key_path))?,
                text(item, value)?.ok_or_else(|| CborError::missing(&value_path))?,
            ))
        })
        .collect()
}

fn check_value(path: &str, value: f64) -> Result<f64, CborError> {
    let magnitude = value.abs();
    if !value.is_finite()
        || magnitude > MAX_MAGNITUDE
        || (magnitude != 0.0 && magnitude < MIN_MAGNITUDE)
    {
        return Err(CborError::invalid(format!(
            "The value {value} for parameter {path} is invalid."
        )));
    }
    Ok(value)
}

fn check_dimensions(path: &str, dimensions: &[(String, String)]) -> Result<(), CborError> {
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(CborError::invalid(format!(
            "The collection {path} must not have a size greater than {MAX_DIMENSIONS}."
        )));
    }
    for (index, (name, value)) in dimensions.iter().enumerate() {
        if name.is_empty() || name.len() > 255 || value.is_empty() || value.len() > 1024 {
            return Err(CborError::invalid(format!(
                "The parameter {path}.member.{}: names are 1 to 255 and values 1 to 1024 characters.",
                index + 1
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

fn put_metric_data(
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

fn list_metrics(store: &Store, caller: &Caller, input: &Value) -> Result<Out, CborError> {
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

fn dimensions_out(dimensions: &[(String, String)]) -> Out {
    Out::Array(
        dimensions
            .iter()
            .map(|(name, value)| {
                Out::Map(vec![
                    ("Name", Out::Str(name.clone())),
                    ("Value", Out::Str(value.clone())),
                ])
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Alarms
// ---------------------------------------------------------------------------

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

fn put_metric_alarm(
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

fn describe_alarms(store: &Store, caller: &Caller, input: &Value) -> Result<Out, CborError> {
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

fn delete_alarms(store: &mut Store, caller: &Caller, input: &Value) -> Result<Out, CborError> {
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

fn tag_resource(
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

fn list_tags(store: &Store, caller: &Caller, input: &Value) -> Result<Out, CborError> {
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

// ---------------------------------------------------------------------------
// Writing the answer
// ---------------------------------------------------------------------------

/// What an answer holds. Written by hand rather than through a generic encoder so that every
/// double stays a 64-bit float, which is what the SDK's decoder reads for a `Double`.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Map(Vec<(&'static str, Out)>),
    Array(Vec<Out>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(DateTime<Utc>),
}

fn write_head(out: &mut Vec<u8>, major: u8, length: u64) {
    let major = major << 5;
    match length {
        0..=23 => out.push(major | length as u8),
        24..=0xff => out.extend([major | 24, length as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((length as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((length as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(length.to_be_bytes());
        }
    }
}

fn encode(value: &Out, out: &mut Vec<u8>) {
    match value {
        Out::Map(entries) => {
            write_head(out, 5, entries.len() as u64);
            for (name, value) in entries {
                encode(&Out::Str((*name).to_string()), out);
                encode(value, out);
            }
        }
        Out::Array(items) => {
            write_head(out, 4, items.len() as u64);
            for item in items {
                encode(item, out);
            }
        }
        Out::Str(text) => {
            write_head(out, 3, text.len() as u64);
            out.extend(text.as_bytes());
        }
        Out::Int(n) if *n >= 0 => write_head(out, 0, n.unsigned_abs()),
        Out::Int(n) => write_head(out, 1, (-(n + 1)) as u64),
        Out::Float(f) => {
            out.push(0xfb);
            out.extend(f.to_be_bytes());
        }
        Out::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Out::Time(at) => {
            // Tag 1: epoch seconds, as a double to keep the milliseconds.
            out.push(0xc1);
            encode(&Out::Float(at.timestamp_millis() as f64 / 1000.0), out);
        }
    }
}

fn cbor_response(status: StatusCode, value: &Out, request_id: &str) -> Response {
    let mut body = Vec::new();
    encode(value, &mut body);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/cbor"),
    );
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decode_back_to_what_was_written() {
        let at = Utc.timestamp_millis_opt(1_767_225_600_123).single();
        let Some(at) = at else { panic!("a valid time") };
        let value = Out::Map(vec![
            ("Name", Out::Str("x".repeat(300))),
            ("Count", Out::Int(-70_000)),
            ("Threshold", Out::Float(1.0)),
            ("When", Out::Time(at)),
            ("List", Out::Array(vec![Out::Bool(true), Out::Int(24)])),
        ]);
        let mut bytes = Vec::new();
        encode(&value, &mut bytes);
        let decoded: Value = ciborium::from_reader(bytes.as_slice()).unwrap_or(Value::Null);
        assert_eq!(field(&decoded, "Name"), Some(&Value::Text("x".repeat(300))));
        assert_eq!(integer(&decoded, "Count").ok().flatten(), Some(-70_000));
        assert_eq!(number(&decoded, "Threshold").ok().flatten(), Some(1.0));
        assert_eq!(timestamp(&decoded, "When").ok().flatten(), Some(at));
        // 1.0 must stay a 64-bit float on the wire.
        assert!(
            bytes
                .windows(9)
                .any(|w| w == [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0])
        );
    }

    #[test]
    fn gzip_bodies_are_read_like_plain_ones() {
        use std::io::Write as _;
        let mut plain = Vec::new();
        encode(
            &Out::Map(vec![("Namespace", Out::Str("SecretsRotation".into()))]),
            &mut plain,
        );
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let written = gzip.write_all(&plain).and_then(|()| gzip.finish());
        let Ok(compressed) = written else {
            panic!("gzip in memory cannot fail")
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let body = decompress(&headers, &compressed).ok();
        assert_eq!(body.as_deref(), Some(plain.as_slice()));
        assert!(decompress(&headers, b"not gzip").is_err());
        assert_eq!(
            decompress(&HeaderMap::new(), &plain).ok().as_deref(),
            Some(plain.as_slice())
        );
    }

    #[test]
    fn tokens_round_trip_and_forged_ones_are_refused() {
        assert_eq!(
            decode_token(&encode_token("secrets-rotation-x")).as_deref(),
            Some("secrets-rotation-x")
        );
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token("abc"), None);
    }

    #[test]
    fn the_alarm_quota_allows_a_burst_of_three_then_the_rate() {
        let mut store = Store::default();
        let now = Instant::now();
        let admitted = (0..5)
            .filter(|_| store.admit_put_alarm("1", "us-east-1", now))
            .count();
        assert_eq!(admitted, 3);
        assert!(store.admit_put_alarm(
            "1",
            "us-east-1",
            now + std::time::Duration::from_millis(340)
        ));
        assert!(store.admit_put_alarm("2", "us-east-1", now));
    }
}
