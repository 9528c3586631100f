//! The command line: wiring only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use std::sync::Arc;

use secrets_rotation_exporter::app::{Exporter, base_sdk_config};
use secrets_rotation_exporter::reload::Reloader;
use secrets_rotation_exporter::report::{EXIT_CANNOT_EVALUATE, Report};
use secrets_rotation_exporter::web::{self, WebConfig};
use secrets_rotation_exporter::{cloudwatch, config, demo};

/// The default listen address: 9897 is in the exporters' range 9100-9999
/// and not used by any well-known exporter.
const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9897";

#[derive(Debug, Parser)]
#[command(
    name = "secrets-rotation-exporter",
    version,
    about = "Watches AWS Secrets Manager rotation across accounts and regions and exports it to Prometheus"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Only log messages at or above this level.
    #[arg(long = "log.level", global = true, default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
    /// Log line format: logfmt, or one JSON object per line.
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Logfmt)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Poll in the background and serve /metrics, /healthz, /readyz.
    Serve {
        /// The configuration file (docs/configuration.md); re-read on SIGHUP.
        #[arg(long = "config.file")]
        config_file: PathBuf,
        /// Address to listen on; repeat the flag to listen on several.
        #[arg(long = "web.listen-address", default_value = DEFAULT_LISTEN_ADDRESS)]
        listen_address: Vec<SocketAddr>,
        /// TLS and basic authentication, in the Prometheus exporter-toolkit format; re-read on SIGHUP.
        #[arg(long = "web.config.file")]
        web_config_file: Option<PathBuf>,
        /// Path under which to expose the metrics.
        #[arg(long = "web.telemetry-path", default_value = web::DEFAULT_TELEMETRY_PATH, value_parser = telemetry_path)]
        telemetry_path: String,
        /// Enable POST /-/reload (re-reads the configuration files, as SIGHUP does).
        #[arg(long = "web.enable-lifecycle")]
        enable_lifecycle: bool,
        /// Poll only this replica's share of the accounts, as INDEX/COUNT (0/3, 1/3, 2/3);
        /// overrides `shard` in the config file.
        #[arg(long, value_name = "INDEX/COUNT", value_parser = config::Shard::parse)]
        shard: Option<config::Shard>,
    },
    /// Start the bundled AWS simulator with a realistic fleet and serve it as `serve` would.
    Demo {
        /// Address to listen on; repeat the flag to listen on several.
        #[arg(long = "web.listen-address", default_value = DEFAULT_LISTEN_ADDRESS)]
        listen_address: Vec<SocketAddr>,
    },
    /// Poll once and print a compliance report; exit 0 all compliant, 1 some non-compliant, 2 could not evaluate.
    Check {
        /// The configuration file (docs/configuration.md).
        #[arg(long = "config.file")]
        config_file: PathBuf,
        /// A table for people, or JSON for machines.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Check only this replica's share of the accounts, as INDEX/COUNT.
        #[arg(long, value_name = "INDEX/COUNT", value_parser = config::Shard::parse)]
        shard: Option<config::Shard>,
        /// Give up (exit 2) when the check has not finished after this long.
        #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = config::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Show (plan) or make (apply) the CloudWatch alarm changes the config asks for.
    Alarms {
        #[command(subcommand)]
        command: AlarmsCommand,
    },
    /// Configuration file commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AlarmsCommand {
    /// Print what would be created, updated and deleted.
    Plan {
        /// The configuration file (docs/configuration.md).
        #[arg(long = "config.file")]
        config_file: PathBuf,
    },
    /// Print the plan, then carry it out.
    Apply {
        /// The configuration file (docs/configuration.md).
        #[arg(long = "config.file")]
        config_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file; exit 2 with `path: problem` lines on error.
    Check {
        /// The configuration file (docs/configuration.md).
        #[arg(long = "config.file")]
        config_file: PathBuf,
    },
}

fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},aws_config=warn,aws_smithy_runtime=warn,hyper=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout carries `check`'s report.
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `--web.telemetry-path`: an absolute path that is not one of the other routes.
fn telemetry_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.contains(char::is_whitespace) {
        return Err(format!(
            "must be an absolute path such as /metrics, got {text:?}"
        ));
    }
    if web::RESERVED_PATHS.contains(&text) {
        return Err(format!("{text} is one of the exporter's own routes"));
    }
    Ok(text.to_owned())
}

