//! Golden exposition: a fixed snapshot rendered at a fixed time must match
//! `tests/golden/snapshot.prom` byte for byte and pass `promtool check metrics`.
//!
//! After an intended change of the output, regenerate the file with
//! `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrets_rotation_exporter::databases::{DatabaseInventory, DatabaseKind, DatabaseRecord};
use secrets_rotation_exporter::inventory::{RotationRules, SecretRecord};
use secrets_rotation_exporter::metrics::{
    ALL_FAMILIES, ExporterMetrics, RenderOptions, RequestOutcome, render_all, render_snapshot,
};
use secrets_rotation_exporter::policy::{Check, Evaluation, Exemption, Verdict};
use secrets_rotation_exporter::rotation_events::{
    RotationEvent, RotationEventKind, SecretRotationEvents,
};
use secrets_rotation_exporter::snapshot::{
    AccountInfo, ErrorReason, SecretReport, Snapshot, Source, SourceHealth, TargetError,
    TargetSnapshot,
};
use secrets_rotation_exporter::vpcs::{EndpointRecord, VpcInventory, VpcRecord};

const DAY: u64 = 86_400;

fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    match Utc
        .with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
    {
        Some(time) => time,
        None => panic!("fixture time {year}-{month}-{day} {hour}:{minute} is not a valid UTC time"),
    }
}

fn verdict(check: Check, compliant: bool) -> Verdict {
    Verdict::bare(check, compliant)
}

fn evaluation(verdicts: Vec<Verdict>) -> Evaluation {
    Evaluation {
        exemption: None,
        exemption_ignored: None,
        scheduled_for_deletion: false,
        rotation_interval: Some(Duration::from_secs(30 * DAY)),
        max_age: Duration::from_secs(30 * DAY),
        verdicts,
        unknown: Vec::new(),
        value_age_seconds: None,
    }
}

fn record(account_id: &str, region: &str, name: &str) -> SecretRecord {
    SecretRecord {
        account_id: account_id.into(),
        region: region.into(),
        arn: format!("arn:aws:secretsmanager:{region}:{account_id}:secret:{name}-AbCdEf"),
        name: name.to_string(),
        created: Some(at(2024, 1, 10, 9, 0)),
        last_changed: Some(at(2024, 5, 20, 9, 0)),
        last_accessed: Some(at(2024, 5, 31, 0, 0)),
        tags: litemap::LiteMap::from_iter([
            ("environment".into(), "prod".into()),
            ("team".into(), "payments".into()),
        ]),
        ..SecretRecord::default()
    }
}

fn rotating(mut record: SecretRecord) -> SecretRecord {
    record.rotation_enabled = true;
    record.rotation_lambda_arn =
        Some("arn:aws:lambda:us-east-1:111111111111:function:rotate-db".into());
    record.rotation_rules = Some(RotationRules {
        automatically_after_days: Some(30),
        duration: None,
        schedule_expression: None,
    });
    record
}

const ACCOUNT_UP: &str = "111111111111";
const ACCOUNT_DOWN: &str = "222222222222";

