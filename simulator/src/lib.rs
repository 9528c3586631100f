//! A small AWS that speaks the wire protocols of the AWS SDK: STS (`AssumeRole`,
//! `GetCallerIdentity`), Secrets Manager's metadata reads (`ListSecrets`, `DescribeSecret`,
//! `ListSecretVersionIds`), CloudTrail's `LookupEvents`, AWS Organizations' reads of the
//! organization tree, CloudWatch's metrics and alarms (RPC v2 CBOR), Lambda's
//! `GetFunctionConfiguration` and `GetPolicy` (REST-JSON) and Systems Manager Parameter Store's
//! metadata (`DescribeParameters`, `ListTagsForResource`; never a value), RDS's
//! `DescribeDBInstances` and `DescribeDBClusters` (awsQuery) and EC2's `DescribeVpcs` and
//! `DescribeVpcEndpoints` (EC2 query) on one HTTP listener. Accounts are
//! told apart by the access key of the SigV4 `Authorization` header and regions by its
//! credential scope, so an SDK client pointed at [`SimulatorHandle::endpoint_url`] cannot tell
//! it from AWS.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use simulator::{Fleet, SecretSpec, start};
//! let fleet = Fleet::builder()
//!     .account("111111111111")
//!     .region("us-east-1")
//!     .secret(SecretSpec::new("payments/db").created_days_ago(400))
//!     .build()?;
//! let sim = start(fleet, "127.0.0.1:0".parse()?).await?;
//! println!("{} {:?}", sim.endpoint_url(), sim.base_credentials());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod awsjson;
mod caller;
mod cloudtrail;
mod cloudwatch;
mod ec2;
mod error;
mod fleet;
mod ids;
mod lambda;
mod load;
mod organizations;
mod query;
mod rds;
mod rotation;
mod secretsmanager;
mod server;
mod ssm;
mod state;
mod store;
mod sts;
mod time;
mod token;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cloudtrail::{
    DEFAULT_LOOKUP_RATE, HISTORY_DAYS, LOOKUP_PAGE_LIMIT, RecordedEvent, RotationEventName,
    RotationEventSpec, SECRET_RESOURCE_TYPE, SECRETS_MANAGER_EVENT_SOURCE, SecretIdForm,
};
pub use cloudwatch::{
    AlarmRecord, DEFAULT_PUT_METRIC_ALARM_RATE, DESCRIBE_ALARMS_PAGE_LIMIT, MAX_METRIC_DATA,
    MAX_PUT_METRIC_DATA_BYTES, MetricDatumRecord,
};
pub use ec2::{DESCRIBE_VPCS_MIN_RESULTS, EC2_MAX_RESULTS};
pub use error::SimulatorError;
pub use fleet::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Account, AccountState, DEFAULT_BASE_ACCOUNT,
    DEFAULT_MASTER_SECRET_KEY, DEFAULT_PARAMETER_KEY, DEFAULT_REGION, DEFAULT_RUNTIME,
    DEFAULT_VPC_CIDR, DEFAULT_VPC_DEFAULT_CIDR, DatabaseKind, DatabaseSpec, EndpointSpec,
    EndpointState, EndpointType, Fleet, FleetBuilder, FleetError, LambdaPolicy, LambdaSpec,
    LambdaState, LastUpdateStatus, OrgAccount, OrgUnit, Organization, ParameterPolicy,
    ParameterSpec, ParameterTier, ParameterType, PlacedDatabase, PlacedLambda, PlacedParameter,
    PlacedSecret, PlacedVpc, PolicyKind, PolicyStatus, PolicyUnit, RotationSpec,
    SECRETS_MANAGER_PRINCIPAL, SecretSpec, VersionSpec, VpcSpec, database_arn,
    database_resource_id, default_engine_version, lambda_arn, managed_secret_arn, parameter_arn,
};
pub use load::{AWS_QUOTAS, PeakRate};
pub use organizations::ORGANIZATIONS_PAGE_LIMIT;
pub use rds::{RDS_MAX_RECORDS, RDS_MIN_RECORDS};
pub use rotation::RotationOutcome;
pub use ssm::{DESCRIBE_PARAMETERS_DEFAULT_PAGE, DESCRIBE_PARAMETERS_PAGE_LIMIT, VALUE_OPERATIONS};
pub use state::{AssumeRoleCall, Credentials, Fault, FaultRule};
pub use store::secret_arn;
pub use time::{days_ago, days_from_now, parse_time};

