//! Re-reading the configuration while serving (`SIGHUP`, `POST /-/reload`),
//! as Prometheus and Alertmanager do: a new configuration that does not
//! validate keeps the running one, says every problem with its path, and
//! sets `secrets_rotation_exporter_config_last_reload_successful` to 0.
//!
//! A good one takes effect without a restart: targets that stay keep their
//! CloudTrail history, counters and series, removed ones go with their
//! series, new ones are polled at once (the same [`crate::targets`] path
//! discovery uses). `aws`, `cloudtrail` and `cloudwatch` hold clients and
//! loops built at start; a change to them is refused with a message asking
//! for a restart, so the running configuration is always one whole file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use chrono::Utc;
use futures::future::BoxFuture;

use crate::app::{Exporter, build_discovery};
use crate::config::{self, Account, Config, Shard};
use crate::metrics::RenderOptions;
use crate::targets::TargetList;
use crate::web::{self, Front, FrontHandle};

/// Where the configuration is read from, and what to apply it to.
pub struct Reloader {
    exporter: Arc<Exporter>,
    config_file: PathBuf,
    /// `--shard`, which wins over the file's `shard` at every load.
    shard_flag: Option<Shard>,
    web_config_file: Option<PathBuf>,
    /// The routes and the handle every listener serves new connections
    /// from, to rebuild when the web config changes.
    front: Option<(Router, FrontHandle)>,
    /// Ends the discovery loops a reload starts.
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// The discovery loop a reload started, stopped by the next one.
    discovery_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One reload at a time: a `SIGHUP` and a `POST /-/reload` together
    /// apply one after the other.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        exporter: Arc<Exporter>,
        config_file: PathBuf,
        shard_flag: Option<Shard>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            exporter,
            config_file,
            shard_flag,
            web_config_file: None,
            front: None,
            shutdown,
            discovery_task: Mutex::new(None),
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// Also re-reads `web_config_file` and serves new connections with it.
    pub fn with_web_config(
        mut self,
        web_config_file: Option<PathBuf>,
        app: Router,
        front: FrontHandle,
    ) -> Self {
        self.web_config_file = web_config_file;
        self.front = Some((app, front));
        self
    }

    /// Reads both files again and applies them; on any problem nothing
    /// changes. Returns the problems, one per line.
    pub async fn reload(&self) -> Result<(), String> {
        let _turn = self.one_at_a_time.lock().await;
        let result = self.try_reload().await;
        self.exporter
            .metrics
            .record_config_load(result.is_ok(), Utc::now());
        match &result {
            Ok(()) => tracing::info!(
                config_file = %self.config_file.display(),
                "configuration reloaded"
            ),
            Err(problems) => {
                for problem in problems.lines() {
                    tracing::error!(
                        config_file = %self.config_file.display(),
                        problem,
                        "configuration not reloaded; the previous one still runs"
                    );
                }
            }
        }
        result
    }

    async fn try_reload(&self) -> Result<(), String> {
        let mut new = config::load(&self.config_file).map_err(|err| err.to_string())?;
        if let Some(shard) = self.shard_flag {
            new.shard = shard;
        }
        let web_config = match &self.web_config_file {
            Some(path) => Some(web::load(path).map_err(|err| err.to_string())?),
            None => None,
        };
        let exporter = &self.exporter;
        let running = exporter.poller.config();
        let needs_restart = running.changes_needing_restart(&new);
        if !needs_restart.is_empty() {
            return Err(needs_restart
                .iter()
                .map(|key| format!("{key}: changed, which takes a restart to apply"))
                .collect::<Vec<_>>()
                .join("\n"));
        }
        // Everything that can fail is done before anything is applied.
        let base_is_target = new.polls_base_account();
        let base_account = if new.needs_base_account() {
            Some(exporter.base_account().await.map_err(|err| {
                format!(
                    "the account of the base credentials could not be found (sts:GetCallerIdentity): {err}"
                )
            })?)
        } else {
            None
        };

        let new = Arc::new(new);
        // The configuration first: the targets' change wakes the poller,
        // which polls new targets with the settings in force.
        exporter.poller.set_config(new.clone());
        exporter
            .state
            .set_render_options(RenderOptions::from_config(&new));
        exporter.state.set_poll_interval(new.poll_interval);
        for source in &exporter.sources {
            source.set_interval(new.poll_interval);
        }
        self.apply_targets(&new, base_account.as_deref(), base_is_target);
        if let (Some(web_config), Some((app, front))) = (web_config, &self.front) {
            front.store(Arc::new(Front::new(app.clone(), Some(&web_config))));
        }
        // Removed targets and a changed policy or labels show at once.
        exporter.poller.republish(Utc::now());
        Ok(())
    }

    /// Replaces the discovery and publishes the new targets: the explicit
    /// accounts, the base account when nothing else is, and the accounts
    /// the running discovery found (merged again with the new
    /// configuration) until the new discovery's first walk.
    fn apply_targets(&self, new: &Arc<Config>, base_account: Option<&str>, base_is_target: bool) {
        let exporter = &self.exporter;
        let discovery = build_discovery(
            new,
            &exporter.factory,
            base_account,
            &exporter.targets,
            &exporter.metrics,
            exporter.poller.sources_changed(),
        );
        let earlier = exporter.current_discovery.replace(discovery.clone());
        if let Some(task) = lock(&self.discovery_task).take() {
            task.abort();
        }
        match (&discovery, base_account) {
            (Some(discovery), _) => {
                match &earlier {
                    Some(earlier) => discovery.seed_from(earlier.as_ref()),
                    None => {
                        exporter
                            .targets
                            .publish(TargetList::configured(&new.accounts, new.shard));
                    }
                }
                *lock(&self.discovery_task) = Some(discovery.clone().start(self.shutdown.clone()));
            }
            (None, Some(base)) if base_is_target => {
                let account = Account {
                    id: base.to_owned(),
                    role_arn: None,
                    external_id: None,
                    regions: new.regions.clone(),
                    name: None,
                };
                exporter
                    .targets
                    .publish(TargetList::configured(&[account], new.shard));
            }
            (None, _) => {
                exporter
                    .targets
                    .publish(TargetList::configured(&new.accounts, new.shard));
            }
        }
        // The discovery `serve` started is stopped through its shutdown
        // signal only; once replaced, it must not publish again.
        if let Some(earlier) = earlier {
            earlier.retire();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl web::Reload for Reloader {
    fn reload(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(Reloader::reload(self))
    }
}
