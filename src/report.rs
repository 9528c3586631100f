//! The `check` command's report: a table for people, JSON for machines,
//! and the exit code of SPEC.md (0 all compliant, 1 some non-compliant,
//! 2 could not evaluate).

use std::io::{self, Write};

use serde::Serialize;

use crate::databases::{DatabaseKind, MASTER_PASSWORD_MANAGED, NotApplicable};
use crate::inventory::{RotationType, Unknown};
use crate::policy::{ParameterCheck, UnknownVerdict, Verdict};
use crate::snapshot::{AccountInfo, Snapshot, TargetError};
use crate::vpcs::{EndpointRecord, SECRETSMANAGER_ENDPOINT, VpcSkipped, VpcVerdict};

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub generated_at: String,
    /// The accounts polled, with their name, place in the organization and
    /// chosen tags (as `aws_account_info` has them).
    pub accounts: &'a [AccountInfo],
    pub targets: Vec<TargetRow<'a>>,
    pub secrets: Vec<SecretRow<'a>>,
    /// SSM parameters, when `sources.ssm_parameters` lists them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterRow<'a>>,
    /// RDS databases, when `sources.rds` lists them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseRow<'a>>,
    /// VPCs, when `sources.vpc_endpoints` lists them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vpcs: Vec<VpcRow<'a>>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct DatabaseRow<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub db_identifier: &'a str,
    pub kind: DatabaseKind,
    pub engine: &'a str,
    /// The secret RDS keeps the master password in, when it does.
    pub master_secret_arn: Option<&'a str>,
    /// `master_password_managed`; `None` where it does not apply.
    pub compliant: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_applicable: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct VpcRow<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub vpc_id: &'a str,
    pub is_default: bool,
    pub endpoints: &'a [EndpointRecord],
    /// `secretsmanager_endpoint`, or why the VPC was not judged.
    pub verdict: &'a VpcVerdict,
}

#[derive(Debug, Serialize)]
pub struct ParameterRow<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub parameter_type: &'a str,
    pub tier: Option<&'a str>,
    /// No verdict is non-compliant; checks that could not be judged are in
    /// `not_evaluated`.
    pub compliant: bool,
    pub checks: &'a [Verdict<ParameterCheck>],
    pub not_evaluated: &'a [UnknownVerdict<ParameterCheck>],
}

#[derive(Debug, Serialize)]
pub struct TargetRow<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub source: &'static str,
    pub up: bool,
    pub error: Option<&'a TargetError>,
}

#[derive(Debug, Serialize)]
pub struct SecretRow<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    pub arn: &'a str,
    /// Who rotates the secret, as `aws_secretsmanager_secret_info` says.
    pub rotation_type: RotationType,
    pub exempt: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_reason: Option<&'a str>,
    /// Why exemption tags on the secret do not exempt it (ended, unreadable date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption_ignored: Option<&'a str>,
    pub scheduled_for_deletion: bool,
    /// No verdict is non-compliant; checks that could not be judged are in
    /// `not_evaluated`.
    pub compliant: bool,
    pub checks: &'a [Verdict],
    /// Checks that apply but could not be judged: the call that would have
    /// told (`needs`) and why it did not (`reason`).
    pub not_evaluated: &'a [UnknownVerdict],
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub secrets: usize,
    pub noncompliant_secrets: usize,
    /// Secrets with at least one check that could not be judged.
    pub unevaluated_secrets: usize,
    pub targets: usize,
    pub targets_down: usize,
    /// SSM parameters listed, when they are inventoried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ParameterTotals>,
    /// RDS databases listed, when they are inventoried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub databases: Option<ResourceTotals>,
    /// VPCs listed, when they are inventoried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpcs: Option<ResourceTotals>,
}

/// Resources of a kind judged on one check that is never unknown.
#[derive(Debug, Serialize, PartialEq, Eq, Default)]
pub struct ResourceTotals {
    pub listed: usize,
    pub noncompliant: usize,
}

#[derive(Debug, Serialize, PartialEq, Eq, Default)]
pub struct ParameterTotals {
    pub parameters: usize,
    pub noncompliant_parameters: usize,
    pub unevaluated_parameters: usize,
}

/// The widest a column of `check`'s table pads to.
pub const MAX_COLUMN_WIDTH: usize = 80;

