//! Lambda's `GetFunctionConfiguration` and `GetPolicy` through the real `aws-sdk-lambda`, and
//! the Secrets Manager fields a check of rotation functions reads.

mod common;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_lambda::config::Region;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::types::{LastUpdateStatus as SdkUpdateStatus, State as SdkState};
use chrono::{Duration as ChronoDuration, Timelike, Utc};
use common::{secrets_client, static_credentials};
use serde_json::Value;
use simulator::{
    AWSCURRENT, AWSPREVIOUS, Fault, FaultRule, Fleet, LambdaPolicy, LambdaSpec, LambdaState,
    LastUpdateStatus, RotationSpec, SecretSpec, SimulatorHandle, VersionSpec, lambda_arn, start,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const OTHER: &str = "111111111111";
const REGION: &str = "us-east-1";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn lambda_client_with(
    sim: &SimulatorHandle,
    region: &str,
    credentials: Credentials,
    retry: RetryConfig,
) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .retry_config(retry)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// Retries are off so that every SDK call is exactly one request to count.
fn lambda_client(sim: &SimulatorHandle) -> aws_sdk_lambda::Client {
    lambda_client_with(
        sim,
        REGION,
        static_credentials(&sim.base_credentials()),
        RetryConfig::disabled(),
    )
}

fn fleet() -> Result<Fleet, simulator::FleetError> {
    Fleet::builder()
        .base_account(BASE)
        .regions([REGION])
        .lambda(LambdaSpec::new("rotate-db"))
        .lambda(
            LambdaSpec::new("rotate-broken")
                .runtime("python3.7")
                .state(LambdaState::Failed)
                .state_reason("The security group sg-1 does not exist", Some("InvalidSecurityGroup"))
                .last_update_status(LastUpdateStatus::Failed)
                .last_update_status_reason("Code is too large", Some("InvalidZipFileException"))
                .role("arn:aws:iam::123456789012:role/rotation")
                .without_policy(),
        )
        .lambda(LambdaSpec::new("rotate-other-principal").policy(LambdaPolicy::Document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"*"}]}"#
                .to_string(),
        )))
        .lambda_in(OTHER, REGION, LambdaSpec::new("shared-rotator"))
        .build()
}

