//! The rotation Lambda and the previous version, against the simulator:
//! `rotation_lambda` for each way a function breaks its next rotation and
//! where it does not apply, what it costs per distinct function, and
//! `previous_version_read` with its once-a-day lookups.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{Harness, run_check};
use secrets_rotation_exporter::policy::Check;
use secrets_rotation_exporter::snapshot::{SecretReport, Snapshot};
use serde_json::Value;
use simulator::{
    Fault, FaultRule, Fleet, LambdaPolicy, LambdaSpec, LambdaState, LastUpdateStatus, RotationSpec,
    SecretSpec, VersionSpec, lambda_arn,
};

const ACCOUNT: &str = "111111111111";
const OTHER_ACCOUNT: &str = "222222222222";
const REGION: &str = "us-east-1";

fn config_yaml() -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{ACCOUNT}"
policy:
  max_age: 30d
  max_rotation_interval: 30d
  require_customer_managed_key: false
cloudtrail: {{ enabled: false }}
aws:
  max_attempts: 1
"#
    )
}

/// Rotating every 30 days with the named function of this account, rotated
/// `rotated_days_ago`; no previous version unless added.
fn rotating_with(name: &str, function_arn: &str, now: DateTime<Utc>) -> SecretSpec {
    let rotated = now - Duration::days(5);
    SecretSpec::new(name)
        .created(now - Duration::days(200))
        .tag("team", "payments")
        .rotation(RotationSpec::every_days(30).lambda(function_arn))
        .last_rotated(rotated)
        .last_changed(rotated)
        .next_rotation(rotated + Duration::days(30))
        .last_accessed(now - Duration::days(1))
        .version(VersionSpec::current(rotated))
}

fn function(name: &str) -> String {
    lambda_arn(ACCOUNT, REGION, name)
}

fn secret<'a>(snapshot: &'a Snapshot, name: &str) -> &'a SecretReport {
    snapshot
        .targets
        .iter()
        .flat_map(|target| &target.secrets)
        .find(|secret| secret.record.name == name)
        .unwrap_or_else(|| panic!("no secret {name}"))
}

/// `Some(compliant)`, or `None` when the check gave no verdict.
fn verdict(snapshot: &Snapshot, name: &str, check: Check) -> Option<bool> {
    secret(snapshot, name)
        .evaluation
        .verdict(check)
        .map(|verdict| verdict.compliant)
}

fn reason(snapshot: &Snapshot, name: &str, check: Check) -> String {
    secret(snapshot, name)
        .evaluation
        .verdict(check)
        .map(|verdict| verdict.reason().to_owned())
        .unwrap_or_default()
}

fn unknown(snapshot: &Snapshot, name: &str, check: Check) -> Option<String> {
    secret(snapshot, name)
        .evaluation
        .unknown
        .iter()
        .find(|unknown| unknown.check == check)
        .map(|unknown| unknown.reason.as_str().to_owned())
}

fn lambda_requests(harness: &Harness) -> u64 {
    harness.simulator.requests("GetFunctionConfiguration") + harness.simulator.requests("GetPolicy")
}

