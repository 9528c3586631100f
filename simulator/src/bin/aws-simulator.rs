//! Serves a fleet file until SIGTERM or Ctrl-C, for tests and demos outside Rust.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use simulator::{Fleet, start};

/// A small AWS (STS, Secrets Manager metadata, CloudTrail LookupEvents, Organizations reads, SSM parameter metadata) for the AWS SDK, serving a fleet file.
#[derive(Debug, Parser)]
#[command(name = "aws-simulator", version)]
struct Args {
    /// Fleet file (YAML) describing accounts, regions and secrets.
    #[arg(long)]
    fleet: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let fleet = match Fleet::from_yaml_file(&args.fleet) {
        Ok(fleet) => fleet,
        Err(error) => {
            eprintln!("aws-simulator: {error}");
            return ExitCode::from(2);
        }
    };
    let region = fleet.regions().first().cloned().unwrap_or_default();
    let sim = match start(fleet, args.listen).await {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("aws-simulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    let credentials = sim.base_credentials();
    let endpoint = sim.endpoint_url();
    let banner = format!(
        "listening on {endpoint}\nAWS_ENDPOINT_URL={endpoint}\nAWS_ACCESS_KEY_ID={}\n\
         AWS_SECRET_ACCESS_KEY={}\nAWS_REGION={region}\n",
        credentials.access_key_id, credentials.secret_access_key
    );
    let mut stdout = std::io::stdout().lock();
    // The banner is how a parent process learns the port: it must arrive before we block.
    if stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    wait_for_stop().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
