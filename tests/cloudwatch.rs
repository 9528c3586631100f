//! CloudWatch against the simulator: the data points one poll publishes, the
//! alarm plan against hand-made, stale and drifted alarms, an apply that a
//! second plan finds nothing left to do for, and an outage that leaves
//! `/metrics` whole.

mod common;

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic, Tag};
use chrono::Utc;
use common::{Exposition, Harness};
use secrets_rotation_exporter::cloudwatch::{self, MANAGED_TAG_KEY, MANAGED_TAG_VALUE};
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use simulator::{
    Fault, FaultRule, Fleet, LambdaSpec, MetricDatumRecord, RotationSpec, SecretSpec,
    SimulatorHandle,
};

const BASE: &str = "123456789012";
const ACCOUNT: &str = "111111111111";
const OTHER: &str = "222222222222";
const REGION: &str = "us-east-1";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:oncall";

fn rotating(account: &str, name: &str) -> SecretSpec {
    SecretSpec::new(name)
        .created_days_ago(100)
        .kms_key_id(format!("arn:aws:kms:{REGION}:{account}:key/k"))
        .tag("team", "payments")
        .rotation(
            RotationSpec::every_days(30)
                .lambda(format!("arn:aws:lambda:{REGION}:{account}:function:rotate")),
        )
        .last_rotated_days_ago(5)
        .last_changed_days_ago(5)
        .next_rotation_in_days(25)
        .last_accessed_days_ago(1)
}

/// ACCOUNT: four rotating secrets and one that never rotates (40 days old);
/// OTHER: three rotating secrets.
fn fleet() -> Fleet {
    Fleet::builder()
        .base_account(BASE)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .lambda(LambdaSpec::new("rotate"))
        .secrets((0..4).map(|i| rotating(ACCOUNT, &format!("app/secret-{i}"))))
        .secret(
            SecretSpec::new("app/never-rotated")
                .created_days_ago(40)
                .kms_key_id(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k"))
                .tag("team", "payments")
                .last_accessed_days_ago(1),
        )
        .account(OTHER)
        .region(REGION)
        .lambda(LambdaSpec::new("rotate"))
        .secrets((0..3).map(|i| rotating(OTHER, &format!("other/secret-{i}"))))
        .build()
        .expect("fleet")
}

fn config_yaml(cloudwatch: &str) -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{ACCOUNT}"
    role_arn: arn:aws:iam::{ACCOUNT}:role/reader
  - id: "{OTHER}"
    role_arn: arn:aws:iam::{OTHER}:role/reader
cloudtrail: {{ enabled: true, lookback: 7d, requests_per_second: 2 }}
cloudwatch:
{cloudwatch}
"#
    )
}

const PUBLISHING: &str = "  enabled: true\n  region: us-east-1\n";

/// One read of every source around one poll, which publishes through the hook.
async fn cycle(harness: &Harness) -> Exposition {
    harness.exporter.read_everything_once(Utc::now()).await;
    harness.scrape().await
}

