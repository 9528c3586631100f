//! `demo`: the bundled AWS simulator with a fleet that shows every check
//! both passing and failing, and the exporter pointed at it, in one process.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use chrono::{DateTime, Duration, Utc};
use simulator::{
    DatabaseSpec, EndpointSpec, Fleet, FleetBuilder, LambdaSpec, ParameterSpec, RotationSpec,
    SecretSpec, SimulatorHandle, VersionSpec, VpcSpec,
};
use thiserror::Error;

use crate::app::{Exporter, StartError};
use crate::config::{self, ConfigError};

#[derive(Debug, Error)]
pub enum DemoError {
    #[error("the demo fleet is invalid: {0}")]
    Fleet(#[from] simulator::FleetError),
    #[error("the simulator did not start: {0}")]
    Simulator(#[from] simulator::SimulatorError),
    #[error("the demo configuration is invalid: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// The demo's configuration, the same YAML a user writes. The simulator's
/// accounts are reached through AssumeRole like real member accounts.
pub const DEMO_CONFIG: &str = r#"
poll_interval: 30s
regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    name: payments-prod
    role_arn: arn:aws:iam::111111111111:role/secrets-rotation-reader
  - id: "222222222222"
    name: identity-prod
    role_arn: arn:aws:iam::222222222222:role/secrets-rotation-reader
    external_id: demo-external-id
  - id: "333333333333"
    name: analytics-dev
    role_arn: arn:aws:iam::333333333333:role/secrets-rotation-reader
    regions: [us-east-1]
  - id: "444444444444"
    name: legacy-sandbox
    role_arn: arn:aws:iam::444444444444:role/secrets-rotation-reader
    regions: [us-east-1]
policy:
  max_rotation_interval: 30d
  max_age: 30d
  overdue_grace: 24h
  pending_timeout: 6h
  unused_after: 90d
  require_customer_managed_key: true
  required_tags: [team]
  overrides:
    - match: { tags: { environment: dev } }
      max_age: 90d
      max_rotation_interval: 90d
aws:
  target_timeout: 20s
labels: { tags: [environment, team] }
sources:
  ssm_parameters: { enabled: true, tags: true }
  rds: { enabled: true }
  vpc_endpoints: { enabled: true }
"#;

pub struct Demo {
    pub simulator: SimulatorHandle,
    pub exporter: Exporter,
    pub secret_count: usize,
}

fn cmk(account: &str, region: &str, n: u32) -> String {
    format!("arn:aws:kms:{region}:{account}:key/0d5e{n:04}-7a1c-4b8e-9f10-2c3d4e5f6a7b")
}

/// The rotation function every healthy secret of an account and region uses.
const ROTATION_FUNCTION: &str = "SecretsManagerRotation";

fn lambda(account: &str, region: &str) -> String {
    named_lambda(account, region, ROTATION_FUNCTION)
}

fn named_lambda(account: &str, region: &str, name: &str) -> String {
    simulator::lambda_arn(account, region, name)
}

/// A healthy rotating secret: customer managed key, 30-day schedule, rotated recently.
fn healthy(
    name: &str,
    account: &str,
    region: &str,
    team: &str,
    env: &str,
    rotated_days_ago: i64,
    now: DateTime<Utc>,
) -> SecretSpec {
    let rotated = now - Duration::days(rotated_days_ago);
    SecretSpec::new(name)
        .created(now - Duration::days(400))
        .kms_key_id(cmk(account, region, 1))
        .tag("team", team)
        .tag("environment", env)
        .rotation(
            RotationSpec::schedule("rate(30 days)")
                .lambda(lambda(account, region))
                .window("3h"),
        )
        .last_rotated(rotated)
        .last_changed(rotated)
        .last_accessed(now - Duration::days(1))
        .next_rotation(rotated + Duration::days(30))
        // The value it replaced was last read on the day of the rotation.
        .version(VersionSpec::previous(rotated - Duration::days(30)).last_accessed(rotated))
        .version(VersionSpec::current(rotated))
}

/// The demo fleet: every check both compliant and non-compliant, across
/// three reachable accounts and one whose role denies AssumeRole.
pub fn demo_fleet(now: DateTime<Utc>) -> Result<Fleet, simulator::FleetError> {
    let mut builder = Fleet::builder()
        .base_account("123456789012")
        .regions(["us-east-1", "eu-west-1"])
        .account("111111111111")
        .account("222222222222")
        .external_id("demo-external-id")
        .account("333333333333")
        .account_regions(["us-east-1"])
        .account("444444444444")
        .account_regions(["us-east-1"])
        .deny_assume_role();

    // Compliant secrets, a few per account and region.
    for (account, team) in [("111111111111", "payments"), ("222222222222", "identity")] {
        for region in ["us-east-1", "eu-west-1"] {
            for (i, service) in ["api", "db", "queue", "webhook"].iter().enumerate() {
                builder = builder.secret_in(
                    account,
                    region,
                    healthy(
                        &format!("{team}/{service}/credentials"),
                        account,
                        region,
                        team,
                        "prod",
                        2 + 5 * i as i64,
                        now,
                    ),
                );
            }
        }
    }

    let a = "111111111111";
    let b = "222222222222";
    let dev = "333333333333";
    let east = "us-east-1";
    let west = "eu-west-1";
    // The working rotation function of each account and region...
    for (account, region) in [(a, east), (a, west), (b, east), (b, west), (dev, east)] {
        builder = builder.lambda_in(account, region, LambdaSpec::new(ROTATION_FUNCTION));
    }
    // ...and three that will fail their next rotation. A fourth,
    // `payments-sftp-rotation`, was deleted: its secret still names it.
    builder = builder
        .lambda_in(
            b,
            west,
            LambdaSpec::new("identity-scim-rotation").without_policy(),
        )
        .lambda_in(
            b,
            east,
            LambdaSpec::new("legacy-kerberos-rotation").runtime("python3.8"),
        );
    let broken = [
        // rotation_enabled: never configured, on the default key, value a year old.
        (
            a,
            east,
            SecretSpec::new("payments/legacy/ftp-password")
                .created(now - Duration::days(380))
                .tag("team", "payments")
                .tag("environment", "prod")
                .last_accessed(now - Duration::days(3)),
        ),
        // rotation_enabled: turned off; the rules stay behind, as in AWS.
        (
            a,
            west,
            SecretSpec::new("payments/reporting/db")
                .created(now - Duration::days(200))
                .kms_key_id(cmk(a, west, 2))
                .tag("team", "payments")
                .tag("environment", "prod")
                .rotation(
                    RotationSpec::every_days(30)
                        .lambda(lambda(a, west))
                        .disabled(),
                )
                .last_rotated(now - Duration::days(70))
                .last_accessed(now - Duration::days(2)),
        ),
        // rotation_interval: a 90-day schedule where policy asks for 30.
        (
            a,
            east,
            SecretSpec::new("payments/partner/api-key")
                .created(now - Duration::days(300))
                .kms_key_id(cmk(a, east, 3))
                .tag("team", "payments")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(90).lambda(lambda(a, east)))
                .last_rotated(now - Duration::days(20))
                .next_rotation(now + Duration::days(70))
                .last_accessed(now - Duration::days(1)),
        ),
        // rotation_interval: a monthly cron, up to 31 days apart; also on schedule.
        (
            b,
            east,
            SecretSpec::new("identity/ldap/bind-password")
                .created(now - Duration::days(500))
                .kms_key_id(cmk(b, east, 1))
                .tag("team", "identity")
                .tag("environment", "prod")
                .rotation(
                    RotationSpec::schedule("cron(0 4 1 * ? *)")
                        .lambda(lambda(b, east))
                        .window("2h"),
                )
                .last_rotated(now - Duration::days(10))
                .next_rotation(now + Duration::days(21))
                .last_accessed(now - Duration::days(1)),
        ),
        // rotation_overdue and rotation_age: the last rotation failed, so the
        // next date is in the past and the value keeps ageing.
        (
            b,
            west,
            SecretSpec::new("identity/oauth/client-secret")
                .created(now - Duration::days(365))
                .kms_key_id(cmk(b, west, 1))
                .tag("team", "identity")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(30).lambda(lambda(b, west)))
                .last_rotated(now - Duration::days(34))
                .next_rotation(now - Duration::days(4))
                .last_accessed(now),
        ),
        // kms_customer_managed: rotating fine but on aws/secretsmanager.
        (
            b,
            east,
            SecretSpec::new("identity/saml/signing-key")
                .created(now - Duration::days(90))
                .tag("team", "identity")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(7).lambda(lambda(b, east)))
                .last_rotated(now - Duration::days(3))
                .next_rotation(now + Duration::days(4))
                .last_accessed(now - Duration::days(1)),
        ),
        // unused: nobody read it for 200 days.
        (
            a,
            west,
            SecretSpec::new("payments/old-gateway/token")
                .created(now - Duration::days(700))
                .kms_key_id(cmk(a, west, 4))
                .tag("team", "payments")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(30).lambda(lambda(a, west)))
                .last_rotated(now - Duration::days(12))
                .next_rotation(now + Duration::days(18))
                .last_accessed(now - Duration::days(200)),
        ),
        // required_tags: no team tag (only an AWS-reserved one).
        (
            b,
            east,
            SecretSpec::new("shared/smtp/password")
                .created(now - Duration::days(60))
                .kms_key_id(cmk(b, east, 5))
                .tag("aws:cloudformation:stack-name", "mail")
                .rotation(RotationSpec::every_days(30).lambda(lambda(b, east)))
                .last_rotated(now - Duration::days(5))
                .next_rotation(now + Duration::days(25))
                .last_accessed(now - Duration::days(1)),
        ),
        // Exempt while the vendor migration lasts.
        (
            a,
            east,
            SecretSpec::new("payments/vendor/static-key")
                .created(now - Duration::days(900))
                .tag("team", "payments")
                .tag(
                    "rotation-exempt",
                    "vendor cannot accept rotated keys (PAY-1234)",
                )
                .tag(
                    "rotation-exempt-until",
                    (now + Duration::days(60)).format("%Y-%m-%d").to_string(),
                )
                .last_accessed(now - Duration::days(1)),
        ),
        // An exemption that has run out: the checks apply again.
        (
            b,
            west,
            SecretSpec::new("identity/legacy/radius-secret")
                .created(now - Duration::days(600))
                .kms_key_id(cmk(b, west, 2))
                .tag("team", "identity")
                .tag("environment", "prod")
                .tag("rotation-exempt", "waiting for RADIUS replacement")
                .tag(
                    "rotation-exempt-until",
                    (now - Duration::days(10)).format("%Y-%m-%d").to_string(),
                )
                .last_accessed(now - Duration::days(2)),
        ),
        // rotation_lambda: its rotation function was deleted.
        (
            a,
            east,
            SecretSpec::new("payments/batch/sftp-key")
                .created(now - Duration::days(300))
                .kms_key_id(cmk(a, east, 6))
                .tag("team", "payments")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(30).lambda(named_lambda(
                    a,
                    east,
                    "payments-sftp-rotation",
                )))
                .last_rotated(now - Duration::days(8))
                .next_rotation(now + Duration::days(22))
                .last_accessed(now - Duration::days(1)),
        ),
        // rotation_lambda: Secrets Manager may not invoke its function.
        (
            b,
            west,
            SecretSpec::new("identity/scim/token")
                .created(now - Duration::days(150))
                .kms_key_id(cmk(b, west, 3))
                .tag("team", "identity")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(30).lambda(named_lambda(
                    b,
                    west,
                    "identity-scim-rotation",
                )))
                .last_rotated(now - Duration::days(6))
                .next_rotation(now + Duration::days(24))
                .last_accessed(now - Duration::days(1)),
        ),
        // rotation_lambda: its function runs on python3.8, deprecated by AWS.
        (
            b,
            east,
            SecretSpec::new("identity/kerberos/keytab")
                .created(now - Duration::days(250))
                .kms_key_id(cmk(b, east, 2))
                .tag("team", "identity")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(30).lambda(named_lambda(
                    b,
                    east,
                    "legacy-kerberos-rotation",
                )))
                .last_rotated(now - Duration::days(4))
                .next_rotation(now + Duration::days(26))
                .last_accessed(now - Duration::days(1)),
        ),
        // previous_version_read: rotated 10 days ago, and some application
        // still read the replaced value 2 days ago.
        (
            a,
            west,
            SecretSpec::new("payments/ledger/db")
                .created(now - Duration::days(400))
                .kms_key_id(cmk(a, west, 5))
                .tag("team", "payments")
                .tag("environment", "prod")
                .rotation(RotationSpec::every_days(30).lambda(lambda(a, west)))
                .last_rotated(now - Duration::days(10))
                .last_changed(now - Duration::days(10))
                .next_rotation(now + Duration::days(20))
                .last_accessed(now)
                .version(
                    VersionSpec::previous(now - Duration::days(40))
                        .last_accessed(now - Duration::days(2)),
                )
                .version(VersionSpec::current(now - Duration::days(10))),
        ),
        // Scheduled for deletion: inventoried, not judged.
        (
            a,
            east,
            SecretSpec::new("payments/decommissioned/db")
                .created(now - Duration::days(800))
                .tag("team", "payments")
                .deleted(now - Duration::days(2)),
        ),
    ];
    for (account, region, spec) in broken {
        builder = builder.secret_in(account, region, spec);
    }

    // A development account: the dev override allows 90 days.
    for (i, name) in [
        "analytics/notebook/token",
        "analytics/warehouse/reader",
        "analytics/etl/writer",
    ]
    .iter()
    .enumerate()
    {
        let rotated_days_ago = [45, 60, 120][i];
        let rotated = now - Duration::days(rotated_days_ago);
        builder = builder.secret_in(
            dev,
            east,
            SecretSpec::new(*name)
                .created(now - Duration::days(365))
                .kms_key_id(cmk(dev, east, 1))
                .tag("team", "analytics")
                .tag("environment", "dev")
                .rotation(RotationSpec::every_days(60).lambda(lambda(dev, east)))
                .last_rotated(rotated)
                .next_rotation(rotated + Duration::days(60))
                .last_accessed(now - Duration::days(5)),
        );
    }
    // Its rotation fails every few minutes and recovers (see `flap_rotation`).
    builder = builder.secret_in(
        a,
        east,
        healthy(FLAPPING_SECRET, a, east, "payments", "prod", 3, now),
    );
    // SSM parameters: written by hand, never rotated by Parameter Store.
    for (account, region, spec) in demo_parameters(now) {
        builder = builder.parameter_in(account, region, spec);
    }
    builder = demo_databases_and_vpcs(builder, now);
    // The denied account still has secrets; the exporter cannot see them.
    builder = builder.secret_in(
        "444444444444",
        east,
        SecretSpec::new("sandbox/test/password").created(now - Duration::days(30)),
    );
    builder.build()
}

