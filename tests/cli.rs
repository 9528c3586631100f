//! The command line as a user meets it: exit codes and messages.

use std::process::Command;

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_secrets-rotation-exporter"))
}

#[test]
fn config_check_accepts_a_good_file() {
    let output = exporter()
        .args([
            "config",
            "check",
            "--config.file",
            "tests/fixtures/config/full.ok.yaml",
        ])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok"));
}

#[test]
fn config_check_names_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "regions: [us-east-1]\naccounts:\n  - id: \"12345\"\n    regions: []\npolicy:\n  max_age: 0s\n",
    )
    .expect("write");
    let output = exporter()
        .args(["config", "check", "--config.file"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("accounts[0].id: "), "{stderr}");
    assert!(stderr.contains("accounts[0].regions: "), "{stderr}");
    assert!(stderr.contains("policy.max_age: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn config_check_on_a_missing_file_exits_2_naming_it() {
    let output = exporter()
        .args([
            "config",
            "check",
            "--config.file",
            "/nonexistent/config.yaml",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/config.yaml"));
}

/// Read whole, an endless file would fill memory before any check.
#[cfg(unix)]
#[test]
fn config_check_on_an_endless_file_stops_at_the_size_bound() {
    let output = exporter()
        .args(["config", "check", "--config.file", "/dev/zero"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "/dev/zero: file is larger than 1 MiB, far more than a configuration needs"
    );
}

#[test]
fn check_with_a_bad_config_exits_2() {
    let output = exporter()
        .args([
            "check",
            "--config.file",
            "tests/fixtures/config/bad-duration.bad.yaml",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
}
