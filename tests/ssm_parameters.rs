//! SSM Parameter Store against the simulator: the listing over pages with
//! its type and path filters, each check passing and failing as `/metrics`
//! and `check` show it, tags read once an hour, a denied listing that takes
//! only the SSM side of the target down, and never a request that reads a
//! value.

mod common;

use chrono::{Duration, Utc};
use common::{Exposition, Harness, run_check};
use secrets_rotation_exporter::demo::{DEMO_CONFIG, demo_fleet};
use serde_json::Value;
use simulator::{Fault, FaultRule, Fleet, ParameterSpec, RotationSpec, SecretSpec, VersionSpec};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Requests that would read a parameter's value.
const VALUE_READS: [&str; 4] = [
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "GetParameterHistory",
];

fn config_yaml(ssm: &str, policy: &str) -> String {
    format!(
        r#"
regions: [{REGION}]
accounts:
  - id: "{ACCOUNT}"
policy:
  max_age: 90d
  require_customer_managed_key: true
{policy}
labels: {{ tags: [team] }}
cloudtrail: {{ enabled: false }}
sources:
  ssm_parameters: {ssm}
aws:
  max_attempts: 1
"#
    )
}

fn healthy_secret() -> SecretSpec {
    let now = Utc::now();
    let rotated = now - Duration::days(5);
    SecretSpec::new("app/db")
        .created(now - Duration::days(200))
        .kms_key_id(KEY_ARN)
        .tag("team", "payments")
        .rotation(RotationSpec::every_days(30))
        .last_rotated(rotated)
        .last_changed(rotated)
        .next_rotation(rotated + Duration::days(30))
        .last_accessed(now - Duration::days(1))
        .version(VersionSpec::current(rotated))
}

/// 120 `SecureString`s (115 fresh on a customer managed key, one stale, one on
/// the AWS managed key, two Advanced with an expiration, one outside `/app`),
/// a `String` and a `StringList`; and a healthy secret.
fn fleet() -> Fleet {
    let now = Utc::now();
    let fresh = |name: String| {
        ParameterSpec::new(name)
            .key_id(KEY_ARN)
            .last_modified(now - Duration::days(10))
    };
    Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .secret(healthy_secret())
        .parameters((0..115).map(|i| fresh(format!("/app/p{i:03}"))))
        .parameter(fresh("/app/stale".into()).last_modified(now - Duration::days(400)))
        .parameter(ParameterSpec::new("/app/aws-key").last_modified(now - Duration::days(1)))
        .parameter(
            fresh("/app/expiring".into())
                .advanced()
                .expires(now + Duration::days(30)),
        )
        .parameter(
            fresh("/app/expired".into())
                .advanced()
                .expires(now - Duration::days(1)),
        )
        .parameter(fresh("/other/token".into()))
        .parameter(
            ParameterSpec::new("/app/plain")
                .string()
                .last_modified(now - Duration::days(400)),
        )
        .parameter(
            ParameterSpec::new("/app/list")
                .string_list()
                .last_modified(now - Duration::days(1)),
        )
        .build()
        .expect("the fleet is valid")
}

fn verdict(scrape: &Exposition, name: &str, check: &str) -> Option<f64> {
    let found = scrape.samples(
        "aws_ssm_parameter_compliant",
        &[("parameter_name", name), ("check", check)],
    );
    match found.as_slice() {
        [] => None,
        [(_, value)] => Some(*value),
        more => panic!("{name} {check}: more than one series: {more:?}"),
    }
}

