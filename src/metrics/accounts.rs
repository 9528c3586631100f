//! The RDS database and VPC families of one [`Snapshot`]: one `_info` and
//! one verdict series per resource, for the targets whose resources are
//! listed.

use super::exposition::{FamilyWriter, Output, SampleValue, push_escaped, push_label};
use super::schema::{RDS_DATABASE_COMPLIANT, RDS_DATABASE_INFO, VPC_COMPLIANT, VPC_INFO};
use super::secrets::RenderOptions;
use crate::config::VerdictSeries;
use crate::databases::MASTER_PASSWORD_MANAGED;
use crate::snapshot::{Snapshot, TargetSnapshot};
use crate::vpcs::SECRETSMANAGER_ENDPOINT;

/// Each target `listed` picks out of the snapshot, with its escaped
/// `account_id="...",region="..."`.
fn listed<'s, T>(
    snapshot: &'s Snapshot,
    listed: impl Fn(&'s TargetSnapshot) -> Option<&'s T>,
) -> Vec<(String, &'s T)> {
    snapshot
        .targets
        .iter()
        .filter_map(|target| {
            let resources = listed(target)?;
            let mut identity = String::with_capacity(40);
            identity.push_str("account_id=\"");
            push_escaped(&mut identity, &target.account_id);
            identity.push('"');
            push_label(&mut identity, "region", &target.region);
            Some((identity, resources))
        })
        .collect()
}

/// Whether a verdict's series is served: every one, or only failing ones
/// under `metrics.verdicts: failing`.
fn served(options: &RenderOptions, compliant: bool) -> bool {
    match options.verdict_series() {
        VerdictSeries::All => true,
        VerdictSeries::Failing => !compliant,
    }
}

pub(super) fn render_databases(snapshot: &Snapshot, options: &RenderOptions, out: &mut Output<'_>) {
    let targets = listed(snapshot, |target| target.databases.as_ref());
    if targets.is_empty() {
        return;
    }
    if options.serves(RDS_DATABASE_INFO.name) {
        let mut writer = FamilyWriter::new(out, &RDS_DATABASE_INFO);
        for (identity, inventory) in &targets {
            writer.start_target(identity);
            for database in inventory.databases.iter() {
                let out = writer.start_target_series();
                push_label(out, "db_identifier", &database.identifier);
                push_label(out, "kind", database.kind.as_str());
                push_label(out, "engine", &database.engine);
                writer.end_series(SampleValue::Count(1));
            }
        }
    }
    if options.serves(RDS_DATABASE_COMPLIANT.name) {
        let mut writer = FamilyWriter::new(out, &RDS_DATABASE_COMPLIANT);
        for (identity, inventory) in &targets {
            writer.start_target(identity);
            // Instances and clusters have identifiers of their own, so an
            // instance and a cluster may share one; sorted by identifier,
            // they are neighbours, and get one verdict series (passing only
            // when both pass) rather than a duplicate series.
            let mut verdicts = inventory
                .databases
                .iter()
                .filter_map(|database| {
                    Some((
                        database.identifier.as_str(),
                        database.master_password_managed()?,
                    ))
                })
                .peekable();
            while let Some((identifier, mut compliant)) = verdicts.next() {
                while let Some((_, also)) = verdicts.next_if(|(next, _)| *next == identifier) {
                    compliant &= also;
                }
                if !served(options, compliant) {
                    continue;
                }
                let out = writer.start_target_series();
                push_label(out, "db_identifier", identifier);
                push_label(out, "check", MASTER_PASSWORD_MANAGED);
                writer.end_series(SampleValue::flag(compliant));
            }
        }
    }
}

pub(super) fn render_vpcs(snapshot: &Snapshot, options: &RenderOptions, out: &mut Output<'_>) {
    let targets = listed(snapshot, |target| target.vpcs.as_ref());
    if targets.is_empty() {
        return;
    }
    if options.serves(VPC_INFO.name) {
        let mut writer = FamilyWriter::new(out, &VPC_INFO);
        for (identity, inventory) in &targets {
            writer.start_target(identity);
            for vpc in &inventory.vpcs {
                let out = writer.start_target_series();
                push_label(out, "vpc_id", &vpc.record.vpc_id);
                push_label(
                    out,
                    "is_default",
                    if vpc.record.is_default {
                        "true"
                    } else {
                        "false"
                    },
                );
                writer.end_series(SampleValue::Count(1));
            }
        }
    }
    if options.serves(VPC_COMPLIANT.name) {
        let mut writer = FamilyWriter::new(out, &VPC_COMPLIANT);
        for (identity, inventory) in &targets {
            writer.start_target(identity);
            for vpc in &inventory.vpcs {
                let Some(compliant) = vpc.verdict.compliant() else {
                    continue;
                };
                if !served(options, compliant) {
                    continue;
                }
                let out = writer.start_target_series();
                push_label(out, "vpc_id", &vpc.record.vpc_id);
                push_label(out, "check", SECRETSMANAGER_ENDPOINT);
                writer.end_series(SampleValue::flag(compliant));
            }
        }
    }
}
