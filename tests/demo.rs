//! The README's first command: `demo` serves metrics that promtool accepts
//! and that show every check of the inventory both passing and failing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Exposition;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `demo` on a free port and returns the process and its address.
fn start_demo() -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_secrets-rotation-exporter"))
        .args(["demo", "--web.listen-address", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let stderr = child.stderr.take().expect("stderr");
    let guard = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the demo logged 'serving /metrics' before exiting")
            .expect("read stderr");
        if line.contains("serving /metrics") {
            let address = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("address="))
                .expect("address= in the log line")
                .to_owned();
            break address;
        }
    };
    // Keep draining stderr so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (guard, address)
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is required: install Debian's `prometheus` package (apt-get install prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics rejected the demo's /metrics:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_every_check_passing_and_failing_and_promtool_accepts_it() {
    let (_demo, address) = start_demo();
    let base = format!("http://{address}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status().as_u16());
        if matches!(ready, Ok(200)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo was not ready within 60s: {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let checks = [
        "rotation_enabled",
        "rotation_interval",
        "rotation_age",
        "rotation_overdue",
        "kms_customer_managed",
        "unused",
        "required_tags",
        "rotation_lambda",
        "previous_version_read",
    ];
    let both_ways = |scraped: &Exposition, check: &str| {
        let verdicts = scraped.samples("aws_secretsmanager_secret_compliant", &[("check", check)]);
        (
            verdicts.iter().any(|(_, v)| *v == 1.0),
            verdicts.iter().any(|(_, v)| *v == 0.0),
        )
    };
    let parameter_checks = ["parameter_age", "kms_customer_managed", "required_tags"];
    let parameter_both_ways = |scraped: &Exposition, check: &str| {
        let verdicts = scraped.samples("aws_ssm_parameter_compliant", &[("check", check)]);
        (
            verdicts.iter().any(|(_, v)| *v == 1.0),
            verdicts.iter().any(|(_, v)| *v == 0.0),
        )
    };
    // One secret's Lambda was deleted, one may not be invoked, one runs on a
    // deprecated runtime.
    let broken_lambdas = |scraped: &Exposition| {
        scraped
            .samples(
                "aws_secretsmanager_secret_compliant",
                &[("check", "rotation_lambda")],
            )
            .iter()
            .filter(|(_, v)| *v == 0.0)
            .count()
    };
    // The rotation Lambdas are read once the first poll has named them,
    // moments after the exporter is ready.
    let scraped = loop {
        let body = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body");
        let scraped = Exposition(body);
        if (checks
            .iter()
            .all(|check| both_ways(&scraped, check) == (true, true))
            && broken_lambdas(&scraped) == 3
            && parameter_checks
                .iter()
                .all(|check| parameter_both_ways(&scraped, check) == (true, true)))
            || Instant::now() >= deadline
        {
            break scraped;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    promtool_check(&scraped.0);
    for check in checks {
        let (compliant, noncompliant) = both_ways(&scraped, check);
        assert!(compliant, "{check}: no compliant secret in the demo");
        assert!(noncompliant, "{check}: no non-compliant secret in the demo");
    }
    assert_eq!(broken_lambdas(&scraped), 3);
    assert!(
        scraped.count(
            "aws_secretsmanager_secret_previous_version_last_accessed_timestamp_seconds",
            &[("secret_name", "payments/ledger/db")]
        ) == 1
    );
    assert!(
        scraped
            .samples("aws_secretsmanager_secret_exempt", &[])
            .iter()
            .any(|(_, v)| *v == 1.0)
    );
    assert_eq!(
        scraped.count("aws_secretsmanager_secret_deletion_timestamp_seconds", &[]),
        1
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_target_up",
            &[("account_id", "444444444444"), ("source", "secretsmanager")]
        ),
        0.0
    );
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_target_up",
            &[
                ("account_id", "111111111111"),
                ("region", "eu-west-1"),
                ("source", "lambda")
            ]
        ),
        1.0
    );
    // Requests are counted under the names their counters start with
    // (`lambda`, not the SDK's `Lambda`): one series per operation and outcome.
    let requests = scraped.samples("secrets_rotation_exporter_aws_requests_total", &[]);
    assert!(
        requests
            .iter()
            .all(|(series, _)| !series.contains("service=\"Lambda\"")
                && !series.contains("service=\"Organizations\"")
                && !series.contains("service=\"SSM\"")),
        "{requests:?}"
    );
    assert!(
        scraped.value(
            "secrets_rotation_exporter_aws_requests_total",
            &[
                ("service", "lambda"),
                ("operation", "GetPolicy"),
                ("outcome", "ok")
            ]
        ) > 0.0
    );
    // The SSM parameters: one fails each check the demo's policy applies,
    // others pass it; the parameters' value is never read.
    for check in parameter_checks {
        assert_eq!(
            parameter_both_ways(&scraped, check),
            (true, true),
            "{check}: the demo's parameters do not pass and fail it"
        );
    }
    assert_eq!(
        scraped.value(
            "secrets_rotation_exporter_target_up",
            &[
                ("account_id", "111111111111"),
                ("region", "us-east-1"),
                ("source", "ssm")
            ]
        ),
        1.0
    );
    let ssm_requests = scraped.samples(
        "secrets_rotation_exporter_aws_requests_total",
        &[("service", "ssm"), ("outcome", "ok")],
    );
    assert!(
        ssm_requests.iter().any(|(series, count)| {
            series.contains("operation=\"DescribeParameters\"") && *count > 0.0
        }),
        "{ssm_requests:?}"
    );
    // A value read would be counted whatever its outcome.
    assert!(
        scraped
            .samples(
                "secrets_rotation_exporter_aws_requests_total",
                &[("service", "ssm")]
            )
            .iter()
            .all(|(series, _)| !series.contains("operation=\"GetParameter")),
    );
    // Team routing needs the tag on the _info series.
    assert!(
        scraped.count(
            "aws_secretsmanager_secret_info",
            &[("tag_team", "payments")]
        ) > 0
    );
}

/// Reloading the configuration comes later: until then SIGHUP is logged and
/// ignored, where it used to end the process (exit 129). SIGTERM still stops
/// it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_ignored_and_sigterm_stops_the_demo_cleanly() {
    let (mut demo, address) = start_demo();
    let pid = libc::pid_t::try_from(demo.0.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0, "send SIGHUP");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        demo.0.try_wait().expect("wait").is_none(),
        "the demo exited on SIGHUP"
    );
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("/metrics after SIGHUP");
    assert_eq!(response.status(), 200);

    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "send SIGTERM");
    let began = Instant::now();
    let status = loop {
        if let Some(status) = demo.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the demo did not stop within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
}
