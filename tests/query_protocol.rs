//! RDS and EC2 requests as they leave the exporter: form-encoded, signed
//! with SigV4 for the service and region, retried on AWS's throttling codes
//! and counted, against a bare HTTP server that records what it is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use secrets_rotation_exporter::aws::ec2::Ec2Api;
use secrets_rotation_exporter::aws::rds::RdsApi;
use secrets_rotation_exporter::aws::{ClientFactory, RequestCounter, Target};
use secrets_rotation_exporter::config::AwsClientSettings;
use secrets_rotation_exporter::metrics::ExporterMetrics;
use secrets_rotation_exporter::snapshot::ErrorReason;

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    authorization: String,
    content_type: String,
    body: String,
}

/// Answers each request with the next of `answers` (the last one again
/// once they run out), and keeps what it was sent.
#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Vec<(u16, &'static str)>>,
}

async fn answer(
    State(server): State<Server>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let index = {
        let mut seen = server.seen.lock().unwrap();
        seen.push(Seen {
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        seen.len() - 1
    };
    let (status, text) = server.answers[index.min(server.answers.len() - 1)];
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "text/xml")],
        text,
    )
}

async fn start(answers: Vec<(u16, &'static str)>) -> (Server, String) {
    let server = Server {
        seen: Arc::default(),
        answers: Arc::new(answers),
    };
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (server, url)
}

fn factory_at(endpoint: &str) -> (ClientFactory, ExporterMetrics) {
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_types::region::Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .endpoint_url(endpoint)
        .build();
    let metrics = ExporterMetrics::new("test", "test").unwrap();
    let settings = AwsClientSettings {
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(10),
        target_timeout: Duration::from_secs(30),
        max_concurrent_targets: 4,
        max_attempts: 3,
        role_session_name: "test".into(),
    };
    (
        ClientFactory::new(base, settings, RequestCounter::new(metrics.clone())),
        metrics,
    )
}

fn target() -> Target {
    Target {
        account_id: "111111111111".into(),
        account_name: None,
        role_arn: None,
        external_id: None,
        region: "eu-west-1".into(),
    }
}

fn rendered(metrics: &ExporterMetrics) -> String {
    let mut out = String::new();
    metrics.render(&mut out).unwrap();
    out
}

const INSTANCES: &str = r#"<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult><DBInstances><DBInstance>
    <DBInstanceIdentifier>orders</DBInstanceIdentifier><Engine>postgres</Engine>
  </DBInstance></DBInstances></DescribeDBInstancesResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</DescribeDBInstancesResponse>"#;

#[tokio::test]
async fn an_rds_request_is_a_signed_form_post_for_rds_in_the_targets_region() {
    let (server, url) = start(vec![(200, INSTANCES)]).await;
    let (factory, metrics) = factory_at(&url);
    let page = factory
        .describe_db_instances(&target(), Some("m1".into()))
        .await
        .expect("the page");
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].identifier.as_deref(), Some("orders"));
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        request.body,
        "Action=DescribeDBInstances&Version=2014-10-31&MaxRecords=100&Marker=m1"
    );
    assert!(
        request
            .content_type
            .starts_with("application/x-www-form-urlencoded"),
        "{request:?}"
    );
    assert!(
        request
            .authorization
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && request
                .authorization
                .contains("/eu-west-1/rds/aws4_request"),
        "{request:?}"
    );
    assert!(
        rendered(&metrics).contains(
            r#"secrets_rotation_exporter_aws_requests_total{operation="DescribeDBInstances",outcome="ok",service="rds"} 1"#
        ),
        "{}",
        rendered(&metrics)
    );
}

#[tokio::test]
async fn an_ec2_request_filters_on_the_secrets_manager_service_and_signs_for_ec2() {
    let answer = r#"<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>1</requestId><vpcEndpointSet/></DescribeVpcEndpointsResponse>"#;
    let (server, url) = start(vec![(200, answer)]).await;
    let (factory, _metrics) = factory_at(&url);
    let page = factory
        .describe_vpc_endpoints(&target(), "com.amazonaws.eu-west-1.secretsmanager", None)
        .await
        .expect("the page");
    assert!(page.endpoints.is_empty());
    let request = server.seen.lock().unwrap()[0].clone();
    assert_eq!(
        request.body,
        "Action=DescribeVpcEndpoints&Version=2016-11-15&Filter.1.Name=service-name\
         &Filter.1.Value.1=com.amazonaws.eu-west-1.secretsmanager&MaxResults=1000"
    );
    assert!(
        request
            .authorization
            .contains("/eu-west-1/ec2/aws4_request"),
        "{request:?}"
    );
}

#[tokio::test]
async fn throttling_is_retried_and_counted_then_succeeds() {
    let throttled = r#"<Response><Errors><Error><Code>RequestLimitExceeded</Code>
        <Message>Request limit exceeded.</Message></Error></Errors><RequestID>1</RequestID></Response>"#;
    let vpcs = r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
        <requestId>2</requestId><vpcSet><item><vpcId>vpc-1</vpcId><isDefault>false</isDefault></item></vpcSet>
        </DescribeVpcsResponse>"#;
    let (server, url) = start(vec![(503, throttled), (200, vpcs)]).await;
    let (factory, metrics) = factory_at(&url);
    let page = factory
        .describe_vpcs(&target(), None)
        .await
        .expect("the retry's page");
    assert_eq!(page.vpcs.len(), 1);
    assert_eq!(server.seen.lock().unwrap().len(), 2);
    let text = rendered(&metrics);
    assert!(
        text.contains(
            r#"secrets_rotation_exporter_aws_requests_total{operation="DescribeVpcs",outcome="throttled",service="ec2"} 1"#
        ) && text.contains(
            r#"secrets_rotation_exporter_aws_requests_total{operation="DescribeVpcs",outcome="ok",service="ec2"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn errors_are_classified_by_their_code_and_bad_answers_are_invalid() {
    let denied = r#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error>
        <Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error>
        <RequestId>1</RequestId></ErrorResponse>"#;
    let (server, url) = start(vec![(403, denied)]).await;
    let (factory, _metrics) = factory_at(&url);
    let err = factory
        .describe_db_clusters(&target(), None)
        .await
        .expect_err("denied");
    assert_eq!(err.reason, ErrorReason::AccessDenied, "{err}");
    assert!(err.message.contains("AccessDenied"), "{err}");
    assert_eq!(
        server.seen.lock().unwrap().len(),
        1,
        "a denial is not retried"
    );

    let (_server, url) = start(vec![(200, "<html>a proxy's page</html>")]).await;
    let (factory, _metrics) = factory_at(&url);
    let err = factory
        .describe_db_clusters(&target(), None)
        .await
        .expect_err("not an answer");
    assert_eq!(err.reason, ErrorReason::InvalidResponse, "{err}");
}
