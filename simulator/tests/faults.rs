//! Injected faults, as the SDK classifies them.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use common::{secrets_client, secrets_client_with, static_credentials, sts_client};
use simulator::{Fault, FaultRule, Fleet, SecretSpec, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn fleet() -> Result<Fleet, simulator::FleetError> {
    Fleet::builder()
        .regions(["us-east-1", "eu-west-1"])
        .secret(SecretSpec::new("a"))
        .account("111111111111")
        .build()
}

#[tokio::test]
async fn each_fault_has_the_code_the_sdk_knows() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let client = secrets_client(&sim, "us-east-1");

    for (fault, code) in [
        (Fault::Throttling, "ThrottlingException"),
        (Fault::AccessDenied, "AccessDeniedException"),
        (Fault::InternalError, "InternalServiceError"),
    ] {
        sim.fail(FaultRule::new(fault).operation("ListSecrets").times(1));
        let error = client
            .list_secrets()
            .send()
            .await
            .err()
            .ok_or("fault not applied")?;
        assert_eq!(error.code(), Some(code));
    }
    client.list_secrets().send().await?;
    Ok(())
}

#[tokio::test]
async fn the_sdk_retries_throttling_until_the_fault_is_used_up() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let retrying = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10));
    let client = secrets_client_with(
        &sim,
        "us-east-1",
        static_credentials(&sim.base_credentials()),
        retrying,
    );
    sim.fail(
        FaultRule::new(Fault::Throttling)
            .operation("ListSecrets")
            .times(2),
    );

    let listed = client.list_secrets().send().await?;

    assert_eq!(listed.secret_list().len(), 1);
    assert_eq!(
        sim.requests("ListSecrets"),
        3,
        "two throttled attempts, then success"
    );
    Ok(())
}

#[tokio::test]
async fn faults_aim_at_one_account_and_region() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    sim.fail(
        FaultRule::new(Fault::AccessDenied)
            .operation("ListSecrets")
            .account(BASE)
            .region("eu-west-1"),
    );

    let europe = secrets_client(&sim, "eu-west-1")
        .list_secrets()
        .send()
        .await;
    let america = secrets_client(&sim, "us-east-1")
        .list_secrets()
        .send()
        .await;
    let describe = secrets_client(&sim, "eu-west-1")
        .describe_secret()
        .secret_id("a")
        .send()
        .await;

    assert_eq!(
        europe.err().as_ref().and_then(|e| e.code()),
        Some("AccessDeniedException")
    );
    assert!(america.is_ok());
    assert_eq!(
        describe.err().as_ref().and_then(|e| e.code()),
        Some("ResourceNotFoundException"),
        "another operation is not faulted"
    );
    sim.clear_faults();
    secrets_client(&sim, "eu-west-1")
        .list_secrets()
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_delay_slows_the_answer_without_failing_it() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    sim.fail(FaultRule::new(Fault::Delay(Duration::from_millis(300))).times(1));
    let client = secrets_client(&sim, "us-east-1");

    let started = Instant::now();
    client.list_secrets().send().await?;
    let slow = started.elapsed();
    let started = Instant::now();
    client.list_secrets().send().await?;
    let fast = started.elapsed();

    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    assert!(fast < Duration::from_millis(300), "{fast:?}");
    Ok(())
}

#[tokio::test]
async fn sts_faults_use_the_query_protocol_codes() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let sts = sts_client(&sim, "us-east-1");
    sim.fail(
        FaultRule::new(Fault::Throttling)
            .operation("AssumeRole")
            .account("111111111111")
            .times(1),
    );

    let error = sts
        .assume_role()
        .role_arn("arn:aws:iam::111111111111:role/reader")
        .role_session_name("session")
        .send()
        .await
        .err()
        .ok_or("throttle not applied")?;
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&error),
        Some("Throttling")
    );

    sim.fail(
        FaultRule::new(Fault::InternalError)
            .operation("GetCallerIdentity")
            .times(1),
    );
    let error = sts
        .get_caller_identity()
        .send()
        .await
        .err()
        .ok_or("fault not applied")?;
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&error),
        Some("InternalFailure")
    );

    sts.assume_role()
        .role_arn("arn:aws:iam::111111111111:role/reader")
        .role_session_name("session")
        .send()
        .await?;
    Ok(())
}
