//! CloudTrail `LookupEvents` and the rotation scenarios, through the official SDK clients.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::primitives::DateTime as SdkTime;
use aws_sdk_cloudtrail::types::{Event, LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::{cloudtrail_client, cloudtrail_client_with, secrets_client, sts_client};
use serde_json::Value;
use simulator::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Fault, FaultRule, Fleet, RotationEventName,
    RotationEventSpec, RotationSpec, SecretSpec, SimulatorError, SimulatorHandle, secret_arn,
    start,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const MEMBER: &str = "111111111111";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn fleet() -> Result<Fleet, simulator::FleetError> {
    Fleet::builder()
        .base_account(BASE)
        .regions([EAST, WEST])
        .region(EAST)
        .secret(
            SecretSpec::new("app/db")
                .created_days_ago(100)
                .rotation(
                    RotationSpec::every_days(30)
                        .lambda("arn:aws:lambda:us-east-1:123456789012:function:rotate-db"),
                )
                .last_rotated_days_ago(31)
                .last_changed_days_ago(31)
                .next_rotation_in_days(2),
        )
        .secret(SecretSpec::new("app/plain").created_days_ago(10))
        .account(MEMBER)
        .build()
}

async fn started() -> Result<SimulatorHandle, Box<dyn std::error::Error>> {
    Ok(start(fleet()?, localhost()).await?)
}

/// Relative to one instant per test run, so that expected times never straddle a second.
fn whole_seconds_ago(seconds: i64) -> DateTime<Utc> {
    static BASE_TIME: OnceLock<DateTime<Utc>> = OnceLock::new();
    *BASE_TIME.get_or_init(|| Utc::now().trunc_subsecs(0)) - Duration::seconds(seconds)
}

fn by_name(name: &str) -> Result<LookupAttribute, Box<dyn std::error::Error>> {
    Ok(LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::EventName)
        .attribute_value(name)
        .build()?)
}

fn sdk_time(at: DateTime<Utc>) -> SdkTime {
    SdkTime::from_secs(at.timestamp())
}

