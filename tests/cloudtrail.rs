//! Rotation truth from CloudTrail, against the simulator: a failure reaches
//! the metrics within one poll, a restart reads history without counting it,
//! late events are seen once, paging stays within the quota, and a steady
//! fleet costs no version lookups.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Exposition, Harness};
use simulator::{Fleet, RotationEventName, RotationEventSpec, RotationSpec, SecretSpec};

const ACCOUNT: &str = "111111111111";
const OTHER: &str = "222222222222";
const REGION: &str = "us-east-1";

fn rotating(name: &str) -> SecretSpec {
    SecretSpec::new(name)
        .created_days_ago(100)
        .kms_key_id(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k"))
        .tag("team", "payments")
        .rotation(
            RotationSpec::every_days(30)
                .lambda(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate")),
        )
        .last_rotated_days_ago(5)
        .last_changed_days_ago(5)
        .next_rotation_in_days(25)
        .last_accessed_days_ago(1)
}

fn fleet(secrets: usize) -> Fleet {
    Fleet::builder()
        .base_account("123456789012")
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .secrets((0..secrets).map(|i| rotating(&format!("app/secret-{i:02}"))))
        .account(OTHER)
        .region(REGION)
        .secrets((0..3).map(|i| rotating(&format!("other/secret-{i}"))))
        .build()
        .expect("fleet")
}

fn config(requests_per_second: f64) -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{ACCOUNT}"
    role_arn: arn:aws:iam::{ACCOUNT}:role/reader
  - id: "{OTHER}"
    role_arn: arn:aws:iam::{OTHER}:role/reader
cloudtrail: {{ enabled: true, lookback: 7d, requests_per_second: {requests_per_second} }}
"#
    )
}

fn secret(name: &str) -> [(&str, &str); 2] {
    [("account_id", ACCOUNT), ("secret_name", name)]
}

/// One CloudTrail refresh then one inventory poll, as a running exporter does each interval.
async fn cycle(harness: &Harness) -> Exposition {
    let now = Utc::now();
    if let Some(tracker) = &harness.exporter.tracker {
        tracker.refresh_all(now).await;
    }
    harness.exporter.poller.poll_once(now).await;
    harness.scrape().await
}

