//! The fleet-scale benchmark: the simulator with AWS's quotas and a
//! per-request latency, a generated fleet, the real exporter polling it and
//! serving `/metrics`, and on the same fleet two baselines: an inventory that
//! calls `DescribeSecret` per secret, and the snapshot rendered through
//! `prometheus` `GaugeVec`s and its `TextEncoder`.
//!
//! Shared by the benchmark binary (`main.rs`) and `tests/scale.rs`, which
//! runs a small fleet and asserts the request formulas.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_types::error::display::DisplayErrorContext;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::aws::{ClientFactory, RequestCounter, Target};
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use secrets_rotation_exporter::metrics::{ExporterMetrics, render_snapshot};
use secrets_rotation_exporter::web;
use sha2::{Digest as _, Sha256};
use simulator::{
    Fleet, RotationEventName, RotationEventSpec, RotationSpec, SecretSpec, SimulatorHandle,
    VersionSpec,
};

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
pub const BASE_ACCOUNT: &str = "999999999999";
/// `ListSecrets` pages hold at most this many secrets.
pub const LIST_PAGE: usize = 100;
/// `LookupEvents` pages hold at most this many events.
pub const LOOKUP_PAGE: usize = 50;
/// CloudTrail's quota per account and region, in requests per second.
pub const LOOKUP_EVENTS_QUOTA: f64 = 2.0;

/// The shape of a fleet: how many secrets each (account, region) holds.
#[derive(Debug, Clone)]
pub struct FleetShape {
    pub name: String,
    pub accounts: usize,
    pub regions: Vec<String>,
    /// Secrets in the target with this index (accounts in order, regions
    /// within an account).
    pub secrets_in_target: fn(usize) -> usize,
}

fn fifty(_: usize) -> usize {
    50
}

fn ten_thousand(_: usize) -> usize {
    10_000
}

/// Mostly small targets, every 16th one large enough to need two or three
/// `ListSecrets` pages, and every 23rd one empty.
fn quick_sizes(target: usize) -> usize {
    if target % 23 == 5 {
        0
    } else if target.is_multiple_of(16) {
        101 + (target * 37) % 150
    } else {
        1 + target % 9
    }
}

impl FleetShape {
    /// 100,000 secrets over 1,000 accounts x 2 regions.
    pub fn wide() -> Self {
        Self {
            name: "100k secrets, 1,000 accounts x 2 regions".into(),
            accounts: 1000,
            regions: REGIONS.iter().map(|r| r.to_string()).collect(),
            secrets_in_target: fifty,
        }
    }

    /// 10,000 secrets in one account-region.
    pub fn deep() -> Self {
        Self {
            name: "10k secrets, 1 account x 1 region".into(),
            accounts: 1,
            regions: vec![REGIONS[0].to_string()],
            secrets_in_target: ten_thousand,
        }
    }

    /// The test suite's fleet: more accounts than the SDK's default identity
    /// cache holds (64), targets of 0 to 250 secrets.
    pub fn quick() -> Self {
        Self {
            name: "quick: 80 accounts x 2 regions".into(),
            accounts: 80,
            regions: REGIONS.iter().map(|r| r.to_string()).collect(),
            secrets_in_target: quick_sizes,
        }
    }

    pub fn account_id(index: usize) -> String {
        format!("{:012}", 100_000_000_000usize + index)
    }

    /// Every target with its secret count, in the order `secrets_in_target` numbers them.
    pub fn targets(&self) -> Vec<(String, String, usize)> {
        let mut targets = Vec::new();
        for account in 0..self.accounts {
            for region in &self.regions {
                let index = targets.len();
                targets.push((
                    Self::account_id(account),
                    region.clone(),
                    (self.secrets_in_target)(index),
                ));
            }
        }
        targets
    }

    pub fn secret_count(&self) -> usize {
        self.targets().iter().map(|(_, _, n)| n).sum()
    }

    /// The exporter's configuration: every account through AssumeRole,
    /// CloudTrail on, two tags copied onto `_info`.
    pub fn config_yaml(&self, max_concurrent_targets: Option<usize>) -> String {
        let mut yaml = String::from("poll_interval: 5m\nregions: [");
        yaml.push_str(&self.regions.join(", "));
        yaml.push_str("]\naccounts:\n");
        for account in 0..self.accounts {
            let id = Self::account_id(account);
            yaml.push_str(&format!(
                "  - id: \"{id}\"\n    role_arn: arn:aws:iam::{id}:role/secrets-rotation-reader\n"
            ));
        }
        yaml.push_str(
            "policy:\n  required_tags: [team]\ncloudtrail: { enabled: true }\n\
             labels: { tags: [team, environment] }\n",
        );
        if let Some(limit) = max_concurrent_targets {
            yaml.push_str(&format!("aws:\n  max_concurrent_targets: {limit}\n"));
        }
        yaml
    }
}

/// What the fleet holds that the request formulas depend on.
#[derive(Debug, Clone, Default)]
pub struct FleetFacts {
    /// (account, region) -> secrets.
    pub secrets: BTreeMap<(String, String), usize>,
    /// (account, region) -> secrets whose version creation the exporter must look up.
    pub version_lookups: BTreeMap<(String, String), usize>,
    /// (account, region) -> `RotationSucceeded` events in CloudTrail's window.
    pub succeeded_events: BTreeMap<(String, String), usize>,
    /// (account, region) -> those of them a later refresh reads again: the
    /// ones within the late-delivery overlap of the first refresh's end.
    pub recent_events: BTreeMap<(String, String), usize>,
}

