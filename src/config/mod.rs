//! Configuration: raw serde structs (unknown keys rejected) are parsed, then
//! validated into the typed `Config` below. Every error names its path.

mod aws_names;
mod discovery;
mod duration;
mod limits;
mod metrics;
mod policy;
mod raw;
mod services;
mod thresholds;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

pub use aws_names::{is_account_id, is_root_id, is_unit_id, role_arn_account};
pub use duration::{format_config_duration, parse_duration};
pub use thresholds::{ThresholdOverrides, Thresholds};

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
    /// Accounts found besides `accounts`.
    pub discovery: Discovery,
    /// What is read besides the secrets.
    pub sources: Sources,
    /// The series `/metrics` serves.
    pub metrics: SeriesBudget,
}

/// Which families and verdict series `/metrics` serves: the `metrics:`
/// section, for a Prometheus that cannot afford every series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesBudget {
    /// Family names or globs; empty: every family.
    pub include: Vec<String>,
    /// Family names or globs left out, even when included.
    pub exclude: Vec<String>,
    pub verdicts: VerdictSeries,
}

/// Which `aws_secretsmanager_secret_compliant` series are served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerdictSeries {
    /// One per applicable check that could be judged, 1 or 0.
    #[default]
    All,
    /// Only the checks a secret fails (0): a recovery drops the series.
    Failing,
}

impl SeriesBudget {
    /// Whether the family named `family` is served: included (or no
    /// `include` given) and not excluded. Patterns were checked when the
    /// configuration loaded; one that cannot compile matches nothing.
    pub fn serves(&self, family: &str) -> bool {
        let matches = |patterns: &[String]| {
            patterns.iter().any(|pattern| {
                globset::Glob::new(pattern)
                    .map(|glob| glob.compile_matcher().is_match(family))
                    .unwrap_or(false)
            })
        };
        (self.include.is_empty() || matches(&self.include)) && !matches(&self.exclude)
    }
}

/// The inventories and readers besides Secrets Manager's.
#[derive(Debug, Clone, PartialEq)]
pub struct Sources {
    pub ssm_parameters: SsmParametersSource,
    /// RDS and Aurora databases (`DescribeDBClusters`, `DescribeDBInstances`),
    /// for `master_password_managed`.
    pub rds: bool,
    /// VPCs and their Secrets Manager endpoints (`DescribeVpcs`,
    /// `DescribeVpcEndpoints`), for `secretsmanager_endpoint`.
    pub vpc_endpoints: bool,
    pub lambda: LambdaSource,
}

/// SSM Parameter Store, inventoried with `DescribeParameters` beside
/// Secrets Manager when `enabled`.
#[derive(Debug, Clone, PartialEq)]
pub struct SsmParametersSource {
    pub enabled: bool,
    /// The parameter types listed (`Type` filter), `SecureString` by default.
    pub types: Vec<String>,
    /// Hierarchies listed (`Path` filter, recursive); empty: every parameter.
    pub path_prefixes: Vec<String>,
    /// Read each parameter's tags (`ListTagsForResource`, one request per
    /// parameter per refresh) for `required_tags`, the `tag_<key>` labels
    /// and overrides that match on tags.
    pub tags: bool,
}

/// The rotation Lambdas, read whenever rotation is: once per distinct
/// function per `refresh_interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaSource {
    pub refresh_interval: Duration,
}

impl Config {
    /// With neither `accounts` nor discovery, the account of the base
    /// credentials is the one polled.
    pub fn polls_base_account(&self) -> bool {
        self.accounts.is_empty() && self.discovery.organizations.is_none()
    }

    /// The account of the base credentials must be known: it is polled, or
    /// discovery reads Organizations with the base credentials and labels
    /// its health with that account.
    pub fn needs_base_account(&self) -> bool {
        self.polls_base_account()
            || self
                .discovery
                .organizations
                .as_ref()
                .is_some_and(|org| org.role_arn.is_none())
    }

