#![no_main]

//! A snapshot built from fuzz input (names, tags and ARNs with any
//! characters, any times chrono holds, schedules AWS would never store),
//! judged by the real policy and rendered for `/metrics`, must be text
//! Prometheus accepts: one bad line makes it reject the whole scrape, and a
//! repeated series does the same. The output is read back with the strict
//! parser below, which follows the text format 0.0.4 as Prometheus' own
//! parser does, rather than a lenient one that would let a bad escape pass.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::config::Policy;
use secrets_rotation_exporter::inventory::{
    FunctionFacts, LambdaFacts, PreviousVersionAccess, RotationFunction, RotationRules,
    SecretRecord, Unknown,
};
use secrets_rotation_exporter::databases::{DatabaseInventory, DatabaseKind, DatabaseRecord};
use secrets_rotation_exporter::metrics::{RenderOptions, render_snapshot, tag_label_name};
use secrets_rotation_exporter::vpcs::{EndpointRecord, VpcInventory, VpcRecord};
use secrets_rotation_exporter::policy::{ScheduleCache, evaluate_bare};
use secrets_rotation_exporter::rotation_events::{
    RotationEvent, RotationEventKind, SecretRotationEvents,
};
use secrets_rotation_exporter::snapshot::{
    AccountInfo, ErrorReason, SecretReport, Snapshot, Source, SourceHealth, TargetError,
    TargetSnapshot,
};

const POLICY: &str = "
regions: [us-east-1]
accounts: []
policy:
  max_rotation_interval: 30d
  max_age: 30d
  required_tags: [team]
  exempt_tag: rotation-exempt
  overrides:
    - match: { name: 'dev/*', tags: { environment: dev } }
      max_age: 90d
";

fn policy() -> &'static Policy {
    static POLICY_PARSED: OnceLock<Policy> = OnceLock::new();
    POLICY_PARSED.get_or_init(|| match secrets_rotation_exporter::config::parse(POLICY) {
        Ok(config) => config.policy,
        Err(err) => panic!("the fuzz target's policy does not parse: {err}"),
    })
}

#[derive(Arbitrary, Debug)]
struct Time {
    seconds: i64,
    nanos: u32,
}

