//! Systems Manager Parameter Store's metadata through the real `aws-sdk-ssm`: `DescribeParameters`
//! with its filters and pages, `ListTagsForResource`, faults, and the value reads it refuses.

mod common;

use std::collections::BTreeSet;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_ssm::config::Region;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::{
    ParameterStringFilter, ParameterTier as SdkTier, ParameterType as SdkType, ParametersFilter,
    ParametersFilterKey, ResourceTypeForTagging,
};
use chrono::{Duration, Utc};
use common::{static_credentials, sts_client};
use simulator::{
    Fault, FaultRule, Fleet, ParameterPolicy, ParameterSpec, PolicyUnit, SimulatorHandle,
    parameter_arn, start,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const OTHER: &str = "111111111111";
const REGION: &str = "us-east-1";
const CUSTOMER_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/6f1c2a8e-1b7d-4c55-9f0e-0c4b8a3d2e11";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Retries are off so that every SDK call is exactly one request to count.
fn ssm_client_with(
    sim: &SimulatorHandle,
    region: &str,
    credentials: Credentials,
) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

fn ssm_client(sim: &SimulatorHandle) -> aws_sdk_ssm::Client {
    ssm_client_with(sim, REGION, static_credentials(&sim.base_credentials()))
}

/// A client signed with credentials of `account`, from `AssumeRole`.
async fn ssm_client_in(
    sim: &SimulatorHandle,
    account: &str,
) -> Result<aws_sdk_ssm::Client, Box<dyn std::error::Error>> {
    let assumed = sts_client(sim, REGION)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/secrets-rotation-reader"
        ))
        .role_session_name("exporter")
        .send()
        .await?;
    let credentials = assumed.credentials().ok_or("no credentials")?;
    let credentials = Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        None,
        "assumed",
    );
    Ok(ssm_client_with(sim, REGION, credentials))
}

