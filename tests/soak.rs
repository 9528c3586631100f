//! Soak: many polls at a short interval against a simulator that answers
//! each target's requests with a fault chosen at random (seeded): throttles,
//! 500s, delays past the timeout, denials, malformed bodies, duplicated
//! entries, `NextToken`s handed back. After every poll `/metrics` (plain and
//! gzip) must pass `promtool check metrics` and hold no series twice, no
//! panic may have been caught and counted as `reason="internal"`, and every
//! target's `target_up` must say what its last read met. Resident memory
//! must stay flat once warmed up.
//!
//! `SOAK_POLLS` sets the number of polls (default [`DEFAULT_POLLS`], about
//! 30 s in a debug build); `SOAK_SEED` the seed. `scripts/soak.sh` runs a
//! long one in release mode.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Harness;
use simulator::{
    Fault, FaultRule, Fleet, RotationEventName, RotationEventSpec, RotationSpec, SecretSpec,
    VersionSpec,
};

/// Polls of the suite's run: about 30 s in a debug build.
const DEFAULT_POLLS: usize = 32;
const DEFAULT_SEED: u64 = 0x5eed_cafe_f00d_d00d;

const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// This target lists 150 secrets (two pages of `ListSecrets`) and holds 60
/// `RotationSucceeded` events (two pages of `LookupEvents`), so a repeated
/// `NextToken` is met there.
const BUSY: (&str, &str) = ("111111111111", "us-east-1");
const BUSY_SECRETS: usize = 150;
const BUSY_EVENTS: i64 = 60;

/// `aws.operation_timeout` of the config below; a long delay passes it.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(300);
const LONG_DELAY: Duration = Duration::from_millis(500);
const SHORT_DELAY: Duration = Duration::from_millis(30);
/// `aws.max_attempts`: a fault used up after one request may be retried away.
const MAX_ATTEMPTS: u32 = 2;
/// CloudTrail is read on every this many polls: at its 2 requests a second
/// a read takes at least 1.5 s (four event names), longer after a throttle.
const CLOUDTRAIL_EVERY: usize = 4;
/// Longer than any poll here can take; a poll that does not end fails.
const NO_HANG: Duration = Duration::from_secs(60);

fn config() -> String {
    let accounts: String = ACCOUNTS
        .iter()
        .map(|id| format!("  - id: \"{id}\"\n    role_arn: arn:aws:iam::{id}:role/reader\n"))
        .collect();
    format!(
        r#"
regions: [{regions}]
accounts:
{accounts}
aws:
  connect_timeout: 1s
  operation_timeout: {timeout}ms
  target_timeout: 3s
  max_attempts: {MAX_ATTEMPTS}
cloudtrail: {{ enabled: true, lookback: 7d, requests_per_second: 2.0 }}
"#,
        regions = REGIONS.join(", "),
        timeout = OPERATION_TIMEOUT.as_millis(),
    )
}

fn rotating(account: &str, region: &str, name: &str) -> SecretSpec {
    SecretSpec::new(name)
        .created_days_ago(100)
        .kms_key_id(format!("arn:aws:kms:{region}:{account}:key/k"))
        .tag("team", "payments")
        .rotation(
            RotationSpec::every_days(30)
                .lambda(format!("arn:aws:lambda:{region}:{account}:function:rotate")),
        )
        .last_rotated_days_ago(5)
        .last_changed_days_ago(5)
        .next_rotation_in_days(25)
        .last_accessed_days_ago(1)
}

fn secret_names(account: &str, region: &str) -> Vec<String> {
    let count = if (account, region) == BUSY {
        BUSY_SECRETS
    } else {
        // 3 to 8, differing by target.
        3 + (account.as_bytes()[0] as usize + region.len()) % 6
    };
    (0..count).map(|i| format!("app/secret-{i:03}")).collect()
}

fn fleet() -> Fleet {
    let mut builder = Fleet::builder()
        .base_account("123456789012")
        .regions(REGIONS);
    for account in ACCOUNTS {
        builder = builder.account(account);
        for region in REGIONS {
            builder = builder.region(region).secrets(
                secret_names(account, region)
                    .iter()
                    .map(|name| rotating(account, region, name)),
            );
        }
    }
    builder.build().expect("fleet")
}

/// A small xorshift: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What one fault may do to a listing: fail it, leave it good, or either
/// (a fault used up after one request, which the SDK's retry may get past
/// or not, depending on its jittered backoff and its retry quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Up,
    Down,
    Either,
}