/// Two targets: one healthy with six secrets covering the cases that shape
/// the output (among them one of each rotation type), one whose last poll failed and that keeps its last good secret.
fn fixture_snapshot() -> Snapshot {
    // Every check applies to a rotating secret with CloudTrail data.
    let all_checks_with = |failing: &[Check]| {
        evaluation(
            Check::ALL
                .into_iter()
                .map(|check| verdict(check, !failing.contains(&check)))
                .collect(),
        )
    };

    // Customer managed key, rotating on schedule, everything compliant.
    let mut compliant = rotating(record(ACCOUNT_UP, "us-east-1", "prod/db/primary"));
    compliant.kms_key_id =
        Some("arn:aws:kms:us-east-1:111111111111:key/0d1c2b3a-aaaa-bbbb-cccc-123456789012".into());
    compliant.last_rotated = Some(at(2024, 5, 20, 9, 0));
    compliant.current_version_created = Some(at(2024, 5, 20, 9, 0));
    compliant.next_rotation = Some(at(2024, 6, 19, 23, 59));
    compliant.primary_region = Some("us-east-1".into());

    // A managed external secret: Secrets Manager rotates it at the partner
    // with the account's role, no Lambda.
    let mut external = record(ACCOUNT_UP, "us-east-1", "prod/crm/salesforce");
    external.kms_key_id = Some("alias/payments".into());
    external.rotation_enabled = true;
    external.rotation_rules = Some(RotationRules {
        automatically_after_days: None,
        duration: Some("4h".into()),
        schedule_expression: Some("rate(30 days)".into()),
    });
    external.last_rotated = Some(at(2024, 5, 25, 2, 0));
    external.next_rotation = Some(at(2024, 6, 24, 6, 0));
    external.secret_type = Some("SalesforceClientSecret".into());
    external.external_rotation_role_arn =
        Some("arn:aws:iam::111111111111:role/salesforce-rotation".into());
    external.external_rotation_metadata = true;

    // Default key, no rotation, never accessed, tag value that needs escaping.
    let mut noncompliant = record(ACCOUNT_UP, "us-east-1", "prod/legacy-api-key");
    noncompliant.last_accessed = None;
    noncompliant.created = Some(at(2023, 1, 15, 8, 30) + chrono::Duration::milliseconds(500));
    noncompliant.last_changed = Some(at(2023, 1, 15, 8, 30));
    noncompliant.tags.insert(
        "team".into(),
        "the \"legacy\" team\\ops\nnight shift".into(),
    );
    let mut noncompliant_evaluation = evaluation(vec![
        verdict(Check::RotationEnabled, false),
        verdict(Check::RotationAge, false),
        verdict(Check::KmsCustomerManaged, false),
        verdict(Check::Unused, false),
        verdict(Check::RequiredTags, true),
    ]);
    noncompliant_evaluation.rotation_interval = None;

    // A rotation that started and did not finish.
    let mut pending = rotating(record(ACCOUNT_UP, "us-east-1", "prod/queue/token"));
    pending.kms_key_id = Some("alias/payments".into());
    pending.last_rotated = Some(at(2024, 5, 2, 3, 0));
    pending.next_rotation = Some(at(2024, 6, 1, 3, 0));
    pending.pending_since = Some(at(2024, 6, 1, 3, 0));
    pending.owning_service = Some("rds".into());
    pending.tags.remove("team");
    // CloudTrail saw the rotation start and fail; an older one succeeded.
    let rotation_event = |kind: RotationEventKind, time: DateTime<Utc>| {
        Arc::new(RotationEvent {
            id: format!("{}-event", kind.as_str()),
            kind,
            time,
            secret: pending.arn.clone(),
            message: None,
        })
    };
    pending.rotation_events = Some(SecretRotationEvents {
        started: Some(rotation_event(
            RotationEventKind::Started,
            at(2024, 6, 1, 3, 0),
        )),
        succeeded: Some(rotation_event(
            RotationEventKind::Succeeded,
            at(2024, 5, 2, 3, 0),
        )),
        failed: Some(rotation_event(
            RotationEventKind::Failed,
            at(2024, 6, 1, 3, 1),
        )),
        abandoned: None,
    });
    let pending_evaluation = all_checks_with(&[
        Check::RotationOverdue,
        Check::RotationPending,
        Check::RotationFailed,
    ]);

    // Exempt by tag: inventoried, no rotation check; still judged on its
    // key (the default one), use and tags.
    let mut exempt = record(ACCOUNT_UP, "us-east-1", "sandbox/scratch");
    exempt
        .tags
        .insert("rotation-exempt".into(), "third party key".into());
    exempt.tags.remove("environment");
    let mut exempt_evaluation = evaluation(vec![
        verdict(Check::KmsCustomerManaged, false),
        verdict(Check::Unused, true),
        verdict(Check::RequiredTags, true),
    ]);
    exempt_evaluation.exemption = Some(Exemption {
        reason: "third party key".into(),
        until: None,
    });
    exempt_evaluation.rotation_interval = None;
    exempt_evaluation.max_age = Duration::from_secs(90 * DAY);

    // Scheduled for deletion: inventoried, no check, no limit in force.
    let mut deleted = record(ACCOUNT_UP, "us-east-1", "staging/old-db");
    deleted.deleted = Some(at(2024, 5, 28, 14, 0));
    let mut deleted_evaluation = evaluation(Vec::new());
    deleted_evaluation.scheduled_for_deletion = true;
    deleted_evaluation.rotation_interval = None;

    // The failed target's last good secret.
    let mut kept = rotating(record(ACCOUNT_DOWN, "eu-west-1", "prod/db/replica"));
    kept.kms_key_id =
        Some("arn:aws:kms:eu-west-1:222222222222:key/9f8e7d6c-aaaa-bbbb-cccc-123456789012".into());
    kept.last_rotated = Some(at(2024, 5, 15, 9, 0));
    // RDS keeps the master password of the database `orders` in this secret.
    compliant.database = Some("orders".into());
    let orders_secret = compliant.arn.clone();
    kept.next_rotation = Some(at(2024, 6, 14, 9, 0));

    let poll_ok = |source, seconds: f64| SourceHealth {
        source,
        up: true,
        last_success: Some(at(2024, 6, 1, 11, 59)),
        poll_duration: Duration::from_secs_f64(seconds),
        last_error: None,
    };

    Snapshot {
        completed_at: at(2024, 6, 1, 12, 0),
        targets: vec![
            TargetSnapshot::new(
                ACCOUNT_UP.into(),
                Some("payments-prod".into()),
                "us-east-1".into(),
                vec![
                    poll_ok(Source::SecretsManager, 1.25),
                    poll_ok(Source::CloudTrail, 4.5),
                    poll_ok(Source::Rds, 0.5),
                    poll_ok(Source::Ec2, 0.75),
                ],
                vec![
                    SecretReport {
                        record: Arc::new(external),
                        evaluation: all_checks_with(&[]),
                    },
                    SecretReport {
                        record: Arc::new(compliant),
                        evaluation: all_checks_with(&[]),
                    },
                    SecretReport {
                        record: Arc::new(noncompliant),
                        evaluation: noncompliant_evaluation,
                    },
                    SecretReport {
                        record: Arc::new(pending),
                        evaluation: pending_evaluation,
                    },
                    SecretReport {
                        record: Arc::new(exempt),
                        evaluation: exempt_evaluation,
                    },
                    SecretReport {
                        record: Arc::new(deleted),
                        evaluation: deleted_evaluation,
                    },
                ],
                Some([2, 1, 1, 0]),
            )
            .with_account_resources(
                Some(databases(ACCOUNT_UP, "us-east-1", &orders_secret)),
                Some(vpcs(ACCOUNT_UP, "us-east-1")),
            ),
            TargetSnapshot::new(
                ACCOUNT_DOWN.into(),
                None,
                "eu-west-1".into(),
                vec![SourceHealth {
                    source: Source::SecretsManager,
                    up: false,
                    last_success: Some(at(2024, 6, 1, 11, 50)),
                    poll_duration: Duration::from_millis(30_000),
                    last_error: Some(TargetError {
                        reason: ErrorReason::AccessDenied,
                        message: "not authorized to perform sts:AssumeRole".into(),
                    }),
                }],
                vec![SecretReport {
                    record: Arc::new(kept),
                    // No CloudTrail for this target: rotation_failed does not apply.
                    evaluation: evaluation(
                        Check::ALL
                            .into_iter()
                            .filter(|check| *check != Check::RotationFailed)
                            .map(|check| verdict(check, true))
                            .collect(),
                    ),
                }],
                None,
            ),
        ],
        accounts: vec![
            AccountInfo {
                account_id: ACCOUNT_UP.into(),
                account_name: Some("payments-prod".into()),
                ou_path: Some("Root/Workloads/Prod".into()),
                tags: vec![("cost-center".into(), "cc-42".into())],
            },
            AccountInfo {
                account_id: ACCOUNT_DOWN.into(),
                account_name: None,
                ou_path: None,
                tags: Vec::new(),
            },
        ]
        .into(),
    }
}