pub const EXIT_COMPLIANT: i32 = 0;
pub const EXIT_NONCOMPLIANT: i32 = 1;
pub const EXIT_CANNOT_EVALUATE: i32 = 2;

impl<'a> Report<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let mut targets = Vec::new();
        let mut secrets = Vec::new();
        let mut parameters = Vec::new();
        let mut parameter_totals: Option<ParameterTotals> = None;
        let mut databases = Vec::new();
        let mut database_totals: Option<ResourceTotals> = None;
        let mut vpcs = Vec::new();
        let mut vpc_totals: Option<ResourceTotals> = None;
        for target in &snapshot.targets {
            if let Some(inventory) = &target.databases {
                let totals = database_totals.get_or_insert_with(ResourceTotals::default);
                totals.listed += inventory.databases.len();
                totals.noncompliant += inventory.noncompliant;
                for database in inventory.databases.iter() {
                    databases.push(DatabaseRow {
                        account_id: &database.account_id,
                        region: &database.region,
                        db_identifier: &database.identifier,
                        kind: database.kind,
                        engine: &database.engine,
                        master_secret_arn: database.master_secret_arn.as_deref(),
                        compliant: database.master_password_managed(),
                        not_applicable: database.not_applicable().map(NotApplicable::describe),
                    });
                }
            }
            if let Some(inventory) = &target.vpcs {
                let totals = vpc_totals.get_or_insert_with(ResourceTotals::default);
                totals.listed += inventory.vpcs.len();
                totals.noncompliant += inventory.noncompliant;
                for vpc in &inventory.vpcs {
                    vpcs.push(VpcRow {
                        account_id: &vpc.record.account_id,
                        region: &vpc.record.region,
                        vpc_id: &vpc.record.vpc_id,
                        is_default: vpc.record.is_default,
                        endpoints: &vpc.record.endpoints,
                        verdict: &vpc.verdict,
                    });
                }
            }
            for health in &target.health {
                targets.push(TargetRow {
                    account_id: &target.account_id,
                    region: &target.region,
                    source: health.source.as_str(),
                    up: health.up,
                    error: health.last_error.as_ref(),
                });
            }
            for secret in &target.secrets {
                let evaluation = &secret.evaluation;
                secrets.push(SecretRow {
                    account_id: &secret.record.account_id,
                    region: &secret.record.region,
                    name: &secret.record.name,
                    arn: &secret.record.arn,
                    rotation_type: secret.record.rotation_type(),
                    exempt: evaluation.exemption.is_some(),
                    exempt_reason: evaluation.exemption.as_ref().map(|e| e.reason.as_str()),
                    exemption_ignored: evaluation.exemption_ignored.as_deref(),
                    scheduled_for_deletion: evaluation.scheduled_for_deletion,
                    compliant: evaluation.compliant(),
                    checks: &evaluation.verdicts,
                    not_evaluated: &evaluation.unknown,
                });
            }
            if let Some(inventory) = &target.parameters {
                let totals = parameter_totals.get_or_insert_with(ParameterTotals::default);
                totals.parameters += inventory.summary.parameters;
                totals.noncompliant_parameters += inventory.summary.noncompliant_parameters;
                totals.unevaluated_parameters += inventory.summary.unevaluated_parameters;
                for parameter in &inventory.parameters {
                    let record = &parameter.record;
                    parameters.push(ParameterRow {
                        account_id: &target.account_id,
                        region: &target.region,
                        name: &record.name,
                        parameter_type: &record.parameter_type,
                        tier: record.tier.as_deref(),
                        compliant: parameter.evaluation.compliant(),
                        checks: &parameter.evaluation.verdicts,
                        not_evaluated: &parameter.evaluation.unknown,
                    });
                }
            }
        }
        let totals = snapshot.totals();
        let summary = Summary {
            secrets: totals.secrets,
            noncompliant_secrets: totals.noncompliant_secrets,
            unevaluated_secrets: totals.unevaluated_secrets,
            targets: totals.targets,
            targets_down: totals.targets_down,
            parameters: parameter_totals,
            databases: database_totals,
            vpcs: vpc_totals,
        };
        Self {
            generated_at: snapshot.completed_at.to_rfc3339(),
            accounts: &snapshot.accounts,
            targets,
            secrets,
            parameters,
            databases,
            vpcs,
            summary,
        }
    }

    /// A target that could not be read leaves its secrets unjudged, and so
    /// does a check whose data could not be had: neither may pass for
    /// compliant.
    pub fn exit_code(&self) -> i32 {
        let parameters = self.summary.parameters.as_ref();
        let unevaluated_parameters = parameters.map_or(0, |p| p.unevaluated_parameters);
        let noncompliant_parameters = parameters.map_or(0, |p| p.noncompliant_parameters);
        if self.summary.targets_down > 0
            || self.summary.unevaluated_secrets > 0
            || unevaluated_parameters > 0
        {
            EXIT_CANNOT_EVALUATE
        } else if self.summary.noncompliant_secrets > 0
            || noncompliant_parameters > 0
            || self.noncompliant_resources() > 0
        {
            EXIT_NONCOMPLIANT
        } else {
            EXIT_COMPLIANT
        }
    }

    /// Databases and VPCs that fail their check.
    fn noncompliant_resources(&self) -> usize {
        [&self.summary.databases, &self.summary.vpcs]
            .into_iter()
            .flatten()
            .map(|totals| totals.noncompliant)
            .sum()
    }

    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }

    /// One row per secret; the failing checks' reasons follow each
    /// non-compliant secret so the table says what to fix.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let secrets: Vec<TableLine<'_>> = self
            .secrets
            .iter()
            .map(|secret| TableLine {
                account_id: secret.account_id,
                region: secret.region,
                name: secret.name,
                status: if secret.scheduled_for_deletion {
                    "DELETING"
                } else if secret.exempt {
                    "EXEMPT"
                } else {
                    status(secret.compliant, secret.not_evaluated.is_empty())
                },
                failing: failing(secret.checks, |check| check.as_str()),
                not_evaluated: not_evaluated(secret.not_evaluated, |check| check.as_str()),
                note: None,
            })
            .collect();
        write_lines(out, "SECRET", &secrets)?;
        writeln!(out)?;
        if !self.parameters.is_empty() {
            let parameters: Vec<TableLine<'_>> = self
                .parameters
                .iter()
                .map(|parameter| TableLine {
                    account_id: parameter.account_id,
                    region: parameter.region,
                    name: parameter.name,
                    status: status(parameter.compliant, parameter.not_evaluated.is_empty()),
                    failing: failing(parameter.checks, |check| check.as_str()),
                    not_evaluated: not_evaluated(parameter.not_evaluated, |check| check.as_str()),
                    note: None,
                })
                .collect();
            write_lines(out, "PARAMETER", &parameters)?;
            writeln!(out)?;
        }
        if !self.databases.is_empty() {
            let databases: Vec<TableLine<'_>> = self
                .databases
                .iter()
                .map(|database| TableLine {
                    account_id: database.account_id,
                    region: database.region,
                    name: database.db_identifier,
                    status: match database.compliant {
                        Some(true) => "OK",
                        Some(false) => "NONCOMPLIANT",
                        None => "NOT JUDGED",
                    },
                    failing: if database.compliant == Some(false) {
                        vec![(MASTER_PASSWORD_MANAGED, MASTER_PASSWORD_NOT_MANAGED)]
                    } else {
                        Vec::new()
                    },
                    not_evaluated: Vec::new(),
                    note: database.not_applicable,
                })
                .collect();
            write_lines(out, "DATABASE", &databases)?;
            writeln!(out)?;
        }
        if !self.vpcs.is_empty() {
            let vpcs: Vec<TableLine<'_>> = self
                .vpcs
                .iter()
                .map(|vpc| {
                    let (status, failing, note) = match vpc.verdict {
                        VpcVerdict::Judged {
                            compliant: true, ..
                        } => ("OK", Vec::new(), None),
                        VpcVerdict::Judged {
                            compliant: false,
                            reason,
                        } => (
                            "NONCOMPLIANT",
                            vec![(SECRETSMANAGER_ENDPOINT, reason.as_str())],
                            None,
                        ),
                        VpcVerdict::Skipped(VpcSkipped::DefaultVpc) => (
                            "NOT JUDGED",
                            Vec::new(),
                            Some("a default VPC (policy.vpc_endpoint.include_default_vpcs is off)"),
                        ),
                        VpcVerdict::Skipped(VpcSkipped::Exempt(_)) => ("EXEMPT", Vec::new(), None),
                    };
                    TableLine {
                        account_id: vpc.account_id,
                        region: vpc.region,
                        name: vpc.vpc_id,
                        status,
                        failing,
                        not_evaluated: Vec::new(),
                        note,
                    }
                })
                .collect();
            write_lines(out, "VPC", &vpcs)?;
            writeln!(out)?;
        }
        for target in self.targets.iter().filter(|t| !t.up) {
            let (reason, message) = target
                .error
                .map(|e| (e.reason.as_str(), e.message.as_str()))
                .unwrap_or(("other", "unknown error"));
            writeln!(
                out,
                "target {} {} ({}) could not be read: {}: {}",
                target.account_id, target.region, target.source, reason, message
            )?;
        }
        if let Some(databases) = &self.summary.databases {
            writeln!(
                out,
                "{} RDS databases, {} non-compliant",
                databases.listed, databases.noncompliant
            )?;
        }
        if let Some(vpcs) = &self.summary.vpcs {
            writeln!(
                out,
                "{} VPCs, {} non-compliant",
                vpcs.listed, vpcs.noncompliant
            )?;
        }
        if let Some(parameters) = &self.summary.parameters {
            writeln!(
                out,
                "{} SSM parameters, {} non-compliant, {} not fully evaluated",
                parameters.parameters,
                parameters.noncompliant_parameters,
                parameters.unevaluated_parameters
            )?;
        }
        writeln!(
            out,
            "{} secrets, {} non-compliant, {} not fully evaluated; {} targets, {} down",
            self.summary.secrets,
            self.summary.noncompliant_secrets,
            self.summary.unevaluated_secrets,
            self.summary.targets,
            self.summary.targets_down
        )
    }
}

