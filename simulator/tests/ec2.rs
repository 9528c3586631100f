//! EC2 over raw query requests: `DescribeVpcs` and `DescribeVpcEndpoints`, filters, pages,
//! errors, denial and request counts.

#[path = "common/query.rs"]
mod query;

use std::collections::BTreeSet;

use chrono::Utc;
use query::{assume, blocks, list_secrets_status, text, texts};
use simulator::{Fleet, SimulatorHandle, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const OTHER: &str = "111111111111";
const REGION: &str = "us-east-1";
const VERSION: &str = "2016-11-15";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

const FLEET: &str = r#"
accounts:
  - id: "111111111111"
    deny_ec2: true
databases:
  - account: "111111111111"
    identifier: other-db
vpcs:
  - default: true
  - vpc_id: vpc-0a1b2c3d4e5f60718
    cidr: 10.1.0.0/16
    tags: { Name: app }
    endpoints:
      - service: secretsmanager
        created: 2026-01-02T03:04:05Z
      - service: s3
        type: Gateway
  - vpc_id: vpc-00000000000000001
    tags: { Name: batch, secrets-rotation/exempt: "true" }
    endpoints:
      - service: secretsmanager
        private_dns: false
        state: pendingAcceptance
  - tags: { Name: bare }
  - account: "111111111111"
    tags: { Name: other }
"#;

async fn sim_of(yaml: &str) -> Result<SimulatorHandle, Box<dyn std::error::Error>> {
    let fleet = Fleet::from_yaml_str(yaml, Utc::now())?;
    Ok(start(fleet, localhost()).await?)
}

async fn ec2(sim: &SimulatorHandle, form: &[(&str, &str)]) -> (u16, String) {
    let mut form = form.to_vec();
    form.push(("Version", VERSION));
    query::query(sim, "ec2", REGION, &sim.base_credentials(), &form).await
}

/// The `<item>` of the VPC or endpoint whose `field` is `id`: the first `<item>` block after it.
fn item_of(body: &str, field: &str, id: &str) -> String {
    let needle = format!("<{field}>{id}</{field}>");
    let Some(at) = body.find(&needle) else {
        return String::new();
    };
    let start = body[..at].rfind("<item>").unwrap_or(0);
    let end = body[at..]
        .find("<tagSet")
        .map_or(body.len(), |offset| at + offset);
    body[start..end].to_string()
}

#[tokio::test]
async fn vpcs_carry_their_fields_and_filters_select() -> TestResult {
    let sim = sim_of(FLEET).await?;
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcs")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">")
    );
    assert!(!text(&body, "requestId").is_empty());
    let ids = texts(&body, "vpcId");
    assert_eq!(ids.len(), 4, "{body}");
    assert!(ids.contains(&"vpc-0a1b2c3d4e5f60718".to_string()));
    assert!(
        ids.iter()
            .all(|id| id.starts_with("vpc-") && id.len() == 21),
        "{ids:?}"
    );
    assert_eq!(texts(&body, "ownerId"), [BASE; 4]);
    assert_eq!(texts(&body, "state"), ["available"; 4]);
    assert_eq!(texts(&body, "instanceTenancy"), ["default"; 4]);
    assert!(texts(&body, "nextToken").is_empty());
    let app = item_of(&body, "vpcId", "vpc-0a1b2c3d4e5f60718");
    assert_eq!(text(&app, "cidrBlock"), "10.1.0.0/16");
    assert_eq!(text(&app, "isDefault"), "false");
    assert!(text(&app, "dhcpOptionsId").starts_with("dopt-"));
    assert!(body.contains("<tagSet><item><key>Name</key><value>app</value></item></tagSet>"));

    let (_, defaults) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcs"),
            ("Filter.1.Name", "is-default"),
            ("Filter.1.Value.1", "true"),
        ],
    )
    .await;
    assert_eq!(texts(&defaults, "cidrBlock"), ["172.31.0.0/16"]);
    let (_, exempt) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcs"),
            ("Filter.1.Name", "tag:secrets-rotation/exempt"),
            ("Filter.1.Value.1", "true"),
            ("Filter.2.Name", "owner-id"),
            ("Filter.2.Value.1", BASE),
        ],
    )
    .await;
    assert_eq!(texts(&exempt, "vpcId"), ["vpc-00000000000000001"]);
    let (_, by_id) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcs"),
            ("VpcId.1", "vpc-0a1b2c3d4e5f60718"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", "vpc-0a1b*"),
        ],
    )
    .await;
    assert_eq!(texts(&by_id, "vpcId"), ["vpc-0a1b2c3d4e5f60718"]);
    let (status, missing) = ec2(
        &sim,
        &[("Action", "DescribeVpcs"), ("VpcId.1", "vpc-12345678")],
    )
    .await;
    assert_eq!(
        (status, text(&missing, "Code").as_str()),
        (400, "InvalidVpcID.NotFound")
    );
    assert!(missing.contains("<Response><Errors><Error><Code>"));
    assert!(!text(&missing, "RequestID").is_empty());
    let (status, bad) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcs"),
            ("Filter.1.Name", "colour"),
            ("Filter.1.Value.1", "red"),
        ],
    )
    .await;
    assert_eq!(
        (status, text(&bad, "Code").as_str()),
        (400, "InvalidParameterValue")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn endpoints_filter_on_service_name_and_show_private_dns() -> TestResult {
    let sim = sim_of(FLEET).await?;
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcEndpoints")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(texts(&body, "vpcEndpointId").len(), 3);
    let (_, secrets) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcEndpoints"),
            ("Filter.1.Name", "service-name"),
            ("Filter.1.Value.1", "com.amazonaws.us-east-1.secretsmanager"),
        ],
    )
    .await;
    assert_eq!(
        texts(&secrets, "serviceName"),
        ["com.amazonaws.us-east-1.secretsmanager"; 2]
    );
    let good = item_of(&secrets, "vpcId", "vpc-0a1b2c3d4e5f60718");
    assert_eq!(text(&good, "vpcEndpointType"), "Interface");
    assert_eq!(text(&good, "state"), "available");
    assert_eq!(text(&good, "privateDnsEnabled"), "true");
    assert_eq!(text(&good, "ownerId"), BASE);
    assert_eq!(text(&good, "creationTimestamp"), "2026-01-02T03:04:05.000Z");
    assert!(text(&good, "vpcEndpointId").starts_with("vpce-"));
    let no_dns = item_of(&secrets, "vpcId", "vpc-00000000000000001");
    assert_eq!(text(&no_dns, "privateDnsEnabled"), "false");
    assert_eq!(text(&no_dns, "state"), "pendingAcceptance");

    let (_, gateways) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcEndpoints"),
            ("Filter.1.Name", "vpc-endpoint-type"),
            ("Filter.1.Value.1", "Gateway"),
        ],
    )
    .await;
    assert_eq!(
        texts(&gateways, "serviceName"),
        ["com.amazonaws.us-east-1.s3"]
    );
    assert_eq!(texts(&gateways, "privateDnsEnabled"), ["false"]);
    let (_, in_vpc) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcEndpoints"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", "vpc-0a1b2c3d4e5f60718"),
            ("Filter.2.Name", "vpc-endpoint-state"),
            ("Filter.2.Value.1", "available"),
        ],
    )
    .await;
    assert_eq!(texts(&in_vpc, "vpcEndpointId").len(), 2);
    let id = text(&good, "vpcEndpointId");
    let (_, by_id) = ec2(
        &sim,
        &[("Action", "DescribeVpcEndpoints"), ("VpcEndpointId.1", &id)],
    )
    .await;
    assert_eq!(texts(&by_id, "vpcEndpointId"), [id]);
    let (status, missing) = ec2(
        &sim,
        &[
            ("Action", "DescribeVpcEndpoints"),
            ("VpcEndpointId.1", "vpce-12345678"),
        ],
    )
    .await;
    assert_eq!(
        (status, text(&missing, "Code").as_str()),
        (400, "InvalidVpcEndpointId.NotFound")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn pages_cover_every_vpc_once_and_garbage_tokens_are_refused() -> TestResult {
    let mut yaml = String::from("vpcs:\n");
    for n in 0..12 {
        yaml.push_str(&format!(
            "  - tags: {{ Name: v{n} }}\n    endpoints: [{{ service: secretsmanager }}]\n"
        ));
    }
    let sim = sim_of(&yaml).await?;
    for (action, id_tag) in [
        ("DescribeVpcs", "vpcId"),
        ("DescribeVpcEndpoints", "vpcEndpointId"),
    ] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut token: Option<String> = None;
        loop {
            let mut form = vec![("Action", action), ("MaxResults", "5")];
            if let Some(token) = &token {
                form.push(("NextToken", token));
            }
            let (status, body) = ec2(&sim, &form).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            // Endpoint items also name their VPC: count each endpoint by its own id.
            seen.extend(texts(&body, id_tag));
            token = texts(&body, "nextToken").into_iter().next();
            if token.is_none() {
                break;
            }
        }
        assert_eq!(pages, 3, "{action}");
        assert_eq!(seen.len(), 12, "{action}");
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 12, "{action}");
        for garbage in ["garbage", "00", "6563322d767063737c"] {
            let (status, body) = ec2(&sim, &[("Action", action), ("NextToken", garbage)]).await;
            assert_eq!(status, 400, "{action} {garbage}: {body}");
            assert_eq!(text(&body, "Code"), "InvalidPaginationToken");
        }
    }
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcs"), ("MaxResults", "4")]).await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (400, "InvalidParameterValue")
    );
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcs"), ("MaxResults", "1001")]).await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (400, "InvalidParameterValue")
    );
    let (status, body) = ec2(
        &sim,
        &[("Action", "DescribeVpcEndpoints"), ("MaxResults", "5000")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(texts(&body, "vpcEndpointId").len(), 12);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deny_ec2_refuses_ec2_only() -> TestResult {
    let sim = sim_of(FLEET).await?;
    let other = assume(&sim, OTHER).await;
    let (status, body) = query::query(
        &sim,
        "ec2",
        REGION,
        &other,
        &[("Action", "DescribeVpcEndpoints"), ("Version", VERSION)],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(text(&body, "Code"), "UnauthorizedOperation");
    assert!(text(&body, "Message").contains("ec2:DescribeVpcEndpoints"));
    let (status, body) = query::query(
        &sim,
        "rds",
        REGION,
        &other,
        &[("Action", "DescribeDBInstances"), ("Version", "2014-10-31")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(texts(&body, "DBInstanceIdentifier"), ["other-db"]);
    assert_eq!(list_secrets_status(&sim, &other).await, 200);
    let (status, _) = ec2(&sim, &[("Action", "DescribeVpcs")]).await;
    assert_eq!(status, 200);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn errors_faults_and_counts() -> TestResult {
    let yaml = format!(
        "{FLEET}faults:\n  - {{ service: ec2, operation: DescribeVpcs, error: throttling, times: 1 }}\n  - {{ service: ec2, error: internal_error, times: 1 }}\n  - {{ service: ec2, operation: DescribeVpcEndpoints, error: duplicate_entry, times: 1 }}\n"
    );
    let sim = sim_of(&yaml).await?;
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcs")]).await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (503, "RequestLimitExceeded")
    );
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcs")]).await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (500, "InternalError")
    );
    let (status, body) = ec2(&sim, &[("Action", "DescribeVpcEndpoints")]).await;
    assert_eq!(status, 200);
    assert_eq!(blocks(&body, "vpcEndpointType").len(), 4, "{body}");
    let (status, body) = ec2(&sim, &[("Action", "RunInstances")]).await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (400, "InvalidAction")
    );
    let stranger = simulator::Credentials {
        access_key_id: "AKIAUNKNOWN000000000".to_string(),
        secret_access_key: "x".to_string(),
        session_token: None,
    };
    let (status, body) = query::query(
        &sim,
        "ec2",
        REGION,
        &stranger,
        &[("Action", "DescribeVpcs"), ("Version", VERSION)],
    )
    .await;
    assert_eq!((status, text(&body, "Code").as_str()), (401, "AuthFailure"));
    assert_eq!(sim.service_requests("ec2", "DescribeVpcs"), 3);
    assert_eq!(sim.service_requests("ec2", "DescribeVpcEndpoints"), 1);
    assert_eq!(sim.service_requests("ec2", "RunInstances"), 1);
    assert_eq!(sim.requests_by_account("DescribeVpcs", BASE), 2);
    sim.shutdown().await;
    Ok(())
}

#[test]
fn fleet_file_errors_name_their_path() {
    let cases = [
        (
            "vpcs:\n  - colour: red\n",
            "vpcs[0]: unknown field `colour`",
        ),
        ("vpcs:\n  - vpc_id: vpc-xyz\n", "vpcs[0].vpc_id: `vpc-xyz`"),
        (
            "vpcs:\n  - cidr: 10.0.0.0/8\n",
            "vpcs[0].cidr: `10.0.0.0/8`",
        ),
        (
            "vpcs:\n  - endpoints: [{ service: s3, type: Tunnel }]\n",
            "vpcs[0].endpoints[0].type: unknown variant `Tunnel`",
        ),
        (
            "vpcs:\n  - endpoints: [{ service: s3, type: Gateway, private_dns: true }]\n",
            "vpcs[0].endpoints[0].private_dns: a Gateway endpoint has no private DNS",
        ),
        (
            "vpcs:\n  - endpoints: [{ service: s3, created: soon }]\n",
            "vpcs[0].endpoints[0].created: `soon`",
        ),
        (
            "vpcs:\n  - default: true\n  - default: true\n",
            "vpcs[1].default: 123456789012/us-east-1 has a default VPC already",
        ),
        (
            "vpcs:\n  - vpc_id: vpc-12345678\n  - vpc_id: vpc-12345678\n",
            "vpcs[1].vpc_id: `vpc-12345678` is used twice",
        ),
        (
            "vpcs:\n  - account: \"999999999999\"\n",
            "vpcs[0].account: account 999999999999 is not listed",
        ),
        (
            "faults:\n  - { service: ec3, error: throttling }\n",
            "faults[0]: service `ec3` is not one of",
        ),
    ];
    let mut failures = Vec::new();
    for (yaml, expected) in cases {
        let error = Fleet::from_yaml_str(yaml, Utc::now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        if !error.starts_with(expected) {
            failures.push(format!("{yaml}\n=> {error}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
