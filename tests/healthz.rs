//! `/healthz` fails while the poll loop is stuck, so that a liveness probe
//! restarts an exporter whose `/metrics` would go on serving an ageing
//! snapshot as if it were fresh.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::Harness;
use secrets_rotation_exporter::metrics::{ExporterMetrics, RenderOptions};
use secrets_rotation_exporter::snapshot::{Snapshot, SnapshotStore};
use secrets_rotation_exporter::web::{self, AppState, Clock};
use simulator::{Fleet, SecretSpec};

const ACCOUNT: &str = "111111111111";
const POLL_INTERVAL: Duration = Duration::from_secs(300);

/// A clock the test moves by hand, and a server whose `/healthz` reads it.
struct Server {
    now: Arc<Mutex<DateTime<Utc>>>,
    store: Arc<SnapshotStore>,
    base_url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    async fn start(started_at: DateTime<Utc>) -> Server {
        let now = Arc::new(Mutex::new(started_at));
        let clock: Clock = {
            let now = Arc::clone(&now);
            Arc::new(move || *now.lock().expect("clock lock"))
        };
        let store = Arc::new(SnapshotStore::new());
        let metrics = ExporterMetrics::new("test", "test").expect("metrics register");
        let state = AppState::new(Arc::clone(&store), metrics, RenderOptions::default())
            .watch_polls_with_clock(POLL_INTERVAL, clock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(web::serve(
            listener,
            web::app(Arc::new(state)),
            None,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            now,
            store,
            base_url: format!("http://{addr}"),
            _stop: stop,
        }
    }

    fn set_now(&self, now: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = now;
    }

    fn poll_completed(&self, at: DateTime<Utc>) {
        self.store.store(Snapshot {
            completed_at: at,
            targets: Vec::new(),
            accounts: Default::default(),
        });
    }

    async fn healthz(&self) -> (u16, String) {
        get(&format!("{}/healthz", self.base_url)).await
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
}

fn intervals(count: i32) -> TimeDelta {
    TimeDelta::from_std(POLL_INTERVAL).expect("interval fits") * count
}

#[tokio::test]
async fn healthy_before_the_first_poll_until_three_intervals_have_passed_since_the_start() {
    let start = start_time();
    let server = Server::start(start).await;
    assert_eq!(server.healthz().await, (200, "ok\n".to_owned()));

    server.set_now(start + intervals(3));
    assert_eq!(server.healthz().await.0, 200, "exactly three intervals");

    server.set_now(start + intervals(3) + TimeDelta::seconds(1));
    let (status, body) = server.healthz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body,
        "unhealthy: no poll has completed since the start at 2025-03-01T12:00:00+00:00, \
         more than 3 poll intervals (15m) ago\n"
    );
}

#[tokio::test]
async fn a_completed_poll_makes_it_healthy_and_none_for_three_intervals_makes_it_fail() {
    let start = start_time();
    let server = Server::start(start).await;
    let polled = start + intervals(10);
    server.set_now(polled);
    assert_eq!(server.healthz().await.0, 503, "no poll since the start");

    server.poll_completed(polled);
    assert_eq!(server.healthz().await, (200, "ok\n".to_owned()));

    server.set_now(polled + intervals(3));
    assert_eq!(server.healthz().await.0, 200, "exactly three intervals");

    server.set_now(polled + intervals(3) + TimeDelta::seconds(1));
    let (status, body) = server.healthz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body,
        "unhealthy: no poll has completed since 2025-03-01T12:50:00+00:00, \
         more than 3 poll intervals (15m) ago\n"
    );
}

/// The exporter as `serve` builds it watches its own poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_exporter_is_healthy_after_a_poll_and_fails_on_a_poll_three_intervals_old() {
    let fleet = Fleet::builder()
        .base_account(ACCOUNT)
        .regions(["us-east-1"])
        .account(ACCOUNT)
        .region("us-east-1")
        .secrets((0..3).map(|i| SecretSpec::new(format!("app/secret-{i}")).created_days_ago(3)))
        .build()
        .expect("fleet");
    let harness = Harness::start(fleet, "poll_interval: 5m\nregions: [us-east-1]\n").await;

    harness.exporter.poller.poll_once(Utc::now()).await;
    assert_eq!(harness.get("/healthz").await, (200, "ok\n".to_owned()));

    // A poll whose snapshot is 16 minutes old stands for a loop that has
    // completed nothing since.
    harness
        .exporter
        .poller
        .poll_once(Utc::now() - TimeDelta::minutes(16))
        .await;
    let (status, body) = harness.get("/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("unhealthy: no poll has completed since ")
            && body.ends_with("more than 3 poll intervals (15m) ago\n"),
        "{body}"
    );
}
