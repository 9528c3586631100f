//! The exporter against the AWS simulator over the real SDK: several
//! accounts and regions, pagination, denied and throttled targets, secrets
//! vanishing, and the request budget of a poll.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::Harness;
use simulator::{Fault, FaultRule, Fleet, RotationSpec, SecretSpec};

const A: &str = "111111111111";
const B: &str = "222222222222";
const DENIED: &str = "333333333333";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// 3 accounts x 2 regions; 1,050 secrets in A/us-east-1; AssumeRole into
/// the third account is denied.
fn fleet() -> Fleet {
    let big = (0..1050).map(|i| {
        SecretSpec::new(format!("bulk/secret-{i:04}"))
            .created_days_ago(10)
            .kms_key_id(format!("arn:aws:kms:us-east-1:{A}:key/bulk"))
            .tag("team", "bulk")
            .rotation(RotationSpec::every_days(30))
            .last_rotated_days_ago(5)
            .next_rotation_in_days(25)
            .last_accessed_days_ago(1)
    });
    let small = |prefix: &str, n: usize| -> Vec<SecretSpec> {
        (0..n)
            .map(|i| {
                SecretSpec::new(format!("{prefix}/secret-{i}"))
                    .created_days_ago(100)
                    .tag("team", prefix)
            })
            .collect()
    };
    Fleet::builder()
        .base_account("123456789012")
        .regions([EAST, WEST])
        .account(A)
        .region(EAST)
        .secrets(big)
        .region(WEST)
        .secrets(small("a-west", 3))
        .account(B)
        .region(EAST)
        .secrets(small("b-east", 5))
        .region(WEST)
        .secrets(small("b-west", 7))
        .account(DENIED)
        .deny_assume_role()
        .region(EAST)
        .secrets(small("denied", 2))
        .build()
        .expect("fleet")
}

fn config(poll_interval: &str) -> String {
    format!(
        r#"
poll_interval: {poll_interval}
regions: [{EAST}, {WEST}]
accounts:
  - id: "{A}"
    role_arn: arn:aws:iam::{A}:role/reader
  - id: "{B}"
    role_arn: arn:aws:iam::{B}:role/reader
    external_id: b-external
  - id: "{DENIED}"
    role_arn: arn:aws:iam::{DENIED}:role/reader
aws:
  target_timeout: 20s
  max_attempts: 3
"#
    )
}