fn document(event: &Event) -> Value {
    event
        .cloud_trail_event()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

fn times(output: &LookupEventsOutput) -> Vec<i64> {
    output
        .events()
        .iter()
        .filter_map(|e| e.event_time().map(|t| t.secs()))
        .collect()
}

fn names(output: &LookupEventsOutput) -> Vec<&str> {
    output
        .events()
        .iter()
        .filter_map(Event::event_name)
        .collect()
}

#[tokio::test]
async fn lookup_by_event_name_returns_only_that_name_newest_first() -> TestResult {
    let sim = started().await?;
    let recorded = [
        (RotationEventName::Started, 600),
        (RotationEventName::Failed, 590),
        (RotationEventName::Started, 300),
        (RotationEventName::Failed, 299),
        (RotationEventName::Started, 120),
        (RotationEventName::Succeeded, 100),
        (RotationEventName::Abandoned, 50),
    ];
    for (name, ago) in recorded {
        sim.record_event(
            BASE,
            EAST,
            RotationEventSpec::new(name, "app/db", whole_seconds_ago(ago)),
        )?;
    }
    let client = cloudtrail_client(&sim, EAST);

    let failed = client
        .lookup_events()
        .lookup_attributes(by_name("RotationFailed")?)
        .send()
        .await?;
    assert_eq!(names(&failed), ["RotationFailed", "RotationFailed"]);
    let expected_times = [whole_seconds_ago(299), whole_seconds_ago(590)].map(|t| t.timestamp());
    assert_eq!(times(&failed), expected_times);
    assert_eq!(failed.next_token(), None);

    let first = &failed.events()[0];
    assert_eq!(first.event_source(), Some("secretsmanager.amazonaws.com"));
    assert_eq!(first.read_only(), Some("false"));
    let json = document(first);
    let arn = secret_arn(BASE, EAST, "app/db");
    assert_eq!(json["eventName"], "RotationFailed");
    assert_eq!(json["eventID"].as_str(), first.event_id());
    assert_eq!(json["eventType"], "AwsServiceEvent");
    assert_eq!(json["awsRegion"], EAST);
    assert_eq!(json["recipientAccountId"], BASE);
    assert_eq!(
        json["userIdentity"]["invokedBy"],
        "secretsmanager.amazonaws.com"
    );
    assert_eq!(json["additionalEventData"]["SecretId"], arn.as_str());
    let message = json["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("function:rotate-db"), "{message}");

    let everything = client.lookup_events().send().await?;
    let all_times = times(&everything);
    assert_eq!(all_times.len(), recorded.len());
    assert!(
        all_times.windows(2).all(|pair| pair[0] >= pair[1]),
        "{all_times:?}"
    );
    Ok(())
}

#[tokio::test]
async fn secret_ids_can_be_names_and_resources_are_opt_in() -> TestResult {
    let sim = started().await?;
    let at = whole_seconds_ago(60);
    sim.record_event(
        BASE,
        EAST,
        RotationEventSpec::new(RotationEventName::Succeeded, "app/db", at).secret_id_as_name(),
    )?;
    let arn = secret_arn(BASE, EAST, "app/db");
    sim.record_event(
        BASE,
        EAST,
        RotationEventSpec::new(RotationEventName::Started, arn.clone(), at).with_resources(),
    )?;
    let client = cloudtrail_client(&sim, EAST);

    let succeeded = client
        .lookup_events()
        .lookup_attributes(by_name("RotationSucceeded")?)
        .send()
        .await?;
    let json = document(&succeeded.events()[0]);
    assert_eq!(json["additionalEventData"]["SecretId"], "app/db");
    assert!(succeeded.events()[0].resources().is_empty());
    assert!(json.get("resources").is_none());

    let by_resource = client
        .lookup_events()
        .lookup_attributes(
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::ResourceName)
                .attribute_value(&arn)
                .build()?,
        )
        .send()
        .await?;
    assert_eq!(names(&by_resource), ["RotationStarted"]);
    let resource = &by_resource.events()[0].resources()[0];
    assert_eq!(
        resource.resource_type(),
        Some("AWS::SecretsManager::Secret")
    );
    assert_eq!(resource.resource_name(), Some(arn.as_str()));
    assert_eq!(
        document(&by_resource.events()[0])["resources"][0]["ARN"],
        arn.as_str()
    );
    Ok(())
}

#[tokio::test]
async fn a_thousand_events_come_in_twenty_pages_of_fifty() -> TestResult {
    let sim = started().await?;
    sim.set_cloudtrail_rate(None);
    for ago in 0..1000 {
        let name = if ago % 2 == 0 {
            RotationEventName::Started
        } else {
            RotationEventName::Failed
        };
        sim.record_event(
            BASE,
            EAST,
            RotationEventSpec::new(name, format!("bulk/{ago:04}"), whole_seconds_ago(ago + 1)),
        )?;
    }
    let client = cloudtrail_client(&sim, EAST);

    let mut pages = Vec::new();
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .lookup_events()
            .set_next_token(token.take())
            .send()
            .await?;
        pages.push(page.events().len());
        seen.extend(times(&page));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, vec![50; 20]);
    assert_eq!(seen.len(), 1000);
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, no repeats"
    );
    assert_eq!(sim.requests("LookupEvents"), 20);
    assert_eq!(sim.requests_by_account("LookupEvents", BASE), 20);
    Ok(())
}

#[tokio::test]
async fn more_than_two_requests_a_second_are_throttled() -> TestResult {
    let sim = started().await?;
    let client = cloudtrail_client(&sim, EAST);

    client.lookup_events().send().await?;
    client.lookup_events().send().await?;
    let error = client
        .lookup_events()
        .send()
        .await
        .err()
        .ok_or("third request in a second was not throttled")?;
    assert_eq!(error.code(), Some("ThrottlingException"));
    assert_eq!(error.message(), Some("Rate exceeded"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));

    // Another region has its own quota.
    cloudtrail_client(&sim, WEST).lookup_events().send().await?;

    // Keeping to two a second is never refused.
    for _ in 0..4 {
        tokio::time::sleep(StdDuration::from_millis(550)).await;
        client.lookup_events().send().await?;
    }
    assert_eq!(sim.requests("LookupEvents"), 8);
    Ok(())
}

