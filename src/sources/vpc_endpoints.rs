//! VPCs and their Secrets Manager interface endpoints, inventoried beside
//! Secrets Manager when `sources.vpc_endpoints.enabled`: each target's loop
//! lists its VPCs (`DescribeVpcs`) and the endpoints of
//! `com.amazonaws.<region>.secretsmanager` (`DescribeVpcEndpoints`, filtered
//! by the service), 1,000 a page, once a poll interval. A failed listing
//! takes the target's `source="ec2"` health down and keeps the last listing
//! for [`KEEP_AFTER_FAILURE`](super::KEEP_AFTER_FAILURE) intervals.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    HeldListing, PerTargetSource, ReadContext, SnapshotView, TargetLoops, TargetPart, lock,
};
use crate::aws::ec2::{Ec2Api, list_vpcs};
use crate::aws::{SourceError, Target};
use crate::inventory::SecretRecord;
use crate::snapshot::Source;
use crate::vpcs::VpcRecord;

/// Requests per second per target. EC2 refills an account's bucket of
/// describe calls at 20 a second per region, shared with every other
/// caller; two listings a poll stay far below it.
pub const EC2_REQUESTS_PER_SECOND: f64 = 2.0;

/// The VPC endpoint loops of every target.
pub type VpcReader<A> = TargetLoops<VpcEndpoints<A>>;

/// What is known of one target's VPCs.
#[derive(Debug, Default)]
pub struct VpcState {
    vpcs: HeldListing<VpcRecord>,
}

/// Reads VPCs and their endpoints through `A`.
pub struct VpcEndpoints<A> {
    api: Arc<A>,
    /// The poll interval, for how long a failed target keeps its listing.
    poll_interval: Duration,
}

impl<A> VpcEndpoints<A> {
    pub fn new(api: Arc<A>, poll_interval: Duration) -> Self {
        Self { api, poll_interval }
    }
}

impl<A: Ec2Api> PerTargetSource for VpcEndpoints<A> {
    type State = VpcState;

    fn source(&self) -> Source {
        Source::Ec2
    }

    fn operations(&self) -> &'static [(&'static str, &'static str)] {
        &[("ec2", "DescribeVpcs"), ("ec2", "DescribeVpcEndpoints")]
    }

    async fn read(
        &self,
        target: &Target,
        state: &Mutex<VpcState>,
        read: &ReadContext<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, SourceError> {
        let (vpcs, skipped) = list_vpcs(&*self.api, target, || async {
            drop(read.take_turn().await);
        })
        .await?;
        for _ in 0..skipped {
            read.skipped_invalid_item();
        }
        Ok(lock(state)
            .vpcs
            .replace(vpcs, now, |a, b| a.vpc_id.cmp(&b.vpc_id)))
    }
}

impl<A: Ec2Api> SnapshotView for VpcReader<A> {
    /// Hands the target's last listing to the snapshot with the source's
    /// health.
    fn contribute(
        &self,
        account_id: &str,
        region: &str,
        _records: &mut [Arc<SecretRecord>],
        part: &mut TargetPart,
    ) {
        part.vpcs = self.contribute_listing(
            account_id,
            region,
            self.source().poll_interval,
            part,
            |state| &state.vpcs,
        );
    }
}
