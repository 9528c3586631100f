//! SDK clients pointed at a running simulator, configured the way the exporter configures them.
#![allow(dead_code)]

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::config::Region;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use simulator::SimulatorHandle;

pub fn static_credentials(credentials: &simulator::Credentials) -> Credentials {
    Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "simulator",
    )
}

/// Retries are off so that every SDK call is exactly one request to count.
pub fn secrets_client_with(
    sim: &SimulatorHandle,
    region: &str,
    credentials: Credentials,
    retry: RetryConfig,
) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .retry_config(retry)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

pub fn secrets_client(sim: &SimulatorHandle, region: &str) -> aws_sdk_secretsmanager::Client {
    secrets_client_with(
        sim,
        region,
        static_credentials(&sim.base_credentials()),
        RetryConfig::disabled(),
    )
}

pub fn sts_client_with(
    sim: &SimulatorHandle,
    region: &str,
    credentials: Credentials,
) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(aws_sdk_sts::config::Region::new(region.to_string()))
        .credentials_provider(credentials)
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

pub fn sts_client(sim: &SimulatorHandle, region: &str) -> aws_sdk_sts::Client {
    sts_client_with(sim, region, static_credentials(&sim.base_credentials()))
}

/// An `SdkConfig` as `aws_config` loads one, for the providers that take it (AssumeRoleProvider).
pub async fn sdk_config(sim: &SimulatorHandle, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_string()))
        .credentials_provider(static_credentials(&sim.base_credentials()))
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// Every secret name of a region, page by page, with the size of each page.
pub async fn list_all(
    client: &aws_sdk_secretsmanager::Client,
    page_size: i32,
) -> Result<(Vec<String>, Vec<usize>), aws_sdk_secretsmanager::Error> {
    let mut names = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_secrets()
            .max_results(page_size)
            .set_next_token(token.take())
            .send()
            .await?;
        pages.push(page.secret_list().len());
        names.extend(
            page.secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_string)),
        );
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok((names, pages)),
        }
    }
}

pub fn cloudtrail_client_with(
    sim: &SimulatorHandle,
    region: &str,
    credentials: Credentials,
) -> aws_sdk_cloudtrail::Client {
    let config = aws_sdk_cloudtrail::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(aws_sdk_cloudtrail::config::Region::new(region.to_string()))
        .credentials_provider(credentials)
        .retry_config(aws_sdk_cloudtrail::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_cloudtrail::Client::from_conf(config)
}

pub fn cloudtrail_client(sim: &SimulatorHandle, region: &str) -> aws_sdk_cloudtrail::Client {
    cloudtrail_client_with(sim, region, static_credentials(&sim.base_credentials()))
}
