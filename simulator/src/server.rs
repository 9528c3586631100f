//! One HTTP listener for every service: requests are told apart the way AWS front ends do,
//! by `X-Amz-Target` (JSON protocols: Secrets Manager, CloudTrail, Organizations, SSM), the path
//! of an RPC v2 CBOR request (CloudWatch), the method and path of a REST-JSON request (Lambda),
//! the signing service of a form body (`rds`, `ec2`: query protocols) or else the `Action` of a
//! form body (STS).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;

use crate::awsjson::{JsonError, json_response, json_text_response};
use crate::caller::Caller;
use crate::state::{Fault, Refusal, Shared, UNKNOWN_ACCOUNT};
use crate::{cloudtrail, cloudwatch, ec2, lambda, organizations, rds, secretsmanager, ssm, sts};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// What the SigV4 `Authorization` header says about the caller.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SigningScope {
    pub access_key_id: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
}

/// Reads `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, ...`.
pub(crate) fn signing_scope(headers: &HeaderMap) -> SigningScope {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return SigningScope::default();
    };
    let credential = value
        .split([' ', ','])
        .find_map(|part| part.trim().strip_prefix("Credential="));
    let Some(credential) = credential else {
        return SigningScope::default();
    };
    let mut parts = credential.split('/');
    let access_key_id = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
    let _date = parts.next();
    let region = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
    let service = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
    SigningScope {
        access_key_id,
        region,
        service,
    }
}

const CLOUDTRAIL_TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.";
const ORGANIZATIONS_TARGET_PREFIX: &str = "AWSOrganizationsV20161128";

/// Region assumed when the credential scope names none, as the SDK's global STS endpoint does.
const FALLBACK_REGION: &str = "us-east-1";

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = signing_scope(&headers);
    let session_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let region = scope
        .region
        .clone()
        .unwrap_or_else(|| FALLBACK_REGION.to_string());
    let authenticated =
        shared.authenticate(scope.access_key_id.as_deref(), session_token, Utc::now());
    let caller = authenticated.as_ref().ok().map(|key| Caller {
        account: key.account.clone(),
        principal_arn: key.principal_arn.clone(),
        user_id: key.user_id.clone(),
        region: region.clone(),
    });
    let request_id = shared.request_id();

    if let Some(operation) = cloudwatch::rpc_operation(uri.path(), &headers) {
        return cloudwatch::serve(
            &shared,
            caller,
            authenticated.err(),
            operation,
            &headers,
            &body,
            &request_id,
        )
        .await;
    }

    if lambda::is_lambda(uri.path(), scope.service.as_deref()) {
        return lambda::serve(
            &shared,
            &method,
            &uri,
            caller,
            authenticated.err(),
            &request_id,
        )
        .await;
    }

    // The query protocols of RDS and EC2 are told from STS's by the signing service.
    match scope.service.as_deref() {
        Some("rds") => {
            return rds::serve(&shared, caller, authenticated.err(), &body, &request_id).await;
        }
        Some("ec2") => {
            return ec2::serve(&shared, caller, authenticated.err(), &body, &request_id).await;
        }
        _ => {}
    }

    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        // `secretsmanager.ListSecrets`, `AmazonSSM.DescribeParameters`,
        // `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`
        let (prefix, operation) = target.rsplit_once('.').unwrap_or(("", target));
        let service = if prefix == "secretsmanager" {
            "secretsmanager".to_string()
        } else if prefix.starts_with(CLOUDTRAIL_TARGET_PREFIX) {
            "cloudtrail".to_string()
        } else if prefix == ORGANIZATIONS_TARGET_PREFIX {
            "organizations".to_string()
        } else if prefix == ssm::TARGET_PREFIX {
            "ssm".to_string()
        } else {
            scope
                .service
                .clone()
                .unwrap_or_else(|| prefix.to_ascii_lowercase())
        };
        let account = caller
            .as_ref()
            .map_or(UNKNOWN_ACCOUNT, |c| c.account.as_str());
        shared.count(&service, operation, account);
        let Some(caller) = caller else {
            let error = match authenticated {
                Err(Refusal::Expired) => JsonError::new(
                    StatusCode::BAD_REQUEST,
                    "ExpiredTokenException",
                    "The security token included in the request is expired",
                ),
                _ => JsonError::new(
                    StatusCode::BAD_REQUEST,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
            };
            return error.into_response_with(&request_id);
        };
        if !shared
            .admit(operation, &caller.account, &caller.region)
            .await
        {
            return throttling(&service).into_response_with(&request_id);
        }
        let fault = shared.take_fault(&service, operation, &caller.account, &caller.region);
        if let Some(fault) = fault
            && let Some(error) = json_fault(fault, &service, operation, &caller).await
        {
            return error.into_response_with(&request_id);
        }
        let answer = match service.as_str() {
            "secretsmanager" => secretsmanager::handle(&shared, &caller, operation, &body),
            "cloudtrail" => cloudtrail::handle(&shared, &caller, operation, &body),
            "organizations" => organizations::handle(&shared, &caller, operation, &body),
            "ssm" => ssm::handle(&shared, &caller, operation, &body),
            _ => Err(unknown_operation()),
        };
        return match answer {
            Ok(value) => match fault {
                Some(fault) => json_text_response(
                    StatusCode::OK,
                    spoiled_answer(fault, &service, &body, value),
                    &request_id,
                ),
                None => json_response(StatusCode::OK, &value, &request_id),
            },
            Err(error) => error.into_response_with(&request_id),
        };
    }

    sts::handle(
        &shared,
        caller,
        authenticated.err(),
        &region,
        &body,
        &request_id,
    )
    .await
}