impl FleetFacts {
    pub fn total_secrets(&self) -> usize {
        self.secrets.values().sum()
    }

    /// Sum over targets of ceil(n/100), an empty target still costing one page.
    pub fn expected_list_secrets(&self) -> u64 {
        self.secrets
            .values()
            .map(|n| n.div_ceil(LIST_PAGE).max(1) as u64)
            .sum()
    }

    /// One lookup per secret with an unknown version, all in the first poll
    /// (these fleets' lookups fit in a target's deadline at the exporter's
    /// pace), none after.
    pub fn expected_version_lookups(&self, poll: usize) -> u64 {
        if poll == 1 {
            self.version_lookups.values().map(|n| *n as u64).sum()
        } else {
            0
        }
    }

    /// Per target: each of the four event names is read to its last page of
    /// 50; the first refresh reads the whole lookback, later ones from the
    /// previous end minus the late-delivery overlap.
    pub fn expected_lookup_events(&self, first_refresh: bool) -> u64 {
        let events = if first_refresh {
            &self.succeeded_events
        } else {
            &self.recent_events
        };
        self.secrets
            .keys()
            .map(|key| {
                let succeeded = events.get(key).copied().unwrap_or(0);
                // Started, failed and abandoned: one empty page each.
                3 + succeeded.div_ceil(LOOKUP_PAGE).max(1) as u64
            })
            .sum()
    }

    pub fn targets(&self) -> usize {
        self.secrets.len()
    }
}

fn cmk(account: &str, region: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/0d5e0001-7a1c-4b8e-9f10-2c3d4e5f6a7b")
}

/// One secret of a realistic fleet, by its index in the target: most rotate
/// every 30 days on a customer managed key; one in 50 was changed by hand
/// after its last rotation and one in 100 has a rotation pending, which are
/// the secrets whose version creation the exporter looks up.
fn secret(account: &str, region: &str, index: usize, now: DateTime<Utc>) -> (SecretSpec, Kind) {
    let day = chrono::Duration::days(1);
    let team = [
        "payments", "identity", "search", "ledger", "growth", "infra",
    ][index % 6];
    let environment = if index.is_multiple_of(4) {
        "dev"
    } else {
        "prod"
    };
    let rotated_days_ago = (index % 30) as i32;
    let rotated = now - day * rotated_days_ago;
    let mut spec = SecretSpec::new(format!("{team}/service-{index:05}/credentials"))
        .created(now - day * 400)
        .tag("team", team)
        .tag("environment", environment)
        .last_accessed(now - day);
    if index % 5 != 4 {
        spec = spec.kms_key_id(cmk(account, region));
    }
    if index % 7 == 6 {
        // Never rotated: no schedule, the value as old as the secret.
        return (spec, Kind::Static);
    }
    spec = spec
        .rotation(RotationSpec::schedule("rate(30 days)").lambda(format!(
            "arn:aws:lambda:{region}:{account}:function:SecretsManagerRotation"
        )))
        .last_rotated(rotated)
        .next_rotation(rotated + day * 30);
    if index % 100 == 13 {
        let pending = now - chrono::Duration::hours(2);
        let spec = spec
            .last_changed(pending)
            .versions([VersionSpec::current(rotated), VersionSpec::pending(pending)]);
        return (spec, Kind::Pending { rotated });
    }
    if index % 50 == 7 {
        let changed = rotated + chrono::Duration::hours(3);
        let spec = spec
            .last_changed(changed)
            .version(VersionSpec::current(changed));
        return (spec, Kind::ChangedByHand { rotated });
    }
    let spec = spec
        .last_changed(rotated)
        .version(VersionSpec::current(rotated));
    (spec, Kind::Rotating { rotated })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Static,
    Rotating { rotated: DateTime<Utc> },
    ChangedByHand { rotated: DateTime<Utc> },
    Pending { rotated: DateTime<Utc> },
}

/// Builds the fleet and its CloudTrail history, starts the simulator with
/// AWS's quotas and the given latency.
pub async fn start_simulator(
    shape: &FleetShape,
    latency: Duration,
) -> Result<(SimulatorHandle, FleetFacts), BenchError> {
    let now = Utc::now();
    let mut builder = Fleet::builder()
        .base_account(BASE_ACCOUNT)
        .regions(shape.regions.clone());
    let mut facts = FleetFacts::default();
    let mut events = Vec::new();
    for account in 0..shape.accounts {
        builder = builder.account(FleetShape::account_id(account));
    }
    for (account, region, count) in shape.targets() {
        let key = (account.clone(), region.clone());
        facts.secrets.insert(key.clone(), count);
        let mut lookups = 0;
        let mut succeeded = 0;
        let mut recent = 0;
        for index in 0..count {
            let (spec, kind) = secret(&account, &region, index, now);
            let rotated = match kind {
                Kind::Static => None,
                Kind::Rotating { rotated } => Some(rotated),
                Kind::ChangedByHand { rotated } | Kind::Pending { rotated } => {
                    lookups += 1;
                    Some(rotated)
                }
            };
            // CloudTrail keeps whole seconds; the default lookback is 7 days.
            if let Some(rotated) = rotated
                && now - rotated < chrono::Duration::days(7)
            {
                succeeded += 1;
                if now - rotated < chrono::Duration::minutes(10) {
                    recent += 1;
                }
                events.push((account.clone(), region.clone(), spec.name.clone(), rotated));
            }
            builder = builder.secret_in(&account, &region, spec);
        }
        facts.version_lookups.insert(key.clone(), lookups);
        facts.succeeded_events.insert(key.clone(), succeeded);
        facts.recent_events.insert(key, recent);
    }
    let sim = simulator::start(builder.build()?, ([127, 0, 0, 1], 0).into()).await?;
    for (account, region, name, at) in events {
        sim.record_event(
            &account,
            &region,
            RotationEventSpec::new(RotationEventName::Succeeded, &name, at).visible_at(at),
        )?;
    }
    sim.enforce_aws_quotas();
    sim.set_cloudtrail_rate(Some(LOOKUP_EVENTS_QUOTA));
    sim.set_latency(latency);
    Ok((sim, facts))
}

