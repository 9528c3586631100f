//! CloudWatch over RPC v2 CBOR, through the real SDK: metric data (gzip-compressed when large),
//! alarms with pagination and tags, the quotas and the error codes the SDK reads.

mod common;

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::config::Region;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricDatum, Statistic, Tag,
};
use common::static_credentials;
use simulator::{Fault, FaultRule, Fleet, SimulatorHandle, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn simulator() -> Result<SimulatorHandle, Box<dyn std::error::Error>> {
    let fleet = Fleet::builder()
        .regions(["us-east-1", "eu-west-1"])
        .build()?;
    Ok(start(fleet, localhost()).await?)
}

/// Retries are off so that every call is one request to count.
fn client(sim: &SimulatorHandle, region: &str) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(region.to_string()))
        .credentials_provider(static_credentials(&sim.base_credentials()))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

fn datum(name: &str, account: &str, value: f64) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .dimensions(
            Dimension::builder()
                .name("AccountId")
                .value(account)
                .build(),
        )
        .value(value)
        .build()
}

fn alarm(
    client: &aws_sdk_cloudwatch::Client,
    name: &str,
    threshold: f64,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("SecretsRotation")
        .metric_name("RotationFailures")
        .statistic(Statistic::Maximum)
        .period(300)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
}

#[tokio::test]
async fn metric_data_is_stored_per_account_and_region_even_when_gzipped() -> TestResult {
    let sim = simulator().await?;
    let east = client(&sim, "us-east-1");
    east.put_metric_data()
        .namespace("SecretsRotation")
        .metric_data(datum("Secrets", "111111111111", 12.0))
        .metric_data(datum("RotationFailures", "111111111111", 1.0))
        .send()
        .await?;
    // 1,000 data make a body well past the SDK's 10 KB compression threshold.
    let mut large = east.put_metric_data().namespace("Bulk");
    for i in 0..1000 {
        large = large.metric_data(datum("Secrets", &format!("{:012}", i), f64::from(i)));
    }
    large.send().await?;

    let data = sim.cloudwatch_metric_data(BASE, "us-east-1");
    assert_eq!(data.len(), 1002);
    let failures = data
        .iter()
        .find(|d| d.metric_name == "RotationFailures")
        .ok_or("RotationFailures missing")?;
    assert_eq!(failures.namespace, "SecretsRotation");
    assert_eq!(failures.value, Some(1.0));
    assert_eq!(
        failures.dimensions.get("AccountId").map(String::as_str),
        Some("111111111111")
    );
    let last = data.last().ok_or("no data")?;
    assert_eq!((last.namespace.as_str(), last.value), ("Bulk", Some(999.0)));
    assert!(sim.cloudwatch_metric_data(BASE, "eu-west-1").is_empty());

    let listed = east
        .list_metrics()
        .namespace("SecretsRotation")
        .send()
        .await?;
    let mut names: Vec<&str> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["RotationFailures", "Secrets"]);
    assert_eq!(sim.requests("PutMetricData"), 2);
    Ok(())
}

#[tokio::test]
async fn put_metric_data_refuses_what_aws_refuses() -> TestResult {
    let sim = simulator().await?;
    let east = client(&sim, "us-east-1");
    let error = east
        .put_metric_data()
        .namespace("SecretsRotation")
        .metric_data(datum("Secrets", BASE, f64::NAN))
        .send()
        .await
        .err()
        .ok_or("NaN accepted")?;
    assert_eq!(error.code(), Some("InvalidParameterValue"));

    let mut too_many = east.put_metric_data().namespace("SecretsRotation");
    for _ in 0..1001 {
        too_many = too_many.metric_data(datum("Secrets", BASE, 1.0));
    }
    let error = too_many.send().await.err().ok_or("1,001 data accepted")?;
    assert_eq!(error.code(), Some("InvalidParameterValue"));

    let error = east
        .put_metric_data()
        .namespace("AWS/SecretsManager")
        .metric_data(datum("Secrets", BASE, 1.0))
        .send()
        .await
        .err()
        .ok_or("an AWS/ namespace accepted")?;
    assert_eq!(error.code(), Some("InvalidParameterValue"));

    let error = east
        .put_metric_data()
        .metric_data(datum("Secrets", BASE, 1.0))
        .send()
        .await
        .err()
        .ok_or("a missing namespace accepted")?;
    assert_eq!(error.code(), Some("MissingParameter"));
    assert!(sim.cloudwatch_metric_data(BASE, "us-east-1").is_empty());
    Ok(())
}