impl Time {
    /// Any instant chrono holds, leap seconds included; seconds beyond its
    /// range are pinned to its ends, so the extremes come up often.
    fn get(&self) -> DateTime<Utc> {
        let nanos = self.nanos % 2_000_000_000;
        DateTime::from_timestamp(self.seconds, nanos)
            .or_else(|| DateTime::from_timestamp(self.seconds, nanos % 1_000_000_000))
            .unwrap_or(if self.seconds < 0 {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    now: Time,
    /// `labels.tags` of the config.
    tag_keys: Vec<String>,
    targets: Vec<TargetInput>,
}

#[derive(Arbitrary, Debug)]
struct TargetInput {
    account_id: String,
    account_name: Option<String>,
    region: String,
    health: Vec<HealthInput>,
    secrets: Vec<SecretInput>,
    rotation_events_total: Option<[u64; 4]>,
    databases: Option<Vec<DatabaseInput>>,
    vpcs: Option<Vec<VpcInput>>,
}

#[derive(Arbitrary, Debug)]
struct DatabaseInput {
    identifier: String,
    cluster: bool,
    engine: String,
    master_secret_arn: Option<String>,
    replica_of: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct VpcInput {
    vpc_id: String,
    is_default: bool,
    exempt: Option<String>,
    /// (id, type, state, private DNS) of each Secrets Manager endpoint.
    endpoints: Vec<(String, String, String, bool)>,
}

#[derive(Arbitrary, Debug)]
struct HealthInput {
    source: u8,
    up: bool,
    last_success: Option<Time>,
    poll_seconds: u64,
    poll_nanos: u32,
    error: Option<(u8, String)>,
}

#[derive(Arbitrary, Debug)]
struct SecretInput {
    name: String,
    arn: String,
    kms_key_id: Option<String>,
    rotation_enabled: bool,
    rotation_lambda_arn: Option<String>,
    rules: Option<(Option<i64>, Option<String>, Option<String>)>,
    created: Option<Time>,
    last_changed: Option<Time>,
    last_accessed: Option<Time>,
    last_rotated: Option<Time>,
    next_rotation: Option<Time>,
    deleted: Option<Time>,
    current_version_created: Option<Time>,
    pending_since: Option<Time>,
    owning_service: Option<String>,
    primary_region: Option<String>,
    tags: Vec<(String, String)>,
    versions: Vec<(String, Vec<String>)>,
    events: Option<[Option<(String, Time, Option<String>)>; 4]>,
    events_unknown: Option<u8>,
    versions_unknown: Option<u8>,
    /// The previous version's last read and replacement, or why unknown.
    previous_access: Option<(Option<Time>, Option<Time>, Option<u8>)>,
    /// The rotation function: missing, or found with its state, last
    /// update status, runtime and whether Secrets Manager may invoke it;
    /// or why unknown.
    function: Option<FunctionInput>,
}

#[derive(Arbitrary, Debug)]
enum FunctionInput {
    Missing,
    Found(Option<String>, Option<String>, Option<String>, bool),
    Unknown(u8),
}

fn reason(n: u8) -> ErrorReason {
    ErrorReason::ALL[usize::from(n) % ErrorReason::ALL.len()]
}

fn unknown(n: u8) -> Unknown {
    if n == u8::MAX {
        Unknown::NotYetRead
    } else {
        Unknown::Failed(reason(n))
    }
}

fn record(target: &TargetInput, input: &SecretInput) -> SecretRecord {
    let time = |t: &Option<Time>| t.as_ref().map(Time::get);
    let shared = |text: &Option<String>| text.as_deref().map(Arc::from);
    let mut record = SecretRecord {
        account_id: target.account_id.as_str().into(),
        region: target.region.as_str().into(),
        arn: input.arn.clone(),
        name: input.name.clone(),
        kms_key_id: shared(&input.kms_key_id),
        rotation_enabled: input.rotation_enabled,
        rotation_lambda_arn: shared(&input.rotation_lambda_arn),
        rotation_rules: input
            .rules
            .as_ref()
            .map(|(days, duration, schedule)| RotationRules {
                automatically_after_days: *days,
                duration: shared(duration),
                schedule_expression: shared(schedule),
            }),
        created: time(&input.created),
        last_changed: time(&input.last_changed),
        last_accessed: time(&input.last_accessed),
        last_rotated: time(&input.last_rotated),
        next_rotation: time(&input.next_rotation),
        deleted: time(&input.deleted),
        owning_service: shared(&input.owning_service),
        primary_region: shared(&input.primary_region),
        tags: input
            .tags
            .iter()
            .map(|(key, value)| (Arc::from(key.as_str()), Arc::from(value.as_str())))
            .collect(),
        current_version_created: time(&input.current_version_created),
        pending_since: time(&input.pending_since),
        rotation_events_unknown: input.events_unknown.map(unknown),
        versions_unknown: input.versions_unknown.map(unknown),
        previous_version_access: input.previous_access.as_ref().map(
            |(last_accessed, replaced_at, why)| match why {
                Some(why) => PreviousVersionAccess::Unknown(unknown(*why)),
                None => PreviousVersionAccess::Known {
                    last_accessed: time(last_accessed),
                    replaced_at: time(replaced_at),
                },
            },
        ),
        rotation_function: input.function.as_ref().map(|function| match function {
            FunctionInput::Missing => RotationFunction::Known(Arc::new(LambdaFacts::Missing)),
            FunctionInput::Found(state, last_update_status, runtime, may_invoke) => {
                RotationFunction::Known(Arc::new(LambdaFacts::Found(FunctionFacts {
                    state: state.clone(),
                    last_update_status: last_update_status.clone(),
                    runtime: runtime.clone(),
                    secrets_manager_may_invoke: *may_invoke,
                    ..FunctionFacts::default()
                })))
            }
            FunctionInput::Unknown(why) => RotationFunction::Unknown(unknown(*why)),
        }),
        ..SecretRecord::default()
    };
    record.set_version_stages(
        input
            .versions
            .iter()
            .map(|(id, stages)| (id.as_str(), stages.iter().map(String::as_str))),
    );
    record.rotation_events = input.events.as_ref().map(|events| {
        let mut held = SecretRotationEvents::default();
        for (kind, event) in RotationEventKind::ALL.into_iter().zip(events) {
            let Some((id, at, message)) = event else {
                continue;
            };
            let event = Some(Arc::new(RotationEvent {
                id: id.clone(),
                kind,
                time: at.get(),
                secret: input.arn.clone(),
                message: message.clone(),
            }));
            match kind {
                RotationEventKind::Started => held.started = event,
                RotationEventKind::Succeeded => held.succeeded = event,
                RotationEventKind::Failed => held.failed = event,
                RotationEventKind::Abandoned => held.abandoned = event,
            }
        }
        held
    });
    record
}

/// The snapshot the poller would build from this input. What the poller
/// guarantees is kept (targets unique and sorted by account and region,
/// secrets unique and sorted by name within a target, one health per
/// source): a repeated series from input that breaks those is not the
/// writer's fault.
fn snapshot(input: &Input, now: DateTime<Utc>) -> Snapshot {
    let cache = ScheduleCache::new();
    let mut seen_targets = HashSet::new();
    let mut targets = Vec::new();
    for target in &input.targets {
        if !seen_targets.insert((target.account_id.clone(), target.region.clone())) {
            continue;
        }
        let mut seen_sources = HashSet::new();
        let health = target
            .health
            .iter()
            .filter_map(|h| {
                let source = [
                    Source::SecretsManager,
                    Source::CloudTrail,
                    Source::CloudWatch,
                ][usize::from(h.source) % 3];
                seen_sources.insert(source).then(|| SourceHealth {
                    source,
                    up: h.up,
                    last_success: h.last_success.as_ref().map(Time::get),
                    poll_duration: Duration::new(h.poll_seconds, h.poll_nanos % 1_000_000_000),
                    last_error: h.error.as_ref().map(|(n, message)| TargetError {
                        reason: reason(*n),
                        message: message.clone(),
                    }),
                })
            })
            .collect();
        let mut by_name = BTreeMap::new();
        for secret in &target.secrets {
            by_name
                .entry(secret.name.clone())
                .or_insert_with(|| record(target, secret));
        }
        let secrets = by_name
            .into_values()
            .map(|record| SecretReport {
                evaluation: evaluate_bare(&record, policy(), now, &cache),
                record: Arc::new(record),
            })
            .collect();
        targets.push(
            TargetSnapshot::new(
                target.account_id.clone(),
                target.account_name.clone(),
                target.region.clone(),
                health,
                secrets,
                target.rotation_events_total,
            )
            .with_account_resources(
                target.databases.as_ref().map(|databases| databases_of(target, databases)),
                target.vpcs.as_ref().map(|vpcs| vpcs_of(target, vpcs)),
            ),
        );
    }
    targets.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));
    // Every account once, its name also standing for an OU path and a tag
    // value, so their text goes through the label escaping too.
    let mut accounts: Vec<AccountInfo> = Vec::new();
    for target in &targets {
        if accounts.iter().any(|a| a.account_id == target.account_id) {
            continue;
        }
        let name = target.account_name.clone();
        accounts.push(AccountInfo {
            account_id: target.account_id.clone(),
            account_name: name.clone(),
            ou_path: name.clone(),
            tags: name
                .map(|name| vec![("cost-center".to_owned(), name)])
                .unwrap_or_default(),
        });
    }
    Snapshot {
        completed_at: now,
        targets,
        accounts: accounts.into(),
    }
}

/// A listing as `list_databases` makes it: sorted by identifier and kind,
/// each once.
fn databases_of(target: &TargetInput, input: &[DatabaseInput]) -> DatabaseInventory {
    let mut by_key = BTreeMap::new();
    for database in input {
        let kind = if database.cluster {
            DatabaseKind::Cluster
        } else {
            DatabaseKind::Instance
        };
        by_key
            .entry((database.identifier.clone(), kind))
            .or_insert_with(|| {
                Arc::new(DatabaseRecord {
                    account_id: target.account_id.as_str().into(),
                    region: target.region.as_str().into(),
                    identifier: database.identifier.clone(),
                    kind,
                    engine: database.engine.as_str().into(),
                    master_secret_arn: database.master_secret_arn.clone(),
                    replica_of: database.replica_of.clone(),
                })
            });
    }
    DatabaseInventory::new(by_key.into_values().collect::<Vec<_>>().into())
}

/// A listing as `list_vpcs` makes it: sorted by id, each once, judged by
/// the fuzz policy's exempt tag.
fn vpcs_of(target: &TargetInput, input: &[VpcInput]) -> VpcInventory {
    let mut by_id = BTreeMap::new();
    for vpc in input {
        by_id.entry(vpc.vpc_id.clone()).or_insert_with(|| {
            let mut tags = litemap::LiteMap::new();
            if let Some(reason) = &vpc.exempt {
                tags.insert(Arc::from("rotation-exempt"), Arc::from(reason.as_str()));
            }
            Arc::new(VpcRecord {
                account_id: target.account_id.as_str().into(),
                region: target.region.as_str().into(),
                vpc_id: vpc.vpc_id.clone(),
                is_default: vpc.is_default,
                tags,
                endpoints: vpc
                    .endpoints
                    .iter()
                    .map(|(endpoint_id, endpoint_type, state, private_dns)| EndpointRecord {
                        endpoint_id: endpoint_id.clone(),
                        endpoint_type: endpoint_type.clone(),
                        state: state.clone(),
                        private_dns: *private_dns,
                    })
                    .collect(),
            })
        });
    }
    let records: Vec<Arc<VpcRecord>> = by_id.into_values().collect();
    VpcInventory::judge(&records, false, &policy().exempt_tag)
}

type Labels = Vec<(String, String)>;

struct Sample {
    name: String,
    labels: Labels,
}

/// Reads the text format 0.0.4 strictly: every line a HELP, a TYPE or a
/// sample; names and label names from their character sets; label values
/// with only the three escapes the format defines; each family's HELP and
/// TYPE once and before its samples, its samples together; no series twice.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the exposition does not end with a newline"
    );
    let mut samples = Vec::new();
    let mut helped = HashSet::new();
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| -> ! { panic!("line {}: {why}: {line:?}", number + 1) };
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .unwrap_or_else(|| fail("HELP without text"));
            check_metric_name(name).unwrap_or_else(|why| fail(&why));
            check_help(help).unwrap_or_else(|why| fail(&why));
            if !helped.insert(name.to_owned()) {
                fail("a second HELP for the family");
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| fail("TYPE without a type"));
            check_metric_name(name).unwrap_or_else(|why| fail(&why));
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                fail("unknown type");
            }
            if typed.insert(name.to_owned(), kind.to_owned()).is_some() {
                fail("a second TYPE for the family");
            }
            if !helped.contains(name) {
                fail("TYPE before the family's HELP");
            }
            if let Some(previous) = current.replace(name.to_owned()) {
                finished.insert(previous);
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            fail("neither HELP, TYPE nor a sample");
        }
        let sample = parse_sample(line).unwrap_or_else(|why| fail(&why));
        let family = current
            .as_deref()
            .unwrap_or_else(|| fail("sample before any TYPE"));
        let kind = &typed[family];
        let belongs = sample.name == family
            || (matches!(kind.as_str(), "histogram" | "summary")
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| sample.name.strip_suffix(suffix) == Some(family)));
        if !belongs {
            fail(&format!(
                "sample outside its family (current family {family})"
            ));
        }
        if finished.contains(&sample.name) {
            fail("family resumed after another one");
        }
        let mut key = sample.labels.clone();
        key.sort();
        if !series.insert((sample.name.clone(), key)) {
            fail("series repeated");
        }
        samples.push(sample);
    }
    samples
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with("__") {
        Ok(())
    } else {
        Err(format!("invalid label name {name:?}"))
    }
}