fn render_options() -> RenderOptions {
    RenderOptions::new(["environment", "team", "cost-center"])
        .with_account_tags(["cost-center", "owner"])
        .with_database_label(true)
}

/// An instance whose master password RDS manages, one set by hand, an
/// Aurora cluster, a Neptune cluster and a read replica (not judged).
fn databases(account_id: &str, region: &str, orders_secret: &str) -> DatabaseInventory {
    let database = |identifier: &str, kind, engine: &str, secret: Option<&str>| {
        Arc::new(DatabaseRecord {
            account_id: account_id.into(),
            region: region.into(),
            identifier: identifier.into(),
            kind,
            engine: engine.into(),
            master_secret_arn: secret.map(str::to_owned),
            replica_of: None,
        })
    };
    let mut replica =
        (*database("orders-replica", DatabaseKind::Instance, "postgres", None)).clone();
    replica.replica_of = Some("orders".into());
    DatabaseInventory::new(
        vec![
            database("billing", DatabaseKind::Instance, "mysql", None),
            database("graph", DatabaseKind::Cluster, "neptune", None),
            database(
                "ledger",
                DatabaseKind::Cluster,
                "aurora-postgresql",
                Some("arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!cluster-1-AbCdEf"),
            ),
            database(
                "orders",
                DatabaseKind::Instance,
                "postgres",
                Some(orders_secret),
            ),
            Arc::new(replica),
        ]
        .into(),
    )
}

