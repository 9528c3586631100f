//! The exporter's own instruments, which outlive a poll, and the whole
//! `/metrics` body.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::exposition::{push_escaped, push_family_header, push_label};
use super::schema::{
    AWS_REQUESTS_TOTAL, BUILD_INFO, CONFIG_LAST_RELOAD_SUCCESS, CONFIG_LAST_RELOAD_SUCCESSFUL,
    ERRORS_TOTAL, POLL_DURATION, POLLS_SKIPPED_TOTAL,
};
use super::secrets::{RenderOptions, render_snapshot};
use crate::snapshot::{ErrorReason, Snapshot, Source};

/// The `outcome` label of `secrets_rotation_exporter_aws_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    Ok,
    Error,
    Throttled,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 3] = [
        RequestOutcome::Ok,
        RequestOutcome::Error,
        RequestOutcome::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Error => "error",
            RequestOutcome::Throttled => "throttled",
        }
    }
}

/// Buckets for whole polls: a handful of accounts takes seconds, thousands
/// of accounts throttled by `LookupEvents` can take most of an hour.
const POLL_DURATION_BUCKETS: [f64; 12] = [
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// `secrets_rotation_exporter_errors_total`, kept apart from the registry:
/// one series per target, source and reason is 28,000 series at 2,000
/// targets, which the registry's encoder would write again on every scrape
/// (most of a gzip scrape's time, docs/performance.md) although they change
/// only when something fails. They are rendered here, and the HTTP layer
/// keeps the rendering until the next change
/// ([`ExporterMetrics::errors_generation`]).
#[derive(Debug, Default)]
struct ErrorCounters {
    counts: Mutex<BTreeMap<(String, String, Source), [u64; ErrorReason::ALL.len()]>>,
    /// Bumped by every change.
    generation: AtomicU64,
}

impl ErrorCounters {
    fn update(&self, account_id: &str, region: &str, source: Source, reason: Option<ErrorReason>) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let by_reason = counts
            .entry((account_id.to_owned(), region.to_owned(), source))
            .or_default();
        if let Some(reason) = reason
            && let Some(index) = ErrorReason::ALL.iter().position(|r| *r == reason)
        {
            by_reason[index] += 1;
        }
        self.generation.fetch_add(1, AtomicOrdering::Release);
    }

    /// Drops the series of a target no longer polled.
    fn forget(&self, account_id: &str, region: &str, source: Source) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts
            .remove(&(account_id.to_owned(), region.to_owned(), source))
            .is_some()
        {
            self.generation.fetch_add(1, AtomicOrdering::Release);
        }
    }

    fn render(&self, out: &mut String) {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts.is_empty() {
            return;
        }
        out.reserve(counts.len() * ErrorReason::ALL.len() * 120);
        push_family_header(out, &ERRORS_TOTAL);
        let mut number = itoa::Buffer::new();
        for ((account_id, region, source), by_reason) in counts.iter() {
            for (reason, count) in ErrorReason::ALL.iter().zip(by_reason) {
                out.push_str(ERRORS_TOTAL.name);
                out.push_str("{account_id=\"");
                push_escaped(out, account_id);
                out.push('"');
                push_label(out, "region", region);
                push_label(out, "source", source.as_str());
                push_label(out, "reason", reason.as_str());
                out.push_str("} ");
                out.push_str(number.format(*count));
                out.push('\n');
            }
        }
    }
}

/// The revision baked in at build time when the build sets it, for the
/// `revision` label of `secrets_rotation_exporter_build_info`.
pub fn revision() -> &'static str {
    option_env!("SECRETS_ROTATION_EXPORTER_REVISION").unwrap_or("unknown")
}

/// The exporter's own instruments, which live as long as the process rather
/// than one poll. Cloning shares the same instruments.
#[derive(Clone)]
pub struct ExporterMetrics {
    registry: Registry,
    errors: Arc<ErrorCounters>,
    aws_requests_total: IntCounterVec,
    polls_skipped_total: IntCounter,
    poll_duration: Histogram,
    config_reload_successful: prometheus::IntGauge,
    config_reload_success_time: prometheus::IntGauge,
}

impl std::fmt::Debug for ExporterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterMetrics").finish_non_exhaustive()
    }
}

