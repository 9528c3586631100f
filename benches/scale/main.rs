//! `cargo bench --bench scale`: the fleet-scale benchmark. Prints one table
//! per fleet; docs/performance.md explains the figures.

mod discovery;
mod harness;
mod sources;

use std::time::Duration;

use clap::Parser;

use harness::{FleetShape, Options};

#[derive(Debug, Parser)]
#[command(about = "Polls generated fleets through the AWS simulator and measures the exporter")]
struct Args {
    /// Latency the simulator adds to every request, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Which fleets: wide (100k secrets), deep (10k in one target), quick, all (deep and
    /// wide), lookups (the worst case of version lookups: 10k secrets in one target
    /// whose values were set by hand), discovery (an organization of 2,000 accounts in
    /// 40 units read by the exporter and by a ListAccounts + ListParents baseline), or
    /// parameters (100,000 SSM parameters in 1,000 accounts x 2 regions, read with and
    /// without sources.ssm_parameters and its tags), databases (6 databases and 6 VPCs
    /// in each of 1,000 accounts x 2 regions, read with and without sources.rds and
    /// sources.vpc_endpoints).
    #[arg(long, default_value = "all")]
    fleet: String,
    /// Sequential scrapes of each kind (plain, gzip) behind the percentiles.
    #[arg(long, default_value_t = 50)]
    scrapes: usize,
    /// Scrapes sent at once during the second poll.
    #[arg(long, default_value_t = 50)]
    concurrent_scrapes: usize,
    /// `aws.max_concurrent_targets` for the exporter (and the DescribeSecret baseline);
    /// unset: the configuration's default.
    #[arg(long)]
    max_concurrent_targets: Option<usize>,
    /// In-flight DescribeSecret requests per target in the baseline inventory.
    #[arg(long, default_value_t = 10)]
    describe_concurrency: usize,
    /// Skip the DescribeSecret baseline inventory.
    #[arg(long)]
    skip_describe_baseline: bool,
    /// With --fleet discovery: also read the organization with labels.account_tags set
    /// (one ListTagsForResource per account: minutes at the default pace).
    #[arg(long)]
    with_account_tags: bool,
    /// With --fleet parameters: also read every parameter's tags (one
    /// ListTagsForResource each, 2 a second per target: about 25 s for 50 a target).
    #[arg(long)]
    with_tags: bool,
    /// With --fleet discovery: discovery.organizations.requests_per_second for both readings.
    #[arg(long, default_value_t = 4.0)]
    organizations_rps: f64,
    /// The `metrics:` series budget for the exporter: `large-fleet` (the profile of
    /// docs/metrics.md, read from there) or the path of a YAML file holding a
    /// `metrics:` section; unset: every family and verdict.
    #[arg(long)]
    metrics_profile: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> std::process::ExitCode {
    // Built here, not by `#[tokio::main]`, so the allocator is configured
    // before the runtime's threads exist.
    let runtime = match secrets_rotation_exporter::allocator::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> std::process::ExitCode {
    let args = Args::parse();
    if args.fleet == "lookups" {
        let latency = Duration::from_millis(args.latency_ms);
        return match harness::version_lookup_worst_case(10_000, latency).await {
            Ok(figures) => {
                println!("{}", harness::lookup_table(&figures));
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("lookups: {err}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if args.fleet == "discovery" {
        let latency = Duration::from_millis(args.latency_ms);
        return match discovery::discovery_figures(
            2_000,
            40,
            latency,
            args.organizations_rps,
            args.with_account_tags,
        )
        .await
        {
            Ok(figures) => {
                println!("{}", discovery::discovery_table(&figures));
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("discovery: {err}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let inventory = match args.fleet.as_str() {
        "parameters" => Some((
            sources::Inventory::Parameters {
                with_tags: args.with_tags,
            },
            50,
        )),
        "databases" => Some((sources::Inventory::Databases, 6)),
        _ => None,
    };
    if let Some((inventory, per_target)) = inventory {
        let latency = Duration::from_millis(args.latency_ms);
        return match sources::source_figures(inventory, 1_000, 2, per_target, latency).await {
            Ok(figures) => {
                println!("{}", sources::source_table(&figures));
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{}: {err}", args.fleet);
                std::process::ExitCode::FAILURE
            }
        };
    }
    let shapes = match args.fleet.as_str() {
        "wide" => vec![FleetShape::wide()],
        "deep" => vec![FleetShape::deep()],
        "quick" => vec![FleetShape::quick()],
        "all" => vec![FleetShape::deep(), FleetShape::wide()],
        other => {
            eprintln!(
                "--fleet: expected wide, deep, quick, all, lookups, discovery, parameters or databases, got {other}"
            );
            return std::process::ExitCode::from(2);
        }
    };
    let metrics_yaml = match args
        .metrics_profile
        .as_deref()
        .map(harness::metrics_profile)
    {
        None => None,
        Some(Ok(yaml)) => Some(yaml),
        Some(Err(err)) => {
            eprintln!("--metrics-profile: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let options = Options {
        metrics_yaml,
        latency: Duration::from_millis(args.latency_ms),
        scrapes: args.scrapes,
        concurrent_scrapes: args.concurrent_scrapes,
        max_concurrent_targets: args.max_concurrent_targets,
        baseline_describe_concurrency: args.describe_concurrency,
        run_inventory_baseline: !args.skip_describe_baseline,
    };
    println!(
        "scale benchmark: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    for shape in shapes {
        match harness::run(&shape, &options).await {
            Ok(report) => println!("\n{}", harness::table(&report)),
            Err(err) => {
                eprintln!("{}: {err}", shape.name);
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