fn unknown_operation() -> JsonError {
    JsonError::without_message(StatusCode::BAD_REQUEST, "UnknownOperationException")
}

/// The throttling error of a JSON service: Organizations models its own.
fn throttling(service: &str) -> JsonError {
    if service == "organizations" {
        organizations::too_many_requests()
    } else {
        JsonError::new(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        )
    }
}

/// Applies a fault to a JSON request: `None` once a delay has passed and the request goes on.
async fn json_fault(
    fault: Fault,
    service: &str,
    operation: &str,
    caller: &Caller,
) -> Option<JsonError> {
    match fault {
        Fault::Delay(duration) => {
            tokio::time::sleep(duration).await;
            None
        }
        Fault::Throttling => Some(throttling(service)),
        Fault::AccessDenied if service == "organizations" => Some(organizations::access_denied()),
        Fault::AccessDenied => Some(JsonError::new(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {service}:{operation} because no \
                 identity-based policy allows the {service}:{operation} action",
                caller.principal_arn
            ),
        )),
        Fault::InternalError if service == "organizations" => {
            Some(organizations::service_exception())
        }
        Fault::InternalError if service == "ssm" => Some(JsonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An error occurred on the server side.",
        )),
        Fault::InternalError => Some(JsonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServiceError",
            "An error occurred on the server side.",
        )),
        // These shape the answer instead (`spoiled_answer`).
        Fault::RepeatNextToken
        | Fault::EndlessNextToken
        | Fault::DuplicateEntry
        | Fault::MalformedBody => None,
    }
}

/// The listings whose entries `Fault::DuplicateEntry` repeats.
const LISTINGS: [&str; 5] = ["SecretList", "Versions", "Events", "Parameters", "TagList"];
/// Organizations' listings, apart: `Tags` is also a field of `DescribeSecret`, which lists nothing.
const ORGANIZATIONS_LISTINGS: [&str; 5] = [
    "Accounts",
    "OrganizationalUnits",
    "Roots",
    "Tags",
    "Parents",
];

/// The text of a successful answer as an answer-shaping fault leaves it.
fn spoiled_answer(fault: Fault, service: &str, request: &[u8], mut answer: Value) -> String {
    match fault {
        Fault::RepeatNextToken => {
            let asked = serde_json::from_slice::<Value>(request)
                .ok()
                .and_then(|input| input.get("NextToken").cloned())
                .filter(Value::is_string);
            if let (Some(token), Some(fields)) = (asked, answer.as_object_mut()) {
                fields.insert("NextToken".into(), token);
            }
            answer.to_string()
        }
        Fault::EndlessNextToken => {
            let longer = serde_json::from_slice::<Value>(request)
                .ok()
                .and_then(|input| input.get("NextToken")?.as_str().map(str::to_owned))
                .and_then(|token| crate::token::decode(&token))
                .map(|text| crate::token::encode(&format!("{text}~")));
            if let (Some(token), Some(fields)) = (longer, answer.as_object_mut()) {
                fields.insert("NextToken".into(), Value::String(token));
            }
            answer.to_string()
        }
        Fault::DuplicateEntry => {
            let listings: &[&str] = if service == "organizations" {
                &ORGANIZATIONS_LISTINGS
            } else {
                &LISTINGS
            };
            for listing in listings {
                if let Some(entries) = answer.get_mut(listing).and_then(Value::as_array_mut)
                    && let Some(first) = entries.first().cloned()
                {
                    entries.push(first);
                }
            }
            answer.to_string()
        }
        Fault::MalformedBody => {
            let text = answer.to_string();
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_owned()
        }
        Fault::Throttling | Fault::AccessDenied | Fault::InternalError | Fault::Delay(_) => {
            answer.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn scope_comes_from_the_credential_of_the_authorization_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/eu-west-1/secretsmanager/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(
            signing_scope(&headers),
            SigningScope {
                access_key_id: Some("AKIAEXAMPLE".into()),
                region: Some("eu-west-1".into()),
                service: Some("secretsmanager".into()),
            }
        );
        assert_eq!(signing_scope(&HeaderMap::new()), SigningScope::default());
    }
}