/// A VPC with a good endpoint, one whose endpoint lacks private DNS, one
/// with none, the default VPC and an exempt one (neither judged).
fn vpcs(account_id: &str, region: &str) -> VpcInventory {
    let vpc = |vpc_id: &str, is_default: bool, private_dns: Option<bool>, exempt: bool| {
        let mut tags = litemap::LiteMap::new();
        if exempt {
            tags.insert(Arc::from("rotation-exempt"), Arc::from("sandbox"));
        }
        Arc::new(VpcRecord {
            account_id: account_id.into(),
            region: region.into(),
            vpc_id: vpc_id.into(),
            is_default,
            tags,
            endpoints: private_dns
                .map(|private_dns| EndpointRecord {
                    endpoint_id: format!("vpce-{vpc_id}"),
                    endpoint_type: "Interface".into(),
                    state: "available".into(),
                    private_dns,
                })
                .into_iter()
                .collect(),
        })
    };
    VpcInventory::judge(
        &[
            vpc("vpc-0default", true, None, false),
            vpc("vpc-0good", false, Some(true), false),
            vpc("vpc-0nodns", false, Some(false), false),
            vpc("vpc-0none", false, None, false),
            vpc("vpc-0sandbox", false, None, true),
        ],
        false,
        "rotation-exempt",
    )
}

fn rendered_snapshot() -> String {
    let mut out = String::new();
    render_snapshot(&fixture_snapshot(), &render_options(), &mut out);
    out
}

fn golden_path() -> PathBuf {
    golden_dir().join("snapshot.prom")
}

/// Runs `promtool check metrics` on the text; returns promtool's complaints.
fn promtool_check(text: &str) -> Result<(), String> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not on PATH; install it (Debian/Ubuntu: apt-get install prometheus) \
             so the exposition can be linted"
        ),
        Err(error) => panic!("could not start promtool: {error}"),
    };
    if let Some(mut stdin) = child.stdin.take()
        && let Err(error) = stdin.write_all(text.as_bytes())
    {
        panic!("could not write to promtool: {error}");
    }
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(error) => panic!("promtool did not finish: {error}"),
    };
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The first differing line with some context, for a readable failure.
fn describe_difference(expected: &str, actual: &str) -> String {
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let first = expected_lines
        .iter()
        .zip(&actual_lines)
        .position(|(e, a)| e != a)
        .unwrap_or(expected_lines.len().min(actual_lines.len()));
    let mut message = format!(
        "rendered exposition differs from {} at line {} ({} lines expected, {} rendered)\n",
        golden_path().display(),
        first + 1,
        expected_lines.len(),
        actual_lines.len()
    );
    let from = first.saturating_sub(2);
    for index in from..first + 3 {
        if let Some(line) = expected_lines.get(index) {
            message.push_str(&format!("- {:>4} {line}\n", index + 1));
        }
        if let Some(line) = actual_lines.get(index) {
            message.push_str(&format!("+ {:>4} {line}\n", index + 1));
        }
    }
    message.push_str("if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff");
    message
}

/// Compares `actual` with the golden file `name`, or writes it with
/// `UPDATE_GOLDEN=1`.
fn assert_matches_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        if let Err(error) = std::fs::write(&path, actual) {
            panic!("could not write {}: {error}", path.display());
        }
        return;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!(
            "could not read {}: {error} (create it with UPDATE_GOLDEN=1)",
            path.display()
        ),
    };
    assert!(
        expected == actual,
        "{}: {}",
        path.display(),
        describe_difference(&expected, actual)
    );
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn snapshot_renders_as_the_golden_file() {
    assert_matches_golden("snapshot.prom", &rendered_snapshot());
}

