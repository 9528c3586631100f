//! Secrets Manager as the real SDK sees it.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SortOrderType};
use chrono::{Duration, Utc};
use common::{list_all, secrets_client};
use simulator::{Fleet, RotationSpec, SecretSpec, VersionSpec, days_ago, secret_arn, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ACCOUNT: &str = "123456789012";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn pagination_returns_every_secret_once_in_pages_of_max_results() -> TestResult {
    let fleet = Fleet::builder()
        .secrets(
            (0..250).map(|i| SecretSpec::new(format!("app/secret-{i:03}")).created(days_ago(i))),
        )
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let (names, pages) = list_all(&client, 100).await?;

    assert_eq!(pages, [100, 100, 50]);
    assert_eq!(sim.requests("ListSecrets"), 3);
    let unique: BTreeSet<_> = names.iter().cloned().collect();
    assert_eq!(unique.len(), 250);
    // Newest first unless asked otherwise.
    assert_eq!(names.first().map(String::as_str), Some("app/secret-000"));
    assert_eq!(names.last().map(String::as_str), Some("app/secret-249"));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_sdk_paginator_and_ascending_order_work() -> TestResult {
    let fleet = Fleet::builder()
        .secrets((0..120).map(|i| SecretSpec::new(format!("s-{i:03}")).created(days_ago(i))))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let pages: Vec<_> = client
        .list_secrets()
        .sort_order(SortOrderType::Asc)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?;
    let names: Vec<_> = pages
        .iter()
        .flat_map(|page| page.secret_list())
        .filter_map(|s| s.name())
        .collect();

    assert_eq!(pages.len(), 2, "default page size is 100");
    assert_eq!(names.len(), 120);
    assert_eq!(names.first(), Some(&"s-119"), "oldest first");
    assert_eq!(names.last(), Some(&"s-000"));
    Ok(())
}

#[tokio::test]
async fn max_results_above_100_is_a_validation_error() -> TestResult {
    let sim = start(Fleet::builder().build()?, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let error = client
        .list_secrets()
        .max_results(101)
        .send()
        .await
        .err()
        .ok_or("MaxResults 101 was accepted")?;

    assert_eq!(error.code(), Some("ValidationException"));
    Ok(())
}

#[tokio::test]
async fn a_forged_next_token_is_rejected() -> TestResult {
    let sim = start(
        Fleet::builder().secret(SecretSpec::new("a")).build()?,
        localhost(),
    )
    .await?;
    let client = secrets_client(&sim, "us-east-1");

    let error = client
        .list_secrets()
        .next_token("not-a-token")
        .send()
        .await
        .err()
        .ok_or("a forged token was accepted")?;

    assert_eq!(error.code(), Some("InvalidNextTokenException"));
    Ok(())
}

#[tokio::test]
async fn fields_are_left_out_where_aws_leaves_them_out() -> TestResult {
    let accessed = Utc::now() - Duration::days(3);
    let fleet = Fleet::builder()
        .secret(SecretSpec::new("plain").created_days_ago(10))
        .secret(
            SecretSpec::new("customer-key")
                .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/1111")
                .rotation(
                    RotationSpec::every_days(30)
                        .lambda("arn:aws:lambda:us-east-1:123456789012:function:rotate"),
                )
                .last_rotated_days_ago(5)
                .next_rotation_in_days(25)
                .last_accessed(accessed)
                .tag("team", "payments"),
        )
        .secret(
            SecretSpec::new("rotation-disabled").rotation(
                RotationSpec::schedule("rate(30 days)")
                    .window("3h")
                    .disabled(),
            ),
        )
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let plain = client.describe_secret().secret_id("plain").send().await?;
    assert_eq!(plain.kms_key_id(), None, "default key: no KmsKeyId");
    assert_eq!(plain.rotation_enabled(), None, "rotation never configured");
    assert!(plain.rotation_rules().is_none());
    assert!(plain.deleted_date().is_none());
    assert!(plain.tags().is_empty());
    let stages = plain
        .version_ids_to_stages()
        .ok_or("no VersionIdsToStages")?;
    assert_eq!(stages.len(), 1);
    assert_eq!(
        stages.values().next().map(|s| s.as_slice()),
        Some(&["AWSCURRENT".to_string()][..])
    );

    let keyed = client
        .describe_secret()
        .secret_id(secret_arn(ACCOUNT, "us-east-1", "customer-key"))
        .send()
        .await?;
    assert_eq!(
        keyed.kms_key_id(),
        Some("arn:aws:kms:us-east-1:123456789012:key/1111")
    );
    assert_eq!(keyed.rotation_enabled(), Some(true));
    assert_eq!(
        keyed
            .rotation_rules()
            .and_then(|r| r.automatically_after_days()),
        Some(30)
    );
    let last_accessed = keyed.last_accessed_date().ok_or("no LastAccessedDate")?;
    let midnight = accessed
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .ok_or("bad date")?
        .and_utc();
    assert_eq!(
        last_accessed.secs(),
        midnight.timestamp(),
        "truncated to midnight UTC"
    );
    assert_eq!(keyed.tags().len(), 1);

    let disabled = client
        .describe_secret()
        .secret_id("rotation-disabled")
        .send()
        .await?;
    assert_eq!(disabled.rotation_enabled(), Some(false));
    let rules = disabled
        .rotation_rules()
        .ok_or("rules dropped after disabling")?;
    assert_eq!(rules.schedule_expression(), Some("rate(30 days)"));
    assert_eq!(rules.duration(), Some("3h"));

    let listed = client.list_secrets().send().await?;
    let entry = listed
        .secret_list()
        .iter()
        .find(|s| s.name() == Some("customer-key"))
        .ok_or("customer-key not listed")?;
    assert_eq!(
        entry.arn().map(str::to_string),
        Some(secret_arn(ACCOUNT, "us-east-1", "customer-key"))
    );
    assert!(entry.next_rotation_date().is_some());
    assert!(entry.last_rotated_date().is_some());
    assert_eq!(entry.secret_versions_to_stages().map(|m| m.len()), Some(1));
    Ok(())
}

#[tokio::test]
async fn secrets_scheduled_for_deletion_are_listed_only_on_request() -> TestResult {
    let fleet = Fleet::builder()
        .secret(SecretSpec::new("live"))
        .secret(SecretSpec::new("going").deleted_days_ago(1))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let default = client.list_secrets().send().await?;
    let names: Vec<_> = default
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(names, ["live"]);
    assert!(default.secret_list()[0].deleted_date().is_none());

    let all = client
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await?;
    let going = all
        .secret_list()
        .iter()
        .find(|s| s.name() == Some("going"))
        .ok_or("deleted secret missing with IncludePlannedDeletion")?;
    assert!(going.deleted_date().is_some());
    Ok(())
}

#[tokio::test]
async fn name_and_tag_key_filters_match_prefixes() -> TestResult {
    let fleet = Fleet::builder()
        .secret(SecretSpec::new("prod/db").tag("team", "payments"))
        .secret(SecretSpec::new("prod/api").tag("owner", "web"))
        .secret(SecretSpec::new("dev/db").tag("team", "web"))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");
    let names = |output: &aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput| {
        let mut names: Vec<String> = output
            .secret_list()
            .iter()
            .filter_map(|s| s.name().map(str::to_string))
            .collect();
        names.sort();
        names
    };

    let by_name = client
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("prod/")
                .build(),
        )
        .send()
        .await?;
    assert_eq!(names(&by_name), ["prod/api", "prod/db"]);

    let by_tag = client
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagKey)
                .values("tea")
                .build(),
        )
        .send()
        .await?;
    assert_eq!(names(&by_tag), ["dev/db", "prod/db"]);

    let both = client
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("prod")
                .build(),
        )
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagKey)
                .values("team")
                .build(),
        )
        .send()
        .await?;
    assert_eq!(names(&both), ["prod/db"]);
    Ok(())
}

