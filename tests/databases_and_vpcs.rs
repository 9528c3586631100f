//! RDS databases and VPC endpoints: the requests as they leave the exporter
//! (form-encoded, signed with SigV4 for the service and region, retried on
//! AWS's throttling codes and counted) against a bare HTTP server that
//! records them; then the sources against the simulator: each verdict both
//! ways, a cluster and its members counted once, pages, the master secret
//! named on its `_info`, `check`'s rows, and each source denied alone.

mod common;

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

use chrono::{Duration as Days, Utc};
use common::{Exposition, Harness, run_check};
use secrets_rotation_exporter::demo::{DEMO_CONFIG, demo_fleet};
use serde_json::Value;
use simulator::{DatabaseSpec, EndpointSpec, Fleet, SecretSpec, VpcSpec};

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

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const GOOD_VPC: &str = "vpc-0000000000000000a";
const NO_DNS_VPC: &str = "vpc-0000000000000000b";
const PENDING_VPC: &str = "vpc-0000000000000000c";
const S3_ONLY_VPC: &str = "vpc-0000000000000000d";
const DEFAULT_VPC: &str = "vpc-0000000000000000e";
const EXEMPT_VPC: &str = "vpc-0000000000000000f";

fn sources_config(policy: &str) -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{ACCOUNT}"
policy:
  require_customer_managed_key: false
{policy}
cloudtrail: {{ enabled: false }}
sources:
  rds: {{ enabled: true }}
  vpc_endpoints: {{ enabled: true }}
aws:
  max_attempts: 1
"#
    )
}

/// 130 instances with a hand-set password (two pages of 100) and one
/// managed by RDS; an Aurora cluster with two members; a Neptune cluster; a
/// read replica. VPCs: one with a good endpoint, one whose endpoint has no
/// private DNS, one whose endpoint is still pending, one with none, the
/// default VPC and an exempt one.
fn fleet() -> Fleet {
    let now = Utc::now();
    let mut builder = Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .secret(
            SecretSpec::new("rds!cluster-ledger")
                .created(now - Days::days(30))
                .owning_service("rds"),
        )
        .database(
            DatabaseSpec::instance("orders")
                .engine("postgres")
                .managed_password(),
        )
        .database(
            DatabaseSpec::cluster("ledger")
                .engine("aurora-postgresql")
                .managed_password()
                .master_secret("rds!cluster-ledger"),
        )
        .database(
            DatabaseSpec::instance("ledger-1")
                .engine("aurora-postgresql")
                .member_of("ledger"),
        )
        .database(
            DatabaseSpec::instance("ledger-2")
                .engine("aurora-postgresql")
                .member_of("ledger"),
        )
        .database(DatabaseSpec::cluster("graph").engine("neptune"))
        .database(
            DatabaseSpec::instance("orders-replica")
                .engine("postgres")
                .read_replica_of("orders"),
        );
    for index in 0..130 {
        builder =
            builder.database(DatabaseSpec::instance(format!("legacy-{index:03}")).engine("mysql"));
    }
    builder
        .vpc(
            VpcSpec::new()
                .id(GOOD_VPC)
                .endpoint(EndpointSpec::interface("secretsmanager")),
        )
        .vpc(
            VpcSpec::new()
                .id(NO_DNS_VPC)
                .endpoint(EndpointSpec::interface("secretsmanager").private_dns(false)),
        )
        .vpc(VpcSpec::new().id(PENDING_VPC).endpoint(
            EndpointSpec::interface("secretsmanager").state(simulator::EndpointState::Pending),
        ))
        .vpc(
            VpcSpec::new()
                .id(S3_ONLY_VPC)
                .endpoint(EndpointSpec::gateway("s3")),
        )
        .vpc(VpcSpec::default_vpc().id(DEFAULT_VPC))
        .vpc(
            VpcSpec::new()
                .id(EXEMPT_VPC)
                .tag("rotation-exempt", "sandbox: no endpoint by choice"),
        )
        .build()
        .expect("the fleet is valid")
}

fn database_verdict(scrape: &Exposition, identifier: &str) -> Option<f64> {
    let found = scrape.samples(
        "aws_rds_database_compliant",
        &[
            ("db_identifier", identifier),
            ("check", "master_password_managed"),
        ],
    );
    match found.as_slice() {
        [] => None,
        [(_, value)] => Some(*value),
        more => panic!("{identifier}: more than one series: {more:?}"),
    }
}

