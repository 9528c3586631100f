//! CloudWatch over the Smithy RPC v2 CBOR protocol the current SDK speaks
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, `smithy-protocol: rpc-v2-cbor`,
//! bodies possibly gzip-compressed): `PutMetricData`, `ListMetrics`, `PutMetricAlarm`,
//! `DescribeAlarms`, `DeleteAlarms`, `TagResource`, `UntagResource` and `ListTagsForResource`,
//! with AWS's limits and error shapes.

mod alarms;
mod metrics;
mod request;
mod response;
pub(crate) mod store;
mod tags;

use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;

use crate::caller::Caller;
use crate::state::{Fault, Refusal, Shared, UNKNOWN_ACCOUNT};

use alarms::{delete_alarms, describe_alarms, put_metric_alarm};
use metrics::{list_metrics, put_metric_data};
use request::{decode, decompress};
use response::{CborError, Out, cbor_response};
use tags::{list_tags, tag_resource};

pub use alarms::DESCRIBE_ALARMS_PAGE_LIMIT;
pub use metrics::MAX_METRIC_DATA;
pub use request::MAX_PUT_METRIC_DATA_BYTES;
pub use store::{AlarmRecord, DEFAULT_PUT_METRIC_ALARM_RATE, MetricDatumRecord};

/// The path prefix of every RPC v2 CBOR request to CloudWatch.
pub const RPC_PATH_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";

/// The operation of an RPC v2 CBOR request to CloudWatch, if this is one.
pub(crate) fn rpc_operation<'a>(path: &'a str, headers: &HeaderMap) -> Option<&'a str> {
    let operation = path.strip_prefix(RPC_PATH_PREFIX)?;
    let protocol = headers.get("smithy-protocol")?.to_str().ok()?;
    (protocol == "rpc-v2-cbor" && !operation.is_empty() && !operation.contains('/'))
        .then_some(operation)
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
    if let Some(fault) = shared.take_fault("cloudwatch", operation, &caller.account, &caller.region)
    {
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
            // Answer-shaping faults are for the JSON listings.
            Fault::RepeatNextToken
            | Fault::EndlessNextToken
            | Fault::DuplicateEntry
            | Fault::MalformedBody => None,
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
