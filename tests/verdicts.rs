//! A verdict the exporter cannot establish is unknown, never guessed: no
//! `compliant` series, no count that reads as "none", `check` exit 2 naming
//! what is missing. Against the simulator, through the real `check` command,
//! `/metrics` and CloudWatch.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{CheckRun, Exposition, Harness, run_check, run_check_with};
use secrets_rotation_exporter::cloudwatch;
use serde_json::Value;
use simulator::{
    Fault, FaultRule, Fleet, LambdaSpec, RotationSpec, SecretSpec, SimulatorHandle, VersionSpec,
    days_ago,
};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const STUCK: &str = "app/stuck-rotation";

/// Passes every check: rotating every 30 days, rotated 10 days ago.
fn healthy(name: &str) -> SecretSpec {
    SecretSpec::new(name)
        .created_days_ago(200)
        .kms_key_id(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k"))
        .tag("team", "payments")
        .rotation(
            RotationSpec::every_days(30)
                .lambda(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate")),
        )
        .last_rotated_days_ago(10)
        .last_changed_days_ago(10)
        .next_rotation_in_days(20)
        .last_accessed_days_ago(1)
        .versions([
            VersionSpec::previous(days_ago(40)),
            VersionSpec::current(days_ago(10)),
        ])
}

/// Last rotated 40 days ago, but its value was set by hand yesterday: only
/// the `AWSCURRENT` version's creation (from `ListSecretVersionIds`) says
/// the value is young.
fn changed_by_hand(name: &str) -> SecretSpec {
    healthy(name)
        .last_rotated_days_ago(40)
        .last_changed_days_ago(1)
        .next_rotation_in_days(5)
        .versions([
            VersionSpec::previous(days_ago(40)),
            VersionSpec::current(days_ago(1)),
        ])
}

/// A rotation that started two days ago and never finished.
fn stuck() -> SecretSpec {
    healthy(STUCK).versions([
        VersionSpec::current(days_ago(10)),
        VersionSpec::pending(days_ago(2)),
    ])
}

/// The fleet of the version-lookup reproduction: 100 secrets that each need
/// a lookup, and the stuck rotation sorted after them.
fn hundred_changed_and_one_stuck() -> Fleet {
    Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .lambda(LambdaSpec::new("rotate"))
        .secrets((0..100).map(|i| changed_by_hand(&format!("app/by-hand-{i:03}"))))
        .secret(stuck())
        .build()
        .expect("fleet")
}

fn config_yaml(cloudtrail: bool) -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{ACCOUNT}"
policy:
  max_age: 30d
  max_rotation_interval: 30d
  pending_timeout: 6h
cloudtrail: {{ enabled: {cloudtrail}, lookback: 1d, requests_per_second: 2 }}
aws:
  target_timeout: 60s
  max_attempts: 1
"#
    )
}

