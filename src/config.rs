//! Configuration: raw serde structs (unknown keys rejected) are parsed, then
//! validated into the typed `Config` below. Every error names its path.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub poll_interval: Duration,
    /// Default regions for every account.
    pub regions: Vec<String>,
    /// Explicit targets. Empty: the account of the base credentials, found
    /// with `sts:GetCallerIdentity`, in `regions`.
    pub accounts: Vec<Account>,
    pub policy: Policy,
    pub cloudtrail: CloudTrail,
    pub cloudwatch: CloudWatch,
    pub labels: Labels,
    pub aws: AwsClientSettings,
    /// The part of the accounts this replica polls.
    pub shard: Shard,
}

/// One of `count` replicas that split the accounts between them: each
/// account belongs to exactly one shard, chosen by a hash of its id that is
/// the same in every process and release, so replicas agree without talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// `count` at least 1 and `index` below it.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("count must be at least 1".to_string());
        }
        if index >= count {
            return Err(format!(
                "index must be below count ({count}), from 0 to {} (got {index})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// Reads `INDEX/COUNT`, as the `--shard` flag takes it: `0/3`, `1/3`, `2/3`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("expected INDEX/COUNT such as 0/3, got {text:?}"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} must be a whole number, got {part:?}"))
        };
        Self::new(number(index, "index")?, number(count, "count")?)
    }

    /// The shard an account belongs to among `count`: 64-bit FNV-1a of the
    /// account id, modulo `count`. Std's hasher is seeded per process, so
    /// it could not be used for this.
    pub fn of(account_id: &str, count: u32) -> u32 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in account_id.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        u32::try_from(hash % u64::from(count.max(1))).unwrap_or(0)
    }

    pub fn owns(&self, account_id: &str) -> bool {
        Self::of(account_id, self.count) == self.index
    }

    /// `INDEX-of-COUNT` when the fleet is split, for names and CloudWatch
    /// dimensions; `None` for a single replica.
    pub fn label(&self) -> Option<String> {
        (self.count > 1).then(|| format!("{}-of-{}", self.index, self.count))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// `None`: use the base credentials.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// Resolved: the account's own list, else the top-level `regions`.
    pub regions: Vec<String>,
    pub name: Option<String>,
}

/// The thresholds that overrides can change per secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    pub max_rotation_interval: Duration,
    pub max_age: Duration,
    pub overdue_grace: Duration,
    pub pending_timeout: Duration,
    pub unused_after: Duration,
    pub require_customer_managed_key: bool,
    /// Empty: at least one tag whose key does not start with `aws:`.
    pub required_tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub defaults: Thresholds,
    /// Optional allowlist of customer managed keys (ARNs, key ids or aliases).
    pub kms_key_arns: Vec<String>,
    /// The tag whose presence exempts a secret; its value is the reason.
    pub exempt_tag: String,
    /// First match wins.
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub matcher: OverrideMatch,
    pub max_rotation_interval: Option<Duration>,
    pub max_age: Option<Duration>,
    pub overdue_grace: Option<Duration>,
    pub pending_timeout: Option<Duration>,
    pub unused_after: Option<Duration>,
    pub require_customer_managed_key: Option<bool>,
    pub required_tags: Option<Vec<String>>,
}

/// Every field given must match; at least one is given.
#[derive(Debug, Clone)]
pub struct OverrideMatch {
    /// Glob on the secret name (`*`, `?`, `[...]`), kept as written for display.
    pub name: Option<String>,
    pub name_glob: Option<globset::GlobMatcher>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl PartialEq for OverrideMatch {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.account == other.account
            && self.region == other.region
            && self.tags == other.tags
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrail {
    pub enabled: bool,
    pub lookback: Duration,
    pub requests_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatch {
    pub enabled: bool,
    pub namespace: String,
    /// Where metrics and alarms go; `None`: the region of the base AWS configuration.
    pub region: Option<String>,
    /// A role in the account that receives metrics and alarms; `None`: the base credentials.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// Also publish one series per non-compliant secret (billed per metric).
    pub per_secret_metrics: bool,
    pub alarms: Alarms,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarms {
    pub manage: bool,
    pub prefix: String,
    pub actions: Vec<String>,
    /// An alarm on the fleet's non-compliant secrets at or above this count; `None`: no alarm.
    pub noncompliant_secrets: Option<u64>,
    /// How often `serve` reconciles the alarms after the one at start.
    pub reconcile_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// Tag keys copied onto `aws_secretsmanager_secret_info` as `tag_<key>`.
    pub tags: Vec<String>,
}

/// How the exporter talks to AWS. The SDK sets no timeouts by default, so a
/// hung connection would hold a poll forever without these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsClientSettings {
    pub connect_timeout: Duration,
    /// One API call, retries included.
    pub operation_timeout: Duration,
    /// One (account, region) poll, all pages included.
    pub target_timeout: Duration,
    /// How many (account, region) targets are polled at once.
    pub max_concurrent_targets: usize,
    pub max_attempts: u32,
    /// The name of the assumed-role session, visible in the accounts' CloudTrail.
    pub role_session_name: String,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// One thing wrong with a configuration, at a path such as
/// `accounts[2].regions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything wrong with a configuration; displayed as one `path: problem`
/// line per problem, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::single(
            path.display().to_string(),
            format!("cannot read file: {err}"),
        )
    })?;
    parse(&text)
}

