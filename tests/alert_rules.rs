//! The alerting rules, their unit tests and the example Alertmanager config, checked with
//! Prometheus' own tools (`promtool`, `amtool`), plus the conventions every alert must follow:
//! severity, annotations, a runbook section, owner labels, and a Kubernetes copy that matches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

const RULES: &str = "alerts/secrets-rotation.rules.yml";
const PROMETHEUS_RULE: &str = "alerts/prometheusrule.yaml";
const ALERTMANAGER: &str = "alerts/alertmanager.example.yml";
const RULE_TESTS: &str = "tests/rules";
const RUNBOOKS: &str = "docs/runbooks.md";
const RUNBOOK_BASE: &str = "https://github.com/secrets-rotation-exporter/secrets-rotation-exporter/blob/main/docs/runbooks.md#";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn parse_yaml(relative: &str) -> Value {
    serde_yaml_ng::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

/// Finds a Prometheus tool on PATH, failing with the Debian package that provides it: these
/// tests must not pass silently on a machine without the tools.
fn tool(name: &str, debian_package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not on PATH: install the Debian package `{debian_package}` \
             (`apt-get install {debian_package}`, or run ./scripts/test-all.sh setup)"
        )
    })
}

fn promtool() -> PathBuf {
    tool("promtool", "prometheus")
}

fn amtool() -> PathBuf {
    tool("amtool", "prometheus-alertmanager")
}

/// Runs a tool from the repository root and returns its stdout, failing with its whole output.
fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {} failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        args.join(" "),
        output.status
    );
    stdout
}

fn rule_test_files() -> Vec<String> {
    let dir = repo_path(RULE_TESTS);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!("{RULE_TESTS}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool test files in {RULE_TESTS}");
    files
}

struct Alert {
    name: String,
    expr: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Mapping(mapping)) = value else {
        return BTreeMap::new();
    };
    mapping
        .iter()
        .filter_map(|(key, value)| Some((key.as_str()?.to_owned(), value.as_str()?.to_owned())))
        .collect()
}

fn alerts() -> Vec<Alert> {
    let rules = parse_yaml(RULES);
    let groups = rules["groups"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{RULES}: no `groups` list"));
    let alerts: Vec<Alert> = groups
        .iter()
        .flat_map(|group| group["rules"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|rule| {
            Some(Alert {
                name: rule["alert"].as_str()?.to_owned(),
                expr: rule["expr"].as_str().unwrap_or_default().to_owned(),
                labels: string_map(rule.get("labels")),
                annotations: string_map(rule.get("annotations")),
            })
        })
        .collect();
    assert!(!alerts.is_empty(), "{RULES} defines no alerts");
    alerts
}

/// What the per-resource alerts of one kind (secrets, SSM parameters, RDS databases, VPCs) read:
/// the exporter's verdict and `_info` families, and the recording rules built on them
/// (mixin/rules/rules.libsonnet).
struct Resource {
    verdicts: &'static str,
    info: &'static str,
    /// The label that names one resource.
    name_label: &'static str,
    failing_verdicts: &'static str,
    owner_labels: &'static str,
    /// How the alerts copy the `_info` labels, whitespace removed: the owner tags for secrets and
    /// parameters, the attributes for databases and VPCs (which carry no tags).
    copied_labels: &'static str,
}

const RESOURCES: [Resource; 4] = [
    Resource {
        verdicts: "aws_secretsmanager_secret_compliant",
        info: "aws_secretsmanager_secret_info",
        name_label: "secret_name",
        failing_verdicts: "secret_check:aws_secretsmanager_secret_compliant:failing",
        owner_labels: "secret:aws_secretsmanager_secret_info:failing_last15m",
        copied_labels: "group_left(tag_team,tag_environment",
    },
    Resource {
        verdicts: "aws_ssm_parameter_compliant",
        info: "aws_ssm_parameter_info",
        name_label: "parameter_name",
        failing_verdicts: "parameter_check:aws_ssm_parameter_compliant:failing",
        owner_labels: "parameter:aws_ssm_parameter_info:failing_last15m",
        copied_labels: "group_left(tag_team,tag_environment",
    },
    Resource {
        verdicts: "aws_rds_database_compliant",
        info: "aws_rds_database_info",
        name_label: "db_identifier",
        failing_verdicts: "database_check:aws_rds_database_compliant:failing",
        owner_labels: "database:aws_rds_database_info:failing_last15m",
        copied_labels: "group_left(kind,engine)",
    },
    Resource {
        verdicts: "aws_vpc_compliant",
        info: "aws_vpc_info",
        name_label: "vpc_id",
        failing_verdicts: "vpc_check:aws_vpc_compliant:failing",
        owner_labels: "vpc:aws_vpc_info:failing_last15m",
        copied_labels: "group_left(is_default)",
    },
];
const RECORDING_GROUP: &str = "secrets-rotation.rules";

/// The kind of resource an alert is about: the one whose per-resource verdicts it reads.
fn resource_of(alert: &Alert) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|resource| alert.expr.contains(resource.verdicts))
}