#[tokio::test]
async fn configuration_by_name_and_by_arn() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = lambda_client(&sim);
    let arn = lambda_arn(BASE, REGION, "rotate-db");
    for name in [
        "rotate-db".to_string(),
        arn.clone(),
        format!("{BASE}:function:rotate-db"),
    ] {
        let config = client
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await?;
        assert_eq!(config.function_name(), Some("rotate-db"), "{name}");
        assert_eq!(config.function_arn(), Some(arn.as_str()), "{name}");
        assert_eq!(config.state(), Some(&SdkState::Active));
        assert_eq!(
            config.last_update_status(),
            Some(&SdkUpdateStatus::Successful)
        );
        assert_eq!(config.runtime().map(|r| r.as_str()), Some("python3.12"));
        assert_eq!(config.version(), Some("$LATEST"));
        assert_eq!(
            config.role(),
            Some("arn:aws:iam::123456789012:role/service-role/rotate-db-role")
        );
        assert!(config.last_modified().is_some_and(|t| t.ends_with("+0000")));
        assert!(config.state_reason().is_none());
    }

    let qualified = client
        .get_function_configuration()
        .function_name("rotate-db")
        .qualifier("$LATEST")
        .send()
        .await?;
    assert_eq!(
        qualified.function_arn(),
        Some(format!("{arn}:$LATEST").as_str())
    );

    let broken = client
        .get_function_configuration()
        .function_name("rotate-broken")
        .send()
        .await?;
    assert_eq!(broken.state(), Some(&SdkState::Failed));
    assert_eq!(
        broken.state_reason_code().map(|c| c.as_str()),
        Some("InvalidSecurityGroup")
    );
    assert_eq!(broken.last_update_status(), Some(&SdkUpdateStatus::Failed));
    assert_eq!(
        broken.last_update_status_reason(),
        Some("Code is too large")
    );
    assert_eq!(broken.runtime().map(|r| r.as_str()), Some("python3.7"));
    assert_eq!(
        broken.role(),
        Some("arn:aws:iam::123456789012:role/rotation")
    );

    assert_eq!(sim.requests("GetFunctionConfiguration"), 5);
    assert_eq!(
        sim.request_counts()
            .get(&(
                "lambda".to_string(),
                "GetFunctionConfiguration".to_string(),
                BASE.to_string()
            ))
            .copied(),
        Some(5)
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn policies_and_their_absence() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = lambda_client(&sim);
    let arn = lambda_arn(BASE, REGION, "rotate-db");

    let answer = client.get_policy().function_name(&arn).send().await?;
    let policy: Value = serde_json::from_str(answer.policy().ok_or("no policy")?)?;
    let statement = &policy["Statement"][0];
    assert_eq!(
        statement["Principal"]["Service"],
        "secretsmanager.amazonaws.com"
    );
    assert_eq!(statement["Action"], "lambda:InvokeFunction");
    assert_eq!(statement["Resource"], arn.as_str());
    let config = client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await?;
    assert_eq!(answer.revision_id(), config.revision_id());

    let literal = client
        .get_policy()
        .function_name("rotate-other-principal")
        .send()
        .await?;
    assert!(
        literal
            .policy()
            .is_some_and(|p| p.contains("events.amazonaws.com"))
    );

    let error = client
        .get_policy()
        .function_name("rotate-broken")
        .send()
        .await
        .err()
        .ok_or("a function without a policy has one")?;
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        error.message(),
        Some("The resource you requested does not exist.")
    );
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(404));

    // Taking the permission away is seen by the next request.
    sim.update_lambda(BASE, REGION, "rotate-db", LambdaSpec::without_policy)?;
    let error = client
        .get_policy()
        .function_name("rotate-db")
        .send()
        .await
        .err()
        .ok_or("policy still served")?;
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    assert_eq!(sim.requests("GetPolicy"), 4);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_and_deleted_functions_are_not_found() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = lambda_client(&sim);

    let error = client
        .get_function_configuration()
        .function_name("nope")
        .send()
        .await
        .err()
        .ok_or("unknown function found")?;
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    let expected = format!("Function not found: {}", lambda_arn(BASE, REGION, "nope"));
    assert_eq!(error.message(), Some(expected.as_str()));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(404));
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception())
    );

    let error = client
        .get_function_configuration()
        .function_name("rotate-db")
        .qualifier("live")
        .send()
        .await
        .err()
        .ok_or("an alias nobody made was found")?;
    assert_eq!(error.code(), Some("ResourceNotFoundException"));

    assert!(sim.delete_lambda(BASE, REGION, "rotate-db"));
    assert!(!sim.delete_lambda(BASE, REGION, "rotate-db"));
    for error in [
        client
            .get_function_configuration()
            .function_name("rotate-db")
            .send()
            .await
            .err()
            .map(|e| e.code().map(str::to_string)),
        client
            .get_policy()
            .function_name("rotate-db")
            .send()
            .await
            .err()
            .map(|e| e.code().map(str::to_string)),
    ] {
        assert_eq!(error, Some(Some("ResourceNotFoundException".to_string())));
    }

    sim.put_lambda(
        BASE,
        REGION,
        LambdaSpec::new("rotate-db").runtime("nodejs18.x"),
    )?;
    let config = client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await?;
    assert_eq!(config.runtime().map(|r| r.as_str()), Some("nodejs18.x"));

    sim.set_lambda_state(
        BASE,
        REGION,
        "rotate-db",
        LambdaState::Inactive,
        Some("Idle"),
    )?;
    let config = client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await?;
    assert_eq!(config.state(), Some(&SdkState::Inactive));
    assert_eq!(config.state_reason(), Some("Idle"));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn another_accounts_function_is_denied_and_another_regions_unreachable() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = lambda_client(&sim);
    let arn = lambda_arn(OTHER, REGION, "shared-rotator");
    for send in [
        client
            .get_function_configuration()
            .function_name(&arn)
            .send()
            .await
            .err()
            .map(|e| {
                (
                    e.code().map(str::to_string),
                    e.message().map(str::to_string),
                )
            }),
        client
            .get_policy()
            .function_name(&arn)
            .send()
            .await
            .err()
            .map(|e| {
                (
                    e.code().map(str::to_string),
                    e.message().map(str::to_string),
                )
            }),
    ] {
        let (code, message) = send.ok_or("another account's function was readable")?;
        assert_eq!(code.as_deref(), Some("AccessDeniedException"));
        let message = message.unwrap_or_default();
        assert!(
            message.starts_with("User: arn:aws:iam::123456789012:user/simulator is not authorized")
                && message.contains(&format!(
                    "on resource: {arn} because no resource-based policy"
                )),
            "{message}"
        );
    }
    let error = client
        .get_function_configuration()
        .function_name(&arn)
        .send()
        .await
        .err()
        .ok_or("readable")?;
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));

    let error = client
        .get_function_configuration()
        .function_name(lambda_arn(BASE, "eu-west-1", "rotate-db"))
        .send()
        .await
        .err()
        .ok_or("another region's function was reachable")?;
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        error.message(),
        Some("Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn throttling_is_429_and_retried_by_the_sdk() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    sim.set_quota("GetFunctionConfiguration", Some(1.0));
    let client = lambda_client(&sim);
    client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await?;
    let error = client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await
        .err()
        .ok_or("quota not applied")?;
    assert_eq!(error.code(), Some("TooManyRequestsException"));
    let raw = error.raw_response().ok_or("no response")?;
    assert_eq!(raw.status().as_u16(), 429);
    assert_eq!(raw.headers().get("Retry-After"), Some("1"));
    // The quota is per operation: GetPolicy is not throttled.
    client
        .get_policy()
        .function_name("rotate-db")
        .send()
        .await?;
    sim.set_quota("GetFunctionConfiguration", None);

    let retrying = lambda_client_with(
        &sim,
        REGION,
        static_credentials(&sim.base_credentials()),
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(10)),
    );
    sim.fail(
        FaultRule::new(Fault::Throttling)
            .operation("GetPolicy")
            .account(BASE)
            .region(REGION)
            .times(2),
    );
    sim.reset_counts();
    retrying
        .get_policy()
        .function_name("rotate-db")
        .send()
        .await?;
    assert_eq!(sim.requests("GetPolicy"), 3);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn faults_have_lambdas_codes() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = lambda_client(&sim);
    for (fault, code, status) in [
        (Fault::InternalError, "ServiceException", 500),
        (Fault::AccessDenied, "AccessDeniedException", 403),
        (Fault::Throttling, "TooManyRequestsException", 429),
    ] {
        sim.fail(
            FaultRule::new(fault)
                .operation("GetFunctionConfiguration")
                .times(1),
        );
        let error = client
            .get_function_configuration()
            .function_name("rotate-db")
            .send()
            .await
            .err()
            .ok_or("fault not applied")?;
        assert_eq!(error.code(), Some(code));
        assert_eq!(
            error.raw_response().map(|r| r.status().as_u16()),
            Some(status)
        );
    }
    sim.fail(
        FaultRule::new(Fault::MalformedBody)
            .operation("GetPolicy")
            .times(1),
    );
    let error = client.get_policy().function_name("rotate-db").send().await;
    assert!(error.is_err(), "a cut body was read");

    // A fault for another account leaves this one alone.
    sim.fail(FaultRule::new(Fault::InternalError).account(OTHER));
    client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await?;

    sim.fail(FaultRule::new(Fault::Delay(Duration::from_millis(200))).operation("GetPolicy"));
    let started = std::time::Instant::now();
    client
        .get_policy()
        .function_name("rotate-db")
        .send()
        .await?;
    assert!(started.elapsed() >= Duration::from_millis(200));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_credentials_are_refused() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let stranger = Credentials::new("AKIANOBODY", "secret", None, None, "test");
    let client = lambda_client_with(&sim, REGION, stranger, RetryConfig::disabled());
    let error = client
        .get_function_configuration()
        .function_name("rotate-db")
        .send()
        .await
        .err()
        .ok_or("a stranger was served")?;
    assert_eq!(error.code(), Some("UnrecognizedClientException"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        sim.requests_by_account("GetFunctionConfiguration", "unknown"),
        1
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn fleet_files_declare_lambdas() -> TestResult {
    let yaml = r#"
base_account: "123456789012"
accounts:
  - id: "111111111111"
    regions: [eu-west-1]
lambdas:
  - name: rotate-ok
  - name: rotate-old
    runtime: nodejs14.x
    state: Inactive
    state_reason: Idle for 14 days
    last_update_status: InProgress
    policy: { allow_secretsmanager: false }
  - name: rotate-odd
    account: "111111111111"
    policy: '{"Version":"2012-10-17","Statement":[]}'
secrets:
  - name: orphan
    rotation:
      lambda_arn: arn:aws:lambda:us-east-1:123456789012:function:deleted-long-ago
      automatically_after_days: 30
"#;
    let fleet = Fleet::from_yaml_str(yaml, Utc::now())?;
    let placed: Vec<_> = fleet
        .lambdas()
        .iter()
        .map(|p| {
            (
                p.account.as_str(),
                p.region.as_str(),
                p.lambda.name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            (BASE, REGION, "rotate-ok"),
            (BASE, REGION, "rotate-old"),
            (OTHER, "eu-west-1", "rotate-odd"),
        ]
    );
    let sim = start(fleet, localhost()).await?;
    let client = lambda_client(&sim);
    let old = client
        .get_function_configuration()
        .function_name("rotate-old")
        .send()
        .await?;
    assert_eq!(old.state(), Some(&SdkState::Inactive));
    assert_eq!(old.state_reason(), Some("Idle for 14 days"));
    assert_eq!(old.last_update_status(), Some(&SdkUpdateStatus::InProgress));
    assert_eq!(old.runtime().map(|r| r.as_str()), Some("nodejs14.x"));
    let error = client.get_policy().function_name("rotate-old").send().await;
    assert_eq!(
        error
            .err()
            .and_then(|e| e.code().map(str::to_string))
            .as_deref(),
        Some("ResourceNotFoundException")
    );
    let error = client
        .get_function_configuration()
        .function_name("deleted-long-ago")
        .send()
        .await;
    assert_eq!(
        error
            .err()
            .and_then(|e| e.code().map(str::to_string))
            .as_deref(),
        Some("ResourceNotFoundException")
    );
    sim.shutdown().await;
    Ok(())
}

#[test]
fn fleet_files_refuse_bad_lambdas_with_their_path() {
    let cases = [
        (
            "lambdas:\n  - name: a\n    colour: red\n",
            "lambdas[0]: unknown field `colour`",
        ),
        (
            "lambdas:\n  - name: a\n    state: Sleeping\n",
            "lambdas[0].state: unknown variant `Sleeping`",
        ),
        (
            "lambdas:\n  - name: a\n    last_update_status: Done\n",
            "lambdas[0].last_update_status: unknown variant `Done`",
        ),
        (
            "lambdas:\n  - name: has.dot\n",
            "lambdas[0].name: function name `has.dot`",
        ),
        (
            "lambdas:\n  - name: a\n    policy: 'not json'\n",
            "lambdas[0].policy: not a JSON document",
        ),
        (
            "lambdas:\n  - name: a\n    account: \"999999999999\"\n",
            "lambdas[0].account: account 999999999999 is not listed",
        ),
        (
            "lambdas:\n  - name: a\n  - name: a\n",
            "function a in 123456789012/us-east-1: the name is used twice",
        ),
        (
            "lambdas:\n  - name: a\n    last_modified: soon\n",
            "lambdas[0].last_modified: `soon`",
        ),
        (
            "lambdas:\n  - name: a\n    policy: { allow: true }\n",
            "lambdas[0].policy: expected a policy document as a string, or { allow_secretsmanager",
        ),
    ];
    for (yaml, expected) in cases {
        let error = Fleet::from_yaml_str(yaml, Utc::now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with(expected), "{yaml}\n=> {error}");
    }
    let error = Fleet::builder()
        .lambda(LambdaSpec::new("a").policy(LambdaPolicy::Document("{".into())))
        .build()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("not a JSON document"), "{error}");
}

#[tokio::test]
async fn version_access_dates_are_days() -> TestResult {
    let read_at = Utc::now() - ChronoDuration::days(2);
    let fleet = Fleet::builder()
        .secret(
            SecretSpec::new("app/db")
                .rotation(RotationSpec::every_days(30).lambda(lambda_arn(
                    BASE,
                    REGION,
                    "rotate-db",
                )))
                .versions([
                    VersionSpec::current(Utc::now() - ChronoDuration::days(3)),
                    VersionSpec::previous(Utc::now() - ChronoDuration::days(33))
                        .last_accessed(read_at),
                ]),
        )
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, REGION);
    let answer = client
        .list_secret_version_ids()
        .secret_id("app/db")
        .send()
        .await?;
    let versions = answer.versions();
    let current = versions
        .iter()
        .find(|v| v.version_stages().contains(&AWSCURRENT.to_string()))
        .ok_or("no current version")?;
    assert!(current.last_accessed_date().is_none());
    let previous = versions
        .iter()
        .find(|v| v.version_stages().contains(&AWSPREVIOUS.to_string()))
        .ok_or("no previous version")?;
    let day = read_at
        .with_hour(0)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .ok_or("no midnight")?;
    assert_eq!(
        previous.last_accessed_date().map(|d| d.secs()),
        Some(day.timestamp())
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn external_secrets_carry_their_type_metadata_and_role() -> TestResult {
    let role = "arn:aws:iam::123456789012:role/external-rotation";
    let fleet = Fleet::builder()
        .secret(
            SecretSpec::new("partner/api")
                .secret_type("SalesforceClientSecret")
                .external_secret_rotation_metadata("instance", "acme.my.salesforce.com")
                .external_secret_rotation_metadata("client", "rotation")
                .external_secret_rotation_role_arn(role)
                .rotation(RotationSpec::every_days(30)),
        )
        .secret(SecretSpec::new("plain"))
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = secrets_client(&sim, REGION);
    let listed = client.list_secrets().send().await?;
    let external = listed
        .secret_list()
        .iter()
        .find(|s| s.name() == Some("partner/api"))
        .ok_or("not listed")?;
    assert_eq!(external.r#type(), Some("SalesforceClientSecret"));
    let metadata: Vec<(Option<&str>, Option<&str>)> = external
        .external_secret_rotation_metadata()
        .iter()
        .map(|item| (item.key(), item.value()))
        .collect();
    assert_eq!(
        metadata,
        [
            (Some("instance"), Some("acme.my.salesforce.com")),
            (Some("client"), Some("rotation"))
        ]
    );
    assert_eq!(external.external_secret_rotation_role_arn(), Some(role));
    assert_eq!(external.rotation_lambda_arn(), None);
    let plain = listed
        .secret_list()
        .iter()
        .find(|s| s.name() == Some("plain"))
        .ok_or("not listed")?;
    assert_eq!(plain.r#type(), None);
    assert!(plain.external_secret_rotation_metadata.is_none());
    assert_eq!(plain.external_secret_rotation_role_arn(), None);

    let described = client
        .describe_secret()
        .secret_id("partner/api")
        .send()
        .await?;
    assert_eq!(described.r#type(), Some("SalesforceClientSecret"));
    assert_eq!(described.external_secret_rotation_metadata().len(), 2);
    assert_eq!(described.external_secret_rotation_role_arn(), Some(role));

    let yaml = r#"
secrets:
  - name: partner/api
    type: SalesforceClientSecret
    external_secret_rotation_metadata: { instance: acme.my.salesforce.com }
    external_secret_rotation_role_arn: arn:aws:iam::123456789012:role/external-rotation
"#;
    let fleet = Fleet::from_yaml_str(yaml, Utc::now())?;
    let secret = &fleet.secrets()[0].secret;
    assert_eq!(
        secret.secret_type.as_deref(),
        Some("SalesforceClientSecret")
    );
    assert_eq!(
        secret.external_secret_rotation_metadata,
        [("instance".to_string(), "acme.my.salesforce.com".to_string())]
    );
    assert_eq!(
        secret.external_secret_rotation_role_arn.as_deref(),
        Some(role)
    );
    sim.shutdown().await;
    Ok(())
}