/// Re-reads the configuration on each SIGHUP; without a reloader (the
/// demo), logs and otherwise ignores it, since its default action would
/// end the process.
fn on_sighup(reloader: Option<Arc<Reloader>>) {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    match &reloader {
                        Some(reloader) => {
                            tracing::info!("SIGHUP received: reloading the configuration");
                            let _ = reloader.reload().await;
                        }
                        None => tracing::warn!(
                            "SIGHUP received: the demo has no configuration file to reload"
                        ),
                    }
                }
            });
        }
        Err(err) => tracing::error!(error = %err, "cannot listen for SIGHUP"),
    }
    #[cfg(not(unix))]
    let _ = reloader;
}

/// What `serve` re-reads on SIGHUP and `POST /-/reload`.
struct ReloadFiles {
    config_file: PathBuf,
    shard_flag: Option<config::Shard>,
    web_config_file: Option<PathBuf>,
    enable_lifecycle: bool,
}

fn load_config(path: &std::path::Path) -> Result<config::Config, ExitCode> {
    config::load(path).map_err(|err| {
        eprintln!("{err}");
        ExitCode::from(EXIT_CANNOT_EVALUATE as u8)
    })
}

/// Polls in the background and serves until a signal arrives.
async fn run_server(
    exporter: Exporter,
    listen_addresses: Vec<SocketAddr>,
    web: Option<WebConfig>,
    telemetry_path: &str,
    reload: Option<ReloadFiles>,
) -> ExitCode {
    let mut listeners = Vec::with_capacity(listen_addresses.len());
    for listen_address in &listen_addresses {
        match TcpListener::bind(listen_address).await {
            Ok(listener) => listeners.push(listener),
            Err(err) => {
                tracing::error!(address = %listen_address, error = %err, "cannot listen");
                return ExitCode::FAILURE;
            }
        }
    }
    let exporter = Arc::new(exporter);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = web::app_with_telemetry_path(exporter.state.clone(), telemetry_path);
    let front: web::FrontHandle = Arc::new(arc_swap::ArcSwap::from_pointee(web::Front::new(
        app.clone(),
        web.as_ref(),
    )));
    let reloader = reload.map(|files| {
        let reloader = Arc::new(
            Reloader::new(
                exporter.clone(),
                files.config_file,
                files.shard_flag,
                stop_rx.clone(),
            )
            .with_web_config(files.web_config_file, app.clone(), front.clone()),
        );
        if files.enable_lifecycle {
            exporter.state.enable_lifecycle(reloader.clone());
        }
        reloader
    });
    on_sighup(reloader.clone());
    for listener in &listeners {
        // Logs the bound address, not the requested one, so port 0 is usable.
        let Ok(address) = listener.local_addr() else {
            continue;
        };
        tracing::info!(
            address = %address,
            telemetry_path,
            targets = exporter.targets.current().targets.len(),
            discovery = exporter.discovery.is_some(),
            poll_interval = %config::format_config_duration(exporter.config.poll_interval),
            "serving /metrics"
        );
        let missing = web::unprotected(address, web.as_ref());
        if !missing.is_empty() {
            // As exporter-toolkit does, but louder: this exporter's /metrics
            // is an inventory of the secrets of every account it watches.
            tracing::warn!(
                address = %address,
                "serving /metrics on a non-loopback address without {}: anyone who can connect reads secret names, ARNs, tags and account ids; protect it with --web.config.file (docs/web-config.md) or listen on 127.0.0.1",
                missing.join(" and ")
            );
        }
    }
    let poller = exporter.poller.clone();
    let mut poll_stop = stop_rx.clone();
    let polling = tokio::spawn(poller.run(async move {
        let _ = poll_stop.wait_for(|stop| *stop).await;
    }));
    let mut reading: Vec<_> = exporter
        .sources
        .iter()
        .map(|source| source.clone().start(stop_rx.clone()))
        .collect();
    if let Some(discovery) = &exporter.discovery {
        reading.push(discovery.clone().start(stop_rx.clone()));
    }
    let reconciling = cloudwatch::start(exporter.cloudwatch.as_ref(), stop_rx.clone());
    let serving: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let mut stop = stop_rx.clone();
            tokio::spawn(web::serve_front(
                listener,
                front.clone(),
                web::ServeLimits::default(),
                async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                },
            ))
        })
        .collect();
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let mut failed = false;
    for served in futures::future::join_all(serving).await {
        match served {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::error!(error = %err, "HTTP server failed");
                failed = true;
            }
            Err(err) => {
                tracing::error!(error = %err, "HTTP server stopped");
                failed = true;
            }
        }
    }
    let _ = polling.await;
    if let Some(reconciling) = reconciling {
        let _ = reconciling.await;
    }
    for source in reading {
        let _ = source.await;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    // Built here, not by `#[tokio::main]`, so the allocator is configured
    // before the runtime's threads exist.
    let runtime = match secrets_rotation_exporter::allocator::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    match cli.command {
        Command::Alarms { command } => {
            let (config_file, apply) = match command {
                AlarmsCommand::Plan { config_file } => (config_file, false),
                AlarmsCommand::Apply { config_file } => (config_file, true),
            };
            let config = match load_config(&config_file) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let mut stdout = std::io::stdout().lock();
            match cloudwatch::alarms_command(config, &base_sdk_config().await, apply, &mut stdout)
                .await
            {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("{err}");
                    ExitCode::from(EXIT_CANNOT_EVALUATE as u8)
                }
            }
        }
        Command::Config {
            command: ConfigCommand::Check { config_file },
        } => match load_config(&config_file) {
            Ok(_) => {
                println!("{}: ok", config_file.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Check {
            config_file,
            output,
            shard,
            timeout,
        } => {
            let mut config = match load_config(&config_file) {
                Ok(config) => config,
                Err(code) => return code,
            };
            config.shard = shard.unwrap_or(config.shard);
            // `check` reports and leaves CloudWatch alone: it publishes no
            // data and touches no alarms, whatever `serve` does with them.
            config.cloudwatch.enabled = false;
            config.cloudwatch.alarms.manage = false;
            let exporter = match Exporter::build(config, base_sdk_config().await).await {
                Ok(exporter) => exporter,
                Err(err) => {
                    eprintln!("{err}");
                    return ExitCode::from(EXIT_CANNOT_EVALUATE as u8);
                }
            };
            let now = Utc::now();
            exporter.poller.explain_verdicts(true);
            // One poll must judge everything it lists: no lookup is left for a next poll.
            exporter.poller.complete_version_lookups(true);
            // Every request has its own timeout, but a check waits for every
            // version lookup and CloudTrail's whole history: a bound on the
            // whole keeps a pipeline that runs it from waiting for ever.
            let checked = tokio::time::timeout(timeout, async {
                // The organization first: its accounts are what the
                // sources and the poll read. A failed read leaves the
                // explicit accounts, and the report exits 2.
                if let Some(discovery) = &exporter.discovery {
                    discovery.refresh_once(now).await;
                }
                exporter.read_everything_once(now).await
            })
            .await;
            let Ok(snapshot) = checked else {
                eprintln!(
                    "check did not finish within {} (--timeout): nothing was judged",
                    config::format_config_duration(timeout)
                );
                return ExitCode::from(EXIT_CANNOT_EVALUATE as u8);
            };
            let report = Report::new(&snapshot);
            let mut stdout = std::io::stdout().lock();
            let written = match output {
                Output::Json => report.write_json(&mut stdout),
                Output::Table => report.write_table(&mut stdout),
            };
            if let Err(err) = written {
                eprintln!("cannot write the report: {err}");
                return ExitCode::from(EXIT_CANNOT_EVALUATE as u8);
            }
            ExitCode::from(report.exit_code() as u8)
        }
        Command::Serve {
            config_file,
            listen_address,
            web_config_file,
            telemetry_path,
            enable_lifecycle,
            shard,
        } => {
            let mut config = match load_config(&config_file) {
                Ok(config) => config,
                Err(code) => return code,
            };
            config.shard = shard.unwrap_or(config.shard);
            // A bad web config fails at start, before any AWS call.
            let web = match web_config_file.as_deref().map(web::load).transpose() {
                Ok(web) => web,
                Err(err) => {
                    eprintln!("{err}");
                    return ExitCode::from(EXIT_CANNOT_EVALUATE as u8);
                }
            };
            let reload = ReloadFiles {
                config_file,
                shard_flag: shard,
                web_config_file,
                enable_lifecycle,
            };
            match Exporter::build(config, base_sdk_config().await).await {
                Ok(exporter) => {
                    run_server(exporter, listen_address, web, &telemetry_path, Some(reload)).await
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot start");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo { listen_address } => match demo::start().await {
            Ok(demo) => {
                tracing::info!(
                    simulator = %demo.simulator.endpoint_url(),
                    "demo: the bundled AWS simulator is serving a fleet of {} secrets",
                    demo.secret_count
                );
                let code = run_server(
                    demo.exporter,
                    listen_address,
                    None,
                    web::DEFAULT_TELEMETRY_PATH,
                    None,
                )
                .await;
                demo.simulator.shutdown().await;
                code
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot start the demo");
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag of every command says what it does in `--help`.
    #[test]
    fn every_flag_has_a_help_line() {
        fn missing(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() {
                    out.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
                }
            }
            for sub in command.get_subcommands() {
                missing(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut without_help = Vec::new();
        missing(
            &Cli::command(),
            "secrets-rotation-exporter",
            &mut without_help,
        );
        assert!(
            without_help.is_empty(),
            "flags without help: {without_help:?}"
        );
    }
}