fn target<'a>(account: &'a str, region: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("account_id", account),
        ("region", region),
        ("source", "secretsmanager"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_every_account_and_region_within_the_request_budget() {
    let harness = Harness::start(fleet(), &config("5m")).await;
    let sim = &harness.simulator;

    let started = Instant::now();
    let snapshot = harness.exporter.poller.poll_once(Utc::now()).await;
    let poll_time = started.elapsed();
    println!(
        "one poll of 3 accounts x 2 regions (1,067 secrets, 1,050 in one account-region): {poll_time:?}"
    );

    let scraped = harness.scrape().await;
    for (account, region, secrets) in [
        (A, EAST, 1050.0),
        (A, WEST, 3.0),
        (B, EAST, 5.0),
        (B, WEST, 7.0),
    ] {
        assert_eq!(
            scraped.value(
                "secrets_rotation_exporter_target_up",
                &target(account, region)
            ),
            1.0
        );
        assert_eq!(
            scraped.value(
                "aws_secretsmanager_secrets",
                &[("account_id", account), ("region", region)]
            ),
            secrets,
            "{account}/{region}"
        );
    }
    for region in [EAST, WEST] {
        assert_eq!(
            scraped.value(
                "secrets_rotation_exporter_target_up",
                &target(DENIED, region)
            ),
            0.0
        );
        assert_eq!(
            scraped.value(
                "secrets_rotation_exporter_errors_total",
                &[
                    ("account_id", DENIED),
                    ("region", region),
                    ("source", "secretsmanager"),
                    ("reason", "access_denied")
                ]
            ),
            1.0
        );
    }
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("account_id", A), ("region", EAST)]
        ),
        1050
    );
    assert_eq!(
        scraped.count("aws_secretsmanager_secret_info", &[("account_id", DENIED)]),
        0
    );
    let secrets: usize = snapshot.targets.iter().map(|t| t.secrets.len()).sum();
    assert_eq!(secrets, 1065);

    // The request budget: ceil(n/100) ListSecrets per account-region, one
    // AssumeRole per account shared by its regions, nothing per secret.
    assert_eq!(sim.requests_by_account("ListSecrets", A), 11 + 1);
    assert_eq!(sim.requests_by_account("ListSecrets", B), 1 + 1);
    assert_eq!(sim.requests_by_account("ListSecrets", DENIED), 0);
    assert_eq!(sim.requests_by_account("AssumeRole", A), 1);
    assert_eq!(sim.requests_by_account("AssumeRole", B), 1);
    assert_eq!(sim.requests("GetSecretValue"), 0);
    assert_eq!(sim.requests("DescribeSecret"), 0);
    assert_eq!(sim.requests("BatchGetSecretValue"), 0);
    let calls = sim.assume_role_calls();
    let b_call = calls
        .iter()
        .find(|c| c.role_arn.contains(B))
        .expect("AssumeRole into B");
    assert_eq!(b_call.external_id.as_deref(), Some("b-external"));
    assert_eq!(
        b_call.role_session_name.as_deref(),
        Some("secrets-rotation-exporter")
    );
    println!("requests after one poll: {:?}", sim.request_counts());
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "secretsmanager"),
                ("operation", "ListSecrets"),
                ("outcome", "ok")
            ]
        ),
        14.0
    );

    // A second poll costs the same ListSecrets again and no new AssumeRole:
    // the credentials are cached per account.
    let started = Instant::now();
    harness.exporter.poller.poll_once(Utc::now()).await;
    println!("second poll: {:?}", started.elapsed());
    assert_eq!(sim.requests_by_account("ListSecrets", A), 2 * 12);
    assert_eq!(sim.requests_by_account("ListSecrets", B), 2 * 2);
    assert_eq!(sim.requests_by_account("AssumeRole", A), 1);
    assert_eq!(sim.requests_by_account("AssumeRole", B), 1);
    assert_eq!(
        sim.requests("GetSecretValue") + sim.requests("DescribeSecret"),
        0
    );
    println!("requests after two polls: {:?}", sim.request_counts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_downs_only_that_target() {
    let harness = Harness::start(fleet(), &config("5m")).await;
    harness.simulator.fail(
        FaultRule::new(Fault::Throttling)
            .operation("ListSecrets")
            .account(B)
            .region(WEST),
    );
    harness.exporter.poller.poll_once(Utc::now()).await;
    let scraped = harness.scrape().await;
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(B, WEST)),
        0.0
    );
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(B, EAST)),
        1.0
    );
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(A, EAST)),
        1.0
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_errors_total",
            &[
                ("account_id", B),
                ("region", WEST),
                ("source", "secretsmanager"),
                ("reason", "throttled")
            ]
        ),
        1.0
    );
    // The SDK retried within max_attempts, and every attempt was counted.
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "secretsmanager"),
                ("operation", "ListSecrets"),
                ("outcome", "throttled")
            ]
        ),
        3.0
    );
    assert_eq!(
        harness.simulator.requests_by_account("ListSecrets", B),
        1 + 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_that_passes_is_retried_and_the_target_stays_up() {
    let harness = Harness::start(fleet(), &config("5m")).await;
    let mut rule = FaultRule::new(Fault::Throttling)
        .operation("ListSecrets")
        .account(A)
        .region(EAST);
    rule.remaining = Some(1);
    harness.simulator.fail(rule);
    harness.exporter.poller.poll_once(Utc::now()).await;
    let scraped = harness.scrape().await;
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(A, EAST)),
        1.0
    );
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("account_id", A), ("region", EAST)]
        ),
        1050
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "secretsmanager"),
                ("operation", "ListSecrets"),
                ("outcome", "throttled")
            ]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_secret_vanishes_at_the_next_poll() {
    let harness = Harness::start(fleet(), &config("5m")).await;
    harness.exporter.poller.poll_once(Utc::now()).await;
    let before = harness.scrape().await;
    let gone = [("secret_name", "b-west/secret-3")];
    assert!(before.count("aws_secretsmanager_secret_info", &gone) == 1);
    assert!(before.count("aws_secretsmanager_secret_compliant", &gone) > 0);

    assert!(harness.simulator.delete_secret(B, WEST, "b-west/secret-3"));
    harness.exporter.poller.poll_once(Utc::now()).await;
    let after = harness.scrape().await;
    for line in after.0.lines() {
        assert!(!line.contains("\"b-west/secret-3\""), "left behind: {line}");
    }
    assert_eq!(
        after.value(
            "aws_secretsmanager_secrets",
            &[("account_id", B), ("region", WEST)]
        ),
        6.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_keeps_its_series_for_three_intervals() {
    let harness = Harness::start(fleet(), &config("5m")).await;
    let poller = &harness.exporter.poller;
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("time");
    let interval = chrono::Duration::minutes(5);
    poller.poll_once(t0).await;

    harness.simulator.fail(
        FaultRule::new(Fault::AccessDenied)
            .operation("ListSecrets")
            .account(B)
            .region(EAST),
    );
    for n in 1..=2 {
        poller.poll_once(t0 + interval * n).await;
        let scraped = harness.scrape().await;
        assert_eq!(
            scraped.value("secrets_rotation_exporter_target_up", &target(B, EAST)),
            0.0
        );
        assert_eq!(
            scraped.count(
                "aws_secretsmanager_secret_info",
                &[("account_id", B), ("region", EAST)]
            ),
            5,
            "poll {n}: the last good series are kept"
        );
        assert_eq!(
            scraped.value(
                "secrets_rotation_exporter_target_last_success_timestamp_seconds",
                &target(B, EAST)
            ),
            t0.timestamp() as f64
        );
    }
    poller.poll_once(t0 + interval * 3).await;
    let scraped = harness.scrape().await;
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(B, EAST)),
        0.0
    );
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("account_id", B), ("region", EAST)]
        ),
        0,
        "after three intervals of failure the series are dropped"
    );
    // Others never blinked.
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("account_id", B), ("region", WEST)]
        ),
        7
    );

    harness.simulator.clear_faults();
    poller.poll_once(t0 + interval * 4).await;
    let scraped = harness.scrape().await;
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(B, EAST)),
        1.0
    );
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("account_id", B), ("region", EAST)]
        ),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_target_times_out_without_holding_the_others() {
    let yaml = config("5m").replace("target_timeout: 20s", "target_timeout: 2s");
    let harness = Harness::start(fleet(), &yaml).await;
    harness.simulator.fail(
        FaultRule::new(Fault::Delay(Duration::from_secs(30)))
            .operation("ListSecrets")
            .account(A)
            .region(WEST),
    );
    let started = Instant::now();
    harness.exporter.poller.poll_once(Utc::now()).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "the poll waited {elapsed:?} for a hung target"
    );
    let scraped = harness.scrape().await;
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &target(A, WEST)),
        0.0
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_errors_total",
            &[
                ("account_id", A),
                ("region", WEST),
                ("source", "secretsmanager"),
                ("reason", "timeout")
            ]
        ),
        1.0
    );
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("account_id", A), ("region", EAST)]
        ),
        1050
    );
}

