//! Systems Manager Parameter Store parameters of the fleet: only what `DescribeParameters` and
//! `ListTagsForResource` show. There are no values: the simulator never serves one.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The key AWS encrypts a `SecureString` with when `PutParameter` names none.
pub const DEFAULT_PARAMETER_KEY: &str = "alias/aws/ssm";

/// The `Type` of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ParameterType {
    String,
    StringList,
    #[default]
    SecureString,
}

impl ParameterType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::StringList => "StringList",
            Self::SecureString => "SecureString",
        }
    }
}

/// The `Tier` of a parameter. Only `Advanced` parameters carry policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ParameterTier {
    #[default]
    Standard,
    Advanced,
    #[serde(rename = "Intelligent-Tiering")]
    IntelligentTiering,
}

impl ParameterTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "Standard",
            Self::Advanced => "Advanced",
            Self::IntelligentTiering => "Intelligent-Tiering",
        }
    }
}

/// The unit of a notification policy's `Before` or `After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum PolicyUnit {
    #[default]
    Days,
    Hours,
}

impl PolicyUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Days => "Days",
            Self::Hours => "Hours",
        }
    }
}

/// The `PolicyStatus` AWS reports for a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PolicyStatus {
    Pending,
    Finished,
    InProgress,
    Failed,
}

impl PolicyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Finished => "Finished",
            Self::InProgress => "InProgress",
            Self::Failed => "Failed",
        }
    }
}

/// What a parameter policy asks of Parameter Store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyKind {
    /// Deletes the parameter at this time.
    Expiration(DateTime<Utc>),
    /// Notifies EventBridge this long before the expiration.
    ExpirationNotification { before: u32, unit: PolicyUnit },
    /// Notifies EventBridge when the parameter has not changed for this long.
    NoChangeNotification { after: u32, unit: PolicyUnit },
}

/// One parameter policy, served as AWS stores it: its JSON text, its type and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterPolicy {
    pub kind: PolicyKind,
    /// `None`: `Pending`, or for an expiration whose time has passed `Finished`.
    pub status: Option<PolicyStatus>,
}

impl ParameterPolicy {
    pub fn expiration(at: DateTime<Utc>) -> Self {
        Self {
            kind: PolicyKind::Expiration(at),
            status: None,
        }
    }

    pub fn expiration_notification(before: u32, unit: PolicyUnit) -> Self {
        Self {
            kind: PolicyKind::ExpirationNotification { before, unit },
            status: None,
        }
    }

    pub fn no_change_notification(after: u32, unit: PolicyUnit) -> Self {
        Self {
            kind: PolicyKind::NoChangeNotification { after, unit },
            status: None,
        }
    }

    pub fn status(mut self, status: PolicyStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// `PolicyType`.
    pub fn policy_type(&self) -> &'static str {
        match self.kind {
            PolicyKind::Expiration(_) => "Expiration",
            PolicyKind::ExpirationNotification { .. } => "ExpirationNotification",
            PolicyKind::NoChangeNotification { .. } => "NoChangeNotification",
        }
    }

