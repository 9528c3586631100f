//! The monitoring mixin in `mixin/`: the committed `alerts/` and `dashboards/` files must be what
//! it generates, and its `_config` (selector, severities, disabled alerts, runbook URLs, dashboard
//! settings) must show in what it renders. Runs Debian's `jsonnet` and, on the configured rules,
//! `promtool`; fails (never skips) when either is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FILES: &str = "mixin/files.jsonnet";
const GENERATE: &str = "mixin/generate.sh";
const RULES: &str = "alerts/secrets-rotation.rules.yml";
const RUNBOOK_BASE: &str = "https://github.com/secrets-rotation-exporter/secrets-rotation-exporter/blob/main/docs/runbooks.md#";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Finds a tool on PATH, failing with the Debian package that provides it.
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

fn jsonnet() -> PathBuf {
    tool("jsonnet", "jsonnet")
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

fn describe(program: &Path, args: &[&str], output: &Output) -> String {
    format!(
        "{} {} ({}):\n{}\n{}",
        program.display(),
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The mixin's files as `jsonnet -m` writes them, path (`alerts/...`, `dashboards/...`) to text,
/// from the mixin with `config` (jsonnet object fields) merged into its `_config`.
fn render(config: Option<&str>, dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let jsonnet = jsonnet();
    let mixin = config.map(|config| {
        format!("mixin=(import 'mixin/mixin.libsonnet') + {{ _config+:: {{ {config} }} }}")
    });
    let mut files = BTreeMap::new();
    for (part, string_output) in [("alerts", true), ("dashboards", false)] {
        let out = dir.join(part);
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        let out = out.to_str().expect("UTF-8 temporary path").to_owned();
        let part_arg = format!("part={part}");
        let mut args = vec!["-m", out.as_str(), "--tla-str", part_arg.as_str()];
        if string_output {
            args.push("-S");
        }
        if let Some(mixin) = &mixin {
            args.extend(["--tla-code", mixin.as_str()]);
        }
        args.push(FILES);
        let output = run(&jsonnet, &args);
        if !output.status.success() {
            return Err(describe(&jsonnet, &args, &output));
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let path = PathBuf::from(line);
            let name = path.file_name().expect("jsonnet -m names files");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            files.insert(format!("{part}/{}", name.to_string_lossy()), text);
        }
    }
    Ok(files)
}

fn render_ok(config: Option<&str>, dir: &Path) -> BTreeMap<String, String> {
    render(config, dir).unwrap_or_else(|e| panic!("the mixin does not render:\n{e}"))
}

fn committed_dashboards() -> BTreeSet<String> {
    let dir = repo().join("dashboards");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("dashboards/ entry").file_name())
        .map(|name| format!("dashboards/{}", name.to_string_lossy()))
        .filter(|name| name.ends_with(".json"))
        .collect()
}

fn yaml(text: &str, what: &str) -> Value {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"));
    serde_json::to_value(value).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

/// Every alerting rule of a rule file, by name.
fn alerts(rules: &Value) -> BTreeMap<String, Value> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|rule| Some((rule["alert"].as_str()?.to_owned(), rule)))
        .collect()
}

/// Every recording rule of a rule file, by the name it records.
fn records(rules: &Value) -> BTreeMap<String, Value> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|rule| Some((rule["record"].as_str()?.to_owned(), rule)))
        .collect()
}

/// Every PromQL expression of a dashboard: panel queries and variable queries.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(panels: &Value, out: &mut Vec<String>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.extend(target["expr"].as_str().map(str::to_owned));
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] == "query" {
            out.extend(var["query"].as_str().map(str::to_owned));
            out.extend(var["definition"].as_str().map(str::to_owned));
        }
    }
    out
}