/// Requests by operation between two readings of the simulator's counters.
pub fn requests_since(
    sim: &SimulatorHandle,
    before: &BTreeMap<(String, String, String), u64>,
) -> BTreeMap<String, u64> {
    let mut by_operation: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, operation, _), count) in sim.request_counts() {
        *by_operation.entry(operation).or_insert(0) += count;
    }
    for ((_, operation, _), count) in before {
        if let Some(total) = by_operation.get_mut(operation) {
            *total = total.saturating_sub(*count);
        }
    }
    by_operation.retain(|_, count| *count > 0);
    by_operation
}

/// A line on stderr: which stage starts, with the process's memory.
fn progress(stage: &str) {
    if cfg!(debug_assertions) {
        return;
    }
    let (rss, hwm) = memory().unwrap_or_default();
    eprintln!(
        "[scale] {stage} (RSS {} MiB, peak {} MiB)",
        rss >> 20,
        hwm >> 20
    );
}

/// Resident memory of this process, from `/proc/self/status`: (VmRSS, VmHWM) in bytes.
pub fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets VmHWM to the current RSS (Linux 4.0+); false where not allowed.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Time and size of one scrape.
#[derive(Debug, Clone, Copy)]
pub struct Scrape {
    pub elapsed: Duration,
    pub bytes: usize,
}

/// GETs `/metrics` and hands each piece of the body to `on_piece` as it
/// arrives, so that no caller has to hold a body it does not need.
async fn scrape_pieces(
    client: &reqwest::Client,
    url: &str,
    gzip: bool,
    mut on_piece: impl FnMut(&[u8]),
) -> Result<Scrape, BenchError> {
    let started = Instant::now();
    let mut request = client.get(url);
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    let mut response = request.send().await?;
    if response.status() != 200 {
        return Err(format!("GET /metrics answered {}", response.status()).into());
    }
    let encoded = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    if encoded != gzip {
        return Err(format!("asked gzip={gzip}, got Content-Encoding gzip={encoded}").into());
    }
    let mut bytes = 0;
    while let Some(piece) = response.chunk().await? {
        bytes += piece.len();
        on_piece(&piece);
    }
    Ok(Scrape {
        elapsed: started.elapsed(),
        bytes,
    })
}

/// GETs `/metrics` and reads the whole body, without keeping it unless
/// asked (fifty concurrent copies of a large body would measure the client).
pub async fn scrape(
    client: &reqwest::Client,
    url: &str,
    gzip: bool,
    keep: bool,
) -> Result<(Scrape, Vec<u8>), BenchError> {
    let mut body = Vec::new();
    let scrape = scrape_pieces(client, url, gzip, |piece| {
        if keep {
            body.extend_from_slice(piece);
        }
    })
    .await?;
    Ok((scrape, body))
}

/// SHA-256 of a body's first `prefix_len` bytes and of the whole body.
pub struct BodyDigest {
    pub prefix: Sha256Digest,
    pub whole: Sha256Digest,
}

type Sha256Digest = sha2::digest::Output<Sha256>;

/// Digests of a whole body fed in pieces, the first `prefix_len` bytes apart.
struct Digester {
    prefix_len: usize,
    seen: usize,
    prefix: Sha256,
    whole: Sha256,
}

impl Digester {
    fn new(prefix_len: usize) -> Self {
        Self {
            prefix_len,
            seen: 0,
            prefix: Sha256::new(),
            whole: Sha256::new(),
        }
    }

    fn update(&mut self, piece: &[u8]) {
        let in_prefix = self.prefix_len.saturating_sub(self.seen).min(piece.len());
        self.prefix.update(&piece[..in_prefix]);
        self.whole.update(piece);
        self.seen += piece.len();
    }

    fn finish(self) -> BodyDigest {
        BodyDigest {
            prefix: self.prefix.finalize(),
            whole: self.whole.finalize(),
        }
    }
}

/// GETs `/metrics` uncompressed and digests the body as it arrives: a copy
/// of 300 MiB would be the benchmark's memory, counted as the exporter's.
pub async fn scrape_digest(
    client: &reqwest::Client,
    url: &str,
    gzip: bool,
    prefix_len: usize,
) -> Result<(Scrape, BodyDigest), BenchError> {
    let mut digester = Digester::new(prefix_len);
    let scrape = scrape_pieces(client, url, gzip, |piece| digester.update(piece)).await?;
    Ok((scrape, digester.finish()))
}

/// Digests of the text a gzip body (of one or more members) decompresses to.
pub fn gunzip_digest(body: &[u8]) -> Result<BodyDigest, BenchError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(body);
    let mut digester = Digester::new(0);
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = decoder.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        digester.update(&buffer[..read]);
    }
    Ok(digester.finish())
}