    /// The keys that differ in `new` and are applied only at start: they
    /// build the AWS clients, the CloudTrail loops and the CloudWatch
    /// publisher. Everything else a reload applies, `aws.target_timeout`
    /// and `aws.max_concurrent_targets` (read by every poll) included.
    pub fn changes_needing_restart(&self, new: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let (old_aws, new_aws) = (&self.aws, &new.aws);
        if old_aws.connect_timeout != new_aws.connect_timeout {
            changed.push("aws.connect_timeout");
        }
        if old_aws.operation_timeout != new_aws.operation_timeout {
            changed.push("aws.operation_timeout");
        }
        if old_aws.max_attempts != new_aws.max_attempts {
            changed.push("aws.max_attempts");
        }
        if old_aws.role_session_name != new_aws.role_session_name {
            changed.push("aws.role_session_name");
        }
        if self.cloudtrail != new.cloudtrail {
            changed.push("cloudtrail");
        }
        if self.cloudwatch != new.cloudwatch {
            changed.push("cloudwatch");
        }
        if self.sources != new.sources {
            changed.push("sources");
        }
        changed
    }
}

/// Where accounts are found besides the explicit `accounts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// `None`: no discovery; the targets are `accounts` (or the base account).
    pub organizations: Option<OrganizationsDiscovery>,
}

/// Accounts found in AWS Organizations: every active account of the
/// included subtrees, read through a role of the same name in each.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationsDiscovery {
    /// A role in the management or delegated administrator account to read
    /// Organizations through; `None`: the base credentials.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// The reader role in each discovered account, maybe with a path
    /// (`platform/secrets-rotation-reader`): the account's role ARN is
    /// `arn:<partition>:iam::<id>:role/<member_role_name>`.
    pub member_role_name: String,
    pub member_external_id: Option<String>,
    /// Root or OU ids whose subtrees are watched; empty: the whole organization.
    pub include_ous: Vec<String>,
    /// Root or OU ids whose subtrees are skipped, even inside an included one.
    pub exclude_ous: Vec<String>,
    /// Account ids never discovered (an explicit `accounts` entry still counts).
    pub exclude_accounts: Vec<String>,
    /// How often the organization is read again.
    pub refresh_interval: Duration,
    /// Organizations requests per second across a refresh.
    pub requests_per_second: f64,
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

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub defaults: Thresholds,
    /// Optional allowlist of customer managed keys (ARNs, key ids or aliases).
    pub kms_key_arns: Vec<String>,
    /// Every SSM parameter must carry an `Expiration` policy that has not
    /// passed (`parameter_expiration`).
    pub require_parameter_expiration: bool,
    /// Default VPCs are judged on `secretsmanager_endpoint` too
    /// (`policy.vpc_endpoint.include_default_vpcs`).
    pub include_default_vpcs: bool,
    /// The tag whose presence exempts a secret or a VPC; its value is the
    /// reason.
    pub exempt_tag: String,
    /// First match wins.
    pub overrides: Vec<Override>,
}

/// One entry of `policy.overrides`: the thresholds it changes for the
/// secrets it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub matcher: OverrideMatch,
    pub thresholds: ThresholdOverrides,
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
    /// Account tag keys (from Organizations) copied onto `aws_account_info`
    /// as `tag_<key>`.
    pub account_tags: Vec<String>,
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
    let cannot_read = |err: std::io::Error| {
        ConfigError::single(
            path.display().to_string(),
            format!("cannot read file: {err}"),
        )
    };
    // Read no further than the bound, so that `/dev/zero` or a log file
    // given by mistake fails at once instead of filling memory.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(limits::MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(cannot_read)?;
    if bytes.len() as u64 > limits::MAX_FILE_BYTES {
        return Err(ConfigError::single(
            path.display().to_string(),
            format!(
                "file is larger than {} MiB, far more than a configuration needs",
                limits::MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })?;
    parse(&text)
}

/// Parses and validates a configuration document.
pub fn parse(yaml: &str) -> Result<Config, ConfigError> {
    limits::check_nesting(yaml)?;
    validate::validate(raw::parse_raw(yaml)?)
}