/// The `metrics:` section of a configuration, as render options.
fn options_with(metrics_yaml: &str) -> RenderOptions {
    let yaml = format!("regions: [us-east-1]\n{metrics_yaml}");
    let config = match secrets_rotation_exporter::config::parse(&yaml) {
        Ok(config) => config,
        Err(error) => panic!("{yaml}\nis refused: {error}"),
    };
    render_options().with_budget(&config.metrics)
}

fn rendered_with(options: &RenderOptions) -> String {
    let mut out = String::new();
    if let Err(error) = render_all(
        Some(&fixture_snapshot()),
        &exporter_metrics(),
        options,
        &mut out,
    ) {
        panic!("rendering failed: {error}");
    }
    out
}

#[test]
fn an_allow_and_deny_list_renders_as_its_golden_file() {
    let options = options_with(
        "metrics:\n  include: [\"aws_secretsmanager_*\", secrets_rotation_exporter_target_up]\n  exclude: [\"aws_secretsmanager_secret_*_timestamp_seconds\", aws_secretsmanager_secret_exempt]\n",
    );
    let rendered = rendered_with(&options);
    let families = family_names(&rendered);
    assert!(families.contains("aws_secretsmanager_secret_info"));
    assert!(families.contains("secrets_rotation_exporter_target_up"));
    for left_out in [
        "aws_account_info",
        "aws_secretsmanager_secret_created_timestamp_seconds",
        "aws_secretsmanager_secret_next_rotation_timestamp_seconds",
        "aws_secretsmanager_secret_exempt",
        "secrets_rotation_exporter_errors_total",
        "secrets_rotation_exporter_build_info",
    ] {
        assert!(!families.contains(left_out), "{left_out} is served");
    }
    if let Err(problems) = promtool_check(&rendered) {
        panic!("{problems}");
    }
    assert_matches_golden("budget-allow-deny.prom", &rendered);
}

#[test]
fn failing_verdicts_render_as_their_golden_file() {
    let all = rendered_with(&render_options());
    let failing = rendered_with(&options_with("metrics:\n  verdicts: failing\n"));
    // Every verdict family: secrets', databases' and VPCs'.
    let is_verdict = |line: &str| {
        [
            "aws_secretsmanager_secret_compliant{",
            "aws_rds_database_compliant{",
            "aws_vpc_compliant{",
        ]
        .iter()
        .any(|family| line.starts_with(family))
    };
    let verdicts = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| is_verdict(line))
            .map(str::to_owned)
            .collect()
    };
    // Exactly the failing verdicts of `all` are left, and nothing else moves.
    let failing_of_all: Vec<String> = verdicts(&all)
        .into_iter()
        .filter(|line| line.ends_with(" 0"))
        .collect();
    assert!(!failing_of_all.is_empty());
    assert!(
        failing_of_all
            .iter()
            .any(|line| line.starts_with("aws_rds_database_compliant{"))
    );
    assert!(
        failing_of_all
            .iter()
            .any(|line| line.starts_with("aws_vpc_compliant{"))
    );
    assert_eq!(verdicts(&failing), failing_of_all);
    let others = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !is_verdict(line))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(others(&failing), others(&all));
    assert_matches_golden("budget-failing.prom", &failing);
}

/// The large-fleet profile exactly as docs/metrics.md gives it.
fn large_fleet_profile() -> String {
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    let text = std::fs::read_to_string(&doc).unwrap_or_else(|error| panic!("{error}"));
    let after = text
        .split_once("### The large-fleet profile")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("docs/metrics.md has no large-fleet profile"));
    after
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block.to_owned())
        .unwrap_or_else(|| panic!("the large-fleet profile has no yaml block"))
}

#[test]
fn the_large_fleet_profile_serves_at_most_three_series_per_compliant_secret() {
    let options = options_with(&large_fleet_profile());
    let rendered = rendered_with(&options);
    let snapshot = fixture_snapshot();
    for target in &snapshot.targets {
        for secret in &target.secrets {
            if !secret.evaluation.compliant() {
                continue;
            }
            let name = format!("secret_name=\"{}\"", secret.record.name);
            let series = rendered
                .lines()
                .filter(|line| !line.starts_with('#') && line.contains(&name))
                .count();
            assert!(
                series <= 3,
                "{} has {series} series in the large-fleet profile",
                secret.record.name
            );
        }
    }
    if let Err(problems) = promtool_check(&rendered) {
        panic!("{problems}");
    }
    assert_matches_golden("budget-large-fleet.prom", &rendered);
}