/// Parses and validates a configuration document.
pub fn parse(yaml: &str) -> Result<Config, ConfigError> {
    validate(parse_raw(yaml)?)
}

fn parse_raw(yaml: &str) -> Result<RawConfig, ConfigError> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(yaml);
    match serde_path_to_error::deserialize::<_, Option<RawConfig>>(deserializer) {
        Ok(raw) => Ok(raw.unwrap_or_default()),
        Err(err) => Err(yaml_problem(&err)),
    }
}

fn yaml_problem(err: &serde_path_to_error::Error<serde_yaml_ng::Error>) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.inner();
    let mut message = inner.to_string();
    // serde_yaml_ng prefixes its own, coarser path; ours is the precise one.
    if let Some((prefix, rest)) = message.split_once(": ")
        && looks_like_yaml_path(prefix)
    {
        message = rest.to_string();
    }
    let path = if path == "." {
        match inner.location() {
            Some(location) => format!("line {}", location.line()),
            None => "(document)".to_string(),
        }
    } else {
        path
    };
    ConfigError::single(path, message)
}

fn looks_like_yaml_path(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
}

// ---------------------------------------------------------------------------
// Raw document: mirrors the YAML, rejects unknown keys, checks nothing else.
// Absent keys stay `None` so defaults live in one place (`validate`).
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of configuration keys")]
struct RawConfig {
    #[serde(default)]
    poll_interval: Option<RawDuration>,
    #[serde(default)]
    regions: Option<Vec<String>>,
    #[serde(default)]
    accounts: Option<Vec<RawAccount>>,
    #[serde(default)]
    policy: Option<RawPolicy>,
    #[serde(default)]
    cloudtrail: Option<RawCloudTrail>,
    #[serde(default)]
    cloudwatch: Option<RawCloudWatch>,
    #[serde(default)]
    labels: Option<RawLabels>,
    #[serde(default)]
    aws: Option<RawAws>,
    #[serde(default)]
    shard: Option<RawShard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with index and count")]
struct RawShard {
    index: RawCount,
    count: RawCount,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with id, role_arn, external_id, regions, name"
)]
struct RawAccount {
    id: String,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    regions: Option<Vec<String>>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of policy keys")]
struct RawPolicy {
    #[serde(default)]
    max_rotation_interval: Option<RawDuration>,
    #[serde(default)]
    max_age: Option<RawDuration>,
    #[serde(default)]
    overdue_grace: Option<RawDuration>,
    #[serde(default)]
    pending_timeout: Option<RawDuration>,
    #[serde(default)]
    unused_after: Option<RawDuration>,
    #[serde(default)]
    require_customer_managed_key: Option<bool>,
    #[serde(default)]
    kms_key_arns: Option<Vec<String>>,
    #[serde(default)]
    required_tags: Option<Vec<String>>,
    #[serde(default)]
    exempt_tag: Option<String>,
    #[serde(default)]
    overrides: Option<Vec<RawOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with match and the thresholds to change"
)]
struct RawOverride {
    #[serde(rename = "match")]
    matcher: RawMatch,
    #[serde(default)]
    max_rotation_interval: Option<RawDuration>,
    #[serde(default)]
    max_age: Option<RawDuration>,
    #[serde(default)]
    overdue_grace: Option<RawDuration>,
    #[serde(default)]
    pending_timeout: Option<RawDuration>,
    #[serde(default)]
    unused_after: Option<RawDuration>,
    #[serde(default)]
    require_customer_managed_key: Option<bool>,
    #[serde(default)]
    required_tags: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with name, account, region or tags"
)]
struct RawMatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with enabled, lookback, requests_per_second"
)]
struct RawCloudTrail {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    lookback: Option<RawDuration>,
    #[serde(default)]
    requests_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with enabled, namespace, region, role_arn, external_id, per_secret_metrics, alarms"
)]
struct RawCloudWatch {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    per_secret_metrics: Option<bool>,
    #[serde(default)]
    alarms: Option<RawAlarms>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with manage, prefix, actions, noncompliant_secrets, reconcile_interval"
)]
struct RawAlarms {
    #[serde(default)]
    manage: Option<bool>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    noncompliant_secrets: Option<RawCount>,
    #[serde(default)]
    reconcile_interval: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with tags")]
struct RawLabels {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of AWS client settings")]
struct RawAws {
    #[serde(default)]
    connect_timeout: Option<RawDuration>,
    #[serde(default)]
    operation_timeout: Option<RawDuration>,
    #[serde(default)]
    target_timeout: Option<RawDuration>,
    #[serde(default)]
    max_concurrent_targets: Option<RawCount>,
    #[serde(default)]
    max_attempts: Option<RawCount>,
    #[serde(default)]
    role_session_name: Option<String>,
}

/// A whole number; its range is checked during validation so that a
/// negative value gets the same message as one that is too large.
#[derive(Debug, Clone, Copy)]
struct RawCount(i64);

impl<'de> Deserialize<'de> for RawCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = RawCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<RawCount, E> {
                Ok(RawCount(value))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<RawCount, E> {
                Ok(RawCount(i64::try_from(value).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_i64(CountVisitor)
    }
}

/// A duration kept as written; parsed during validation so that every bad
/// duration is reported, not only the first.
#[derive(Debug)]
struct RawDuration(String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 90s, 5m or 24h")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(value.to_string()))
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

/// Units in descending order, as Prometheus writes them.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Prometheus stores durations as signed 64-bit nanoseconds; staying inside
/// that range keeps every duration convertible to the clocks used later.
const MAX_DURATION_MILLIS: u64 = (i64::MAX as u64) / 1_000_000;

/// Parses a Prometheus-style duration: `500ms`, `90s`, `5m`, `24h`, `30d`,
/// `1w`, `1y`, or a compound such as `1h30m` (units largest first, each at
/// most once). `0` alone is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration {text:?}: {why}");
    if text.is_empty() {
        return Err("empty duration; expected e.g. 90s, 5m, 24h".to_string());
    }
    if text.starts_with('-') {
        return Err(invalid("must not be negative"));
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut previous_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(match rest.chars().next() {
                Some(c) if !c.is_ascii_alphabetic() => {
                    invalid(&format!("unexpected character {c:?}"))
                }
                _ => invalid("expected a whole number followed by a unit (ms, s, m, h, d, w, y)"),
            });
        }
        let (digits, after_digits) = rest.split_at(digits_end);
        let unit_end = after_digits
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after_digits.len());
        let (unit, after_unit) = after_digits.split_at(unit_end);
        if unit.is_empty() {
            return Err(match after_digits.chars().next() {
                Some('.') => invalid("use whole numbers (1h30m rather than 1.5h)"),
                Some(other) => invalid(&format!("unexpected character {other:?}")),
                None => invalid(&format!(
                    "missing unit after {digits} (ms, s, m, h, d, w, y)"
                )),
            });
        }
        let Some(unit_index) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(invalid(&format!(
                "unknown unit {unit:?} (use ms, s, m, h, d, w, y)"
            )));
        };
        if previous_unit.is_some_and(|previous| previous >= unit_index) {
            return Err(invalid(
                "units must go from largest to smallest, each once (e.g. 1h30m)",
            ));
        }
        previous_unit = Some(unit_index);
        let out_of_range = || invalid("too large (at most about 292 years)");
        let number: u64 = digits.parse().map_err(|_| out_of_range())?;
        total = number
            .checked_mul(DURATION_UNITS[unit_index].1)
            .and_then(|millis| total.checked_add(millis))
            .filter(|millis| *millis <= MAX_DURATION_MILLIS)
            .ok_or_else(out_of_range)?;
        rest = after_unit;
    }
    Ok(Duration::from_millis(total))
}

/// Writes a duration the way `parse_duration` reads it (`1h30m`, `500ms`,
/// `0s`); sub-millisecond parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    // Years and weeks read worse than days in messages ("1y5w" vs "400d").
    for (unit, size) in DURATION_UNITS.iter().skip(2) {
        if millis >= *size {
            let _ = write!(out, "{}{unit}", millis / size);
            millis %= size;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Validation: raw document -> typed Config, collecting every problem.
// ---------------------------------------------------------------------------

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_MAX_ROTATION_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
const DEFAULT_OVERDUE_GRACE: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_PENDING_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
const DEFAULT_UNUSED_AFTER: Duration = Duration::from_secs(90 * 24 * 3600);
const DEFAULT_EXEMPT_TAG: &str = "rotation-exempt";
const DEFAULT_CLOUDTRAIL_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
/// CloudTrail event history keeps 90 days.
const MAX_CLOUDTRAIL_LOOKBACK: Duration = Duration::from_secs(90 * 24 * 3600);
const DEFAULT_CLOUDTRAIL_RPS: f64 = 1.0;
/// The LookupEvents quota: 2 requests per second per account and region.
const MAX_CLOUDTRAIL_RPS: f64 = 2.0;
const DEFAULT_NAMESPACE: &str = "SecretsRotation";
const MAX_NAMESPACE_LEN: usize = 255;
const DEFAULT_ALARM_PREFIX: &str = "secrets-rotation-";
const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(3600);
/// Reconciling reads every managed alarm; more often than this only spends requests.
const MIN_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_MAX_CONCURRENT_TARGETS: i64 = 32;
const MAX_CONCURRENT_TARGETS: i64 = 1024;
const DEFAULT_MAX_ATTEMPTS: i64 = 3;
const MAX_ATTEMPTS: i64 = 10;
const DEFAULT_ROLE_SESSION_NAME: &str = "secrets-rotation-exporter";

/// The Prometheus label that carries tag `key` on
/// `aws_secretsmanager_secret_info`: `tag_` followed by the key with every
/// character outside `[a-zA-Z0-9_]` replaced by `_`.
pub fn tag_label_name(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tag_{sanitized}")
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Parses an optional duration, reporting a bad one and falling back to
    /// `default` so validation can go on.
    fn duration(&mut self, path: &str, raw: Option<&RawDuration>, default: Duration) -> Duration {
        self.optional_duration(path, raw).unwrap_or(default)
    }

    fn optional_duration(&mut self, path: &str, raw: Option<&RawDuration>) -> Option<Duration> {
        let raw = raw?;
        match parse_duration(&raw.0) {
            Ok(duration) => Some(duration),
            Err(message) => {
                self.add(path, message);
                None
            }
        }
    }

    fn positive_duration(&mut self, path: &str, raw: Option<&RawDuration>) -> Option<Duration> {
        let duration = self.optional_duration(path, raw)?;
        if duration.is_zero() {
            self.add(path, "must be greater than 0");
        }
        Some(duration)
    }
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();

    let poll_interval = problems.duration(
        "poll_interval",
        raw.poll_interval.as_ref(),
        DEFAULT_POLL_INTERVAL,
    );
    if poll_interval < MIN_POLL_INTERVAL {
        problems.add(
            "poll_interval",
            format!(
                "must be at least {} (got {})",
                format_duration(MIN_POLL_INTERVAL),
                format_duration(poll_interval)
            ),
        );
    }

    let regions = raw.regions.unwrap_or_default();
    check_regions(&mut problems, "regions", &regions);

    let raw_accounts = raw.accounts.unwrap_or_default();
    let accounts = validate_accounts(&mut problems, raw_accounts, &regions);

    let policy = validate_policy(&mut problems, raw.policy.unwrap_or_default());
    let cloudtrail = validate_cloudtrail(&mut problems, raw.cloudtrail.unwrap_or_default());
    let cloudwatch = validate_cloudwatch(&mut problems, raw.cloudwatch.unwrap_or_default());
    let labels = validate_labels(&mut problems, raw.labels.unwrap_or_default());
    let aws = validate_aws(&mut problems, raw.aws.unwrap_or_default(), poll_interval);
    let shard = raw
        .shard
        .map_or_else(Shard::default, |raw| validate_shard(&mut problems, &raw));

    if !problems.0.is_empty() {
        return Err(ConfigError {
            problems: problems.0,
        });
    }
    Ok(Config {
        poll_interval,
        regions,
        accounts,
        policy,
        cloudtrail,
        cloudwatch,
        labels,
        aws,
        shard,
    })
}

fn validate_shard(problems: &mut Problems, raw: &RawShard) -> Shard {
    let count = match u32::try_from(raw.count.0) {
        Ok(count) if count >= 1 => count,
        _ => {
            problems.add(
                "shard.count",
                format!("must be at least 1 (got {})", raw.count.0),
            );
            return Shard::default();
        }
    };
    match u32::try_from(raw.index.0) {
        Ok(index) if index < count => Shard { index, count },
        _ => {
            problems.add(
                "shard.index",
                format!(
                    "must be from 0 to {} (count - 1) (got {})",
                    count - 1,
                    raw.index.0
                ),
            );
            Shard::default()
        }
    }
}

fn validate_accounts(
    problems: &mut Problems,
    raw_accounts: Vec<RawAccount>,
    default_regions: &[String],
) -> Vec<Account> {
    let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut without_regions = Vec::new();
    let mut accounts = Vec::with_capacity(raw_accounts.len());
    for (index, raw) in raw_accounts.into_iter().enumerate() {
        let path = format!("accounts[{index}]");
        let id_valid = is_account_id(&raw.id);
        if !id_valid {
            problems.add(
                format!("{path}.id"),
                format!("must be exactly 12 digits (got {:?})", raw.id),
            );
        } else if let Some(first) = seen_ids.get(&raw.id) {
            problems.add(
                format!("{path}.id"),
                format!("duplicate account {} (also accounts[{first}])", raw.id),
            );
        } else {
            seen_ids.insert(raw.id.clone(), index);
        }

        if let Some(role_arn) = &raw.role_arn {
            match role_arn_account(role_arn) {
                Err(message) => problems.add(format!("{path}.role_arn"), message),
                Ok(arn_account) if id_valid && arn_account != raw.id => problems.add(
                    format!("{path}.role_arn"),
                    format!(
                        "account {arn_account} in the ARN does not match id {}",
                        raw.id
                    ),
                ),
                Ok(_) => {}
            }
        }

        if let Some(external_id) = &raw.external_id {
            if raw.role_arn.is_none() {
                problems.add(
                    format!("{path}.external_id"),
                    "is only used when assuming role_arn, which is not set",
                );
            }
            let length = external_id.chars().count();
            if !(2..=1224).contains(&length)
                || !external_id
                    .chars()
                    .all(|c| is_iam_name_char(c) || matches!(c, ':' | '/'))
            {
                problems.add(
                    format!("{path}.external_id"),
                    "must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
                );
            }
        }

        if raw.name.as_ref().is_some_and(|name| name.trim().is_empty()) {
            problems.add(format!("{path}.name"), "must not be empty when given");
        }

        let regions = match raw.regions {
            Some(own) => {
                let regions_path = format!("{path}.regions");
                if own.is_empty() {
                    problems.add(&regions_path, "must not be empty");
                }
                check_regions(problems, &regions_path, &own);
                own
            }
            None => {
                if default_regions.is_empty() {
                    without_regions.push(path);
                }
                default_regions.to_vec()
            }
        };

        accounts.push(Account {
            id: raw.id,
            role_arn: raw.role_arn,
            external_id: raw.external_id,
            regions,
            name: raw.name,
        });
    }

    if accounts.is_empty() && default_regions.is_empty() {
        problems.add(
            "regions",
            "must not be empty: with no accounts listed, the account of the base credentials is polled in these regions",
        );
    } else if !without_regions.is_empty() {
        problems.add(
            "regions",
            format!(
                "must not be empty: {} {}",
                without_regions.join(", "),
                if without_regions.len() == 1 {
                    "has no regions of its own"
                } else {
                    "have no regions of their own"
                }
            ),
        );
    }
    accounts
}

fn validate_policy(problems: &mut Problems, raw: RawPolicy) -> Policy {
    let positive = |problems: &mut Problems, key: &str, value: Option<&RawDuration>, default| {
        problems
            .positive_duration(&format!("policy.{key}"), value)
            .unwrap_or(default)
    };
    let defaults = Thresholds {
        max_rotation_interval: positive(
            problems,
            "max_rotation_interval",
            raw.max_rotation_interval.as_ref(),
            DEFAULT_MAX_ROTATION_INTERVAL,
        ),
        max_age: positive(problems, "max_age", raw.max_age.as_ref(), DEFAULT_MAX_AGE),
        overdue_grace: positive(
            problems,
            "overdue_grace",
            raw.overdue_grace.as_ref(),
            DEFAULT_OVERDUE_GRACE,
        ),
        pending_timeout: positive(
            problems,
            "pending_timeout",
            raw.pending_timeout.as_ref(),
            DEFAULT_PENDING_TIMEOUT,
        ),
        unused_after: positive(
            problems,
            "unused_after",
            raw.unused_after.as_ref(),
            DEFAULT_UNUSED_AFTER,
        ),
        require_customer_managed_key: raw.require_customer_managed_key.unwrap_or(true),
        required_tags: raw.required_tags.unwrap_or_default(),
    };
    check_tag_keys(problems, "policy.required_tags", &defaults.required_tags);

    let kms_key_arns = raw.kms_key_arns.unwrap_or_default();
    for (index, key) in kms_key_arns.iter().enumerate() {
        if key.trim().is_empty() {
            problems.add(format!("policy.kms_key_arns[{index}]"), "must not be empty");
        }
    }

    let exempt_tag = raw
        .exempt_tag
        .unwrap_or_else(|| DEFAULT_EXEMPT_TAG.to_string());
    if exempt_tag.trim().is_empty() {
        problems.add("policy.exempt_tag", "must not be empty");
    }

    let overrides = raw
        .overrides
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, raw)| validate_override(problems, &format!("policy.overrides[{index}]"), raw))
        .collect();

    Policy {
        defaults,
        kms_key_arns,
        exempt_tag,
        overrides,
    }
}

fn validate_override(problems: &mut Problems, path: &str, raw: RawOverride) -> Override {
    let match_path = format!("{path}.match");
    let RawMatch {
        name,
        account,
        region,
        tags,
    } = raw.matcher;
    let tags = tags.unwrap_or_default();
    if name.is_none() && account.is_none() && region.is_none() && tags.is_empty() {
        problems.add(
            &match_path,
            "must give at least one of name, account, region, tags",
        );
    }

    let name_glob = name.as_ref().and_then(|pattern| {
        let name_path = format!("{match_path}.name");
        if pattern.is_empty() {
            problems.add(name_path, "must not be empty");
            return None;
        }
        match globset::Glob::new(pattern) {
            Ok(glob) => Some(glob.compile_matcher()),
            Err(err) => {
                problems.add(
                    name_path,
                    format!("invalid glob {pattern:?}: {}", err.kind()),
                );
                None
            }
        }
    });
    if let Some(account) = &account
        && !is_account_id(account)
    {
        problems.add(
            format!("{match_path}.account"),
            format!("must be exactly 12 digits (got {account:?})"),
        );
    }
    if let Some(region) = &region {
        check_region(problems, &format!("{match_path}.region"), region);
    }
    for key in tags.keys() {
        if key.is_empty() {
            problems.add(format!("{match_path}.tags"), "tag keys must not be empty");
        }
    }

    let mut positive = |key: &str, value: Option<&RawDuration>| {
        problems.positive_duration(&format!("{path}.{key}"), value)
    };
    let max_rotation_interval =
        positive("max_rotation_interval", raw.max_rotation_interval.as_ref());
    let max_age = positive("max_age", raw.max_age.as_ref());
    let overdue_grace = positive("overdue_grace", raw.overdue_grace.as_ref());
    let pending_timeout = positive("pending_timeout", raw.pending_timeout.as_ref());
    let unused_after = positive("unused_after", raw.unused_after.as_ref());
    if let Some(required_tags) = &raw.required_tags {
        check_tag_keys(problems, &format!("{path}.required_tags"), required_tags);
    }

    Override {
        matcher: OverrideMatch {
            name,
            name_glob,
            account,
            region,
            tags,
        },
        max_rotation_interval,
        max_age,
        overdue_grace,
        pending_timeout,
        unused_after,
        require_customer_managed_key: raw.require_customer_managed_key,
        required_tags: raw.required_tags,
    }
}

fn validate_cloudtrail(problems: &mut Problems, raw: RawCloudTrail) -> CloudTrail {
    let lookback = problems
        .positive_duration("cloudtrail.lookback", raw.lookback.as_ref())
        .unwrap_or(DEFAULT_CLOUDTRAIL_LOOKBACK);
    if lookback > MAX_CLOUDTRAIL_LOOKBACK {
        problems.add(
            "cloudtrail.lookback",
            format!(
                "must be at most 90d, the event history CloudTrail keeps (got {})",
                format_duration(lookback)
            ),
        );
    }
    let requests_per_second = raw.requests_per_second.unwrap_or(DEFAULT_CLOUDTRAIL_RPS);
    if !(requests_per_second > 0.0 && requests_per_second <= MAX_CLOUDTRAIL_RPS) {
        problems.add(
            "cloudtrail.requests_per_second",
            format!(
                "must be greater than 0 and at most 2, the LookupEvents quota per account and region (got {requests_per_second})"
            ),
        );
    }
    CloudTrail {
        enabled: raw.enabled.unwrap_or(true),
        lookback,
        requests_per_second,
    }
}

fn validate_cloudwatch(problems: &mut Problems, raw: RawCloudWatch) -> CloudWatch {
    let namespace = raw
        .namespace
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    if namespace.trim().is_empty() {
        problems.add("cloudwatch.namespace", "must not be empty");
    } else if namespace.chars().count() > MAX_NAMESPACE_LEN {
        problems.add(
            "cloudwatch.namespace",
            format!("must be at most {MAX_NAMESPACE_LEN} characters"),
        );
    } else if namespace.starts_with("AWS/") {
        problems.add(
            "cloudwatch.namespace",
            "must not start with \"AWS/\", which is reserved for AWS services",
        );
    }

    let raw_alarms = raw.alarms.unwrap_or_default();
    let prefix = raw_alarms
        .prefix
        .unwrap_or_else(|| DEFAULT_ALARM_PREFIX.to_string());
    if prefix.trim().is_empty() {
        problems.add(
            "cloudwatch.alarms.prefix",
            "must not be empty: it marks the alarms this exporter owns",
        );
    }
    let actions = raw_alarms.actions.unwrap_or_default();
    for (index, action) in actions.iter().enumerate() {
        if !action.starts_with("arn:") {
            problems.add(
                format!("cloudwatch.alarms.actions[{index}]"),
                format!("must be an ARN starting with \"arn:\" (got {action:?})"),
            );
        }
    }

    if let Some(region) = &raw.region {
        check_region(problems, "cloudwatch.region", region);
    }
    if let Some(role_arn) = &raw.role_arn
        && let Err(message) = role_arn_account(role_arn)
    {
        problems.add("cloudwatch.role_arn", message);
    }
    if raw.external_id.is_some() && raw.role_arn.is_none() {
        problems.add(
            "cloudwatch.external_id",
            "is only used when assuming role_arn, which is not set",
        );
    }
    let noncompliant_secrets = match raw_alarms.noncompliant_secrets {
        None => None,
        Some(RawCount(count)) if count >= 1 => u64::try_from(count).ok(),
        Some(RawCount(count)) => {
            problems.add(
                "cloudwatch.alarms.noncompliant_secrets",
                format!("must be at least 1 (got {count})"),
            );
            None
        }
    };
    let reconcile_interval = problems
        .positive_duration(
            "cloudwatch.alarms.reconcile_interval",
            raw_alarms.reconcile_interval.as_ref(),
        )
        .unwrap_or(DEFAULT_RECONCILE_INTERVAL);
    if reconcile_interval < MIN_RECONCILE_INTERVAL {
        problems.add(
            "cloudwatch.alarms.reconcile_interval",
            format!(
                "must be at least {} (got {})",
                format_duration(MIN_RECONCILE_INTERVAL),
                format_duration(reconcile_interval)
            ),
        );
    }

    CloudWatch {
        enabled: raw.enabled.unwrap_or(false),
        namespace,
        region: raw.region,
        role_arn: raw.role_arn,
        external_id: raw.external_id,
        per_secret_metrics: raw.per_secret_metrics.unwrap_or(false),
        alarms: Alarms {
            manage: raw_alarms.manage.unwrap_or(false),
            prefix,
            actions,
            noncompliant_secrets,
            reconcile_interval,
        },
    }
}

fn validate_labels(problems: &mut Problems, raw: RawLabels) -> Labels {
    let tags = raw.tags.unwrap_or_default();
    let mut seen_keys: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_labels: BTreeMap<String, usize> = BTreeMap::new();
    for (index, key) in tags.iter().enumerate() {
        let path = format!("labels.tags[{index}]");
        if key.is_empty() {
            problems.add(path, "must not be empty");
            continue;
        }
        if let Some(first) = seen_keys.get(key.as_str()) {
            problems.add(
                path,
                format!("duplicate tag key {key:?} (also labels.tags[{first}])"),
            );
            continue;
        }
        seen_keys.insert(key, index);
        let label = tag_label_name(key);
        if let Some(first) = seen_labels.get(&label) {
            problems.add(
                path,
                format!(
                    "tag key {key:?} becomes label {label}, as does {:?} (labels.tags[{first}])",
                    tags[*first]
                ),
            );
            continue;
        }
        seen_labels.insert(label, index);
    }
    Labels { tags }
}

fn validate_aws(
    problems: &mut Problems,
    raw: RawAws,
    poll_interval: Duration,
) -> AwsClientSettings {
    let connect_timeout = problems
        .positive_duration("aws.connect_timeout", raw.connect_timeout.as_ref())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let operation_timeout = problems
        .positive_duration("aws.operation_timeout", raw.operation_timeout.as_ref())
        .unwrap_or(DEFAULT_OPERATION_TIMEOUT);
    // Left unset, the target timeout shrinks with a short poll interval
    // rather than failing on a key the user never wrote.
    let target_timeout =
        match problems.positive_duration("aws.target_timeout", raw.target_timeout.as_ref()) {
            Some(timeout) => {
                if timeout > poll_interval {
                    problems.add(
                        "aws.target_timeout",
                        format!(
                            "must be at most poll_interval, {} (got {})",
                            format_duration(poll_interval),
                            format_duration(timeout)
                        ),
                    );
                }
                timeout
            }
            None => DEFAULT_TARGET_TIMEOUT.min(poll_interval),
        };

    let max_concurrent_targets = raw
        .max_concurrent_targets
        .map_or(DEFAULT_MAX_CONCURRENT_TARGETS, |count| count.0);
    if !(1..=MAX_CONCURRENT_TARGETS).contains(&max_concurrent_targets) {
        problems.add(
            "aws.max_concurrent_targets",
            format!(
                "must be between 1 and {MAX_CONCURRENT_TARGETS} (got {max_concurrent_targets})"
            ),
        );
    }
    let max_attempts = raw
        .max_attempts
        .map_or(DEFAULT_MAX_ATTEMPTS, |count| count.0);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        problems.add(
            "aws.max_attempts",
            format!("must be between 1 and {MAX_ATTEMPTS} (got {max_attempts})"),
        );
    }

