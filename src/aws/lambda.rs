//! Rotation Lambdas: `GetFunctionConfiguration` and `GetPolicy`, the two
//! reads `rotation_lambda` needs of a function. `GetFunctionConfiguration`
//! also answers with the function's environment variables, which may hold
//! credentials: only the fields the check needs are taken from the answer,
//! and the rest is dropped unread, never kept, logged or exported.

use std::future::Future;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use serde_json::Value;

use super::{ClientFactory, SourceError, Target, classify_sdk_error};
use crate::inventory::{FunctionFacts, LambdaFacts, MAX_FUNCTION_TEXT_BYTES, bounded_text};

/// The principal rotation runs as.
pub const SECRETS_MANAGER_PRINCIPAL: &str = "secretsmanager.amazonaws.com";

/// The largest resource policy read. Lambda caps a function's policy at
/// 20 KB; a larger answer is not one.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Statements read from one policy. Lambda's size cap allows a few hundred;
/// the bound only stops a hostile answer from costing more.
pub const MAX_POLICY_STATEMENTS: usize = 1_000;

/// The Lambda seam: what the source reads of one function, in the account
/// of `reader` (its credentials) and the function's own region.
pub trait LambdaApi: Send + Sync + 'static {
    /// The function's configuration; `None` when it does not exist.
    fn function_configuration(
        &self,
        reader: &Target,
        function_arn: &str,
    ) -> impl Future<Output = Result<Option<FunctionFacts>, SourceError>> + Send;

    /// The function's resource policy document; `None` when it has none.
    fn function_policy(
        &self,
        reader: &Target,
        function_arn: &str,
    ) -> impl Future<Output = Result<Option<String>, SourceError>> + Send;
}

/// Whether an SDK error is Lambda's answer that the resource does not exist.
fn is_not_found(err: &impl ProvideErrorMetadata) -> bool {
    err.code() == Some("ResourceNotFoundException")
}

fn kept(text: Option<&str>) -> Option<String> {
    text.map(|text| bounded_text(text, MAX_FUNCTION_TEXT_BYTES).to_owned())
}

impl LambdaApi for ClientFactory {
    async fn function_configuration(
        &self,
        reader: &Target,
        function_arn: &str,
    ) -> Result<Option<FunctionFacts>, SourceError> {
        let answer = self
            .lambda(reader)
            .get_function_configuration()
            .function_name(function_arn)
            .send()
            .await;
        let config = match answer {
            Ok(config) => config,
            Err(err) if err.as_service_error().is_some_and(is_not_found) => return Ok(None),
            Err(err) => return Err(classify_sdk_error(&err)),
        };
        Ok(Some(FunctionFacts {
            state: kept(config.state().map(|state| state.as_str())),
            state_reason: kept(config.state_reason()),
            last_update_status: kept(config.last_update_status().map(|status| status.as_str())),
            last_update_status_reason: kept(config.last_update_status_reason()),
            runtime: kept(config.runtime().map(|runtime| runtime.as_str())),
            secrets_manager_may_invoke: false,
        }))
    }

    async fn function_policy(
        &self,
        reader: &Target,
        function_arn: &str,
    ) -> Result<Option<String>, SourceError> {
        let answer = self
            .lambda(reader)
            .get_policy()
            .function_name(function_arn)
            .send()
            .await;
        match answer {
            Ok(policy) => Ok(policy.policy().map(str::to_owned)),
            Err(err) if err.as_service_error().is_some_and(is_not_found) => Ok(None),
            Err(err) => Err(classify_sdk_error(&err)),
        }
    }
}

/// Reads one function: its configuration, then (when it exists) its
/// policy. Two requests, or one for a missing function; `turn` is awaited
/// before each.
pub async fn read_function<A: LambdaApi, F: Future<Output = ()>>(
    api: &A,
    reader: &Target,
    function_arn: &str,
    mut turn: impl FnMut() -> F,
) -> Result<LambdaFacts, SourceError> {
    turn().await;
    let Some(mut facts) = api.function_configuration(reader, function_arn).await? else {
        return Ok(LambdaFacts::Missing);
    };
    turn().await;
    facts.secrets_manager_may_invoke = match api.function_policy(reader, function_arn).await? {
        None => false,
        Some(document) => secrets_manager_may_invoke(&document).map_err(|problem| {
            SourceError::invalid_response(format!("GetPolicy of {function_arn}: {problem}"))
        })?,
    };
    Ok(LambdaFacts::Found(facts))
}