/// Per-resource alerts are the ones built on the exporter's per-secret, per-parameter,
/// per-database or per-VPC verdicts.
fn is_per_resource(alert: &Alert) -> bool {
    resource_of(alert).is_some()
}

/// Test names of the cases against an exporter with `metrics.verdicts: failing`.
const FAILING_MODE_PREFIX: &str = "failing mode:";

/// GitHub's anchor for a Markdown heading: lower case, punctuation other than `-` and `_`
/// dropped, spaces turned into hyphens.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn runbook_anchors() -> BTreeSet<String> {
    let mut in_code_block = false;
    let mut anchors = BTreeSet::new();
    for line in read(RUNBOOKS).lines() {
        // A `#` inside a fenced shell example is a comment, not a heading.
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
        } else if !in_code_block && let Some(heading) = line.strip_prefix('#') {
            anchors.insert(github_anchor(heading.trim_start_matches('#')));
        }
    }
    anchors
}

/// Numbers and durations (`30d`, `2592000`) outside metric and label names.
fn numeric_literals(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|token| token.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn promtool_accepts_the_rules() {
    let output = run(&promtool(), &["check", "rules", RULES]);
    assert!(
        output.contains("SUCCESS"),
        "promtool check rules said:\n{output}"
    );
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let files = rule_test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    run(&promtool(), &args);
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for file in rule_test_files() {
        let tests = parse_yaml(&file);
        for test in tests["tests"].as_sequence().cloned().unwrap_or_default() {
            for case in test["alert_rule_test"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                let Some(name) = case["alertname"].as_str() else {
                    continue;
                };
                let expected = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
                if expected == 0 {
                    quiet.insert(name.to_owned());
                } else {
                    fires.insert(name.to_owned());
                }
            }
        }
    }
    for alert in alerts() {
        assert!(
            fires.contains(&alert.name),
            "{}: no test in {RULE_TESTS} where it fires",
            alert.name
        );
        assert!(
            quiet.contains(&alert.name),
            "{}: no test in {RULE_TESTS} where it stays quiet",
            alert.name
        );
    }
}

/// With `metrics.verdicts: failing` a compliant check has no series, so each per-secret alert
/// must also be tested firing on the failing series alone, and quiet (resolved) without them.
#[test]
fn every_per_secret_alert_has_failing_mode_unit_tests() {
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for file in rule_test_files() {
        let tests = parse_yaml(&file);
        for test in tests["tests"].as_sequence().cloned().unwrap_or_default() {
            let failing_mode = test["name"]
                .as_str()
                .is_some_and(|name| name.starts_with(FAILING_MODE_PREFIX));
            if !failing_mode {
                continue;
            }
            for case in test["alert_rule_test"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                let Some(name) = case["alertname"].as_str() else {
                    continue;
                };
                if case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|a| !a.is_empty())
                {
                    fires.insert(name.to_owned());
                } else {
                    quiet.insert(name.to_owned());
                }
            }
        }
    }
    for alert in alerts().into_iter().filter(is_per_resource) {
        assert!(
            fires.contains(&alert.name) && quiet.contains(&alert.name),
            "{}: needs a `{FAILING_MODE_PREFIX}` test in {RULE_TESTS} where it fires and one where it \
             is quiet (fired: {}, quiet: {})",
            alert.name,
            fires.contains(&alert.name),
            quiet.contains(&alert.name)
        );
    }
}