#[tokio::test]
async fn delivery_delay_hides_events_until_they_are_delivered() -> TestResult {
    let sim = started().await?;
    sim.set_cloudtrail_delivery_delay(StdDuration::from_secs(15 * 60));
    let client = cloudtrail_client(&sim, EAST);
    let late = RotationEventSpec::new(RotationEventName::Failed, "app/db", whole_seconds_ago(60));
    sim.record_event(BASE, EAST, late.clone())?;
    assert!(client.lookup_events().send().await?.events().is_empty());

    let delivered = sim.record_event(BASE, EAST, late.visible_at(whole_seconds_ago(1)))?;
    let old = sim.record_event(
        BASE,
        EAST,
        RotationEventSpec::new(
            RotationEventName::Started,
            "app/db",
            whole_seconds_ago(3600),
        ),
    )?;
    let visible = client.lookup_events().send().await?;
    let ids: Vec<&str> = visible
        .events()
        .iter()
        .filter_map(Event::event_id)
        .collect();
    assert_eq!(ids, [delivered.as_str(), old.as_str()]);
    assert_eq!(sim.cloudtrail_event_count(BASE, EAST), 3);
    Ok(())
}

#[tokio::test]
async fn start_and_end_times_are_inclusive_and_history_is_ninety_days() -> TestResult {
    let sim = started().await?;
    sim.set_cloudtrail_rate(None);
    let hour = |n: i64| whole_seconds_ago(n * 3600);
    for n in [3, 2, 1] {
        sim.record_event(
            BASE,
            EAST,
            RotationEventSpec::new(RotationEventName::Started, "app/db", hour(n)),
        )?;
    }
    sim.record_event(
        BASE,
        EAST,
        RotationEventSpec::new(RotationEventName::Started, "app/db", hour(91 * 24)),
    )?;
    let client = cloudtrail_client(&sim, EAST);
    let between = |from: DateTime<Utc>, to: DateTime<Utc>| {
        client
            .lookup_events()
            .start_time(sdk_time(from))
            .end_time(sdk_time(to))
            .send()
    };

    let inner = between(hour(2), hour(1)).await?;
    assert_eq!(times(&inner), [hour(1).timestamp(), hour(2).timestamp()]);
    let single = between(hour(2), hour(2)).await?;
    assert_eq!(times(&single), [hour(2).timestamp()]);
    let none = between(
        hour(2) + Duration::seconds(1),
        hour(1) - Duration::seconds(1),
    )
    .await?;
    assert!(none.events().is_empty());

    let all = between(hour(200 * 24), hour(0)).await?;
    assert_eq!(all.events().len(), 3, "the 91-day-old event has expired");

    let error = between(hour(1), hour(2))
        .await
        .err()
        .ok_or("start after end accepted")?;
    assert_eq!(error.code(), Some("InvalidTimeRangeException"));
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_cloudtrails_errors() -> TestResult {
    let sim = started().await?;
    sim.set_cloudtrail_rate(None);
    for ago in 0..5 {
        sim.record_event(
            BASE,
            EAST,
            RotationEventSpec::new(RotationEventName::Started, "app/db", whole_seconds_ago(ago)),
        )?;
    }
    let client = cloudtrail_client(&sim, EAST);

    let too_many = client.lookup_events().max_results(51).send().await;
    let error = too_many.err().ok_or("MaxResults 51 accepted")?;
    assert_eq!(error.code(), Some("InvalidMaxResultsException"));

    let two = client
        .lookup_events()
        .lookup_attributes(by_name("RotationStarted")?)
        .lookup_attributes(by_name("RotationFailed")?)
        .send()
        .await;
    let error = two.err().ok_or("two lookup attributes accepted")?;
    assert_eq!(error.code(), Some("InvalidLookupAttributesException"));

    let forged = client
        .lookup_events()
        .next_token("not-a-token")
        .send()
        .await;
    let error = forged.err().ok_or("forged token accepted")?;
    assert_eq!(error.code(), Some("InvalidNextTokenException"));

    let page = client
        .lookup_events()
        .lookup_attributes(by_name("RotationStarted")?)
        .max_results(2)
        .send()
        .await?;
    let token = page.next_token().ok_or("no second page")?.to_string();
    let elsewhere = client
        .lookup_events()
        .lookup_attributes(by_name("RotationFailed")?)
        .max_results(2)
        .next_token(&token)
        .send()
        .await;
    let error = elsewhere.err().ok_or("token of another query accepted")?;
    assert_eq!(error.code(), Some("InvalidNextTokenException"));
    let second = client
        .lookup_events()
        .lookup_attributes(by_name("RotationStarted")?)
        .max_results(2)
        .next_token(&token)
        .send()
        .await?;
    assert_eq!(second.events().len(), 2);
    Ok(())
}

#[tokio::test]
async fn faults_apply_to_lookup_events() -> TestResult {
    let sim = started().await?;
    sim.fail(
        FaultRule::new(Fault::AccessDenied)
            .operation("LookupEvents")
            .times(1),
    );
    let client = cloudtrail_client(&sim, EAST);
    let error = client
        .lookup_events()
        .send()
        .await
        .err()
        .ok_or("no fault")?;
    assert_eq!(error.code(), Some("AccessDeniedException"));
    client.lookup_events().send().await?;
    assert_eq!(sim.requests_by_account("LookupEvents", BASE), 2);
    Ok(())
}

#[tokio::test]
async fn events_stay_in_their_account_and_region() -> TestResult {
    let sim = started().await?;
    let at = whole_seconds_ago(10);
    let east = sim.record_event(
        BASE,
        EAST,
        RotationEventSpec::new(RotationEventName::Failed, "app/db", at),
    )?;
    let member = sim.record_event(
        MEMBER,
        EAST,
        RotationEventSpec::new(RotationEventName::Failed, "member/db", at),
    )?;

    let ids = |output: &LookupEventsOutput| -> Vec<String> {
        output
            .events()
            .iter()
            .filter_map(|e| e.event_id().map(str::to_string))
            .collect()
    };
    let base_east = cloudtrail_client(&sim, EAST).lookup_events().send().await?;
    assert_eq!(ids(&base_east), [east]);
    let base_west = cloudtrail_client(&sim, WEST).lookup_events().send().await?;
    assert!(base_west.events().is_empty());

    let assumed = sts_client(&sim, EAST)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{MEMBER}:role/reader"))
        .role_session_name("exporter")
        .send()
        .await?;
    let credentials = assumed.credentials().ok_or("no credentials")?;
    let member_client = cloudtrail_client_with(
        &sim,
        EAST,
        aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            None,
            "assumed",
        ),
    );
    let member_east = member_client.lookup_events().send().await?;
    assert_eq!(ids(&member_east), [member]);
    let json = document(&member_east.events()[0]);
    assert_eq!(json["recipientAccountId"], MEMBER);
    assert_eq!(
        json["additionalEventData"]["SecretId"],
        secret_arn(MEMBER, EAST, "member/db").as_str()
    );

    assert_eq!(sim.cloudtrail_event_count(BASE, EAST), 1);
    assert_eq!(sim.cloudtrail_event_count(BASE, WEST), 0);
    assert!(matches!(
        sim.record_event(
            "999999999999",
            EAST,
            RotationEventSpec::new(RotationEventName::Failed, "x", at)
        ),
        Err(SimulatorError::UnknownAccount(_))
    ));
    Ok(())
}