/// The secret RDS keeps the payments ledger's master password in.
pub const LEDGER_MASTER_SECRET: &str = "rds!cluster-5e6f7a8b-payments-ledger";

/// The demo's databases and VPCs, the accounts' side of the rotation
/// checklist: the payments ledger is an Aurora cluster whose master password
/// RDS keeps in Secrets Manager (and rotates), while the reporting
/// database's was typed by hand; every VPC has a Secrets Manager endpoint
/// but the identity team's, apart from a default VPC and a development VPC
/// exempt by tag.
fn demo_databases_and_vpcs(builder: FleetBuilder, now: DateTime<Utc>) -> FleetBuilder {
    let (a, b, dev) = ("111111111111", "222222222222", "333333333333");
    let (east, west) = ("us-east-1", "eu-west-1");
    let endpoint = || EndpointSpec::interface("secretsmanager");
    builder
        .secret_in(
            a,
            east,
            healthy(LEDGER_MASTER_SECRET, a, east, "payments", "prod", 2, now)
                .owning_service("rds"),
        )
        .account(a)
        .region(east)
        .database(
            DatabaseSpec::cluster("payments-ledger")
                .engine("aurora-postgresql")
                .managed_password()
                .master_secret(LEDGER_MASTER_SECRET),
        )
        .database(
            DatabaseSpec::instance("payments-ledger-1")
                .engine("aurora-postgresql")
                .member_of("payments-ledger"),
        )
        .database(
            DatabaseSpec::instance("payments-ledger-2")
                .engine("aurora-postgresql")
                .member_of("payments-ledger"),
        )
        // master_password_managed: created with --master-user-password.
        .database(DatabaseSpec::instance("payments-reporting").engine("postgres"))
        .vpc(
            VpcSpec::new()
                .tag("Name", "payments-prod")
                .endpoint(endpoint()),
        )
        .vpc(VpcSpec::default_vpc())
        .region(west)
        .database(
            DatabaseSpec::instance("payments-archive")
                .engine("mysql")
                .managed_password(),
        )
        .vpc(
            VpcSpec::new()
                .tag("Name", "payments-dr")
                .endpoint(endpoint()),
        )
        .account(b)
        .region(east)
        .database(
            DatabaseSpec::instance("identity-directory")
                .engine("postgres")
                .managed_password(),
        )
        // secretsmanager_endpoint: no interface endpoint for Secrets Manager.
        .vpc(VpcSpec::new().tag("Name", "identity-prod"))
        .account(dev)
        .region(east)
        .vpc(VpcSpec::new().tag("Name", "analytics-dev").tag(
            "rotation-exempt",
            "dev VPC: reaches Secrets Manager through the NAT gateway",
        ))
}