pub fn percentile(samples: &[Duration], fraction: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A `metrics:` section added to the exporter's configuration.
    pub metrics_yaml: Option<String>,
    pub latency: Duration,
    /// Sequential scrapes of each kind (plain, gzip) for the percentiles.
    pub scrapes: usize,
    pub concurrent_scrapes: usize,
    pub max_concurrent_targets: Option<usize>,
    /// In-flight `DescribeSecret`s per target in the baseline inventory.
    pub baseline_describe_concurrency: usize,
    pub run_inventory_baseline: bool,
}

/// The `metrics:` section `--metrics-profile` names: `large-fleet`, read
/// from docs/metrics.md as users copy it, or a file.
pub fn metrics_profile(name: &str) -> Result<String, String> {
    if name == "large-fleet" {
        let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let text = std::fs::read_to_string(doc).map_err(|err| format!("{doc}: {err}"))?;
        return text
            .split_once("### The large-fleet profile")
            .and_then(|(_, after)| after.split_once("```yaml\n"))
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| block.to_owned())
            .ok_or_else(|| format!("{doc} has no large-fleet profile block"));
    }
    std::fs::read_to_string(name).map_err(|err| format!("{name}: {err}"))
}

impl Options {
    /// The exporter's configuration for `shape`, with the series budget.
    pub fn config_yaml(&self, shape: &FleetShape) -> String {
        let mut yaml = shape.config_yaml(self.max_concurrent_targets);
        if let Some(metrics) = &self.metrics_yaml {
            yaml.push_str(metrics);
        }
        yaml
    }

    pub fn quick() -> Self {
        Self {
            metrics_yaml: None,
            latency: Duration::ZERO,
            scrapes: 5,
            concurrent_scrapes: 10,
            max_concurrent_targets: None,
            baseline_describe_concurrency: 10,
            run_inventory_baseline: true,
        }
    }
}