/// The recording rules come first, are named level:metric:operations, and the per-secret alerts
/// read them instead of the exporter's verdicts and _info series: reading every secret once per
/// evaluation, not once per alert, is what keeps the rules cheap with tens of thousands of secrets.
#[test]
fn per_secret_alerts_read_the_recording_rules() {
    let rules = parse_yaml(RULES);
    let groups = rules["groups"].as_sequence().expect("groups");
    assert_eq!(
        groups.first().and_then(|g| g["name"].as_str()),
        Some(RECORDING_GROUP),
        "{RULES}: the recording rules' group must come first"
    );
    let records: BTreeSet<String> = groups
        .iter()
        .flat_map(|group| group["rules"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|rule| rule["record"].as_str().map(str::to_owned))
        .collect();
    for record in &records {
        assert_eq!(
            record.split(':').count(),
            3,
            "{record}: recording rule names are level:metric:operations"
        );
    }
    for resource in &RESOURCES {
        for name in [resource.failing_verdicts, resource.owner_labels] {
            assert!(records.contains(name), "{RULES}: no recording rule {name}");
        }
    }
    for alert in alerts().into_iter().filter(is_per_resource) {
        let Some(resource) = resource_of(&alert) else {
            continue;
        };
        let failing_verdicts = resource.failing_verdicts;
        let owner_labels = resource.owner_labels;
        let copied_labels = resource.copied_labels;
        let compact: String = alert.expr.split_whitespace().collect();
        assert!(
            compact.contains(&format!("{failing_verdicts}{{check=")),
            "{}: does not read {failing_verdicts}:\n{}",
            alert.name,
            alert.expr
        );
        assert!(
            compact.contains(copied_labels) && compact.contains(owner_labels),
            "{}: does not copy `{copied_labels}` from {owner_labels}:\n{}",
            alert.name,
            alert.expr
        );
        for raw in [
            format!("{}{{", resource.verdicts),
            format!("{}{{", resource.info),
            format!("last_over_time({}", resource.verdicts),
            format!("last_over_time({}", resource.info),
        ] {
            assert!(
                !compact.contains(&raw),
                "{}: reads `{raw}` itself instead of the recording rules:\n{}",
                alert.name,
                alert.expr
            );
        }
    }
}

#[test]
fn every_alert_has_severity_annotations_and_a_runbook_section() {
    let anchors = runbook_anchors();
    for alert in alerts() {
        let name = &alert.name;
        let severity = alert.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name}: severity must be critical, warning or info, not {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                alert
                    .annotations
                    .get(key)
                    .is_some_and(|text| !text.trim().is_empty()),
                "{name}: missing annotation `{key}`"
            );
        }
        let runbook_url = &alert.annotations["runbook_url"];
        let anchor = runbook_url.strip_prefix(RUNBOOK_BASE).unwrap_or_else(|| {
            panic!("{name}: runbook_url {runbook_url} does not start with {RUNBOOK_BASE}")
        });
        assert!(
            anchors.contains(anchor),
            "{name}: runbook_url anchor #{anchor} is not a heading in {RUNBOOKS}"
        );
    }
}

