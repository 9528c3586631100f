//! Rotation Lambdas, read per distinct function rather than per secret: a
//! thousand secrets rotated by three functions cost six requests a refresh
//! (`GetFunctionConfiguration` and `GetPolicy` of each), not two thousand.
//!
//! Each target's loop reads the functions its secrets name (from the last
//! served snapshot), each once per `sources.lambda.refresh_interval`. The
//! loop ticks at most a minute apart, so a function first named by a new
//! poll is read within a minute, and a tick with nothing due costs nothing.
//! A function in another account than the secret cannot be read with the
//! target's role: it is unknown (`access_denied`), never judged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{PerTargetSource, ReadContext, SnapshotView, TargetLoops, TargetPart, after, lock};
use crate::aws::lambda::{LambdaApi, function_location, read_function};
use crate::aws::{SourceError, Target};
use crate::inventory::{RotationFunction, SecretRecord, Unknown};
use crate::snapshot::{ErrorReason, SnapshotStore, Source};

/// Requests per second per target. Lambda allows 15 `GetPolicy` and 100
/// `GetFunctionConfiguration` a second per account and region; the rest is
/// left to deployments and other tools.
pub const LAMBDA_REQUESTS_PER_SECOND: f64 = 5.0;

/// The longest time between two ticks of a target's loop.
pub const LAMBDA_TICK: Duration = Duration::from_secs(60);

/// A read that failed is tried again after this, or after the refresh
/// interval if that is shorter.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// The Lambda loops of every target.
pub type RotationLambdaReader<A> = TargetLoops<RotationLambdas<A>>;

/// What is known of one function.
#[derive(Debug, Clone)]
struct FunctionRead {
    outcome: RotationFunction,
    next_read: DateTime<Utc>,
}

/// What is known of the functions one target's secrets name.
#[derive(Debug, Default)]
pub struct LambdaState {
    functions: HashMap<Arc<str>, FunctionRead>,
}

/// Reads rotation Lambdas through `A`.
pub struct RotationLambdas<A> {
    api: Arc<A>,
    store: Arc<SnapshotStore>,
    refresh_interval: Duration,
}

impl<A> RotationLambdas<A> {
    /// Reads the functions the secrets in `store`'s snapshot name, each
    /// once per `refresh_interval`.
    pub fn new(api: Arc<A>, store: Arc<SnapshotStore>, refresh_interval: Duration) -> Self {
        Self {
            api,
            store,
            refresh_interval,
        }
    }

    /// The distinct functions that rotate the target's secrets now.
    fn functions_named(&self, target: &Target) -> Vec<Arc<str>> {
        let Some(snapshot) = self.store.load() else {
            return Vec::new();
        };
        let Ok(index) = snapshot.targets.binary_search_by(|held| {
            (held.account_id.as_str(), held.region.as_str())
                .cmp(&(target.account_id.as_str(), target.region.as_str()))
        }) else {
            return Vec::new();
        };
        let mut named: Vec<Arc<str>> = snapshot.targets[index]
            .secrets
            .iter()
            .filter(|secret| secret.record.rotated_by_lambda())
            .filter_map(|secret| secret.record.rotation_lambda_arn.clone())
            .collect();
        named.sort_unstable();
        named.dedup();
        named
    }
}

impl<A: LambdaApi> PerTargetSource for RotationLambdas<A> {
    type State = LambdaState;

    fn source(&self) -> Source {
        Source::Lambda
    }

