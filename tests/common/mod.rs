//! Shared by the integration tests: the simulator, an exporter pointed at
//! it, a real HTTP listener, and a small reader of the exposition format.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use secrets_rotation_exporter::web;
use simulator::{Fleet, SimulatorHandle};

pub struct Harness {
    pub simulator: SimulatorHandle,
    pub exporter: Exporter,
    pub metrics_url: String,
    pub base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    pub async fn start(fleet: Fleet, config_yaml: &str) -> Harness {
        let simulator = simulator::start(fleet, ([127, 0, 0, 1], 0).into())
            .await
            .expect("simulator starts");
        let config = config::parse(config_yaml).expect("test config is valid");
        let exporter = Exporter::build(config, simulator_sdk_config(&simulator).await)
            .await
            .expect("exporter builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = web::app(Arc::clone(&exporter.state));
        tokio::spawn(web::serve(listener, app, None, async move {
            let _ = stopped.await;
        }));
        Harness {
            simulator,
            exporter,
            metrics_url: format!("http://{addr}/metrics"),
            base_url: format!("http://{addr}"),
            stop: Some(stop),
        }
    }

    pub async fn scrape(&self) -> Exposition {
        let response = reqwest::get(&self.metrics_url).await.expect("GET /metrics");
        assert_eq!(response.status(), 200, "GET /metrics status");
        Exposition(response.text().await.expect("body"))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{}", self.base_url, path))
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A scraped `/metrics` body with lookups by name and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposition(pub String);

impl Exposition {
    /// Every sample of `name` whose labels include all of `labels`.
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(String, f64)> {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let metric = series.split('{').next()?;
                if metric != name {
                    return None;
                }
                let matches = labels
                    .iter()
                    .all(|(key, value)| series.contains(&format!("{key}=\"{value}\"")));
                if !matches {
                    return None;
                }
                Some((series.to_owned(), value.parse::<f64>().ok()?))
            })
            .collect()
    }

    /// The one sample of `name` with `labels`; panics naming what is missing or ambiguous.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.samples(name, labels);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one {name}{labels:?}, found {found:?}"
        );
        found[0].1
    }

    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.samples(name, labels).len()
    }

    /// The accounts with a secret in `/metrics`, sorted, each once.
    pub fn secret_accounts(&self) -> Vec<String> {
        let mut accounts: Vec<String> = self
            .samples("aws_secretsmanager_secret_info", &[])
            .into_iter()
            .filter_map(|(series, _)| {
                let start = series.find("account_id=\"")? + "account_id=\"".len();
                Some(series.get(start..start + 12)?.to_owned())
            })
            .collect();
        accounts.sort();
        accounts.dedup();
        accounts
    }
}

/// Scrapes `metrics_url` until `done` holds, for at most 30 s; panics naming
/// `what` with the last scrape.
pub async fn scrape_until(
    metrics_url: &str,
    what: &str,
    done: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = reqwest::get(metrics_url).await
            && let Ok(text) = response.text().await
        {
            let exposition = Exposition(text);
            if done(&exposition) {
                return exposition;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} within 30 s; last scrape:\n{}",
                exposition.0
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a `check` run printed and how it exited.
pub struct CheckRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `check` command against the simulator, as a user would with
/// `AWS_ENDPOINT_URL` pointing at an emulator.
pub async fn run_check(simulator: &SimulatorHandle, config_yaml: &str, output: &str) -> CheckRun {
    run_check_with(simulator, config_yaml, &[&format!("--output={output}")]).await
}

pub async fn run_check_with(
    simulator: &SimulatorHandle,
    config_yaml: &str,
    args: &[&str],
) -> CheckRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config_yaml).expect("write config");
    let credentials = simulator.base_credentials();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_secrets-rotation-exporter"));
    command
        .arg("check")
        .arg("--config.file")
        .arg(&path)
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", simulator.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true);
    if let Some(token) = credentials.session_token {
        command.env("AWS_SESSION_TOKEN", token);
    }
    let ran = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("check finishes within 120 s")
        .expect("check runs");
    CheckRun {
        code: ran.status.code(),
        stdout: String::from_utf8_lossy(&ran.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&ran.stderr).into_owned(),
    }
}