/// A poll of the exporter: the inventory and a CloudTrail refresh of every
/// target side by side, as `serve` runs them.
#[derive(Debug, Clone, Default)]
pub struct PollFigures {
    pub inventory: Duration,
    pub cloudtrail: Duration,
    pub requests: BTreeMap<String, u64>,
    pub targets_down: usize,
    pub secrets: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ScrapeFigures {
    pub first_render: Duration,
    pub first_plain: Duration,
    pub first_gzip: Duration,
    pub plain: Vec<Duration>,
    pub gzip: Vec<Duration>,
    pub plain_bytes: usize,
    pub gzip_bytes: usize,
    pub concurrent_ok: usize,
    pub concurrent_total: usize,
    pub concurrent_slowest: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct GaugeVecFigures {
    pub series: usize,
    /// Setting every series into fresh `GaugeVec`s, once per poll.
    pub build: Duration,
    /// `gather()` and `TextEncoder`, once per scrape.
    pub encode: Vec<Duration>,
    pub bytes: usize,
}

#[derive(Debug, Clone, Default)]
pub struct DescribeFigures {
    pub elapsed: Duration,
    pub requests: BTreeMap<String, u64>,
    pub secrets: usize,
}

/// Everything one fleet's run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub fleet: String,
    pub facts: FleetFacts,
    pub accounts: usize,
    pub latency: Duration,
    pub max_concurrent_targets: usize,
    pub first_poll: PollFigures,
    pub second_poll: PollFigures,
    /// (operation, peak requests/s in one account-region, quota).
    pub peaks: Vec<(String, u64, Option<f64>)>,
    pub throttled: u64,
    pub scrapes: ScrapeFigures,
    /// Process RSS after the simulator started, before the exporter existed.
    pub rss_simulator: u64,
    /// After the first poll, before any scrape: the inventory and the clients.
    pub rss_after_poll: u64,
    pub rss_rest: u64,
    pub rss_peak: u64,
    pub peak_reset: bool,
    pub gauge_vec: GaugeVecFigures,
    pub describe: Option<DescribeFigures>,
}

async fn poll(exporter: &Exporter, sim: &SimulatorHandle) -> PollFigures {
    let before = sim.request_counts();
    let now = Utc::now();
    let inventory = async {
        let started = Instant::now();
        let snapshot = exporter.poller.poll_once(now).await;
        (started.elapsed(), snapshot)
    };
    let cloudtrail = async {
        let started = Instant::now();
        if let Some(tracker) = &exporter.tracker {
            tracker.refresh_all(now).await;
        }
        started.elapsed()
    };
    let ((inventory, snapshot), cloudtrail) = tokio::join!(inventory, cloudtrail);
    PollFigures {
        inventory,
        cloudtrail,
        requests: requests_since(sim, &before),
        targets_down: snapshot
            .targets
            .iter()
            .filter(|t| t.health.iter().any(|h| !h.up))
            .count(),
        secrets: snapshot.targets.iter().map(|t| t.secrets.len()).sum(),
    }
}

/// `secrets_rotation_exporter_aws_requests_total{outcome="throttled"}`, summed.
fn throttled_requests(metrics: &ExporterMetrics) -> u64 {
    let mut text = String::new();
    if metrics.render(&mut text).is_err() {
        return 0;
    }
    text.lines()
        .filter(|line| {
            line.starts_with("secrets_rotation_exporter_aws_requests_total{")
                && line.contains("outcome=\"throttled\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs the exporter against one fleet and measures both baselines on it.
pub async fn run(shape: &FleetShape, options: &Options) -> Result<Report, BenchError> {
    let (sim, facts) = start_simulator(shape, options.latency).await?;
    // The exporter returns freed memory to the system after each poll
    // (src/allocator.rs); do the same for the garbage of building the
    // fleet before measuring the simulator, so neither is misattributed.
    secrets_rotation_exporter::allocator::release_free_memory();
    let rss_simulator = memory().map_or(0, |(rss, _)| rss);
    let peak_reset = reset_peak_memory();

    let config = config::parse(&options.config_yaml(shape))?;
    let max_concurrent_targets = config.aws.max_concurrent_targets;
    let exporter = Exporter::build(config, simulator_sdk_config(&sim).await).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(web::serve(
        listener,
        web::app(Arc::clone(&exporter.state)),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();

    progress("first poll");
    let first_poll = poll(&exporter, &sim).await;
    let (rss_after_poll, peak_first_poll) = memory().unwrap_or_default();
    progress("first scrapes");

    let mut scrapes = ScrapeFigures::default();
    let snapshot = exporter
        .poller
        .store()
        .load()
        .ok_or("the first poll published no snapshot")?;
    let started = Instant::now();
    let mut rendered = String::new();
    render_snapshot(&snapshot, &exporter.state.render_options(), &mut rendered);
    scrapes.first_render = started.elapsed();
    let rendered_len = rendered.len();
    let rendered_digest = Sha256::digest(rendered.as_bytes());
    // Holding the first poll's snapshot would keep it alive past the next
    // polls, and the benchmark's copy of its text is not the exporter's memory.
    drop((snapshot, rendered));

    let (first_plain, plain_digest) = scrape_digest(&client, &url, false, rendered_len).await?;
    let (first_gzip, gzip_body) = scrape(&client, &url, true, true).await?;
    scrapes.first_plain = first_plain.elapsed;
    scrapes.first_gzip = first_gzip.elapsed;
    scrapes.plain_bytes = first_plain.bytes;
    scrapes.gzip_bytes = first_gzip.bytes;
    let unzipped_digest = gunzip_digest(&gzip_body)?;
    drop(gzip_body);
    if unzipped_digest.whole != plain_digest.whole {
        return Err("the gzip body does not decompress to the plain body".into());
    }
    if plain_digest.prefix != rendered_digest {
        return Err("/metrics does not serve the snapshot's rendering".into());
    }
    // From here on the peak is the exporter's own: the verification above
    // held the benchmark's copy of the rendering, which is not.
    let peak_reset = peak_reset && reset_peak_memory();
    for _ in 0..options.scrapes {
        scrapes
            .plain
            .push(scrape(&client, &url, false, false).await?.0.elapsed);
        scrapes
            .gzip
            .push(scrape(&client, &url, true, false).await?.0.elapsed);
    }

    // The second poll, with concurrent scrapes half plain, half gzip.
    let concurrent = futures::future::join_all((0..options.concurrent_scrapes).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move { scrape(&client, &url, i % 2 == 1, false).await }
    }));
    progress("second poll with concurrent scrapes");
    let (second_poll, results) = tokio::join!(poll(&exporter, &sim), concurrent);
    scrapes.concurrent_total = results.len();
    for (scrape, _) in results.iter().flatten() {
        scrapes.concurrent_ok += 1;
        scrapes.concurrent_slowest = scrapes.concurrent_slowest.max(scrape.elapsed);
    }
    // Memory at rest as Prometheus leaves it: a third poll, whose snapshot is
    // scraped with gzip only, as Prometheus asks (the plain scrapes above
    // made the previous snapshots cache their plain text too).
    progress("third poll, then a gzip scrape");
    poll(&exporter, &sim).await;
    scrape(&client, &url, true, false).await?;

    let (rss_now, hwm) = memory().unwrap_or_default();
    let mut peaks = Vec::new();
    let quotas: HashMap<&str, f64> = simulator::AWS_QUOTAS.into_iter().collect();
    for operation in [
        "ListSecrets",
        "ListSecretVersionIds",
        "LookupEvents",
        "AssumeRole",
    ] {
        let quota = if operation == "LookupEvents" {
            Some(LOOKUP_EVENTS_QUOTA)
        } else {
            quotas.get(operation).copied()
        };
        let peak = sim
            .peak_request_rate(operation)
            .map_or(0, |p| p.requests_per_second);
        peaks.push((operation.to_string(), peak, quota));
    }
    let throttled = throttled_requests(&exporter.metrics);

    progress("GaugeVec baseline");
    let snapshot = exporter
        .poller
        .store()
        .load()
        .ok_or("the last poll published no snapshot")?;
    let mut rendered = String::new();
    render_snapshot(&snapshot, &exporter.state.render_options(), &mut rendered);
    drop(snapshot);
    let gauge_vec = gauge_vec_baseline(&rendered, if options.scrapes > 5 { 3 } else { 2 })?;
    drop(rendered);

    let describe = if options.run_inventory_baseline {
        progress("DescribeSecret baseline");
        sim.reset_peak_request_rates();
        let figures = describe_baseline(shape, &sim, options).await?;
        let peak = sim
            .peak_request_rate("DescribeSecret")
            .map_or(0, |p| p.requests_per_second);
        peaks.push((
            "DescribeSecret".into(),
            peak,
            quotas.get("DescribeSecret").copied(),
        ));
        Some(figures)
    } else {
        None
    };

    let _ = stop.send(());
    let _ = server.await;
    sim.shutdown().await;
    Ok(Report {
        fleet: shape.name.clone(),
        facts,
        accounts: shape.accounts,
        latency: options.latency,
        max_concurrent_targets,
        first_poll,
        second_poll,
        peaks,
        throttled,
        scrapes,
        rss_simulator,
        rss_after_poll: rss_after_poll.saturating_sub(rss_simulator),
        rss_rest: rss_now.saturating_sub(rss_simulator),
        rss_peak: hwm.max(peak_first_poll).saturating_sub(rss_simulator),
        peak_reset,
        gauge_vec,
        describe,
    })
}

/// One series of the exposition.
struct Series<'a> {
    family: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

fn parse_series(line: &str) -> Option<Series<'_>> {
    let (head, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((family, rest)) = head.split_once('{') else {
        return Some(Series {
            family: head,
            labels: Vec::new(),
            value,
        });
    };
    let mut labels = Vec::new();
    let mut rest = rest.strip_suffix('}')?;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => {
                    end = Some(at);
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((name, value));
        rest = after[end? + 1..].trim_start_matches(',');
    }
    Some(Series {
        family,
        labels,
        value,
    })
}

/// The same series through `prometheus` `GaugeVec`s: set once, then
/// gathered and encoded `encodes` times.
pub fn gauge_vec_baseline(text: &str, encodes: usize) -> Result<GaugeVecFigures, BenchError> {
    let mut helps: HashMap<&str, &str> = HashMap::new();
    let mut series = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, help)) = rest.split_once(' ') {
                helps.insert(name, help);
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            series.push(parse_series(line).ok_or_else(|| format!("unparsable line {line}"))?);
        }
    }
    let started = Instant::now();
    let registry = prometheus::Registry::new();
    let mut vecs: HashMap<&str, prometheus::GaugeVec> = HashMap::new();
    for one in &series {
        let vec = match vecs.get(one.family) {
            Some(vec) => vec,
            None => {
                let names: Vec<&str> = one.labels.iter().map(|(name, _)| *name).collect();
                let help = helps.get(one.family).copied().unwrap_or("help");
                let vec =
                    prometheus::GaugeVec::new(prometheus::Opts::new(one.family, help), &names)?;
                registry.register(Box::new(vec.clone()))?;
                vecs.entry(one.family).or_insert(vec)
            }
        };
        let values: Vec<&str> = one.labels.iter().map(|(_, value)| value.as_str()).collect();
        vec.get_metric_with_label_values(&values)?.set(one.value);
    }
    let build = started.elapsed();
    let mut figures = GaugeVecFigures {
        series: series.len(),
        build,
        ..GaugeVecFigures::default()
    };
    drop(series);
    for _ in 0..encodes {
        let started = Instant::now();
        let mut out = String::new();
        prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out)?;
        figures.encode.push(started.elapsed());
        figures.bytes = out.len();
    }
    Ok(figures)
}

/// What Steampipe and Cloud Custodian do: `ListSecrets` for the names, then
/// `DescribeSecret` for each, with as many targets at once as the exporter.
pub async fn describe_baseline(
    shape: &FleetShape,
    sim: &SimulatorHandle,
    options: &Options,
) -> Result<DescribeFigures, BenchError> {
    let config = config::parse(&options.config_yaml(shape))?;
    let metrics = ExporterMetrics::new("baseline", "baseline")?;
    let factory = ClientFactory::new(
        simulator_sdk_config(sim).await,
        config.aws.clone(),
        RequestCounter::new(metrics),
    );
    let targets = Target::all(&config.accounts);
    let before = sim.request_counts();
    let started = Instant::now();
    let per_target = options.baseline_describe_concurrency.max(1);
    let described: Vec<Result<usize, BenchError>> = futures::stream::iter(targets)
        .map(|target| {
            let client = factory.secrets_manager(&target);
            async move {
                let mut names = Vec::new();
                let mut pages = client
                    .list_secrets()
                    .max_results(100)
                    .include_planned_deletion(true)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|err| DisplayErrorContext(err).to_string())?;
                    for entry in page.secret_list() {
                        names.extend(entry.arn().map(str::to_owned));
                    }
                }
                let results: Vec<Result<(), BenchError>> = futures::stream::iter(names)
                    .map(|arn| {
                        let client = client.clone();
                        async move {
                            client
                                .describe_secret()
                                .secret_id(arn)
                                .send()
                                .await
                                .map_err(|err| DisplayErrorContext(err).to_string())?;
                            Ok(())
                        }
                    })
                    .buffer_unordered(per_target)
                    .collect()
                    .await;
                let count = results.len();
                results.into_iter().collect::<Result<Vec<()>, _>>()?;
                Ok(count)
            }
        })
        .buffer_unordered(config.aws.max_concurrent_targets)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut secrets = 0;
    for result in described {
        secrets += result?;
    }
    Ok(DescribeFigures {
        elapsed,
        requests: requests_since(sim, &before),
        secrets,
    })
}

fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn ratio(slow: Duration, fast: Duration) -> String {
    if fast.is_zero() {
        return "-".into();
    }
    format!("{:.0}x", slow.as_secs_f64() / fast.as_secs_f64())
}

/// The report as a Markdown table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let facts = &report.facts;
    let row = |out: &mut String, figure: &str, value: String, note: String| {
        out.push_str(&format!("| {figure} | {value} | {note} |\n"));
    };
    out.push_str(&format!(
        "### {} ({} secrets, {} targets, {} ms latency, max_concurrent_targets {})\n\n",
        report.fleet,
        facts.total_secrets(),
        facts.targets(),
        report.latency.as_millis(),
        report.max_concurrent_targets
    ));
    out.push_str("| figure | measured | expected / target |\n|---|---|---|\n");
    let requests = |poll: &PollFigures, op: &str| poll.requests.get(op).copied().unwrap_or(0);
    let p1 = &report.first_poll;
    let p2 = &report.second_poll;
    row(
        &mut out,
        "ListSecrets per poll",
        format!(
            "{} / {}",
            requests(p1, "ListSecrets"),
            requests(p2, "ListSecrets")
        ),
        format!("{} (sum of ceil(n/100))", facts.expected_list_secrets()),
    );
    row(
        &mut out,
        "ListSecretVersionIds, first / second poll",
        format!(
            "{} / {}",
            requests(p1, "ListSecretVersionIds"),
            requests(p2, "ListSecretVersionIds")
        ),
        format!(
            "{} / {} (unknown versions, at most 100 per target and poll)",
            facts.expected_version_lookups(1),
            facts.expected_version_lookups(2)
        ),
    );
    row(
        &mut out,
        "LookupEvents, first / second refresh",
        format!(
            "{} / {}",
            requests(p1, "LookupEvents"),
            requests(p2, "LookupEvents")
        ),
        format!(
            "{} / {} (4 per target, +1 per 50 events)",
            facts.expected_lookup_events(true),
            facts.expected_lookup_events(false)
        ),
    );
    row(
        &mut out,
        "AssumeRole, first / second poll",
        format!(
            "{} / {}",
            requests(p1, "AssumeRole"),
            requests(p2, "AssumeRole")
        ),
        format!(
            "{} / 0 (once per account per credential lifetime)",
            report.accounts
        ),
    );
    for (operation, peak, quota) in &report.peaks {
        row(
            &mut out,
            &format!("peak {operation} rate, one account-region"),
            format!("{peak}/s"),
            quota.map_or("no quota".into(), |q| format!("quota {q}/s")),
        );
    }
    row(
        &mut out,
        "throttled requests",
        report.throttled.to_string(),
        "0".into(),
    );
    row(
        &mut out,
        "poll, first (cold) / second",
        format!(
            "{:.2} s / {:.2} s",
            p1.inventory.as_secs_f64(),
            p2.inventory.as_secs_f64()
        ),
        "<= 30 s at 100 ms latency".into(),
    );
    row(
        &mut out,
        "CloudTrail refresh, first / second",
        format!(
            "{:.2} s / {:.2} s",
            p1.cloudtrail.as_secs_f64(),
            p2.cloudtrail.as_secs_f64()
        ),
        "4 lookups per target at 1/s each: >= 3 s".into(),
    );
    row(
        &mut out,
        "targets down",
        format!("{} / {}", p1.targets_down, p2.targets_down),
        "0".into(),
    );
    let s = &report.scrapes;
    row(
        &mut out,
        "render of the snapshot (first scrape after a poll)",
        millis(s.first_render),
        "".into(),
    );
    row(
        &mut out,
        "first scrape after a poll, plain / gzip",
        format!("{} / {}", millis(s.first_plain), millis(s.first_gzip)),
        "".into(),
    );
    row(
        &mut out,
        &format!("/metrics plain p50 / p99 ({} scrapes)", s.plain.len()),
        format!(
            "{} / {}",
            millis(percentile(&s.plain, 0.5)),
            millis(percentile(&s.plain, 0.99))
        ),
        "<= 100 ms / <= 250 ms".into(),
    );
    row(
        &mut out,
        &format!("/metrics gzip p50 / p99 ({} scrapes)", s.gzip.len()),
        format!(
            "{} / {}",
            millis(percentile(&s.gzip, 0.5)),
            millis(percentile(&s.gzip, 0.99))
        ),
        "<= 100 ms / <= 250 ms".into(),
    );
    row(
        &mut out,
        "/metrics size, plain / gzip",
        format!(
            "{} / {}",
            mib(s.plain_bytes as u64),
            mib(s.gzip_bytes as u64)
        ),
        "".into(),
    );
    row(
        &mut out,
        "concurrent scrapes during the second poll",
        format!(
            "{}/{} ok, slowest {}",
            s.concurrent_ok,
            s.concurrent_total,
            millis(s.concurrent_slowest)
        ),
        "all succeed".into(),
    );
    row(
        &mut out,
        "exporter RSS after the first poll / at rest / peak",
        format!(
            "{} / {} / {}",
            mib(report.rss_after_poll),
            mib(report.rss_rest),
            mib(report.rss_peak)
        ),
        format!(
            "<= 400 MiB (process minus the simulator's {}{})",
            mib(report.rss_simulator),
            if report.peak_reset {
                ""
            } else {
                "; peak not reset"
            }
        ),
    );
    let g = &report.gauge_vec;
    let encode = percentile(&g.encode, 0.5);
    row(
        &mut out,
        "baseline: GaugeVec set, per poll",
        millis(g.build),
        format!("{} series", g.series),
    );
    row(
        &mut out,
        "baseline: GaugeVec gather + TextEncoder, per scrape",
        millis(encode),
        format!(
            "plain scrape {} faster, gzip scrape {} faster, first render {} faster (>= 10x)",
            ratio(encode, percentile(&s.plain, 0.5)),
            ratio(encode, percentile(&s.gzip, 0.5)),
            ratio(encode, s.first_render)
        ),
    );
    if let Some(d) = &report.describe {
        let describe_requests: u64 = d.requests.values().sum();
        let exporter_requests: u64 = p1.requests.values().sum();
        row(
            &mut out,
            "baseline: ListSecrets + DescribeSecret per secret",
            format!(
                "{:.2} s, {} requests ({} DescribeSecret)",
                d.elapsed.as_secs_f64(),
                describe_requests,
                d.requests.get("DescribeSecret").copied().unwrap_or(0)
            ),
            format!(
                "exporter's cold poll {} faster with {:.0}x fewer requests (all services)",
                ratio(d.elapsed, p1.inventory),
                describe_requests as f64 / exporter_requests.max(1) as f64
            ),
        );
    }
    out
}

