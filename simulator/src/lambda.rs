//! Lambda's `GetFunctionConfiguration` and `GetPolicy`, over REST-JSON as the SDK sends them:
//! `GET /2015-03-31/functions/{FunctionName}/configuration` and `.../policy`, each with an
//! optional `?Qualifier=`. Lambda has no `X-Amz-Target`: the method and path name the operation.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::caller::Caller;
use crate::fleet::{LambdaPolicy, LambdaSpec, SECRETS_MANAGER_PRINCIPAL, lambda_arn};
use crate::ids::{derived_chars, derived_uuid};
use crate::state::{Fault, Refusal, Shared, UNKNOWN_ACCOUNT};

/// The prefix of every Lambda path of the API version the SDK speaks.
const PATH_PREFIX: &str = "/2015-03-31/";
const FUNCTIONS_PREFIX: &str = "/2015-03-31/functions/";
const LATEST: &str = "$LATEST";

/// Whether a request is Lambda's: its path, or failing that the service it was signed for.
pub(crate) fn is_lambda(path: &str, signing_service: Option<&str>) -> bool {
    path.starts_with(PATH_PREFIX) || signing_service == Some("lambda")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GetFunctionConfiguration,
    GetPolicy,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::GetFunctionConfiguration => "GetFunctionConfiguration",
            Self::GetPolicy => "GetPolicy",
        }
    }
}

/// A Lambda error as the service sends it: the code in `x-amzn-ErrorType`, a JSON body whose
/// members differ per error (`Message` for most, `message` for throttling and validation).
#[derive(Debug)]
pub(crate) struct LambdaError {
    status: StatusCode,
    code: &'static str,
    body: Value,
    retry_after: Option<u32>,
}

impl LambdaError {
    fn user(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            body: json!({ "Type": "User", "Message": message.into() }),
            retry_after: None,
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::user(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::user(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    fn validation(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationException",
            body: json!({ "message": message.into() }),
            retry_after: None,
        }
    }

    fn too_many_requests() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TooManyRequestsException",
            body: json!({
                "Reason": "CallerRateLimitExceeded",
                "Type": "User",
                "message": "Rate exceeded",
            }),
            retry_after: Some(1),
        }
    }

