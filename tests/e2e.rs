//! The shipped alerts and dashboards against the real servers, as users run
//! them: the demo fleet in the simulator and the exporter in this process,
//! Debian's `prometheus` scraping the exporter with `alerts/` loaded, and
//! Debian's `prometheus-alertmanager` routing critical alerts to a webhook
//! receiver here. A rotation made to fail in the simulator must page its
//! owning team and its success must resolve the page; every dashboard query
//! and variable must then return data from that Prometheus.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use common::Harness;
use secrets_rotation_exporter::demo::{DEMO_CONFIG, demo_fleet};
use serde_json::Value;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const SECRET: &str = "payments/db/credentials";
const TEAM: &str = "payments";
const ALERT: &str = "SecretRotationFailed";
const JOB: &str = "secrets-rotation-exporter";

const SCRAPE_INTERVAL: &str = "1s";
const EVALUATION_INTERVAL: &str = "1s";
/// The exporter's own loops run every `poll_interval` (at least 30 s); the
/// test drives a CloudTrail refresh and an inventory poll at this pace instead.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// LookupEvents' quota, so a refresh of four event names takes about 2 s.
const CLOUDTRAIL: &str = "cloudtrail: { enabled: true, lookback: 1d, requests_per_second: 2.0 }\n";

const PAGE_WITHIN: Duration = Duration::from_secs(90);
const RESOLVE_WITHIN: Duration = Duration::from_secs(60);

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The first of `names` on `PATH`.
fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn require_binary(names: &[&str], package: &str) -> PathBuf {
    find_binary(names).unwrap_or_else(|| {
        panic!(
            "none of {names:?} is on PATH: the end-to-end test needs Debian's `{package}` package \
             (apt-get install {package}; ./scripts/test-all.sh installs it)"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// A child server with its output in a log file; killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(name: &'static str, program: &Path, args: &[String], dir: &Path) -> Server {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file handle");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Server { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics with the server's log if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}); its log:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One notification as Alertmanager posted it, and when it arrived.
#[derive(Clone)]
struct Notification {
    at: Instant,
    body: Value,
}

#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Notification>>>);

impl Inbox {
    /// The first alert of `ALERT` for the test's secret with `status`
    /// ("firing" or "resolved") that arrived after `since`.
    fn find(&self, status: &str, since: Instant) -> Option<(Instant, Value)> {
        let received = self.0.lock().expect("inbox lock");
        received.iter().filter(|n| n.at >= since).find_map(|n| {
            n.body["alerts"]
                .as_array()?
                .iter()
                .find(|alert| {
                    let labels = &alert["labels"];
                    labels["alertname"] == ALERT
                        && labels["secret_name"] == SECRET
                        && labels["account_id"] == ACCOUNT
                        && labels["region"] == REGION
                        && alert["status"] == status
                })
                .map(|alert| (n.at, alert.clone()))
        })
    }

    fn summary(&self) -> String {
        let received = self.0.lock().expect("inbox lock");
        received
            .iter()
            .flat_map(|n| n.body["alerts"].as_array().cloned().unwrap_or_default())
            .map(|alert| {
                format!(
                    "{} {} {}",
                    alert["status"], alert["labels"]["alertname"], alert["labels"]["secret_name"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn receive(State(inbox): State<Inbox>, body: String) -> StatusCode {
    match serde_json::from_str::<Value>(&body) {
        Ok(body) => {
            inbox.0.lock().expect("inbox lock").push(Notification {
                at: Instant::now(),
                body,
            });
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// A webhook receiver on a free port: its URL, what it received, its task.
async fn start_webhook() -> (String, Inbox, AbortOnDrop) {
    let inbox = Inbox::default();
    let app = axum::Router::new()
        .route("/webhook", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the webhook receiver");
    let addr = listener.local_addr().expect("webhook address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/webhook"), inbox, AbortOnDrop(task))
}

/// Reads every source and polls the inventory every `POLL_EVERY`, as the
/// exporter's loops do every `poll_interval` (CloudTrail and the SSM
/// parameters before the poll, the rotation Lambdas the poll names after
/// it, as `check` does); records each cycle's length.
fn drive(harness: &Harness, cycles: Arc<Mutex<Vec<Duration>>>) -> AbortOnDrop {
    let poller = harness.exporter.poller.clone();
    let (after_poll, before_poll): (Vec<_>, Vec<_>) = harness
        .exporter
        .sources
        .iter()
        .cloned()
        .partition(|source| source.reads_inventory());
    AbortOnDrop(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POLL_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            let now = Utc::now();
            futures::future::join_all(before_poll.iter().map(|source| source.read_all_once(now)))
                .await;
            poller
                .poll_once_then(now, || async {
                    futures::future::join_all(
                        after_poll.iter().map(|source| source.read_all_once(now)),
                    )
                    .await;
                })
                .await;
            cycles.lock().expect("cycles lock").push(started.elapsed());
        }
    }))
}

struct Prometheus {
    client: reqwest::Client,
    base: String,
}

impl Prometheus {
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let text = response
            .text()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let body: Value =
            serde_json::from_str(&text).map_err(|e| format!("GET {path}: {e}: {text}"))?;
        if body["status"] != "success" {
            return Err(format!("GET {path} {params:?}: {text}"));
        }
        Ok(body["data"].clone())
    }

    /// The instant vector (or scalar) `expr` evaluates to now.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await?;
        match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                Ok(data["result"].as_array().cloned().unwrap_or_default())
            }
            Some("scalar") | Some("string") => Ok(vec![data["result"].clone()]),
            other => Err(format!("{expr}: unexpected result type {other:?}")),
        }
    }

    async fn label_values(
        &self,
        label: &str,
        matcher: Option<&str>,
    ) -> Result<Vec<String>, String> {
        let path = format!("/api/v1/label/{label}/values");
        let params: Vec<(&str, &str)> = matcher.map(|m| ("match[]", m)).into_iter().collect();
        let data = self.get(&path, &params).await?;
        Ok(data
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn ready(&self) -> bool {
        match self
            .client
            .get(format!("{}/-/ready", self.base))
            .send()
            .await
        {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
        }
    }
}

/// `for` and `keep_firing_for` of the alert in the rule file, as written.
fn alert_timing(rules_path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(rules_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", rules_path.display()));
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", rules_path.display()));
    let rule = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_sequence().into_iter().flatten())
        .find(|rule| rule["alert"].as_str() == Some(ALERT))
        .unwrap_or_else(|| panic!("{} has no alert {ALERT}", rules_path.display()));
    assert_eq!(
        rule["labels"]["severity"].as_str(),
        Some("critical"),
        "{ALERT} must page"
    );
    let field = |key: &str| rule[key].as_str().unwrap_or("none").to_owned();
    (field("for"), field("keep_firing_for"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Everything a dashboard query may contain that Grafana fills in, with the
/// values the test uses: every account, region and team, the failing secret.
fn substitute(expr: &str) -> String {
    let values = [
        ("__rate_interval", "1m"),
        ("__interval_ms", "15000"),
        ("__interval", "15s"),
        ("__range_s", "300"),
        ("__range_ms", "300000"),
        ("__range", "5m"),
        ("account", ".*"),
        ("region", ".*"),
        ("team", ".*"),
        ("secret", SECRET),
    ];
    let mut out = expr.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}

/// A `$name` left after substitution: a variable the dashboards do not define.
/// (`$1` in `label_replace` is PromQL's own.)
fn unknown_variable(expr: &str) -> Option<String> {
    let bytes = expr.as_bytes();
    bytes.iter().enumerate().find_map(|(i, &b)| {
        let next = *bytes.get(i + 1)?;
        (b == b'$' && (next.is_ascii_alphabetic() || next == b'_' || next == b'{'))
            .then(|| expr[i..].chars().take(24).collect())
    })
}

struct Dashboard {
    file: String,
    json: Value,
}

fn dashboards() -> Vec<Dashboard> {
    let dir = repo_path("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            Dashboard {
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                json,
            }
        })
        .collect()
}

/// Every panel, those inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// (panel title, refId, expr) of every query of a dashboard.
fn queries(dashboard: &Value) -> Vec<(String, String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            panel["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |target| {
                    (
                        title.clone(),
                        target["refId"].as_str().unwrap_or("?").to_owned(),
                        target["expr"].as_str().unwrap_or("").to_owned(),
                    )
                })
        })
        .collect()
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> Option<&'a Value> {
    dashboard["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

/// `label_values(selector, label)` or `label_values(label)`.
fn parse_label_values(query: &str) -> Option<(Option<String>, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    match inner.rsplit_once(',') {
        Some((selector, label)) => {
            Some((Some(selector.trim().to_owned()), label.trim().to_owned()))
        }
        None => Some((None, inner.trim().to_owned())),
    }
}

fn variable_query(var: &Value) -> String {
    match &var["query"] {
        Value::String(query) => query.clone(),
        other => other["query"].as_str().unwrap_or("").to_owned(),
    }
}

#[test]
fn every_dashboard_is_current_schema_on_the_datasource_variable() {
    let boards = dashboards();
    let files: Vec<&str> = boards.iter().map(|d| d.file.as_str()).collect();
    assert!(
        boards.len() >= 3,
        "expected the fleet, secret and exporter dashboards, found {files:?}"
    );
    let mut uids = Vec::new();
    for board in &boards {
        let json = &board.json;
        let file = &board.file;
        assert!(
            json["schemaVersion"].as_u64().is_some_and(|v| v >= 39),
            "{file}: schemaVersion {}",
            json["schemaVersion"]
        );
        let uid = json["uid"].as_str().unwrap_or_default().to_owned();
        assert!(!uid.is_empty() && uid.len() <= 40, "{file}: uid {uid:?}");
        assert!(!uids.contains(&uid), "{file}: uid {uid} is used twice");
        uids.push(uid);

        let datasource = variable(json, "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(datasource["type"], "datasource", "{file}");
        assert_eq!(datasource["query"], "prometheus", "{file}");
        for (name, label) in [
            ("account", "account_id"),
            ("region", "region"),
            ("team", "tag_team"),
        ] {
            let var = variable(json, name).unwrap_or_else(|| panic!("{file}: no {name} variable"));
            let (_, queried) = parse_label_values(&variable_query(var))
                .unwrap_or_else(|| panic!("{file}: {name} is not a label_values query"));
            assert_eq!(queried, label, "{file}: {name}");
            assert_eq!(var["multi"], true, "{file}: {name} is multi-value");
            assert_eq!(var["includeAll"], true, "{file}: {name} includes All");
            assert_eq!(
                var["allValue"], ".*",
                "{file}: {name}'s All matches by regex"
            );
        }

        let expected = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
        let mut count = 0;
        for panel in panels(json) {
            let title = panel["title"].as_str().unwrap_or("?");
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(panel["datasource"], expected, "{file}: panel {title}");
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{file}: panel {title} has no query");
            for target in targets {
                assert_eq!(target["datasource"], expected, "{file}: panel {title}");
                let expr = substitute(target["expr"].as_str().unwrap_or(""));
                assert!(!expr.is_empty(), "{file}: panel {title} has an empty query");
                if let Some(unknown) = unknown_variable(&expr) {
                    panic!("{file}: panel {title} uses an undefined variable at {unknown}");
                }
                count += 1;
            }
            let gp = &panel["gridPos"];
            let (x, w) = (
                gp["x"].as_u64().unwrap_or(99),
                gp["w"].as_u64().unwrap_or(0),
            );
            assert!(w > 0 && x + w <= 24, "{file}: panel {title} gridPos {gp}");
        }
        assert!(count > 0, "{file} has no queries");
    }
    let secret = boards
        .iter()
        .find_map(|b| variable(&b.json, "secret"))
        .expect("a dashboard with a secret variable (the single-secret view)");
    let (_, label) = parse_label_values(&variable_query(secret)).expect("label_values query");
    assert_eq!(label, "secret_name");
}

/// Which `aws_secretsmanager_secret_compliant` series the exporter serves
/// (`metrics.verdicts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdicts {
    All,
    Failing,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_rotation_pages_the_owning_team_and_its_success_resolves_the_page() {
    pages_and_resolves(Verdicts::All).await;
}

/// With only failing verdicts served, the recovery drops the series; the
/// page must still resolve promptly, not when the series ages out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_only_failing_verdicts_served_a_failed_rotation_pages_and_resolves() {
    pages_and_resolves(Verdicts::Failing).await;
}

async fn pages_and_resolves(verdicts: Verdicts) {
    let prometheus_bin = require_binary(&["prometheus"], "prometheus");
    let alertmanager_bin = require_binary(
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    );
    let rules = repo_path("alerts/secrets-rotation.rules.yml");
    assert!(
        rules.is_file(),
        "{} is missing: the test loads the shipped rules",
        rules.display()
    );
    let (alert_for, keep_firing_for) = alert_timing(&rules);
    let dir = tempfile::tempdir().expect("temporary directory");

    // The demo's fleet and configuration, its accounts reached by AssumeRole.
    let budget = match verdicts {
        Verdicts::All => "",
        Verdicts::Failing => "metrics: { verdicts: failing }\n",
    };
    let config = format!("{DEMO_CONFIG}{CLOUDTRAIL}{budget}");
    let harness = Harness::start(demo_fleet(Utc::now()).expect("the demo fleet"), &config).await;
    let cycles = Arc::new(Mutex::new(Vec::new()));
    let _driver = drive(&harness, cycles.clone());
    let exporter_addr = harness
        .base_url
        .strip_prefix("http://")
        .expect("http base url")
        .to_owned();
    let (webhook_url, inbox, _webhook) = start_webhook().await;

    let alertmanager_port = free_port();
    let alertmanager_config = dir.path().join("alertmanager.yml");
    write(
        &alertmanager_config,
        &format!(
            r#"route:
  receiver: tickets
  group_by: [alertname, account_id, region, secret_name]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: tickets
  - name: pager
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
"#
        ),
    );
    let mut alertmanager = Server::spawn(
        "alertmanager",
        &alertmanager_bin,
        &[
            format!("--config.file={}", alertmanager_config.display()),
            format!(
                "--storage.path={}",
                dir.path().join("alertmanager").display()
            ),
            format!("--web.listen-address=127.0.0.1:{alertmanager_port}"),
            "--cluster.listen-address=".to_owned(),
        ],
        dir.path(),
    );

    let prometheus_port = free_port();
    let prometheus_config = dir.path().join("prometheus.yml");
    write(
        &prometheus_config,
        &format!(
            r#"global:
  scrape_interval: {SCRAPE_INTERVAL}
  evaluation_interval: {EVALUATION_INTERVAL}
rule_files:
  - {rules}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{alertmanager_port}']
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ['{exporter_addr}']
"#,
            rules = rules.display()
        ),
    );
    let mut prometheus = Server::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            format!("--config.file={}", prometheus_config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
        ],
        dir.path(),
    );
    let api = Prometheus {
        client: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{prometheus_port}"),
    };
    let alertmanager_api = Prometheus {
        client: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{alertmanager_port}"),
    };

    // Both servers up, the rules loaded, the exporter scraped with the
    // secret's verdict known (CloudTrail history read).
    let started = Instant::now();
    // With failing verdicts only, a known count of the target's failed
    // rotations and the secret listed say its verdict is known and passing.
    let healthy = match verdicts {
        Verdicts::All => format!(
            r#"aws_secretsmanager_secret_compliant{{check="rotation_failed",account_id="{ACCOUNT}",region="{REGION}",secret_name="{SECRET}"}} == 1"#
        ),
        Verdicts::Failing => format!(
            r#"(aws_secretsmanager_secret_info{{account_id="{ACCOUNT}",region="{REGION}",secret_name="{SECRET}"}} and on(account_id, region) aws_secretsmanager_noncompliant_secrets{{check="rotation_failed"}}) unless on(account_id, region, secret_name) aws_secretsmanager_secret_compliant{{check="rotation_failed"}}"#
        ),
    };
    loop {
        prometheus.assert_running();
        alertmanager.assert_running();
        if api.ready().await
            && alertmanager_api.ready().await
            && api
                .query(&format!(r#"up{{job="{JOB}"}} == 1"#))
                .await
                .is_ok_and(|r| !r.is_empty())
            && api.query(&healthy).await.is_ok_and(|r| !r.is_empty())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Prometheus did not scrape the exporter's rotation_failed verdict within 30 s; its log:\n{}",
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rules_loaded = api.get("/api/v1/rules", &[]).await.expect("rules API");
    assert!(
        rules_loaded
            .to_string()
            .contains(&format!("\"name\":\"{ALERT}\"")),
        "Prometheus did not load {ALERT} from {}",
        rules.display()
    );
    println!("servers ready, exporter scraped: {:?}", started.elapsed());

    // The rotation fails.
    let failed_at = Instant::now();
    harness
        .simulator
        .fail_rotation(ACCOUNT, REGION, SECRET)
        .expect("the simulator fails the rotation");
    let firing_in_prometheus = format!(
        r#"ALERTS{{alertname="{ALERT}",alertstate="firing",secret_name="{SECRET}",account_id="{ACCOUNT}"}}"#
    );
    let mut on_metrics = None;
    let mut in_prometheus = None;
    let page = loop {
        prometheus.assert_running();
        alertmanager.assert_running();
        if on_metrics.is_none() && verdict(&harness).await == Some(0.0) {
            on_metrics = Some(failed_at.elapsed());
        }
        if in_prometheus.is_none()
            && api
                .query(&firing_in_prometheus)
                .await
                .is_ok_and(|r| !r.is_empty())
        {
            in_prometheus = Some(failed_at.elapsed());
        }
        if let Some(found) = inbox.find("firing", failed_at) {
            break found;
        }
        assert!(
            failed_at.elapsed() < PAGE_WITHIN,
            "no firing {ALERT} for {SECRET} reached the webhook within {PAGE_WITHIN:?} \
             (rotation_failed 0 on /metrics after {}, firing in Prometheus after {}); \
             received:\n{}\nalertmanager log:\n{}",
            after(on_metrics),
            after(in_prometheus),
            inbox.summary(),
            alertmanager.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (paged_at, alert) = page;
    let page_delay = paged_at.duration_since(failed_at);
    let labels = &alert["labels"];
    assert_eq!(labels["severity"], "critical", "{alert}");
    assert_eq!(
        labels["tag_team"], TEAM,
        "the page names the owning team: {alert}"
    );
    let annotations = &alert["annotations"];
    let text = format!("{} {}", annotations["summary"], annotations["description"]);
    assert!(
        text.contains(SECRET),
        "the page names the secret: {annotations}"
    );
    assert!(
        annotations["runbook_url"]
            .as_str()
            .is_some_and(|url| url.contains("runbooks")),
        "the page links its runbook: {annotations}"
    );

    // While it fails, every dashboard query and variable has data.
    check_dashboards(&api).await;

    // The rotation is retried and succeeds.
    let succeeded_at = Instant::now();
    harness
        .simulator
        .succeed_rotation(ACCOUNT, REGION, SECRET)
        .expect("the simulator completes the rotation");
    let mut recovered_on_metrics = None;
    let mut gone_from_prometheus = None;
    let (resolved_at, resolved) = loop {
        prometheus.assert_running();
        alertmanager.assert_running();
        let recovered = match verdicts {
            Verdicts::All => verdict(&harness).await == Some(1.0),
            Verdicts::Failing => verdict(&harness).await.is_none(),
        };
        if recovered_on_metrics.is_none() && recovered {
            recovered_on_metrics = Some(succeeded_at.elapsed());
        }
        if gone_from_prometheus.is_none()
            && api
                .query(&firing_in_prometheus)
                .await
                .is_ok_and(|r| r.is_empty())
        {
            gone_from_prometheus = Some(succeeded_at.elapsed());
        }
        if let Some(found) = inbox.find("resolved", succeeded_at) {
            break found;
        }
        assert!(
            succeeded_at.elapsed() < RESOLVE_WITHIN,
            "no resolved {ALERT} for {SECRET} reached the webhook within {RESOLVE_WITHIN:?} \
             (rotation_failed passing on /metrics after {}, inactive in Prometheus after {}); \
             received:\n{}",
            after(recovered_on_metrics),
            after(gone_from_prometheus),
            inbox.summary()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(resolved["labels"]["tag_team"], TEAM, "{resolved}");
    let resolve_delay = resolved_at.duration_since(succeeded_at);

    let cycles = cycles.lock().expect("cycles lock").clone();
    let mean_cycle = cycles.iter().sum::<Duration>() / cycles.len().max(1) as u32;
    println!("verdicts served: {verdicts:?}");
    println!(
        "intervals: scrape {SCRAPE_INTERVAL}, evaluation {EVALUATION_INTERVAL}; exporter \
         cycles (CloudTrail refresh, then inventory poll) started at most every {POLL_EVERY:?}, \
         {} cycles of {mean_cycle:.2?} on average (LookupEvents paced at 2/s); {ALERT} for: \
         {alert_for}, keep_firing_for: {keep_firing_for}; Alertmanager group_wait 1s, \
         group_interval 1s",
        cycles.len()
    );
    println!(
        "rotation failed -> page at the webhook: {page_delay:.2?} (rotation_failed 0 on \
         /metrics after {}, firing in Prometheus after {})",
        after(on_metrics),
        after(in_prometheus)
    );
    println!(
        "rotation succeeded -> resolved at the webhook: {resolve_delay:.2?} (rotation_failed \
         passing on /metrics after {}, inactive in Prometheus after {})",
        after(recovered_on_metrics),
        after(gone_from_prometheus)
    );
}

/// A milestone's time since the injection, or that it was not observed.
fn after(elapsed: Option<Duration>) -> String {
    elapsed.map_or_else(|| "not observed".to_owned(), |d| format!("{d:.2?}"))
}

/// The test secret's `rotation_failed` verdict on the exporter's `/metrics`.
async fn verdict(harness: &Harness) -> Option<f64> {
    harness
        .scrape()
        .await
        .samples(
            "aws_secretsmanager_secret_compliant",
            &[
                ("account_id", ACCOUNT),
                ("region", REGION),
                ("secret_name", SECRET),
                ("check", "rotation_failed"),
            ],
        )
        .first()
        .map(|(_, value)| *value)
}

/// Runs every panel query of every dashboard and resolves every variable.
async fn check_dashboards(api: &Prometheus) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for board in dashboards() {
        for (title, ref_id, expr) in queries(&board.json) {
            let query = substitute(&expr);
            ran += 1;
            match api.query(&query).await {
                Ok(result) if result.is_empty() => failures.push(format!(
                    "{} / {title} / {ref_id}: no data: {query}",
                    board.file
                )),
                Ok(_) => {}
                Err(error) => {
                    failures.push(format!("{} / {title} / {ref_id}: {error}", board.file))
                }
            }
        }
        for var in board.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if var["type"] != "query" {
                continue;
            }
            let name = var["name"].as_str().unwrap_or("?");
            let Some((selector, label)) = parse_label_values(&variable_query(var)) else {
                failures.push(format!(
                    "{}: variable {name} is not label_values()",
                    board.file
                ));
                continue;
            };
            let selector = selector.map(|s| substitute(&s));
            match api.label_values(&label, selector.as_deref()).await {
                Ok(values) if values.is_empty() => {
                    failures.push(format!("{}: variable {name} has no values", board.file))
                }
                Ok(values) => {
                    if name == "secret" && !values.iter().any(|v| v == SECRET) {
                        failures.push(format!("{}: variable secret lacks {SECRET}", board.file));
                    }
                    if name == "team" && !values.iter().any(|v| v == TEAM) {
                        failures.push(format!("{}: variable team lacks {TEAM}", board.file));
                    }
                }
                Err(error) => failures.push(format!("{}: variable {name}: {error}", board.file)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} dashboard queries or variables failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("dashboards: {ran} panel queries returned data, every variable resolved");
}
