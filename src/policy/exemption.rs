//! The exempt tag and its end date, which lift the rotation checks off a secret.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::start_of_day;
use crate::inventory::SecretRecord;

const NO_REASON_GIVEN: &str = "(no reason given)";

/// Why no rotation check applies to a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exemption {
    /// The exempt tag's value, or "(no reason given)" when it is empty.
    pub reason: String,
    /// From `<exempt_tag>-until: YYYY-MM-DD`; the exemption ends at the start of that day (UTC).
    pub until: Option<DateTime<Utc>>,
}

/// The exemption in force at `now`, and why exemption tags are ignored if they are.
///
/// An end date that cannot be read does not exempt: an exemption is a hole in
/// the policy, and a typo must not turn a dated hole into a permanent one. The
/// problem is reported in `Evaluation::exemption_ignored` instead, next to the
/// verdicts it lets through.
pub(super) fn exemption_at(
    record: &SecretRecord,
    exempt_tag: &str,
    now: DateTime<Utc>,
) -> (Option<Exemption>, Option<String>) {
    let until_tag = format!("{exempt_tag}-until");
    let until_value = record
        .tags
        .get(until_tag.as_str())
        .map(|value| value.trim());
    let Some(reason) = record.tags.get(exempt_tag).map(|value| value.trim()) else {
        let ignored = until_value.map(|value| {
            format!("tag {until_tag} is set to {value:?} but tag {exempt_tag} is missing, so nothing is exempt")
        });
        return (None, ignored);
    };
    let reason = if reason.is_empty() {
        NO_REASON_GIVEN.to_string()
    } else {
        reason.to_string()
    };
    let until = match until_value {
        None => None,
        Some(value) => match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(day) => Some(start_of_day(day)),
            Err(_) => {
                return (
                    None,
                    Some(format!(
                        "tag {until_tag} is {value:?}, not a date like 2030-12-31, so the exemption ({reason}) does not hold"
                    )),
                );
            }
        },
    };
    match until {
        Some(end) if now >= end => (
            None,
            Some(format!(
                "the exemption ({reason}) ended on {}",
                end.format("%Y-%m-%d")
            )),
        ),
        _ => (Some(Exemption { reason, until }), None),
    }
}