fn json(run: &CheckRun) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|err| {
        panic!(
            "check --output=json printed no JSON ({err}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    })
}

fn secret<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["secrets"]
        .as_array()
        .and_then(|secrets| secrets.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no secret {name} in the report"))
}

/// The secret's verdict on `check`: `Some(compliant)`, `None` when absent.
fn verdict(secret: &Value, check: &str) -> Option<bool> {
    secret["checks"]
        .as_array()?
        .iter()
        .find(|v| v["check"] == check)
        .and_then(|v| v["compliant"].as_bool())
}

fn not_evaluated(secret: &Value) -> Vec<(String, String, String)> {
    secret["not_evaluated"]
        .as_array()
        .map(|missing| {
            missing
                .iter()
                .map(|m| {
                    (
                        m["check"].as_str().unwrap_or_default().to_owned(),
                        m["needs"].as_str().unwrap_or_default().to_owned(),
                        m["reason"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_hundred_version_lookups_still_judge_the_stuck_rotation() {
    let simulator = simulator::start(hundred_changed_and_one_stuck(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    simulator.enforce_aws_quotas();

    let run = run_check(&simulator, &config_yaml(false), "json").await;
    let report = json(&run);
    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    assert_eq!(report["summary"]["secrets"], 101);
    assert_eq!(report["summary"]["noncompliant_secrets"], 1);
    assert_eq!(report["summary"]["unevaluated_secrets"], 0);
    let stuck = secret(&report, STUCK);
    assert_eq!(verdict(stuck, "rotation_pending"), Some(false));
    for i in [0, 57, 99] {
        let by_hand = secret(&report, &format!("app/by-hand-{i:03}"));
        assert_eq!(
            verdict(by_hand, "rotation_age"),
            Some(true),
            "a value set by hand yesterday is young: {by_hand}"
        );
    }
    // One lookup for each secret that needs one, paced within the quota.
    assert_eq!(simulator.requests("ListSecretVersionIds"), 101);
    let peak = simulator
        .peak_request_rate("ListSecretVersionIds")
        .expect("lookups were made");
    assert!(
        peak.requests_per_second <= 50,
        "ListSecretVersionIds peaked at {} a second, over the quota of 50",
        peak.requests_per_second
    );
    simulator.shutdown().await;
}

fn one_stuck_rotation() -> Fleet {
    Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .lambda(LambdaSpec::new("rotate"))
        .secret(healthy("app/fine"))
        .secret(stuck())
        .build()
        .expect("fleet")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_version_lookup_leaves_the_pending_check_unknown_everywhere() {
    let harness = Harness::start(one_stuck_rotation(), &config_yaml(false)).await;
    harness
        .simulator
        .fail(FaultRule::new(Fault::AccessDenied).operation("ListSecretVersionIds"));

    let run = run_check(&harness.simulator, &config_yaml(false), "json").await;
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    let report = json(&run);
    // The healthy secret's previous version needs the same call: unknown too.
    assert_eq!(report["summary"]["unevaluated_secrets"], 2);
    assert_eq!(
        not_evaluated(secret(&report, "app/fine")),
        vec![(
            "previous_version_read".to_owned(),
            "secretsmanager:ListSecretVersionIds".to_owned(),
            "access_denied".to_owned()
        )]
    );
    let stuck = secret(&report, STUCK);
    assert_eq!(verdict(stuck, "rotation_pending"), None);
    assert_eq!(
        not_evaluated(stuck),
        vec![(
            "rotation_pending".to_owned(),
            "secretsmanager:ListSecretVersionIds".to_owned(),
            "access_denied".to_owned()
        )]
    );
    // The inventory itself worked: the target is up, and the other checks judged.
    assert_eq!(verdict(stuck, "rotation_enabled"), Some(true));
    assert!(
        report["targets"]
            .as_array()
            .is_some_and(|targets| targets.iter().all(|t| t["up"] == true)),
        "{}",
        report["targets"]
    );

    let table = run_check(&harness.simulator, &config_yaml(false), "table").await;
    assert_eq!(table.code, Some(2));
    assert!(
        table.stdout.contains(
            "rotation_pending: not evaluated: secretsmanager:ListSecretVersionIds failed (access_denied)"
        ),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("2 secrets, 0 non-compliant, 2 not fully evaluated"),
        "{}",
        table.stdout
    );

    harness.exporter.poller.poll_once(Utc::now()).await;
    let metrics = harness.scrape().await;
    let target = [("account_id", ACCOUNT), ("region", REGION)];
    assert_eq!(
        metrics.count(
            "aws_secretsmanager_secret_compliant",
            &[("secret_name", STUCK), ("check", "rotation_pending")]
        ),
        0,
        "no verdict may be guessed"
    );
    assert_eq!(
        metrics.count(
            "aws_secretsmanager_noncompliant_secrets",
            &[target[0], target[1], ("check", "rotation_pending")]
        ),
        0,
        "a count of 0 would claim nothing is stuck"
    );
    assert_eq!(
        metrics.value(
            "aws_secretsmanager_unevaluated_secrets",
            &[
                target[0],
                target[1],
                ("check", "rotation_pending"),
                ("reason", "access_denied")
            ]
        ),
        1.0
    );
    assert!(
        metrics.value(
            "secrets_rotation_exporter_errors_total",
            &[
                target[0],
                target[1],
                ("source", "secretsmanager"),
                ("reason", "access_denied")
            ]
        ) >= 1.0
    );
    assert_eq!(
        metrics.value(
            "secrets_rotation_exporter_target_up",
            &[target[0], target[1], ("source", "secretsmanager")]
        ),
        1.0
    );

    // Once the permission is granted, the next poll judges it.
    harness.simulator.clear_faults();
    harness.exporter.read_everything_once(Utc::now()).await;
    let metrics = harness.scrape().await;
    assert_eq!(
        metrics.value(
            "aws_secretsmanager_secret_compliant",
            &[("secret_name", STUCK), ("check", "rotation_pending")]
        ),
        0.0
    );
    assert_eq!(
        metrics.count("aws_secretsmanager_unevaluated_secrets", &[]),
        0
    );
}

fn cloudwatch_config() -> String {
    format!(
        "{}cloudwatch:\n  enabled: true\n  region: {REGION}\n",
        config_yaml(true)
    )
}

fn published(simulator: &SimulatorHandle, metric: &str) -> Vec<f64> {
    simulator
        .cloudwatch_metric_data(ACCOUNT, REGION)
        .into_iter()
        .filter(|datum| datum.metric_name == metric)
        .filter_map(|datum| datum.value)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_always_denied_is_no_claim_that_nothing_failed() {
    let harness = Harness::start(one_stuck_rotation(), &cloudwatch_config()).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let _ = cloudwatch::start(harness.exporter.cloudwatch.as_ref(), stop_rx);
    harness
        .simulator
        .fail(FaultRule::new(Fault::AccessDenied).operation("LookupEvents"));
    let tracker = harness
        .exporter
        .tracker
        .as_ref()
        .expect("CloudTrail is read");
    let now = Utc::now();
    tracker.refresh_all(now).await;
    harness.exporter.poller.poll_once(now).await;

    let metrics: Exposition = harness.scrape().await;
    let target = [("account_id", ACCOUNT), ("region", REGION)];
    assert_eq!(
        metrics.count(
            "aws_secretsmanager_noncompliant_secrets",
            &[target[0], target[1], ("check", "rotation_failed")]
        ),
        0,
        "/metrics claims a rotation-failure count"
    );
    assert_eq!(
        metrics.count(
            "aws_secretsmanager_secret_compliant",
            &[("check", "rotation_failed")]
        ),
        0
    );
    assert_eq!(
        metrics.value(
            "aws_secretsmanager_unevaluated_secrets",
            &[
                target[0],
                target[1],
                ("check", "rotation_failed"),
                ("reason", "access_denied")
            ]
        ),
        2.0
    );
    // The other counts are known and published.
    assert_eq!(
        metrics.value(
            "aws_secretsmanager_noncompliant_secrets",
            &[target[0], target[1], ("check", "rotation_enabled")]
        ),
        0.0
    );

    let heartbeats = published(&harness.simulator, "ExporterHeartbeat");
    assert!(!heartbeats.is_empty(), "the poll published to CloudWatch");
    assert_eq!(
        published(&harness.simulator, "RotationFailures"),
        Vec::<f64>::new(),
        "CloudWatch was told a rotation-failure count"
    );
    let by_check: Vec<_> = harness
        .simulator
        .cloudwatch_metric_data(ACCOUNT, REGION)
        .into_iter()
        .filter(|d| {
            d.metric_name == "NonCompliantSecrets"
                && d.dimensions.get("Check").map(String::as_str) == Some("rotation_failed")
        })
        .collect();
    assert!(by_check.is_empty(), "{by_check:?}");

    let run = run_check(&harness.simulator, &config_yaml(true), "json").await;
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    let report = json(&run);
    let fine = secret(&report, "app/fine");
    assert_eq!(verdict(fine, "rotation_failed"), None);
    assert_eq!(
        not_evaluated(fine),
        vec![(
            "rotation_failed".to_owned(),
            "cloudtrail:LookupEvents".to_owned(),
            "access_denied".to_owned()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_spreads_version_lookups_over_polls_and_check_waits_for_all() {
    let fleet = Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .lambda(LambdaSpec::new("rotate"))
        .secrets((0..200).map(|i| changed_by_hand(&format!("app/by-hand-{i:03}"))))
        .build()
        .expect("fleet");
    // 200 lookups at 40 a second take 5 s: more than a 2 s deadline.
    let short_deadline = config_yaml(false).replace("target_timeout: 60s", "target_timeout: 2s");
    let harness = Harness::start(fleet, &short_deadline).await;

    let mut left = Vec::new();
    for _ in 0..6 {
        harness.exporter.poller.poll_once(Utc::now()).await;
        let metrics = harness.scrape().await;
        let unevaluated = |labels: &[(&str, &str)]| {
            metrics
                .samples("aws_secretsmanager_unevaluated_secrets", labels)
                .iter()
                .map(|(_, value)| *value)
                .sum::<f64>()
        };
        // The rotation Lambda is read by its own loops, not by a poll.
        let unevaluated_by_versions = unevaluated(&[])
            - unevaluated(&[("check", "rotation_lambda"), ("reason", "not_yet_read")]);
        // Each secret's one lookup answers both checks that need it.
        let age = unevaluated(&[("check", "rotation_age"), ("reason", "timeout")]);
        assert_eq!(
            unevaluated(&[("check", "previous_version_read"), ("reason", "timeout")]),
            age
        );
        assert_eq!(
            unevaluated_by_versions,
            2.0 * age,
            "only the deadline leaves the version checks unknown"
        );
        let unevaluated = age;
        // No value set by hand is ever judged from its old rotation date.
        assert_eq!(
            metrics
                .samples(
                    "aws_secretsmanager_secret_compliant",
                    &[("check", "rotation_age")]
                )
                .iter()
                .filter(|(_, value)| *value == 0.0)
                .count(),
            0
        );
        left.push(unevaluated);
        if unevaluated == 0.0 {
            break;
        }
    }
    assert!(left[0] > 0.0, "the first poll met its deadline: {left:?}");
    assert!(
        left.windows(2).all(|pair| pair[1] < pair[0]),
        "every poll makes progress: {left:?}"
    );
    assert_eq!(left.last(), Some(&0.0), "{left:?}");
    assert_eq!(
        harness.simulator.requests("ListSecretVersionIds"),
        200,
        "each secret looked up once across the polls"
    );

    let run = run_check(&harness.simulator, &short_deadline, "json").await;
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(json(&run)["summary"]["unevaluated_secrets"], 0);
    assert_eq!(harness.simulator.requests("ListSecretVersionIds"), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_cannot_finish_gives_up_at_its_timeout() {
    let simulator = simulator::start(one_stuck_rotation(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    // Every ListSecrets answers after a minute, within the 60 s target
    // timeout of the config: only the overall bound can end the check.
    simulator.fail(FaultRule::new(Fault::Delay(Duration::from_secs(59))).operation("ListSecrets"));
    let started = std::time::Instant::now();
    let run = run_check_with(&simulator, &config_yaml(false), &["--timeout=2s"]).await;
    let took = started.elapsed();
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("check did not finish within 2s"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(30), "check took {took:?}");
    simulator.shutdown().await;
}
