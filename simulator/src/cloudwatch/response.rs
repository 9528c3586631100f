//! Writing the answer: results and errors in RPC v2 CBOR.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

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
    pub(super) fn new(
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

    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            "InvalidParameterValueException",
            message,
        )
    }

    pub(super) fn missing(parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "MissingRequiredParameterException",
            format!("The parameter {parameter} is required."),
        )
    }

    pub(super) fn combination(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterCombination",
            "InvalidParameterCombinationException",
            message,
        )
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "ResourceNotFound",
            message,
        )
    }

    pub(super) fn throttled() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Throttling",
            "ThrottlingException",
            "Rate exceeded",
        )
    }

    pub(super) fn into_response_with(self, request_id: &str) -> Response {
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

/// What an answer holds. Written by hand rather than through a generic encoder so that every
/// double stays a 64-bit float, which is what the SDK's decoder reads for a `Double`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Out {
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

pub(super) fn encode(value: &Out, out: &mut Vec<u8>) {
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

pub(super) fn cbor_response(status: StatusCode, value: &Out, request_id: &str) -> Response {
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

pub(super) fn dimensions_out(dimensions: &[(String, String)]) -> Out {
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ciborium::Value;

    use crate::cloudwatch::request::{field, integer, number, timestamp};

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
}