fn vpc_verdict(scrape: &Exposition, vpc_id: &str) -> Option<f64> {
    let found = scrape.samples(
        "aws_vpc_compliant",
        &[("vpc_id", vpc_id), ("check", "secretsmanager_endpoint")],
    );
    match found.as_slice() {
        [] => None,
        [(_, value)] => Some(*value),
        more => panic!("{vpc_id}: more than one series: {more:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_are_judged_once_each_over_pages_and_name_their_master_secret() {
    let harness = Harness::start(fleet(), &sources_config("")).await;
    harness.exporter.read_everything_once(Utc::now()).await;
    let scrape = harness.scrape().await;

    // 134 instances at 100 a page; one page of clusters.
    assert_eq!(harness.simulator.requests("DescribeDBInstances"), 2);
    assert_eq!(harness.simulator.requests("DescribeDBClusters"), 1);
    assert_eq!(
        scrape.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "rds"),
                ("operation", "DescribeDBInstances"),
                ("outcome", "ok")
            ]
        ),
        2.0
    );
    // The members stand behind their cluster: 130 + orders + replica + 2 clusters.
    assert_eq!(scrape.count("aws_rds_database_info", &[]), 134);
    assert_eq!(
        scrape.count("aws_rds_database_info", &[("db_identifier", "ledger-1")]),
        0
    );
    assert_eq!(
        scrape.count(
            "aws_rds_database_info",
            &[
                ("db_identifier", "ledger"),
                ("kind", "cluster"),
                ("engine", "aurora-postgresql")
            ]
        ),
        1
    );
    assert_eq!(database_verdict(&scrape, "orders"), Some(1.0));
    assert_eq!(database_verdict(&scrape, "ledger"), Some(1.0));
    assert_eq!(database_verdict(&scrape, "legacy-000"), Some(0.0));
    assert_eq!(database_verdict(&scrape, "legacy-129"), Some(0.0));
    assert_eq!(
        database_verdict(&scrape, "graph"),
        None,
        "Neptune has no master password"
    );
    assert_eq!(
        database_verdict(&scrape, "orders-replica"),
        None,
        "a replica has its source's"
    );
    assert_eq!(scrape.count("aws_rds_database_compliant", &[]), 132);

    // The cluster's master secret is in the inventory: its _info names the
    // database; every other secret's carries the label empty.
    let info = scrape.samples(
        "aws_secretsmanager_secret_info",
        &[("secret_name", "rds!cluster-ledger")],
    );
    let [(series, _)] = info.as_slice() else {
        panic!("one _info for the master secret: {info:?}");
    };
    assert!(series.contains(r#"db_identifier="ledger""#), "{series}");
    assert_eq!(
        scrape.value(
            "secrets_rotation_exporter_target_up",
            &[
                ("account_id", ACCOUNT),
                ("region", REGION),
                ("source", "rds")
            ]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpcs_pass_only_with_an_available_interface_endpoint_with_private_dns() {
    let harness = Harness::start(fleet(), &sources_config("")).await;
    harness.exporter.read_everything_once(Utc::now()).await;
    let scrape = harness.scrape().await;

    assert_eq!(harness.simulator.requests("DescribeVpcs"), 1);
    assert_eq!(harness.simulator.requests("DescribeVpcEndpoints"), 1);
    assert_eq!(scrape.count("aws_vpc_info", &[]), 6);
    assert_eq!(
        scrape.count(
            "aws_vpc_info",
            &[("vpc_id", DEFAULT_VPC), ("is_default", "true")]
        ),
        1
    );
    assert_eq!(vpc_verdict(&scrape, GOOD_VPC), Some(1.0));
    assert_eq!(vpc_verdict(&scrape, NO_DNS_VPC), Some(0.0));
    assert_eq!(vpc_verdict(&scrape, PENDING_VPC), Some(0.0));
    assert_eq!(
        vpc_verdict(&scrape, S3_ONLY_VPC),
        Some(0.0),
        "an S3 endpoint is not one"
    );
    assert_eq!(
        vpc_verdict(&scrape, DEFAULT_VPC),
        None,
        "default VPCs are skipped"
    );
    assert_eq!(vpc_verdict(&scrape, EXEMPT_VPC), None, "exempt");

    // Included, the default VPC is judged (and has no endpoint).
    let included = sources_config("  vpc_endpoint: { include_default_vpcs: true }");
    let harness = Harness::start(fleet(), &included).await;
    harness.exporter.read_everything_once(Utc::now()).await;
    let scrape = harness.scrape().await;
    assert_eq!(vpc_verdict(&scrape, DEFAULT_VPC), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_lists_databases_and_vpcs_and_exits_1_for_the_failing_ones() {
    let harness = Harness::start(fleet(), &sources_config("")).await;
    let run = run_check(&harness.simulator, &sources_config(""), "table").await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    for expected in [
        "DATABASE",
        "legacy-000",
        "master_password_managed: no MasterUserSecret",
        "graph",
        "not judged: the engine has no master password",
        NO_DNS_VPC,
        "(available, private DNS off)",
        DEFAULT_VPC,
        "not judged: a default VPC",
        "134 RDS databases, 130 non-compliant",
        "6 VPCs, 3 non-compliant",
    ] {
        assert!(
            run.stdout.contains(expected),
            "no {expected:?} in\n{}",
            run.stdout
        );
    }

    let run = run_check(&harness.simulator, &sources_config(""), "json").await;
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["summary"]["databases"]["noncompliant"], 130);
    assert_eq!(report["summary"]["vpcs"]["listed"], 6);
    let ledger = report["databases"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["db_identifier"] == "ledger"))
        .expect("a ledger row");
    assert_eq!(ledger["kind"], "cluster");
    assert_eq!(ledger["compliant"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_source_goes_down_alone() {
    for (denied, down, up) in [("rds", "rds", "ec2"), ("ec2", "ec2", "rds")] {
        let mut builder = Fleet::builder()
            .base_account(ACCOUNT)
            .regions([REGION])
            .account(ACCOUNT)
            .region(REGION)
            .secret(SecretSpec::new("app/db").created(Utc::now() - Days::days(3)))
            .database(DatabaseSpec::instance("orders"))
            .vpc(VpcSpec::new().id(GOOD_VPC));
        builder = match denied {
            "rds" => builder.deny_rds(),
            _ => builder.deny_ec2(),
        };
        let harness = Harness::start(builder.build().expect("fleet"), &sources_config("")).await;
        harness.exporter.read_everything_once(Utc::now()).await;
        let scrape = harness.scrape().await;
        let up_of = |source: &str| {
            scrape.value(
                "secrets_rotation_exporter_target_up",
                &[
                    ("account_id", ACCOUNT),
                    ("region", REGION),
                    ("source", source),
                ],
            )
        };
        assert_eq!(up_of(down), 0.0, "{denied} denied");
        assert_eq!(up_of(up), 1.0, "{denied} denied");
        assert_eq!(up_of("secretsmanager"), 1.0, "{denied} denied");
        assert_eq!(
            scrape.value(
                "secrets_rotation_exporter_errors_total",
                &[("source", down), ("reason", "access_denied")]
            ),
            1.0
        );
        assert_eq!(scrape.count("aws_secretsmanager_secret_info", &[]), 1);
        let (gone, kept) = if denied == "rds" {
            ("aws_rds_database_info", "aws_vpc_info")
        } else {
            ("aws_vpc_info", "aws_rds_database_info")
        };
        assert_eq!(
            scrape.count(gone, &[]),
            0,
            "{denied} denied: never listed, no series"
        );
        assert_eq!(scrape.count(kept, &[]), 1, "{denied} denied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_over_the_demo_prints_its_databases_and_vpcs_from_four_requests_a_target() {
    let simulator = simulator::start(
        demo_fleet(Utc::now()).expect("the demo fleet"),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("simulator starts");
    let run = run_check(&simulator, DEMO_CONFIG, "table").await;
    println!("{}", run.stdout);
    // One account cannot be read: the demo shows a target down.
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let row = |name: &str| {
        run.stdout
            .lines()
            .find(|line| line.contains(&format!("  {name}  ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", run.stdout))
            .to_owned()
    };
    assert!(row("payments-reporting").ends_with("NONCOMPLIANT   master_password_managed"));
    assert!(row("payments-ledger").contains(" OK"));
    assert!(
        !run.stdout.contains("payments-ledger-1"),
        "a cluster member is judged through its cluster"
    );
    assert!(
        run.stdout.contains("4 RDS databases, 1 non-compliant"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("5 VPCs, 1 non-compliant"),
        "{}",
        run.stdout
    );
    // Five account-regions are readable (the sixth is denied at AssumeRole):
    // one page of each listing for each.
    for operation in [
        "DescribeDBClusters",
        "DescribeDBInstances",
        "DescribeVpcs",
        "DescribeVpcEndpoints",
    ] {
        assert_eq!(simulator.requests(operation), 5, "{operation}");
    }
}