/// Whether a function's resource policy lets Secrets Manager invoke it: an
/// `Allow` of `lambda:InvokeFunction` (or a wildcard covering it) to the
/// service principal or to everyone, and no unconditional `Deny` of it.
/// Conditions on an `Allow` (`AWS:SourceAccount`, `AWS:SourceArn`) are not
/// evaluated: they narrow which secrets may invoke, and the rotation of a
/// secret they exclude fails with an error CloudTrail records. Statements
/// with `NotPrincipal` or `NotAction` grant nothing here.
pub fn secrets_manager_may_invoke(document: &str) -> Result<bool, String> {
    if document.len() > MAX_POLICY_BYTES {
        return Err(format!(
            "the policy is {} bytes, more than the {MAX_POLICY_BYTES} read",
            document.len()
        ));
    }
    let policy: Value =
        serde_json::from_str(document).map_err(|err| format!("the policy is not JSON: {err}"))?;
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(statements)) => statements.iter().collect(),
        Some(statement @ Value::Object(_)) => vec![statement],
        Some(_) => return Err("Statement is neither a list nor an object".to_owned()),
        None => Vec::new(),
    };
    if statements.len() > MAX_POLICY_STATEMENTS {
        return Err(format!(
            "the policy has {} statements, more than the {MAX_POLICY_STATEMENTS} read",
            statements.len()
        ));
    }
    let mut allowed = false;
    for statement in statements {
        if statement.get("NotPrincipal").is_some() || statement.get("NotAction").is_some() {
            continue;
        }
        let covers =
            names_principal(statement.get("Principal")) && names_invoke(statement.get("Action"));
        if !covers {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Allow") => allowed = true,
            Some("Deny") if statement.get("Condition").is_none() => return Ok(false),
            _ => {}
        }
    }
    Ok(allowed)
}

/// Every string of a value that is a string or a list of strings.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn names_principal(principal: Option<&Value>) -> bool {
    match principal {
        Some(Value::String(everyone)) => everyone == "*",
        Some(Value::Object(kinds)) => {
            kinds
                .get("Service")
                .is_some_and(|services| strings(services).contains(&SECRETS_MANAGER_PRINCIPAL))
                || kinds
                    .get("AWS")
                    .is_some_and(|accounts| strings(accounts).contains(&"*"))
        }
        _ => false,
    }
}

/// IAM action names match case-insensitively, with `*` as a wildcard.
fn names_invoke(action: Option<&Value>) -> bool {
    action.is_some_and(|action| {
        strings(action)
            .into_iter()
            .any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), "lambda:invokefunction"))
    })
}