/// The demo's SSM parameters: fresh ones on customer managed keys, and one
/// failing each parameter check the demo's policy applies.
fn demo_parameters(now: DateTime<Utc>) -> Vec<(&'static str, &'static str, ParameterSpec)> {
    let (a, b, dev) = ("111111111111", "222222222222", "333333333333");
    let (east, west) = ("us-east-1", "eu-west-1");
    let owned = |name: &str, account: &str, region: &str, team: &str, env: &str, days: i64| {
        ParameterSpec::new(name)
            .key_id(cmk(account, region, 1))
            .tag("team", team)
            .tag("environment", env)
            .last_modified(now - Duration::days(days))
    };
    vec![
        (
            a,
            east,
            owned(
                "/payments/prod/stripe/api-key",
                a,
                east,
                "payments",
                "prod",
                12,
            ),
        ),
        (
            a,
            east,
            owned(
                "/payments/prod/db/readonly-password",
                a,
                east,
                "payments",
                "prod",
                3,
            ),
        ),
        (
            a,
            west,
            owned(
                "/payments/prod/ledger/signing-key",
                a,
                west,
                "payments",
                "prod",
                20,
            ),
        ),
        // Expires in 60 days: an Advanced parameter with an Expiration policy.
        (
            a,
            east,
            owned(
                "/payments/prod/partner/token",
                a,
                east,
                "payments",
                "prod",
                5,
            )
            .advanced()
            .expires(now + Duration::days(60)),
        ),
        // parameter_age: written 400 days ago and never since.
        (
            a,
            east,
            owned(
                "/payments/prod/legacy/smtp-password",
                a,
                east,
                "payments",
                "prod",
                400,
            ),
        ),
        // kms_customer_managed: on the AWS managed key alias/aws/ssm.
        (
            b,
            east,
            ParameterSpec::new("/identity/prod/ldap/bind-password")
                .tag("team", "identity")
                .tag("environment", "prod")
                .last_modified(now - Duration::days(8)),
        ),
        // required_tags: no team tag; the dev override allows it 90 days.
        (
            dev,
            east,
            ParameterSpec::new("/analytics/dev/warehouse/token")
                .key_id(cmk(dev, east, 1))
                .tag("environment", "dev")
                .last_modified(now - Duration::days(70)),
        ),
        // A String: not listed, only SecureStrings are.
        (
            a,
            east,
            ParameterSpec::new("/payments/prod/feature-flags")
                .string()
                .last_modified(now - Duration::days(500)),
        ),
    ]
}