/// The families of an exposition, from its `# TYPE` lines.
fn family_names(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn golden_file_passes_promtool() {
    let path = golden_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("could not read {}: {error}", path.display()),
    };
    if let Err(problems) = promtool_check(&text) {
        panic!("{problems}");
    }
}

fn exporter_metrics() -> ExporterMetrics {
    let metrics = match ExporterMetrics::new("0.1.0", "0123abc") {
        Ok(metrics) => metrics,
        Err(error) => panic!("exporter metrics schema is invalid: {error}"),
    };
    for (account, region) in [(ACCOUNT_UP, "us-east-1"), (ACCOUNT_DOWN, "eu-west-1")] {
        metrics.init_target(account, region, Source::SecretsManager);
    }
    metrics.init_aws_operation("secretsmanager", "ListSecrets");
    metrics.record_aws_request("secretsmanager", "ListSecrets", RequestOutcome::Ok);
    metrics.record_aws_request("sts", "AssumeRole", RequestOutcome::Error);
    metrics.record_error(
        ACCOUNT_DOWN,
        "eu-west-1",
        Source::SecretsManager,
        ErrorReason::AccessDenied,
    );
    metrics.record_poll_skipped();
    metrics.observe_poll_duration(Duration::from_millis(31_500));
    metrics
}

fn rendered_all() -> String {
    let mut out = String::new();
    if let Err(error) = render_all(
        Some(&fixture_snapshot()),
        &exporter_metrics(),
        &render_options(),
        &mut out,
    ) {
        panic!("rendering failed: {error}");
    }
    out
}

#[test]
fn whole_metrics_body_passes_promtool() {
    if let Err(problems) = promtool_check(&rendered_all()) {
        panic!("{problems}");
    }
}

/// The metric name of a sample line: up to `{` or the space before the value.
fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// The family a sample belongs to, allowing for histogram suffixes.
fn family_of<'a>(name: &'a str, declared: &HashSet<&str>) -> &'a str {
    if declared.contains(name) {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && declared.contains(base)
        {
            return base;
        }
    }
    name
}

#[test]
fn every_family_is_declared_once_with_its_series_together_and_no_series_repeats() {
    let text = rendered_all();
    let mut helps = HashSet::new();
    let mut types = HashSet::new();
    let mut finished_families: HashSet<&str> = HashSet::new();
    let mut current_family = "";
    let mut series = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(helps.insert(name), "HELP for {name} appears twice");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(helps.contains(name), "TYPE for {name} comes without HELP");
            assert!(types.insert(name), "TYPE for {name} appears twice");
            continue;
        }
        let name = sample_name(line);
        let family = family_of(name, &types);
        assert!(
            types.contains(family),
            "series {line} has no HELP/TYPE before it"
        );
        if family != current_family {
            assert!(
                finished_families.insert(current_family) || current_family.is_empty(),
                "family {current_family} appears twice"
            );
            assert!(
                !finished_families.contains(family),
                "series of {family} are split: {line}"
            );
            current_family = family;
        }
        let identity = line.rsplit_once(' ').map_or(line, |(identity, _)| identity);
        assert!(series.insert(identity), "series repeats: {identity}");
        let value = line.rsplit(' ').next().unwrap_or("");
        assert!(
            value.parse::<f64>().is_ok_and(f64::is_finite) && !value.contains(['e', 'E']),
            "value of {line} is not a plain finite number"
        );
    }
    assert_eq!(helps, types, "every family needs both HELP and TYPE");
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

fn series_of<'a>(text: &'a str, family: &str, secret_name: &str) -> Vec<&'a str> {
    let label = format!("secret_name=\"{secret_name}\"");
    text.lines()
        .filter(|l| sample_name(l) == family && l.contains(&label))
        .collect()
}