fn check_help(help: &str) -> Result<(), String> {
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return Err("HELP with an escape other than \\\\ and \\n".to_owned());
        }
    }
    Ok(())
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let (name, mut rest) = line.split_at(name_end);
    check_metric_name(name)?;
    let mut labels: Labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("a label without '='")?;
            let label = &rest[..eq];
            check_label_name(label)?;
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("a label value without its opening quote")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("a label value without its closing quote".to_owned()),
                    Some((at, '"')) => break at,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err("an escape other than \\\\, \\\" and \\n".to_owned()),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            if labels.iter().any(|(held, _)| held == label) {
                return Err(format!("label {label} repeated"));
            }
            labels.push((label.to_owned(), value));
            rest = &rest[end + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("labels not separated by ','".to_owned());
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value = parts.next().unwrap_or("");
    check_value(value)?;
    if let Some(timestamp) = parts.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp {timestamp:?}"))?;
    }
    if parts.next().is_some() {
        return Err("text after the timestamp".to_owned());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
    })
}

/// Values are written as exact decimals, never with an exponent, NaN or
/// infinity: a plain decimal is all this accepts.
fn check_value(value: &str) -> Result<(), String> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (integer, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let decimal = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if decimal(integer) && decimal(fraction) && value.parse::<f64>().is_ok_and(f64::is_finite) {
        Ok(())
    } else {
        Err(format!("invalid value {value:?}"))
    }
}