    fn service_exception() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServiceException",
            body: json!({
                "Type": "Service",
                "Message": "An error occurred on the server side.",
            }),
            retry_after: None,
        }
    }

    /// IAM's refusal; `identity` tells which policy was missing: the caller's own (a fault) or
    /// the function's resource policy (another account's function).
    fn access_denied(caller: &Caller, operation: &str, resource: &str, identity: bool) -> Self {
        let missing = if identity {
            "identity-based"
        } else {
            "resource-based"
        };
        Self {
            status: StatusCode::FORBIDDEN,
            code: "AccessDeniedException",
            body: json!({
                "Message": format!(
                    "User: {} is not authorized to perform: lambda:{operation} on resource: \
                     {resource} because no {missing} policy allows the lambda:{operation} action",
                    caller.principal_arn
                ),
            }),
            retry_after: None,
        }
    }

    fn unrecognized_client(refusal: Option<Refusal>) -> Self {
        let (code, message) = match refusal {
            Some(Refusal::Expired) => (
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            _ => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
        };
        Self {
            status: StatusCode::FORBIDDEN,
            code,
            body: json!({ "message": message }),
            retry_after: None,
        }
    }

    fn unknown_operation() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "UnknownOperationException",
            body: json!({ "message": "Unknown operation" }),
            retry_after: None,
        }
    }

    fn into_response_with(self, request_id: &str) -> Response {
        let mut response = rest_json_response(self.status, self.body.to_string(), request_id);
        let headers = response.headers_mut();
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn rest_json_response(status: StatusCode, text: String, request_id: &str) -> Response {
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

/// A function as a request names it, resolved against the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    account: String,
    region: String,
    name: String,
    qualifier: Option<String>,
}

impl Target {
    /// The ARN as Lambda's messages show it: qualified when the request was.
    fn arn(&self) -> String {
        let arn = lambda_arn(&self.account, &self.region, &self.name);
        match &self.qualifier {
            Some(qualifier) => format!("{arn}:{qualifier}"),
            None => arn,
        }
    }
}

/// The pattern Lambda's model gives `FunctionName`, quoted in its validation message.
const FUNCTION_NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";

fn function_name_invalid(text: &str) -> LambdaError {
    LambdaError::validation(format!(
        "1 validation error detected: Value '{text}' at 'functionName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"
    ))
}

fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts
            .last()
            .is_some_and(|p| p.len() == 1 && p.bytes().all(|b| b.is_ascii_digit()))
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a name, `name:qualifier`, a partial ARN (`123456789012:function:name`) or a full ARN
/// (`arn:aws:lambda:us-east-1:123456789012:function:name[:qualifier]`), as Lambda's pattern
/// allows them.
fn parse_function(text: &str, caller: &Caller) -> Result<Target, LambdaError> {
    let invalid = || function_name_invalid(text);
    let mut parts: &[&str] = &text.split(':').collect::<Vec<_>>();
    let owned: Vec<&str>;
    let mut region = None;
    let mut account = None;
    if parts.first() == Some(&"arn") {
        if parts.len() < 3 || !parts[1].starts_with("aws") || parts[2] != "lambda" {
            return Err(invalid());
        }
        owned = parts[3..].to_vec();
        parts = &owned;
    }
    if let Some(first) = parts.first()
        && is_region(first)
    {
        region = Some(first.to_string());
        parts = &parts[1..];
    }
    if let Some(first) = parts.first()
        && is_account(first)
    {
        account = Some(first.to_string());
        parts = &parts[1..];
    }
    if parts.first() == Some(&"function") {
        parts = &parts[1..];
    }
    let (name, qualifier) = match parts {
        [name] => (*name, None),
        [name, qualifier] => (*name, Some(*qualifier)),
        _ => return Err(invalid()),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let qualifier_ok = qualifier.is_none_or(|q| {
        q == LATEST
            || (!q.is_empty()
                && q.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    });
    if !name_ok || !qualifier_ok || text.len() > 170 {
        return Err(invalid());
    }
    Ok(Target {
        account: account.unwrap_or_else(|| caller.account.clone()),
        region: region.unwrap_or_else(|| caller.region.clone()),
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
    })
}

/// Decodes `%XX` escapes of a path segment; `None` when they are broken or not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The operation and the still-encoded `FunctionName` of a request; `None` for any other route.
fn route<'a>(method: &Method, path: &'a str) -> Option<(Operation, &'a str)> {
    if method != Method::GET {
        return None;
    }
    let rest = path.strip_prefix(FUNCTIONS_PREFIX)?;
    let (function, resource) = rest.split_once('/')?;
    let operation = match resource {
        "configuration" => Operation::GetFunctionConfiguration,
        "policy" => Operation::GetPolicy,
        _ => return None,
    };
    (!function.is_empty()).then_some((operation, function))
}

fn query_qualifier(query: Option<&str>) -> Result<Option<String>, LambdaError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| LambdaError::validation("The query string is malformed."))?;
    let qualifier = pairs
        .into_iter()
        .find(|(key, _)| key == "Qualifier")
        .map(|(_, value)| value);
    if let Some(value) = &qualifier {
        let valid = value == LATEST
            || (!value.is_empty()
                && value.len() <= 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !valid {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{value}' at 'qualifier' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: \
                 (|[a-zA-Z0-9$_-]+)"
            )));
        }
    }
    Ok(qualifier)
}

