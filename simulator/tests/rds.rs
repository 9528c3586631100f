//! RDS over raw awsQuery requests: `DescribeDBInstances` and `DescribeDBClusters`, their pages,
//! managed passwords, clusters, errors, denial and request counts.

#[path = "common/query.rs"]
mod query;

use std::collections::BTreeSet;

use chrono::Utc;
use query::{assume, blocks, list_secrets_status, text, texts};
use simulator::{Fleet, SimulatorHandle, secret_arn, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const OTHER: &str = "111111111111";
const REGION: &str = "us-east-1";
const VERSION: &str = "2014-10-31";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

const FLEET: &str = r#"
accounts:
  - id: "111111111111"
    deny_rds: true
secrets:
  - name: rds!db-orders
databases:
  - identifier: orders-db
    managed_password: true
    master_secret: rds!db-orders
    master_secret_kms_key: alias/rds-secrets
    tags: { team: payments }
  - identifier: legacy-db
    engine: mysql
  - identifier: orders-replica
    read_replica_of: orders-db
  - identifier: aurora-main
    kind: cluster
    managed_password: true
  - identifier: aurora-main-1
    engine: aurora-postgresql
    cluster: aurora-main
  - identifier: aurora-main-2
    engine: aurora-postgresql
    cluster: aurora-main
  - account: "111111111111"
    identifier: other-db
vpcs:
  - account: "111111111111"
    default: true
"#;

async fn sim_of(yaml: &str) -> Result<SimulatorHandle, Box<dyn std::error::Error>> {
    let fleet = Fleet::from_yaml_str(yaml, Utc::now())?;
    Ok(start(fleet, localhost()).await?)
}

async fn rds(sim: &SimulatorHandle, form: &[(&str, &str)]) -> (u16, String) {
    let mut form = form.to_vec();
    form.push(("Version", VERSION));
    query::query(sim, "rds", REGION, &sim.base_credentials(), &form).await
}

/// The `<DBInstance>` block of `id`.
fn instance(body: &str, id: &str) -> String {
    blocks(body, "DBInstance")
        .into_iter()
        .find(|b| text(b, "DBInstanceIdentifier") == id)
        .unwrap_or_default()
}

#[tokio::test]
async fn instances_carry_their_fields() -> TestResult {
    let sim = sim_of(FLEET).await?;
    let (status, body) = rds(&sim, &[("Action", "DescribeDBInstances")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(
        "<DescribeDBInstancesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">"
    ));
    assert!(!text(&body, "RequestId").is_empty());
    assert!(texts(&body, "Marker").is_empty());
    assert_eq!(
        texts(&body, "DBInstanceIdentifier"),
        [
            "aurora-main-1",
            "aurora-main-2",
            "legacy-db",
            "orders-db",
            "orders-replica"
        ]
    );
    let orders = instance(&body, "orders-db");
    assert_eq!(
        text(&orders, "DBInstanceArn"),
        format!("arn:aws:rds:{REGION}:{BASE}:db:orders-db")
    );
    assert_eq!(text(&orders, "Engine"), "postgres");
    assert_eq!(text(&orders, "EngineVersion"), "16.3");
    assert_eq!(text(&orders, "DBInstanceStatus"), "available");
    assert_eq!(text(&orders, "MasterUsername"), "postgres");
    assert!(text(&orders, "DbiResourceId").starts_with("db-"));
    assert_eq!(
        text(&orders, "SecretArn"),
        secret_arn(BASE, REGION, "rds!db-orders")
    );
    assert_eq!(text(&orders, "SecretStatus"), "active");
    assert_eq!(text(&orders, "KmsKeyId"), "alias/rds-secrets");
    assert_eq!(
        blocks(&orders, "Tag"),
        ["<Key>team</Key><Value>payments</Value>"]
    );
    assert_eq!(
        text(&orders, "ReadReplicaDBInstanceIdentifier"),
        "orders-replica"
    );
    let legacy = instance(&body, "legacy-db");
    assert_eq!(text(&legacy, "Engine"), "mysql");
    assert_eq!(text(&legacy, "MasterUsername"), "admin");
    assert!(!legacy.contains("MasterUserSecret"), "{legacy}");
    assert!(legacy.contains("<TagList/>"));
    let replica = instance(&body, "orders-replica");
    assert_eq!(
        text(&replica, "ReadReplicaSourceDBInstanceIdentifier"),
        "orders-db"
    );
    assert_eq!(
        text(&instance(&body, "aurora-main-2"), "DBClusterIdentifier"),
        "aurora-main"
    );
    assert!(!orders.contains("DBClusterIdentifier"));

    let (status, one) = rds(
        &sim,
        &[
            ("Action", "DescribeDBInstances"),
            ("DBInstanceIdentifier", "legacy-db"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(texts(&one, "DBInstanceIdentifier"), ["legacy-db"]);
    let (status, missing) = rds(
        &sim,
        &[
            ("Action", "DescribeDBInstances"),
            ("DBInstanceIdentifier", "nope"),
        ],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(text(&missing, "Code"), "DBInstanceNotFound");
    assert_eq!(text(&missing, "Type"), "Sender");
    assert!(
        missing.starts_with("<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn aurora_clusters_list_their_members_writer_first() -> TestResult {
    let sim = sim_of(FLEET).await?;
    let (status, body) = rds(&sim, &[("Action", "DescribeDBClusters")]).await;
    assert_eq!(status, 200, "{body}");
    let cluster = blocks(&body, "DBCluster").pop().unwrap_or_default();
    assert_eq!(text(&cluster, "DBClusterIdentifier"), "aurora-main");
    assert_eq!(
        text(&cluster, "DBClusterArn"),
        format!("arn:aws:rds:{REGION}:{BASE}:cluster:aurora-main")
    );
    assert_eq!(text(&cluster, "Engine"), "aurora-postgresql");
    assert_eq!(text(&cluster, "Status"), "available");
    assert!(text(&cluster, "DbClusterResourceId").starts_with("cluster-"));
    let members = blocks(&cluster, "DBClusterMember");
    assert_eq!(
        members,
        [
            "<DBInstanceIdentifier>aurora-main-1</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter>",
            "<DBInstanceIdentifier>aurora-main-2</DBInstanceIdentifier><IsClusterWriter>false</IsClusterWriter>",
        ]
    );
    // A managed password without a fleet secret gets a made-up RDS secret.
    let arn = text(&cluster, "SecretArn");
    assert!(
        arn.starts_with(&format!(
            "arn:aws:secretsmanager:{REGION}:{BASE}:secret:rds!cluster-"
        )),
        "{arn}"
    );
    assert_eq!(text(&cluster, "KmsKeyId"), "alias/aws/secretsmanager");
    let (status, missing) = rds(
        &sim,
        &[
            ("Action", "DescribeDBClusters"),
            ("DBClusterIdentifier", "x"),
        ],
    )
    .await;
    assert_eq!(
        (status, text(&missing, "Code").as_str()),
        (404, "DBClusterNotFoundFault")
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn pages_of_twenty_cover_45_instances_once() -> TestResult {
    let mut yaml = String::from("databases:\n");
    for n in 0..45 {
        yaml.push_str(&format!("  - identifier: db-{n:02}\n"));
    }
    let sim = sim_of(&yaml).await?;
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut marker: Option<String> = None;
    loop {
        let mut form = vec![("Action", "DescribeDBInstances"), ("MaxRecords", "20")];
        if let Some(marker) = &marker {
            form.push(("Marker", marker));
        }
        let (status, body) = rds(&sim, &form).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        seen.extend(texts(&body, "DBInstanceIdentifier"));
        marker = texts(&body, "Marker").into_iter().next();
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 45);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 45);
    // Default: up to 100 a page.
    let (_, all) = rds(&sim, &[("Action", "DescribeDBInstances")]).await;
    assert_eq!(texts(&all, "DBInstanceIdentifier").len(), 45);

    for bad in [
        vec![("MaxRecords", "19")],
        vec![("MaxRecords", "101")],
        vec![("MaxRecords", "many")],
        vec![("Marker", "garbage")],
        vec![("Marker", "00")],
    ] {
        let mut form = vec![("Action", "DescribeDBInstances")];
        form.extend(bad.iter().copied());
        let (status, body) = rds(&sim, &form).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(text(&body, "Code"), "InvalidParameterValue", "{bad:?}");
    }
    // A marker of one listing is no marker of the other.
    let (_, first) = rds(
        &sim,
        &[("Action", "DescribeDBInstances"), ("MaxRecords", "20")],
    )
    .await;
    let marker = text(&first, "Marker");
    let (status, _) = rds(
        &sim,
        &[("Action", "DescribeDBClusters"), ("Marker", &marker)],
    )
    .await;
    assert_eq!(status, 400);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deny_rds_refuses_rds_only() -> TestResult {
    let sim = sim_of(FLEET).await?;
    let other = assume(&sim, OTHER).await;
    let form = [("Action", "DescribeDBInstances"), ("Version", VERSION)];
    let (status, body) = query::query(&sim, "rds", REGION, &other, &form).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(text(&body, "Code"), "AccessDenied");
    assert!(text(&body, "Message").contains("rds:DescribeDBInstances"));
    let (status, body) = query::query(
        &sim,
        "ec2",
        REGION,
        &other,
        &[("Action", "DescribeVpcs"), ("Version", "2016-11-15")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(texts(&body, "isDefault"), ["true"]);
    assert_eq!(list_secrets_status(&sim, &other).await, 200);
    // The base account is not denied.
    let (status, _) = rds(&sim, &[("Action", "DescribeDBInstances")]).await;
    assert_eq!(status, 200);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn errors_faults_and_counts() -> TestResult {
    let yaml = format!(
        "{FLEET}faults:\n  - {{ service: rds, operation: DescribeDBClusters, error: internal_error, times: 1 }}\n  - {{ service: rds, operation: DescribeDBClusters, error: throttling, times: 1 }}\n"
    );
    let sim = sim_of(&yaml).await?;
    let (status, body) = rds(&sim, &[("Action", "DescribeDBClusters")]).await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (500, "InternalFailure")
    );
    let (status, body) = rds(&sim, &[("Action", "DescribeDBClusters")]).await;
    assert_eq!((status, text(&body, "Code").as_str()), (400, "Throttling"));
    let (status, _) = rds(&sim, &[("Action", "DescribeDBClusters")]).await;
    assert_eq!(status, 200);
    let (status, body) = rds(&sim, &[("Action", "DeleteDBInstance")]).await;
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
        "rds",
        REGION,
        &stranger,
        &[("Action", "DescribeDBInstances"), ("Version", VERSION)],
    )
    .await;
    assert_eq!(
        (status, text(&body, "Code").as_str()),
        (403, "InvalidClientTokenId")
    );
    rds(&sim, &[("Action", "DescribeDBInstances")]).await;
    assert_eq!(sim.service_requests("rds", "DescribeDBClusters"), 3);
    assert_eq!(sim.service_requests("rds", "DescribeDBInstances"), 2);
    assert_eq!(sim.requests_by_account("DescribeDBInstances", BASE), 1);
    assert_eq!(sim.requests_by_account("DescribeDBInstances", "unknown"), 1);
    assert_eq!(sim.service_requests("rds", "DeleteDBInstance"), 1);
    sim.shutdown().await;
    Ok(())
}

#[test]
fn fleet_file_errors_name_their_path() {
    let cases = [
        (
            "databases:\n  - identifier: a\n    colour: red\n",
            "databases[0]: unknown field `colour`",
        ),
        (
            "databases:\n  - identifier: a\n    kind: table\n",
            "databases[0].kind: unknown variant `table`",
        ),
        (
            "databases:\n  - identifier: 1a\n",
            "databases[0].identifier: identifier `1a`",
        ),
        (
            "databases:\n  - identifier: c\n    kind: cluster\n  - identifier: a\n    cluster: nope\n",
            "databases[1].cluster: no cluster `nope` in 123456789012/us-east-1",
        ),
        (
            "databases:\n  - identifier: a\n    managed_password: true\n    master_secret: rds!x\n",
            "databases[0].master_secret: no secret `rds!x` in 123456789012/us-east-1",
        ),
        (
            "databases:\n  - identifier: a\n    master_secret: rds!x\n",
            "databases[0].master_secret: only with managed_password: true",
        ),
        (
            "databases:\n  - identifier: a\n    read_replica_of: b\n",
            "databases[0].read_replica_of: no instance `b`",
        ),
        (
            "databases:\n  - identifier: a\n  - identifier: a\n",
            "databases[1].identifier: `a` is used twice",
        ),
        (
            "databases:\n  - identifier: a\n    account: \"999999999999\"\n",
            "databases[0].account: account 999999999999 is not listed",
        ),
        (
            "accounts:\n  - id: \"111111111111\"\n    deny_rdss: true\n",
            "accounts[0]: unknown field `deny_rdss`",
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

#[test]
fn a_database_makes_its_region_one_of_the_accounts() -> TestResult {
    let fleet = Fleet::from_yaml_str(
        "databases:\n  - identifier: a\n    region: ap-south-1\n",
        Utc::now(),
    )?;
    let base = fleet.accounts().iter().find(|a| a.id == BASE);
    assert!(base.is_some_and(|a| a.regions.iter().any(|r| r == "ap-south-1")));
    Ok(())
}
