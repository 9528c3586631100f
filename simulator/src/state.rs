//! Everything the server and the handle share: the world, issued credentials, faults, counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cloudtrail::settings::Settings as CloudTrailSettings;
use crate::cloudwatch::store::Store as CloudWatchStore;
use crate::fleet::Fleet;
use crate::ids::derived_chars;
use crate::load;
use crate::store::World;

/// An access key pair the simulator issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Present for credentials from `AssumeRole`.
    pub session_token: Option<String>,
}

/// One `AssumeRole` request as the simulator saw it, granted or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleCall {
    /// Account of the credentials that signed the request.
    pub caller_account: String,
    pub role_arn: String,
    pub role_session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration_seconds: Option<i64>,
    pub granted: bool,
    pub at: DateTime<Utc>,
}

/// What a matching [`FaultRule`] does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `ThrottlingException` (Secrets Manager, CloudTrail, SSM), `TooManyRequestsException`
    /// (Organizations) or `Throttling` (STS, RDS), HTTP 400; `RequestLimitExceeded` (EC2, 503).
    Throttling,
    /// `AccessDeniedException` (Secrets Manager, CloudTrail, Organizations, SSM; 400),
    /// `AccessDenied` (STS, RDS; 403) or `UnauthorizedOperation` (EC2, 403).
    AccessDenied,
    /// `InternalServiceError` (Secrets Manager, CloudTrail), `InternalServerError` (SSM),
    /// `ServiceException` (Organizations), `InternalFailure` (STS, RDS) or `InternalError` (EC2),
    /// HTTP 500.
    InternalError,
    /// Answers normally after this long.
    Delay(Duration),
    /// Answers normally, but a page asked for with a `NextToken` hands the
    /// same token back, so a client that trusts it never reaches the end.
    /// A first page is unchanged. JSON services (Secrets Manager, CloudTrail,
    /// Organizations), RDS and EC2; elsewhere the request is answered normally.
    RepeatNextToken,
    /// Answers normally, but every page asked for with a `NextToken` hands
    /// back a new one (the token asked with, one character longer), so a
    /// listing never ends and never repeats a token. A first page is
    /// unchanged. JSON services, RDS and EC2.
    EndlessNextToken,
    /// Answers normally with the first entry of the listing (`SecretList`,
    /// `Versions`, `Events`, `Parameters`, `TagList`, `Accounts`, `OrganizationalUnits`,
    /// `Roots`, `Tags`, `Parents`; RDS's `DBInstance`/`DBCluster`, EC2's `item`) repeated at its
    /// end. JSON services, RDS and EC2.
    DuplicateEntry,
    /// Answers 200 with the body cut off halfway, as a dropped connection
    /// or a broken proxy leaves it: not JSON (or not XML for RDS and EC2).
    MalformedBody,
}

/// Makes requests fail or slow down. Unset filters match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// The service as the request counters name it: `sts`, `secretsmanager`, `cloudtrail`,
    /// `organizations`, `lambda`, `cloudwatch`, `ssm`, `rds` or `ec2`. Operation names alone can be shared
    /// (`ListTagsForResource` is Organizations' and SSM's).
    pub service: Option<String>,
    /// Operation name such as `ListSecrets` or `AssumeRole`.
    pub operation: Option<String>,
    /// For `AssumeRole` the account of the role, otherwise the caller's account.
    pub account: Option<String>,
    pub region: Option<String>,
    pub error: Fault,
    /// How many more requests this rule applies to; `None` for ever.
    pub remaining: Option<u32>,
}

impl FaultRule {
    pub fn new(error: Fault) -> Self {
        Self {
            service: None,
            operation: None,
            account: None,
            region: None,
            error,
            remaining: None,
        }
    }

    /// Every operation of one service, such as `ssm`.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Applies to the next `count` matching requests only.
    pub fn times(mut self, count: u32) -> Self {
        self.remaining = Some(count);
        self
    }