/// What a request names, once read: the function or why it cannot be read.
fn read_target(
    encoded_name: &str,
    query: Option<&str>,
    caller: &Caller,
) -> Result<Target, LambdaError> {
    let name = percent_decode(encoded_name).ok_or_else(|| function_name_invalid(encoded_name))?;
    let mut target = parse_function(&name, caller)?;
    let asked = query_qualifier(query)?;
    match (&target.qualifier, asked) {
        (Some(derived), Some(asked)) if *derived != asked => {
            return Err(LambdaError::invalid_parameter(
                "The derived qualifier from the function name does not match the specified \
                 qualifier.",
            ));
        }
        (None, Some(asked)) => target.qualifier = Some(asked),
        _ => {}
    }
    Ok(target)
}

/// Serves a request routed to Lambda: counts it under `lambda`, then authenticates, applies the
/// quota and any fault, as for the other services.
pub(crate) async fn serve(
    shared: &Shared,
    method: &Method,
    uri: &axum::http::Uri,
    caller: Option<Caller>,
    refusal: Option<Refusal>,
    request_id: &str,
) -> Response {
    let routed = route(method, uri.path());
    let operation_name = routed.map_or("UnknownOperation", |(operation, _)| operation.name());
    let account = caller
        .as_ref()
        .map_or(UNKNOWN_ACCOUNT, |c| c.account.as_str());
    shared.count("lambda", operation_name, account);
    let Some(caller) = caller else {
        return LambdaError::unrecognized_client(refusal).into_response_with(request_id);
    };
    let Some((operation, encoded_name)) = routed else {
        return LambdaError::unknown_operation().into_response_with(request_id);
    };
    if !shared
        .admit(operation_name, &caller.account, &caller.region)
        .await
    {
        return LambdaError::too_many_requests().into_response_with(request_id);
    }
    let target = read_target(encoded_name, uri.query(), &caller);
    let fault = shared.take_fault("lambda", operation_name, &caller.account, &caller.region);
    match fault {
        Some(Fault::Delay(duration)) => tokio::time::sleep(duration).await,
        Some(Fault::Throttling) => {
            return LambdaError::too_many_requests().into_response_with(request_id);
        }
        Some(Fault::AccessDenied) => {
            let resource = match &target {
                Ok(target) => target.arn(),
                Err(_) => encoded_name.to_string(),
            };
            return LambdaError::access_denied(&caller, operation_name, &resource, true)
                .into_response_with(request_id);
        }
        Some(Fault::InternalError) => {
            return LambdaError::service_exception().into_response_with(request_id);
        }
        // Lambda's answers here list nothing, so the paging faults leave them as they are.
        Some(
            Fault::MalformedBody
            | Fault::RepeatNextToken
            | Fault::EndlessNextToken
            | Fault::DuplicateEntry,
        )
        | None => {}
    }
    let result = target.and_then(|target| answer(shared, &caller, operation, &target));
    match result {
        Ok(value) => {
            let mut text = value.to_string();
            if fault == Some(Fault::MalformedBody) {
                let mut cut = text.len() / 2;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            rest_json_response(StatusCode::OK, text, request_id)
        }
        Err(error) => error.into_response_with(request_id),
    }
}

fn answer(
    shared: &Shared,
    caller: &Caller,
    operation: Operation,
    target: &Target,
) -> Result<Value, LambdaError> {
    if target.account != caller.account {
        // Another account's function is readable only when its resource policy grants the
        // caller the action; the policies simulated grant at most `lambda:InvokeFunction`.
        return Err(LambdaError::access_denied(
            caller,
            operation.name(),
            &target.arn(),
            false,
        ));
    }
    if target.region != caller.region {
        return Err(LambdaError::not_found(format!(
            "Functions from '{}' are not reachable in this region ('{}')",
            target.region, caller.region
        )));
    }
    let world = shared.world();
    let function = world
        .lambda(&target.account, &target.region, &target.name)
        // Only `$LATEST` is simulated: no published versions, no aliases.
        .filter(|_| target.qualifier.as_deref().is_none_or(|q| q == LATEST))
        .ok_or_else(|| LambdaError::not_found(format!("Function not found: {}", target.arn())))?;
    let revision = revision_id(&target.account, &target.region, function);
    match operation {
        Operation::GetFunctionConfiguration => Ok(configuration(target, function, &revision)),
        Operation::GetPolicy => {
            let arn = lambda_arn(&target.account, &target.region, &function.name);
            let policy = match &function.policy {
                LambdaPolicy::None => {
                    return Err(LambdaError::not_found(
                        "The resource you requested does not exist.",
                    ));
                }
                LambdaPolicy::AllowSecretsManager => secrets_manager_policy(&arn),
                LambdaPolicy::Document(text) => text.clone(),
            };
            Ok(json!({ "Policy": policy, "RevisionId": revision }))
        }
    }
}

/// Changes with every change of the function, as AWS's does; `GetPolicy` shares it.
fn revision_id(account: &str, region: &str, function: &LambdaSpec) -> String {
    derived_uuid(&["revision", account, region, &format!("{function:?}")])
}

/// The policy `aws lambda add-permission --principal secretsmanager.amazonaws.com --action
/// lambda:InvokeFunction` leaves on a rotation function.
pub(crate) fn secrets_manager_policy(function_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [{
            "Sid": "SecretsManagerAccess",
            "Effect": "Allow",
            "Principal": { "Service": SECRETS_MANAGER_PRINCIPAL },
            "Action": "lambda:InvokeFunction",
            "Resource": function_arn,
        }],
    })
    .to_string()
}