use organizations::model::{OrgState, account_record, check_tags};
use rotation::Scenario;
use state::Shared;
use store::World;

/// Starts serving `fleet` on `addr` (use port 0 for a free port) in the current Tokio runtime.
pub async fn start(fleet: Fleet, addr: SocketAddr) -> Result<SimulatorHandle, SimulatorError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimulatorError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| SimulatorError::Bind { addr, source })?;
    let shared = Arc::new(Shared::new(fleet));
    let (stop, mut stopped) = watch::channel(false);
    let app = server::router(Arc::clone(&shared));
    let task = tokio::spawn(async move {
        let shutdown = async move {
            // Either an explicit stop or every handle gone ends the server.
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "aws simulator stopped serving");
        }
    });
    Ok(SimulatorHandle {
        shared,
        local_addr,
        stop: Arc::new(stop),
        task: Arc::new(Mutex::new(Some(task))),
    })
}

/// A running simulator. Clones share it; every mutation is seen by the next request.
#[derive(Clone)]
pub struct SimulatorHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("endpoint_url", &self.endpoint_url())
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url` or `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The key pair of the fleet's base account; it never expires.
    pub fn base_credentials(&self) -> Credentials {
        self.shared.base_credentials().clone()
    }

    pub fn base_account(&self) -> String {
        self.shared.base_account().to_string()
    }

    /// Stops serving and waits for open connections to finish.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Adds a secret, or replaces the one with the same name, in `account`/`region`.
    pub fn put_secret(
        &self,
        account: &str,
        region: &str,
        secret: SecretSpec,
    ) -> Result<(), SimulatorError> {
        fleet::check_secret_name(&secret.name).map_err(SimulatorError::InvalidSecret)?;
        let mut world = self.shared.world_mut();
        if !world.accounts.contains_key(account) {
            return Err(SimulatorError::UnknownAccount(account.to_string()));
        }
        world.put(account, region, secret);
        Ok(())
    }

    /// Removes a secret at once (not a scheduled deletion: use `deleted` for that).
    /// Returns whether it existed.
    pub fn delete_secret(&self, account: &str, region: &str, name: &str) -> bool {
        self.shared
            .world_mut()
            .store_mut(account, region)
            .remove(name)
            .is_some()
    }

    /// Changes a secret with the [`SecretSpec`] builder methods:
    /// `sim.update_secret(a, r, "db", |s| s.rotation_enabled(false))`. Versions keep their ids.
    pub fn update_secret(
        &self,
        account: &str,
        region: &str,
        name: &str,
        change: impl FnOnce(SecretSpec) -> SecretSpec,
    ) -> Result<(), SimulatorError> {
        let mut world = self.shared.world_mut();
        let store = world.store_mut(account, region);
        let Some(current) = store.by_name.get(name) else {
            return Err(SimulatorError::UnknownSecret {
                account: account.to_string(),
                region: region.to_string(),
                name: name.to_string(),
            });
        };
        let mut spec = current.spec.clone();
        for (version, id) in spec.versions.iter_mut().zip(&current.version_ids) {
            version.id = Some(id.clone());
        }
        let changed = change(spec);
        fleet::check_secret_name(&changed.name).map_err(SimulatorError::InvalidSecret)?;
        if changed.name != name {
            store.remove(name);
        }
        world.put(account, region, changed);
        Ok(())
    }

    /// The secret as the simulator holds it, versions settled.
    pub fn secret(&self, account: &str, region: &str, name: &str) -> Option<SecretSpec> {
        let world = self.shared.world();
        let stored = world.store(account, region)?.by_name.get(name)?;
        let mut spec = stored.spec.clone();
        for (version, id) in spec.versions.iter_mut().zip(&stored.version_ids) {
            version.id = Some(id.clone());
        }
        Some(spec)
    }

    /// Secrets in `account`/`region`, those scheduled for deletion included.
    pub fn secret_count(&self, account: &str, region: &str) -> usize {
        self.shared
            .world()
            .store(account, region)
            .map_or(0, |store| store.by_name.len())
    }

    /// Adds a Lambda function, or replaces the one with the same name, in `account`/`region`.
    pub fn put_lambda(
        &self,
        account: &str,
        region: &str,
        lambda: LambdaSpec,
    ) -> Result<(), SimulatorError> {
        fleet::check_lambda(&lambda).map_err(SimulatorError::InvalidLambda)?;
        let mut world = self.shared.world_mut();
        uses_region(&mut world, account, region)?;
        world
            .lambdas_mut(account, region)
            .insert(lambda.name.clone(), lambda);
        Ok(())
    }

    /// Deletes a Lambda function, so that its ARN names nothing (a rotation function deleted
    /// under its secret). Returns whether it existed.
    pub fn delete_lambda(&self, account: &str, region: &str, name: &str) -> bool {
        self.shared
            .world_mut()
            .lambdas_mut(account, region)
            .remove(name)
            .is_some()
    }

    /// Changes a Lambda function with the [`LambdaSpec`] builder methods:
    /// `sim.update_lambda(a, r, "rotate", |f| f.without_policy())`. The name cannot change.
    pub fn update_lambda(
        &self,
        account: &str,
        region: &str,
        name: &str,
        change: impl FnOnce(LambdaSpec) -> LambdaSpec,
    ) -> Result<(), SimulatorError> {
        let mut world = self.shared.world_mut();
        let functions = world.lambdas_mut(account, region);
        let Some(current) = functions.get(name) else {
            return Err(SimulatorError::UnknownLambda {
                account: account.to_string(),
                region: region.to_string(),
                name: name.to_string(),
            });
        };
        let changed = change(current.clone());
        if changed.name != name {
            return Err(SimulatorError::InvalidLambda(format!(
                "function {name} cannot be renamed to {}",
                changed.name
            )));
        }
        fleet::check_lambda(&changed).map_err(SimulatorError::InvalidLambda)?;
        functions.insert(name.to_string(), changed);
        Ok(())
    }

    /// Sets a function's `State` and `StateReason` (`None` removes the reason and its code).
    pub fn set_lambda_state(
        &self,
        account: &str,
        region: &str,
        name: &str,
        state: LambdaState,
        reason: Option<&str>,
    ) -> Result<(), SimulatorError> {
        self.update_lambda(account, region, name, |mut lambda| {
            lambda.state = state;
            lambda.state_reason = reason.map(str::to_string);
            lambda.state_reason_code = None;
            lambda
        })
    }

    /// The function as the simulator holds it.
    pub fn lambda(&self, account: &str, region: &str, name: &str) -> Option<LambdaSpec> {
        self.shared.world().lambda(account, region, name).cloned()
    }

    /// Adds an SSM parameter, or replaces the one with the same name, in `account`/`region`.
    pub fn put_parameter(
        &self,
        account: &str,
        region: &str,
        parameter: ParameterSpec,
    ) -> Result<(), SimulatorError> {
        fleet::check_parameter(&parameter).map_err(SimulatorError::InvalidParameter)?;
        let mut world = self.shared.world_mut();
        uses_region(&mut world, account, region)?;
        world
            .parameters_mut(account, region)
            .insert(parameter.name.clone(), parameter);
        Ok(())
    }

    /// Deletes an SSM parameter, as its `Expiration` policy would. Returns whether it existed.
    pub fn delete_parameter(&self, account: &str, region: &str, name: &str) -> bool {
        self.shared
            .world_mut()
            .parameters_mut(account, region)
            .remove(name)
            .is_some()
    }

    /// The parameter as the simulator holds it.
    pub fn parameter(&self, account: &str, region: &str, name: &str) -> Option<ParameterSpec> {
        self.shared
            .world()
            .parameters(account, region)?
            .get(name)
            .cloned()
    }

    /// SSM parameters in `account`/`region`.
    pub fn parameter_count(&self, account: &str, region: &str) -> usize {
        self.shared
            .world()
            .parameters(account, region)
            .map_or(0, |parameters| parameters.len())
    }

    /// Makes every SSM request of `account` (in every region) answer `AccessDeniedException`
    /// until [`Self::clear_faults`]: a fault rule with service `ssm`, as `deny_ssm` in a fleet.
    pub fn deny_ssm(&self, account: &str) {
        self.fail(
            FaultRule::new(Fault::AccessDenied)
                .service("ssm")
                .account(account),
        );
    }

    /// Lets `DescribeParameters` answer short pages (see [`FleetBuilder::ssm_short_pages`]).
    pub fn set_ssm_short_pages(&self, short: bool) {
        self.shared.world_mut().ssm_short_pages = short;
    }

    /// Adds an account (with the given regions) that AssumeRole can enter; a known account is
    /// left as it is.
    pub fn add_account(&self, account: Account) -> Result<(), SimulatorError> {
        fleet::check_account_id(&account.id).map_err(SimulatorError::InvalidSecret)?;
        self.shared
            .world_mut()
            .accounts
            .entry(account.id.clone())
            .or_insert(account);
        Ok(())
    }

    /// Every account with its regions, as the simulator holds them now.
    pub fn accounts(&self) -> Vec<Account> {
        self.shared.world().accounts.values().cloned().collect()
    }

    pub fn deny_assume_role(&self, account: &str) -> Result<(), SimulatorError> {
        self.set_deny_assume_role(account, true)
    }

    pub fn allow_assume_role(&self, account: &str) -> Result<(), SimulatorError> {
        self.set_deny_assume_role(account, false)
    }

    fn set_deny_assume_role(&self, account: &str, deny: bool) -> Result<(), SimulatorError> {
        let mut world = self.shared.world_mut();
        let known = world
            .accounts
            .get_mut(account)
            .ok_or_else(|| SimulatorError::UnknownAccount(account.to_string()))?;
        known.deny_assume_role = deny;
        Ok(())
    }

    /// Every `AssumeRole` request so far, in arrival order.
    pub fn assume_role_calls(&self) -> Vec<AssumeRoleCall> {
        self.shared.assume_role_calls()
    }

    /// Makes every credential issued by `AssumeRole` so far expire now; the base key stays valid.
    pub fn expire_assumed_credentials(&self) {
        self.shared.expire_assumed_credentials(Utc::now());
    }

    /// Adds a fault rule; the first matching rule applies to a request. The fleet's rules (its
    /// `faults` and `deny_ssm`, `deny_rds` and `deny_ec2` accounts) come first.
    pub fn fail(&self, rule: FaultRule) {
        self.shared.add_fault(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Requests for `operation` (`ListSecrets`, `AssumeRole`, `GetSecretValue`...) from every
    /// account, refused ones included.
    pub fn requests(&self, operation: &str) -> u64 {
        self.shared
            .counts()
            .iter()
            .filter(|((_, op, _), _)| op == operation)
            .map(|(_, count)| count)
            .sum()
    }

    /// Requests for `operation` of one `service` (`ssm`...) from every account, refused ones
    /// included: `ListTagsForResource` is both Organizations' and SSM's.
    pub fn service_requests(&self, service: &str, operation: &str) -> u64 {
        self.shared
            .counts()
            .iter()
            .filter(|((svc, op, _), _)| svc == service && op == operation)
            .map(|(_, count)| count)
            .sum()
    }

    /// Requests for `operation` in `account`: the caller's account, or for `AssumeRole` the
    /// account of the role. Unauthenticated requests count under the account `unknown`.
    pub fn requests_by_account(&self, operation: &str, account: &str) -> u64 {
        self.shared
            .counts()
            .iter()
            .filter(|((_, op, acct), _)| op == operation && acct == account)
            .map(|(_, count)| count)
            .sum()
    }

    /// Every count, keyed by (service, operation, account); service is `sts`,
    /// `secretsmanager`, `cloudtrail`, `organizations`, `lambda`, `cloudwatch`, `ssm`, `rds`,
    /// `ec2` or the
    /// signing service of anything else.
    pub fn request_counts(&self) -> BTreeMap<(String, String, String), u64> {
        self.shared.counts()
    }

    pub fn reset_counts(&self) {
        self.shared.reset_counts();
    }

    /// Logs a Secrets Manager rotation event to the CloudTrail history of `account`/`region`
    /// and returns its `EventId`. The secret need not exist (events outlive secrets).
    pub fn record_event(
        &self,
        account: &str,
        region: &str,
        event: RotationEventSpec,
    ) -> Result<String, SimulatorError> {
        rotation::record_event(&self.shared, account, region, &event)
    }

    /// Logs an event whose `CloudTrailEvent` is `cloudtrail_event_json` verbatim, valid JSON or
    /// not, and returns its `EventId`. It becomes visible after the delivery delay.
    pub fn record_raw_event(
        &self,
        account: &str,
        region: &str,
        event_name: &str,
        at: DateTime<Utc>,
        cloudtrail_event_json: String,
    ) -> Result<String, SimulatorError> {
        rotation::record_raw_event(
            &self.shared,
            account,
            region,
            event_name,
            at,
            cloudtrail_event_json,
        )
    }

    /// How late CloudTrail delivers events recorded from now on (default none): an event is
    /// returned by `LookupEvents` from its time plus this delay. AWS's is up to about 15 minutes.
    pub fn set_cloudtrail_delivery_delay(&self, delay: std::time::Duration) {
        self.shared.cloudtrail_settings().delivery_delay =
            chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    }

    /// `LookupEvents` requests per second per account and region, with a burst of one second's
    /// worth (default AWS's 2); beyond it `ThrottlingException`. `None` lifts the quota.
    pub fn set_cloudtrail_rate(&self, requests_per_second: Option<f64>) {
        self.shared
            .cloudtrail_settings()
            .set_rate(requests_per_second);
    }

    /// Adds `latency` before every authenticated answer, as the round trip to AWS would
    /// (default none).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.shared.load().latency = latency;
    }

    /// Throttles `operation` beyond `requests_per_second` per account and region (a token bucket
    /// with a burst of one second's worth) with the service's throttling error; `None` lifts the
    /// quota (the default). STS quotas count the calling account. Organizations answers
    /// `TooManyRequestsException`, and as a global service meters the region the client signed for
    /// (`us-east-1` for the SDK's default endpoint).
    pub fn set_quota(&self, operation: &str, requests_per_second: Option<f64>) {
        self.shared.load().set_quota(operation, requests_per_second);
    }

    /// Sets every quota of [`AWS_QUOTAS`], AWS's defaults.
    pub fn enforce_aws_quotas(&self) {
        let mut load = self.shared.load();
        for (operation, rate) in AWS_QUOTAS {
            load.set_quota(operation, Some(rate));
        }
    }

    /// The most requests for `operation` any one account-region sent within one second, refused
    /// ones included; `None` before the first.
    pub fn peak_request_rate(&self, operation: &str) -> Option<PeakRate> {
        self.shared.load().peak(operation)
    }

    /// Forgets the peaks measured so far.
    pub fn reset_peak_request_rates(&self) {
        self.shared.load().reset_meter();
    }

    /// A rotation that fails as AWS leaves it: `RotationStarted` a second ago and
    /// `RotationFailed` now, a new version created now that carries `AWSPENDING` only (taking the
    /// label from any older one), `NextRotationDate` left at the missed date (the start of the
    /// rotation unless it was already in the past), `LastChangedDate` now and `LastRotatedDate`
    /// unchanged. The secret must have rotation configured.
    pub fn fail_rotation(
        &self,
        account: &str,
        region: &str,
        secret_name: &str,
    ) -> Result<RotationOutcome, SimulatorError> {
        rotation::run(&self.shared, account, region, secret_name, Scenario::Fail)
    }

    /// A rotation that succeeds: `RotationStarted` a second ago and `RotationSucceeded` now; the
    /// pending version (or a new one created now) becomes `AWSCURRENT`, the old current
    /// `AWSPREVIOUS`; `LastRotatedDate` and `LastChangedDate` now and, with rotation enabled,
    /// `NextRotationDate` one interval ahead (`AutomaticallyAfterDays`, a `rate()`, a day for a
    /// cron). The secret must have rotation configured.
    pub fn succeed_rotation(
        &self,
        account: &str,
        region: &str,
        secret_name: &str,
    ) -> Result<RotationOutcome, SimulatorError> {
        rotation::run(
            &self.shared,
            account,
            region,
            secret_name,
            Scenario::Succeed,
        )
    }

    /// What AWS logs as `RotationAbandoned`: a version put by hand while a rotation was pending.
    /// The new version (created now) becomes `AWSCURRENT`, the old current `AWSPREVIOUS`,
    /// `AWSPENDING` is removed, `LastChangedDate` is now; `LastRotatedDate` and
    /// `NextRotationDate` are unchanged. Needs a version with `AWSPENDING` but not `AWSCURRENT`.
    pub fn abandon_rotation(
        &self,
        account: &str,
        region: &str,
        secret_name: &str,
    ) -> Result<RotationOutcome, SimulatorError> {
        rotation::run(
            &self.shared,
            account,
            region,
            secret_name,
            Scenario::Abandon,
        )
    }

    /// Every datum CloudWatch's `PutMetricData` accepted in `account`/`region`, oldest first.
    pub fn cloudwatch_metric_data(&self, account: &str, region: &str) -> Vec<MetricDatumRecord> {
        self.shared.cloudwatch().metric_data(account, region)
    }

    /// The CloudWatch metric alarms of `account`/`region`, by name.
    pub fn cloudwatch_alarms(&self, account: &str, region: &str) -> Vec<AlarmRecord> {
        self.shared.cloudwatch().alarms(account, region)
    }

    /// `PutMetricAlarm` requests per second per account and region, with a burst of one
    /// second's worth (default AWS's 3); beyond it `Throttling`. `None` lifts the quota.
    pub fn set_put_metric_alarm_rate(&self, requests_per_second: Option<f64>) {
        self.shared
            .cloudwatch()
            .set_put_alarm_rate(requests_per_second);
    }

    /// Events recorded in `account`/`region`, delivered or not, expired or not.
    pub fn cloudtrail_event_count(&self, account: &str, region: &str) -> usize {
        self.shared
            .world()
            .trail(account, region)
            .map_or(0, |trail| trail.len())
    }

    /// Events recorded in `account`/`region`, newest first, delivered or not.
    pub fn cloudtrail_events(&self, account: &str, region: &str) -> Vec<RecordedEvent> {
        self.shared
            .world()
            .trail(account, region)
            .map(|trail| trail.newest_first().cloned().collect())
            .unwrap_or_default()
    }
    /// The id of the fleet's organization (`o-...`); `None` without one.
    pub fn organization_id(&self) -> Option<String> {
        let world = self.shared.world();
        world.organization.as_ref().map(|org| org.id.clone())
    }

    /// The id of the organization's root (`r-...`); `None` without an organization.
    pub fn organization_root_id(&self) -> Option<String> {
        let world = self.shared.world();
        world.organization.as_ref().map(|org| org.root_id.clone())
    }

    /// The id of the unit at the end of a path of unit names from the root, such as
    /// `&["Workloads", "Prod"]`; `None` when there is no such unit.
    pub fn organizational_unit_id(&self, path: &[&str]) -> Option<String> {
        let world = self.shared.world();
        world.organization.as_ref()?.unit_by_path(path)
    }

    /// Adds an account to the organization under `parent_id` (the root or a unit), and to the
    /// simulated AWS with the fleet's default regions unless it is there already.
    pub fn add_organization_account(
        &self,
        parent_id: &str,
        account: OrgAccount,
    ) -> Result<(), SimulatorError> {
        self.change_organization(|world| {
            let org = world
                .organization
                .as_mut()
                .ok_or(SimulatorError::NoOrganization)?;
            if !org.is_parent(parent_id) {
                return Err(no_parent(parent_id));
            }
            if org.accounts.contains_key(&account.id) {
                return Err(SimulatorError::InvalidOrganization(format!(
                    "account {} is already in the organization",
                    account.id
                )));
            }
            let record = account_record(&account, parent_id.to_string(), &org.management)
                .map_err(SimulatorError::InvalidOrganization)?;
            org.insert_account(account.id.clone(), record);
            let regions = world.default_regions.clone();
            world
                .accounts
                .entry(account.id.clone())
                .or_insert_with(|| Account {
                    id: account.id.clone(),
                    regions,
                    deny_assume_role: false,
                    external_id: None,
                });
            Ok(())
        })
    }

    /// Moves an account of the organization under another parent (the root or a unit).
    pub fn move_organization_account(
        &self,
        account: &str,
        parent_id: &str,
    ) -> Result<(), SimulatorError> {
        self.change_organization(|world| {
            let org = organization_with(world, account)?;
            if !org.is_parent(parent_id) {
                return Err(no_parent(parent_id));
            }
            org.move_account(account, parent_id);
            Ok(())
        })
    }

    /// Sets the `State` of an account of the organization (its `Status` follows).
    pub fn set_organization_account_state(
        &self,
        account: &str,
        state: AccountState,
    ) -> Result<(), SimulatorError> {
        self.change_organization(|world| {
            let org = organization_with(world, account)?;
            if let Some(record) = org.accounts.get_mut(account) {
                record.state = state;
            }
            Ok(())
        })
    }

    /// Replaces the tags of an account of the organization.
    pub fn set_organization_account_tags<K: Into<String>, V: Into<String>>(
        &self,
        account: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), SimulatorError> {
        let tags: BTreeMap<String, String> = tags
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect();
        check_tags(&tags).map_err(SimulatorError::InvalidOrganization)?;
        self.change_organization(|world| {
            let org = organization_with(world, account)?;
            if let Some(record) = org.accounts.get_mut(account) {
                record.tags = tags;
            }
            Ok(())
        })
    }

    /// Removes an account from the organization (a delegated administrator stops being one); it
    /// stays an account of the simulated AWS, in no organization. The management account cannot
    /// leave, as in AWS.
    pub fn remove_organization_account(&self, account: &str) -> Result<(), SimulatorError> {
        self.change_organization(|world| {
            let org = organization_with(world, account)?;
            if org.management == account {
                return Err(SimulatorError::InvalidOrganization(format!(
                    "account {account} is the management account, which cannot leave the \
                     organization"
                )));
            }
            org.remove_account(account);
            org.delegated.remove(account);
            Ok(())
        })
    }

    fn change_organization<T>(
        &self,
        change: impl FnOnce(&mut World) -> Result<T, SimulatorError>,
    ) -> Result<T, SimulatorError> {
        change(&mut self.shared.world_mut())
    }
}

fn no_parent(parent_id: &str) -> SimulatorError {
    SimulatorError::InvalidOrganization(format!(
        "no root or organizational unit {parent_id} in the organization"
    ))
}

/// The organization, when `account` is in it.
fn organization_with<'a>(
    world: &'a mut World,
    account: &str,
) -> Result<&'a mut OrgState, SimulatorError> {
    let org = world
        .organization
        .as_mut()
        .ok_or(SimulatorError::NoOrganization)?;
    if !org.accounts.contains_key(account) {
        return Err(SimulatorError::InvalidOrganization(format!(
            "account {account} is not in the organization"
        )));
    }
    Ok(org)
}

/// Makes `region` one of `account`'s regions, for a resource put there; the
/// account must be one of the fleet's.
fn uses_region(
    world: &mut store::World,
    account: &str,
    region: &str,
) -> Result<(), SimulatorError> {
    let Some(known) = world.accounts.get_mut(account) else {
        return Err(SimulatorError::UnknownAccount(account.to_string()));
    };
    if !known.regions.iter().any(|r| r == region) {
        known.regions.push(region.to_string());
    }
    Ok(())
}