/// What the worst case of version lookups costs: every secret of one
/// account-region had its value set by hand, so each needs a
/// `ListSecretVersionIds`.
#[derive(Debug, Clone)]
pub struct LookupFigures {
    pub secrets: usize,
    pub latency: Duration,
    /// `check`: one poll that waits for every lookup.
    pub complete_poll: Duration,
    pub complete_lookups: u64,
    pub complete_unevaluated: usize,
    pub peak_per_second: u64,
    /// `serve`: polls that stop the lookups at the target's deadline.
    pub serve_polls: Vec<(Duration, u64, usize)>,
    pub target_timeout: Duration,
}

pub async fn version_lookup_worst_case(
    secrets: usize,
    latency: Duration,
) -> Result<LookupFigures, BenchError> {
    let now = Utc::now();
    let account = FleetShape::account_id(0);
    let region = REGIONS[0];
    let day = chrono::Duration::days(1);
    let by_hand = (0..secrets).map(|index| {
        let rotated = now - day * 40;
        let changed = now - day;
        SecretSpec::new(format!("by-hand/service-{index:05}/credentials"))
            .created(now - day * 400)
            .tag("team", "payments")
            .kms_key_id(cmk(&account, region))
            .last_accessed(now - day)
            .rotation(RotationSpec::schedule("rate(30 days)"))
            .last_rotated(rotated)
            .next_rotation(now + day * 5)
            .last_changed(changed)
            .versions([
                VersionSpec::previous(rotated),
                VersionSpec::current(changed),
            ])
    });
    let fleet = Fleet::builder()
        .base_account(BASE_ACCOUNT)
        .regions([region])
        .account(account.clone())
        .region(region)
        .secrets(by_hand)
        .build()?;
    let sim = simulator::start(fleet, ([127, 0, 0, 1], 0).into()).await?;
    sim.enforce_aws_quotas();
    sim.set_latency(latency);
    let yaml = format!(
        "poll_interval: 5m\nregions: [{region}]\naccounts:\n  - id: \"{account}\"\n    \
         role_arn: arn:aws:iam::{account}:role/secrets-rotation-reader\n\
         cloudtrail: {{ enabled: false }}\n"
    );
    let config = config::parse(&yaml)?;
    let target_timeout = config.aws.target_timeout;

    let check = Exporter::build(config.clone(), simulator_sdk_config(&sim).await).await?;
    check.poller.complete_version_lookups(true);
    let began = Instant::now();
    let snapshot = check.poller.poll_once(Utc::now()).await;
    let complete_poll = began.elapsed();
    let complete_lookups = sim.requests("ListSecretVersionIds");
    let peak_per_second = sim
        .peak_request_rate("ListSecretVersionIds")
        .map_or(0, |peak| peak.requests_per_second);
    let complete_unevaluated = snapshot.totals().unevaluated_secrets;

    let serve = Exporter::build(config, simulator_sdk_config(&sim).await).await?;
    let mut serve_polls = Vec::new();
    for _ in 0..3 {
        sim.reset_counts();
        let began = Instant::now();
        let snapshot = serve.poller.poll_once(Utc::now()).await;
        serve_polls.push((
            began.elapsed(),
            sim.requests("ListSecretVersionIds"),
            snapshot.totals().unevaluated_secrets,
        ));
        if snapshot.totals().unevaluated_secrets == 0 {
            break;
        }
    }
    sim.shutdown().await;
    Ok(LookupFigures {
        secrets,
        latency,
        complete_poll,
        complete_lookups,
        complete_unevaluated,
        peak_per_second,
        serve_polls,
        target_timeout,
    })
}

pub fn lookup_table(figures: &LookupFigures) -> String {
    let mut text = format!(
        "## version lookups: {} secrets set by hand in one account-region, {} ms per request\n\n\
         | figure | value |\n|---|---|\n",
        figures.secrets,
        figures.latency.as_millis()
    );
    text.push_str(&format!(
        "| `check` (waits for every lookup): poll time | {:.1} s |\n\
         | `check`: ListSecretVersionIds / secrets not fully evaluated | {} / {} |\n\
         | highest ListSecretVersionIds rate | {}/s (quota 50/s) |\n",
        figures.complete_poll.as_secs_f64(),
        figures.complete_lookups,
        figures.complete_unevaluated,
        figures.peak_per_second
    ));
    for (index, (took, lookups, unevaluated)) in figures.serve_polls.iter().enumerate() {
        text.push_str(&format!(
            "| `serve` poll {} (target deadline {} s): time / lookups / secrets not fully evaluated | {:.1} s / {} / {} |\n",
            index + 1,
            figures.target_timeout.as_secs(),
            took.as_secs_f64(),
            lookups,
            unevaluated
        ));
    }
    text
}
