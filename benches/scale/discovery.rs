//! What reading an organization costs: the exporter's discovery (a walk of
//! the unit tree, accounts listed per included unit) against a baseline that
//! lists every account with `ListAccounts` and finds where each sits with
//! `ListParents`, as tools without a tree walk do. Both at the same pace,
//! against the same generated organization in the simulator, with a latency
//! on every request.
//!
//! Shared by the benchmark binary (`--fleet discovery`) and
//! `tests/scale.rs`, which runs a small organization and asserts the
//! request counts.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use simulator::{Fleet, Organization, SimulatorHandle};

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

const MANAGEMENT: &str = "999999999999";
const REGION: &str = "us-east-1";
const OPERATIONS: [&str; 5] = [
    "ListRoots",
    "ListOrganizationalUnitsForParent",
    "ListAccountsForParent",
    "ListTagsForResource",
    "ListAccounts",
];

/// One way of reading the organization.
#[derive(Debug, Clone)]
pub struct Reading {
    pub name: String,
    pub elapsed: Duration,
    /// Requests by operation.
    pub requests: BTreeMap<String, u64>,
    /// Accounts it found active (the exporter) or listed (the baseline).
    pub accounts: usize,
}

impl Reading {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

#[derive(Debug, Clone)]
pub struct DiscoveryFigures {
    pub accounts: usize,
    pub units: usize,
    pub latency: Duration,
    pub requests_per_second: f64,
    pub readings: Vec<Reading>,
}

fn counts(sim: &SimulatorHandle) -> BTreeMap<String, u64> {
    OPERATIONS
        .iter()
        .chain(&["ListParents"])
        .map(|operation| ((*operation).to_owned(), sim.requests(operation)))
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// The exporter's discovery, once, with `account_tags` read or not.
async fn exporter_reading(
    sim: &SimulatorHandle,
    requests_per_second: f64,
    with_tags: bool,
) -> Result<Reading, BenchError> {
    let labels = if with_tags {
        "labels: { account_tags: [cost-center] }\n"
    } else {
        ""
    };
    let yaml = format!(
        "regions: [{REGION}]\ncloudtrail: {{ enabled: false }}\n{labels}discovery:\n  organizations:\n    \
         member_role_name: secrets-rotation-reader\n    requests_per_second: {requests_per_second}\n"
    );
    let exporter = Exporter::build(config::parse(&yaml)?, simulator_sdk_config(sim).await).await?;
    let discovery = exporter
        .discovery
        .as_ref()
        .ok_or("the configuration asks for discovery")?;
    sim.reset_counts();
    let began = Instant::now();
    if !discovery.refresh_once(Utc::now()).await {
        return Err(format!("discovery failed: {:?}", discovery.health()).into());
    }
    let elapsed = began.elapsed();
    Ok(Reading {
        name: if with_tags {
            "exporter, with labels.account_tags".into()
        } else {
            "exporter".into()
        },
        elapsed,
        requests: counts(sim),
        accounts: exporter.targets.current().accounts.len(),
    })
}

/// `ListAccounts`, then `ListParents` for every account and for every unit
/// up to the root, each request at the same pace as the exporter's.
async fn baseline_reading(
    sim: &SimulatorHandle,
    requests_per_second: f64,
) -> Result<Reading, BenchError> {
    let client = aws_sdk_organizations::Client::new(&simulator_sdk_config(sim).await);
    let interval = Duration::from_secs_f64(1.0 / requests_per_second);
    let mut next = tokio::time::Instant::now();
    let mut pace = move || {
        let slot = next.max(tokio::time::Instant::now());
        next = slot + interval;
        tokio::time::sleep_until(slot)
    };
    sim.reset_counts();
    let began = Instant::now();
    let mut accounts = Vec::new();
    let mut token = None;
    loop {
        pace().await;
        let page = client
            .list_accounts()
            .max_results(20)
            .set_next_token(token.take())
            .send()
            .await?;
        accounts.extend(
            page.accounts()
                .iter()
                .filter_map(|a| a.id().map(str::to_owned)),
        );
        match page.next_token() {
            Some(next_token) => token = Some(next_token.to_owned()),
            None => break,
        }
    }
    let mut seen_units: HashSet<String> = HashSet::new();
    let mut pending: Vec<String> = accounts.clone();
    while let Some(child) = pending.pop() {
        pace().await;
        let parents = client.list_parents().child_id(&child).send().await?;
        for parent in parents.parents() {
            let Some(id) = parent.id() else { continue };
            if id.starts_with("ou-") && seen_units.insert(id.to_owned()) {
                pending.push(id.to_owned());
            }
        }
    }
    Ok(Reading {
        name: "baseline: ListAccounts + ListParents".into(),
        elapsed: began.elapsed(),
        requests: counts(sim),
        accounts: accounts.len(),
    })
}

/// Reads a generated organization of `accounts` in `units` units three
/// ways: the baseline, the exporter, the exporter with account tags.
pub async fn discovery_figures(
    accounts: usize,
    units: usize,
    latency: Duration,
    requests_per_second: f64,
    with_tags: bool,
) -> Result<DiscoveryFigures, BenchError> {
    let fleet = Fleet::builder()
        .base_account(MANAGEMENT)
        .regions([REGION])
        .organization(Organization::generated(accounts, units).management_account(MANAGEMENT))
        .build()?;
    let sim = simulator::start(fleet, ([127, 0, 0, 1], 0).into()).await?;
    sim.set_latency(latency);
    let mut readings = vec![
        baseline_reading(&sim, requests_per_second).await?,
        exporter_reading(&sim, requests_per_second, false).await?,
    ];
    if with_tags {
        readings.push(exporter_reading(&sim, requests_per_second, true).await?);
    }
    sim.shutdown().await;
    Ok(DiscoveryFigures {
        accounts,
        units,
        latency,
        requests_per_second,
        readings,
    })
}

pub fn discovery_table(figures: &DiscoveryFigures) -> String {
    let mut text = format!(
        "## discovery: {} accounts in {} units, {} ms per request, {} requests/s\n\n\
         | reading | time | requests | by operation | accounts |\n|---|---|---|---|---|\n",
        figures.accounts,
        figures.units,
        figures.latency.as_millis(),
        figures.requests_per_second
    );
    for reading in &figures.readings {
        let by_operation: Vec<String> = reading
            .requests
            .iter()
            .map(|(operation, count)| format!("{operation} {count}"))
            .collect();
        text.push_str(&format!(
            "| {} | {:.1} s | {} | {} | {} |\n",
            reading.name,
            reading.elapsed.as_secs_f64(),
            reading.total_requests(),
            by_operation.join(", "),
            reading.accounts
        ));
    }
    if let (Some(baseline), Some(exporter)) = (figures.readings.first(), figures.readings.get(1)) {
        text.push_str(&format!(
            "\nthe exporter's walk: {:.1}x fewer requests and {:.1}x less time than the baseline\n",
            baseline.total_requests() as f64 / exporter.total_requests().max(1) as f64,
            baseline.elapsed.as_secs_f64() / exporter.elapsed.as_secs_f64().max(1e-9)
        ));
    }
    text
}