/// Who rotates each secret, as `ListSecrets` tells it through the SDK: a
/// managed external secret, one its owning service rotates (with a Lambda
/// ARN left over), one rotated by a Lambda, and one nobody rotates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_type_comes_from_what_list_secrets_returns() {
    let lambda = "arn:aws:lambda:us-east-1:123456789012:function:rotate-db";
    let fleet = Fleet::builder()
        .regions(["us-east-1"])
        .secret(
            SecretSpec::new("crm/salesforce")
                .secret_type("SalesforceClientSecret")
                .external_secret_rotation_role_arn("arn:aws:iam::123456789012:role/rotate-crm")
                .external_secret_rotation_metadata("apiVersion", "v60.0"),
        )
        .secret(
            SecretSpec::new("rds!db-0123")
                .owning_service("rds")
                .rotation(RotationSpec::every_days(7).lambda(lambda)),
        )
        .secret(SecretSpec::new("app/db").rotation(RotationSpec::every_days(30).lambda(lambda)))
        .secret(SecretSpec::new("app/api-key"))
        .build()
        .expect("fleet builds");
    let harness = Harness::start(
        fleet,
        "regions: [us-east-1]\ncloudtrail: { enabled: false }\n",
    )
    .await;
    harness.exporter.poller.poll_once(Utc::now()).await;
    let exposition = harness.scrape().await;
    for (secret, rotation_type) in [
        ("crm/salesforce", "external"),
        ("rds!db-0123", "service"),
        ("app/db", "lambda"),
        ("app/api-key", "none"),
    ] {
        assert_eq!(
            exposition.value(
                "aws_secretsmanager_secret_info",
                &[("secret_name", secret), ("rotation_type", rotation_type)]
            ),
            1.0,
            "{secret} is rotated by {rotation_type}"
        );
    }
}
