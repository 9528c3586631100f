//! Every metric name, label and HELP text the exporter serves, and their
//! rendering in the Prometheus text exposition format (version 0.0.4).
//!
//! The families built from a poll are written by hand from the immutable
//! [`Snapshot`](crate::snapshot::Snapshot) instead of being kept in a
//! `prometheus` registry: each scrape emits fresh families, so a secret that
//! vanished from AWS leaves no label set behind, and writing straight into one
//! buffer keeps a scrape of 100,000 secrets free of per-series allocations.
//! Only the process-lifetime instruments (counters that must survive polls)
//! live in a registry, in [`ExporterMetrics`].
//!
//! `schema` names every family and label; `exposition` writes the text
//! format; `secrets` renders a snapshot's families with it, `parameters` its
//! SSM parameters' families; `process` holds
//! the exporter's own instruments and assembles the whole `/metrics` body.

mod accounts;
mod exposition;
mod parameters;
mod process;
mod schema;
mod secrets;

pub use process::{CONTENT_TYPE, ExporterMetrics, RequestOutcome, render_all, revision};
pub use schema::*;
pub use secrets::{RenderOptions, render_snapshot, write_snapshot};
