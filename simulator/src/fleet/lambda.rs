//! Lambda functions of the fleet: only what `GetFunctionConfiguration` and `GetPolicy` show.
//! Nothing is ever invoked.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The `State` of a function. A function is invocable only when `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum LambdaState {
    Pending,
    #[default]
    Active,
    Inactive,
    Failed,
}

impl LambdaState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Active => "Active",
            Self::Inactive => "Inactive",
            Self::Failed => "Failed",
        }
    }
}

/// The `LastUpdateStatus` of a function: whether its last code or configuration change took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum LastUpdateStatus {
    #[default]
    Successful,
    Failed,
    InProgress,
}

impl LastUpdateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::InProgress => "InProgress",
        }
    }
}

/// A function's resource-based policy, as `GetPolicy` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaPolicy {
    /// One statement letting `secretsmanager.amazonaws.com` call `lambda:InvokeFunction`, as
    /// `aws lambda add-permission` leaves it for a rotation function.
    AllowSecretsManager,
    /// No policy at all: `GetPolicy` answers `ResourceNotFoundException`.
    None,
    /// This policy document, verbatim; it must be JSON.
    Document(String),
}

/// The Service principal Secrets Manager invokes rotation functions as.
pub const SECRETS_MANAGER_PRINCIPAL: &str = "secretsmanager.amazonaws.com";

/// The runtime of a function whose spec names none.
pub const DEFAULT_RUNTIME: &str = "python3.12";

/// One Lambda function. Its ARN is `arn:aws:lambda:<region>:<account>:function:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaSpec {
    pub name: String,
    /// Any string: deprecated runtimes (`python3.7`, `nodejs12.x`) are what a check looks for.
    pub runtime: String,
    pub state: LambdaState,
    pub state_reason: Option<String>,
    pub state_reason_code: Option<String>,
    pub last_update_status: LastUpdateStatus,
    pub last_update_status_reason: Option<String>,
    pub last_update_status_reason_code: Option<String>,
    /// `None`: `arn:aws:iam::<account>:role/service-role/<name>-role`.
    pub role: Option<String>,
    pub policy: LambdaPolicy,
    pub last_modified: DateTime<Utc>,
}

impl LambdaSpec {
    /// An `Active` python3.12 function, last updated successfully now, that Secrets Manager may
    /// invoke.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            runtime: DEFAULT_RUNTIME.to_string(),
            state: LambdaState::Active,
            state_reason: None,
            state_reason_code: None,
            last_update_status: LastUpdateStatus::Successful,
            last_update_status_reason: None,
            last_update_status_reason_code: None,
            role: None,
            policy: LambdaPolicy::AllowSecretsManager,
            last_modified: Utc::now(),
        }
    }

    pub fn runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = runtime.into();
        self
    }

    pub fn state(mut self, state: LambdaState) -> Self {
        self.state = state;
        self
    }

    /// `StateReason` and `StateReasonCode` (such as `InvalidSecurityGroup`), for a function
    /// that is not `Active`.
    pub fn state_reason(mut self, reason: impl Into<String>, code: Option<&str>) -> Self {
        self.state_reason = Some(reason.into());
        self.state_reason_code = code.map(str::to_string);
        self
    }

    pub fn last_update_status(mut self, status: LastUpdateStatus) -> Self {
        self.last_update_status = status;
        self
    }

    /// `LastUpdateStatusReason` and `LastUpdateStatusReasonCode`.
    pub fn last_update_status_reason(
        mut self,
        reason: impl Into<String>,
        code: Option<&str>,
    ) -> Self {
        self.last_update_status_reason = Some(reason.into());
        self.last_update_status_reason_code = code.map(str::to_string);
        self
    }

    pub fn role(mut self, arn: impl Into<String>) -> Self {
        self.role = Some(arn.into());
        self
    }

    pub fn policy(mut self, policy: LambdaPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Without a resource policy: `GetPolicy` answers `ResourceNotFoundException`.
    pub fn without_policy(self) -> Self {
        self.policy(LambdaPolicy::None)
    }

    pub fn last_modified(mut self, when: DateTime<Utc>) -> Self {
        self.last_modified = when;
        self
    }
}

/// A function together with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedLambda {
    pub account: String,
    pub region: String,
    pub lambda: LambdaSpec,
}

/// The ARN AWS gives a function, without a qualifier.
pub fn lambda_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// Lambda allows 1 to 64 ASCII letters, digits, `-` and `_` in a function name.
pub(crate) fn check_function_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 {
        Err(format!("function name `{name}` must be 1 to 64 characters"))
    } else if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        Err(format!(
            "function name `{name}` has `{bad}`; only ASCII letters, digits, - and _ are allowed"
        ))
    } else {
        Ok(())
    }
}

/// Checks what a fleet or the handle is given: the name, and that a literal policy is JSON.
pub(crate) fn check_lambda(spec: &LambdaSpec) -> Result<(), String> {
    check_function_name(&spec.name)?;
    if let LambdaPolicy::Document(text) = &spec.policy
        && serde_json::from_str::<serde_json::Value>(text).is_err()
    {
        return Err(format!(
            "function {}: the policy is not a JSON document",
            spec.name
        ));
    }
    Ok(())
}
