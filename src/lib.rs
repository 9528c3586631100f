//! secrets-rotation-exporter: inventories AWS Secrets Manager secrets across
//! accounts and regions, judges their rotation against a policy and serves the
//! result to Prometheus.

pub mod allocator;
pub mod app;
pub mod aws;
pub mod cloudwatch;
pub mod config;
pub mod databases;
pub mod demo;
pub mod discovery;
pub mod inventory;
pub mod metrics;
pub mod parameters;
pub mod policy;
pub mod poller;
pub mod reload;
pub mod report;
pub mod rotation_events;
pub mod snapshot;
pub mod sources;
pub mod targets;
pub mod vpcs;
pub mod web;
