//! What the inventories beside Secrets Manager cost: a fleet of accounts
//! and regions with one secret and, in each, `per_target` SSM parameters or
//! `per_target` databases and VPCs, read once with Secrets Manager alone,
//! then with the source (`sources.ssm_parameters`, then with its tags; or
//! `sources.rds` and `sources.vpc_endpoints`), against the same simulator
//! with a latency on every request. The difference between the readings is
//! what the source adds.
//!
//! Shared by the benchmark binary (`--fleet parameters`, `--fleet
//! databases`) and `tests/scale.rs`, which runs small fleets and asserts
//! the request counts.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use secrets_rotation_exporter::metrics::{RenderOptions, render_snapshot};
use simulator::{
    DatabaseSpec, EndpointSpec, Fleet, ParameterSpec, SecretSpec, SimulatorHandle, VpcSpec,
};

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

const BASE_ACCOUNT: &str = "999999999999";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const OPERATIONS: [&str; 11] = [
    "AssumeRole",
    "ListSecrets",
    "DescribeParameters",
    "ListTagsForResource",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "DescribeDBClusters",
    "DescribeDBInstances",
    "DescribeVpcs",
    "DescribeVpcEndpoints",
];

/// What each target holds besides its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inventory {
    /// `per_target` SSM parameters; read with their tags too when `with_tags`.
    Parameters { with_tags: bool },
    /// `per_target` databases (a third of them Aurora clusters of two
    /// members, half of the rest with a managed password) and `per_target`
    /// VPCs (every other one with its endpoint).
    Databases,
}

impl Inventory {
    /// The `_info` families whose series a reading counts.
    fn info_families(self) -> &'static [&'static str] {
        match self {
            Inventory::Parameters { .. } => &["aws_ssm_parameter_info{"],
            Inventory::Databases => &["aws_rds_database_info{", "aws_vpc_info{"],
        }
    }
}

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
    /// `_info` series of the inventory's resources after the reading.
    pub resource_series: usize,
    /// Bytes of the snapshot's exposition.
    pub exposition_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct SourceFigures {
    pub inventory: Inventory,
    pub accounts: usize,
    pub regions: usize,
    pub per_target: usize,
    pub latency: Duration,
    pub readings: Vec<Reading>,
}

impl SourceFigures {
    pub fn resources(&self) -> usize {
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

fn config_yaml(accounts: usize, regions: usize, sources: &str) -> String {
    let mut yaml = format!(
        "regions: [{}]\ncloudtrail: {{ enabled: false }}\nlabels: {{ tags: [team] }}\n\
         sources:\n{sources}accounts:\n",
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

async fn reading(
    sim: &SimulatorHandle,
    inventory: Inventory,
    name: &str,
    yaml: &str,
) -> Result<Reading, BenchError> {
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
        resource_series: text
            .lines()
            .filter(|line| {
                inventory
                    .info_families()
                    .iter()
                    .any(|family| line.starts_with(family))
            })
            .count(),
        exposition_bytes: text.len(),
    })
}

/// Reads a generated fleet with Secrets Manager alone, then with the
/// inventory's source (and, for parameters with `with_tags`, their tags: one
/// request per parameter at 2 a second per target, minutes for a large
/// fleet).
pub async fn source_figures(
    inventory: Inventory,
    accounts: usize,
    regions: usize,
    per_target: usize,
    latency: Duration,
) -> Result<SourceFigures, BenchError> {
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
            builder = match inventory {
                Inventory::Parameters { .. } => {
                    for parameter in 0..per_target {
                        builder = builder.parameter_in(
                            &account,
                            *region,
                            ParameterSpec::new(format!("/app/{parameter:05}"))
                                .tag("team", "platform")
                                .last_modified(
                                    now - chrono::Duration::days(parameter as i64 % 400),
                                ),
                        );
                    }
                    builder
                }
                Inventory::Databases => {
                    builder = builder.account(&account).region(*region);
                    for database in 0..per_target {
                        builder = if database % 3 == 0 {
                            let cluster = format!("cluster-{database:04}");
                            builder
                                .database(DatabaseSpec::cluster(&cluster).managed_password())
                                .database(
                                    DatabaseSpec::instance(format!("{cluster}-1"))
                                        .member_of(&cluster),
                                )
                                .database(
                                    DatabaseSpec::instance(format!("{cluster}-2"))
                                        .member_of(&cluster),
                                )
                        } else if database % 2 == 0 {
                            builder.database(
                                DatabaseSpec::instance(format!("db-{database:04}"))
                                    .managed_password(),
                            )
                        } else {
                            builder.database(DatabaseSpec::instance(format!("db-{database:04}")))
                        };
                    }
                    for vpc in 0..per_target {
                        let spec = VpcSpec::new().tag("Name", format!("vpc-{vpc}"));
                        builder = builder.vpc(if vpc % 2 == 0 {
                            spec.endpoint(EndpointSpec::interface("secretsmanager"))
                        } else {
                            spec
                        });
                    }
                    builder
                }
            };
        }
    }
    let sim = simulator::start(builder.build()?, ([127, 0, 0, 1], 0).into()).await?;
    sim.set_latency(latency);
    let mut ways = vec![("Secrets Manager only", "")];
    match inventory {
        Inventory::Parameters { with_tags } => {
            ways.push((
                "with ssm_parameters",
                "  ssm_parameters: { enabled: true }\n",
            ));
            if with_tags {
                ways.push((
                    "with ssm_parameters and tags",
                    "  ssm_parameters: { enabled: true, tags: true }\n",
                ));
            }
        }
        Inventory::Databases => ways.push((
            "with rds and vpc_endpoints",
            "  rds: { enabled: true }\n  vpc_endpoints: { enabled: true }\n",
        )),
    }
    let mut readings = Vec::new();
    for (name, sources) in ways {
        let yaml = config_yaml(accounts, regions, sources);
        readings.push(reading(&sim, inventory, name, &yaml).await?);
    }
    sim.shutdown().await;
    Ok(SourceFigures {
        inventory,
        accounts,
        regions,
        per_target,
        latency,
        readings,
    })
}

pub fn source_table(figures: &SourceFigures) -> String {
    let what = match figures.inventory {
        Inventory::Parameters { .. } => "SSM parameters",
        Inventory::Databases => "databases and as many VPCs",
    };
    let mut text = format!(
        "## {what}: {} ({} per target) in {} accounts x {} regions, {} ms per request\n\n\
         | reading | time | requests | by operation | resource series | exposition |\n|---|---|---|---|---|---|\n",
        figures.resources(),
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
            reading.resource_series,
            reading.exposition_bytes as f64 / (1024.0 * 1024.0)
        ));
    }
    if let [secrets, with_source, ..] = figures.readings.as_slice() {
        text.push_str(&format!(
            "\nthe source adds {:.1} s and {} requests to a reading of the fleet\n",
            (with_source.elapsed.as_secs_f64() - secrets.elapsed.as_secs_f64()).max(0.0),
            with_source
                .requests
                .values()
                .sum::<u64>()
                .saturating_sub(secrets.requests.values().sum::<u64>())
        ));
    }
    text
}