#[tokio::test]
async fn the_region_comes_from_the_signing_scope() -> TestResult {
    let fleet = Fleet::builder()
        .regions(["us-east-1", "eu-west-1"])
        .region("eu-west-1")
        .secret(SecretSpec::new("european"))
        .build()?;
    let sim = start(fleet, localhost()).await?;

    let europe = secrets_client(&sim, "eu-west-1")
        .list_secrets()
        .send()
        .await?;
    let america = secrets_client(&sim, "us-east-1")
        .list_secrets()
        .send()
        .await?;

    assert_eq!(europe.secret_list().len(), 1);
    assert!(america.secret_list().is_empty());
    let error = secrets_client(&sim, "us-east-1")
        .describe_secret()
        .secret_id("european")
        .send()
        .await
        .err()
        .ok_or("secret visible from the wrong region")?;
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    Ok(())
}

#[tokio::test]
async fn get_secret_value_is_counted_and_rejected() -> TestResult {
    let sim = start(
        Fleet::builder().secret(SecretSpec::new("a")).build()?,
        localhost(),
    )
    .await?;
    let client = secrets_client(&sim, "us-east-1");

    let error = client
        .get_secret_value()
        .secret_id("a")
        .send()
        .await
        .err()
        .ok_or("GetSecretValue answered")?;

    assert_eq!(error.code(), Some("UnknownOperationException"));
    assert_eq!(sim.requests("GetSecretValue"), 1);
    assert_eq!(sim.requests_by_account("GetSecretValue", ACCOUNT), 1);
    let key = (
        "secretsmanager".to_string(),
        "GetSecretValue".to_string(),
        ACCOUNT.to_string(),
    );
    assert_eq!(sim.request_counts().get(&key), Some(&1));
    sim.reset_counts();
    assert_eq!(sim.requests("GetSecretValue"), 0);
    Ok(())
}