    fn matches(&self, service: &str, operation: &str, account: &str, region: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
            && self.operation.as_deref().is_none_or(|o| o == operation)
            && self.account.as_deref().is_none_or(|a| a == account)
            && self.region.as_deref().is_none_or(|r| r == region)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedKey {
    pub account: String,
    pub session_token: Option<String>,
    pub expires: Option<DateTime<Utc>>,
    pub principal_arn: String,
    pub user_id: String,
}

/// Why a request's credentials were refused.
pub(crate) enum Refusal {
    Unknown,
    Expired,
}

pub(crate) const UNKNOWN_ACCOUNT: &str = "unknown";

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) struct Shared {
    world: RwLock<World>,
    keys: RwLock<HashMap<String, IssuedKey>>,
    base: Credentials,
    base_account: String,
    assume_role_calls: Mutex<Vec<AssumeRoleCall>>,
    faults: Mutex<Vec<FaultRule>>,
    counts: Mutex<BTreeMap<(String, String, String), u64>>,
    sequence: AtomicU64,
    cloudtrail: Mutex<CloudTrailSettings>,
    load: Mutex<load::Load>,
    cloudwatch: Mutex<CloudWatchStore>,
}

/// A poisoned lock only means another request panicked; the data is still usable for a simulator.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(fleet: Fleet) -> Self {
        let parts = fleet.into_parts();
        let base_account = parts.base_account;
        let mut world = World {
            organization: parts.organization,
            default_regions: parts.regions,
            ssm_short_pages: parts.ssm_short_pages,
            ..World::default()
        };
        for account in parts.accounts {
            world.accounts.insert(account.id.clone(), account);
        }
        for placed in parts.secrets {
            world.put(&placed.account, &placed.region, placed.secret);
        }
        for placed in parts.lambdas {
            world
                .lambdas_mut(&placed.account, &placed.region)
                .insert(placed.lambda.name.clone(), placed.lambda);
        }
        for placed in parts.databases {
            world.put_database(placed);
        }
        for placed in parts.vpcs {
            let id = placed.vpc.vpc_id.clone().unwrap_or_default();
            world
                .vpcs
                .entry((placed.account, placed.region))
                .or_default()
                .insert(id, placed.vpc);
        }
        for placed in parts.parameters {
            world
                .parameters_mut(&placed.account, &placed.region)
                .insert(placed.parameter.name.clone(), placed.parameter);
        }
        let faults = parts
            .faults
            .into_iter()
            .filter(|rule| rule.remaining != Some(0))
            .collect();
        let base = Credentials {
            access_key_id: format!(
                "AKIA{}",
                derived_chars(&["akid", &base_account], UPPER_ALNUM, 16)
            ),
            secret_access_key: derived_chars(&["secret", &base_account], SECRET_CHARS, 40),
            session_token: None,
        };
        let mut keys = HashMap::new();
        keys.insert(
            base.access_key_id.clone(),
            IssuedKey {
                account: base_account.clone(),
                session_token: None,
                expires: None,
                principal_arn: format!("arn:aws:iam::{base_account}:user/simulator"),
                user_id: format!(
                    "AIDA{}",
                    derived_chars(&["user", &base_account], UPPER_ALNUM, 17)
                ),
            },
        );
        Self {
            world: RwLock::new(world),
            keys: RwLock::new(keys),
            base,
            base_account,
            assume_role_calls: Mutex::new(Vec::new()),
            faults: Mutex::new(faults),
            counts: Mutex::new(BTreeMap::new()),
            sequence: AtomicU64::new(1),
            cloudtrail: Mutex::new(CloudTrailSettings::default()),
            load: Mutex::new(load::Load::default()),
            cloudwatch: Mutex::new(CloudWatchStore::default()),
        }
    }

    /// CloudWatch's metric data and alarms; never held while taking the world lock.
    pub fn cloudwatch(&self) -> MutexGuard<'_, CloudWatchStore> {
        lock(&self.cloudwatch)
    }

    pub fn load(&self) -> MutexGuard<'_, load::Load> {
        lock(&self.load)
    }

    /// Waits the configured latency, then meters the request and applies its quota: false when
    /// the request is throttled.
    pub async fn admit(&self, operation: &str, account: &str, region: &str) -> bool {
        let latency = self.load().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.load()
            .admit(operation, account, region, std::time::Instant::now())
    }

    /// Never held while taking the world lock.
    pub fn cloudtrail_settings(&self) -> MutexGuard<'_, CloudTrailSettings> {
        lock(&self.cloudtrail)
    }

    pub fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn world_mut(&self) -> RwLockWriteGuard<'_, World> {
        self.world
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn base_credentials(&self) -> &Credentials {
        &self.base
    }

    pub fn base_account(&self) -> &str {
        &self.base_account
    }

    /// A number unique within this simulator, for request ids and issued keys.
    pub fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    pub fn request_id(&self) -> String {
        let hex = derived_chars(
            &["request", &self.next_sequence().to_string()],
            b"0123456789abcdef",
            32,
        );
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// Resolves the access key of a request; AWS also refuses a temporary key without its token.
    pub fn authenticate(
        &self,
        access_key_id: Option<&str>,
        session_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<IssuedKey, Refusal> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = access_key_id
            .and_then(|id| keys.get(id))
            .ok_or(Refusal::Unknown)?;
        if key.session_token.as_deref() != session_token && key.session_token.is_some() {
            return Err(Refusal::Unknown);
        }
        if key.expires.is_some_and(|expires| expires <= now) {
            return Err(Refusal::Expired);
        }
        Ok(key.clone())
    }

    /// Issues temporary credentials for an assumed role in `account`.
    pub fn issue(
        &self,
        account: &str,
        principal_arn: String,
        user_id: String,
        expires: DateTime<Utc>,
    ) -> Credentials {
        let sequence = self.next_sequence().to_string();
        let credentials = Credentials {
            access_key_id: format!(
                "ASIA{}",
                derived_chars(&["akid", account, &sequence], UPPER_ALNUM, 16)
            ),
            secret_access_key: derived_chars(&["secret", account, &sequence], SECRET_CHARS, 40),
            session_token: Some(format!(
                "FwoGZXIvYXdzE{}",
                derived_chars(&["token", account, &sequence], SECRET_CHARS, 120)
            )),
        };
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.insert(
            credentials.access_key_id.clone(),
            IssuedKey {
                account: account.to_string(),
                session_token: credentials.session_token.clone(),
                expires: Some(expires),
                principal_arn,
                user_id,
            },
        );
        credentials
    }

    pub fn expire_assumed_credentials(&self, now: DateTime<Utc>) {
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for key in keys.values_mut() {
            if key.expires.is_some() {
                key.expires = Some(now);
            }
        }
    }

    pub fn record_assume_role(&self, call: AssumeRoleCall) {
        lock(&self.assume_role_calls).push(call);
    }

    pub fn assume_role_calls(&self) -> Vec<AssumeRoleCall> {
        lock(&self.assume_role_calls).clone()
    }

    pub fn add_fault(&self, rule: FaultRule) {
        if rule.remaining != Some(0) {
            lock(&self.faults).push(rule);
        }
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The first rule matching the request, used up by one.
    pub fn take_fault(
        &self,
        service: &str,
        operation: &str,
        account: &str,
        region: &str,
    ) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let index = faults
            .iter()
            .position(|rule| rule.matches(service, operation, account, region))?;
        let fault = faults[index].error;
        if let Some(remaining) = &mut faults[index].remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                faults.remove(index);
            }
        }
        Some(fault)
    }

    pub fn count(&self, service: &str, operation: &str, account: &str) {
        *lock(&self.counts)
            .entry((
                service.to_string(),
                operation.to_string(),
                account.to_string(),
            ))
            .or_insert(0) += 1;
    }

    pub fn counts(&self) -> BTreeMap<(String, String, String), u64> {
        lock(&self.counts).clone()
    }

    pub fn reset_counts(&self) {
        lock(&self.counts).clear();
    }
}