/// One resource's row of `check`'s table, and the lines under it: why each
/// failing check fails and which checks could not be judged.
struct TableLine<'r> {
    account_id: &'r str,
    region: &'r str,
    name: &'r str,
    status: &'static str,
    /// (check, reason) of each failing verdict.
    failing: Vec<(&'static str, &'r str)>,
    /// (check, the call that would have told, why it did not).
    not_evaluated: Vec<(&'static str, &'static str, Unknown)>,
    /// Why a resource was not judged.
    note: Option<&'static str>,
}

/// Why `master_password_managed` fails, in the table.
const MASTER_PASSWORD_NOT_MANAGED: &str =
    "no MasterUserSecret: the master password was set by hand and nothing rotates it";

fn status(compliant: bool, fully_evaluated: bool) -> &'static str {
    if !compliant {
        "NONCOMPLIANT"
    } else if !fully_evaluated {
        "NOT EVALUATED"
    } else {
        "OK"
    }
}

fn failing<C: Copy>(
    checks: &[Verdict<C>],
    name: impl Fn(C) -> &'static str,
) -> Vec<(&'static str, &str)> {
    checks
        .iter()
        .filter(|verdict| !verdict.compliant)
        .map(|verdict| (name(verdict.check), verdict.reason()))
        .collect()
}