fn find<'a>(
    data: &'a [MetricDatumRecord],
    metric: &str,
    dimensions: &[(&str, &str)],
) -> Vec<&'a MetricDatumRecord> {
    data.iter()
        .filter(|d| d.metric_name == metric)
        .filter(|d| {
            d.dimensions.len() == dimensions.len()
                && dimensions
                    .iter()
                    .all(|(k, v)| d.dimensions.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn value(data: &[MetricDatumRecord], metric: &str, dimensions: &[(&str, &str)]) -> f64 {
    let found = find(data, metric, dimensions);
    assert_eq!(
        found.len(),
        1,
        "expected one {metric}{dimensions:?}, found {found:?}"
    );
    found[0].value.unwrap_or(f64::NAN)
}

fn cloudwatch_requests(sim: &SimulatorHandle) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for ((service, operation, _), count) in sim.request_counts() {
        if service == "cloudwatch" {
            *counts.entry(operation).or_insert(0) += count;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_publishes_the_fleets_aggregates_to_the_configured_account_and_region() {
    let harness = Harness::start(fleet(), &config_yaml(PUBLISHING)).await;
    let sim = &harness.simulator;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let reconciler = cloudwatch::start(harness.exporter.cloudwatch.as_ref(), stop_rx);
    assert!(
        reconciler.is_none(),
        "alarms are not managed in this config"
    );
    sim.fail_rotation(ACCOUNT, REGION, "app/secret-1")
        .expect("fail a rotation");
    sim.reset_counts();

    let scraped = cycle(&harness).await;
    let requests = cloudwatch_requests(sim);
    println!("CloudWatch requests of one publish: {requests:?}");
    assert_eq!(requests, BTreeMap::from([("PutMetricData".to_string(), 1)]));

    let data = sim.cloudwatch_metric_data(BASE, REGION);
    assert!(data.iter().all(|d| d.namespace == "SecretsRotation"));
    assert!(
        data.iter()
            .all(|d| d.value.is_some_and(f64::is_finite) && d.values.is_empty())
    );
    let account = [("AccountId", ACCOUNT), ("Region", REGION)];
    let other = [("AccountId", OTHER), ("Region", REGION)];
    assert_eq!(value(&data, "Secrets", &account), 5.0);
    assert_eq!(value(&data, "Secrets", &other), 3.0);
    assert_eq!(value(&data, "RotationFailures", &account), 1.0);
    assert_eq!(value(&data, "RotationFailures", &other), 0.0);
    let by_check = |check: &str| {
        value(
            &data,
            "NonCompliantSecrets",
            &[("AccountId", ACCOUNT), ("Region", REGION), ("Check", check)],
        )
    };
    assert_eq!(by_check("rotation_failed"), 1.0);
    assert_eq!(by_check("rotation_enabled"), 1.0);
    assert_eq!(by_check("rotation_age"), 1.0);
    assert_eq!(value(&data, "NonCompliantSecrets", &account), 2.0);
    assert_eq!(value(&data, "NonCompliantSecrets", &other), 0.0);
    assert_eq!(value(&data, "MaxRotationAgeDays", &account).round(), 40.0);
    assert_eq!(value(&data, "ExporterHeartbeat", &account), 1.0);
    assert_eq!(value(&data, "ExporterHeartbeat", &other), 1.0);
    // Fleet totals, without dimensions, are what the alarms watch.
    assert_eq!(value(&data, "Secrets", &[]), 8.0);
    assert_eq!(value(&data, "RotationFailures", &[]), 1.0);
    assert_eq!(value(&data, "NonCompliantSecrets", &[]), 2.0);
    assert_eq!(value(&data, "ExporterHeartbeat", &[]), 1.0);
    assert!(
        find(&data, "SecretFailedChecks", &[]).is_empty()
            && data
                .iter()
                .all(|d| !d.dimensions.contains_key("SecretName")),
        "per-secret metrics were not asked for"
    );
    println!("{} data points in one publish", data.len());

    // Nothing went to the polled accounts, only to the configured one.
    assert!(sim.cloudwatch_metric_data(ACCOUNT, REGION).is_empty());
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_target_up",
            &[
                ("account_id", BASE),
                ("region", REGION),
                ("source", "cloudwatch")
            ]
        ),
        1.0
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "cloudwatch"),
                ("operation", "PutMetricData"),
                ("outcome", "ok")
            ]
        ),
        1.0
    );
}

