//! What a check gives: a verdict, or why it could not give one.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::exemption::Exemption;
use crate::inventory::Unknown;
use crate::rotation_events::RotationEvent;

/// The `check` label values, in the order SPEC.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    RotationEnabled,
    RotationInterval,
    RotationAge,
    RotationOverdue,
    RotationFailed,
    RotationPending,
    KmsCustomerManaged,
    Unused,
    RequiredTags,
    RotationLambda,
    PreviousVersionRead,
}

impl Check {
    pub const ALL: [Check; 11] = [
        Check::RotationEnabled,
        Check::RotationInterval,
        Check::RotationAge,
        Check::RotationOverdue,
        Check::RotationFailed,
        Check::RotationPending,
        Check::KmsCustomerManaged,
        Check::Unused,
        Check::RequiredTags,
        Check::RotationLambda,
        Check::PreviousVersionRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::RotationEnabled => "rotation_enabled",
            Check::RotationInterval => "rotation_interval",
            Check::RotationAge => "rotation_age",
            Check::RotationOverdue => "rotation_overdue",
            Check::RotationFailed => "rotation_failed",
            Check::RotationPending => "rotation_pending",
            Check::KmsCustomerManaged => "kms_customer_managed",
            Check::Unused => "unused",
            Check::RequiredTags => "required_tags",
            Check::RotationLambda => "rotation_lambda",
            Check::PreviousVersionRead => "previous_version_read",
        }
    }

    /// The position in `Check::ALL`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The checks about rotation, which an exemption skips. The others (the
    /// key, use and tags) hold for a secret whatever rotates it. Whether the
    /// rotation Lambda works and whether applications let go of the
    /// replaced value are part of rotation.
    pub fn is_about_rotation(self) -> bool {
        match self {
            Check::RotationEnabled
            | Check::RotationInterval
            | Check::RotationAge
            | Check::RotationOverdue
            | Check::RotationFailed
            | Check::RotationPending
            | Check::RotationLambda
            | Check::PreviousVersionRead => true,
            Check::KmsCustomerManaged | Check::Unused | Check::RequiredTags => false,
        }
    }
}

/// The `check` label values of SSM parameters (`aws_ssm_parameter_compliant`),
/// in the order SPEC.md lists them. Two share their name with a secret's
/// check and mean the same thing of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterCheck {
    ParameterAge,
    KmsCustomerManaged,
    ParameterExpiration,
    RequiredTags,
}

impl ParameterCheck {
    pub const ALL: [ParameterCheck; 4] = [
        ParameterCheck::ParameterAge,
        ParameterCheck::KmsCustomerManaged,
        ParameterCheck::ParameterExpiration,
        ParameterCheck::RequiredTags,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ParameterCheck::ParameterAge => "parameter_age",
            ParameterCheck::KmsCustomerManaged => "kms_customer_managed",
            ParameterCheck::ParameterExpiration => "parameter_expiration",
            ParameterCheck::RequiredTags => "required_tags",
        }
    }

    /// The position in `ParameterCheck::ALL`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A check that applies but could not be judged, because a fact it needs
/// could not be established: it has no verdict, never a guessed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnknownVerdict<C = Check> {
    pub check: C,
    /// The call that would have given the missing fact.
    pub needs: &'static str,
    pub reason: Unknown,
}

/// The verdict of one applicable check. The sentence and the numbers behind
/// it (for `check`) are boxed apart: a snapshot served to `/metrics` has
/// none, and then a verdict is 16 bytes instead of 72, nine times over for
/// each of 100,000 secrets, in each of the two snapshots alive during a poll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict<C = Check> {
    pub check: C,
    pub compliant: bool,
    /// `None` when judged by [`evaluate_bare`].
    #[serde(flatten)]
    pub detail: Option<Box<VerdictDetail>>,
}

/// Why a check gave its verdict, so that `check --output=json` can say why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictDetail {
    /// A sentence a person can act on, e.g. "value is 41d 3h old, policy allows 30d".
    pub reason: String,
    /// The measured value in seconds (age, schedule gap, lateness), when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_seconds: Option<f64>,
    /// The limit it was compared with, in seconds, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_seconds: Option<f64>,
    /// The CloudTrail event behind the verdict (`rotation_failed`, `rotation_pending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Arc<RotationEvent>>,
}

impl<C> Verdict<C> {
    /// A verdict without its detail, as a served snapshot holds it.
    pub fn bare(check: C, compliant: bool) -> Self {
        Self {
            check,
            compliant,
            detail: None,
        }
    }

    /// The sentence; empty once the detail has been dropped.
    pub fn reason(&self) -> &str {
        self.detail.as_ref().map_or("", |detail| &detail.reason)
    }