    /// `PolicyText`: the policy document as `PutParameter --policies` takes it, keys in the order
    /// AWS's examples write them and attribute values as strings, the way AWS echoes them.
    /// Written by hand because `serde_json` would sort the keys.
    pub fn text(&self) -> String {
        let attributes = match &self.kind {
            PolicyKind::Expiration(at) => format!(r#"{{"Timestamp":"{}"}}"#, policy_timestamp(*at)),
            PolicyKind::ExpirationNotification { before, unit } => {
                format!(r#"{{"Before":"{before}","Unit":"{}"}}"#, unit.as_str())
            }
            PolicyKind::NoChangeNotification { after, unit } => {
                format!(r#"{{"After":"{after}","Unit":"{}"}}"#, unit.as_str())
            }
        };
        format!(
            r#"{{"Type":"{}","Version":"1.0","Attributes":{attributes}}}"#,
            self.policy_type()
        )
    }

    /// `PolicyStatus` at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> PolicyStatus {
        match (self.status, &self.kind) {
            (Some(status), _) => status,
            (None, PolicyKind::Expiration(at)) if *at <= now => PolicyStatus::Finished,
            (None, _) => PolicyStatus::Pending,
        }
    }
}

/// `2026-12-31T00:00:00.000Z`, the form the Parameter Store console and CLI write.
fn policy_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One parameter's metadata. A field left `None` is left out of the answers, as AWS does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSpec {
    /// `/a/b` (a path) or `a` (plain).
    pub name: String,
    pub parameter_type: ParameterType,
    /// `SecureString` only; `None` is [`DEFAULT_PARAMETER_KEY`]. An alias, key id or key ARN.
    pub key_id: Option<String>,
    pub tier: ParameterTier,
    pub last_modified: DateTime<Utc>,
    /// `None`: `arn:aws:iam::<account>:user/simulator`, the base credentials' user.
    pub last_modified_user: Option<String>,
    pub description: Option<String>,
    pub version: i64,
    /// `text`, `aws:ec2:image` or `aws:ssm:integration`.
    pub data_type: String,
    pub allowed_pattern: Option<String>,
    /// In the order AWS returns them.
    pub tags: Vec<(String, String)>,
    pub policies: Vec<ParameterPolicy>,
}

impl ParameterSpec {
    /// A `Standard` `SecureString` on the AWS managed key, version 1, modified now.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            parameter_type: ParameterType::SecureString,
            key_id: None,
            tier: ParameterTier::Standard,
            last_modified: Utc::now(),
            last_modified_user: None,
            description: None,
            version: 1,
            data_type: "text".to_string(),
            allowed_pattern: None,
            tags: Vec::new(),
            policies: Vec::new(),
        }
    }

    pub fn parameter_type(mut self, parameter_type: ParameterType) -> Self {
        self.parameter_type = parameter_type;
        self
    }

    /// A plain `String` (no key).
    pub fn string(self) -> Self {
        self.parameter_type(ParameterType::String)
    }

    /// A `StringList` (no key).
    pub fn string_list(self) -> Self {
        self.parameter_type(ParameterType::StringList)
    }

    /// The KMS key of a `SecureString`: an alias, a key id or a key ARN.
    pub fn key_id(mut self, key: impl Into<String>) -> Self {
        self.key_id = Some(key.into());
        self
    }

    pub fn tier(mut self, tier: ParameterTier) -> Self {
        self.tier = tier;
        self
    }

    pub fn advanced(self) -> Self {
        self.tier(ParameterTier::Advanced)
    }

    pub fn last_modified(mut self, when: DateTime<Utc>) -> Self {
        self.last_modified = when;
        self
    }

    pub fn last_modified_days_ago(self, days: i64) -> Self {
        self.last_modified(Utc::now() - chrono::Duration::days(days))
    }

    pub fn last_modified_user(mut self, arn: impl Into<String>) -> Self {
        self.last_modified_user = Some(arn.into());
        self
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    pub fn data_type(mut self, data_type: impl Into<String>) -> Self {
        self.data_type = data_type.into();
        self
    }

    pub fn allowed_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.allowed_pattern = Some(pattern.into());
        self
    }

    /// Adds a tag, replacing the value of an existing tag with the same key.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.tags.iter_mut().find(|(existing, _)| *existing == key) {
            Some(tag) => tag.1 = value,
            None => self.tags.push((key, value)),
        }
        self
    }

    /// Adds a policy; the parameter must be `Advanced`.
    pub fn policy(mut self, policy: ParameterPolicy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds an `Expiration` policy at `at`; the parameter must be `Advanced`.
    pub fn expires(self, at: DateTime<Utc>) -> Self {
        self.policy(ParameterPolicy::expiration(at))
    }

    /// The key `DescribeParameters` names: `None` for `String` and `StringList`.
    pub fn effective_key_id(&self) -> Option<&str> {
        (self.parameter_type == ParameterType::SecureString)
            .then(|| self.key_id.as_deref().unwrap_or(DEFAULT_PARAMETER_KEY))
    }
}

/// A parameter together with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedParameter {
    pub account: String,
    pub region: String,
    pub parameter: ParameterSpec,
}

/// The ARN AWS gives a parameter: `/a/b` is `...:parameter/a/b` and `a` is `...:parameter/a`.
pub fn parameter_arn(account: &str, region: &str, name: &str) -> String {
    let path = name.strip_prefix('/').unwrap_or(name);
    format!("arn:aws:ssm:{region}:{account}:parameter/{path}")
}

/// Longest name the API model allows.
const MAX_NAME_LEN: usize = 2048;
/// Deepest hierarchy Parameter Store allows.
const MAX_LEVELS: usize = 15;
const DATA_TYPES: [&str; 3] = ["text", "aws:ec2:image", "aws:ssm:integration"];

/// Parameter Store allows 1 to 2048 of ASCII letters, digits and `_.-`, with `/` only between the
/// levels of a path that starts with `/`, at most 15 levels, and no `aws` or `ssm` prefix (those
/// are AWS's own namespaces).
pub(crate) fn check_parameter_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "parameter name `{}` must be 1 to {MAX_NAME_LEN} characters",
            shortened(name)
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "parameter name `{}` has `{bad}`; only ASCII letters, digits and _.-/ are allowed",
            shortened(name)
        ));
    }
    let bare = name.strip_prefix('/').unwrap_or(name);
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(format!(
                "parameter name `{}` is a path, which must start with /",
                shortened(name)
            ));
        }
        if bare.is_empty() || bare.split('/').any(str::is_empty) {
            return Err(format!(
                "parameter name `{}` has an empty level",
                shortened(name)
            ));
        }
        let levels = bare.split('/').count();
        if levels > MAX_LEVELS {
            return Err(format!(
                "parameter name `{}` has {levels} levels; at most {MAX_LEVELS} are allowed",
                shortened(name)
            ));
        }
    }
    let lower = bare.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(format!(
            "parameter name `{}` starts with aws or ssm, which AWS reserves",
            shortened(name)
        ));
    }
    Ok(())
}

