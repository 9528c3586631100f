//! Hostile AWS answers, against the simulator: a far-future date, a
//! `NextToken` that comes back, a secret listed twice, a 200 whose body does
//! not parse, a panic in one target's work, a CloudTrail that never stops
//! producing events. None may panic the exporter, hang it, or make it report
//! something it did not see; each costs at most the target it came from.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Exposition, Harness};
use secrets_rotation_exporter::aws::cloudtrail::{CloudTrailSource, EventPage};
use secrets_rotation_exporter::aws::secretsmanager::{SecretsSource, VersionFacts};
use secrets_rotation_exporter::aws::{SourceError, Target};
use secrets_rotation_exporter::inventory::SecretRecord;
use secrets_rotation_exporter::metrics::{ExporterMetrics, RenderOptions, render_all};
use secrets_rotation_exporter::poller::Poller;
use secrets_rotation_exporter::rotation_events::{LookedUpEvent, RotationEventKind};
use secrets_rotation_exporter::snapshot::{ErrorReason, SnapshotStore};
use secrets_rotation_exporter::sources::TargetLoops;
use secrets_rotation_exporter::sources::cloudtrail::RotationEvents;
use secrets_rotation_exporter::targets::TargetSet;
use simulator::{
    Fault, FaultRule, Fleet, RotationEventName, RotationEventSpec, RotationSpec, SecretSpec,
};

const HOSTILE: &str = "111111111111";
const HEALTHY: &str = "222222222222";
const REGION: &str = "us-east-1";

/// Long enough for any of these polls against a local simulator, short
/// enough that a hang fails the test instead of stalling the suite.
const NO_HANG: Duration = Duration::from_secs(60);

fn rotating(name: &str) -> SecretSpec {
    SecretSpec::new(name)
        .created_days_ago(100)
        .kms_key_id(format!("arn:aws:kms:{REGION}:{HOSTILE}:key/k"))
        .tag("team", "payments")
        .rotation(
            RotationSpec::every_days(30)
                .lambda(format!("arn:aws:lambda:{REGION}:{HOSTILE}:function:rotate")),
        )
        .last_rotated_days_ago(5)
        .last_changed_days_ago(5)
        .next_rotation_in_days(25)
        .last_accessed_days_ago(1)
}

fn fleet(hostile: impl IntoIterator<Item = SecretSpec>) -> Fleet {
    Fleet::builder()
        .base_account("123456789012")
        .regions([REGION])
        .account(HOSTILE)
        .region(REGION)
        .secrets(hostile)
        .account(HEALTHY)
        .region(REGION)
        .secrets((0..3).map(|i| rotating(&format!("healthy/secret-{i}"))))
        .build()
        .expect("fleet")
}

fn config(cloudtrail: bool) -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{HOSTILE}"
    role_arn: arn:aws:iam::{HOSTILE}:role/reader
  - id: "{HEALTHY}"
    role_arn: arn:aws:iam::{HEALTHY}:role/reader
cloudtrail: {{ enabled: {cloudtrail}, lookback: 7d, requests_per_second: 2.0 }}
"#
    )
}

fn up(scraped: &Exposition, account: &str, source: &str) -> f64 {
    scraped.value(
        "secrets_rotation_exporter_target_up",
        &[("account_id", account), ("source", source)],
    )
}

fn errors(scraped: &Exposition, account: &str, source: &str, reason: &str) -> f64 {
    scraped.value(
        "secrets_rotation_exporter_errors_total",
        &[
            ("account_id", account),
            ("source", source),
            ("reason", reason),
        ],
    )
}

/// Polls once within [`NO_HANG`] and scrapes.
async fn poll(harness: &Harness) -> Exposition {
    tokio::time::timeout(NO_HANG, harness.exporter.poller.poll_once(Utc::now()))
        .await
        .expect("the poll ends");
    harness.scrape().await
}