#[tokio::test]
async fn list_secret_version_ids_hides_deprecated_versions_unless_asked() -> TestResult {
    let fleet = Fleet::builder()
        .secret(
            SecretSpec::new("rotating")
                .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/2222")
                .versions([
                    VersionSpec::current(days_ago(1)).id("v-current"),
                    VersionSpec::previous(days_ago(31)).id("v-previous"),
                    VersionSpec::pending(days_ago(0)).id("v-pending"),
                    VersionSpec::new(Vec::<String>::new(), days_ago(61)).id("v-old"),
                ]),
        )
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let staged = client
        .list_secret_version_ids()
        .secret_id("rotating")
        .send()
        .await?;
    let ids: Vec<_> = staged
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(
        ids,
        ["v-pending", "v-current", "v-previous"],
        "newest first"
    );
    let current = &staged.versions()[1];
    assert_eq!(current.version_stages(), ["AWSCURRENT"]);
    assert_eq!(
        current.kms_key_ids(),
        ["arn:aws:kms:us-east-1:123456789012:key/2222"]
    );
    assert_eq!(staged.name(), Some("rotating"));

    let all = client
        .list_secret_version_ids()
        .secret_id("rotating")
        .include_deprecated(true)
        .max_results(2)
        .send()
        .await?;
    assert_eq!(all.versions().len(), 2);
    let rest = client
        .list_secret_version_ids()
        .secret_id("rotating")
        .include_deprecated(true)
        .max_results(2)
        .set_next_token(all.next_token().map(str::to_string))
        .send()
        .await?;
    let ids: Vec<_> = rest
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(ids, ["v-previous", "v-old"]);
    assert!(rest.next_token().is_none());
    Ok(())
}