fn failure_modes_fleet(now: DateTime<Utc>) -> Fleet {
    let other_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"*"}]}"#;
    Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .lambda(LambdaSpec::new("healthy"))
        .lambda(LambdaSpec::new("inactive").state(LambdaState::Inactive))
        .lambda(
            LambdaSpec::new("update-failed")
                .last_update_status(LastUpdateStatus::Failed)
                .last_update_status_reason("the zip is corrupt", Some("InvalidZipFileException")),
        )
        .lambda(LambdaSpec::new("old-runtime").runtime("nodejs12.x"))
        .lambda(LambdaSpec::new("no-policy").without_policy())
        .lambda(
            LambdaSpec::new("events-only")
                .policy(LambdaPolicy::Document(other_principal.to_owned())),
        )
        .secret(rotating_with("app/healthy", &function("healthy"), now))
        .secret(rotating_with("app/deleted", &function("deleted"), now))
        .secret(rotating_with("app/inactive", &function("inactive"), now))
        .secret(rotating_with(
            "app/update-failed",
            &function("update-failed"),
            now,
        ))
        .secret(rotating_with(
            "app/old-runtime",
            &function("old-runtime"),
            now,
        ))
        .secret(rotating_with("app/no-policy", &function("no-policy"), now))
        .secret(rotating_with(
            "app/events-only",
            &function("events-only"),
            now,
        ))
        // Not applicable: rotation off, an owning service, managed external
        // rotation (each with a Lambda ARN left behind that does not exist).
        .secret(
            SecretSpec::new("app/rotation-off")
                .created(now - Duration::days(10))
                .rotation(
                    RotationSpec::every_days(30)
                        .lambda(function("deleted"))
                        .disabled(),
                ),
        )
        .secret(rotating_with("rds!db-0123", &function("deleted"), now).owning_service("rds"))
        .secret(
            rotating_with("crm/salesforce", &function("deleted"), now)
                .secret_type("SalesforceClientSecret")
                .external_secret_rotation_role_arn(format!(
                    "arn:aws:iam::{ACCOUNT}:role/salesforce-rotation"
                )),
        )
        // A function in another account: the reader role cannot see it.
        .secret(rotating_with(
            "app/cross-account",
            &lambda_arn(OTHER_ACCOUNT, REGION, "shared-rotation"),
            now,
        ))
        .build()
        .expect("fleet")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_way_a_function_breaks_the_next_rotation_is_non_compliant() {
    let now = Utc::now();
    let harness = Harness::start(failure_modes_fleet(now), &config_yaml()).await;
    harness.exporter.poller.explain_verdicts(true);
    let snapshot = harness.exporter.read_everything_once(now).await;

    assert_eq!(
        verdict(&snapshot, "app/healthy", Check::RotationLambda),
        Some(true)
    );
    for (name, says) in [
        ("app/deleted", "does not exist"),
        ("app/inactive", "state is Inactive, not Active"),
        (
            "app/update-failed",
            "last update failed (the zip is corrupt)",
        ),
        (
            "app/old-runtime",
            "runtime nodejs12.x was deprecated by AWS on 2023-03-31",
        ),
        (
            "app/no-policy",
            "does not let secretsmanager.amazonaws.com invoke it",
        ),
        (
            "app/events-only",
            "does not let secretsmanager.amazonaws.com invoke it",
        ),
    ] {
        assert_eq!(
            verdict(&snapshot, name, Check::RotationLambda),
            Some(false),
            "{name}"
        );
        let reason = reason(&snapshot, name, Check::RotationLambda);
        assert!(reason.contains(says), "{name}: {reason}");
    }
    for name in ["app/rotation-off", "rds!db-0123", "crm/salesforce"] {
        assert_eq!(
            verdict(&snapshot, name, Check::RotationLambda),
            None,
            "{name}"
        );
        assert_eq!(
            unknown(&snapshot, name, Check::RotationLambda),
            None,
            "{name}"
        );
    }
    assert_eq!(
        verdict(&snapshot, "app/cross-account", Check::RotationLambda),
        None
    );
    assert_eq!(
        unknown(&snapshot, "app/cross-account", Check::RotationLambda).as_deref(),
        Some("access_denied")
    );
    // The other account's function was never asked for.
    assert_eq!(
        harness
            .simulator
            .requests_by_account("GetFunctionConfiguration", OTHER_ACCOUNT),
        0
    );

    let metrics = harness.scrape().await;
    let target = [("account_id", ACCOUNT), ("region", REGION)];
    assert_eq!(
        metrics.value(
            "secrets_rotation_exporter_errors_total",
            &[
                target[0],
                target[1],
                ("source", "lambda"),
                ("reason", "access_denied")
            ]
        ),
        1.0
    );
    assert_eq!(
        metrics.value(
            "secrets_rotation_exporter_target_up",
            &[target[0], target[1], ("source", "lambda")]
        ),
        1.0,
        "a function the role cannot see does not take the target down"
    );
    assert_eq!(
        metrics.value(
            "aws_secretsmanager_unevaluated_secrets",
            &[
                target[0],
                target[1],
                ("check", "rotation_lambda"),
                ("reason", "access_denied")
            ]
        ),
        1.0
    );
    // With a verdict unknown the count is not written.
    assert_eq!(
        metrics.count(
            "aws_secretsmanager_noncompliant_secrets",
            &[("check", "rotation_lambda")]
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_broken_functions_and_exits_two_for_the_unreadable_one() {
    let now = Utc::now();
    let harness = Harness::start(failure_modes_fleet(now), &config_yaml()).await;
    let run = run_check(&harness.simulator, &config_yaml(), "json").await;
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let failing: Vec<&str> = report["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter(|secret| {
            secret["checks"].as_array().is_some_and(|checks| {
                checks
                    .iter()
                    .any(|c| c["check"] == "rotation_lambda" && c["compliant"] == false)
            })
        })
        .filter_map(|secret| secret["name"].as_str())
        .collect();
    assert_eq!(
        failing,
        [
            "app/deleted",
            "app/events-only",
            "app/inactive",
            "app/no-policy",
            "app/old-runtime",
            "app/update-failed"
        ]
    );
    let table = run_check(&harness.simulator, &config_yaml(), "table").await;
    assert!(
        table.stdout.contains(
            "rotation_lambda: not evaluated: lambda:GetFunctionConfiguration failed (access_denied)"
        ),
        "{}",
        table.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_secrets_sharing_three_functions_cost_six_requests_a_refresh() {
    let now = Utc::now();
    let names = ["rotate-a", "rotate-b", "rotate-c"];
    let fleet =
        Fleet::builder()
            .base_account(ACCOUNT)
            .regions([REGION])
            .account(ACCOUNT)
            .region(REGION)
            .lambda(LambdaSpec::new(names[0]))
            .lambda(LambdaSpec::new(names[1]))
            .lambda(LambdaSpec::new(names[2]))
            .secrets((0..1000).map(|i| {
                rotating_with(&format!("app/secret-{i:04}"), &function(names[i % 3]), now)
            }))
            .build()
            .expect("fleet");
    let harness = Harness::start(fleet, &config_yaml()).await;

    let snapshot = harness.exporter.read_everything_once(now).await;
    let judged = snapshot
        .targets
        .iter()
        .flat_map(|target| &target.secrets)
        .filter(|secret| secret.evaluation.verdict(Check::RotationLambda).is_some())
        .count();
    assert_eq!(judged, 1000);
    let first = lambda_requests(&harness);
    println!("1,000 secrets, 3 functions: {first} Lambda requests in the first refresh");
    assert_eq!(harness.simulator.requests("GetFunctionConfiguration"), 3);
    assert_eq!(harness.simulator.requests("GetPolicy"), 3);

    // Within the refresh interval (1h) nothing is asked again...
    harness.simulator.reset_counts();
    harness
        .exporter
        .read_everything_once(now + Duration::minutes(30))
        .await;
    assert_eq!(lambda_requests(&harness), 0);
    // ...and after it, each function once more.
    harness
        .exporter
        .read_everything_once(now + Duration::minutes(61))
        .await;
    assert_eq!(lambda_requests(&harness), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_keeps_what_was_known_and_a_function_never_read_is_unknown() {
    let now = Utc::now();
    let fleet = rotating_fleet([rotating_with("app/db", &function("rotate"), now)]);
    let harness = Harness::start(fleet, &config_yaml()).await;
    harness
        .simulator
        .fail(FaultRule::new(Fault::Throttling).operation("GetFunctionConfiguration"));
    let snapshot = harness.exporter.read_everything_once(now).await;
    assert_eq!(verdict(&snapshot, "app/db", Check::RotationLambda), None);
    assert_eq!(
        unknown(&snapshot, "app/db", Check::RotationLambda).as_deref(),
        Some("throttled")
    );

    harness.simulator.clear_faults();
    let later = now + Duration::minutes(6);
    let snapshot = harness.exporter.read_everything_once(later).await;
    assert_eq!(
        verdict(&snapshot, "app/db", Check::RotationLambda),
        Some(true)
    );

    // Denied after a good read: the last verdict stands while the read is retried.
    harness
        .simulator
        .fail(FaultRule::new(Fault::AccessDenied).operation("GetPolicy"));
    let snapshot = harness
        .exporter
        .read_everything_once(later + Duration::hours(2))
        .await;
    assert_eq!(
        verdict(&snapshot, "app/db", Check::RotationLambda),
        Some(true)
    );
    let metrics = harness.scrape().await;
    assert_eq!(
        metrics.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ACCOUNT), ("source", "lambda")]
        ),
        0.0
    );
}

/// Noon today, so that "N days ago" is N calendar days whatever the hour.
fn noon_today() -> DateTime<Utc> {
    Utc::now()
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .expect("noon")
        .and_utc()
}

/// One target whose secrets rotate with the function `rotate`, which works.
fn rotating_fleet(secrets: impl IntoIterator<Item = SecretSpec>) -> Fleet {
    Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .lambda(LambdaSpec::new("rotate"))
        .secrets(secrets)
        .build()
        .expect("fleet")
}

/// Rotated `rotated_days_ago` (a previous version created 30 days before),
/// whose previous version was last read `read_days_ago`.
fn with_previous_read(
    name: &str,
    rotated_days_ago: i64,
    read_days_ago: Option<i64>,
    now: DateTime<Utc>,
) -> SecretSpec {
    let rotated = now - Duration::days(rotated_days_ago);
    let mut previous = VersionSpec::previous(rotated - Duration::days(30));
    if let Some(days) = read_days_ago {
        previous = previous.last_accessed(now - Duration::days(days));
    }
    SecretSpec::new(name)
        .created(now - Duration::days(200))
        .tag("team", "payments")
        .rotation(RotationSpec::every_days(30).lambda(function("rotate")))
        .last_rotated(rotated)
        .last_changed(rotated)
        .next_rotation(rotated + Duration::days(30))
        .last_accessed(now)
        .version(previous)
        .version(VersionSpec::current(rotated))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_version_read_after_the_grace_fails_and_lookups_are_daily() {
    let now = noon_today();
    let next_rotation_day = now - Duration::hours(1);
    let fleet = rotating_fleet([
        // Rotated 5 days ago: read the day after, within the 1d grace.
        with_previous_read("app/next-day", 5, Some(4), now),
        // Read three days after the rotation: an application kept the old value.
        with_previous_read("app/three-days", 5, Some(2), now),
        // Never read since it was replaced.
        with_previous_read("app/never", 5, None, now),
        // Rotated 30 days ago, and read today by the next rotation, which
        // started today (its pending version) and has not finished.
        with_previous_read("app/multi-user", 30, Some(0), now)
            .version(VersionSpec::pending(next_rotation_day)),
        // Rotated this morning: no read can be late yet, no lookup needed.
        with_previous_read("app/just-rotated", 0, Some(0), now),
    ]);
    let harness = Harness::start(fleet, &config_yaml()).await;
    harness.exporter.poller.explain_verdicts(true);
    let snapshot = harness.exporter.read_everything_once(now).await;

    let check = Check::PreviousVersionRead;
    assert_eq!(verdict(&snapshot, "app/next-day", check), Some(true));
    assert_eq!(verdict(&snapshot, "app/three-days", check), Some(false));
    let why = reason(&snapshot, "app/three-days", check);
    assert!(
        why.contains("3d after it was replaced") && why.contains("policy allows 1d"),
        "{why}"
    );
    assert_eq!(verdict(&snapshot, "app/never", check), Some(true));
    assert_eq!(verdict(&snapshot, "app/multi-user", check), Some(true));
    assert!(reason(&snapshot, "app/multi-user", check).contains("the next rotation started"));
    assert_eq!(verdict(&snapshot, "app/just-rotated", check), Some(true));

    // One lookup per secret whose reads could be late: not app/just-rotated
    // (app/multi-user's one lookup also gives its pending version's creation).
    assert_eq!(harness.simulator.requests("ListSecretVersionIds"), 4);
    let metrics = harness.scrape().await;
    let day_read = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        - Duration::days(2);
    assert_eq!(
        metrics.value(
            "aws_secretsmanager_secret_previous_version_last_accessed_timestamp_seconds",
            &[("secret_name", "app/three-days")]
        ),
        day_read.timestamp() as f64
    );
    assert_eq!(
        metrics.count(
            "aws_secretsmanager_secret_previous_version_last_accessed_timestamp_seconds",
            &[("secret_name", "app/never")]
        ),
        0,
        "never read: no series"
    );

    // More polls the same day ask nothing more...
    harness.simulator.reset_counts();
    for hours in [1, 5] {
        let snapshot = harness
            .exporter
            .read_everything_once(now + Duration::hours(hours))
            .await;
        assert_eq!(verdict(&snapshot, "app/three-days", check), Some(false));
    }
    assert_eq!(harness.simulator.requests("ListSecretVersionIds"), 0);
    // ...and the next day each is looked up once again, app/just-rotated
    // still within its grace (rotated yesterday, 1d allowed).
    harness
        .exporter
        .read_everything_once(now + Duration::days(1))
        .await;
    assert_eq!(harness.simulator.requests("ListSecretVersionIds"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_grace_from_an_override_allows_the_slow_reader() {
    let now = noon_today();
    let fleet = rotating_fleet([
        with_previous_read("batch/reports", 5, Some(2), now),
        with_previous_read("app/three-days", 5, Some(2), now),
    ]);
    let config = config_yaml().replace(
        "  require_customer_managed_key: false\n",
        "  require_customer_managed_key: false\n  overrides:\n    - match: { name: \"batch/*\" }\n      previous_version_grace: 7d\n",
    );
    let harness = Harness::start(fleet, &config).await;
    let snapshot: Arc<Snapshot> = harness.exporter.read_everything_once(now).await;
    let check = Check::PreviousVersionRead;
    assert_eq!(verdict(&snapshot, "batch/reports", check), Some(true));
    assert_eq!(verdict(&snapshot, "app/three-days", check), Some(false));
}

/// What the daily lookups of previous versions cost a fleet rotating every
/// 30 days: on any day, the secrets rotated within the grace (today or
/// yesterday, with `1d`) need none, the other 28 in 30 one each, and
/// further polls that day none. docs/performance.md scales the figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rotating_every_30_days_costs_28_lookups_in_30_secrets_a_day() {
    let now = noon_today();
    // Ten secrets for each day of the 30-day cycle.
    let secrets = (0..300).map(|i| {
        let age = i64::from(i % 30);
        with_previous_read(&format!("app/secret-{i:03}"), age, Some(age), now)
    });
    let fleet = rotating_fleet(secrets);
    let harness = Harness::start(fleet, &config_yaml()).await;
    let mut per_day = Vec::new();
    for day in 0..3 {
        harness.simulator.reset_counts();
        let at = now + Duration::days(day);
        harness.exporter.read_everything_once(at).await;
        let first = harness.simulator.requests("ListSecretVersionIds");
        harness
            .exporter
            .read_everything_once(at + Duration::hours(6))
            .await;
        let again = harness.simulator.requests("ListSecretVersionIds") - first;
        per_day.push((first, again));
    }
    println!(
        "300 secrets rotating every 30 days: ListSecretVersionIds per day (first poll, later polls) {per_day:?}"
    );
    // The simulator's secrets do not rotate by themselves, so on later days
    // fewer are within the grace: 280, then 290, then 300.
    assert_eq!(per_day, [(280, 0), (290, 0), (300, 0)]);
}
