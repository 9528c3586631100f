//! Validation of the `metrics` section: the series budget.

use super::raw::RawMetrics;
use super::validate::Problems;
use super::{SeriesBudget, VerdictSeries};
use crate::metrics::ALL_FAMILIES;

pub(super) fn validate_metrics(problems: &mut Problems, raw: RawMetrics) -> SeriesBudget {
    let include = raw.include.unwrap_or_default();
    let exclude = raw.exclude.unwrap_or_default();
    check_patterns(problems, "metrics.include", &include);
    check_patterns(problems, "metrics.exclude", &exclude);
    let verdicts = match raw.verdicts.as_deref() {
        None | Some("all") => VerdictSeries::All,
        Some("failing") => VerdictSeries::Failing,
        Some(other) => {
            problems.add(
                "metrics.verdicts",
                format!("must be all or failing (got {other:?})"),
            );
            VerdictSeries::All
        }
    };
    let budget = SeriesBudget {
        include,
        exclude,
        verdicts,
    };
    if !ALL_FAMILIES.iter().any(|family| budget.serves(family.name)) {
        problems.add("metrics", "include and exclude leave no family to serve");
    }
    budget
}

/// Each entry must be a glob that names at least one family: a typo would
/// otherwise silently serve (or keep) everything.
fn check_patterns(problems: &mut Problems, path: &str, patterns: &[String]) {
    for (index, pattern) in patterns.iter().enumerate() {
        let item = format!("{path}[{index}]");
        match globset::Glob::new(pattern) {
            Err(err) => problems.add(item, format!("is not a valid glob: {err}")),
            Ok(glob) => {
                let matcher = glob.compile_matcher();
                if !ALL_FAMILIES
                    .iter()
                    .any(|family| matcher.is_match(family.name))
                {
                    problems.add(
                        item,
                        format!(
                            "{pattern:?} matches no metric family (docs/metrics.md lists them)"
                        ),
                    );
                }
            }
        }
    }
}
