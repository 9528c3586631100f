//! RDS and Aurora databases, inventoried beside Secrets Manager when
//! `sources.rds.enabled`: each target's loop lists its clusters
//! (`DescribeDBClusters`) and instances (`DescribeDBInstances`), 100 a page,
//! once a poll interval. A failed listing takes the target's `source="rds"`
//! health down and keeps the last listing for [`KEEP_AFTER_FAILURE`](super::KEEP_AFTER_FAILURE)
//! intervals; the Secrets Manager side of the target is not touched.
//!
//! A database whose master password RDS keeps in Secrets Manager names that
//! secret (`MasterUserSecret`); the secret's record is given the database's
//! identifier, so its `_info` series leads from the database to the
//! rotation of its password.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    HeldListing, PerTargetSource, ReadContext, SnapshotView, TargetLoops, TargetPart, lock,
};
use crate::aws::rds::{RdsApi, list_databases};
use crate::aws::{SourceError, Target};
use crate::databases::DatabaseRecord;
use crate::inventory::SecretRecord;
use crate::snapshot::Source;

/// Requests per second per target. RDS shares one API quota per account
/// and region among every caller; the exporter's two listings a poll stay
/// far below it.
pub const RDS_REQUESTS_PER_SECOND: f64 = 2.0;

/// The RDS loops of every target.
pub type DatabaseReader<A> = TargetLoops<RdsDatabases<A>>;

/// What is known of one target's databases.
#[derive(Debug, Default)]
pub struct RdsState {
    databases: HeldListing<DatabaseRecord>,
}

/// Reads RDS databases through `A`.
pub struct RdsDatabases<A> {
    api: Arc<A>,
    /// The poll interval, for how long a failed target keeps its listing.
    poll_interval: Duration,
}

impl<A> RdsDatabases<A> {
    pub fn new(api: Arc<A>, poll_interval: Duration) -> Self {
        Self { api, poll_interval }
    }
}

impl<A: RdsApi> PerTargetSource for RdsDatabases<A> {
    type State = RdsState;

    fn source(&self) -> Source {
        Source::Rds
    }

    fn operations(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("rds", "DescribeDBClusters"),
            ("rds", "DescribeDBInstances"),
        ]
    }

    async fn read(
        &self,
        target: &Target,
        state: &Mutex<RdsState>,
        read: &ReadContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, SourceError> {
        let (databases, skipped) = list_databases(&*self.api, target, || async {
            drop(read.take_turn().await);
        })
        .await?;
        for _ in 0..skipped {
            read.skipped_invalid_item();
        }
        Ok(lock(state).databases.replace(databases, now, |a, b| {
            (&a.identifier, a.kind).cmp(&(&b.identifier, b.kind))
        }))
    }
}

impl<A: RdsApi> SnapshotView for DatabaseReader<A> {
    /// Hands the target's last listing to the snapshot with the source's
    /// health, and names each master secret's database on its record.
    fn contribute(
        &self,
        account_id: &str,
        region: &str,
        records: &mut [Arc<SecretRecord>],
        part: &mut TargetPart,
    ) {
        part.databases = self.contribute_listing(
            account_id,
            region,
            self.source().poll_interval,
            part,
            |state| &state.databases,
        );
        let by_secret: HashMap<&str, &str> = part
            .databases
            .iter()
            .flat_map(|databases| databases.iter())
            .filter_map(|database| {
                Some((
                    database.master_secret_arn.as_deref()?,
                    database.identifier.as_str(),
                ))
            })
            .collect();
        for record in records.iter_mut() {
            let database = by_secret.get(record.arn.as_str()).copied();
            if record.database.as_deref() != database {
                Arc::make_mut(record).database = database.map(Arc::from);
            }
        }
    }
}