    pub fn observed_seconds(&self) -> Option<f64> {
        self.detail
            .as_ref()
            .and_then(|detail| detail.observed_seconds)
    }

    pub fn limit_seconds(&self) -> Option<f64> {
        self.detail.as_ref().and_then(|detail| detail.limit_seconds)
    }

    pub fn event(&self) -> Option<&Arc<RotationEvent>> {
        self.detail
            .as_ref()
            .and_then(|detail| detail.event.as_ref())
    }

    pub(super) fn with_limit(mut self, limit: Duration) -> Self {
        if let Some(detail) = &mut self.detail {
            detail.limit_seconds = Some(limit.as_secs_f64());
        }
        self
    }

    pub(super) fn with_event(mut self, event: Option<Arc<RotationEvent>>) -> Self {
        if let Some(detail) = &mut self.detail {
            detail.event = event;
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Set while an exemption is in force; then no rotation check applies.
    pub exemption: Option<Exemption>,
    /// Why exemption tags on the secret do not exempt it: an end date that has
    /// passed or cannot be read, or an end date without the exempt tag. The
    /// checks apply in all of these cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption_ignored: Option<String>,
    /// Scheduled for deletion: inventoried, no check applies.
    pub scheduled_for_deletion: bool,
    /// The longest gap of the rotation schedule, when rotation is on and its
    /// schedule is known and fires repeatedly. Rules left over on a secret whose
    /// rotation is off describe nothing that will happen, so they give none.
    pub rotation_interval: Option<Duration>,
    /// The `max_age` in force for this secret after overrides.
    pub max_age: Duration,
    /// One per applicable check that could be judged, in `Check::ALL` order.
    pub verdicts: Vec<Verdict>,
    /// The applicable checks that could not be judged, in `Check::ALL` order.
    pub unknown: Vec<UnknownVerdict>,
    /// How old the value is, as the `rotation_age` check measured it; kept
    /// when the verdicts' details are dropped (CloudWatch publishes it).
    #[serde(skip)]
    pub value_age_seconds: Option<f64>,
}

impl Evaluation {
    /// No verdict says non-compliant (also true when no check applies, and
    /// when some could not be judged: see `unknown`).
    pub fn compliant(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.compliant)
    }

    pub fn verdict(&self, check: Check) -> Option<&Verdict> {
        self.verdicts.iter().find(|verdict| verdict.check == check)
    }
}

/// The verdicts of one SSM parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterEvaluation {
    /// The `max_age` in force for the parameter after overrides; `None`
    /// when which override applies could not be told (its tags unknown).
    pub max_age: Option<Duration>,
    /// One per applicable check that could be judged, in
    /// `ParameterCheck::ALL` order.
    pub verdicts: Vec<Verdict<ParameterCheck>>,
    /// The applicable checks that could not be judged.
    pub unknown: Vec<UnknownVerdict<ParameterCheck>>,
}

impl ParameterEvaluation {
    /// No verdict says non-compliant.
    pub fn compliant(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.compliant)
    }

    pub fn verdict(&self, check: ParameterCheck) -> Option<&Verdict<ParameterCheck>> {
        self.verdicts.iter().find(|verdict| verdict.check == check)
    }
}

/// A verdict, or why the check could not give one.
pub(super) type Judged = Result<Verdict, UnknownVerdict>;

impl Evaluation {
    pub(super) fn push(&mut self, judged: Judged) {
        match judged {
            Ok(verdict) => self.verdicts.push(verdict),
            Err(unknown) => self.unknown.push(unknown),
        }
    }

    pub(super) fn extend(&mut self, judged: Option<Judged>) {
        if let Some(judged) = judged {
            self.push(judged);
        }
    }
}

/// How the checks write their verdicts: with the sentence and the numbers
/// behind them, or bare. A bare verdict never formats its sentence.
#[derive(Debug, Clone, Copy)]
pub(super) struct Judge {
    pub(super) explain: bool,
}

impl Judge {
    pub(super) fn verdict<C>(
        self,
        check: C,
        compliant: bool,
        reason: impl FnOnce() -> String,
    ) -> Verdict<C> {
        if !self.explain {
            return Verdict::bare(check, compliant);
        }
        Verdict {
            check,
            compliant,
            detail: Some(Box::new(VerdictDetail {
                reason: reason(),
                observed_seconds: None,
                limit_seconds: None,
                event: None,
            })),
        }
    }

    pub(super) fn measured<C>(
        self,
        check: C,
        compliant: bool,
        reason: impl FnOnce() -> String,
        observed: Duration,
        limit: Duration,
    ) -> Verdict<C> {
        let mut verdict = self.verdict(check, compliant, reason).with_limit(limit);
        if let Some(detail) = &mut verdict.detail {
            detail.observed_seconds = Some(observed.as_secs_f64());
        }
        verdict
    }
}