impl ExporterMetrics {
    /// Errors only if a family of the schema is malformed, which the tests
    /// rule out.
    pub fn new(version: &str, revision: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();

        let build_info = IntGaugeVec::new(
            Opts::new(BUILD_INFO.name, BUILD_INFO.help),
            &["version", "revision"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[version, revision]).set(1);

        let aws_requests_total = IntCounterVec::new(
            Opts::new(AWS_REQUESTS_TOTAL.name, AWS_REQUESTS_TOTAL.help),
            &["service", "operation", "outcome"],
        )?;
        registry.register(Box::new(aws_requests_total.clone()))?;

        let polls_skipped_total =
            IntCounter::new(POLLS_SKIPPED_TOTAL.name, POLLS_SKIPPED_TOTAL.help)?;
        registry.register(Box::new(polls_skipped_total.clone()))?;

        let poll_duration = Histogram::with_opts(
            HistogramOpts::new(POLL_DURATION.name, POLL_DURATION.help)
                .buckets(POLL_DURATION_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(poll_duration.clone()))?;

        let config_reload_successful = prometheus::IntGauge::new(
            CONFIG_LAST_RELOAD_SUCCESSFUL.name,
            CONFIG_LAST_RELOAD_SUCCESSFUL.help,
        )?;
        registry.register(Box::new(config_reload_successful.clone()))?;
        let config_reload_success_time = prometheus::IntGauge::new(
            CONFIG_LAST_RELOAD_SUCCESS.name,
            CONFIG_LAST_RELOAD_SUCCESS.help,
        )?;
        registry.register(Box::new(config_reload_success_time.clone()))?;

        Ok(Self {
            registry,
            errors: Arc::default(),
            aws_requests_total,
            polls_skipped_total,
            poll_duration,
            config_reload_successful,
            config_reload_success_time,
        })
    }

    /// Creates the target's error series at 0 for every reason. A counter
    /// that first appears at 1 has no earlier sample, so `rate()` and
    /// `increase()` would miss its first error.
    pub fn init_target(&self, account_id: &str, region: &str, source: Source) {
        self.errors.update(account_id, region, source, None);
    }

    /// Drops the target's error series: the account left the fleet (it
    /// left the organization, or moved out of the watched units).
    pub fn forget_target(&self, account_id: &str, region: &str, source: Source) {
        self.errors.forget(account_id, region, source);
    }

    pub fn record_error(
        &self,
        account_id: &str,
        region: &str,
        source: Source,
        reason: ErrorReason,
    ) {
        self.errors.update(account_id, region, source, Some(reason));
    }

    /// Creates the operation's request series at 0 for every outcome, for the
    /// same reason as [`ExporterMetrics::init_target`].
    pub fn init_aws_operation(&self, service: &str, operation: &str) {
        for outcome in RequestOutcome::ALL {
            self.aws_requests_total
                .with_label_values(&[service, operation, outcome.as_str()]);
        }
    }

    pub fn record_aws_request(&self, service: &str, operation: &str, outcome: RequestOutcome) {
        self.aws_requests_total
            .with_label_values(&[service, operation, outcome.as_str()])
            .inc();
    }

    /// Records how the last configuration (re)load went, as Prometheus and
    /// Alertmanager do: a failure keeps the previous success's time.
    pub fn record_config_load(&self, succeeded: bool, at: chrono::DateTime<chrono::Utc>) {
        self.config_reload_successful.set(i64::from(succeeded));
        if succeeded {
            self.config_reload_success_time.set(at.timestamp());
        }
    }

    pub fn record_poll_skipped(&self) {
        self.polls_skipped_total.inc();
    }

    pub fn observe_poll_duration(&self, duration: Duration) {
        self.poll_duration.observe(duration.as_secs_f64());
    }

    /// For callers that register more collectors next to these.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every series of the exporter's own.
    pub fn render(&self, out: &mut String) -> Result<(), prometheus::Error> {
        self.render_registry(out)?;
        self.render_errors(out);
        Ok(())
    }

    /// The series of the registry: a few dozen, whatever the fleet.
    pub fn render_registry(&self, out: &mut String) -> Result<(), prometheus::Error> {
        self.render_registry_serving(out, &RenderOptions::default())
    }

    /// The registry's families that `options` serves.
    pub fn render_registry_serving(
        &self,
        out: &mut String,
        options: &RenderOptions,
    ) -> Result<(), prometheus::Error> {
        let mut families = self.registry.gather();
        families.retain(|family| options.serves(family.name()));
        TextEncoder::new().encode_utf8(&families, out)
    }

    /// `secrets_rotation_exporter_errors_total`, one series per target,
    /// source and reason.
    pub fn render_errors(&self, out: &mut String) {
        self.errors.render(out);
    }

    /// Changes whenever what [`ExporterMetrics::render_errors`] writes may have.
    pub fn errors_generation(&self) -> u64 {
        self.errors.generation.load(AtomicOrdering::Acquire)
    }
}

/// The content type of what [`render_all`] writes.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The whole `/metrics` body: the newest snapshot's families, when a poll has
/// completed, then the exporter's own.
pub fn render_all(
    snapshot: Option<&Snapshot>,
    exporter: &ExporterMetrics,
    options: &RenderOptions,
    out: &mut String,
) -> Result<(), prometheus::Error> {
    if let Some(snapshot) = snapshot {
        render_snapshot(snapshot, options, out);
    }
    exporter.render_registry_serving(out, options)?;
    if options.serves(ERRORS_TOTAL.name) {
        exporter.render_errors(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_metrics_start_errors_at_zero_for_every_reason() -> Result<(), prometheus::Error> {
        let metrics = ExporterMetrics::new("1.2.3", "abc")?;
        metrics.init_target("111111111111", "us-east-1", Source::SecretsManager);
        metrics.record_error(
            "111111111111",
            "us-east-1",
            Source::SecretsManager,
            ErrorReason::Throttled,
        );
        let mut out = String::new();
        metrics.render(&mut out)?;
        for reason in ErrorReason::ALL {
            let expected = if reason == ErrorReason::Throttled {
                1
            } else {
                0
            };
            let line = format!(
                "secrets_rotation_exporter_errors_total{{account_id=\"111111111111\",region=\"us-east-1\",source=\"secretsmanager\",reason=\"{}\"}} {expected}",
                reason.as_str()
            );
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
        assert!(out.contains(
            "secrets_rotation_exporter_build_info{revision=\"abc\",version=\"1.2.3\"} 1"
        ));
        Ok(())
    }
}