/// The latest date chrono represents, less a year: AWS once answered with
/// this `LastRotatedDate`, and adding any duration to it overflows.
fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp(8_210_266_876_799, 0).expect("a representable date")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_date_neither_panics_the_poll_nor_touches_the_healthy_target() {
    let harness = Harness::start(
        fleet([
            rotating("far/last-rotated").last_rotated(far_future()),
            rotating("far/next-rotation").next_rotation(far_future()),
            rotating("far/everything")
                .created(far_future())
                .last_rotated(far_future())
                .last_changed(far_future())
                .last_accessed(far_future())
                .next_rotation(far_future()),
            rotating("near/ordinary"),
        ]),
        &config(false),
    )
    .await;
    let scraped = poll(&harness).await;
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 1.0);
    assert_eq!(up(&scraped, HEALTHY, "secretsmanager"), 1.0);
    for name in ["far/last-rotated", "far/next-rotation", "far/everything"] {
        assert_eq!(
            scraped.count(
                "aws_secretsmanager_secret_info",
                &[("account_id", HOSTILE), ("secret_name", name)]
            ),
            1,
            "{name} is inventoried"
        );
    }
    assert_eq!(
        scraped.value(
            "aws_secretsmanager_secrets",
            &[("account_id", HEALTHY), ("region", REGION)]
        ),
        3.0
    );
    assert_eq!(errors(&scraped, HOSTILE, "secretsmanager", "internal"), 0.0);
    // The far date is served as AWS gave it.
    assert_eq!(
        scraped.value(
            "aws_secretsmanager_secret_last_rotated_timestamp_seconds",
            &[("account_id", HOSTILE), ("secret_name", "far/last-rotated")]
        ),
        8_210_266_876_799.0
    );
    // A second poll works from the first one's records: still no panic.
    let again = poll(&harness).await;
    assert_eq!(up(&again, HOSTILE, "secretsmanager"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_next_token_on_list_secrets_takes_the_target_down_instead_of_truncating_it() {
    // 150 secrets: two pages, and the second hands its own token back.
    let harness = Harness::start(
        fleet((0..150).map(|i| rotating(&format!("app/secret-{i:03}")))),
        &config(false),
    )
    .await;
    harness.simulator.fail(
        FaultRule::new(Fault::RepeatNextToken)
            .operation("ListSecrets")
            .account(HOSTILE),
    );
    let scraped = poll(&harness).await;
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 0.0);
    assert_eq!(
        errors(&scraped, HOSTILE, "secretsmanager", "invalid_response"),
        1.0
    );
    assert_eq!(
        scraped.count(
            "aws_secretsmanager_secrets",
            &[("account_id", HOSTILE), ("region", REGION)]
        ),
        0,
        "no truncated count is served"
    );
    assert_eq!(up(&scraped, HEALTHY, "secretsmanager"), 1.0);
    // Page one, then page two handing back the token it was asked with:
    // there it stops.
    assert_eq!(
        harness
            .simulator
            .requests_by_account("ListSecrets", HOSTILE),
        2
    );
}

/// A listing that never ends, each token new: the page cap stops it (5,000
/// pages, what Secrets Manager's 500,000-secret quota fills) with
/// `invalid_response`, rather than paging until the target's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_list_secrets_stops_at_its_page_cap_as_an_invalid_response() {
    let harness = Harness::start(
        fleet((0..150).map(|i| rotating(&format!("app/secret-{i:03}")))),
        &config(false),
    )
    .await;
    harness.simulator.fail(
        FaultRule::new(Fault::EndlessNextToken)
            .operation("ListSecrets")
            .account(HOSTILE),
    );
    let began = std::time::Instant::now();
    let scraped = poll(&harness).await;
    println!("an endless listing ended after {:?}", began.elapsed());
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 0.0);
    assert_eq!(
        errors(&scraped, HOSTILE, "secretsmanager", "invalid_response"),
        1.0
    );
    assert_eq!(
        harness
            .simulator
            .requests_by_account("ListSecrets", HOSTILE),
        5_000
    );
    assert_eq!(up(&scraped, HEALTHY, "secretsmanager"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_next_token_on_lookup_events_ends_the_read_with_invalid_response() {
    let harness = Harness::start(fleet([rotating("app/db")]), &config(true)).await;
    let sim = &harness.simulator;
    sim.set_cloudtrail_rate(None);
    // 60 events of one kind: two pages of 50.
    let now = Utc::now();
    for minutes in 1..=60 {
        let at = now - chrono::Duration::minutes(minutes * 10);
        sim.record_event(
            HOSTILE,
            REGION,
            RotationEventSpec::new(RotationEventName::Succeeded, "app/db", at).visible_at(at),
        )
        .expect("event");
    }
    sim.fail(
        FaultRule::new(Fault::RepeatNextToken)
            .operation("LookupEvents")
            .account(HOSTILE),
    );
    let tracker = harness.exporter.tracker.as_ref().expect("cloudtrail on");
    tokio::time::timeout(NO_HANG, tracker.refresh_all(now))
        .await
        .expect("the CloudTrail read ends");
    let scraped = poll(&harness).await;
    assert_eq!(up(&scraped, HOSTILE, "cloudtrail"), 0.0);
    assert_eq!(
        errors(&scraped, HOSTILE, "cloudtrail", "invalid_response"),
        1.0
    );
    assert_eq!(up(&scraped, HEALTHY, "cloudtrail"), 1.0);
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 1.0);
    assert!(
        sim.requests_by_account("LookupEvents", HOSTILE) <= 4,
        "the read stops at the repeated token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_listed_twice_is_served_once_and_counted_as_an_invalid_response() {
    let names: Vec<String> = (0..5).map(|i| format!("app/secret-{i}")).collect();
    let harness = Harness::start(fleet(names.iter().map(|n| rotating(n))), &config(false)).await;
    harness.simulator.fail(
        FaultRule::new(Fault::DuplicateEntry)
            .operation("ListSecrets")
            .account(HOSTILE)
            .times(1),
    );
    let scraped = poll(&harness).await;
    for name in &names {
        assert_eq!(
            scraped.count(
                "aws_secretsmanager_secret_info",
                &[("account_id", HOSTILE), ("secret_name", name)]
            ),
            1,
            "{name}: one series per secret"
        );
        assert_eq!(
            scraped.count(
                "aws_secretsmanager_secret_compliant",
                &[
                    ("account_id", HOSTILE),
                    ("secret_name", name),
                    ("check", "rotation_enabled")
                ]
            ),
            1,
            "{name}: one verdict per check"
        );
    }
    assert_eq!(
        scraped.value(
            "aws_secretsmanager_secrets",
            &[("account_id", HOSTILE), ("region", REGION)]
        ),
        5.0
    );
    assert_eq!(
        errors(&scraped, HOSTILE, "secretsmanager", "invalid_response"),
        1.0
    );
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_answer_that_does_not_parse_is_an_invalid_response() {
    let harness = Harness::start(fleet([rotating("app/db")]), &config(false)).await;
    harness.simulator.fail(
        FaultRule::new(Fault::MalformedBody)
            .operation("ListSecrets")
            .account(HOSTILE),
    );
    let scraped = poll(&harness).await;
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 0.0);
    assert_eq!(
        errors(&scraped, HOSTILE, "secretsmanager", "invalid_response"),
        1.0
    );
    assert_eq!(errors(&scraped, HOSTILE, "secretsmanager", "other"), 0.0);
    assert_eq!(up(&scraped, HEALTHY, "secretsmanager"), 1.0);
}

fn target(account: &str) -> Target {
    Target {
        account_id: account.to_owned(),
        account_name: None,
        role_arn: None,
        external_id: None,
        region: REGION.to_owned(),
    }
}

/// Lists one ordinary secret per target, and panics on the hostile target
/// for as many polls as `panics` says.
struct PanickingSecrets {
    panics: AtomicU64,
}

impl SecretsSource for PanickingSecrets {
    async fn list_secrets(&self, target: &Target) -> Result<Vec<SecretRecord>, SourceError> {
        if target.account_id == HOSTILE
            && self
                .panics
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("a bug met on an answer nobody expected");
        }
        Ok(vec![SecretRecord {
            account_id: target.account_id.as_str().into(),
            region: target.region.as_str().into(),
            arn: format!(
                "arn:aws:secretsmanager:{REGION}:{}:secret:app/db-AbCdEf",
                target.account_id
            ),
            name: "app/db".to_owned(),
            created: Some(Utc::now() - chrono::Duration::days(10)),
            ..SecretRecord::default()
        }])
    }

    async fn versions(
        &self,
        _target: &Target,
        _secret_arn: &str,
    ) -> Result<BTreeMap<String, VersionFacts>, SourceError> {
        Ok(BTreeMap::new())
    }
}

fn rendered(store: &SnapshotStore, metrics: &ExporterMetrics) -> Exposition {
    let mut out = String::new();
    render_all(
        store.load().as_deref(),
        metrics,
        &RenderOptions::new(Vec::<String>::new()),
        &mut out,
    )
    .expect("renders");
    Exposition(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_targets_poll_takes_that_target_down_as_internal_and_the_next_poll_recovers()
{
    let config = Arc::new(
        secrets_rotation_exporter::config::parse(&config(false)).expect("config is valid"),
    );
    let metrics = ExporterMetrics::new("test", "test").expect("metrics");
    let store = Arc::new(SnapshotStore::new());
    let source = Arc::new(PanickingSecrets {
        panics: AtomicU64::new(1),
    });
    let poller = Poller::new(
        config,
        TargetSet::fixed(vec![target(HOSTILE), target(HEALTHY)]),
        source,
        store.clone(),
        metrics.clone(),
    );
    let snapshot = tokio::time::timeout(NO_HANG, poller.poll_once(Utc::now()))
        .await
        .expect("the poll ends");
    let hostile = snapshot
        .targets
        .iter()
        .find(|t| t.account_id == HOSTILE)
        .expect("the hostile target is in the snapshot");
    let error = hostile.health[0].last_error.as_ref().expect("an error");
    assert_eq!(error.reason, ErrorReason::Internal);
    assert!(error.message.contains("nobody expected"), "{error:?}");

    let scraped = rendered(&store, &metrics);
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 0.0);
    assert_eq!(errors(&scraped, HOSTILE, "secretsmanager", "internal"), 1.0);
    assert_eq!(up(&scraped, HEALTHY, "secretsmanager"), 1.0);
    assert_eq!(errors(&scraped, HEALTHY, "secretsmanager", "internal"), 0.0);

    // The poller is not dead: the next poll serves the target again.
    poller.poll_once(Utc::now()).await;
    let scraped = rendered(&store, &metrics);
    assert_eq!(up(&scraped, HOSTILE, "secretsmanager"), 1.0);
}

/// Panics reading the hostile target; answers no events elsewhere.
struct PanickingTrail;

impl CloudTrailSource for PanickingTrail {
    async fn lookup_page(
        &self,
        target: &Target,
        _kind: RotationEventKind,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
        _next_token: Option<String>,
    ) -> Result<EventPage, SourceError> {
        assert_ne!(target.account_id, HOSTILE, "a bug in the CloudTrail read");
        Ok(EventPage {
            events: Vec::new(),
            next_token: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_targets_cloudtrail_read_takes_that_target_down_as_internal() {
    let metrics = ExporterMetrics::new("test", "test").expect("metrics");
    let loops = TargetLoops::new(
        RotationEvents::new(Arc::new(PanickingTrail), Duration::from_secs(3600)),
        TargetSet::fixed(vec![target(HOSTILE), target(HEALTHY)]),
        Duration::from_secs(60),
        100.0,
        metrics.clone(),
    );
    tokio::time::timeout(NO_HANG, loops.refresh_all(Utc::now()))
        .await
        .expect("the reads end");
    let health = |account: &str| {
        loops
            .with_target(account, REGION, |_, health| health.cloned())
            .flatten()
            .expect("health after a read")
    };
    let hostile = health(HOSTILE);
    assert!(!hostile.up);
    assert_eq!(
        hostile.last_error.map(|e| e.reason),
        Some(ErrorReason::Internal)
    );
    assert!(health(HEALTHY).up);
    let mut out = String::new();
    metrics.render_errors(&mut out);
    let scraped = Exposition(out);
    assert_eq!(errors(&scraped, HOSTILE, "cloudtrail", "internal"), 1.0);
    assert_eq!(errors(&scraped, HEALTHY, "cloudtrail", "internal"), 0.0);
}

/// A CloudTrail that names 100 secrets never seen before in every answer,
/// each event dated at the end of the lookup.
#[derive(Default)]
struct EndlessTrail {
    served: AtomicU64,
}

const EVENTS_PER_ANSWER: u64 = 100;

impl CloudTrailSource for EndlessTrail {
    async fn lookup_page(
        &self,
        _target: &Target,
        kind: RotationEventKind,
        _start: DateTime<Utc>,
        end: DateTime<Utc>,
        _next_token: Option<String>,
    ) -> Result<EventPage, SourceError> {
        if kind != RotationEventKind::Succeeded {
            return Ok(EventPage {
                events: Vec::new(),
                next_token: None,
            });
        }
        let first = self.served.fetch_add(EVENTS_PER_ANSWER, Ordering::SeqCst);
        let events = (first..first + EVENTS_PER_ANSWER)
            .map(|n| LookedUpEvent {
                event_id: Some(format!("event-{n}")),
                event_name: Some("RotationSucceeded".to_owned()),
                event_time: Some(end - chrono::Duration::minutes(1)),
                resource_names: vec![format!("generated/secret-{n}")],
                cloudtrail_event: Some("{}".to_owned()),
            })
            .collect();
        Ok(EventPage {
            events,
            next_token: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_ledger_forgets_events_older_than_the_lookback() {
    let metrics = ExporterMetrics::new("test", "test").expect("metrics");
    let lookback_days = 7;
    let loops = TargetLoops::new(
        RotationEvents::new(
            Arc::new(EndlessTrail::default()),
            Duration::from_secs(lookback_days * 86_400),
        ),
        TargetSet::fixed(vec![target(HOSTILE)]),
        Duration::from_secs(60),
        1_000.0,
        metrics,
    );
    let start = Utc::now();
    let reads: i64 = 30;
    for day in 0..reads {
        let now = start + chrono::Duration::days(day);
        loops.refresh(&target(HOSTILE), now).await;
    }
    let (secrets, ids) = loops
        .with_target(HOSTILE, REGION, |state, _| {
            (
                state.ledger().secrets_held(),
                state.ledger().remembered_ids(),
            )
        })
        .expect("the target");
    println!(
        "after {reads} daily reads of {EVENTS_PER_ANSWER} new events: {secrets} secrets and {ids} event ids held"
    );
    // One read a day, each naming 100 new secrets: a week and a day of them
    // at most, not all thirty days'.
    let bound = (lookback_days + 1) * EVENTS_PER_ANSWER;
    assert!(secrets as u64 <= bound, "{secrets} secrets held");
    assert!(ids as u64 <= bound, "{ids} event ids held");
}