/// A name cut for an error message: a 2,000-character name helps no one.
fn shortened(name: &str) -> String {
    match name.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &name[..cut]),
        None => name.to_string(),
    }
}

/// Checks what a fleet or the handle is given: the name, the key, the data type, the version and
/// that policies sit on an `Advanced` parameter. Each message starts with the field at fault.
pub(crate) fn check_parameter(spec: &ParameterSpec) -> Result<(), String> {
    check_parameter_name(&spec.name).map_err(|e| format!("name: {e}"))?;
    if spec.key_id.is_some() && spec.parameter_type != ParameterType::SecureString {
        return Err(format!(
            "key_id: only SecureString parameters have a key, not {}",
            spec.parameter_type.as_str()
        ));
    }
    if spec.key_id.as_deref().is_some_and(str::is_empty) {
        return Err("key_id: must not be empty".to_string());
    }
    if !DATA_TYPES.contains(&spec.data_type.as_str()) {
        return Err(format!(
            "data_type: `{}` is not one of {}",
            spec.data_type,
            DATA_TYPES.join(", ")
        ));
    }
    if spec.version < 1 {
        return Err(format!("version: {} must be 1 or more", spec.version));
    }
    if !spec.policies.is_empty() && spec.tier != ParameterTier::Advanced {
        return Err(format!(
            "policies: only Advanced parameters have policies, not {}",
            spec.tier.as_str()
        ));
    }
    let expirations = spec
        .policies
        .iter()
        .filter(|p| matches!(p.kind, PolicyKind::Expiration(_)))
        .count();
    if expirations > 1 {
        return Err("policies: at most one Expiration policy is allowed".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_parameter_stores_rules() {
        for good in ["a", "/a", "/a/b/c", "db.password-1_x", "/team/app/db.url"] {
            assert_eq!(check_parameter_name(good), Ok(()), "{good}");
        }
        let deep = format!("/{}", vec!["l"; 16].join("/"));
        let long = "a".repeat(2049);
        for (bad, expected) in [
            ("", "must be 1 to 2048"),
            (long.as_str(), "must be 1 to 2048"),
            ("a b", "has ` `"),
            ("a/b", "must start with /"),
            ("/a//b", "empty level"),
            ("/a/", "empty level"),
            ("/", "empty level"),
            (deep.as_str(), "16 levels"),
            ("/aws/x", "aws or ssm"),
            ("SSM-param", "aws or ssm"),
        ] {
            let error = check_parameter_name(bad).err().unwrap_or_default();
            assert!(error.contains(expected), "{bad}: {error}");
        }
        let fifteen = format!("/{}", vec!["l"; 15].join("/"));
        assert_eq!(check_parameter_name(&fifteen), Ok(()));
    }

    #[test]
    fn arns_drop_the_leading_slash_of_a_path() {
        assert_eq!(
            parameter_arn("111111111111", "us-east-1", "/a/b"),
            "arn:aws:ssm:us-east-1:111111111111:parameter/a/b"
        );
        assert_eq!(
            parameter_arn("111111111111", "us-east-1", "a"),
            "arn:aws:ssm:us-east-1:111111111111:parameter/a"
        );
    }

    #[test]
    fn policies_are_served_as_aws_writes_them() -> Result<(), serde_json::Error> {
        let at = DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let expiration = ParameterPolicy::expiration(at);
        assert_eq!(
            expiration.text(),
            r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-31T00:00:00.000Z"}}"#
        );
        assert_eq!(
            expiration.status_at(at - chrono::Duration::days(1)),
            PolicyStatus::Pending
        );
        assert_eq!(expiration.status_at(at), PolicyStatus::Finished);
        let notice = ParameterPolicy::no_change_notification(20, PolicyUnit::Days);
        let text: serde_json::Value = serde_json::from_str(&notice.text())?;
        assert_eq!(text["Attributes"]["After"], "20");
        assert_eq!(notice.policy_type(), "NoChangeNotification");
        Ok(())
    }

    #[test]
    fn keys_types_and_policies_are_checked() {
        let error = |spec: ParameterSpec| check_parameter(&spec).err().unwrap_or_default();
        assert!(
            error(ParameterSpec::new("a").string().key_id("alias/x"))
                .starts_with("key_id: only SecureString")
        );
        assert!(
            error(ParameterSpec::new("a").expires(Utc::now()))
                .starts_with("policies: only Advanced")
        );
        assert!(error(ParameterSpec::new("a").data_type("json")).contains("data_type"));
        assert!(error(ParameterSpec::new("a").version(0)).starts_with("version: 0"));
        assert_eq!(
            check_parameter(&ParameterSpec::new("a").advanced().expires(Utc::now())),
            Ok(())
        );
        assert_eq!(
            ParameterSpec::new("a").effective_key_id(),
            Some(DEFAULT_PARAMETER_KEY)
        );
        assert_eq!(
            ParameterSpec::new("a").string_list().effective_key_id(),
            None
        );
    }
}
