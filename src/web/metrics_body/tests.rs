use std::io::Read as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::inventory::SecretRecord;
use crate::metrics::ExporterMetrics;
use crate::policy::{Check, Evaluation, Verdict};
use crate::snapshot::{SecretReport, SnapshotStore, Source, SourceHealth, TargetSnapshot};
use crate::web::{app, serve};

use super::*;

fn accept(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(header::ACCEPT_ENCODING, value);
    }
    headers
}

#[test]
fn gzip_is_sent_only_when_accepted_with_a_non_zero_quality() {
    assert!(accepts_gzip(&accept("gzip")));
    assert!(accepts_gzip(&accept("deflate, GZIP;q=0.5")));
    assert!(accepts_gzip(&accept("*")));
    assert!(accepts_gzip(&accept("identity, x-gzip")));
    assert!(!accepts_gzip(&accept("gzip;q=0")));
    assert!(!accepts_gzip(&accept("identity")));
    assert!(!accepts_gzip(&accept("br, deflate")));
    assert!(!accepts_gzip(&HeaderMap::new()));
}

#[test]
fn concatenated_gzip_members_decompress_to_the_concatenated_text() -> std::io::Result<()> {
    let mut body = gzip(b"first part\n")?.to_vec();
    body.extend_from_slice(&gzip(b"second part\n")?);
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(body.as_slice()).read_to_string(&mut text)?;
    assert_eq!(text, "first part\nsecond part\n");
    Ok(())
}

fn time(seconds: i64, nanos: u32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, nanos)
}

/// Two targets of `per_target` secrets each, with label values that need
/// escaping and times with fractions, as a large fleet has.
fn fleet_snapshot(per_target: usize) -> Snapshot {
    let targets = ["111111111111", "222222222222"]
        .into_iter()
        .map(|account_id| {
            let secrets = (0..per_target)
                .map(|i| {
                    let name = format!("app-{i:05}/db/password");
                    let mut record = SecretRecord {
                        account_id: account_id.into(),
                        region: "eu-west-1".into(),
                        arn: format!(
                            "arn:aws:secretsmanager:eu-west-1:{account_id}:secret:{name}-AbCdEf"
                        ),
                        name,
                        rotation_enabled: i % 2 == 0,
                        created: time(1_700_000_000 + i as i64, 0),
                        last_changed: time(1_710_000_000, (i as u32 % 1000) * 1_000_000),
                        last_accessed: time(1_717_200_000, 0),
                        ..SecretRecord::default()
                    };
                    record
                        .tags
                        .insert("team".into(), format!("team \"{}\"", i % 7).into());
                    let verdicts = Check::ALL
                        .into_iter()
                        .map(|check| Verdict::bare(check, i % 3 != 0))
                        .collect();
                    SecretReport {
                        record: Arc::new(record),
                        evaluation: Evaluation {
                            exemption: None,
                            exemption_ignored: None,
                            scheduled_for_deletion: false,
                            rotation_interval: Some(Duration::from_secs(30 * 86_400)),
                            max_age: Duration::from_secs(90 * 86_400),
                            verdicts,
                            unknown: Vec::new(),
                            value_age_seconds: None,
                        },
                    }
                })
                .collect();
            TargetSnapshot::new(
                account_id.to_string(),
                Some("payments \\ prod".to_string()),
                "eu-west-1".to_string(),
                vec![SourceHealth {
                    source: Source::SecretsManager,
                    up: true,
                    last_success: time(1_717_243_200, 5),
                    poll_duration: Duration::from_millis(1234),
                    last_error: None,
                }],
                secrets,
                None,
            )
        })
        .collect();
    Snapshot {
        completed_at: time(1_717_243_200, 0).unwrap_or_default(),
        targets,
        accounts: Default::default(),
    }
}

fn plain(snapshot: &Snapshot, options: &RenderOptions) -> String {
    let mut text = String::new();
    crate::metrics::render_snapshot(snapshot, options, &mut text);
    text
}

/// Keeps every write apart, to see how the text reached the sink.
#[derive(Default)]
struct Writes(Vec<Vec<u8>>);

impl std::io::Write for Writes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn streamed_gzip_decompresses_to_the_plain_rendering() -> std::io::Result<()> {
    let snapshot = fleet_snapshot(2_000);
    let options = RenderOptions::new(["team"]);
    let text = plain(&snapshot, &options);
    assert!(text.len() > 2 << 20, "only {} bytes", text.len());

    let compressed = gzip_snapshot(&snapshot, &options, 0)?;
    let mut unzipped = String::new();
    flate2::read::MultiGzDecoder::new(compressed.as_slice()).read_to_string(&mut unzipped)?;
    assert!(
        unzipped == text,
        "the gzip body differs from the plain text"
    );
    Ok(())
}

#[test]
fn streamed_rendering_arrives_in_bounded_chunks_of_whole_lines() -> std::io::Result<()> {
    let snapshot = fleet_snapshot(2_000);
    let options = RenderOptions::new(["team"]);
    let text = plain(&snapshot, &options);

    let mut writes = Writes::default();
    write_snapshot(&snapshot, &options, &mut writes)?;
    assert!(writes.0.len() >= 8, "{} writes", writes.0.len());
    for chunk in &writes.0 {
        assert!(chunk.len() <= 512 << 10, "a chunk of {} bytes", chunk.len());
        assert_eq!(chunk.last(), Some(&b'\n'), "a chunk ends inside a line");
    }
    assert!(
        writes.0.concat() == text.as_bytes(),
        "the chunks differ from the text"
    );
    Ok(())
}

#[test]
fn a_failing_sink_fails_the_rendering() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let result = write_snapshot(&fleet_snapshot(10), &RenderOptions::default(), &mut Broken);
    assert_eq!(
        result.map_err(|err| err.to_string()),
        Err("disk full".to_string())
    );
}

async fn fetch(url: &str, accept_encoding: &str) -> Result<Vec<u8>, reqwest::Error> {
    let response = reqwest::Client::new()
        .get(url)
        .header(header::ACCEPT_ENCODING, accept_encoding)
        .send()
        .await?
        .error_for_status()?;
    Ok(response.bytes().await?.to_vec())
}

#[tokio::test]
async fn gzip_and_plain_scrapes_serve_the_same_exposition() -> Result<(), Box<dyn std::error::Error>>
{
    let store = Arc::new(SnapshotStore::new());
    let options = RenderOptions::new(["team"]);
    let snapshot = fleet_snapshot(1_500);
    let expected = plain(&snapshot, &options);
    store.store(snapshot);
    let metrics = ExporterMetrics::new("1.2.3", "abc")?;
    let state = Arc::new(AppState::new(store, metrics, options));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app(state), None, async move {
        let _ = stopped.await;
    }));

    // Gzip twice (rendered, then from the cache), then plain, which is
    // rendered for each scrape and streamed in pieces.
    let mut bodies = Vec::new();
    for accept_encoding in ["gzip", "gzip", "identity"] {
        let body = fetch(&url, accept_encoding).await?;
        let mut text = String::new();
        if accept_encoding == "gzip" {
            flate2::read::MultiGzDecoder::new(body.as_slice()).read_to_string(&mut text)?;
        } else {
            text = String::from_utf8(body)?;
        }
        bodies.push(text);
    }
    let _ = stop.send(());
    server.await??;

    for body in &bodies {
        assert!(body.starts_with(&expected), "a body lacks the snapshot");
        let own = &body[expected.len()..];
        assert!(
            own.contains("secrets_rotation_exporter_build_info{"),
            "{own}"
        );
    }
    assert!(bodies.iter().all(|body| body == &bodies[2]));
    Ok(())
}