/// `LastModified` is a string in Lambda's own format, not a timestamp.
fn last_modified(when: DateTime<Utc>) -> String {
    when.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn handler(runtime: &str) -> &'static str {
    if runtime.starts_with("python") {
        "lambda_function.lambda_handler"
    } else if runtime.starts_with("nodejs") {
        "index.handler"
    } else {
        "bootstrap"
    }
}

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn configuration(target: &Target, function: &LambdaSpec, revision: &str) -> Value {
    let account = &target.account;
    let region = &target.region;
    let name = &function.name;
    let mut entry = Map::new();
    entry.insert("FunctionName".into(), json!(name));
    entry.insert("FunctionArn".into(), json!(target.arn()));
    entry.insert("Runtime".into(), json!(function.runtime));
    let role = function
        .role
        .clone()
        .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/service-role/{name}-role"));
    entry.insert("Role".into(), json!(role));
    entry.insert("Handler".into(), json!(handler(&function.runtime)));
    entry.insert("CodeSize".into(), json!(2048));
    entry.insert("Description".into(), json!(""));
    entry.insert("Timeout".into(), json!(3));
    entry.insert("MemorySize".into(), json!(128));
    entry.insert(
        "LastModified".into(),
        json!(last_modified(function.last_modified)),
    );
    let sha = derived_chars(&["code", account, region, name], BASE64, 43);
    entry.insert("CodeSha256".into(), json!(format!("{sha}=")));
    entry.insert("Version".into(), json!(LATEST));
    entry.insert("TracingConfig".into(), json!({ "Mode": "PassThrough" }));
    entry.insert("RevisionId".into(), json!(revision));
    entry.insert("State".into(), json!(function.state.as_str()));
    if let Some(reason) = &function.state_reason {
        entry.insert("StateReason".into(), json!(reason));
    }
    if let Some(code) = &function.state_reason_code {
        entry.insert("StateReasonCode".into(), json!(code));
    }
    entry.insert(
        "LastUpdateStatus".into(),
        json!(function.last_update_status.as_str()),
    );
    if let Some(reason) = &function.last_update_status_reason {
        entry.insert("LastUpdateStatusReason".into(), json!(reason));
    }
    if let Some(code) = &function.last_update_status_reason_code {
        entry.insert("LastUpdateStatusReasonCode".into(), json!(code));
    }
    entry.insert("PackageType".into(), json!("Zip"));
    entry.insert("Architectures".into(), json!(["x86_64"]));
    entry.insert("EphemeralStorage".into(), json!({ "Size": 512 }));
    entry.insert(
        "SnapStart".into(),
        json!({ "ApplyOn": "None", "OptimizationStatus": "Off" }),
    );
    entry.insert(
        "LoggingConfig".into(),
        json!({ "LogFormat": "Text", "LogGroup": format!("/aws/lambda/{name}") }),
    );
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            account: "123456789012".into(),
            principal_arn: "arn:aws:iam::123456789012:user/simulator".into(),
            user_id: "AIDA".into(),
            region: "us-east-1".into(),
        }
    }

    fn target(account: &str, region: &str, name: &str, qualifier: Option<&str>) -> Target {
        Target {
            account: account.into(),
            region: region.into(),
            name: name.into(),
            qualifier: qualifier.map(str::to_string),
        }
    }

    #[test]
    fn every_form_of_function_name_is_read() {
        let here = |name, qualifier| target("123456789012", "us-east-1", name, qualifier);
        let cases = [
            ("rotate", here("rotate", None)),
            ("rotate:$LATEST", here("rotate", Some("$LATEST"))),
            ("rotate:live", here("rotate", Some("live"))),
            ("function:rotate", here("rotate", None)),
            ("123456789012:function:rotate", here("rotate", None)),
            (
                "222222222222:function:rotate:1",
                target("222222222222", "us-east-1", "rotate", Some("1")),
            ),
            (
                "arn:aws:lambda:eu-west-1:222222222222:function:rotate",
                target("222222222222", "eu-west-1", "rotate", None),
            ),
            (
                "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:r_1.x:v-2",
                target("123456789012", "us-gov-west-1", "r_1.x", Some("v-2")),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_function(text, &caller()).ok(),
                Some(expected),
                "{text}"
            );
        }
        for bad in [
            "",
            "a:b:c",
            "arn:aws:s3:::bucket",
            "has space",
            "arn:aws:lambda:us-east-1:123456789012:function:a:b:c",
        ] {
            assert_eq!(
                parse_function(bad, &caller()).err().map(|e| e.code),
                Some("ValidationException"),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_decode_and_route_by_method() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda").as_deref(),
            Some("arn:aws:lambda")
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%"), None);
        assert_eq!(
            route(&Method::GET, "/2015-03-31/functions/f/configuration"),
            Some((Operation::GetFunctionConfiguration, "f"))
        );
        assert_eq!(
            route(&Method::GET, "/2015-03-31/functions/f/policy"),
            Some((Operation::GetPolicy, "f"))
        );
        assert_eq!(
            route(&Method::PUT, "/2015-03-31/functions/f/configuration"),
            None
        );
        assert_eq!(route(&Method::GET, "/2015-03-31/functions//policy"), None);
        assert_eq!(route(&Method::GET, "/2015-03-31/functions/f"), None);
    }

    #[test]
    fn a_qualifier_in_the_name_must_match_the_query() {
        let read = |name: &str, query: Option<&str>| {
            read_target(name, query, &caller()).map(|t| t.qualifier)
        };
        assert_eq!(
            read("f", Some("Qualifier=%24LATEST")).ok(),
            Some(Some(LATEST.into()))
        );
        assert_eq!(
            read("f%3A1", Some("Qualifier=1")).ok(),
            Some(Some("1".into()))
        );
        assert_eq!(
            read("f%3A1", Some("Qualifier=2")).err().map(|e| e.code),
            Some("InvalidParameterValueException")
        );
        assert_eq!(
            read("f", Some("Qualifier=a%20b")).err().map(|e| e.code),
            Some("ValidationException")
        );
    }

    #[test]
    fn the_default_policy_lets_secrets_manager_invoke() -> Result<(), serde_json::Error> {
        let arn = lambda_arn("123456789012", "us-east-1", "rotate");
        let policy: Value = serde_json::from_str(&secrets_manager_policy(&arn))?;
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Principal"]["Service"], SECRETS_MANAGER_PRINCIPAL);
        assert_eq!(statement["Action"], "lambda:InvokeFunction");
        assert_eq!(statement["Resource"], arn.as_str());
        Ok(())
    }
}