/// One fault put on an operation of one target for one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injected {
    /// Every request throttled: more than `max_attempts`, so it fails.
    ThrottleAlways,
    /// One request throttled; a retry may pass.
    ThrottleOnce,
    AccessDenied,
    /// Every request a 500.
    InternalAlways,
    /// One request a 500; a retry may pass.
    InternalOnce,
    /// Past `aws.operation_timeout`: the call times out.
    LongDelay,
    /// Well within it: the call passes, later.
    ShortDelay,
    /// A page asked with a token hands that token back: fails a listing of
    /// two pages or more, changes nothing on a single page.
    RepeatNextToken,
    /// The first entry of the page repeated at its end: de-duplicated.
    DuplicateEntry,
    /// A 200 whose body is not JSON.
    MalformedBody,
}

const ALL_FAULTS: [Injected; 10] = [
    Injected::ThrottleAlways,
    Injected::ThrottleOnce,
    Injected::AccessDenied,
    Injected::InternalAlways,
    Injected::InternalOnce,
    Injected::LongDelay,
    Injected::ShortDelay,
    Injected::RepeatNextToken,
    Injected::DuplicateEntry,
    Injected::MalformedBody,
];

impl Injected {
    fn rule(self, operation: &str, account: &str, region: &str) -> FaultRule {
        let (fault, times) = match self {
            Injected::ThrottleAlways => (Fault::Throttling, None),
            Injected::ThrottleOnce => (Fault::Throttling, Some(1)),
            Injected::AccessDenied => (Fault::AccessDenied, None),
            Injected::InternalAlways => (Fault::InternalError, None),
            Injected::InternalOnce => (Fault::InternalError, Some(1)),
            Injected::LongDelay => (Fault::Delay(LONG_DELAY), None),
            Injected::ShortDelay => (Fault::Delay(SHORT_DELAY), None),
            Injected::RepeatNextToken => (Fault::RepeatNextToken, None),
            Injected::DuplicateEntry => (Fault::DuplicateEntry, None),
            Injected::MalformedBody => (Fault::MalformedBody, None),
        };
        let rule = FaultRule::new(fault)
            .operation(operation)
            .account(account)
            .region(region);
        match times {
            Some(n) => rule.times(n),
            None => rule,
        }
    }

    /// What a listing of `pages` pages must show with this fault on every
    /// page request (`None` pages: too close to call).
    fn expect(self, pages: Option<usize>) -> Expect {
        match self {
            Injected::ThrottleAlways
            | Injected::AccessDenied
            | Injected::InternalAlways
            | Injected::LongDelay
            | Injected::MalformedBody => Expect::Down,
            Injected::ThrottleOnce | Injected::InternalOnce => Expect::Either,
            Injected::ShortDelay | Injected::DuplicateEntry => Expect::Up,
            Injected::RepeatNextToken => match pages {
                Some(1) => Expect::Up,
                Some(_) => Expect::Down,
                None => Expect::Either,
            },
        }
    }
}

/// No fault four times in ten, else one of [`ALL_FAULTS`].
fn pick(rng: &mut Rng) -> Option<Injected> {
    if rng.below(10) < 4 {
        None
    } else {
        Some(ALL_FAULTS[rng.below(ALL_FAULTS.len())])
    }
}

/// Resident set size of this process (exporter and simulator), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Starts `promtool check metrics` on the text; fails loudly without
/// promtool. Both encodings are checked at once: promtool's start-up is most
/// of a check's time.
fn promtool_start(text: &str) -> std::process::Child {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not on PATH; install it (Debian/Ubuntu: apt-get install prometheus, \
             or ./scripts/test-all.sh setup) so the exposition can be linted"
        ),
        Err(error) => panic!("could not start promtool: {error}"),
    };
    let mut stdin = child.stdin.take().expect("promtool stdin");
    stdin.write_all(text.as_bytes()).expect("write to promtool");
    child
}

