//! Answers of the awsJson1.1 protocols (Secrets Manager, CloudTrail, Organizations).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An awsJson1.1 error: the SDK reads the code from `x-amzn-ErrorType` or `__type`.
#[derive(Debug)]
pub(crate) struct JsonError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Option<String>,
    /// The key of the message: `message` for most services, `Message` for Organizations.
    message_key: &'static str,
    /// Modeled members beside the message, such as Organizations' `Reason`.
    members: Vec<(&'static str, String)>,
}

impl JsonError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: Some(message.into()),
            message_key: "message",
            members: Vec::new(),
        }
    }

    pub fn without_message(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            message: None,
            message_key: "message",
            members: Vec::new(),
        }
    }

    /// Writes the message under `Message`, as the services whose models spell it so do.
    pub fn capitalized(mut self) -> Self {
        self.message_key = "Message";
        self
    }

    pub fn member(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.members.push((key, value.into()));
        self
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
            body.insert(self.message_key.into(), message.into());
        }
        for (key, value) in self.members {
            body.insert(key.into(), value.into());
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