fuzz_target!(|input: Input| {
    let now = input.now.get();
    let snapshot = snapshot(&input, now);
    let options =
        RenderOptions::new(input.tag_keys.iter().cloned())
            .with_account_tags(["cost-center"])
            .with_database_label(true);
    let mut text = String::new();
    render_snapshot(&snapshot, &options, &mut text);
    let samples = parse_exposition(&text);

    // Label values round-trip: the `_info` series of every secret carries
    // its name, ARN and tags exactly as AWS gave them.
    let mut tag_labels: Vec<(String, String)> = Vec::new();
    for key in &input.tag_keys {
        let label = tag_label_name(key);
        if tag_labels.iter().all(|(_, held)| *held != label) {
            tag_labels.push((key.clone(), label));
        }
    }
    let info: HashMap<(String, String, String), BTreeMap<String, String>> = samples
        .iter()
        .filter(|sample| sample.name == "aws_secretsmanager_secret_info")
        .map(|sample| {
            let labels: BTreeMap<String, String> = sample.labels.iter().cloned().collect();
            let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
            (
                (label("account_id"), label("region"), label("secret_name")),
                labels,
            )
        })
        .collect();
    let mut expected = BTreeSet::new();
    for target in &snapshot.targets {
        for secret in &target.secrets {
            let record = &secret.record;
            let key = (
                target.account_id.clone(),
                target.region.clone(),
                record.name.clone(),
            );
            let Some(labels) = info.get(&key) else {
                panic!("no _info series for {key:?}");
            };
            let label = |name: &str| labels.get(name).map(String::as_str);
            assert_eq!(label("secret_arn"), Some(record.arn.as_str()));
            assert_eq!(
                label("account_name"),
                Some(target.account_name.as_deref().unwrap_or(""))
            );
            for (tag_key, tag_label) in &tag_labels {
                assert_eq!(
                    label(tag_label),
                    Some(record.tags.get(tag_key.as_str()).map_or("", |v| &**v)),
                    "tag {tag_key:?} of {key:?}"
                );
            }
            expected.insert(key);
        }
    }
    assert_eq!(
        info.len(),
        expected.len(),
        "_info series for secrets not in the snapshot"
    );
});
