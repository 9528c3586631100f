//! STS and credentials as the real SDK sees them.

mod common;

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use common::{
    sdk_config, secrets_client, secrets_client_with, static_credentials, sts_client,
    sts_client_with,
};
use simulator::{Fleet, SecretSpec, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const MEMBER: &str = "111111111111";
const DENIED: &str = "222222222222";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn fleet() -> Result<Fleet, simulator::FleetError> {
    Fleet::builder()
        .base_account(BASE)
        .regions(["us-east-1", "eu-west-1"])
        .secret(SecretSpec::new("base-only"))
        .account(MEMBER)
        .external_id("shared-secret")
        .secret(SecretSpec::new("member/db"))
        .account(DENIED)
        .deny_assume_role()
        .build()
}

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/secrets-rotation-reader")
}

#[tokio::test]
async fn caller_identity_is_the_base_account() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;

    let identity = sts_client(&sim, "us-east-1")
        .get_caller_identity()
        .send()
        .await?;

    assert_eq!(identity.account(), Some(BASE));
    assert_eq!(sim.base_account(), BASE);
    Ok(())
}

#[tokio::test]
async fn assumed_credentials_reach_the_role_account_and_the_call_is_recorded() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;

    let assumed = sts_client(&sim, "us-east-1")
        .assume_role()
        .role_arn(role(MEMBER))
        .role_session_name("exporter")
        .external_id("shared-secret")
        .send()
        .await?;
    let credentials = assumed.credentials().ok_or("no credentials")?;
    assert!(credentials.access_key_id().starts_with("ASIA"));
    assert!(credentials.expiration().secs() > chrono::Utc::now().timestamp() + 3000);
    assert_eq!(
        assumed.assumed_role_user().map(|u| u.arn()),
        Some("arn:aws:sts::111111111111:assumed-role/secrets-rotation-reader/exporter")
    );
    let sdk_credentials = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        None,
        "assumed",
    );
    let member = secrets_client_with(
        &sim,
        "us-east-1",
        sdk_credentials.clone(),
        aws_sdk_secretsmanager::config::retry::RetryConfig::disabled(),
    );

    let listed = member.list_secrets().send().await?;
    let names: Vec<_> = listed
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(names, ["member/db"]);
    let identity = sts_client_with(&sim, "us-east-1", sdk_credentials)
        .get_caller_identity()
        .send()
        .await?;
    assert_eq!(identity.account(), Some(MEMBER));

    let calls = sim.assume_role_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].caller_account, BASE);
    assert_eq!(calls[0].role_arn, role(MEMBER));
    assert_eq!(calls[0].role_session_name.as_deref(), Some("exporter"));
    assert_eq!(calls[0].external_id.as_deref(), Some("shared-secret"));
    assert!(calls[0].granted);
    assert_eq!(sim.requests_by_account("AssumeRole", MEMBER), 1);
    assert_eq!(sim.requests_by_account("ListSecrets", MEMBER), 1);
    assert_eq!(sim.requests_by_account("ListSecrets", BASE), 0);
    Ok(())
}

#[tokio::test]
async fn the_aws_config_assume_role_provider_works_against_the_simulator() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let base = sdk_config(&sim, "eu-west-1").await;

    let provider = AssumeRoleProvider::builder(role(MEMBER))
        .session_name("provider")
        .external_id("shared-secret")
        .configure(&base)
        .build()
        .await;
    let credentials = provider.provide_credentials().await?;
    let client = secrets_client_with(
        &sim,
        "us-east-1",
        credentials,
        aws_sdk_secretsmanager::config::retry::RetryConfig::disabled(),
    );

    let listed = client.list_secrets().send().await?;
    assert_eq!(listed.secret_list().len(), 1);
    assert_eq!(
        sim.assume_role_calls()[0].role_session_name.as_deref(),
        Some("provider")
    );
    Ok(())
}

#[tokio::test]
async fn denied_unknown_and_wrong_external_id_roles_answer_access_denied() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let sts = sts_client(&sim, "us-east-1");
    let assume = |account: &str, external_id: Option<&str>| {
        sts.assume_role()
            .role_arn(role(account))
            .role_session_name("exporter")
            .set_external_id(external_id.map(str::to_string))
            .send()
    };

    for (account, external_id) in [
        (DENIED, None),
        ("333333333333", None),
        (MEMBER, None),
        (MEMBER, Some("wrong")),
    ] {
        let error = assume(account, external_id).await.err().ok_or(format!(
            "AssumeRole into {account} with {external_id:?} was granted"
        ))?;
        assert_eq!(
            error.code(),
            Some("AccessDenied"),
            "{account} {external_id:?}"
        );
    }
    assert!(sim.assume_role_calls().iter().all(|call| !call.granted));

    sim.allow_assume_role(DENIED)?;
    assume(DENIED, None).await?;
    sim.deny_assume_role(MEMBER)?;
    let error = assume(MEMBER, Some("shared-secret"))
        .await
        .err()
        .ok_or("granted")?;
    assert_eq!(error.code(), Some("AccessDenied"));
    Ok(())
}

#[tokio::test]
async fn unknown_keys_are_refused_by_both_protocols() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let stranger =
        aws_credential_types::Credentials::new("AKIANOTISSUED0000000", "x", None, None, "test");

    let sm = secrets_client_with(
        &sim,
        "us-east-1",
        stranger.clone(),
        aws_sdk_secretsmanager::config::retry::RetryConfig::disabled(),
    );
    let error = sm
        .list_secrets()
        .send()
        .await
        .err()
        .ok_or("stranger listed secrets")?;
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&error),
        Some("UnrecognizedClientException")
    );
    let error = sts_client_with(&sim, "us-east-1", stranger)
        .get_caller_identity()
        .send()
        .await
        .err()
        .ok_or("stranger identified")?;
    assert_eq!(error.code(), Some("InvalidClientTokenId"));
    assert_eq!(sim.requests_by_account("ListSecrets", "unknown"), 1);
    Ok(())
}

#[tokio::test]
async fn expired_assumed_credentials_are_refused_and_base_ones_are_not() -> TestResult {
    let sim = start(fleet()?, localhost()).await?;
    let assumed = sts_client(&sim, "us-east-1")
        .assume_role()
        .role_arn(role(MEMBER))
        .role_session_name("exporter")
        .external_id("shared-secret")
        .send()
        .await?;
    let issued = assumed.credentials().ok_or("no credentials")?;
    let credentials = simulator::Credentials {
        access_key_id: issued.access_key_id().to_string(),
        secret_access_key: issued.secret_access_key().to_string(),
        session_token: Some(issued.session_token().to_string()),
    };

    sim.expire_assumed_credentials();

    let client = secrets_client_with(
        &sim,
        "us-east-1",
        static_credentials(&credentials),
        aws_sdk_secretsmanager::config::retry::RetryConfig::disabled(),
    );
    let error = client
        .list_secrets()
        .send()
        .await
        .err()
        .ok_or("expired key accepted")?;
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&error),
        Some("ExpiredTokenException")
    );
    secrets_client(&sim, "us-east-1")
        .list_secrets()
        .send()
        .await?;
    Ok(())
}
