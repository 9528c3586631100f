//! Which thresholds a secret is judged by: the defaults, or the first matching override laid over them.

use crate::config::{Override, OverrideMatch, Policy, Thresholds};
use crate::inventory::SecretRecord;

/// The first override whose every given field matches the secret.
pub fn matching_override<'p>(record: &SecretRecord, policy: &'p Policy) -> Option<&'p Override> {
    policy
        .overrides
        .iter()
        .find(|candidate| override_matches(&candidate.matcher, record))
}

fn override_matches(matcher: &OverrideMatch, record: &SecretRecord) -> bool {
    let name_matches = match (&matcher.name_glob, &matcher.name) {
        (Some(glob), _) => glob.is_match(&record.name),
        // Validation compiles every name into a glob; a hand-built matcher
        // without one still means the name it names.
        (None, Some(name)) => *name == record.name,
        (None, None) => true,
    };
    name_matches
        && matcher
            .account
            .as_ref()
            .is_none_or(|account| **account == *record.account_id)
        && matcher
            .region
            .as_ref()
            .is_none_or(|region| **region == *record.region)
        && matcher.tags.iter().all(|(key, value)| {
            record.tags.get(key.as_str()).map(|held| &**held) == Some(value.as_str())
        })
}

/// The thresholds in force for one secret: the first matching override laid over the defaults.
pub fn thresholds_for(record: &SecretRecord, policy: &Policy) -> Thresholds {
    match matching_override(record, policy) {
        Some(chosen) => policy.defaults.overlaid(&chosen.thresholds),
        None => policy.defaults.clone(),
    }
}