    let role_session_name = raw
        .role_session_name
        .unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_string());
    let length = role_session_name.chars().count();
    if !(2..=64).contains(&length) || !role_session_name.chars().all(is_iam_name_char) {
        problems.add(
            "aws.role_session_name",
            "must be 2 to 64 characters of letters, digits and _+=,.@-",
        );
    }

    AwsClientSettings {
        connect_timeout,
        operation_timeout,
        target_timeout,
        max_concurrent_targets: usize::try_from(max_concurrent_targets).unwrap_or(1).max(1),
        max_attempts: u32::try_from(max_attempts).unwrap_or(1).max(1),
        role_session_name,
    }
}

fn check_regions(problems: &mut Problems, path: &str, regions: &[String]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, region) in regions.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if let Some(first) = seen.get(region.as_str()) {
            problems.add(
                item_path,
                format!("duplicate region {region} (also {path}[{first}])"),
            );
            continue;
        }
        seen.insert(region, index);
        check_region(problems, &item_path, region);
    }
}

fn check_region(problems: &mut Problems, path: &str, region: &str) {
    if !is_region(region) {
        problems.add(
            path,
            format!("{region:?} does not look like an AWS region (e.g. us-east-1, eu-central-2)"),
        );
    }
}

fn check_tag_keys(problems: &mut Problems, path: &str, keys: &[String]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, key) in keys.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if key.is_empty() {
            problems.add(item_path, "must not be empty");
        } else if let Some(first) = seen.get(key.as_str()) {
            problems.add(
                item_path,
                format!("duplicate tag key {key:?} (also {path}[{first}])"),
            );
        } else {
            seen.insert(key, index);
        }
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `[\w+=,.@-]`, the characters IAM allows in role and session names.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// Shapes like `us-east-1`, `ap-southeast-4`, `us-gov-west-1`, `cn-north-1`,
/// `us-isob-east-1`: a two-letter area, an optional partition marker, a
/// direction and a number.
fn is_region(text: &str) -> bool {
    const DIRECTIONS: [&str; 9] = [
        "north",
        "south",
        "east",
        "west",
        "central",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
    ];
    const PARTITION_MARKERS: [&str; 5] = ["gov", "iso", "isob", "isoe", "isof"];
    let parts: Vec<&str> = text.split('-').collect();
    let (area, marker, direction, number) = match parts.as_slice() {
        [area, direction, number] => (*area, None, *direction, *number),
        [area, marker, direction, number] => (*area, Some(*marker), *direction, *number),
        _ => return false,
    };
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && marker.is_none_or(|marker| PARTITION_MARKERS.contains(&marker))
        && DIRECTIONS.contains(&direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The account of `arn:<partition>:iam::<account>:role/<path/>name`, or
/// why the ARN is not a role ARN.
fn role_arn_account(arn: &str) -> Result<&str, String> {
    let shape =
        || format!("must look like arn:aws:iam::<12-digit account>:role/<name> (got {arn:?})");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(shape());
    };
    if *prefix != "arn"
        || !matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        || *service != "iam"
        || !region.is_empty()
        || !is_account_id(account)
    {
        return Err(shape());
    }
    let Some(role_path) = resource.strip_prefix("role/") else {
        return Err(shape());
    };
    let segments: Vec<&str> = role_path.split('/').collect();
    let name_ok = segments
        .last()
        .is_some_and(|name| (1..=64).contains(&name.len()));
    let segments_ok = segments
        .iter()
        .all(|segment| !segment.is_empty() && segment.chars().all(is_iam_name_char));
    if !name_ok || !segments_ok {
        return Err(shape());
    }
    Ok(account)
}
