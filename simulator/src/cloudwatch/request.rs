//! Reading a request: its body, gzip-compressed or not, decoded from CBOR, and the fields of its
//! input, checked as AWS checks them.

use std::io::Read as _;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, TimeZone, Utc};
use ciborium::Value;

use super::response::CborError;

/// PutMetricData takes at most this many bytes a request, once decompressed.
pub const MAX_PUT_METRIC_DATA_BYTES: usize = 1024 * 1024;
/// A metric has at most this many dimensions.
pub const MAX_DIMENSIONS: usize = 30;
/// CloudWatch accepts values of magnitude up to 2^360 and none smaller than 2^-260 but zero.
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833_2e108;
const MIN_MAGNITUDE: f64 = 5.397_605_346_934_028e-79;

pub(super) fn decompress(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, CborError> {
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

pub(super) fn decode(body: &[u8]) -> Result<Value, CborError> {
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

pub(super) fn field<'a>(map: &'a Value, name: &str) -> Option<&'a Value> {
    let Value::Map(entries) = map else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| matches!(k, Value::Text(text) if text == name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

pub(super) fn text(map: &Value, name: &str) -> Result<Option<String>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(Value::Text(text)) => Ok(Some(text.clone())),
        Some(_) => Err(CborError::invalid(format!("{name} must be a string"))),
    }
}

pub(super) fn required_text(map: &Value, name: &str) -> Result<String, CborError> {
    text(map, name)?.ok_or_else(|| CborError::missing(name))
}

pub(super) fn number(map: &Value, name: &str) -> Result<Option<f64>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(value) => as_f64(value)
            .map(Some)
            .ok_or_else(|| CborError::invalid(format!("{name} must be a number"))),
    }
}

pub(super) fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(i128::from(*i) as f64),
        _ => None,
    }
}

pub(super) fn integer(map: &Value, name: &str) -> Result<Option<i64>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(Value::Integer(i)) => i64::try_from(i128::from(*i))
            .map(Some)
            .map_err(|_| CborError::invalid(format!("{name} is out of range"))),
        Some(_) => Err(CborError::invalid(format!("{name} must be an integer"))),
    }
}

pub(super) fn boolean(map: &Value, name: &str) -> Result<Option<bool>, CborError> {
    match field(map, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(CborError::invalid(format!("{name} must be a boolean"))),
    }
}

pub(super) fn list<'a>(map: &'a Value, name: &str) -> Result<&'a [Value], CborError> {
    match field(map, name) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(CborError::invalid(format!("{name} must be a list"))),
    }
}

pub(super) fn strings(map: &Value, name: &str) -> Result<Vec<String>, CborError> {
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

pub(super) fn timestamp(map: &Value, name: &str) -> Result<Option<DateTime<Utc>>, CborError> {
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

pub(super) fn pairs(
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

pub(super) fn check_value(path: &str, value: f64) -> Result<f64, CborError> {
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

pub(super) fn check_dimensions(
    path: &str,
    dimensions: &[(String, String)],
) -> Result<(), CborError> {
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use crate::cloudwatch::response::{Out, encode};

    use super::*;

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
}
