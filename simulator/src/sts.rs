//! STS over the awsQuery protocol: form-encoded requests, XML answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};

use crate::caller::Caller;
use crate::ids::derived_chars;
use crate::state::{AssumeRoleCall, Fault, Refusal, Shared, UNKNOWN_ACCOUNT};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const DEFAULT_DURATION_SECONDS: i64 = 3600;

struct XmlError {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
}

impl XmlError {
    fn sender(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: "Sender",
            code,
            message: message.into(),
        }
    }

    fn into_response_with(self, request_id: &str) -> Response {
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.kind,
            self.code,
            escape(&self.message)
        );
        xml_response(self.status, body, request_id)
    }
}

pub(crate) fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `arn:aws:iam::<account>:role/<path/><name>` -> (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
    crate::fleet::check_account_id(account).ok()?;
    Some((account, name))
}

pub(crate) async fn handle(
    shared: &Shared,
    caller: Option<Caller>,
    refusal: Option<Refusal>,
    region: &str,
    body: &[u8],
    request_id: &str,
) -> Response {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let Some(action) = param("Action") else {
        let error = XmlError::sender(StatusCode::BAD_REQUEST, "MissingAction", "Missing Action");
        return error.into_response_with(request_id);
    };
    let role_arn = param("RoleArn");
    // AssumeRole is counted and faulted by the account it enters, so tests can aim at one target.
    let target_account = if action == "AssumeRole" {
        role_arn
            .as_deref()
            .and_then(parse_role_arn)
            .map(|(account, _)| account.to_string())
    } else {
        None
    };
    let account = target_account
        .clone()
        .or_else(|| caller.as_ref().map(|c| c.account.clone()))
        .unwrap_or_else(|| UNKNOWN_ACCOUNT.to_string());
    shared.count("sts", &action, &account);

    let Some(caller) = caller else {
        let error = match refusal {
            Some(Refusal::Expired) => XmlError::sender(
                StatusCode::FORBIDDEN,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
            _ => XmlError::sender(
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
        };
        return error.into_response_with(request_id);
    };
    // STS throttles the calling account, whichever role it assumes.
    if !shared.admit(&action, &caller.account, region).await {
        return XmlError::sender(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
            .into_response_with(request_id);
    }
    match shared.take_fault("sts", &action, &account, region) {
        Some(Fault::Delay(duration)) => tokio::time::sleep(duration).await,
        Some(Fault::Throttling) => {
            return XmlError::sender(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
                .into_response_with(request_id);
        }
        Some(Fault::AccessDenied) => {
            let message = format!(
                "User: {} is not authorized to perform: sts:{action}",
                caller.principal_arn
            );
            return XmlError::sender(StatusCode::FORBIDDEN, "AccessDenied", message)
                .into_response_with(request_id);
        }
        Some(Fault::InternalError) => {
            return XmlError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "Receiver",
                code: "InternalFailure",
                message: "An internal error occurred.".to_string(),
            }
            .into_response_with(request_id);
        }
        // Answer-shaping faults are for the JSON listings.
        Some(
            Fault::RepeatNextToken
            | Fault::EndlessNextToken
            | Fault::DuplicateEntry
            | Fault::MalformedBody,
        )
        | None => {}
    }

    let answer = match action.as_str() {
        "GetCallerIdentity" => Ok(format!(
            "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    \
             <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
             </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  \
             </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
            escape(&caller.principal_arn),
            escape(&caller.user_id),
            caller.account
        )),
        "AssumeRole" => assume_role(
            shared,
            &caller,
            role_arn,
            param("RoleSessionName"),
            param("ExternalId"),
            param("DurationSeconds"),
            request_id,
        ),
        other => Err(XmlError::sender(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    };
    match answer {
        Ok(body) => xml_response(StatusCode::OK, body, request_id),
        Err(error) => error.into_response_with(request_id),
    }
}

fn assume_role(
    shared: &Shared,
    caller: &Caller,
    role_arn: Option<String>,
    session_name: Option<String>,
    external_id: Option<String>,
    duration: Option<String>,
    request_id: &str,
) -> Result<String, XmlError> {
    let validation =
        |message: String| XmlError::sender(StatusCode::BAD_REQUEST, "ValidationError", message);
    let now = Utc::now();
    let duration_seconds = duration
        .as_deref()
        .map(|d| {
            d.parse::<i64>()
                .map_err(|_| validation(format!("DurationSeconds `{d}` is not a number")))
        })
        .transpose()?;
    let mut call = AssumeRoleCall {
        caller_account: caller.account.clone(),
        role_arn: role_arn.clone().unwrap_or_default(),
        role_session_name: session_name.clone(),
        external_id: external_id.clone(),
        duration_seconds,
        granted: false,
        at: now,
    };
    let outcome = (|| {
        let Some(role_arn) = role_arn.as_deref() else {
            return Err(validation(
                "1 validation error detected: Value null at 'roleArn' failed to satisfy \
                 constraint: Member must not be null"
                    .to_string(),
            ));
        };
        let Some(session_name) = session_name.as_deref() else {
            return Err(validation(
                "1 validation error detected: Value null at 'roleSessionName' failed to satisfy \
                 constraint: Member must not be null"
                    .to_string(),
            ));
        };
        if !(2..=64).contains(&session_name.len()) {
            return Err(validation(format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed \
                 to satisfy constraint: Member must have length between 2 and 64"
            )));
        }
        if !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed \
                 to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )));
        }
        let seconds = duration_seconds.unwrap_or(DEFAULT_DURATION_SECONDS);
        if !(900..=43200).contains(&seconds) {
            return Err(validation(format!(
                "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to \
                 satisfy constraint: Member must have value between 900 and 43200"
            )));
        }
        let denied = || {
            XmlError::sender(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!(
                    "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                    caller.principal_arn
                ),
            )
        };
        let Some((account, role_name)) = parse_role_arn(role_arn) else {
            return Err(validation(format!("{role_arn} is invalid")));
        };
        {
            let world = shared.world();
            let Some(target) = world.accounts.get(account) else {
                return Err(denied());
            };
            let external_id_ok = target
                .external_id
                .as_deref()
                .is_none_or(|required| external_id.as_deref() == Some(required));
            if target.deny_assume_role || !external_id_ok {
                return Err(denied());
            }
        }
        let role_id = format!(
            "AROA{}",
            derived_chars(&["role", role_arn], b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)
        );
        let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}");
        let user_id = format!("{role_id}:{session_name}");
        let expires = now + Duration::seconds(seconds);
        let credentials = shared.issue(account, assumed_arn.clone(), user_id.clone(), expires);
        Ok(format!(
            "<AssumeRoleResponse xmlns=\"{NAMESPACE}\">\n  <AssumeRoleResult>\n    <Credentials>\n      \
             <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      \
             <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    \
             <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    \
             </AssumedRoleUser>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    \
             <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
            credentials.access_key_id,
            escape(&credentials.secret_access_key),
            escape(credentials.session_token.as_deref().unwrap_or_default()),
            expires.format("%Y-%m-%dT%H:%M:%SZ"),
            escape(&user_id),
            escape(&assumed_arn),
        ))
    })();
    call.granted = outcome.is_ok();
    shared.record_assume_role(call);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account_and_role() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::111111111111:role/reader"),
            Some(("111111111111", "reader"))
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::111111111111:role/team/a/reader"),
            Some(("111111111111", "reader"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::111:role/reader"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::111111111111:user/bob"), None);
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
