//! The SSM parameter families of one [`Snapshot`]: one series per
//! parameter, and the per-target counts, for the targets whose parameters
//! are listed.

use super::exposition::{FamilyWriter, Output, SampleValue, push_escaped, push_label};
use super::schema::{
    SSM_NONCOMPLIANT_PARAMETERS, SSM_PARAMETER_COMPLIANT, SSM_PARAMETER_INFO,
    SSM_PARAMETER_LAST_MODIFIED, SSM_PARAMETERS,
};
use super::secrets::RenderOptions;
use crate::config::VerdictSeries;
use crate::parameters::ParameterInventory;
use crate::policy::ParameterCheck;
use crate::snapshot::Snapshot;

/// A target whose parameters are listed, with its escaped
/// `account_id="...",region="..."`.
struct Listed<'s> {
    identity: String,
    inventory: &'s ParameterInventory,
}

pub(super) fn render_parameters(
    snapshot: &Snapshot,
    options: &RenderOptions,
    out: &mut Output<'_>,
) {
    let listed: Vec<Listed<'_>> = snapshot
        .targets
        .iter()
        .filter_map(|target| {
            let inventory = target.parameters.as_ref()?;
            let mut identity = String::with_capacity(40);
            identity.push_str("account_id=\"");
            push_escaped(&mut identity, &target.account_id);
            identity.push('"');
            push_label(&mut identity, "region", &target.region);
            Some(Listed {
                identity,
                inventory,
            })
        })
        .collect();
    if listed.is_empty() {
        return;
    }
    let on = |name: &str| options.serves(name);

    if on(SSM_PARAMETER_INFO.name) {
        let mut writer = FamilyWriter::new(out, &SSM_PARAMETER_INFO);
        for target in &listed {
            writer.start_target(&target.identity);
            for parameter in &target.inventory.parameters {
                let record = &parameter.record;
                let out = writer.start_target_series();
                push_label(out, "parameter_name", &record.name);
                push_label(out, "type", &record.parameter_type);
                push_label(out, "tier", record.tier.as_deref().unwrap_or(""));
                push_label(out, "kms_key", record.kms_key_label());
                // Every configured tag is written, empty when the parameter
                // lacks it or its tags are not read, so all series share one
                // label set.
                for (key, label) in options.tag_keys_and_labels() {
                    let value = record
                        .tags
                        .as_ref()
                        .and_then(|tags| tags.get(key))
                        .map_or("", |value| &**value);
                    push_label(out, label, value);
                }
                writer.end_series(SampleValue::Count(1));
            }
        }
    }
    if on(SSM_PARAMETER_LAST_MODIFIED.name) {
        let mut writer = FamilyWriter::new(out, &SSM_PARAMETER_LAST_MODIFIED);
        for target in &listed {
            writer.start_target(&target.identity);
            for parameter in &target.inventory.parameters {
                if let Some(modified) = parameter.record.last_modified {
                    let out = writer.start_target_series();
                    push_label(out, "parameter_name", &parameter.record.name);
                    writer.end_series(SampleValue::timestamp(modified));
                }
            }
        }
    }
    if on(SSM_PARAMETER_COMPLIANT.name) {
        let served = |compliant: bool| match options.verdict_series() {
            VerdictSeries::All => true,
            VerdictSeries::Failing => !compliant,
        };
        let mut writer = FamilyWriter::new(out, &SSM_PARAMETER_COMPLIANT);
        for target in &listed {
            writer.start_target(&target.identity);
            for parameter in &target.inventory.parameters {
                for verdict in parameter
                    .evaluation
                    .verdicts
                    .iter()
                    .filter(|verdict| served(verdict.compliant))
                {
                    let out = writer.start_target_series();
                    push_label(out, "parameter_name", &parameter.record.name);
                    push_label(out, "check", verdict.check.as_str());
                    writer.end_series(SampleValue::flag(verdict.compliant));
                }
            }
        }
    }
    if on(SSM_PARAMETERS.name) {
        let mut writer = FamilyWriter::new(out, &SSM_PARAMETERS);
        for target in &listed {
            writer.start_target(&target.identity);
            writer.start_target_series();
            writer.end_series(SampleValue::count(target.inventory.summary.parameters));
        }
    }
    if on(SSM_NONCOMPLIANT_PARAMETERS.name) {
        // One series per check judged in the target whose count is known, 0
        // included; none while a parameter's verdict on it is unknown.
        let mut writer = FamilyWriter::new(out, &SSM_NONCOMPLIANT_PARAMETERS);
        for target in &listed {
            writer.start_target(&target.identity);
            for check in ParameterCheck::ALL {
                let Some(count) = target.inventory.summary.noncompliant(check) else {
                    continue;
                };
                if !applies_in_target(target.inventory, check) {
                    continue;
                }
                let out = writer.start_target_series();
                push_label(out, "check", check.as_str());
                writer.end_series(SampleValue::count(count));
            }
        }
    }
}

/// Whether `check` is judged for any parameter of the target: a check the
/// configuration turns off (expiration not required, tags not read), or
/// that fits none of them (the key check without a `SecureString`), gets no
/// count rather than a 0 that would read as "judged, nothing failed".
fn applies_in_target(inventory: &ParameterInventory, check: ParameterCheck) -> bool {
    inventory
        .summary
        .checks
        .get(check.index())
        .is_some_and(|count| count.judged > 0)
}