fn compliant(scraped: &Exposition, name: &str, check: &str) -> Option<f64> {
    let found = scraped.samples(
        "aws_secretsmanager_secret_compliant",
        &[
            ("account_id", ACCOUNT),
            ("secret_name", name),
            ("check", check),
        ],
    );
    found.first().map(|(_, v)| *v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rotation_reaches_the_metrics_within_one_poll_and_a_success_clears_it() {
    let harness = Harness::start(fleet(4), &config(2.0)).await;
    let sim = &harness.simulator;
    let before = cycle(&harness).await;
    assert_eq!(
        compliant(&before, "app/secret-01", "rotation_failed"),
        Some(1.0)
    );
    assert_eq!(
        before.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ACCOUNT), ("source", "cloudtrail")]
        ),
        1.0
    );

    let failed_at = Instant::now();
    let outcome = sim
        .fail_rotation(ACCOUNT, REGION, "app/secret-01")
        .expect("fail");
    let after = cycle(&harness).await;
    let delay = failed_at.elapsed();
    println!(
        "failure injected -> rotation_failed 0 on /metrics: {delay:?} (one refresh and one poll; events visible at once)"
    );
    assert_eq!(
        compliant(&after, "app/secret-01", "rotation_failed"),
        Some(0.0)
    );
    assert_eq!(
        compliant(&after, "app/secret-02", "rotation_failed"),
        Some(1.0)
    );
    let failed_ts = after.value(
        "aws_secretsmanager_secret_rotation_last_event_timestamp_seconds",
        &[("secret_name", "app/secret-01"), ("event", "failed")],
    );
    assert!(
        (failed_ts - Utc::now().timestamp() as f64).abs() < 120.0,
        "{failed_ts}"
    );
    assert_eq!(
        after.value(
            "aws_secretsmanager_rotation_events_total",
            &[("account_id", ACCOUNT), ("event", "failed")]
        ),
        1.0
    );
    assert_eq!(
        after.value(
            "aws_secretsmanager_noncompliant_secrets",
            &[("account_id", ACCOUNT), ("check", "rotation_failed")]
        ),
        1.0
    );
    // The failure left a pending version; its creation was looked up.
    let pending_since = after.value(
        "aws_secretsmanager_secret_rotation_pending_since_timestamp_seconds",
        &secret("app/secret-01"),
    );
    assert!(pending_since > 0.0);
    assert_eq!(
        compliant(&after, "app/secret-01", "rotation_pending"),
        Some(1.0)
    );
    // Stuck past pending_timeout (6h), it is judged so, and `check` (which
    // keeps the verdicts' details) names the rotation that left it pending.
    let later = Utc::now() + chrono::Duration::hours(7);
    harness.exporter.poller.explain_verdicts(true);
    let report = harness.exporter.poller.poll_once(later).await;
    let stuck = report
        .targets
        .iter()
        .flat_map(|t| &t.secrets)
        .find(|s| s.record.name == "app/secret-01")
        .and_then(|s| {
            s.evaluation
                .verdicts
                .iter()
                .find(|v| v.check.as_str() == "rotation_pending")
        })
        .expect("rotation_pending verdict");
    assert!(!stuck.compliant, "{}", stuck.reason());
    assert_eq!(
        stuck.event().as_ref().map(|e| e.id.clone()),
        outcome.event_ids.first().cloned(),
        "the verdict names the RotationStarted event"
    );

    sim.succeed_rotation(ACCOUNT, REGION, "app/secret-01")
        .expect("succeed");
    let recovered = cycle(&harness).await;
    assert_eq!(
        compliant(&recovered, "app/secret-01", "rotation_failed"),
        Some(1.0)
    );
    assert_eq!(
        compliant(&recovered, "app/secret-01", "rotation_pending"),
        None
    );
    assert_eq!(
        recovered.value(
            "aws_secretsmanager_rotation_events_total",
            &[("account_id", ACCOUNT), ("event", "started")]
        ),
        2.0
    );
    assert_eq!(
        recovered.value(
            "aws_secretsmanager_rotation_events_total",
            &[("account_id", ACCOUNT), ("event", "succeeded")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_exporter_reads_history_and_agrees_without_counting_it() {
    let throughout = Harness::start(fleet(6), &config(2.0)).await;
    let sim = throughout.simulator.clone();
    cycle(&throughout).await;

    // CloudTrail keeps whole seconds: the steps of one secret are a second
    // apart, as real rotations are far more.
    let step = Duration::from_millis(1100);
    for name in ["app/secret-00", "app/secret-01", "app/secret-02"] {
        sim.fail_rotation(ACCOUNT, REGION, name).expect("fail");
    }
    tokio::time::sleep(step).await;
    sim.succeed_rotation(ACCOUNT, REGION, "app/secret-01")
        .expect("succeed");
    sim.abandon_rotation(ACCOUNT, REGION, "app/secret-02")
        .expect("abandon");
    sim.succeed_rotation(ACCOUNT, REGION, "app/secret-03")
        .expect("succeed");
    let ran_throughout = cycle(&throughout).await;

    // A second exporter against the same AWS, started after all of it.
    let config_yaml = config(2.0);
    let restarted = {
        let config = secrets_rotation_exporter::config::parse(&config_yaml).expect("config");
        let base = secrets_rotation_exporter::demo::simulator_sdk_config(&sim).await;
        secrets_rotation_exporter::app::Exporter::build(config, base)
            .await
            .expect("exporter")
    };
    let now = Utc::now();
    restarted
        .tracker
        .as_ref()
        .expect("tracker")
        .refresh_all(now)
        .await;
    let snapshot = restarted.poller.poll_once(now).await;
    let mut text = String::new();
    secrets_rotation_exporter::metrics::render_snapshot(
        &snapshot,
        &secrets_rotation_exporter::metrics::RenderOptions::from_labels(&restarted.config.labels),
        &mut text,
    );
    let after_restart = Exposition(text);

    for family in [
        "aws_secretsmanager_secret_rotation_last_event_timestamp_seconds",
        "aws_secretsmanager_secret_compliant",
    ] {
        let mut a = ran_throughout.samples(family, &[]);
        let mut b = after_restart.samples(family, &[]);
        a.sort_by(|x, y| x.0.cmp(&y.0));
        b.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(a, b, "{family} differs after a restart");
    }
    assert_eq!(
        compliant(&after_restart, "app/secret-00", "rotation_failed"),
        Some(0.0)
    );
    assert_eq!(
        compliant(&after_restart, "app/secret-01", "rotation_failed"),
        Some(1.0)
    );
    assert_eq!(
        compliant(&after_restart, "app/secret-02", "rotation_failed"),
        Some(0.0)
    );
    assert_eq!(
        compliant(&after_restart, "app/secret-03", "rotation_failed"),
        Some(1.0)
    );
    for event in ["started", "succeeded", "failed", "abandoned"] {
        let labels = [("account_id", ACCOUNT), ("event", event)];
        assert_eq!(
            after_restart.value("aws_secretsmanager_rotation_events_total", &labels),
            0.0,
            "history must not count as new {event} events"
        );
        assert!(ran_throughout.value("aws_secretsmanager_rotation_events_total", &labels) > 0.0);
    }
    assert_eq!(
        ran_throughout.value(
            "aws_secretsmanager_rotation_events_total",
            &[("account_id", ACCOUNT), ("event", "failed")]
        ),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_late_is_seen_once_and_only_once() {
    let harness = Harness::start(fleet(3), &config(2.0)).await;
    let sim = &harness.simulator;
    cycle(&harness).await;
    // An event ten minutes old that CloudTrail delivers only now: its time
    // is behind the watermark the last refresh set.
    let mut late = RotationEventSpec::new(
        RotationEventName::Failed,
        simulator::secret_arn(ACCOUNT, REGION, "app/secret-00"),
        Utc::now() - chrono::Duration::minutes(10),
    );
    late.visible_at = Some(Utc::now());
    sim.record_event(ACCOUNT, REGION, late).expect("record");
    let seen = cycle(&harness).await;
    assert_eq!(
        compliant(&seen, "app/secret-00", "rotation_failed"),
        Some(0.0)
    );
    let failed = [("account_id", ACCOUNT), ("event", "failed")];
    assert_eq!(
        seen.value("aws_secretsmanager_rotation_events_total", &failed),
        1.0
    );
    // The next refreshes overlap the same window: the event is not counted again.
    for _ in 0..2 {
        let again = cycle(&harness).await;
        assert_eq!(
            again.value("aws_secretsmanager_rotation_events_total", &failed),
            1.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_event_is_counted_and_skipped() {
    let harness = Harness::start(fleet(2), &config(2.0)).await;
    let sim = &harness.simulator;
    sim.record_raw_event(
        ACCOUNT,
        REGION,
        "RotationFailed",
        Utc::now(),
        "{not json".into(),
    )
    .expect("record");
    sim.fail_rotation(ACCOUNT, REGION, "app/secret-01")
        .expect("fail");
    let scraped = cycle(&harness).await;
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_errors_total",
            &[
                ("account_id", ACCOUNT),
                ("source", "cloudtrail"),
                ("reason", "invalid_response")
            ]
        ),
        1.0
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ACCOUNT), ("source", "cloudtrail")]
        ),
        1.0
    );
    assert_eq!(
        compliant(&scraped, "app/secret-01", "rotation_failed"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_page_within_the_quota_and_never_hold_the_inventory() {
    let harness = Harness::start(fleet(50), &config(2.0)).await;
    let sim = harness.simulator.clone();
    let now = Utc::now();
    for i in 0..1000 {
        let secret = format!("app/secret-{:02}", i % 50);
        let event = RotationEventSpec::new(
            RotationEventName::Succeeded,
            simulator::secret_arn(ACCOUNT, REGION, &secret),
            now - chrono::Duration::minutes(1000 - i),
        );
        sim.record_event(ACCOUNT, REGION, event).expect("record");
    }
    sim.reset_counts();
    let tracker = harness.exporter.tracker.clone().expect("tracker");
    let started = Instant::now();
    let history = tokio::spawn(async move { tracker.refresh_all(Utc::now()).await });

    // While CloudTrail pages at 2 requests a second, the inventory polls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let poll_started = Instant::now();
    harness.exporter.poller.poll_once(Utc::now()).await;
    let poll_time = poll_started.elapsed();
    assert!(
        !history.is_finished(),
        "the CloudTrail history finished before the inventory poll"
    );
    println!("inventory poll while CloudTrail pages its history: {poll_time:?}");
    assert!(
        poll_time < Duration::from_secs(3),
        "inventory waited for CloudTrail: {poll_time:?}"
    );

    history.await.expect("history");
    let elapsed = started.elapsed();
    let lookups = sim.requests_by_account("LookupEvents", ACCOUNT);
    println!("1,000 events: {lookups} LookupEvents in {elapsed:?}");
    // 20 pages of RotationSucceeded, one (empty) page for each other kind.
    assert_eq!(lookups, 20 + 3);
    let scraped = cycle(&harness).await;
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "cloudtrail"),
                ("operation", "LookupEvents"),
                ("outcome", "throttled")
            ]
        ),
        0.0,
        "the pace kept within the quota"
    );
    // 23 requests at 2 per second take at least 11 seconds.
    assert!(elapsed >= Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secret_rotation_last_event_timestamp_seconds",
            &[("account_id", ACCOUNT), ("event", "succeeded")]
        ),
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_fleet_costs_no_version_lookups() {
    let harness = Harness::start(fleet(20), &config(2.0)).await;
    let sim = &harness.simulator;
    cycle(&harness).await;
    sim.reset_counts();
    cycle(&harness).await;
    let steady = sim.requests("ListSecretVersionIds");
    let lookups_steady = sim.requests("LookupEvents");
    println!(
        "steady poll: ListSecretVersionIds {steady}, LookupEvents {lookups_steady} (2 targets x 4 event names)"
    );
    assert_eq!(steady, 0);
    assert_eq!(lookups_steady, 2 * 4);

    for i in 0..5 {
        sim.fail_rotation(ACCOUNT, REGION, &format!("app/secret-{i:02}"))
            .expect("fail");
    }
    sim.reset_counts();
    cycle(&harness).await;
    let after_failures = sim.requests("ListSecretVersionIds");
    println!(
        "poll after 5 failed rotations: ListSecretVersionIds {after_failures}, LookupEvents {}",
        sim.requests("LookupEvents")
    );
    assert_eq!(after_failures, 5);

    for i in 0..5 {
        sim.succeed_rotation(ACCOUNT, REGION, &format!("app/secret-{i:02}"))
            .expect("succeed");
    }
    sim.reset_counts();
    cycle(&harness).await;
    println!(
        "poll after 5 successful rotations: ListSecretVersionIds {}",
        sim.requests("ListSecretVersionIds")
    );
    assert_eq!(sim.requests("ListSecretVersionIds"), 0);
    sim.reset_counts();
    cycle(&harness).await;
    assert_eq!(sim.requests("ListSecretVersionIds"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_events_are_published_without_waiting_for_the_next_inventory_poll() {
    let harness = Harness::start(fleet(3), &config(2.0)).await;
    let tracker = harness.exporter.tracker.clone().expect("tracker");
    tracker.refresh_all(Utc::now()).await;
    // The serve loop: its first tick polls at once, the next in 5 minutes.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(harness.exporter.poller.clone().run(async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while harness.exporter.state.store.load().is_none() {
        assert!(Instant::now() < deadline, "the first poll did not complete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let polls_before = harness.simulator.requests("ListSecrets");

    harness
        .simulator
        .fail_rotation(ACCOUNT, REGION, "app/secret-00")
        .expect("fail");
    let injected = Instant::now();
    tracker.refresh_all(Utc::now()).await;
    loop {
        let scraped = harness.scrape().await;
        if compliant(&scraped, "app/secret-00", "rotation_failed") == Some(0.0) {
            break;
        }
        assert!(
            injected.elapsed() < Duration::from_secs(10),
            "the failure was not republished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "failure -> /metrics without an inventory poll: {:?}",
        injected.elapsed()
    );
    assert_eq!(
        harness.simulator.requests("ListSecrets"),
        polls_before,
        "republishing must not call AWS"
    );
    let _ = stop.send(());
    serving.await.expect("serve loop");
}

type RecordsByName = std::collections::BTreeMap<
    String,
    std::sync::Arc<secrets_rotation_exporter::inventory::SecretRecord>,
>;

fn records_by_name(snapshot: &secrets_rotation_exporter::snapshot::Snapshot) -> RecordsByName {
    snapshot
        .targets
        .iter()
        .flat_map(|t| &t.secrets)
        .map(|s| (s.record.name.clone(), std::sync::Arc::clone(&s.record)))
        .collect()
}

/// The secrets of `later` whose record is not the one `earlier` held; both
/// must name the same secrets.
fn new_records(earlier: &RecordsByName, later: &RecordsByName) -> Vec<String> {
    assert_eq!(
        earlier.keys().collect::<Vec<_>>(),
        later.keys().collect::<Vec<_>>()
    );
    earlier
        .iter()
        .filter(|(name, record)| !std::sync::Arc::ptr_eq(record, &later[*name]))
        .map(|(name, _)| name.clone())
        .collect()
}

/// At 100,000 secrets a copy of every record per snapshot is most of the
/// exporter's memory: a republish shares every record whose events did not
/// change with the snapshot before it, and copies only the one that did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republish_shares_unchanged_records_and_replaces_only_the_changed_one() {
    let harness = Harness::start(fleet(4), &config(2.0)).await;
    let tracker = harness.exporter.tracker.clone().expect("tracker");
    let poller = &harness.exporter.poller;
    tracker.refresh_all(Utc::now()).await;
    let before = poller.poll_once(Utc::now()).await;

    harness
        .simulator
        .fail_rotation(ACCOUNT, REGION, "app/secret-02")
        .expect("fail");
    tracker.refresh_all(Utc::now()).await;
    let after = poller.republish(Utc::now()).expect("a snapshot to rebuild");

    let (before, after) = (records_by_name(&before), records_by_name(&after));
    assert_eq!(before.len(), 7);
    assert_eq!(new_records(&before, &after), ["app/secret-02"]);
    let events = after["app/secret-02"]
        .rotation_events
        .as_ref()
        .expect("CloudTrail history is known");
    assert!(events.failed.is_some(), "{events:?}");
    assert!(
        before["app/secret-02"]
            .rotation_events
            .as_ref()
            .is_some_and(|events| events.failed.is_none())
    );
}

/// The next poll lists every secret again, but a secret that did not change
/// keeps the record the served snapshot holds: two copies of the fleet would
/// be alive while a poll runs otherwise. One changed in AWS gets a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_keeps_the_records_of_unchanged_secrets_and_replaces_a_changed_one() {
    let harness = Harness::start(fleet(4), &config(2.0)).await;
    let tracker = harness.exporter.tracker.clone().expect("tracker");
    let poller = &harness.exporter.poller;
    tracker.refresh_all(Utc::now()).await;
    let first = poller.poll_once(Utc::now()).await;

    harness
        .simulator
        .update_secret(ACCOUNT, REGION, "app/secret-01", |secret| {
            secret.tag("team", "identity")
        })
        .expect("tag");
    let second = poller.poll_once(Utc::now()).await;

    let (first, second) = (records_by_name(&first), records_by_name(&second));
    assert_eq!(first.len(), 7);
    assert_eq!(new_records(&first, &second), ["app/secret-01"]);
    assert_eq!(
        second["app/secret-01"].tags.get("team").map(|v| &**v),
        Some("identity")
    );
    // The kept records still carry what CloudTrail said of them.
    assert!(second["app/secret-00"].rotation_events.is_some());
    assert!(second["app/secret-01"].rotation_events.is_some());
}

/// `/metrics` does not read the verdicts' sentences and numbers, so a served
/// snapshot drops them and keeps only the value's age (CloudWatch publishes
/// it); `check` asks for them and gets every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_snapshots_drop_the_verdict_details_that_check_keeps() {
    let harness = Harness::start(fleet(2), &config(2.0)).await;
    let poller = &harness.exporter.poller;
    let verdicts = |snapshot: &secrets_rotation_exporter::snapshot::Snapshot| {
        snapshot
            .targets
            .iter()
            .flat_map(|t| &t.secrets)
            .flat_map(|s| &s.evaluation.verdicts)
            .cloned()
            .collect::<Vec<_>>()
    };
    let value_ages = |snapshot: &secrets_rotation_exporter::snapshot::Snapshot| {
        snapshot
            .targets
            .iter()
            .flat_map(|t| &t.secrets)
            .map(|s| s.evaluation.value_age_seconds)
            .collect::<Vec<_>>()
    };
    let served = poller.poll_once(Utc::now()).await;
    let served_verdicts = verdicts(&served);
    assert!(!served_verdicts.is_empty());
    assert!(
        served_verdicts.iter().all(|v| v.detail.is_none()),
        "{served_verdicts:?}"
    );
    // Every secret of the fleet rotated 5 days ago.
    let served_ages = value_ages(&served);
    assert!(
        served_ages
            .iter()
            .all(|age| age.is_some_and(|age| (4.0 * 86_400.0..6.0 * 86_400.0).contains(&age))),
        "{served_ages:?}"
    );

    poller.explain_verdicts(true);
    let explained = poller.poll_once(Utc::now()).await;
    let explained_verdicts = verdicts(&explained);
    assert_eq!(explained_verdicts.len(), served_verdicts.len());
    assert!(
        explained_verdicts.iter().all(|v| !v.reason().is_empty()),
        "{explained_verdicts:?}"
    );
    assert!(
        explained_verdicts
            .iter()
            .any(|v| v.reason().contains("30d") && v.limit_seconds() == Some(30.0 * 86_400.0)),
        "{explained_verdicts:?}"
    );
    assert_eq!(value_ages(&explained).len(), served_ages.len());
}

/// Counts the `LookupEvents` in flight and when each target sent each one.
#[derive(Default)]
struct CountingTrail {
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
    sent: std::sync::Mutex<std::collections::HashMap<String, Vec<Instant>>>,
}

impl secrets_rotation_exporter::aws::cloudtrail::CloudTrailSource for CountingTrail {
    async fn lookup_page(
        &self,
        target: &secrets_rotation_exporter::aws::Target,
        _kind: secrets_rotation_exporter::rotation_events::RotationEventKind,
        _start: chrono::DateTime<Utc>,
        _end: chrono::DateTime<Utc>,
        _next_token: Option<String>,
    ) -> Result<
        secrets_rotation_exporter::aws::cloudtrail::EventPage,
        secrets_rotation_exporter::aws::SourceError,
    > {
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        self.sent
            .lock()
            .expect("lock")
            .entry(target.account_id.clone())
            .or_default()
            .push(Instant::now());
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(secrets_rotation_exporter::aws::cloudtrail::EventPage {
            events: Vec::new(),
            next_token: None,
        })
    }
}

/// Every target's refresh starts on the same tick; the tracker keeps the
/// requests in flight across targets under its limit, and waiting for a
/// slot never brings two requests of one target closer than its pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_in_flight_stay_under_the_limit_and_each_target_keeps_its_pace() {
    use secrets_rotation_exporter::sources::TargetLoops;
    use secrets_rotation_exporter::sources::cloudtrail::RotationEvents;
    let targets: Vec<secrets_rotation_exporter::aws::Target> = (0..12)
        .map(|i| secrets_rotation_exporter::aws::Target {
            account_id: format!("{:012}", 100_000_000_000u64 + i),
            account_name: None,
            role_arn: None,
            external_id: None,
            region: REGION.to_string(),
        })
        .collect();
    let source = std::sync::Arc::new(CountingTrail::default());
    let metrics =
        secrets_rotation_exporter::metrics::ExporterMetrics::new("test", "test").expect("metrics");
    let tracker = TargetLoops::new(
        RotationEvents::new(source.clone(), Duration::from_secs(3600)),
        secrets_rotation_exporter::targets::TargetSet::fixed(targets.clone()),
        Duration::from_secs(60),
        2.0,
        metrics,
    )
    .limit_requests_in_flight(3);
    tracker.refresh_all(Utc::now()).await;

    let most = source
        .most_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(most, 3, "the limit is reached and never passed");
    let sent = source.sent.lock().expect("lock");
    assert_eq!(sent.len(), targets.len());
    for (account, times) in sent.iter() {
        assert_eq!(times.len(), 4, "{account}: one lookup per event kind");
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_millis(495),
                "{account}: two lookups {gap:?} apart at 2 requests a second"
            );
        }
    }
}
