//! Rotations as AWS leaves a secret after them: staging labels moved, dates set and the rotation
//! events logged to CloudTrail.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::cloudtrail::events::{
    EventPlace, RecordedEvent, RotationEventName, RotationEventSpec, SECRETS_MANAGER_EVENT_SOURCE,
    rotation_event,
};
use crate::error::SimulatorError;
use crate::fleet::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, RotationSpec, VersionSpec};
use crate::ids::derived_uuid;
use crate::state::Shared;
use crate::store::{World, secret_arn};

/// What a rotation scenario did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationOutcome {
    /// The version the scenario created or moved: the new `AWSPENDING` version of a failed
    /// rotation, the new `AWSCURRENT` one of a successful or abandoned one.
    pub version_id: String,
    /// The CloudTrail events logged, oldest first.
    pub event_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Fail,
    Succeed,
    Abandon,
}

/// Days AWS accepts for `AutomaticallyAfterDays`.
const MAX_ROTATION_DAYS: i64 = 1000;

pub(crate) fn run(
    shared: &Shared,
    account: &str,
    region: &str,
    name: &str,
    scenario: Scenario,
) -> Result<RotationOutcome, SimulatorError> {
    let delay = shared.cloudtrail_settings().delivery_delay;
    let now = Utc::now();
    let second = now.trunc_subsecs(0);
    let mut world = shared.world_mut();
    if !world.accounts.contains_key(account) {
        return Err(SimulatorError::UnknownAccount(account.to_string()));
    }
    let stored = world
        .store(account, region)
        .and_then(|store| store.by_name.get(name))
        .cloned()
        .ok_or_else(|| SimulatorError::UnknownSecret {
            account: account.to_string(),
            region: region.to_string(),
            name: name.to_string(),
        })?;
    let refuse = |reason: &str| {
        SimulatorError::InvalidScenario(format!(
            "cannot {} the rotation of {name} in {account}/{region}: {reason}",
            match scenario {
                Scenario::Fail => "fail",
                Scenario::Succeed => "succeed",
                Scenario::Abandon => "abandon",
            }
        ))
    };
    let mut spec = stored.settled_spec();
    let fresh_id = || {
        derived_uuid(&[
            "rotation",
            account,
            region,
            name,
            &shared.next_sequence().to_string(),
        ])
    };
    // A second before the outcome, unless that would put it before the previous event in the
    // same second: back-to-back scenarios keep their events in order.
    let latest = world
        .trail(account, region)
        .and_then(|trail| trail.latest_second())
        .and_then(|second| DateTime::from_timestamp(second, 0));
    let started = latest.map_or(second - Duration::seconds(1), |latest| {
        latest.clamp(second - Duration::seconds(1), second)
    });
    let (version_id, token, events) = match scenario {
        Scenario::Fail => {
            if spec.rotation.is_none() {
                return Err(refuse("it has no rotation configured"));
            }
            for version in &mut spec.versions {
                remove_stage(version, AWSPENDING);
            }
            let id = fresh_id();
            spec.versions.push(VersionSpec::pending(now).id(id.clone()));
            // AWS leaves the date of the missed rotation, so it stays in the past.
            if spec.next_rotation.is_none_or(|when| when > started) {
                spec.next_rotation = Some(started);
            }
            spec.last_changed = Some(now);
            let events = vec![
                (RotationEventName::Started, started),
                (RotationEventName::Failed, second),
            ];
            (id.clone(), id, events)
        }
        Scenario::Succeed => {
            let Some(rotation) = spec.rotation.clone() else {
                return Err(refuse("it has no rotation configured"));
            };
            let index = match pending_index(&spec.versions) {
                Some(index) => index,
                None => {
                    let id = fresh_id();
                    spec.versions
                        .push(VersionSpec::new(Vec::<String>::new(), now).id(id));
                    spec.versions.len() - 1
                }
            };
            promote(&mut spec.versions, index);
            spec.last_rotated = Some(now);
            spec.last_changed = Some(now);
            if rotation.enabled {
                spec.next_rotation = Some(now + rotation_interval(&rotation));
            }
            let id = spec.versions[index].id.clone().unwrap_or_default();
            let events = vec![
                (RotationEventName::Started, started),
                (RotationEventName::Succeeded, second),
            ];
            (id.clone(), id, events)
        }
        Scenario::Abandon => {
            let Some(pending) = pending_index(&spec.versions) else {
                return Err(refuse(
                    "no version carries AWSPENDING apart from AWSCURRENT, so no rotation is \
                     in progress",
                ));
            };
            let token = spec.versions[pending].id.clone().unwrap_or_default();
            remove_stage(&mut spec.versions[pending], AWSPENDING);
            // The version put by hand that makes Secrets Manager abandon the rotation.
            let id = fresh_id();
            spec.versions
                .push(VersionSpec::new(Vec::<String>::new(), now).id(id.clone()));
            let index = spec.versions.len() - 1;
            promote(&mut spec.versions, index);
            spec.last_changed = Some(now);
            (id, token, vec![(RotationEventName::Abandoned, second)])
        }
    };
    let lambda_arn = spec.rotation.as_ref().and_then(|r| r.lambda_arn.clone());
    world.put(account, region, spec);
    let place = EventPlace {
        account,
        region,
        secret_arn: &stored.arn,
        secret_name: name,
        lambda_arn: lambda_arn.as_deref(),
    };
    let event_ids = events
        .into_iter()
        .map(|(event_name, at)| {
            let spec = RotationEventSpec::new(event_name, name, at).client_request_token(&token);
            record(shared, &mut world, &place, &spec, delay)
        })
        .collect();
    Ok(RotationOutcome {
        version_id,
        event_ids,
    })
}