/// `pattern` with `*` (any run) and `?` (one character) against `text`,
/// in time linear in their lengths' product at worst.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0usize, 0usize);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                resume = Some((p, t));
                p = p.saturating_add(1);
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p = p.saturating_add(1);
                t = t.saturating_add(1);
            }
            _ => match resume {
                Some((star, matched)) => {
                    p = star.saturating_add(1);
                    t = matched.saturating_add(1);
                    resume = Some((star, t));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The account and region of a function ARN
/// (`arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`).
pub fn function_location(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(7, ':');
    let (Some("arn"), Some(_partition), Some("lambda"), Some(region), Some(account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let valid_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let valid_region = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let names_function = parts.next() == Some("function")
        && parts
            .next()
            .and_then(|name| name.split(':').next())
            .is_some_and(|name| !name.is_empty());
    (names_function && valid_account && valid_region).then_some((account, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRANT: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"SecretsManagerAccess","Effect":"Allow","Principal":{"Service":"secretsmanager.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:111111111111:function:rotate","Condition":{"StringEquals":{"AWS:SourceAccount":"111111111111"}}}]}"#;

    #[test]
    fn the_usual_grant_allows_and_other_principals_do_not() {
        assert_eq!(secrets_manager_may_invoke(GRANT), Ok(true));
        let events = GRANT.replace("secretsmanager.amazonaws.com", "events.amazonaws.com");
        assert_eq!(secrets_manager_may_invoke(&events), Ok(false));
        let other_action = GRANT.replace("lambda:InvokeFunction", "lambda:GetFunction");
        assert_eq!(secrets_manager_may_invoke(&other_action), Ok(false));
    }

    #[test]
    fn wildcards_lists_and_everyone_count() {
        for (principal, action) in [
            (
                r#"{"Service":["events.amazonaws.com","secretsmanager.amazonaws.com"]}"#,
                r#""lambda:*""#,
            ),
            (r#""*""#, r#"["lambda:Invoke*"]"#),
            (r#"{"AWS":"*"}"#, r#""*""#),
            (
                r#"{"Service":"secretsmanager.amazonaws.com"}"#,
                r#""LAMBDA:invokefunction""#,
            ),
        ] {
            let policy = format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{principal},"Action":{action}}}}}"#
            );
            assert_eq!(secrets_manager_may_invoke(&policy), Ok(true), "{policy}");
        }
    }

    #[test]
    fn an_unconditional_deny_wins_and_not_elements_grant_nothing() {
        let denied = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"Service":"secretsmanager.amazonaws.com"},"Action":"lambda:InvokeFunction"},
            {"Effect":"Deny","Principal":"*","Action":"lambda:*"}]}"#;
        assert_eq!(secrets_manager_may_invoke(denied), Ok(false));
        let not_principal = r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"Service":"x"},"Action":"lambda:InvokeFunction"}}"#;
        assert_eq!(secrets_manager_may_invoke(not_principal), Ok(false));
        assert_eq!(
            secrets_manager_may_invoke(r#"{"Version":"2012-10-17"}"#),
            Ok(false)
        );
    }

    #[test]
    fn malformed_or_oversized_policies_are_errors() {
        assert!(secrets_manager_may_invoke("not json").is_err());
        assert!(secrets_manager_may_invoke(r#"{"Statement":"x"}"#).is_err());
        let huge = format!(
            r#"{{"Statement":[],"Pad":"{}"}}"#,
            "x".repeat(MAX_POLICY_BYTES)
        );
        assert!(secrets_manager_may_invoke(&huge).is_err());
    }

    #[test]
    fn wildcard_matching() {
        assert!(wildcard_match("lambda:*", "lambda:invokefunction"));
        assert!(wildcard_match("*function", "lambda:invokefunction"));
        assert!(wildcard_match(
            "lambda:invoke?unction",
            "lambda:invokefunction"
        ));
        assert!(!wildcard_match("lambda:invoke", "lambda:invokefunction"));
        assert!(!wildcard_match("s3:*", "lambda:invokefunction"));
        assert!(wildcard_match("**", ""));
    }

    #[test]
    fn function_locations() {
        assert_eq!(
            function_location("arn:aws:lambda:eu-west-1:111111111111:function:rotate"),
            Some(("111111111111", "eu-west-1"))
        );
        assert_eq!(
            function_location("arn:aws-us-gov:lambda:us-gov-west-1:222222222222:function:f:live"),
            Some(("222222222222", "us-gov-west-1"))
        );
        for bad in [
            "",
            "rotate",
            "arn:aws:lambda:eu-west-1:1111:function:rotate",
            "arn:aws:s3:eu-west-1:111111111111:function:rotate",
            "arn:aws:lambda:eu-west-1:111111111111:layer:x",
            "arn:aws:lambda:EU:111111111111:function:x",
            "arn:aws:lambda:eu-west-1:111111111111:function",
            "arn:aws:lambda:eu-west-1:111111111111:function:",
            "arn:aws:lambda:eu-west-1:111111111111:function::1",
        ] {
            assert_eq!(function_location(bad), None, "{bad}");
        }
    }
}