/// A base AWS configuration that reaches the simulator with its base
/// credentials, whatever the environment holds.
pub async fn simulator_sdk_config(simulator: &SimulatorHandle) -> SdkConfig {
    let base = simulator.base_credentials();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(simulator.endpoint_url())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            base.access_key_id,
            base.secret_access_key,
            base.session_token,
            None,
            "simulator",
        )))
        .load()
        .await
}

/// The demo secret whose rotation keeps failing and recovering.
pub const FLAPPING_SECRET: &str = "payments/card-vault/api-key";

/// Makes the flapping secret's rotation fail, then succeed a little later,
/// over and over, so `rotation_failed` and the CloudTrail families move.
async fn flap_rotation(simulator: SimulatorHandle, every: std::time::Duration) {
    let (account, region) = ("111111111111", "us-east-1");
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = simulator.fail_rotation(account, region, FLAPPING_SECRET) {
            tracing::warn!(error = %err, "demo: could not fail the rotation");
        }
        tokio::time::sleep(every).await;
        if let Err(err) = simulator.succeed_rotation(account, region, FLAPPING_SECRET) {
            tracing::warn!(error = %err, "demo: could not complete the rotation");
        }
    }
}

/// Starts the simulator on a free loopback port and builds the exporter for it.
pub async fn start() -> Result<Demo, DemoError> {
    let fleet = demo_fleet(Utc::now())?;
    let secret_count = fleet.secrets().len();
    let simulator = simulator::start(fleet, ([127, 0, 0, 1], 0).into()).await?;
    let config = config::parse(DEMO_CONFIG)?;
    let exporter = Exporter::build(config, simulator_sdk_config(&simulator).await).await?;
    tokio::spawn(flap_rotation(
        simulator.clone(),
        std::time::Duration::from_secs(150),
    ));
    Ok(Demo {
        simulator,
        exporter,
        secret_count,
    })
}