#[tokio::test]
async fn raw_events_are_served_verbatim() -> TestResult {
    let sim = started().await?;
    let id = sim.record_raw_event(
        BASE,
        EAST,
        "RotationFailed",
        whole_seconds_ago(5),
        "{\"eventName\": \"RotationFailed\", \"additionalEventData\": ".to_string(),
    )?;
    let found = cloudtrail_client(&sim, EAST)
        .lookup_events()
        .lookup_attributes(by_name("RotationFailed")?)
        .send()
        .await?;
    let event = found.events().first().ok_or("raw event not found")?;
    assert_eq!(event.event_id(), Some(id.as_str()));
    assert_eq!(
        event.cloud_trail_event(),
        Some("{\"eventName\": \"RotationFailed\", \"additionalEventData\": ")
    );
    Ok(())
}

/// Version id to stages, as `ListSecretVersionIds` shows them with deprecated versions.
async fn version_stages(
    sim: &SimulatorHandle,
    name: &str,
) -> Result<BTreeMap<String, (Vec<String>, i64)>, Box<dyn std::error::Error>> {
    let versions = secrets_client(sim, EAST)
        .list_secret_version_ids()
        .secret_id(name)
        .include_deprecated(true)
        .send()
        .await?;
    Ok(versions
        .versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_string(),
                (
                    v.version_stages().to_vec(),
                    v.created_date().map_or(0, |d| d.secs()),
                ),
            )
        })
        .collect())
}