/// Records a rotation event about `spec.secret`, which may name a secret that is gone.
pub(crate) fn record_event(
    shared: &Shared,
    account: &str,
    region: &str,
    spec: &RotationEventSpec,
) -> Result<String, SimulatorError> {
    let delay = shared.cloudtrail_settings().delivery_delay;
    let mut world = shared.world_mut();
    if !world.accounts.contains_key(account) {
        return Err(SimulatorError::UnknownAccount(account.to_string()));
    }
    let known = world
        .store(account, region)
        .and_then(|store| store.find(&spec.secret, account, region))
        .map(|stored| {
            (
                stored.arn.clone(),
                stored.spec.name.clone(),
                stored
                    .spec
                    .rotation
                    .as_ref()
                    .and_then(|r| r.lambda_arn.clone()),
            )
        });
    let (arn, name, lambda_arn) = known.unwrap_or_else(|| match spec.secret.strip_prefix("arn:") {
        Some(_) => (spec.secret.clone(), name_of_arn(&spec.secret), None),
        None => (
            secret_arn(account, region, &spec.secret),
            spec.secret.clone(),
            None,
        ),
    });
    let place = EventPlace {
        account,
        region,
        secret_arn: &arn,
        secret_name: &name,
        lambda_arn: lambda_arn.as_deref(),
    };
    Ok(record(shared, &mut world, &place, spec, delay))
}

/// Records an event whose `CloudTrailEvent` is `document` as given, well-formed or not.
pub(crate) fn record_raw_event(
    shared: &Shared,
    account: &str,
    region: &str,
    event_name: &str,
    at: DateTime<Utc>,
    document: String,
) -> Result<String, SimulatorError> {
    let delay = shared.cloudtrail_settings().delivery_delay;
    let mut world = shared.world_mut();
    if !world.accounts.contains_key(account) {
        return Err(SimulatorError::UnknownAccount(account.to_string()));
    }
    let sequence = shared.next_sequence();
    let event_id = event_id(account, region, sequence);
    let event_time = at.trunc_subsecs(0);
    world.trail_mut(account, region).insert(
        sequence,
        RecordedEvent {
            event_id: event_id.clone(),
            event_name: event_name.to_string(),
            event_time,
            available_at: event_time + delay,
            event_source: SECRETS_MANAGER_EVENT_SOURCE.to_string(),
            username: None,
            access_key_id: None,
            read_only: false,
            resources: Vec::new(),
            cloud_trail_event: document,
        },
    );
    Ok(event_id)
}

fn record(
    shared: &Shared,
    world: &mut World,
    place: &EventPlace<'_>,
    spec: &RotationEventSpec,
    delay: Duration,
) -> String {
    let sequence = shared.next_sequence();
    let id = event_id(place.account, place.region, sequence);
    let token = derived_uuid(&["token", place.account, place.region, &sequence.to_string()]);
    let event = rotation_event(place, spec, id.clone(), token, delay);
    world
        .trail_mut(place.account, place.region)
        .insert(sequence, event);
    id
}

fn event_id(account: &str, region: &str, sequence: u64) -> String {
    derived_uuid(&["event", account, region, &sequence.to_string()])
}

/// `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>` to `<name>`.
fn name_of_arn(arn: &str) -> String {
    let Some((_, name_part)) = arn.split_once(":secret:") else {
        return arn.to_string();
    };
    match name_part.rsplit_once('-') {
        Some((name, suffix)) if suffix.len() == 6 => name.to_string(),
        _ => name_part.to_string(),
    }
}

