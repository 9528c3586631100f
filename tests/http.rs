//! The HTTP surface on a real listener bound to 127.0.0.1:0.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Exposition, Harness};
use secrets_rotation_exporter::snapshot::ErrorReason;
use simulator::{Fault, FaultRule, Fleet, SecretSpec};

const ACCOUNT: &str = "111111111111";

fn fleet() -> Fleet {
    Fleet::builder()
        .base_account(ACCOUNT)
        .regions(["us-east-1", "eu-west-1"])
        .account(ACCOUNT)
        .region("us-east-1")
        .secrets(
            (0..250).map(|i| SecretSpec::new(format!("app/secret-{i:03}")).created_days_ago(3)),
        )
        .region("eu-west-1")
        .secrets((0..20).map(|i| SecretSpec::new(format!("eu/secret-{i:02}")).created_days_ago(3)))
        .build()
        .expect("fleet")
}

/// No accounts listed: the exporter polls the account of the base credentials.
const CONFIG: &str = "regions: [us-east-1, eu-west-1]\n";

/// The part of a scrape that comes from the snapshot, without the
/// exporter's own counters, which move while a poll runs.
fn snapshot_part(scraped: &Exposition) -> Vec<String> {
    scraped
        .0
        .lines()
        .filter(|line| {
            line.starts_with("aws_secretsmanager_")
                || line.starts_with("secrets_rotation_exporter_target_")
                || line.starts_with("secrets_rotation_exporter_last_poll")
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_the_first_poll_then_ready() {
    let harness = Harness::start(fleet(), CONFIG).await;
    let (status, _) = harness.get("/readyz").await;
    assert_eq!(status, 503);
    let (status, body) = harness.get("/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    // Before the first poll /metrics still answers, with the exporter's own metrics only.
    let scraped = harness.scrape().await;
    assert_eq!(scraped.count("aws_secretsmanager_secret_info", &[]), 0);
    assert_eq!(
        scraped.count("secrets_rotation_exporter_build_info", &[]),
        1
    );

    harness.exporter.poller.poll_once(Utc::now()).await;
    let (status, _) = harness.get("/readyz").await;
    assert_eq!(status, 200);
    let (status, landing) = harness.get("/").await;
    assert_eq!(status, 200);
    assert!(
        landing.contains("href=\"metrics\""),
        "landing page links /metrics: {landing}"
    );
    assert!(landing.contains("270 secrets"), "landing page: {landing}");
    let response = reqwest::get(&harness.metrics_url)
        .await
        .expect("GET /metrics");
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_during_a_poll_serve_the_previous_snapshot_whole() {
    let harness = Harness::start(fleet(), CONFIG).await;
    let poller = harness.exporter.poller.clone();
    poller.poll_once(Utc::now()).await;
    let before = harness.scrape().await;
    let before_part = snapshot_part(&before);
    assert_eq!(before.count("aws_secretsmanager_secret_info", &[]), 270);

    // The next poll will see a secret fewer, and one region answers slowly.
    assert!(
        harness
            .simulator
            .delete_secret(ACCOUNT, "us-east-1", "app/secret-007")
    );
    harness.simulator.fail(
        FaultRule::new(Fault::Delay(Duration::from_millis(1500)))
            .operation("ListSecrets")
            .region("eu-west-1"),
    );
    let poll = tokio::spawn(async move { poller.poll_once(Utc::now()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut scrapes_during_poll = 0;
    while !poll.is_finished() {
        let during = harness.scrape().await;
        if poll.is_finished() {
            break;
        }
        assert_eq!(
            snapshot_part(&during),
            before_part,
            "a scrape during the poll changed"
        );
        scrapes_during_poll += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        scrapes_during_poll >= 3,
        "only {scrapes_during_poll} scrapes landed during the poll"
    );
    poll.await.expect("poll task");

    let after = harness.scrape().await;
    assert_eq!(after.count("aws_secretsmanager_secret_info", &[]), 269);
    assert_eq!(
        after.count(
            "aws_secretsmanager_secret_info",
            &[("secret_name", "app/secret-007")]
        ),
        0
    );
}

/// GETs `/metrics` asking for gzip and decompresses every member.
async fn scrape_gzip(harness: &Harness) -> Exposition {
    use std::io::Read;
    let response = reqwest::Client::new()
        .get(&harness.metrics_url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let body = response.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .expect("gzip");
    Exposition(text)
}

/// The error counters, one series per target, source and reason, are kept
/// rendered between changes; a failed poll still shows in both encodings at
/// the next scrape, and the text is the same whichever encoding is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_poll_reaches_the_error_counters_of_both_encodings_at_the_next_scrape() {
    const ERRORS: &str = "secrets_rotation_exporter_errors_total";
    let harness = Harness::start(fleet(), CONFIG).await;
    harness.exporter.poller.poll_once(Utc::now()).await;
    let denied = [
        ("region", "eu-west-1"),
        ("source", "secretsmanager"),
        ("reason", "access_denied"),
    ];
    for _ in 0..2 {
        assert_eq!(harness.scrape().await.value(ERRORS, &denied), 0.0);
        assert_eq!(scrape_gzip(&harness).await.value(ERRORS, &denied), 0.0);
    }
    // Every reason of a target and source starts at 0.
    assert_eq!(
        harness.scrape().await.count(
            ERRORS,
            &[("region", "eu-west-1"), ("source", "secretsmanager")]
        ),
        ErrorReason::ALL.len()
    );

    harness.simulator.fail(
        FaultRule::new(Fault::AccessDenied)
            .operation("ListSecrets")
            .region("eu-west-1"),
    );
    harness.exporter.poller.poll_once(Utc::now()).await;
    let gzip = scrape_gzip(&harness).await;
    let plain = harness.scrape().await;
    assert_eq!(gzip.value(ERRORS, &denied), 1.0);
    assert_eq!(plain.value(ERRORS, &denied), 1.0);
    let errors_of = |scraped: &Exposition| {
        scraped
            .0
            .lines()
            .filter(|line| line.starts_with(ERRORS))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(errors_of(&gzip), errors_of(&plain));
}