fn promtool_verdict(what: &str, child: std::process::Child, text: &str) {
    let output = child.wait_with_output().expect("promtool finishes");
    assert!(
        output.status.success(),
        "promtool check metrics rejected the {what} /metrics ({}):\n{}{}\n--- body ---\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// One sample line's metric name and sorted labels, parsed as the text
/// format writes them (escaped `\\`, `\"`, `\n` in values).
fn series_key(line: &str) -> (String, Vec<(String, String)>) {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..name_end].to_owned();
    let mut labels = Vec::new();
    if line[name_end..].starts_with('{') {
        let mut chars = line[name_end + 1..].chars().peekable();
        loop {
            let mut key = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert_eq!(chars.next(), Some('"'), "label {key} of {line:?}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next().expect("escape")),
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.push((key.trim().to_owned(), value));
            match chars.next() {
                Some(',') if chars.peek() == Some(&'}') => {
                    chars.next();
                    break;
                }
                Some(',') => continue,
                Some('}') => break,
                other => panic!("unexpected {other:?} in labels of {line:?}"),
            }
        }
    }
    labels.sort();
    (name, labels)
}

fn assert_no_duplicate_series(what: &str, text: &str) {
    let mut seen = HashSet::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = series_key(line);
        assert!(
            seen.insert(key.clone()),
            "the {what} /metrics holds {key:?} twice"
        );
    }
}

async fn scrape_gzip(harness: &Harness) -> String {
    let response = reqwest::Client::new()
        .get(&harness.metrics_url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("GET /metrics with gzip");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let body = response.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .expect("gzip");
    text
}

/// What the test knows of one target's CloudTrail between reads.
#[derive(Debug, Default, Clone, Copy)]
struct Trail {
    /// The `now` of the last read that succeeded: the exporter reads from
    /// 20 minutes before it next time.
    watermark: Option<DateTime<Utc>>,
    expect: Option<Expect>,
}

/// Pages of the busy target's `RotationSucceeded` events a read from
/// `start` to `now` gets, or `None` when the count is within an event of a
/// page boundary (the exporter's start is computed from its own clock).
fn lookup_pages(
    events: &[DateTime<Utc>],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<usize> {
    let n = events.iter().filter(|t| **t >= start && **t <= now).count();
    let near = |edge: usize| n + 1 >= edge && n <= edge + 1;
    if near(50) || near(51) {
        None
    } else {
        Some(n.div_ceil(50).max(1))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_for_many_polls_never_panic_lie_duplicate_or_grow() {
    let polls: usize = std::env::var("SOAK_POLLS")
        .ok()
        .map(|v| v.parse().expect("SOAK_POLLS is a number"))
        .unwrap_or(DEFAULT_POLLS);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .map(|v| v.parse().expect("SOAK_SEED is a number"))
        .unwrap_or(DEFAULT_SEED);
    assert!(polls >= 1, "SOAK_POLLS must be at least 1");
    println!("soak: {polls} polls, seed {seed}");
    let mut rng = Rng(seed | 1);

    let harness = Harness::start(fleet(), &config()).await;
    let sim = &harness.simulator;
    // Only the faults put here may throttle.
    sim.set_cloudtrail_rate(None);
    let started = Utc::now();
    let mut busy_events = Vec::new();
    for i in 1..=BUSY_EVENTS {
        let at = started - chrono::Duration::seconds(i * 10);
        sim.record_event(
            BUSY.0,
            BUSY.1,
            RotationEventSpec::new(RotationEventName::Succeeded, "app/secret-000", at)
                .visible_at(at),
        )
        .expect("event");
        busy_events.push(at);
    }
    let tracker = harness.exporter.tracker.clone().expect("CloudTrail is on");
    let targets: Vec<(&str, &str)> = ACCOUNTS
        .iter()
        .flat_map(|a| REGIONS.iter().map(move |r| (*a, *r)))
        .collect();
    let mut trails: BTreeMap<(&str, &str), Trail> = BTreeMap::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    // Reads judged, by source and what the fault allowed.
    let mut judged: BTreeMap<String, usize> = BTreeMap::new();
    let warm_up = (polls / 5).max(1);
    let mut rss_warm = None;
    let mut version_counter = 0u64;
    let clock = Instant::now();
    let mut warm_clock = None;

    for poll in 0..polls {
        let now = Utc::now();
        let read_trail = poll % CLOUDTRAIL_EVERY == 0;
        let mut expect_inventory = BTreeMap::new();
        for &(account, region) in &targets {
            let list = pick(&mut rng);
            let pages = secret_names(account, region).len().div_ceil(100);
            let expect = match list {
                None => Expect::Up,
                Some(fault) => {
                    sim.fail(fault.rule("ListSecrets", account, region));
                    *tally.entry(format!("ListSecrets {fault:?}")).or_default() += 1;
                    fault.expect(Some(pages))
                }
            };
            expect_inventory.insert((account, region), expect);
            // A version lookup's fault leaves its checks unknown, never the
            // target down: the listing was good.
            if rng.below(3) == 0 {
                let fault = ALL_FAULTS[rng.below(ALL_FAULTS.len())];
                sim.fail(fault.rule("ListSecretVersionIds", account, region));
                *tally
                    .entry(format!("ListSecretVersionIds {fault:?}"))
                    .or_default() += 1;
            }
            if read_trail {
                let trail = trails.entry((account, region)).or_default();
                let lookup = pick(&mut rng);
                trail.expect = Some(match lookup {
                    None => Expect::Up,
                    Some(fault) => {
                        sim.fail(fault.rule("LookupEvents", account, region));
                        *tally.entry(format!("LookupEvents {fault:?}")).or_default() += 1;
                        let pages = if (account, region) == BUSY {
                            let start = match trail.watermark {
                                None => now - chrono::Duration::days(7),
                                Some(w) => w - chrono::Duration::minutes(20),
                            };
                            lookup_pages(&busy_events, start, now)
                        } else {
                            Some(1)
                        };
                        fault.expect(pages)
                    }
                });
            }
        }
        // A value set by hand on some secret: a new current version, which
        // the exporter looks up with ListSecretVersionIds.
        if rng.below(2) == 0 {
            let (account, region) = targets[rng.below(targets.len())];
            let names = secret_names(account, region);
            let name = &names[rng.below(names.len())];
            version_counter += 1;
            let id = format!("8c8d0c1b-0000-4000-8000-{version_counter:012}");
            sim.update_secret(account, region, name, |s| {
                s.versions([VersionSpec::current(now).id(id)])
                    .last_changed(now)
            })
            .expect("secret updated");
        }

        let inventory = harness.exporter.poller.poll_once(now);
        let work = async {
            if read_trail {
                tokio::join!(tracker.refresh_all(now), inventory);
            } else {
                inventory.await;
            }
        };
        tokio::time::timeout(NO_HANG, work)
            .await
            .unwrap_or_else(|_| panic!("poll {poll} did not end within {NO_HANG:?}"));
        // The CloudTrail read may end after the poll assembled its snapshot.
        harness.exporter.poller.republish(now);
        sim.clear_faults();

        let plain = harness.scrape().await;
        let gzip = scrape_gzip(&harness).await;
        let checks = [("plain", &plain.0), ("gzip", &gzip)]
            .map(|(what, text)| (what, text, promtool_start(text)));
        for (what, text, promtool) in checks {
            assert_no_duplicate_series(what, text);
            promtool_verdict(what, promtool, text);
        }
        let internal: f64 = plain
            .samples(
                "secrets_rotation_exporter_errors_total",
                &[("reason", "internal")],
            )
            .iter()
            .map(|(_, v)| v)
            .sum();
        assert_eq!(
            internal, 0.0,
            "poll {poll}: a panic was caught and counted as internal"
        );

        for &(account, region) in &targets {
            let up = |source: &str| {
                plain.value(
                    "secrets_rotation_exporter_target_up",
                    &[
                        ("account_id", account),
                        ("region", region),
                        ("source", source),
                    ],
                )
            };
            let inventory_up = up("secretsmanager");
            let want = expect_inventory[&(account, region)];
            let context = format!("poll {poll}, {account}/{region}");
            *judged
                .entry(format!("secretsmanager {want:?}"))
                .or_default() += 1;
            match want {
                Expect::Up => assert_eq!(inventory_up, 1.0, "{context}: inventory up"),
                Expect::Down => assert_eq!(inventory_up, 0.0, "{context}: inventory down"),
                Expect::Either => {}
            }
            if inventory_up == 1.0 {
                // No lie: every secret once, none twice, none made up.
                let held = sim.secret_count(account, region) as f64;
                let labels = [("account_id", account), ("region", region)];
                assert_eq!(
                    plain.value("aws_secretsmanager_secrets", &labels),
                    held,
                    "{context}: secrets counted"
                );
                assert_eq!(
                    plain.count("aws_secretsmanager_secret_info", &labels) as f64,
                    held,
                    "{context}: secrets served"
                );
            }
            let trail = trails.entry((account, region)).or_default();
            let trail_up = up("cloudtrail");
            if read_trail && let Some(want) = trail.expect {
                *judged.entry(format!("cloudtrail {want:?}")).or_default() += 1;
            }
            match trail.expect {
                Some(Expect::Up) => assert_eq!(trail_up, 1.0, "{context}: CloudTrail up"),
                Some(Expect::Down) => assert_eq!(trail_up, 0.0, "{context}: CloudTrail down"),
                Some(Expect::Either) | None => {}
            }
            if read_trail && trail_up == 1.0 {
                trail.watermark = Some(now);
            }
        }

        if poll + 1 == warm_up {
            rss_warm = Some(rss_kib());
            warm_clock = Some(clock.elapsed());
        }
    }

    let elapsed = clock.elapsed();
    let rss_end = rss_kib();
    let rss_warm = rss_warm.expect("warm-up measured");
    let growth = (rss_end as f64 - rss_warm as f64) / rss_warm as f64 * 100.0;
    println!(
        "soak: {polls} polls in {:.1}s ({:.0} ms a poll; warm-up of {warm_up} polls took {:.1}s)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / polls as f64,
        warm_clock.unwrap_or_default().as_secs_f64(),
    );
    println!(
        "soak: resident memory {rss_warm} KiB after warm-up, {rss_end} KiB at the end ({growth:+.1}%)"
    );
    println!("soak: reads judged (Either: not asserted, a retry may get past the fault):");
    for (what, count) in &judged {
        println!("  {what:<40} {count}");
    }
    println!("soak: faults injected:");
    for (fault, count) in &tally {
        println!("  {fault:<40} {count}");
    }
    assert!(
        rss_end as f64 <= rss_warm as f64 * 1.25,
        "resident memory grew from {rss_warm} KiB to {rss_end} KiB ({growth:+.1}%) after warm-up"
    );
}
