//! What the exporter knows about SSM Parameter Store parameters: plain data,
//! no SDK types, as `inventory` is for secrets. Only metadata: the value of
//! a parameter is never read.

// Every value here may come from AWS: arithmetic is checked or saturating.
#![deny(clippy::arithmetic_side_effects)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use litemap::LiteMap;
use serde::Serialize;

use crate::inventory::Unknown;
use crate::policy::{ParameterCheck, ParameterEvaluation};

/// The parameter types `DescribeParameters` can be filtered on.
pub const PARAMETER_TYPES: [&str; 3] = ["SecureString", "String", "StringList"];

/// The type whose values are encrypted with a KMS key.
pub const SECURE_STRING: &str = "SecureString";

/// The key Parameter Store encrypts a `SecureString` with when none is
/// chosen: the AWS managed key of the account.
pub const AWS_MANAGED_SSM_KEY: &str = "alias/aws/ssm";

/// When a parameter expires, as its `Expiration` policy says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterExpiration {
    /// No `Expiration` policy.
    None,
    /// The policy's `Timestamp`.
    At(DateTime<Utc>),
    /// An `Expiration` policy whose text could not be read, and why.
    Unreadable(String),
}

/// One parameter as one `DescribeParameters` listing saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterRecord {
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    pub name: String,
    /// `SecureString`, `String` or `StringList`, or what AWS sent instead.
    pub parameter_type: Arc<str>,
    /// `KeyId`, on a `SecureString`.
    pub key_id: Option<Arc<str>>,
    /// `Standard`, `Advanced` or `Intelligent-Tiering`.
    pub tier: Option<Arc<str>>,
    pub last_modified: Option<DateTime<Utc>>,
    pub version: Option<i64>,
    pub expiration: ParameterExpiration,
    /// The tags, once `ListTagsForResource` answered for this parameter;
    /// `None` while they are not read (tags off) or not known.
    pub tags: Option<LiteMap<Arc<str>, Arc<str>>>,
    /// Set when tags are read but this parameter's are not known, and why.
    pub tags_unknown: Option<Unknown>,
}

impl ParameterRecord {
    pub fn is_secure_string(&self) -> bool {
        &*self.parameter_type == SECURE_STRING
    }

    /// The key as the `kms_key` label shows it: the key a `SecureString`
    /// names, or the AWS managed key when it names none; empty for the
    /// other types, which are not encrypted.
    pub fn kms_key_label(&self) -> &str {
        if !self.is_secure_string() {
            return "";
        }
        self.key_id.as_deref().unwrap_or(AWS_MANAGED_SSM_KEY)
    }
}

/// One parameter and its verdicts, shared with the snapshots before and
/// after as long as it does not change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterReport {
    pub record: Arc<ParameterRecord>,
    pub evaluation: ParameterEvaluation,
}

/// How one check came out over a target's parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParameterCheckCount {
    pub judged: usize,
    pub noncompliant: usize,
    pub unknown: usize,
}

/// What a target's parameters come to, worked out once per snapshot so that
/// `/metrics`, CloudWatch and `check` count alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParameterSummary {
    pub parameters: usize,
    pub noncompliant_parameters: usize,
    pub unevaluated_parameters: usize,
    /// In `ParameterCheck::ALL` order.
    pub checks: [ParameterCheckCount; ParameterCheck::ALL.len()],
}

impl ParameterSummary {
    pub fn of(parameters: &[ParameterReport]) -> Self {
        let mut summary = ParameterSummary {
            parameters: parameters.len(),
            ..ParameterSummary::default()
        };
        for parameter in parameters {
            let evaluation = &parameter.evaluation;
            if !evaluation.compliant() {
                summary.noncompliant_parameters = summary.noncompliant_parameters.saturating_add(1);
            }
            if !evaluation.unknown.is_empty() {
                summary.unevaluated_parameters = summary.unevaluated_parameters.saturating_add(1);
            }
            for verdict in &evaluation.verdicts {
                if let Some(count) = summary.checks.get_mut(verdict.check.index()) {
                    count.judged = count.judged.saturating_add(1);
                    count.noncompliant = count
                        .noncompliant
                        .saturating_add(usize::from(!verdict.compliant));
                }
            }
            for missing in &evaluation.unknown {
                if let Some(count) = summary.checks.get_mut(missing.check.index()) {
                    count.unknown = count.unknown.saturating_add(1);
                }
            }
        }
        summary
    }

    /// How many parameters fail `check`; `None` while any parameter's
    /// verdict on it is unknown: a count then would read as "none fail".
    pub fn noncompliant(&self, check: ParameterCheck) -> Option<usize> {
        let count = self.checks.get(check.index())?;
        (count.unknown == 0).then_some(count.noncompliant)
    }
}

/// A target's parameters, once `DescribeParameters` has answered for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterInventory {
    /// Sorted by name.
    pub parameters: Vec<ParameterReport>,
    pub summary: ParameterSummary,
}

impl ParameterInventory {
    pub fn new(parameters: Vec<ParameterReport>) -> Self {
        let summary = ParameterSummary::of(&parameters);
        Self {
            parameters,
            summary,
        }
    }
}

/// How long a parameter's value has gone unchanged at `now`; a
/// `LastModifiedDate` in the future counts as no time.
pub fn parameter_age(record: &ParameterRecord, now: DateTime<Utc>) -> Option<Duration> {
    let modified = record.last_modified?;
    Some(
        now.signed_duration_since(modified)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}
