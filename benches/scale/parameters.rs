//! What inventorying SSM parameters costs: a fleet of accounts and regions
//! with one secret and `per_target` parameters in each, read once with
//! Secrets Manager alone, then with `sources.ssm_parameters`, then with its
//! tags, against the same simulator with a latency on every request. The
//! difference between the readings is what the parameters add.
//!
//! Shared by the benchmark binary (`--fleet parameters`) and
//! `tests/scale.rs`, which runs a small fleet and asserts the request
//! counts.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use secrets_rotation_exporter::metrics::{RenderOptions, render_snapshot};
use simulator::{Fleet, ParameterSpec, SecretSpec, SimulatorHandle};

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

const BASE_ACCOUNT: &str = "999999999999";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const OPERATIONS: [&str; 7] = [
    "AssumeRole",
    "ListSecrets",
    "DescribeParameters",
    "ListTagsForResource",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
];

fn account_id(index: usize) -> String {
    format!("{:012}", 100_000_000_000usize + index)
}

/// One reading of the whole fleet.
#[derive(Debug, Clone)]
pub struct Reading {
    pub name: String,
    pub elapsed: Duration,
    /// Requests by operation.
    pub requests: BTreeMap<String, u64>,
    /// `aws_ssm_parameter_info` series after the reading.
    pub parameter_series: usize,
    /// Bytes of the snapshot's exposition.
    pub exposition_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct ParameterFigures {
    pub accounts: usize,
    pub regions: usize,
    pub per_target: usize,
    pub latency: Duration,
    pub readings: Vec<Reading>,
}

impl ParameterFigures {
    pub fn parameters(&self) -> usize {
        self.accounts * self.regions * self.per_target
    }
}

fn counts(sim: &SimulatorHandle) -> BTreeMap<String, u64> {
    OPERATIONS
        .iter()
        .map(|operation| ((*operation).to_owned(), sim.requests(operation)))
        .filter(|(_, count)| *count > 0)
        .collect()
}

fn config_yaml(accounts: usize, regions: usize, ssm: &str) -> String {
    let mut yaml = format!(
        "regions: [{}]\ncloudtrail: {{ enabled: false }}\nlabels: {{ tags: [team] }}\n\
         sources:\n  ssm_parameters: {ssm}\naccounts:\n",
        REGIONS[..regions].join(", ")
    );
    for index in 0..accounts {
        let id = account_id(index);
        yaml.push_str(&format!(
            "  - id: \"{id}\"\n    role_arn: arn:aws:iam::{id}:role/secrets-rotation-reader\n"
        ));
    }
    yaml
}

async fn reading(sim: &SimulatorHandle, name: &str, yaml: &str) -> Result<Reading, BenchError> {
    let config = config::parse(yaml)?;
    let options = RenderOptions::from_config(&config);
    let exporter = Exporter::build(config, simulator_sdk_config(sim).await).await?;
    sim.reset_counts();
    let began = Instant::now();
    let snapshot = exporter.read_everything_once(Utc::now()).await;
    let elapsed = began.elapsed();
    let mut text = String::new();
    render_snapshot(&snapshot, &options, &mut text);
    Ok(Reading {
        name: name.to_owned(),
        elapsed,
        requests: counts(sim),
        parameter_series: text
            .lines()
            .filter(|line| line.starts_with("aws_ssm_parameter_info{"))
            .count(),
        exposition_bytes: text.len(),
    })
}

/// Reads a generated fleet two ways, Secrets Manager only and with SSM
/// parameters, and a third with their tags when `with_tags` (one request
/// per parameter at 2 a second per target: minutes for a large fleet).
pub async fn parameter_figures(
    accounts: usize,
    regions: usize,
    per_target: usize,
    latency: Duration,
    with_tags: bool,
) -> Result<ParameterFigures, BenchError> {
    let regions = regions.clamp(1, REGIONS.len());
    let now = Utc::now();
    let mut builder = Fleet::builder()
        .base_account(BASE_ACCOUNT)
        .regions(REGIONS[..regions].iter().copied());
    for index in 0..accounts {
        builder = builder.account(account_id(index));
    }
    for index in 0..accounts {
        let account = account_id(index);
        for region in &REGIONS[..regions] {
            builder = builder.secret_in(
                &account,
                *region,
                SecretSpec::new("app/db").created(now - chrono::Duration::days(10)),
            );
            for parameter in 0..per_target {
                builder = builder.parameter_in(
                    &account,
                    *region,
                    ParameterSpec::new(format!("/app/{parameter:05}"))
                        .tag("team", "platform")
                        .last_modified(now - chrono::Duration::days(parameter as i64 % 400)),
                );
            }
        }
    }
    let sim = simulator::start(builder.build()?, ([127, 0, 0, 1], 0).into()).await?;
    sim.set_latency(latency);
    let mut readings = Vec::new();
    let mut ways = vec![
        ("Secrets Manager only", "{ enabled: false }"),
        ("with ssm_parameters", "{ enabled: true }"),
    ];
    if with_tags {
        ways.push((
            "with ssm_parameters and tags",
            "{ enabled: true, tags: true }",
        ));
    }
    for (name, ssm) in ways {
        readings.push(reading(&sim, name, &config_yaml(accounts, regions, ssm)).await?);
    }
    sim.shutdown().await;
    Ok(ParameterFigures {
        accounts,
        regions,
        per_target,
        latency,
        readings,
    })
}

pub fn parameter_table(figures: &ParameterFigures) -> String {
    let mut text = format!(
        "## SSM parameters: {} parameters ({} per target) in {} accounts x {} regions, {} ms per request\n\n\
         | reading | time | requests | by operation | parameter series | exposition |\n|---|---|---|---|---|---|\n",
        figures.parameters(),
        figures.per_target,
        figures.accounts,
        figures.regions,
        figures.latency.as_millis()
    );
    for reading in &figures.readings {
        let by_operation: Vec<String> = reading
            .requests
            .iter()
            .map(|(operation, count)| format!("{operation} {count}"))
            .collect();
        text.push_str(&format!(
            "| {} | {:.1} s | {} | {} | {} | {:.1} MiB |\n",
            reading.name,
            reading.elapsed.as_secs_f64(),
            reading.requests.values().sum::<u64>(),
            by_operation.join(", "),
            reading.parameter_series,
            reading.exposition_bytes as f64 / (1024.0 * 1024.0)
        ));
    }
    if let [secrets, parameters, ..] = figures.readings.as_slice() {
        text.push_str(&format!(
            "\nthe parameters add {:.1} s and {} requests to a reading of the fleet\n",
            (parameters.elapsed.as_secs_f64() - secrets.elapsed.as_secs_f64()).max(0.0),
            parameters
                .requests
                .values()
                .sum::<u64>()
                .saturating_sub(secrets.requests.values().sum::<u64>())
        ));
    }
    text
}
