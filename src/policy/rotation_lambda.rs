//! `rotation_lambda`: whether the function that rotates a secret can run
//! its next rotation. A function that is missing, not `Active`, half
//! updated, on a runtime AWS no longer patches, or that Secrets Manager may
//! not invoke fails the rotation the day it is scheduled; this check says
//! so weeks before.

use chrono::{DateTime, NaiveDate, Utc};

use super::start_of_day;
use super::verdict::{Check, Judge, Judged, UnknownVerdict};
use crate::inventory::{FunctionFacts, LambdaFacts, RotationFunction, SecretRecord};

/// What the check needs read.
const NEEDS_LAMBDA: &str = "lambda:GetFunctionConfiguration";

/// The day the table below was last compared with AWS's list.
pub const DEPRECATED_RUNTIMES_AS_OF: &str = "2026-11-30";

/// Lambda runtime identifiers and the day AWS deprecated them (it stops
/// patching them then), from the "Deprecated runtimes" and "Supported
/// runtimes" tables of the AWS Lambda Developer Guide's "Lambda runtimes"
/// page, as of [`DEPRECATED_RUNTIMES_AS_OF`]. A runtime counts as deprecated
/// from its date on, so an entry may name a date still to come. Runtimes AWS
/// lists with no date yet are absent, and so is any runtime this table does
/// not know: it is never guessed to be deprecated.
pub const DEPRECATED_RUNTIMES: &[(&str, &str)] = &[
    ("nodejs", "2016-10-31"),
    ("nodejs4.3", "2020-03-06"),
    ("nodejs4.3-edge", "2019-04-30"),
    ("nodejs6.10", "2019-08-12"),
    ("nodejs8.10", "2020-03-06"),
    ("nodejs10.x", "2021-07-30"),
    ("nodejs12.x", "2023-03-31"),
    ("nodejs14.x", "2023-12-04"),
    ("nodejs16.x", "2024-06-12"),
    ("nodejs18.x", "2025-09-01"),
    ("nodejs20.x", "2026-04-30"),
    ("python2.7", "2021-07-15"),
    ("python3.6", "2022-07-18"),
    ("python3.7", "2023-12-04"),
    ("python3.8", "2024-10-14"),
    ("python3.9", "2025-12-15"),
    ("ruby2.5", "2021-07-30"),
    ("ruby2.7", "2023-12-07"),
    ("ruby3.2", "2026-03-31"),
    ("java8", "2024-01-08"),
    ("go1.x", "2024-01-08"),
    ("provided", "2024-01-08"),
    ("dotnetcore1.0", "2019-07-30"),
    ("dotnetcore2.0", "2019-05-30"),
    ("dotnetcore2.1", "2022-01-05"),
    ("dotnetcore3.1", "2023-04-03"),
    ("dotnet5.0", "2022-05-10"),
    ("dotnet6", "2024-12-20"),
    ("dotnet7", "2024-05-14"),
    ("dotnet8", "2026-11-10"),
];