fn filter(
    key: &str,
    option: Option<&str>,
    values: &[&str],
) -> Result<ParameterStringFilter, aws_sdk_ssm::error::BuildError> {
    ParameterStringFilter::builder()
        .key(key)
        .set_option(option.map(str::to_string))
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn fleet() -> Result<Fleet, simulator::FleetError> {
    Fleet::builder()
        .base_account(BASE)
        .regions([REGION])
        .parameter(
            ParameterSpec::new("/app/db/password")
                .last_modified_days_ago(400)
                .description("Never rotated")
                .tag("team", "payments")
                .tag("environment", "prod"),
        )
        .parameter(
            ParameterSpec::new("/app/db/user")
                .string()
                .last_modified_days_ago(3),
        )
        .parameter(
            ParameterSpec::new("/app/api/signing-key")
                .key_id(CUSTOMER_KEY)
                .advanced()
                .version(4)
                .last_modified_days_ago(10)
                .last_modified_user("arn:aws:iam::123456789012:role/deployer")
                .expires(Utc::now() + Duration::days(30))
                .policy(ParameterPolicy::no_change_notification(
                    90,
                    PolicyUnit::Days,
                )),
        )
        .parameter(
            ParameterSpec::new("/app/cidrs")
                .string_list()
                .allowed_pattern("^[0-9./,]+$"),
        )
        .parameter(ParameterSpec::new("plain-token").key_id("alias/tokens"))
        .parameter_in(OTHER, REGION, ParameterSpec::new("/other/secret"))
        .build()
}

async fn names_of(
    request: aws_sdk_ssm::operation::describe_parameters::builders::DescribeParametersFluentBuilder,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let pages = request
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?;
    Ok(pages
        .iter()
        .flat_map(|page| page.parameters())
        .filter_map(|p| p.name().map(str::to_string))
        .collect())
}

#[tokio::test]
async fn pagination_returns_every_parameter_once_in_name_order() -> TestResult {
    let fleet = Fleet::builder()
        .parameters((0..120).map(|i| ParameterSpec::new(format!("/fleet/p-{i:03}"))))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = ssm_client(&sim);

    let mut names = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .describe_parameters()
            .max_results(50)
            .set_next_token(token.take())
            .send()
            .await?;
        pages.push(page.parameters().len());
        names.extend(
            page.parameters()
                .iter()
                .filter_map(|p| p.name().map(str::to_string)),
        );
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }

    assert_eq!(pages, [50, 50, 20]);
    assert_eq!(sim.requests("DescribeParameters"), 3);
    assert_eq!(
        sim.request_counts()
            .get(&(
                "ssm".to_string(),
                "DescribeParameters".to_string(),
                BASE.to_string()
            ))
            .copied(),
        Some(3)
    );
    let expected: Vec<String> = (0..120).map(|i| format!("/fleet/p-{i:03}")).collect();
    assert_eq!(names, expected);

    // Without MaxResults a page holds ten; the SDK's paginator walks them all.
    sim.reset_counts();
    let all = names_of(client.describe_parameters()).await?;
    assert_eq!(all.len(), 120);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 120);
    assert_eq!(sim.requests("DescribeParameters"), 12);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn metadata_has_aws_shapes() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    let answer = client.describe_parameters().max_results(50).send().await?;
    let by_name = |name: &str| {
        answer
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .cloned()
            .ok_or(format!("{name} not listed"))
    };
    let names: Vec<_> = answer
        .parameters()
        .iter()
        .filter_map(|p| p.name())
        .collect();
    assert_eq!(
        names,
        [
            "/app/api/signing-key",
            "/app/cidrs",
            "/app/db/password",
            "/app/db/user",
            "plain-token"
        ],
        "by name, and only the caller's account"
    );

    let stale = by_name("/app/db/password")?;
    assert_eq!(stale.r#type(), Some(&SdkType::SecureString));
    assert_eq!(stale.key_id(), Some("alias/aws/ssm"));
    assert_eq!(
        stale.arn(),
        Some("arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password")
    );
    let modified = stale.last_modified_date().ok_or("no date")?.secs();
    let expected = (Utc::now() - Duration::days(400)).timestamp();
    assert!((modified - expected).abs() < 60, "{modified} vs {expected}");
    assert_eq!(
        stale.last_modified_user(),
        Some("arn:aws:iam::123456789012:user/simulator")
    );
    assert_eq!(stale.description(), Some("Never rotated"));
    assert_eq!(stale.version(), 1);
    assert_eq!(stale.tier(), Some(&SdkTier::Standard));
    assert_eq!(stale.data_type(), Some("text"));
    assert!(stale.policies().is_empty());

    let user = by_name("/app/db/user")?;
    assert_eq!(user.r#type(), Some(&SdkType::String));
    assert_eq!(user.key_id(), None, "only a SecureString names a key");
    let cidrs = by_name("/app/cidrs")?;
    assert_eq!(cidrs.r#type(), Some(&SdkType::StringList));
    assert_eq!(cidrs.key_id(), None);
    assert_eq!(cidrs.allowed_pattern(), Some("^[0-9./,]+$"));

    let signing = by_name("/app/api/signing-key")?;
    assert_eq!(signing.key_id(), Some(CUSTOMER_KEY));
    assert_eq!(signing.tier(), Some(&SdkTier::Advanced));
    assert_eq!(signing.version(), 4);
    assert_eq!(
        signing.last_modified_user(),
        Some("arn:aws:iam::123456789012:role/deployer")
    );
    let policies = signing.policies();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0].policy_type(), Some("Expiration"));
    assert_eq!(policies[0].policy_status(), Some("Pending"));
    let text: serde_json::Value =
        serde_json::from_str(policies[0].policy_text().ok_or("no policy text")?)?;
    assert_eq!(text["Type"], "Expiration");
    assert_eq!(text["Version"], "1.0");
    let timestamp = text["Attributes"]["Timestamp"]
        .as_str()
        .ok_or("no timestamp")?;
    let expires = chrono::DateTime::parse_from_rfc3339(timestamp)?;
    assert!((expires.timestamp() - (Utc::now() + Duration::days(30)).timestamp()).abs() < 60);
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z'),
        "{timestamp}"
    );
    assert_eq!(policies[1].policy_type(), Some("NoChangeNotification"));

    let plain = by_name("plain-token")?;
    assert_eq!(plain.key_id(), Some("alias/tokens"));
    assert_eq!(
        plain.arn(),
        Some(parameter_arn(BASE, REGION, "plain-token").as_str())
    );
    assert_eq!(
        plain.arn(),
        Some("arn:aws:ssm:us-east-1:123456789012:parameter/plain-token")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn filters_select_by_type_path_name_and_tag() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    let cases = [
        (
            filter("Type", None, &["SecureString"])?,
            vec!["/app/api/signing-key", "/app/db/password", "plain-token"],
        ),
        (
            filter("Path", Some("Recursive"), &["/app"])?,
            vec![
                "/app/api/signing-key",
                "/app/cidrs",
                "/app/db/password",
                "/app/db/user",
            ],
        ),
        (
            filter("Path", Some("OneLevel"), &["/app"])?,
            vec!["/app/cidrs"],
        ),
        (
            filter("Path", None, &["/app/db/"])?,
            vec!["/app/db/password", "/app/db/user"],
        ),
        (
            filter("Name", Some("BeginsWith"), &["/app/db"])?,
            vec!["/app/db/password", "/app/db/user"],
        ),
        (filter("Name", None, &["/app/cidrs"])?, vec!["/app/cidrs"]),
        (
            filter("KeyId", None, &[CUSTOMER_KEY])?,
            vec!["/app/api/signing-key"],
        ),
        (
            filter("Tier", None, &["Advanced"])?,
            vec!["/app/api/signing-key"],
        ),
        (
            filter("tag:team", None, &["payments"])?,
            vec!["/app/db/password"],
        ),
        (
            filter("tag:environment", None, &[])?,
            vec!["/app/db/password"],
        ),
    ];
    let mut failures = Vec::new();
    for (filter, expected) in cases {
        let names = names_of(
            client
                .describe_parameters()
                .parameter_filters(filter.clone()),
        )
        .await?;
        if names != expected {
            failures.push(format!("{filter:?}: {names:?}, expected {expected:?}"));
        }
    }

    // Filters hold together.
    let names = names_of(
        client
            .describe_parameters()
            .parameter_filters(filter("Path", Some("Recursive"), &["/app"])?)
            .parameter_filters(filter("Type", None, &["String", "StringList"])?),
    )
    .await?;
    if names != ["/app/cidrs", "/app/db/user"] {
        failures.push(format!("Path and Type: {names:?}"));
    }

    // The deprecated `Filters` still work.
    let names = names_of(
        client.describe_parameters().filters(
            ParametersFilter::builder()
                .key(ParametersFilterKey::Type)
                .values("String")
                .build()?,
        ),
    )
    .await?;
    if names != ["/app/db/user"] {
        failures.push(format!("legacy Type filter: {names:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn invalid_filters_and_tokens_are_refused() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    let cases = [
        (
            client
                .describe_parameters()
                .parameter_filters(filter("Colour", None, &["red"])?),
            "ValidationException",
        ),
        (
            client.describe_parameters().parameter_filters(filter(
                "Path",
                Some("BeginsWith"),
                &["/app"],
            )?),
            "InvalidFilterOption",
        ),
        (
            client
                .describe_parameters()
                .parameter_filters(filter("Type", None, &["Secret"])?),
            "InvalidFilterValue",
        ),
        (
            client
                .describe_parameters()
                .parameter_filters(filter("Name", None, &[])?),
            "InvalidFilterValue",
        ),
        (
            client
                .describe_parameters()
                .parameter_filters(filter("Label", None, &["live"])?),
            "InvalidFilterKey",
        ),
        (
            client
                .describe_parameters()
                .parameter_filters(filter("Path", None, &["app"])?),
            "ValidationException",
        ),
        (
            client.describe_parameters().max_results(51),
            "ValidationException",
        ),
        (
            client.describe_parameters().next_token("not-a-token"),
            "InvalidNextToken",
        ),
    ];
    let mut failures = Vec::new();
    for (request, code) in cases {
        let error = request.send().await.err();
        let got = error.as_ref().and_then(|e| e.code().map(str::to_string));
        if got.as_deref() != Some(code) {
            failures.push(format!("{code}: {got:?}"));
        }
        if let Some(raw) = error.as_ref().and_then(|e| e.raw_response())
            && raw.status().as_u16() != 400
        {
            failures.push(format!("{code}: status {}", raw.status().as_u16()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn tags_are_listed_by_parameter_name() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    let answer = client
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/app/db/password")
        .send()
        .await?;
    let tags: Vec<(&str, &str)> = answer
        .tag_list()
        .iter()
        .map(|tag| (tag.key(), tag.value()))
        .collect();
    assert_eq!(tags, [("team", "payments"), ("environment", "prod")]);

    let untagged = client
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/app/db/user")
        .send()
        .await?;
    assert!(untagged.tag_list().is_empty());

    let error = client
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/nope")
        .send()
        .await
        .err()
        .ok_or("an unknown parameter has tags")?;
    assert_eq!(error.code(), Some("InvalidResourceId"));
    let error = client
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Document)
        .resource_id("AWS-RunShellScript")
        .send()
        .await
        .err()
        .ok_or("a document has tags")?;
    assert_eq!(error.code(), Some("InvalidResourceType"));
    assert_eq!(sim.service_requests("ssm", "ListTagsForResource"), 4);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn value_reads_are_refused_and_counted() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    let errors = [
        client
            .get_parameter()
            .name("/app/db/password")
            .with_decryption(true)
            .send()
            .await
            .err()
            .and_then(|e| e.code().map(str::to_string)),
        client
            .get_parameters()
            .names("/app/db/password")
            .send()
            .await
            .err()
            .and_then(|e| e.code().map(str::to_string)),
        client
            .get_parameters_by_path()
            .path("/app")
            .send()
            .await
            .err()
            .and_then(|e| e.code().map(str::to_string)),
        client
            .get_parameter_history()
            .name("/app/db/password")
            .send()
            .await
            .err()
            .and_then(|e| e.code().map(str::to_string)),
    ];
    for code in errors {
        assert_eq!(code.as_deref(), Some("AccessDeniedException"));
    }
    for operation in simulator::VALUE_OPERATIONS {
        assert_eq!(
            sim.request_counts()
                .get(&("ssm".to_string(), operation.to_string(), BASE.to_string()))
                .copied(),
            Some(1),
            "{operation}"
        );
    }

    // Writes are not simulated at all.
    let error = client
        .put_parameter()
        .name("/new")
        .value("v")
        .send()
        .await
        .err()
        .ok_or("a write was served")?;
    assert_eq!(error.code(), Some("UnknownOperationException"));
    assert_eq!(sim.service_requests("ssm", "PutParameter"), 1);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_denied_account_is_refused_while_another_is_served() -> TestResult {
    let fleet = Fleet::builder()
        .base_account(BASE)
        .regions([REGION])
        .parameter(ParameterSpec::new("/base/p"))
        .account(OTHER)
        .deny_ssm()
        .parameter(ParameterSpec::new("/other/p"))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let base = ssm_client(&sim);
    let other = ssm_client_in(&sim, OTHER).await?;

    let error = other
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("a denied account was served")?;
    assert_eq!(error.code(), Some("AccessDeniedException"));
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("ssm:DescribeParameters")),
        "{:?}",
        error.message()
    );
    let error = other
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/other/p")
        .send()
        .await
        .err()
        .ok_or("a denied account was served")?;
    assert_eq!(error.code(), Some("AccessDeniedException"));
    assert_eq!(
        sim.requests_by_account("DescribeParameters", OTHER),
        1,
        "refused requests count"
    );

    let listed = base.describe_parameters().send().await?;
    assert_eq!(listed.parameters().len(), 1);

    // At run time: a throttle for the base account's SSM only, then a deny.
    sim.fail(
        FaultRule::new(Fault::Throttling)
            .service("ssm")
            .account(BASE)
            .times(1),
    );
    // Another service of the same account is left alone.
    sts_client(&sim, REGION)
        .get_caller_identity()
        .send()
        .await?;
    let error = base
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("not throttled")?;
    assert_eq!(error.code(), Some("ThrottlingException"));
    base.describe_parameters().send().await?;
    sim.deny_ssm(BASE);
    let error = base
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("not denied")?;
    assert_eq!(error.code(), Some("AccessDeniedException"));
    sim.clear_faults();
    base.describe_parameters().send().await?;
    other.describe_parameters().send().await?;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn fleet_files_declare_parameters_and_faults() -> TestResult {
    let yaml = r#"
base_account: "123456789012"
accounts:
  - id: "111111111111"
    deny_ssm: true
faults:
  - service: ssm
    operation: DescribeParameters
    account: "123456789012"
    error: internal_error
    times: 1
parameters:
  - name: /svc/api-key
    key_id: alias/svc
    last_modified: -100d
    tier: Advanced
    policies:
      - { type: Expiration, timestamp: -1d }
  - name: /svc/endpoint
    type: String
    account: "111111111111"
"#;
    let fleet = Fleet::from_yaml_str(yaml, Utc::now())?;
    let sim = start(fleet, localhost()).await?;
    let client = ssm_client(&sim);
    let error = client
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("the fault was not applied")?;
    assert_eq!(error.code(), Some("InternalServerError"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(500));
    let answer = client.describe_parameters().send().await?;
    let parameter = answer.parameters().first().ok_or("nothing listed")?;
    assert_eq!(parameter.key_id(), Some("alias/svc"));
    let policy = parameter.policies().first().ok_or("no policy")?;
    assert_eq!(
        policy.policy_status(),
        Some("Finished"),
        "its time has passed"
    );
    let other = ssm_client_in(&sim, OTHER).await?;
    let error = other
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("served")?;
    assert_eq!(error.code(), Some("AccessDeniedException"));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn short_pages_are_opt_in() -> TestResult {
    let fleet = Fleet::builder()
        .ssm_short_pages(true)
        .parameters((0..30).map(|i| {
            let spec = ParameterSpec::new(format!("/p/{i:02}"));
            if i == 25 { spec.string() } else { spec }
        }))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = ssm_client(&sim);
    let string_only = filter("Type", None, &["String"])?;
    let first = client
        .describe_parameters()
        .max_results(10)
        .parameter_filters(string_only.clone())
        .send()
        .await?;
    assert!(first.parameters().is_empty());
    assert!(
        first.next_token().is_some(),
        "an empty page with more to come"
    );
    let names = names_of(
        client
            .describe_parameters()
            .max_results(10)
            .parameter_filters(string_only.clone()),
    )
    .await?;
    assert_eq!(names, ["/p/25"]);

    sim.set_ssm_short_pages(false);
    let whole = client
        .describe_parameters()
        .max_results(10)
        .parameter_filters(string_only)
        .send()
        .await?;
    assert_eq!(whole.parameters().len(), 1);
    assert!(whole.next_token().is_none());
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn describe_parameters_has_a_quota() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    sim.set_quota("DescribeParameters", Some(1.0));
    client.describe_parameters().send().await?;
    let error = client
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("quota not applied")?;
    assert_eq!(error.code(), Some("ThrottlingException"));
    assert!(
        simulator::AWS_QUOTAS
            .iter()
            .any(|(operation, _)| *operation == "DescribeParameters")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_handle_changes_parameters_at_run_time() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = ssm_client(&sim);
    sim.put_parameter(BASE, REGION, ParameterSpec::new("/app/new").string())?;
    assert!(sim.delete_parameter(BASE, REGION, "/app/db/password"));
    assert!(!sim.delete_parameter(BASE, REGION, "/app/db/password"));
    let names = names_of(client.describe_parameters().parameter_filters(filter(
        "Path",
        None,
        &["/app"],
    )?))
    .await?;
    assert_eq!(names, ["/app/cidrs", "/app/new"]);
    assert!(
        sim.put_parameter(BASE, REGION, ParameterSpec::new("a/b"))
            .is_err()
    );
    assert!(
        sim.put_parameter("999999999999", REGION, ParameterSpec::new("/x"))
            .is_err()
    );
    assert_eq!(sim.parameter_count(BASE, REGION), 5);
    assert_eq!(
        sim.parameter(BASE, REGION, "/app/new")
            .map(|p| p.parameter_type),
        Some(simulator::ParameterType::String)
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_example_fleet_serves_its_parameters() -> TestResult {
    let fleet = Fleet::from_yaml_file(concat!(env!("CARGO_MANIFEST_DIR"), "/fleets/example.yaml"))?;
    let sim = start(fleet, localhost()).await?;
    let base = names_of(ssm_client(&sim).describe_parameters()).await?;
    assert_eq!(
        base,
        [
            "/platform/feature-flags",
            "/platform/grafana/admin-password",
            "/platform/pagerduty/routing-key"
        ]
    );
    let payments = ssm_client_in(&sim, OTHER).await?;
    let answer = payments.describe_parameters().send().await?;
    let signing = answer
        .parameters()
        .iter()
        .find(|p| p.name() == Some("/payments/api/signing-key"))
        .ok_or("not listed")?;
    assert_eq!(signing.policies().len(), 3);
    assert_eq!(signing.tier(), Some(&SdkTier::Advanced));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_credentials_are_refused_and_counted() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let stranger = Credentials::new("AKIANOBODY", "secret", None, None, "test");
    let client = ssm_client_with(&sim, REGION, stranger);
    let error = client
        .describe_parameters()
        .send()
        .await
        .err()
        .ok_or("a stranger was served")?;
    assert_eq!(error.code(), Some("UnrecognizedClientException"));
    assert_eq!(
        sim.request_counts()
            .get(&(
                "ssm".to_string(),
                "DescribeParameters".to_string(),
                "unknown".to_string()
            ))
            .copied(),
        Some(1)
    );
    sim.shutdown().await;
    Ok(())
}
