//! AWS errors classified into the bounded `reason` label, never stringified
//! into a label.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::snapshot::{ErrorReason, TargetError};

/// A failed call to AWS, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub reason: ErrorReason,
    pub message: String,
}

impl SourceError {
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self {
            reason: ErrorReason::InvalidResponse,
            message: message.into(),
        }
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self {
            reason: ErrorReason::Timeout,
            message: message.into(),
        }
    }

    /// A panic caught in the work on one target (`reason="internal"`), with
    /// the panic's message when it has one.
    pub fn from_panic(work: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let said = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        Self {
            reason: ErrorReason::Internal,
            message: format!("{work} panicked: {said}"),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.message)
    }
}

impl StdError for SourceError {}

impl From<SourceError> for TargetError {
    fn from(err: SourceError) -> Self {
        TargetError {
            reason: err.reason,
            message: err.message,
        }
    }
}

/// Error codes AWS uses for throttling across the services we call.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "LimitExceededException",
];

/// Error codes that mean the credentials or the role do not allow the call.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "UnauthorizedOperation",
    "NotAuthorized",
    "AuthFailure",
    // Organizations, to an account that belongs to no organization: the
    // reader was pointed at the wrong account.
    "AWSOrganizationsNotInUseException",
];

pub fn classify_code(code: &str) -> Option<ErrorReason> {
    if THROTTLING_CODES.contains(&code) {
        Some(ErrorReason::Throttled)
    } else if ACCESS_DENIED_CODES.contains(&code) {
        Some(ErrorReason::AccessDenied)
    } else {
        None
    }
}

/// Classifies any SDK error. The message keeps the whole error chain, which
/// is what an operator needs in the log and in `check`'s report.
pub fn classify_sdk_error<E>(err: &SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let mut message = concise_message(err);
    let reason = match err {
        // A success status whose body would not parse: the SDK reports it
        // as an unhandled service error without a code. The service did not
        // refuse anything; its answer cannot be read.
        SdkError::ServiceError(service) if service.raw().status().is_success() => {
            ErrorReason::InvalidResponse
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            classify_code(code).unwrap_or(
                // Without a known code, the status tells a server fault from
                // a request the service would not take.
                if service.raw().status().is_server_error() {
                    ErrorReason::Service
                } else {
                    ErrorReason::Other
                },
            )
        }
        SdkError::TimeoutError(_) => ErrorReason::Timeout,
        SdkError::ResponseError(_) => ErrorReason::InvalidResponse,
        SdkError::DispatchFailure(failure) => {
            if let Some(inner) = find_source_error(err) {
                message = inner.message.clone();
                inner.reason
            } else if failure.is_timeout() {
                ErrorReason::Timeout
            } else if failure.is_io() {
                ErrorReason::Network
            } else {
                ErrorReason::Other
            }
        }
        SdkError::ConstructionFailure(_) => match find_source_error(err) {
            Some(inner) => {
                message = inner.message.clone();
                inner.reason
            }
            None => ErrorReason::Other,
        },
        _ => ErrorReason::Other,
    };
    SourceError { reason, message }
}

/// `Code: message` for a service error; otherwise the chain of causes,
/// without the SDK's Debug dump of the raw response.
fn concise_message<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let SdkError::ServiceError(service) = err
        && !service.raw().status().is_success()
    {
        let error = service.err();
        return match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => format!(
                "HTTP {} without an error code",
                service.raw().status().as_u16()
            ),
        };
    }
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(source) = current {
        parts.push(source.to_string());
        current = source.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// A failed `AssumeRole` surfaces as a dispatch failure of the call that
/// needed the credentials; its classification travels in the source chain.
fn find_source_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a SourceError> {
    let mut current = err.source();
    while let Some(source) = current {
        if let Some(found) = source.downcast_ref::<SourceError>() {
            return Some(found);
        }
        current = source.source();
    }
    None
}
