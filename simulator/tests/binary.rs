//! The `aws-simulator` binary, as a script outside Rust drives it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::{Credentials, Region};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FLEET: &str = r#"
base_account: "123456789012"
regions: [eu-west-1]
secrets:
  - name: from-file
    created: -30d
"#;

/// Kills the child if the test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serves_a_fleet_file_and_stops_on_sigterm() -> TestResult {
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(FLEET.as_bytes())?;
    let child = Command::new(env!("CARGO_BIN_EXE_aws-simulator"))
        .args([
            "--fleet",
            &file.path().display().to_string(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut running = Running(child);
    let stdout = running.0.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();

    let first = lines.next().ok_or("no banner")??;
    let endpoint = first
        .strip_prefix("listening on ")
        .ok_or(format!("unexpected banner {first}"))?
        .to_string();
    let mut env = BTreeMap::new();
    for line in lines.by_ref().take(4) {
        let line = line?;
        let (key, value) = line
            .split_once('=')
            .ok_or(format!("not an env line: {line}"))?;
        env.insert(key.to_string(), value.to_string());
    }
    assert_eq!(env.get("AWS_ENDPOINT_URL"), Some(&endpoint));
    assert_eq!(env.get("AWS_REGION").map(String::as_str), Some("eu-west-1"));

    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new(
            env.get("AWS_ACCESS_KEY_ID").ok_or("no access key line")?,
            env.get("AWS_SECRET_ACCESS_KEY")
                .ok_or("no secret key line")?,
            None,
            None,
            "banner",
        ))
        .build();
    let listed = aws_sdk_secretsmanager::Client::from_conf(config)
        .list_secrets()
        .send()
        .await?;
    let names: Vec<_> = listed
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(names, ["from-file"]);

    let pid = running.0.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status()?;
    assert!(signalled.success());
    let status = running.0.wait()?;
    assert!(status.success(), "exit after SIGTERM: {status}");
    Ok(())
}

#[test]
fn a_bad_fleet_file_exits_2_naming_the_field() -> TestResult {
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(b"secrets:\n  - name: x\n    created: last tuesday\n")?;

    let output = Command::new(env!("CARGO_BIN_EXE_aws-simulator"))
        .args(["--fleet", &file.path().display().to_string()])
        .output()?;

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("secrets[0].created"), "{stderr}");
    assert!(
        stderr.contains(&file.path().display().to_string()),
        "{stderr}"
    );
    Ok(())
}