#[tokio::test]
async fn changes_made_through_the_handle_show_at_the_next_request() -> TestResult {
    let fleet = Fleet::builder()
        .secret(SecretSpec::new("db").rotation(RotationSpec::every_days(30)))
        .secret(SecretSpec::new("doomed"))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");
    let version_before = sim
        .secret(ACCOUNT, "us-east-1", "db")
        .map(|s| s.versions[0].id.clone());

    sim.update_secret(ACCOUNT, "us-east-1", "db", |s| {
        s.rotation_enabled(false).tag("team", "core")
    })?;
    assert!(sim.delete_secret(ACCOUNT, "us-east-1", "doomed"));
    sim.put_secret(ACCOUNT, "us-east-1", SecretSpec::new("fresh"))?;

    let db = client.describe_secret().secret_id("db").send().await?;
    assert_eq!(db.rotation_enabled(), Some(false));
    assert_eq!(
        db.rotation_rules()
            .and_then(|r| r.automatically_after_days()),
        Some(30)
    );
    assert_eq!(db.tags().first().and_then(|t| t.value()), Some("core"));
    let version_after = sim
        .secret(ACCOUNT, "us-east-1", "db")
        .map(|s| s.versions[0].id.clone());
    assert_eq!(version_before, version_after, "versions keep their ids");
    let (mut names, _) = list_all(&client, 100).await?;
    names.sort();
    assert_eq!(names, ["db", "fresh"]);
    assert!(
        sim.update_secret(ACCOUNT, "us-east-1", "doomed", |s| s)
            .is_err()
    );
    assert!(
        sim.put_secret("999999999999", "us-east-1", SecretSpec::new("x"))
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn a_yaml_fleet_with_relative_times_is_served() -> TestResult {
    let yaml = r#"
base_account: "123456789012"
regions: [us-east-1]
secrets:
  - name: payments/db-password
    created: -400d
    tags: { team: payments }
    rotation:
      enabled: true
      automatically_after_days: 30
    last_rotated: -10d
    next_rotation: +20d
    versions:
      - stages: [AWSCURRENT]
        created: -10d
"#;
    let fleet = Fleet::from_yaml_str(yaml, Utc::now())?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let secret = client
        .describe_secret()
        .secret_id("payments/db-password")
        .send()
        .await?;
    let now = Utc::now().timestamp();
    let days = |t: Option<&aws_sdk_secretsmanager::primitives::DateTime>| {
        t.map(|t| ((t.secs() - now) as f64 / 86_400.0).round() as i64)
    };
    assert_eq!(days(secret.created_date()), Some(-400));
    assert_eq!(days(secret.last_rotated_date()), Some(-10));
    assert_eq!(days(secret.next_rotation_date()), Some(20));
    assert_eq!(secret.rotation_enabled(), Some(true));
    let versions = client
        .list_secret_version_ids()
        .secret_id("payments/db-password")
        .send()
        .await?;
    assert_eq!(days(versions.versions()[0].created_date()), Some(-10));
    Ok(())
}

#[tokio::test]
async fn a_large_fleet_lists_quickly() -> TestResult {
    let started = Instant::now();
    let mut builder = Fleet::builder().regions(["us-east-1", "eu-west-1"]);
    // 1,000 accounts x 2 regions x 50 secrets = 100,000 secrets in 2,000 (account, region) pairs.
    for account in 0..1000u64 {
        builder = builder.account(format!("{:012}", 200_000_000_000 + account));
        for region in ["us-east-1", "eu-west-1"] {
            builder = builder.region(region).secrets(
                (0..50).map(|i| SecretSpec::new(format!("svc/{i:02}")).created(days_ago(i))),
            );
        }
    }
    builder = builder.account(ACCOUNT).region("us-east-1").secrets(
        (0..1050).map(|i| SecretSpec::new(format!("bulk/{i:04}")).created(days_ago(i % 700))),
    );
    let sim = start(builder.build()?, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    let listing = Instant::now();
    let (names, pages) = list_all(&client, 100).await?;
    let listed_in = listing.elapsed();

    assert_eq!(names.len(), 1050);
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 1050);
    assert_eq!(pages.len(), 11);
    assert_eq!(sim.secret_count("200000000999", "eu-west-1"), 50);
    // Generous bounds: paging must not scan the other 100,000 secrets per request.
    assert!(
        listed_in.as_secs() < 10,
        "listing 1,050 secrets took {listed_in:?}"
    );
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}
