//! Which thresholds a secret or a parameter is judged by: the defaults, or
//! the first matching override laid over them.

use std::sync::Arc;

use litemap::LiteMap;

use crate::config::{Override, OverrideMatch, Policy, Thresholds};
use crate::inventory::{SecretRecord, Unknown};
use crate::parameters::ParameterRecord;

/// What is known of a resource's tags when an override is matched.
#[derive(Debug, Clone, Copy)]
enum TagsSeen<'a> {
    Known(&'a LiteMap<Arc<str>, Arc<str>>),
    /// Not read at all (a parameter's, with `sources.ssm_parameters.tags`
    /// off): an override that matches on tags never matches.
    NotRead,
    /// Read, but not known for this resource: an override that matches on
    /// tags may or may not match.
    Unknown(Unknown),
}

/// What an override is matched against.
struct Subject<'a> {
    name: &'a str,
    account_id: &'a str,
    region: &'a str,
    tags: TagsSeen<'a>,
}

/// The first override whose every given field matches the secret.
pub fn matching_override<'p>(record: &SecretRecord, policy: &'p Policy) -> Option<&'p Override> {
    let subject = Subject {
        name: &record.name,
        account_id: &record.account_id,
        region: &record.region,
        tags: TagsSeen::Known(&record.tags),
    };
    first_match(&subject, policy).unwrap_or(None)
}

/// The first override that matches, or why that cannot be told: an
/// override whose other fields match and whose tags cannot be compared.
fn first_match<'p>(
    subject: &Subject<'_>,
    policy: &'p Policy,
) -> Result<Option<&'p Override>, Unknown> {
    for candidate in &policy.overrides {
        match override_matches(&candidate.matcher, subject) {
            Ok(true) => return Ok(Some(candidate)),
            Ok(false) => {}
            Err(unknown) => return Err(unknown),
        }
    }
    Ok(None)
}

fn override_matches(matcher: &OverrideMatch, subject: &Subject<'_>) -> Result<bool, Unknown> {
    let name_matches = match (&matcher.name_glob, &matcher.name) {
        (Some(glob), _) => glob.is_match(subject.name),
        // Validation compiles every name into a glob; a hand-built matcher
        // without one still means the name it names.
        (None, Some(name)) => name == subject.name,
        (None, None) => true,
    };
    let others_match = name_matches
        && matcher
            .account
            .as_ref()
            .is_none_or(|account| account == subject.account_id)
        && matcher
            .region
            .as_ref()
            .is_none_or(|region| region == subject.region);
    if !others_match || matcher.tags.is_empty() {
        return Ok(others_match);
    }
    match subject.tags {
        TagsSeen::Known(tags) => Ok(matcher.tags.iter().all(|(key, value)| {
            tags.get(key.as_str()).map(|held| &**held) == Some(value.as_str())
        })),
        TagsSeen::NotRead => Ok(false),
        TagsSeen::Unknown(why) => Err(why),
    }
}

/// The thresholds in force for one secret: the first matching override laid over the defaults.
pub fn thresholds_for(record: &SecretRecord, policy: &Policy) -> Thresholds {
    match matching_override(record, policy) {
        Some(chosen) => policy.defaults.overlaid(&chosen.thresholds),
        None => policy.defaults.clone(),
    }
}

/// The thresholds in force for one parameter, matched on its name, account
/// and region, and on its tags when they are read. Unknown when an override
/// matches on tags this parameter's could not be read for.
pub fn thresholds_for_parameter(
    record: &ParameterRecord,
    policy: &Policy,
) -> Result<Thresholds, Unknown> {
    let tags = match (&record.tags, record.tags_unknown) {
        (Some(tags), _) => TagsSeen::Known(tags),
        (None, Some(why)) => TagsSeen::Unknown(why),
        (None, None) => TagsSeen::NotRead,
    };
    let subject = Subject {
        name: &record.name,
        account_id: &record.account_id,
        region: &record.region,
        tags,
    };
    Ok(match first_match(&subject, policy)? {
        Some(chosen) => policy.defaults.overlaid(&chosen.thresholds),
        None => policy.defaults.clone(),
    })
}