    fn operations(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("lambda", "GetFunctionConfiguration"),
            ("lambda", "GetPolicy"),
        ]
    }

    fn loop_interval(&self, poll_interval: Duration) -> Duration {
        poll_interval.min(LAMBDA_TICK)
    }

    fn reads_inventory(&self) -> bool {
        true
    }

    /// A new snapshot may name a function not read yet: it is read at once
    /// rather than at the next tick.
    fn wake_on(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.store.subscribe())
    }

    async fn read(
        &self,
        target: &Target,
        state: &Mutex<LambdaState>,
        read: &ReadContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, SourceError> {
        let named = self.functions_named(target);
        let (due, forgot): (Vec<Arc<str>>, bool) = {
            let mut state = lock(state);
            let before = state.functions.len();
            state
                .functions
                .retain(|arn, _| named.binary_search(arn).is_ok());
            let forgot = state.functions.len() != before;
            let due = named
                .iter()
                .filter(|arn| {
                    state
                        .functions
                        .get(*arn)
                        .is_none_or(|known| known.next_read <= now)
                })
                .cloned()
                .collect();
            (due, forgot)
        };
        let mut learned = forgot;
        let mut first_error: Option<SourceError> = None;
        for arn in due {
            let (outcome, next_read) = match function_location(&arn) {
                None => {
                    read.count_error(ErrorReason::InvalidResponse);
                    tracing::warn!(
                        account_id = %target.account_id,
                        region = %target.region,
                        function = %arn,
                        "RotationLambdaARN is not a Lambda function ARN"
                    );
                    (
                        RotationFunction::Unknown(Unknown::Failed(ErrorReason::InvalidResponse)),
                        after(now, self.refresh_interval),
                    )
                }
                Some((account, _)) if account != target.account_id => {
                    // The target's role is the only one the exporter has in
                    // that account's place; counted once a refresh.
                    read.count_error(ErrorReason::AccessDenied);
                    (
                        RotationFunction::Unknown(Unknown::Failed(ErrorReason::AccessDenied)),
                        after(now, self.refresh_interval),
                    )
                }
                Some((_, region)) => {
                    let reader = Target {
                        region: region.to_owned(),
                        ..target.clone()
                    };
                    let facts = read_function(&*self.api, &reader, &arn, || async {
                        drop(read.take_turn().await);
                    })
                    .await;
                    match facts {
                        Ok(facts) => (
                            RotationFunction::Known(Arc::new(facts)),
                            after(now, self.refresh_interval),
                        ),
                        Err(err) => {
                            let retry = after(now, self.refresh_interval.min(RETRY_AFTER_FAILURE));
                            let stop = matches!(
                                err.reason,
                                ErrorReason::AccessDenied | ErrorReason::Throttled
                            );
                            // What was known stays known until a read
                            // succeeds; a function never read is unknown.
                            let held = lock(state).functions.get(&arn).map(|f| f.outcome.clone());
                            let outcome = match held {
                                Some(known @ RotationFunction::Known(_)) => known,
                                _ => RotationFunction::Unknown(Unknown::Failed(err.reason)),
                            };
                            lock(state).functions.insert(
                                arn.clone(),
                                FunctionRead {
                                    outcome,
                                    next_read: retry,
                                },
                            );
                            learned = true;
                            first_error.get_or_insert(SourceError {
                                reason: err.reason,
                                message: format!("reading {arn}: {}", err.message),
                            });
                            // A denial or a throttle would meet every
                            // further request of this round too.
                            if stop {
                                break;
                            }
                            continue;
                        }
                    }
                }
            };
            let mut state = lock(state);
            let changed = state
                .functions
                .get(&arn)
                .is_none_or(|held| held.outcome != outcome);
            learned |= changed;
            state
                .functions
                .insert(arn, FunctionRead { outcome, next_read });
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(learned),
        }
    }
}

impl<A: LambdaApi> SnapshotView for RotationLambdaReader<A> {
    /// Sets what is known of its rotation Lambda on every secret that has
    /// one; a function not read yet is unknown, with the last read's error
    /// when there is one.
    fn contribute(
        &self,
        account_id: &str,
        region: &str,
        records: &mut [Arc<SecretRecord>],
        part: &mut TargetPart,
    ) {
        let apply = |state: Option<&LambdaState>,
                     why_unknown: Unknown,
                     records: &mut [Arc<SecretRecord>]| {
            for record in records.iter_mut() {
                let known = record.rotated_by_lambda().then(|| {
                    let arn = record.rotation_lambda_arn.as_deref().unwrap_or_default();
                    state
                        .and_then(|state| state.functions.get(arn))
                        .map_or(RotationFunction::Unknown(why_unknown), |read| {
                            read.outcome.clone()
                        })
                });
                if record.rotation_function != known {
                    Arc::make_mut(record).rotation_function = known;
                }
            }
        };
        let seen = self.with_target(account_id, region, |state, health| {
            let why_unknown = health
                .and_then(|health| health.last_error.as_ref())
                .map_or(Unknown::NotYetRead, |error| Unknown::Failed(error.reason));
            apply(Some(state), why_unknown, records);
            part.health.extend(health.cloned());
        });
        if seen.is_none() {
            apply(None, Unknown::NotYetRead, records);
        }
    }
}
