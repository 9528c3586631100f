//! Reloading the configuration while serving: what stays, what goes, what
//! comes, what a bad file leaves, and the two ways to ask for it (`SIGHUP`,
//! `POST /-/reload`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{Exposition, scrape_until};
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use secrets_rotation_exporter::reload::Reloader;
use secrets_rotation_exporter::web;
use simulator::{Fleet, RotationEventName, RotationEventSpec, SecretSpec, SimulatorHandle};

const REGION: &str = "us-east-1";
const KEPT: &str = "111111111111";
const REMOVED: &str = "222222222222";
const ADDED: &str = "333333333333";

fn fleet() -> Fleet {
    let mut builder = Fleet::builder().regions([REGION]);
    for account in [KEPT, REMOVED, ADDED] {
        builder = builder
            .account(account)
            .region(REGION)
            .secret(SecretSpec::new(format!("app-{account}/db")).created_days_ago(10));
    }
    builder.build().expect("fleet builds")
}

fn config_yaml(accounts: &[&str], extra: &str) -> String {
    let mut yaml = format!("poll_interval: 5m\nregions: [{REGION}]\n{extra}accounts:\n");
    for account in accounts {
        yaml.push_str(&format!(
            "  - id: \"{account}\"\n    role_arn: arn:aws:iam::{account}:role/secrets-rotation-reader\n"
        ));
    }
    yaml
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write the config");
}

fn reload_successful(exposition: &Exposition) -> f64 {
    exposition.value(
        "secrets_rotation_exporter_config_last_reload_successful",
        &[],
    )
}

fn reload_time(exposition: &Exposition) -> f64 {
    exposition.value(
        "secrets_rotation_exporter_config_last_reload_success_timestamp_seconds",
        &[],
    )
}