#[test]
fn failed_target_is_down_and_keeps_its_last_good_secrets() {
    let text = rendered_snapshot();
    assert!(has_line(
        &text,
        "secrets_rotation_exporter_target_up{account_id=\"222222222222\",region=\"eu-west-1\",source=\"secretsmanager\"} 0"
    ));
    assert!(has_line(
        &text,
        "secrets_rotation_exporter_target_up{account_id=\"111111111111\",region=\"us-east-1\",source=\"secretsmanager\"} 1"
    ));
    assert!(has_line(
        &text,
        "aws_secretsmanager_secrets{account_id=\"222222222222\",region=\"eu-west-1\"} 1"
    ));
    assert_eq!(
        series_of(&text, "aws_secretsmanager_secret_info", "prod/db/replica").len(),
        1
    );
    // Without CloudTrail data the target gets no rotation_failed count that
    // would read as "nothing failed".
    assert!(!text.lines().any(|l| l.starts_with(
        "aws_secretsmanager_noncompliant_secrets{account_id=\"222222222222\",region=\"eu-west-1\",check=\"rotation_failed\"}"
    )));
    assert!(has_line(
        &text,
        "aws_secretsmanager_noncompliant_secrets{account_id=\"222222222222\",region=\"eu-west-1\",check=\"rotation_age\"} 0"
    ));
}

#[test]
fn a_cloudtrail_never_read_gives_no_rotation_failed_count() {
    let mut snapshot = fixture_snapshot();
    let target = &mut snapshot.targets[1];
    // The inventory works, CloudTrail has never answered.
    target.health.push(SourceHealth {
        source: Source::CloudTrail,
        up: false,
        last_success: None,
        poll_duration: Duration::from_millis(20),
        last_error: Some(TargetError {
            reason: ErrorReason::AccessDenied,
            message: "not authorized to perform cloudtrail:LookupEvents".into(),
        }),
    });
    target.rotation_events_total = Some([0; 4]);
    let mut text = String::new();
    render_snapshot(&snapshot, &RenderOptions::new(["team"]), &mut text);
    assert!(!text.lines().any(|l| l.starts_with(
        "aws_secretsmanager_noncompliant_secrets{account_id=\"222222222222\",region=\"eu-west-1\",check=\"rotation_failed\"}"
    )));
    assert!(has_line(
        &text,
        "secrets_rotation_exporter_target_up{account_id=\"222222222222\",region=\"eu-west-1\",source=\"cloudtrail\"} 0"
    ));
}

#[test]
fn never_listed_target_gets_health_series_but_no_counts() {
    let mut snapshot = fixture_snapshot();
    let listed = &snapshot.targets[1];
    let mut health = listed.health.clone();
    health[0].last_success = None;
    snapshot.targets[1] = TargetSnapshot::new(
        listed.account_id.clone(),
        listed.account_name.clone(),
        listed.region.clone(),
        health,
        Vec::new(),
        listed.rotation_events_total,
    );
    let mut text = String::new();
    render_snapshot(&snapshot, &render_options(), &mut text);
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("aws_secretsmanager_") && l.contains("222222222222")),
        "an unknown inventory must not be reported as empty"
    );
    assert!(has_line(
        &text,
        "secrets_rotation_exporter_target_up{account_id=\"222222222222\",region=\"eu-west-1\",source=\"secretsmanager\"} 0"
    ));
    assert!(!text.contains(
        "secrets_rotation_exporter_target_last_success_timestamp_seconds{account_id=\"222222222222\""
    ));
}

#[test]
fn secret_attributes_land_on_info_with_escaped_values() {
    let text = rendered_snapshot();
    assert!(has_line(
        &text,
        "aws_secretsmanager_secret_info{account_id=\"111111111111\",region=\"us-east-1\",secret_name=\"prod/legacy-api-key\",secret_arn=\"arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/legacy-api-key-AbCdEf\",account_name=\"payments-prod\",owning_service=\"\",primary_region=\"\",kms_key=\"aws/secretsmanager\",rotation_lambda_arn=\"\",rotation_type=\"none\",db_identifier=\"\",tag_environment=\"prod\",tag_team=\"the \\\"legacy\\\" team\\\\ops\\nnight shift\",tag_cost_center=\"\"} 1"
    ));
    let info = series_of(&text, "aws_secretsmanager_secret_info", "prod/queue/token");
    assert_eq!(info.len(), 1);
    assert!(info[0].contains("kms_key=\"alias/payments\""));
    assert!(info[0].contains("owning_service=\"rds\""));
    // Owned by RDS with a Lambda ARN left over: the service rotates it.
    assert!(info[0].contains("rotation_lambda_arn=\"arn:aws:lambda:"));
    assert!(info[0].contains("rotation_type=\"service\""));
    assert!(
        info[0].contains("tag_team=\"\""),
        "absent tag is written empty"
    );
}