#[tokio::test]
async fn a_failed_rotation_leaves_a_pending_version_and_a_missed_date() -> TestResult {
    let sim = started().await?;
    let secrets = secrets_client(&sim, EAST);
    let before = secrets.describe_secret().secret_id("app/db").send().await?;
    let before_stages = version_stages(&sim, "app/db").await?;

    let outcome = sim.fail_rotation(BASE, EAST, "app/db")?;
    let now = Utc::now().timestamp();

    let after = secrets.describe_secret().secret_id("app/db").send().await?;
    let next = after
        .next_rotation_date()
        .ok_or("no NextRotationDate")?
        .secs();
    assert!(
        next < now,
        "NextRotationDate {next} should be in the past (now {now})"
    );
    assert_eq!(
        after.last_rotated_date().map(|d| d.secs()),
        before.last_rotated_date().map(|d| d.secs())
    );
    let stages = after.version_ids_to_stages().ok_or("no stages")?;
    assert_eq!(
        stages.get(&outcome.version_id),
        Some(&vec![AWSPENDING.to_string()])
    );
    assert_eq!(stages.len(), before_stages.len() + 1);

    let versions = version_stages(&sim, "app/db").await?;
    let (pending_stages, created) = versions.get(&outcome.version_id).ok_or("no new version")?;
    assert_eq!(pending_stages, &[AWSPENDING.to_string()]);
    assert!((now - created).abs() <= 2, "created {created}, now {now}");
    for (id, (stages, _)) in &before_stages {
        assert_eq!(versions.get(id).map(|v| &v.0), Some(stages), "{id} moved");
    }

    let listed = secrets.list_secrets().send().await?;
    let entry = listed
        .secret_list()
        .iter()
        .find(|s| s.name() == Some("app/db"))
        .ok_or("app/db not listed")?;
    let listed_stages = entry.secret_versions_to_stages().ok_or("no stages")?;
    assert_eq!(
        listed_stages.get(&outcome.version_id),
        Some(&vec![AWSPENDING.to_string()])
    );

    let events = cloudtrail_client(&sim, EAST).lookup_events().send().await?;
    assert_eq!(names(&events), ["RotationFailed", "RotationStarted"]);
    let ids: Vec<String> = events
        .events()
        .iter()
        .rev()
        .filter_map(|e| e.event_id().map(str::to_string))
        .collect();
    assert_eq!(ids, outcome.event_ids);
    let failed = document(&events.events()[0]);
    let request_id = failed["requestID"].as_str().unwrap_or_default();
    assert!(request_id.ends_with(&outcome.version_id), "{request_id}");
    assert_eq!(
        failed["additionalEventData"]["SecretId"],
        secret_arn(BASE, EAST, "app/db").as_str()
    );
    Ok(())
}