/// The vector selectors of the exporter's series in `expr` (metric names of the exporter, and
/// bare `{__name__=...}` selectors) whose matchers do not start with `matcher`. Quoted strings
/// (label values, label_replace arguments) and the matchers of recorded series are skipped.
fn unselected(expr: &str, matcher: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut missing = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':'))
            {
                i += 1;
            }
            let name = &expr[start..i];
            let exporter = name.starts_with("aws_secretsmanager_")
                || name.starts_with("secrets_rotation_exporter_");
            if exporter && !expr[i..].starts_with(&format!("{{{matcher}")) {
                missing.push(name.to_owned());
            }
            // A series the mixin's recording rules write (level:metric:operations) is no series
            // of the exporter: its matchers need no selector, so skip them.
            if name.contains(':') && bytes.get(i) == Some(&b'{') {
                while i < bytes.len() && bytes[i] != b'}' {
                    if bytes[i] == b'"' {
                        i += 1;
                        while i < bytes.len() && bytes[i] != b'"' {
                            i += if bytes[i] == b'\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
            }
        } else if c == b'{' {
            // A selector without a metric name (the identifier case above skips named ones).
            if !expr[i + 1..].starts_with(matcher) {
                missing.push(expr[i..].chars().take(40).collect());
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    missing
}

#[test]
fn the_committed_alerts_and_dashboards_are_what_the_mixin_generates() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let generated = render_ok(None, dir.path());
    let wanted: BTreeSet<String> = generated.keys().cloned().collect();
    for file in [RULES, "alerts/prometheusrule.yaml"] {
        assert!(
            wanted.contains(file),
            "the mixin does not generate {file}: {wanted:?}"
        );
    }
    let generated_dashboards: BTreeSet<String> = wanted
        .iter()
        .filter(|f| f.starts_with("dashboards/"))
        .cloned()
        .collect();
    assert!(
        generated_dashboards.len() >= 3,
        "expected the fleet, secret and exporter dashboards, got {generated_dashboards:?}"
    );
    let committed = committed_dashboards();
    assert_eq!(
        committed, generated_dashboards,
        "dashboards/ holds other files than the mixin generates: run {GENERATE}"
    );
    let mut stale = Vec::new();
    for (file, text) in &generated {
        let path = repo().join(file);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if &current != text {
            stale.push(file.as_str());
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from what the mixin generates: run {GENERATE} (or `{GENERATE} --check` for the diff)"
    );
}

#[test]
fn generate_sh_check_agrees() {
    jsonnet();
    let script = repo().join(GENERATE);
    let output = run(&script, &["--check"]);
    assert!(
        output.status.success(),
        "{}",
        describe(&script, &["--check"], &output)
    );
}

#[test]
fn a_configured_mixin_renders_what_its_config_says() {
    let config = r#"
        secretsRotationSelector: 'job="x"',
        secretsRotationDisabledAlerts: ['SecretUnused'],
        secretsRotationSeverities+: { SecretRotationOverdue: 'critical' },
        secretsRotationRunbookURLPattern: 'https://wiki.example.com/secrets-rotation/%s',
        secretsRotationDashboardUIDPrefix: 'sr-',
        secretsRotationDashboardTags: ['aws-secrets', 'team-sre'],
        secretsRotationDashboardRefresh: '5m',
        secretsRotationDatasourceRegex: 'prom-.*',
    "#;
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = render_ok(Some(config), dir.path());
    let default_dir = tempfile::tempdir().expect("temporary directory");
    let defaults = render_ok(None, default_dir.path());

    // Alerts: SecretUnused gone, one severity changed, the wiki's runbook links, and the selector
    // the only other difference from the default rules.
    let rules = yaml(&files[RULES], "the configured rules");
    let configured = alerts(&rules);
    let default = alerts(&yaml(&defaults[RULES], "the default rules"));
    assert!(
        !configured.contains_key("SecretUnused"),
        "SecretUnused is disabled"
    );
    let mut left: BTreeSet<&String> = default.keys().collect();
    left.remove(&"SecretUnused".to_owned());
    assert_eq!(
        configured.keys().collect::<BTreeSet<_>>(),
        left,
        "the other alerts stay"
    );
    for (name, rule) in &configured {
        let base = &default[name];
        let expected_severity = if name == "SecretRotationOverdue" {
            "critical"
        } else {
            base["labels"]["severity"].as_str().expect("severity")
        };
        assert_eq!(
            rule["labels"]["severity"], expected_severity,
            "{name}: severity"
        );
        assert_eq!(
            rule["annotations"]["runbook_url"],
            format!(
                "https://wiki.example.com/secrets-rotation/{}",
                name.to_lowercase()
            ),
            "{name}: runbook_url"
        );
        let expr = rule["expr"].as_str().expect("expr");
        let missing = unselected(expr, r#"job="x""#);
        assert!(
            missing.is_empty(),
            "{name}: {missing:?} without the selector in:\n{expr}"
        );
        // up{job="x"} is the up selector, which follows the selector (checked below).
        let without = expr
            .replace(r#"(up{job="x"}"#, r#"(up{job=~".*secrets-rotation.*"}"#)
            .replace(r#"{job="x"}"#, "")
            .replace(r#"{job="x","#, "{");
        assert_eq!(
            without,
            base["expr"].as_str().expect("expr"),
            "{name}: expression"
        );
    }
    // Recording rules: the same, with the selector on every series of the exporter they read.
    let configured_records = records(&rules);
    let default_records = records(&yaml(&defaults[RULES], "the default rules"));
    assert!(
        !configured_records.is_empty(),
        "the recording rules are rendered"
    );
    assert_eq!(
        configured_records.keys().collect::<BTreeSet<_>>(),
        default_records.keys().collect::<BTreeSet<_>>(),
        "the recording rules do not depend on the config"
    );
    for (name, rule) in &configured_records {
        let expr = rule["expr"].as_str().expect("expr");
        let missing = unselected(expr, r#"job="x""#);
        assert!(
            missing.is_empty(),
            "{name}: {missing:?} without the selector in:\n{expr}"
        );
        let without = expr
            .replace(r#"{job="x"}"#, "")
            .replace(r#"{job="x","#, "{");
        assert_eq!(
            without,
            default_records[name]["expr"].as_str().expect("expr"),
            "{name}: expression"
        );
    }
    let absent = configured["SecretsRotationExporterAbsent"]["expr"]
        .as_str()
        .unwrap();
    assert!(
        absent.contains(r#"up{job="x"}"#),
        "the up selector follows the selector:\n{absent}"
    );
    let prometheus_rule = yaml(
        &files["alerts/prometheusrule.yaml"],
        "the configured PrometheusRule",
    );
    assert_eq!(
        prometheus_rule["spec"], rules,
        "the PrometheusRule holds the configured rules"
    );

    let promtool = tool("promtool", "prometheus");
    let rules_path = dir.path().join(RULES);
    let args = ["check", "rules", rules_path.to_str().expect("UTF-8 path")];
    let output = run(&promtool, &args);
    assert!(
        output.status.success(),
        "{}",
        describe(&promtool, &args, &output)
    );

    // Dashboards: every query selects job="x"; uid, tags, links, refresh and data source follow.
    for (file, text) in files.iter().filter(|(f, _)| f.starts_with("dashboards/")) {
        let dashboard = json(text, file);
        let base = json(&defaults[file], file);
        let uid = dashboard["uid"].as_str().expect("uid");
        assert_eq!(
            uid,
            base["uid"]
                .as_str()
                .unwrap()
                .replacen("secrets-rotation-", "sr-", 1),
            "{file}: uid"
        );
        assert_eq!(
            dashboard["tags"],
            serde_json::json!(["aws-secrets", "team-sre"]),
            "{file}"
        );
        assert_eq!(
            dashboard["links"][0]["tags"],
            serde_json::json!(["aws-secrets"]),
            "{file}"
        );
        assert_eq!(dashboard["refresh"], "5m", "{file}");
        assert_eq!(
            dashboard["templating"]["list"][0]["regex"], "prom-.*",
            "{file}"
        );
        let queries = dashboard_queries(&dashboard);
        let base_queries = dashboard_queries(&base);
        assert!(
            !queries.is_empty() && queries.len() == base_queries.len(),
            "{file}: queries"
        );
        for (query, base_query) in queries.iter().zip(&base_queries) {
            let missing = unselected(query, r#"job="x""#);
            assert!(
                missing.is_empty(),
                "{file}: {missing:?} without the selector in {query}"
            );
            let without = query
                .replace(r#"{job="x"}"#, "")
                .replace(r#"{job="x","#, "{");
            assert_eq!(&without, base_query, "{file}: query");
        }
    }
}

#[test]
fn the_default_mixin_reads_the_exporter_series_without_a_selector() {
    // The default selector is empty: the rules and dashboards match the exporter's series
    // whatever job scrapes them, as they did before the mixin.
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = render_ok(None, dir.path());
    let rules = yaml(&files[RULES], "the rules");
    for (name, rule) in alerts(&rules) {
        let expr = rule["expr"].as_str().expect("expr");
        // Only the absent alert's `up` names a job, which it cannot do without.
        let rest = expr.replace(r#"up{job=~".*secrets-rotation.*"}"#, "up");
        assert!(!rest.contains("job="), "{name}: a job matcher in:\n{expr}");
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .expect("runbook_url");
        assert_eq!(
            url,
            format!("{RUNBOOK_BASE}{}", name.to_lowercase()),
            "{name}"
        );
    }
}

#[test]
fn a_config_naming_no_alert_fails_the_render() {
    for (config, named) in [
        (
            "secretsRotationDisabledAlerts: ['SecretUnsued']",
            "SecretUnsued",
        ),
        (
            "secretsRotationSeverities+: { SecretRotationFaild: 'info' }",
            "SecretRotationFaild",
        ),
    ] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let error = render(Some(config), dir.path()).err().unwrap_or_else(|| {
            panic!("`{config}` rendered; a typo must not leave an alert as it was")
        });
        assert!(
            error.contains(named),
            "the error for `{config}` does not name {named}:\n{error}"
        );
    }
}