/// The exporter in this process, its metrics served over HTTP, a reloader
/// on its config file.
struct InProcess {
    simulator: SimulatorHandle,
    exporter: Arc<Exporter>,
    reloader: Reloader,
    metrics_url: String,
    config_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl InProcess {
    async fn start(yaml: &str) -> Self {
        let simulator = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("config.yaml");
        write(&config_path, yaml);
        let config = config::load(&config_path).expect("valid config");
        let exporter = Arc::new(
            Exporter::build(config, simulator_sdk_config(&simulator).await)
                .await
                .expect("exporter builds"),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let reloader = Reloader::new(exporter.clone(), config_path.clone(), None, stopped);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(web::serve(
            listener,
            web::app(exporter.state.clone()),
            None,
            std::future::pending(),
        ));
        Self {
            simulator,
            exporter,
            reloader,
            metrics_url: format!("http://{address}/metrics"),
            config_path,
            _dir: dir,
            _stop: stop,
        }
    }

    /// Reads CloudTrail and polls, as the loops would.
    async fn poll(&self) {
        for source in &self.exporter.sources {
            source.read_all_once(Utc::now()).await;
        }
        self.exporter.poller.poll_once(Utc::now()).await;
    }

    async fn scrape(&self) -> Exposition {
        Exposition(
            reqwest::get(&self.metrics_url)
                .await
                .expect("GET /metrics")
                .text()
                .await
                .expect("body"),
        )
    }
}

#[tokio::test]
async fn a_reload_keeps_what_stays_drops_what_goes_and_refuses_a_bad_file() {
    let exporter = InProcess::start(&config_yaml(&[KEPT, REMOVED], "")).await;
    // Start-up history, then a failed rotation first seen after it: counted once.
    exporter.poll().await;
    exporter
        .simulator
        .record_event(
            KEPT,
            REGION,
            RotationEventSpec::new(
                RotationEventName::Failed,
                "app-111111111111/db",
                Utc::now() - chrono::Duration::minutes(1),
            ),
        )
        .expect("event recorded");
    exporter.poll().await;
    let failed = [("account_id", KEPT), ("event", "failed")];
    let before = exporter.scrape().await;
    assert_eq!(Exposition::secret_accounts(&before), [KEPT, REMOVED]);
    assert_eq!(
        before.value("aws_secretsmanager_rotation_events_total", &failed),
        1.0
    );
    assert_eq!(reload_successful(&before), 1.0);
    let loaded_at = reload_time(&before);

    // Add one account, remove one.
    write(&exporter.config_path, &config_yaml(&[KEPT, ADDED], ""));
    exporter.reloader.reload().await.expect("reload applies");
    exporter.poll().await;
    let after = exporter.scrape().await;
    assert_eq!(Exposition::secret_accounts(&after), [KEPT, ADDED]);
    for family in [
        "secrets_rotation_exporter_target_up",
        "secrets_rotation_exporter_errors_total",
        "aws_account_info",
    ] {
        assert_eq!(
            after.count(family, &[("account_id", REMOVED)]),
            0,
            "{family} of the removed account"
        );
    }
    assert_eq!(
        after.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ADDED), ("source", "cloudtrail")]
        ),
        1.0
    );
    // The kept account's CloudTrail history was not read again: the event
    // seen before the reload is not counted a second time.
    assert_eq!(
        after.value("aws_secretsmanager_rotation_events_total", &failed),
        1.0
    );
    assert_eq!(reload_successful(&after), 1.0);
    assert!(reload_time(&after) >= loaded_at);

    // A file that does not validate: every problem named, nothing applied.
    write(
        &exporter.config_path,
        &config_yaml(&[KEPT], "").replace(REGION, "moon-base-1"),
    );
    let problems = exporter
        .reloader
        .reload()
        .await
        .expect_err("a bad file is refused");
    assert!(problems.contains("regions[0]"), "{problems}");
    exporter.poll().await;
    let refused = exporter.scrape().await;
    assert_eq!(Exposition::secret_accounts(&refused), [KEPT, ADDED]);
    assert_eq!(reload_successful(&refused), 0.0);
    assert_eq!(reload_time(&refused), reload_time(&after));

    // A change that needs a restart is refused as a whole.
    write(
        &exporter.config_path,
        &config_yaml(&[KEPT], "aws: { max_attempts: 5 }\n"),
    );
    let problems = exporter
        .reloader
        .reload()
        .await
        .expect_err("aws.max_attempts takes a restart");
    assert!(problems.contains("aws.max_attempts"), "{problems}");
    assert_eq!(
        Exposition::secret_accounts(&exporter.scrape().await),
        [KEPT, ADDED],
        "nothing of a refused file is applied"
    );

    // Fixed: applied, and the policy change shows at once.
    write(
        &exporter.config_path,
        &config_yaml(&[KEPT, ADDED], "policy: { max_age: 5d }\n"),
    );
    exporter
        .reloader
        .reload()
        .await
        .expect("the fixed file applies");
    let fixed = exporter.scrape().await;
    assert_eq!(reload_successful(&fixed), 1.0);
    assert!(reload_time(&fixed) >= reload_time(&after));
    assert_eq!(
        fixed.value(
            "aws_secretsmanager_secret_rotation_max_age_seconds",
            &[("account_id", KEPT)]
        ),
        5.0 * 86_400.0
    );
    assert_eq!(
        fixed.value("aws_secretsmanager_rotation_events_total", &failed),
        1.0
    );
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` as a process, against the simulator; returns it and its address.
fn serve(simulator: &SimulatorHandle, config: &Path, extra_args: &[&str]) -> (KillOnDrop, String) {
    let (process, mut addresses) = serve_on(simulator, config, extra_args, 1);
    (process, addresses.remove(0))
}

/// `serve` listening on `listeners` loopback ports; returns the addresses
/// it logged.
fn serve_on(
    simulator: &SimulatorHandle,
    config: &Path,
    extra_args: &[&str],
    listeners: usize,
) -> (KillOnDrop, Vec<String>) {
    let credentials = simulator.base_credentials();
    let mut command = Command::new(env!("CARGO_BIN_EXE_secrets-rotation-exporter"));
    command.arg("serve");
    for _ in 0..listeners {
        command.args(["--web.listen-address", "127.0.0.1:0"]);
    }
    command
        .arg("--config.file")
        .arg(config)
        .args(extra_args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", simulator.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(token) = &credentials.session_token {
        command.env("AWS_SESSION_TOKEN", token);
    }
    let mut child = command.spawn().expect("start serve");
    let stderr = child.stderr.take().expect("stderr");
    let guard = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut addresses = Vec::new();
    while addresses.len() < listeners {
        let line = lines
            .next()
            .expect("serve logged 'serving /metrics' before exiting")
            .expect("read stderr");
        if line.contains("serving /metrics") {
            addresses.push(
                line.split_whitespace()
                    .find_map(|field| field.strip_prefix("address="))
                    .expect("address= in the log line")
                    .to_owned(),
            );
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (guard, addresses)
}

// Several threads: the simulator answers the process while the test
// blocks reading its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_the_lifecycle_endpoint_is_off_unless_enabled() {
    let simulator = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.yaml");
    write(
        &config_path,
        &config_yaml(&[KEPT], "cloudtrail: { enabled: false }\n"),
    );
    let (process, address) = serve(&simulator, &config_path, &[]);
    scrape_until(
        &format!("http://{address}/metrics"),
        "the first poll",
        |e| e.secret_accounts() == [KEPT],
    )
    .await;

    let client = reqwest::Client::new();
    let refused = client
        .post(format!("http://{address}/-/reload"))
        .send()
        .await
        .expect("POST /-/reload");
    assert_eq!(refused.status(), 403);

    // SIGHUP applies a new account at once, without waiting for a tick.
    write(
        &config_path,
        &config_yaml(&[KEPT, ADDED], "cloudtrail: { enabled: false }\n"),
    );
    let pid = process.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(sent.success());
    let reloaded = scrape_until(
        &format!("http://{address}/metrics"),
        "the added account after SIGHUP",
        |e| e.secret_accounts() == [KEPT, ADDED],
    )
    .await;
    assert_eq!(reload_successful(&reloaded), 1.0);
    simulator.shutdown().await;
}

// Several threads: the simulator answers the process while the test
// blocks reading its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_endpoint_reloads_behind_basic_auth_when_enabled() {
    let simulator = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.yaml");
    write(
        &config_path,
        &config_yaml(&[KEPT], "cloudtrail: { enabled: false }\n"),
    );
    let web_config = dir.path().join("web.yml");
    let hash = bcrypt::hash("scrape-secret", 4).expect("hash");
    std::fs::write(
        &web_config,
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    )
    .expect("write the web config");
    let web_arg = format!("--web.config.file={}", web_config.display());
    let (_process, address) = serve(
        &simulator,
        &config_path,
        &["--web.enable-lifecycle", &web_arg],
    );
    let client = reqwest::Client::new();
    let reload = || client.post(format!("http://{address}/-/reload"));
    assert_eq!(reload().send().await.expect("POST").status(), 401);
    assert_eq!(
        reload()
            .basic_auth("prometheus", Some("wrong"))
            .send()
            .await
            .expect("POST")
            .status(),
        401
    );

    write(
        &config_path,
        &config_yaml(&[KEPT, ADDED], "cloudtrail: { enabled: false }\n"),
    );
    let accepted = reload()
        .basic_auth("prometheus", Some("scrape-secret"))
        .send()
        .await
        .expect("POST");
    assert_eq!(accepted.status(), 200);

    write(&config_path, "poll_interval: 1s\n");
    let refused = reload()
        .basic_auth("prometheus", Some("scrape-secret"))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 500);
    let body = refused.text().await.expect("body");
    assert!(body.contains("poll_interval"), "{body}");
    simulator.shutdown().await;
}

// Several threads: the simulator answers the process while the test
// blocks reading its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listen_address_serves_the_metrics_at_the_telemetry_path() {
    let simulator = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.yaml");
    write(
        &config_path,
        &config_yaml(&[KEPT], "cloudtrail: { enabled: false }\n"),
    );
    let (_process, addresses) = serve_on(
        &simulator,
        &config_path,
        &["--web.telemetry-path=/probe/metrics"],
        2,
    );
    assert_ne!(addresses[0], addresses[1]);
    for address in &addresses {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let body = reqwest::get(format!("http://{address}/probe/metrics"))
                .await
                .expect("GET the telemetry path");
            assert_eq!(body.status(), 200);
            let exposition = Exposition(body.text().await.expect("body"));
            if Exposition::secret_accounts(&exposition) == [KEPT] {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no poll within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let moved = reqwest::get(format!("http://{address}/metrics"))
            .await
            .expect("GET /metrics");
        assert_eq!(moved.status(), 404, "the default path is not served");
    }
    simulator.shutdown().await;
}