fn no_value_was_read(harness: &Harness) {
    for operation in VALUE_READS {
        assert_eq!(
            harness.simulator.requests(operation),
            0,
            "the exporter called {operation}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_reads_three_pages_of_secure_strings_and_judges_age_and_key() {
    let harness = Harness::start(fleet(), &config_yaml("{ enabled: true }", "")).await;
    harness.exporter.read_everything_once(Utc::now()).await;
    let scrape = harness.scrape().await;

    let target = [("account_id", ACCOUNT), ("region", REGION)];
    assert_eq!(scrape.value("aws_ssm_parameters", &target), 120.0);
    assert_eq!(scrape.count("aws_ssm_parameter_info", &[]), 120);
    // 120 SecureStrings at 50 a page, counted by the exporter as the simulator saw them.
    assert_eq!(harness.simulator.requests("DescribeParameters"), 3);
    assert_eq!(
        scrape.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "ssm"),
                ("operation", "DescribeParameters"),
                ("outcome", "ok")
            ]
        ),
        3.0
    );
    assert_eq!(harness.simulator.requests("ListTagsForResource"), 0);
    // The default type filter leaves the String and the StringList out.
    assert_eq!(
        scrape.count(
            "aws_ssm_parameter_info",
            &[("parameter_name", "/app/plain")]
        ),
        0
    );

    assert_eq!(verdict(&scrape, "/app/p000", "parameter_age"), Some(1.0));
    assert_eq!(verdict(&scrape, "/app/stale", "parameter_age"), Some(0.0));
    assert_eq!(
        verdict(&scrape, "/app/p000", "kms_customer_managed"),
        Some(1.0)
    );
    assert_eq!(
        verdict(&scrape, "/app/aws-key", "kms_customer_managed"),
        Some(0.0)
    );
    // Expiration is not required, and tags are not read.
    assert_eq!(
        verdict(&scrape, "/app/expired", "parameter_expiration"),
        None
    );
    assert_eq!(verdict(&scrape, "/app/p000", "required_tags"), None);

    let info = scrape.samples(
        "aws_ssm_parameter_info",
        &[("parameter_name", "/app/aws-key")],
    );
    let [(series, _)] = info.as_slice() else {
        panic!("one info series for /app/aws-key: {info:?}");
    };
    for label in [
        r#"type="SecureString""#,
        r#"tier="Standard""#,
        r#"kms_key="alias/aws/ssm""#,
        r#"tag_team="""#,
    ] {
        assert!(series.contains(label), "{series} lacks {label}");
    }
    assert!(
        scrape.value(
            "aws_ssm_parameter_last_modified_timestamp_seconds",
            &[("parameter_name", "/app/stale")]
        ) < (Utc::now() - Duration::days(399)).timestamp() as f64
    );
    assert_eq!(
        scrape.value(
            "aws_ssm_noncompliant_parameters",
            &[("account_id", ACCOUNT), ("check", "parameter_age")]
        ),
        1.0
    );
    assert_eq!(
        scrape.value(
            "aws_ssm_noncompliant_parameters",
            &[("account_id", ACCOUNT), ("check", "kms_customer_managed")]
        ),
        1.0
    );
    assert_eq!(
        scrape.count(
            "aws_ssm_noncompliant_parameters",
            &[("check", "parameter_expiration")]
        ),
        0,
        "a check that is off gets no count"
    );
    assert_eq!(
        scrape.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ACCOUNT), ("source", "ssm")]
        ),
        1.0
    );
    no_value_was_read(&harness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_and_path_prefixes_choose_what_is_listed() {
    let harness = Harness::start(
        fleet(),
        &config_yaml(
            "{ enabled: true, types: [String, SecureString, StringList], path_prefixes: [/app/] }",
            "",
        ),
    )
    .await;
    harness.exporter.read_everything_once(Utc::now()).await;
    let scrape = harness.scrape().await;
    // Everything under /app (119 SecureStrings, the String and the
    // StringList), nothing under /other.
    assert_eq!(
        scrape.value("aws_ssm_parameters", &[("account_id", ACCOUNT)]),
        121.0
    );
    assert_eq!(
        scrape.count(
            "aws_ssm_parameter_info",
            &[("parameter_name", "/other/token")]
        ),
        0
    );
    assert_eq!(
        scrape.count(
            "aws_ssm_parameter_info",
            &[("parameter_name", "/app/plain"), ("type", "String")]
        ),
        1
    );
    // A String is not encrypted: no key verdict, but an age verdict.
    assert_eq!(verdict(&scrape, "/app/plain", "kms_customer_managed"), None);
    assert_eq!(verdict(&scrape, "/app/plain", "parameter_age"), Some(0.0));
    no_value_was_read(&harness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_lists_the_parameters_and_fails_a_missing_or_passed_expiration() {
    let harness = Harness::start(
        fleet(),
        &config_yaml(
            "{ enabled: true, path_prefixes: [/app] }",
            "  require_parameter_expiration: true",
        ),
    )
    .await;
    let config = config_yaml(
        "{ enabled: true, path_prefixes: [/app] }",
        "  require_parameter_expiration: true",
    );
    let run = run_check(&harness.simulator, &config, "json").await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("check prints JSON");
    let parameters = report["parameters"].as_array().expect("a parameters list");
    assert_eq!(parameters.len(), 119);
    let expiration = |name: &str| -> Option<bool> {
        let row = parameters
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}"));
        row["checks"]
            .as_array()?
            .iter()
            .find(|verdict| verdict["check"] == "parameter_expiration")
            .and_then(|verdict| verdict["compliant"].as_bool())
    };
    assert_eq!(expiration("/app/expiring"), Some(true));
    assert_eq!(expiration("/app/expired"), Some(false));
    assert_eq!(expiration("/app/p000"), Some(false), "a Standard parameter");
    assert_eq!(
        report["summary"]["parameters"]["parameters"],
        Value::from(119)
    );

    let table = run_check(&harness.simulator, &config, "table").await;
    assert_eq!(table.code, Some(1));
    assert!(
        table.stdout.contains("PARAMETER")
            && table.stdout.contains("/app/stale")
            && table
                .stdout
                .contains("parameter_age: value last written 400d"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("119 SSM parameters, 118 non-compliant, 0 not fully evaluated"),
        "{}",
        table.stdout
    );
    no_value_was_read(&harness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_listing_takes_only_the_ssm_side_of_the_target_down() {
    let harness = Harness::start(fleet(), &config_yaml("{ enabled: true }", "")).await;
    harness.simulator.fail(
        FaultRule::new(Fault::AccessDenied)
            .operation("DescribeParameters")
            .account(ACCOUNT),
    );
    harness.exporter.read_everything_once(Utc::now()).await;
    let scrape = harness.scrape().await;
    let up = |source: &str| {
        scrape.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ACCOUNT), ("source", source)],
        )
    };
    assert_eq!(up("ssm"), 0.0);
    assert_eq!(up("secretsmanager"), 1.0);
    assert_eq!(
        scrape.count("aws_ssm_parameters", &[]),
        0,
        "no count for a target never listed"
    );
    assert_eq!(scrape.count("aws_ssm_parameter_info", &[]), 0);
    assert!(
        scrape.value(
            "secrets_rotation_exporter_errors_total",
            &[("source", "ssm"), ("reason", "access_denied")]
        ) >= 1.0
    );
    assert_eq!(
        scrape.value(
            "aws_secretsmanager_secret_compliant",
            &[("secret_name", "app/db"), ("check", "rotation_enabled")]
        ),
        1.0
    );
    no_value_was_read(&harness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_read_once_per_parameter_and_judge_required_tags() {
    let now = Utc::now();
    let fleet = Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .secret(healthy_secret())
        .parameter(
            ParameterSpec::new("/svc/owned")
                .key_id(KEY_ARN)
                .last_modified(now - Duration::days(1))
                .tag("team", "payments"),
        )
        .parameter(
            ParameterSpec::new("/svc/orphan")
                .key_id(KEY_ARN)
                .last_modified(now - Duration::days(1))
                .tag("owner", "nobody"),
        )
        .build()
        .expect("the fleet is valid");
    let harness = Harness::start(
        fleet,
        &config_yaml("{ enabled: true, tags: true }", "  required_tags: [team]"),
    )
    .await;
    harness.exporter.read_everything_once(now).await;
    let scrape = harness.scrape().await;
    assert_eq!(verdict(&scrape, "/svc/owned", "required_tags"), Some(1.0));
    assert_eq!(verdict(&scrape, "/svc/orphan", "required_tags"), Some(0.0));
    assert_eq!(
        scrape.count(
            "aws_ssm_parameter_info",
            &[("parameter_name", "/svc/owned"), ("tag_team", "payments")]
        ),
        1
    );
    assert_eq!(harness.simulator.requests("ListTagsForResource"), 2);

    // Within the hour the tags are not read again; the listing is.
    harness
        .exporter
        .read_everything_once(now + Duration::minutes(5))
        .await;
    assert_eq!(harness.simulator.requests("ListTagsForResource"), 2);
    assert_eq!(harness.simulator.requests("DescribeParameters"), 2);
    harness
        .exporter
        .read_everything_once(now + Duration::minutes(61))
        .await;
    assert_eq!(harness.simulator.requests("ListTagsForResource"), 4);
    no_value_was_read(&harness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_tag_read_leaves_required_tags_unknown_and_is_asked_again_at_the_next_read() {
    let now = Utc::now();
    let fleet = Fleet::builder()
        .base_account(ACCOUNT)
        .regions([REGION])
        .account(ACCOUNT)
        .region(REGION)
        .secret(healthy_secret())
        .parameter(
            ParameterSpec::new("/svc/a")
                .key_id(KEY_ARN)
                .last_modified(now - Duration::days(1))
                .tag("team", "payments"),
        )
        .parameter(
            ParameterSpec::new("/svc/b")
                .key_id(KEY_ARN)
                .last_modified(now - Duration::days(1)),
        )
        .build()
        .expect("the fleet is valid");
    let harness = Harness::start(
        fleet,
        &config_yaml("{ enabled: true, tags: true }", "  required_tags: [team]"),
    )
    .await;
    harness.simulator.fail(
        FaultRule::new(Fault::AccessDenied)
            .service("ssm")
            .operation("ListTagsForResource")
            .times(1),
    );
    harness.exporter.read_everything_once(now).await;
    let scrape = harness.scrape().await;
    // The denial stops this read's tag requests: neither parameter's tags
    // are known, so neither has a required_tags verdict, and the listing is up.
    assert_eq!(harness.simulator.requests("ListTagsForResource"), 1);
    assert_eq!(verdict(&scrape, "/svc/a", "required_tags"), None);
    assert_eq!(verdict(&scrape, "/svc/b", "required_tags"), None);
    assert_eq!(verdict(&scrape, "/svc/a", "parameter_age"), Some(1.0));
    assert_eq!(
        scrape.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", ACCOUNT), ("source", "ssm")]
        ),
        1.0
    );
    assert_eq!(
        scrape.value(
            "secrets_rotation_exporter_errors_total",
            &[("source", "ssm"), ("reason", "access_denied")]
        ),
        1.0
    );

    harness
        .exporter
        .read_everything_once(now + Duration::minutes(5))
        .await;
    let scrape = harness.scrape().await;
    assert_eq!(verdict(&scrape, "/svc/a", "required_tags"), Some(1.0));
    assert_eq!(verdict(&scrape, "/svc/b", "required_tags"), Some(0.0));
    no_value_was_read(&harness);
}

/// `check` over the demo's fleet and configuration, as the README shows it:
/// a table of parameters below the secrets', one failing each check the
/// demo's policy applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_over_the_demo_prints_its_parameters() {
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
    for (name, failing) in [
        ("/payments/prod/legacy/smtp-password", "parameter_age"),
        ("/identity/prod/ldap/bind-password", "kms_customer_managed"),
        ("/analytics/dev/warehouse/token", "required_tags"),
    ] {
        let row = run
            .stdout
            .lines()
            .find(|line| line.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", run.stdout));
        assert!(
            row.contains("NONCOMPLIANT") && row.ends_with(failing),
            "{row}"
        );
    }
    let fresh = run
        .stdout
        .lines()
        .find(|line| line.contains("/payments/prod/stripe/api-key"))
        .expect("a row for the fresh parameter");
    assert!(fresh.contains(" OK"), "{fresh}");
    assert!(
        run.stdout
            .contains("7 SSM parameters, 3 non-compliant, 0 not fully evaluated"),
        "{}",
        run.stdout
    );
    for operation in VALUE_READS {
        assert_eq!(simulator.requests(operation), 0, "check called {operation}");
    }
}