fn seed_alarm(
    client: &aws_sdk_cloudwatch::Client,
    name: &str,
    metric: &str,
    threshold: f64,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("SecretsRotation")
        .metric_name(metric)
        .statistic(Statistic::Maximum)
        .period(300)
        .evaluation_periods(2)
        .datapoints_to_alarm(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("ignore")
        .alarm_actions(TOPIC)
        .ok_actions(TOPIC)
}

fn managed_tag() -> Tag {
    Tag::builder()
        .key(MANAGED_TAG_KEY)
        .value(MANAGED_TAG_VALUE)
        .build()
}

async fn run(yaml: &str, sim: &SimulatorHandle, apply: bool) -> (cloudwatch::Plan, String) {
    let config = config::parse(yaml).expect("config");
    let mut out = Vec::new();
    let plan =
        cloudwatch::alarms_command(config, &simulator_sdk_config(sim).await, apply, &mut out)
            .await
            .expect("alarms command");
    (plan, String::from_utf8(out).expect("utf-8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_changes_only_managed_alarms_and_a_second_apply_writes_nothing() {
    let sim = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    let client = aws_sdk_cloudwatch::Client::new(&simulator_sdk_config(&sim).await);
    // Made by hand: one outside the prefix, one under it without the tag.
    seed_alarm(&client, "team-db-connections", "DatabaseConnections", 100.0)
        .send()
        .await
        .expect("hand-made alarm");
    seed_alarm(&client, "secrets-rotation-hand-made", "Secrets", 1000.0)
        .send()
        .await
        .expect("hand-made alarm under the prefix");
    // Managed, but no longer wanted.
    seed_alarm(&client, "secrets-rotation-stale", "OverdueRotations", 1.0)
        .tags(managed_tag())
        .send()
        .await
        .expect("stale alarm");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let yaml = config_yaml(&format!(
        "  region: us-east-1\n  alarms: {{ manage: true, actions: [\"{TOPIC}\"] }}\n"
    ));
    let wanted = cloudwatch::desired_alarms(&config::parse(&yaml).expect("config"));
    let failures = wanted
        .iter()
        .find(|a| a.name == "secrets-rotation-rotation-failures")
        .expect("a rotation failures alarm is wanted");
    // Managed and drifted: as the exporter made it, but someone raised the threshold.
    seed_alarm(
        &client,
        "secrets-rotation-rotation-failures",
        "RotationFailures",
        5.0,
    )
    .set_alarm_description(failures.description.clone())
    .tags(managed_tag())
    .send()
    .await
    .expect("drifted alarm");
    let hand_made_before: Vec<_> = sim
        .cloudwatch_alarms(BASE, REGION)
        .into_iter()
        .filter(|a| a.name.contains("hand-made") || a.name.starts_with("team-"))
        .collect();

    sim.reset_counts();
    let (plan, output) = run(&yaml, &sim, false).await;
    println!("alarms plan:\n{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines,
        [
            "create secrets-rotation-exporter-heartbeat (ExporterHeartbeat Minimum < 1 over 300s)",
            "update secrets-rotation-rotation-failures (threshold: 5 -> 1)",
            "delete secrets-rotation-stale",
            "1 to create, 1 to update, 1 to delete, 0 unchanged",
        ]
    );
    assert_eq!(plan.delete, ["secrets-rotation-stale"]);
    let planning = cloudwatch_requests(&sim);
    assert_eq!(
        planning.get("PutMetricAlarm"),
        None,
        "plan wrote: {planning:?}"
    );
    assert_eq!(
        planning.get("DeleteAlarms"),
        None,
        "plan wrote: {planning:?}"
    );

    let (_, applied) = run(&yaml, &sim, true).await;
    println!("alarms apply:\n{applied}");
    let names: Vec<String> = sim
        .cloudwatch_alarms(BASE, REGION)
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(
        names,
        [
            "secrets-rotation-exporter-heartbeat",
            "secrets-rotation-hand-made",
            "secrets-rotation-rotation-failures",
            "team-db-connections",
        ]
    );
    let heartbeat = sim
        .cloudwatch_alarms(BASE, REGION)
        .into_iter()
        .find(|a| a.name == "secrets-rotation-exporter-heartbeat")
        .expect("heartbeat alarm");
    assert_eq!(heartbeat.treat_missing_data.as_deref(), Some("breaching"));
    assert_eq!(heartbeat.alarm_actions, [TOPIC]);
    assert_eq!(
        heartbeat.tags.get(MANAGED_TAG_KEY).map(String::as_str),
        Some(MANAGED_TAG_VALUE)
    );
    let hand_made_after: Vec<_> = sim
        .cloudwatch_alarms(BASE, REGION)
        .into_iter()
        .filter(|a| a.name.contains("hand-made") || a.name.starts_with("team-"))
        .collect();
    assert_eq!(
        hand_made_after, hand_made_before,
        "hand-made alarms changed"
    );

    sim.reset_counts();
    let (again, output) = run(&yaml, &sim, true).await;
    println!("second apply:\n{output}");
    assert!(again.is_empty(), "second apply planned {again:?}");
    assert_eq!(output.trim(), "no changes: 2 alarms up to date");
    let second = cloudwatch_requests(&sim);
    for write in ["PutMetricAlarm", "DeleteAlarms", "TagResource"] {
        assert_eq!(second.get(write), None, "second apply wrote: {second:?}");
    }
    println!("requests of the second apply: {second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudwatch_outage_leaves_metrics_complete_and_marks_cloudwatch_down() {
    let harness = Harness::start(fleet(), &config_yaml(PUBLISHING)).await;
    let sim = &harness.simulator;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let _ = cloudwatch::start(harness.exporter.cloudwatch.as_ref(), stop_rx);
    sim.fail(FaultRule::new(Fault::AccessDenied).operation("PutMetricData"));

    let scraped = cycle(&harness).await;
    let cloudwatch_up = [
        ("account_id", BASE),
        ("region", REGION),
        ("source", "cloudwatch"),
    ];
    assert_eq!(
        scraped.value("secrets_rotation_exporter_target_up", &cloudwatch_up),
        0.0
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_errors_total",
            &[
                ("account_id", BASE),
                ("source", "cloudwatch"),
                ("reason", "access_denied")
            ]
        ),
        1.0
    );
    for account in [ACCOUNT, OTHER] {
        assert_eq!(
            scraped.value(
                "secrets_rotation_exporter_target_up",
                &[("account_id", account), ("source", "secretsmanager")]
            ),
            1.0
        );
    }
    assert_eq!(
        scraped.value("aws_secretsmanager_secrets", &[("account_id", ACCOUNT)]),
        5.0
    );
    assert_eq!(
        scraped.count("aws_secretsmanager_secret_info", &[("account_id", OTHER)]),
        3
    );
    // The publishing account is not polled: it gets health series only.
    assert_eq!(
        scraped.count("aws_secretsmanager_secrets", &[("account_id", BASE)]),
        0
    );
    assert!(sim.cloudwatch_metric_data(BASE, REGION).is_empty());

    sim.clear_faults();
    let recovered = cycle(&harness).await;
    assert_eq!(
        recovered.value("secrets_rotation_exporter_target_up", &cloudwatch_up),
        1.0
    );
    assert!(!sim.cloudwatch_metric_data(BASE, REGION).is_empty());
}

/// Two replicas that split the fleet publish to one account and region: each
/// one's totals and alarms carry its `Shard`, and neither replica's alarm
/// plan touches the other's alarms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_a_split_fleet_keep_their_own_totals_and_alarms() {
    let managing = format!(
        "  enabled: true\n  region: us-east-1\n  alarms: {{ manage: true, actions: [\"{TOPIC}\"] }}\n"
    );
    let split = |cloudwatch: &str, index: u32| {
        format!(
            "{}shard: {{ index: {index}, count: 2 }}\n",
            config_yaml(cloudwatch)
        )
    };
    let replica = |index: u32| split(&managing, index);

    // The totals of the replica that polls ACCOUNT (the hash decides which).
    let owner = config::Shard::of(ACCOUNT, 2);
    let harness = Harness::start(fleet(), &split(PUBLISHING, owner)).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let reconciler = cloudwatch::start(harness.exporter.cloudwatch.as_ref(), stop_rx);
    assert!(reconciler.is_none(), "this replica only publishes");
    cycle(&harness).await;
    let data = harness.simulator.cloudwatch_metric_data(BASE, REGION);
    let shard = format!("{owner}-of-2");
    let expected_secrets = if config::Shard::of(OTHER, 2) == owner {
        8.0
    } else {
        5.0
    };
    assert_eq!(
        value(&data, "Secrets", &[("Shard", shard.as_str())]),
        expected_secrets
    );
    assert_eq!(
        value(&data, "ExporterHeartbeat", &[("Shard", shard.as_str())]),
        1.0
    );
    assert!(
        find(&data, "Secrets", &[]).is_empty(),
        "no total without the shard"
    );

    // Both replicas' alarms, side by side in one account and region.
    let sim = &harness.simulator;
    let (first, _) = run(&replica(0), sim, true).await;
    let (second, _) = run(&replica(1), sim, true).await;
    assert!(first.delete.is_empty() && second.delete.is_empty());
    assert_eq!(first.create.len(), second.create.len());
    assert!(!first.create.is_empty());
    let alarms = sim.cloudwatch_alarms(BASE, REGION);
    for index in 0..2 {
        let name = format!("secrets-rotation-shard-{index}-of-2-rotation-failures");
        let alarm = alarms
            .iter()
            .find(|alarm| alarm.name == name)
            .unwrap_or_else(|| panic!("{name} in {alarms:?}"));
        assert_eq!(
            alarm.dimensions,
            [("Shard".to_string(), format!("{index}-of-2"))]
        );
    }
    // Each replica finds its own alarms as it made them and leaves the other's.
    let (again, _) = run(&replica(0), sim, true).await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, first.create.len());
    let (again, _) = run(&replica(1), sim, true).await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(sim.cloudwatch_alarms(BASE, REGION).len(), alarms.len());
    // A config without a shard, under the same prefix, leaves them alone too.
    let (single, _) = run(&config_yaml(&managing), sim, false).await;
    assert!(single.delete.is_empty(), "{single:?}");
    assert!(single.update.is_empty(), "{single:?}");
}

/// Publishing runs beside the polls: a CloudWatch that answers after
/// several poll intervals must not make the inventory skip ticks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_cloudwatch_never_makes_polls_skip_ticks() {
    let sim = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let mut config = config::parse(&config_yaml(PUBLISHING)).expect("config");
    // Shorter than validation allows, so that the test sees several ticks
    // in seconds; the loop itself does not care. Publishing may take up to
    // the target timeout, here three intervals.
    config.poll_interval = std::time::Duration::from_secs(1);
    config.aws.target_timeout = std::time::Duration::from_secs(3);
    config.aws.operation_timeout = std::time::Duration::from_secs(30);
    let exporter =
        secrets_rotation_exporter::app::Exporter::build(config, simulator_sdk_config(&sim).await)
            .await
            .expect("exporter builds");
    sim.fail(
        FaultRule::new(Fault::Delay(std::time::Duration::from_secs(6))).operation("PutMetricData"),
    );
    sim.reset_counts();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let polling = tokio::spawn(exporter.poller.clone().run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    let _ = stop.send(());
    let _ = polling.await;

    let mut text = String::new();
    exporter.metrics.render(&mut text).expect("render");
    assert_eq!(
        Exposition(text).value("secrets_rotation_exporter_polls_skipped_total", &[]),
        0.0,
        "a poll tick was skipped while CloudWatch hung"
    );
    // Ticks at 0, 1, 2, 3 and 4 s: each one polls both accounts.
    let polls = sim.requests_by_account("ListSecrets", ACCOUNT);
    assert!(polls >= 4, "{polls} polls of {ACCOUNT} in 4.5 s at 1 s");
    let published = sim.requests("PutMetricData");
    assert!(
        (1..=2).contains(&published),
        "one publishing at a time, each up to 3 s: the polls while one hangs are not published ({published})"
    );
    sim.shutdown().await;
}