#[test]
fn every_rotation_type_is_on_info() {
    let text = rendered_snapshot();
    for (secret, rotation_type) in [
        ("prod/crm/salesforce", "external"),
        ("prod/queue/token", "service"),
        ("prod/db/primary", "lambda"),
        ("prod/legacy-api-key", "none"),
    ] {
        let info = series_of(&text, "aws_secretsmanager_secret_info", secret);
        assert_eq!(info.len(), 1, "{secret}");
        assert!(
            info[0].contains(&format!(",rotation_type=\"{rotation_type}\",")),
            "{secret}: {}",
            info[0]
        );
    }
}

#[test]
fn unknown_times_and_inapplicable_values_emit_no_series() {
    let text = rendered_snapshot();
    let never_accessed = "prod/legacy-api-key";
    assert!(
        series_of(
            &text,
            "aws_secretsmanager_secret_last_accessed_timestamp_seconds",
            never_accessed
        )
        .is_empty()
    );
    assert!(
        series_of(
            &text,
            "aws_secretsmanager_secret_rotation_interval_seconds",
            never_accessed
        )
        .is_empty()
    );
    assert!(has_line(
        &text,
        "aws_secretsmanager_secret_created_timestamp_seconds{account_id=\"111111111111\",region=\"us-east-1\",secret_name=\"prod/legacy-api-key\"} 1673771400.5"
    ));

    let deleted = "staging/old-db";
    assert!(
        series_of(
            &text,
            "aws_secretsmanager_secret_rotation_max_age_seconds",
            deleted
        )
        .is_empty()
    );
    assert!(series_of(&text, "aws_secretsmanager_secret_compliant", deleted).is_empty());
    assert!(has_line(
        &text,
        "aws_secretsmanager_secret_deletion_timestamp_seconds{account_id=\"111111111111\",region=\"us-east-1\",secret_name=\"staging/old-db\"} 1716904800"
    ));

    // Exempt from rotation, still judged on its key, use and tags.
    let exempt = "sandbox/scratch";
    let exempt_checks: Vec<String> =
        series_of(&text, "aws_secretsmanager_secret_compliant", exempt)
            .iter()
            .filter_map(|line| {
                line.split("check=\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_owned)
            })
            .collect();
    assert_eq!(
        exempt_checks,
        ["kms_customer_managed", "unused", "required_tags"]
    );
    assert!(has_line(
        &text,
        "aws_secretsmanager_secret_exempt{account_id=\"111111111111\",region=\"us-east-1\",secret_name=\"sandbox/scratch\"} 1"
    ));
    assert!(has_line(
        &text,
        "aws_secretsmanager_secret_rotation_max_age_seconds{account_id=\"111111111111\",region=\"us-east-1\",secret_name=\"sandbox/scratch\"} 7776000"
    ));
}

#[test]
fn noncompliant_counts_add_up_per_check() {
    let text = rendered_snapshot();
    let count = |check: &str| {
        let prefix = format!(
            "aws_secretsmanager_noncompliant_secrets{{account_id=\"111111111111\",region=\"us-east-1\",check=\"{check}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::to_string)
    };
    assert_eq!(count("rotation_enabled").as_deref(), Some("1"));
    assert_eq!(count("rotation_overdue").as_deref(), Some("1"));
    assert_eq!(count("rotation_failed").as_deref(), Some("1"));
    assert_eq!(count("required_tags").as_deref(), Some("0"));
    assert_eq!(count("rotation_interval").as_deref(), Some("0"));
    assert_eq!(
        series_of(
            &text,
            "aws_secretsmanager_secret_compliant",
            "prod/legacy-api-key"
        )
        .len(),
        5,
        "one series per applicable check"
    );
}

#[test]
fn every_family_is_documented() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    let docs = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("could not read {}: {error}", path.display()),
    };
    let missing: Vec<&str> = ALL_FAMILIES
        .iter()
        .map(|family| family.name)
        .filter(|name| !docs.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md does not describe {missing:?}"
    );
}