/// The day `runtime` was deprecated, when the table has it.
pub fn deprecated_since(runtime: &str) -> Option<NaiveDate> {
    DEPRECATED_RUNTIMES
        .iter()
        .find(|(name, _)| *name == runtime)
        .and_then(|(_, day)| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
}

/// Why a function that exists cannot be trusted with the next rotation,
/// every reason at once.
fn problems(facts: &FunctionFacts, now: DateTime<Utc>) -> Vec<String> {
    let mut problems = Vec::new();
    let with_reason = |what: String, reason: &Option<String>| match reason {
        Some(reason) if !reason.is_empty() => format!("{what} ({reason})"),
        _ => what,
    };
    match facts.state.as_deref() {
        Some("Active") => {}
        Some(state) => problems.push(with_reason(
            format!("its state is {state}, not Active"),
            &facts.state_reason,
        )),
        None => problems.push("it reports no state".to_owned()),
    }
    if facts.last_update_status.as_deref() == Some("Failed") {
        problems.push(with_reason(
            "its last update failed".to_owned(),
            &facts.last_update_status_reason,
        ));
    }
    if let Some(runtime) = facts.runtime.as_deref()
        && let Some(day) = deprecated_since(runtime)
        && start_of_day(day) <= now
    {
        problems.push(format!(
            "its runtime {runtime} was deprecated by AWS on {day}"
        ));
    }
    if !facts.secrets_manager_may_invoke {
        problems.push(
            "its resource policy does not let secretsmanager.amazonaws.com invoke it".to_owned(),
        );
    }
    problems
}

pub(super) fn rotation_lambda(
    judge: Judge,
    record: &SecretRecord,
    now: DateTime<Utc>,
) -> Option<Judged> {
    if !record.rotated_by_lambda() {
        return None;
    }
    let check = Check::RotationLambda;
    let function = record.rotation_lambda_arn.as_deref().unwrap_or_default();
    let facts = match record.rotation_function.as_ref()? {
        RotationFunction::Unknown(reason) => {
            return Some(Err(UnknownVerdict {
                check,
                needs: NEEDS_LAMBDA,
                reason: *reason,
            }));
        }
        RotationFunction::Known(facts) => facts,
    };
    let verdict = match &**facts {
        LambdaFacts::Missing => judge.verdict(check, false, || {
            format!("rotation Lambda {function} does not exist: the next rotation will fail")
        }),
        LambdaFacts::Found(found) => {
            let problems = problems(found, now);
            let compliant = problems.is_empty();
            judge.verdict(check, compliant, || {
                if compliant {
                    format!(
                        "rotation Lambda {function} is Active and Secrets Manager may invoke it"
                    )
                } else {
                    format!(
                        "rotation Lambda {function}: {}; the next rotation will fail",
                        problems.join(", ")
                    )
                }
            })
        }
    };
    Some(Ok(verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn healthy() -> FunctionFacts {
        FunctionFacts {
            state: Some("Active".into()),
            last_update_status: Some("Successful".into()),
            runtime: Some("python3.12".into()),
            secrets_manager_may_invoke: true,
            ..FunctionFacts::default()
        }
    }

    #[test]
    fn every_table_entry_has_a_readable_date() {
        for (runtime, day) in DEPRECATED_RUNTIMES {
            assert!(
                deprecated_since(runtime).is_some(),
                "{runtime}: {day} is not YYYY-MM-DD"
            );
        }
        assert_eq!(deprecated_since("python3.12"), None);
    }

    #[test]
    fn a_healthy_function_has_no_problem() {
        assert!(problems(&healthy(), now()).is_empty());
        // A container image function has no runtime to judge.
        let image = FunctionFacts {
            runtime: None,
            ..healthy()
        };
        assert!(problems(&image, now()).is_empty());
    }

    #[test]
    fn each_problem_is_named_and_all_are_listed() {
        let broken = FunctionFacts {
            state: Some("Inactive".into()),
            state_reason: Some("idle".into()),
            last_update_status: Some("Failed".into()),
            last_update_status_reason: Some("bad zip".into()),
            runtime: Some("nodejs12.x".into()),
            secrets_manager_may_invoke: false,
        };
        let found = problems(&broken, now());
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].contains("Inactive") && found[0].contains("idle"));
        assert!(found[1].contains("bad zip"));
        assert!(found[2].contains("nodejs12.x") && found[2].contains("2023-03-31"));
        assert!(found[3].contains("secretsmanager.amazonaws.com"));
    }

    #[test]
    fn a_runtime_counts_as_deprecated_from_its_date_on() {
        let dotnet8 = FunctionFacts {
            runtime: Some("dotnet8".into()),
            ..healthy()
        };
        let before = DateTime::parse_from_rfc3339("2026-11-09T23:59:59Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert!(problems(&dotnet8, before).is_empty());
        assert_eq!(problems(&dotnet8, now()).len(), 1);
    }
}