/// The version a rotation is creating: `AWSPENDING` on a version that is not `AWSCURRENT`.
fn pending_index(versions: &[VersionSpec]) -> Option<usize> {
    versions
        .iter()
        .position(|v| has_stage(v, AWSPENDING) && !has_stage(v, AWSCURRENT))
}

/// Makes `versions[index]` current; the old current becomes previous, the old previous loses
/// its label.
fn promote(versions: &mut [VersionSpec], index: usize) {
    let old_current: Vec<usize> = versions
        .iter()
        .enumerate()
        .filter(|(i, v)| *i != index && has_stage(v, AWSCURRENT))
        .map(|(i, _)| i)
        .collect();
    if !old_current.is_empty() {
        for version in versions.iter_mut() {
            remove_stage(version, AWSPREVIOUS);
        }
    }
    for i in old_current {
        remove_stage(&mut versions[i], AWSCURRENT);
        versions[i].stages.push(AWSPREVIOUS.to_string());
    }
    let target = &mut versions[index];
    remove_stage(target, AWSPENDING);
    if !has_stage(target, AWSCURRENT) {
        target.stages.push(AWSCURRENT.to_string());
    }
}

fn has_stage(version: &VersionSpec, stage: &str) -> bool {
    version.stages.iter().any(|s| s == stage)
}

fn remove_stage(version: &mut VersionSpec, stage: &str) {
    version.stages.retain(|s| s != stage);
}

/// The time to the next rotation: `AutomaticallyAfterDays`, else a `rate(...)` schedule; a cron
/// schedule is taken as daily, close enough for a secret that just rotated.
fn rotation_interval(rotation: &RotationSpec) -> Duration {
    if let Some(days) = rotation.automatically_after_days {
        return Duration::days(days.clamp(1, MAX_ROTATION_DAYS));
    }
    let rate = rotation
        .schedule_expression
        .as_deref()
        .and_then(|e| e.trim().strip_prefix("rate("))
        .and_then(|e| e.strip_suffix(')'))
        .and_then(|e| e.trim().split_once(' '))
        .and_then(|(amount, unit)| Some((amount.parse::<i64>().ok()?, unit.trim())));
    match rate {
        Some((amount, "day" | "days")) => Duration::days(amount.clamp(1, MAX_ROTATION_DAYS)),
        Some((amount, "hour" | "hours")) => {
            Duration::hours(amount.clamp(1, MAX_ROTATION_DAYS * 24))
        }
        _ => Duration::days(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(stages: &[&str]) -> VersionSpec {
        VersionSpec::new(stages.iter().copied(), Utc::now())
    }

    #[test]
    fn promoting_shifts_current_to_previous_and_drops_the_older_previous() {
        let mut versions = vec![
            version(&[AWSPREVIOUS]),
            version(&[AWSCURRENT]),
            version(&[AWSPENDING]),
        ];
        promote(&mut versions, 2);
        let stages: Vec<&Vec<String>> = versions.iter().map(|v| &v.stages).collect();
        assert_eq!(
            stages,
            [
                &Vec::<String>::new(),
                &vec![AWSPREVIOUS.to_string()],
                &vec![AWSCURRENT.to_string()]
            ]
        );
    }

    #[test]
    fn a_pending_label_on_the_current_version_is_not_a_rotation_in_progress() {
        assert_eq!(pending_index(&[version(&[AWSCURRENT, AWSPENDING])]), None);
        assert_eq!(
            pending_index(&[version(&[AWSCURRENT]), version(&[AWSPENDING])]),
            Some(1)
        );
    }

    #[test]
    fn intervals_come_from_days_or_a_rate() {
        assert_eq!(
            rotation_interval(&RotationSpec::every_days(30)),
            Duration::days(30)
        );
        assert_eq!(
            rotation_interval(&RotationSpec::schedule("rate(10 days)")),
            Duration::days(10)
        );
        assert_eq!(
            rotation_interval(&RotationSpec::schedule("rate(4 hours)")),
            Duration::hours(4)
        );
        assert_eq!(
            rotation_interval(&RotationSpec::schedule("cron(0 16 1,15 * ? *)")),
            Duration::days(1)
        );
    }

    #[test]
    fn names_come_out_of_arns_without_their_suffix() {
        assert_eq!(
            name_of_arn("arn:aws:secretsmanager:us-east-1:111111111111:secret:app/db-AbCdEf"),
            "app/db"
        );
        assert_eq!(name_of_arn("not-an-arn"), "not-an-arn");
    }
}