#[tokio::test]
async fn a_successful_rotation_moves_the_stages_and_the_dates() -> TestResult {
    let sim = started().await?;
    let before = version_stages(&sim, "app/db").await?;
    let old_current = before
        .iter()
        .find(|(_, (stages, _))| stages.iter().any(|s| s == AWSCURRENT))
        .map(|(id, _)| id.clone())
        .ok_or("no current version")?;
    let failed = sim.fail_rotation(BASE, EAST, "app/db")?;

    let succeeded = sim.succeed_rotation(BASE, EAST, "app/db")?;
    let now = Utc::now().timestamp();
    assert_eq!(
        succeeded.version_id, failed.version_id,
        "the pending version is promoted"
    );

    let versions = version_stages(&sim, "app/db").await?;
    assert_eq!(
        versions.get(&failed.version_id).map(|v| &v.0),
        Some(&vec![AWSCURRENT.to_string()])
    );
    assert_eq!(
        versions.get(&old_current).map(|v| &v.0),
        Some(&vec![AWSPREVIOUS.to_string()])
    );

    let secret = secrets_client(&sim, EAST)
        .describe_secret()
        .secret_id("app/db")
        .send()
        .await?;
    let rotated = secret
        .last_rotated_date()
        .ok_or("no LastRotatedDate")?
        .secs();
    assert!((now - rotated).abs() <= 2);
    assert_eq!(secret.last_changed_date().map(|d| d.secs()), Some(rotated));
    let next = secret
        .next_rotation_date()
        .ok_or("no NextRotationDate")?
        .secs();
    assert!((next - (rotated + 30 * 86_400)).abs() <= 2, "next {next}");

    let events = cloudtrail_client(&sim, EAST).lookup_events().send().await?;
    assert_eq!(
        names(&events),
        [
            "RotationSucceeded",
            "RotationStarted",
            "RotationFailed",
            "RotationStarted"
        ]
    );

    // Without a pending version a rotation creates its own.
    let again = sim.succeed_rotation(BASE, EAST, "app/db")?;
    let versions = version_stages(&sim, "app/db").await?;
    assert_eq!(
        versions.get(&again.version_id).map(|v| &v.0),
        Some(&vec![AWSCURRENT.to_string()])
    );
    assert_eq!(
        versions.get(&failed.version_id).map(|v| &v.0),
        Some(&vec![AWSPREVIOUS.to_string()])
    );
    assert_eq!(versions.get(&old_current).map(|v| v.0.len()), Some(0));
    Ok(())
}

#[tokio::test]
async fn an_abandoned_rotation_drops_the_pending_label() -> TestResult {
    let sim = started().await?;
    let failed = sim.fail_rotation(BASE, EAST, "app/db")?;
    let abandoned = sim.abandon_rotation(BASE, EAST, "app/db")?;

    let versions = version_stages(&sim, "app/db").await?;
    assert_eq!(versions.get(&failed.version_id).map(|v| v.0.len()), Some(0));
    assert_eq!(
        versions.get(&abandoned.version_id).map(|v| &v.0),
        Some(&vec![AWSCURRENT.to_string()])
    );
    let events = cloudtrail_client(&sim, EAST)
        .lookup_events()
        .lookup_attributes(by_name("RotationAbandoned")?)
        .send()
        .await?;
    assert_eq!(events.events().len(), 1);

    assert!(matches!(
        sim.abandon_rotation(BASE, EAST, "app/db"),
        Err(SimulatorError::InvalidScenario(_))
    ));
    assert!(matches!(
        sim.fail_rotation(BASE, EAST, "app/plain"),
        Err(SimulatorError::InvalidScenario(_))
    ));
    assert!(matches!(
        sim.succeed_rotation(BASE, EAST, "missing"),
        Err(SimulatorError::UnknownSecret { .. })
    ));
    Ok(())
}