fn not_evaluated<C: Copy>(
    unknown: &[UnknownVerdict<C>],
    name: impl Fn(C) -> &'static str,
) -> Vec<(&'static str, &'static str, Unknown)> {
    unknown
        .iter()
        .map(|unknown| (name(unknown.check), unknown.needs, unknown.reason))
        .collect()
}

/// The rows of one kind of resource under a header naming it.
fn write_lines(out: &mut impl Write, name_header: &str, lines: &[TableLine<'_>]) -> io::Result<()> {
    // Names come from AWS: one long name must not push every other row
    // off the screen, and a padding width past u16::MAX panics in
    // `format!`. A longer value is printed whole and overflows its cell.
    let width = |f: &dyn Fn(&TableLine<'_>) -> usize, header: &str| {
        lines
            .iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .clamp(header.len(), MAX_COLUMN_WIDTH)
    };
    let account_w = width(&|line| line.account_id.len(), "ACCOUNT");
    let region_w = width(&|line| line.region.len(), "REGION");
    let name_w = width(&|line| line.name.len(), name_header);
    writeln!(
        out,
        "{:account_w$}  {:region_w$}  {:name_w$}  {:<13}  FAILING CHECKS",
        "ACCOUNT", "REGION", name_header, "STATUS"
    )?;
    for line in lines {
        let failing: Vec<&str> = line.failing.iter().map(|(check, _)| *check).collect();
        writeln!(
            out,
            "{:account_w$}  {:region_w$}  {:name_w$}  {:<13}  {}",
            line.account_id,
            line.region,
            line.name,
            line.status,
            failing.join(",")
        )?;
        for (check, reason) in &line.failing {
            writeln!(out, "    {check}: {reason}")?;
        }
        if let Some(note) = line.note {
            writeln!(out, "    not judged: {note}")?;
        }
        for (check, needs, reason) in &line.not_evaluated {
            writeln!(
                out,
                "    {check}: not evaluated: {needs} {}",
                describe(*reason)
            )?;
        }
    }
    Ok(())
}

/// Why a call did not tell, in the table's words.
fn describe(reason: Unknown) -> String {
    match reason {
        Unknown::NotYetRead => "was not read yet".to_owned(),
        Unknown::Failed(reason) => format!("failed ({})", reason.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::inventory::SecretRecord;
    use crate::policy::Evaluation;
    use crate::snapshot::{SecretReport, TargetSnapshot};

    fn secret(name: &str) -> SecretReport {
        SecretReport {
            record: Arc::new(SecretRecord {
                account_id: "111111111111".into(),
                region: "us-east-1".into(),
                arn: format!("arn:aws:secretsmanager:us-east-1:111111111111:secret:{name}"),
                name: name.into(),
                ..SecretRecord::default()
            }),
            evaluation: Evaluation {
                exemption: None,
                exemption_ignored: None,
                scheduled_for_deletion: false,
                rotation_interval: None,
                max_age: Duration::from_secs(30 * 86_400),
                verdicts: Vec::new(),
                unknown: Vec::new(),
                value_age_seconds: None,
            },
        }
    }

    fn table(names: &[&str]) -> String {
        let snapshot = Snapshot {
            completed_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            targets: vec![TargetSnapshot::new(
                "111111111111".into(),
                None,
                "us-east-1".into(),
                Vec::new(),
                names.iter().map(|name| secret(name)).collect(),
                None,
            )],
            accounts: Default::default(),
        };
        let mut out = Vec::new();
        Report::new(&snapshot)
            .write_table(&mut out)
            .expect("writing to memory succeeds");
        String::from_utf8(out).expect("the table is UTF-8")
    }

    #[test]
    fn a_name_longer_than_any_format_width_is_printed_whole_without_widening_the_column() {
        let long = "n".repeat(70_000);
        let text = table(&[&long, "short"]);
        let lines: Vec<&str> = text.lines().collect();

        let header_secret = lines[0].find("SECRET").expect("header names the column");
        let header_status = lines[0].find("STATUS").expect("header names the column");
        assert_eq!(header_status - header_secret, MAX_COLUMN_WIDTH + 2);

        let long_row = lines
            .iter()
            .find(|line| line.contains(&long))
            .expect("the long name is printed whole");
        assert!(
            long_row.contains(&format!("{long}  OK")),
            "{}",
            &long_row[..200]
        );

        let short_row = lines
            .iter()
            .find(|line| line.contains("short"))
            .expect("the short name has its row");
        assert_eq!(short_row.find("OK"), Some(header_status), "{short_row}");
    }

    #[test]
    fn json_rows_say_who_rotates_each_secret() {
        let mut owned = secret("rds!db-1");
        owned.record = Arc::new(SecretRecord {
            owning_service: Some("rds".into()),
            ..(*owned.record).clone()
        });
        let snapshot = Snapshot {
            completed_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            targets: vec![TargetSnapshot::new(
                "111111111111".into(),
                None,
                "us-east-1".into(),
                Vec::new(),
                vec![owned, secret("plain")],
                None,
            )],
            accounts: Default::default(),
        };
        let mut out = Vec::new();
        Report::new(&snapshot)
            .write_json(&mut out)
            .expect("writing to memory succeeds");
        let json: serde_json::Value = serde_json::from_slice(&out).expect("the report is JSON");
        let types: Vec<&str> = json["secrets"]
            .as_array()
            .expect("a list of secrets")
            .iter()
            .filter_map(|row| row["rotation_type"].as_str())
            .collect();
        assert_eq!(types, ["service", "none"]);
    }

    #[test]
    fn a_column_as_wide_as_its_longest_name_below_the_cap() {
        let text = table(&["a-name-of-twenty-chr", "b"]);
        let header = text.lines().next().expect("a header");
        let width = header.find("STATUS").unwrap() - header.find("SECRET").unwrap();
        assert_eq!(width, "a-name-of-twenty-chr".len() + 2, "{text}");
    }
}