#[test]
fn per_secret_alerts_name_the_secret_and_carry_the_owner_labels() {
    let per_secret: Vec<Alert> = alerts().into_iter().filter(is_per_resource).collect();
    assert!(
        per_secret.len() >= 10,
        "expected the per-secret alerts, found {}",
        per_secret.len()
    );
    for alert in per_secret {
        let Some(resource) = resource_of(&alert) else {
            continue;
        };
        let description = &alert.annotations["description"];
        for label in [resource.name_label, "account_id", "region"] {
            assert!(
                description.contains(&format!("$labels.{label}")),
                "{}: description does not name {label}: {description}",
                alert.name
            );
        }
        let compact: String = alert.expr.split_whitespace().collect();
        assert!(
            compact.contains(resource.copied_labels) && compact.contains(resource.info),
            "{}: does not copy `{}` from {}",
            alert.name,
            resource.copied_labels,
            resource.info
        );
    }
}

#[test]
fn the_age_alert_takes_its_threshold_from_the_exporter() {
    let age = alerts()
        .into_iter()
        .find(|alert| alert.name == "SecretRotationAgeExceeded")
        .unwrap_or_else(|| panic!("{RULES}: no SecretRotationAgeExceeded"));
    assert!(
        age.expr
            .contains("aws_secretsmanager_secret_rotation_max_age_seconds")
            && age.expr.contains(r#"check="rotation_age""#),
        "SecretRotationAgeExceeded must use the exporter's max_age and verdict:\n{}",
        age.expr
    );
    // 0 (the verdict), 1 (topk) and the gap-bridging window are the only numbers allowed: any
    // other number or duration would be an age hard-coded in the rule.
    let numbers = numeric_literals(&age.expr);
    assert!(
        numbers
            .iter()
            .all(|n| matches!(n.as_str(), "0" | "1" | "15m")),
        "SecretRotationAgeExceeded must not hard-code an age, found {numbers:?} in:\n{}",
        age.expr
    );
}

#[test]
fn the_prometheusrule_holds_the_same_rules() {
    let resource = parse_yaml(PROMETHEUS_RULE);
    assert_eq!(
        resource["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1"),
        "{PROMETHEUS_RULE}: apiVersion"
    );
    assert_eq!(
        resource["kind"].as_str(),
        Some("PrometheusRule"),
        "{PROMETHEUS_RULE}: kind"
    );
    assert!(
        resource["metadata"]["name"].as_str().is_some(),
        "{PROMETHEUS_RULE}: metadata.name"
    );
    let spec = serde_json::to_value(&resource["spec"])
        .unwrap_or_else(|e| panic!("{PROMETHEUS_RULE}: spec: {e}"));
    let rules = serde_json::to_value(parse_yaml(RULES)).unwrap_or_else(|e| panic!("{RULES}: {e}"));
    assert!(
        spec == rules,
        "{PROMETHEUS_RULE} differs from {RULES}: run mixin/generate.sh"
    );
}

#[test]
fn amtool_accepts_the_example_alertmanager_config() {
    run(&amtool(), &["check-config", ALERTMANAGER]);
}

#[test]
fn the_example_routes_pages_tickets_and_teams() {
    let amtool = amtool();
    let config = format!("--config.file={ALERTMANAGER}");
    let cases: &[(&[&str], &str)] = &[
        (
            &["alertname=SecretRotationFailed", "severity=critical"],
            "pager",
        ),
        (
            &["alertname=SecretRotationOverdue", "severity=warning"],
            "ticket",
        ),
        (&["alertname=SecretUnused", "severity=info"], "ticket"),
        (
            &[
                "alertname=SecretRotationFailed",
                "severity=critical",
                "tag_team=payments",
            ],
            "payments-pager",
        ),
        (
            &[
                "alertname=SecretRotationDisabled",
                "severity=warning",
                "tag_team=payments",
            ],
            "payments-ticket",
        ),
    ];
    for (labels, receiver) in cases {
        let mut args = vec!["config", "routes", "test", config.as_str()];
        args.extend_from_slice(labels);
        let routed = run(&amtool, &args);
        assert_eq!(
            routed.trim(),
            *receiver,
            "alert {labels:?} should reach receiver {receiver}"
        );
    }
}
