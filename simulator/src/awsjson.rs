//! Answers of the awsJson1.1 protocols (Secrets Manager, CloudTrail).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An awsJson1.1 error: the SDK reads the code from `x-amzn-ErrorType` or `__type`.
#[derive(Debug)]
pub(crate) struct JsonError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Option<String>,
}

impl JsonError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: Some(message.into()),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("ValidationException", message)
    }

    pub fn into_response_with(self, request_id: &str) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("__type".into(), self.code.into());
        if let Some(message) = self.message {
            body.insert("message".into(), message.into());
        }
        let mut response = json_response(self.status, &serde_json::Value::Object(body), request_id);
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        response
    }
}

pub(crate) fn json_response(
    status: StatusCode,
    value: &serde_json::Value,
    request_id: &str,
) -> Response {
    json_text_response(status, value.to_string(), request_id)
}

/// An answer with the JSON content type whatever `text` holds.
pub(crate) fn json_text_response(status: StatusCode, text: String, request_id: &str) -> Response {
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}