#[tokio::test]
async fn alarms_are_paginated_filtered_by_prefix_and_keep_their_creation_tags() -> TestResult {
    let sim = simulator().await?;
    sim.set_put_metric_alarm_rate(None);
    let east = client(&sim, "us-east-1");
    for i in 0..120 {
        alarm(&east, &format!("managed-{i:03}"), 1.0)
            .tags(Tag::builder().key("managed-by").value("test").build())
            .send()
            .await?;
    }
    alarm(&east, "hand-made", 1.0).send().await?;

    let mut names = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let page = east
            .describe_alarms()
            .alarm_name_prefix("managed-")
            .alarm_types(AlarmType::MetricAlarm)
            .max_records(50)
            .set_next_token(token)
            .send()
            .await?;
        pages += 1;
        names.extend(
            page.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 120);
    assert!(!names.contains(&"hand-made".to_string()));

    // An update changes the definition but, as on AWS, not the tags.
    alarm(&east, "managed-000", 5.0)
        .tags(Tag::builder().key("other").value("x").build())
        .send()
        .await?;
    let described = east
        .describe_alarms()
        .alarm_names("managed-000")
        .send()
        .await?;
    let updated = described.metric_alarms().first().ok_or("alarm missing")?;
    assert_eq!(updated.threshold(), Some(5.0));
    assert_eq!(updated.period(), Some(300));
    let arn = updated.alarm_arn().ok_or("no ARN")?;
    assert_eq!(
        arn,
        format!("arn:aws:cloudwatch:us-east-1:{BASE}:alarm:managed-000")
    );
    let tags = east
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await?;
    let keys: Vec<&str> = tags.tags().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["managed-by"]);

    // Deleting a name that does not exist deletes nothing.
    let error = east
        .delete_alarms()
        .alarm_names("managed-001")
        .alarm_names("no-such-alarm")
        .send()
        .await
        .err()
        .ok_or("unknown alarm deleted")?;
    assert_eq!(error.code(), Some("ResourceNotFound"));
    assert_eq!(sim.cloudwatch_alarms(BASE, "us-east-1").len(), 121);
    east.delete_alarms()
        .alarm_names("managed-001")
        .send()
        .await?;
    assert_eq!(sim.cloudwatch_alarms(BASE, "us-east-1").len(), 120);
    assert!(sim.cloudwatch_alarms(BASE, "eu-west-1").is_empty());
    Ok(())
}

#[tokio::test]
async fn put_metric_alarm_is_held_to_three_requests_a_second() -> TestResult {
    let sim = simulator().await?;
    let east = client(&sim, "us-east-1");
    let mut throttled = 0;
    for i in 0..5 {
        if let Err(error) = alarm(&east, &format!("a{i}"), 1.0).send().await {
            assert_eq!(error.code(), Some("Throttling"));
            throttled += 1;
        }
    }
    assert!(throttled >= 1, "5 alarms in a burst were all accepted");
    assert_eq!(sim.requests("PutMetricAlarm"), 5);
    // Another region has its own quota.
    alarm(&client(&sim, "eu-west-1"), "a0", 1.0).send().await?;
    Ok(())
}

#[tokio::test]
async fn faults_and_unknown_credentials_have_the_codes_the_sdk_reads() -> TestResult {
    let sim = simulator().await?;
    let east = client(&sim, "us-east-1");
    for (fault, code) in [
        (Fault::Throttling, "Throttling"),
        (Fault::AccessDenied, "AccessDenied"),
        (Fault::InternalError, "InternalServiceError"),
    ] {
        sim.fail(FaultRule::new(fault).operation("PutMetricData").times(1));
        let error = east
            .put_metric_data()
            .namespace("SecretsRotation")
            .metric_data(datum("Secrets", BASE, 1.0))
            .send()
            .await
            .err()
            .ok_or("fault not applied")?;
        assert_eq!(error.code(), Some(code));
    }
    assert!(sim.cloudwatch_metric_data(BASE, "us-east-1").is_empty());

    let stranger = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(sim.endpoint_url())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                "AKIAUNKNOWN",
                "x",
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let error = stranger
        .describe_alarms()
        .send()
        .await
        .err()
        .ok_or("unknown key accepted")?;
    assert_eq!(error.code(), Some("InvalidClientTokenId"));
    assert_eq!(sim.requests_by_account("DescribeAlarms", "unknown"), 1);
    Ok(())
}
