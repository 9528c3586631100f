//! What the exporter knows about VPCs and their Secrets Manager interface
//! endpoints: plain data, no SDK types. A VPC has one check,
//! `secretsmanager_endpoint`, judged from two listings of the same read, so
//! its verdict is never unknown: when a listing fails, the target's last
//! read is kept or dropped whole.

use std::sync::Arc;

use litemap::LiteMap;
use serde::Serialize;

/// The `check` label of a VPC's verdict.
pub const SECRETSMANAGER_ENDPOINT: &str = "secretsmanager_endpoint";

/// A Secrets Manager interface endpoint of a VPC, as
/// `DescribeVpcEndpoints` saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointRecord {
    pub endpoint_id: String,
    /// `Interface` or `Gateway`, or what EC2 sent instead.
    pub endpoint_type: String,
    /// `available`, `pending`, ...
    pub state: String,
    pub private_dns: bool,
}

impl EndpointRecord {
    /// Whether applications in the VPC reach Secrets Manager through it by
    /// its usual name: an available interface endpoint with private DNS.
    pub fn serves_private_dns(&self) -> bool {
        self.endpoint_type.eq_ignore_ascii_case("Interface")
            && self.state.eq_ignore_ascii_case("available")
            && self.private_dns
    }
}

/// One VPC the target's account owns, with its Secrets Manager endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpcRecord {
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    pub vpc_id: String,
    pub is_default: bool,
    pub tags: LiteMap<Arc<str>, Arc<str>>,
    /// Sorted by id.
    pub endpoints: Vec<EndpointRecord>,
}

/// Why a VPC has no `secretsmanager_endpoint` verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VpcSkipped {
    /// A default VPC, while `policy.vpc_endpoint.include_default_vpcs` is off.
    DefaultVpc,
    /// The exempt tag is set; its value is the reason given.
    Exempt(String),
}

/// The `secretsmanager_endpoint` verdict of one VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VpcVerdict {
    Judged {
        compliant: bool,
        /// What was found, for `check`'s report.
        reason: String,
    },
    Skipped(VpcSkipped),
}

impl VpcVerdict {
    pub fn compliant(&self) -> Option<bool> {
        match self {
            VpcVerdict::Judged { compliant, .. } => Some(*compliant),
            VpcVerdict::Skipped(_) => None,
        }
    }
}

/// Judges a VPC: the policy decides whether default VPCs count, and which
/// tag exempts one.
pub fn judge_vpc(record: &VpcRecord, include_default_vpcs: bool, exempt_tag: &str) -> VpcVerdict {
    if let Some(reason) = record.tags.get(exempt_tag) {
        return VpcVerdict::Skipped(VpcSkipped::Exempt(reason.to_string()));
    }
    if record.is_default && !include_default_vpcs {
        return VpcVerdict::Skipped(VpcSkipped::DefaultVpc);
    }
    if let Some(good) = record
        .endpoints
        .iter()
        .find(|endpoint| endpoint.serves_private_dns())
    {
        return VpcVerdict::Judged {
            compliant: true,
            reason: format!("{} is available with private DNS", good.endpoint_id),
        };
    }
    let reason = match record.endpoints.first() {
        None => "no Secrets Manager interface endpoint".to_owned(),
        Some(_) => {
            let found: Vec<String> = record
                .endpoints
                .iter()
                .map(|endpoint| {
                    let mut what = format!("{} ({}", endpoint.endpoint_id, endpoint.state);
                    if !endpoint.endpoint_type.eq_ignore_ascii_case("Interface") {
                        what.push_str(", ");
                        what.push_str(&endpoint.endpoint_type);
                    } else if !endpoint.private_dns {
                        what.push_str(", private DNS off");
                    }
                    what.push(')');
                    what
                })
                .collect();
            format!(
                "no available Secrets Manager interface endpoint with private DNS: {}",
                found.join(", ")
            )
        }
    };
    VpcVerdict::Judged {
        compliant: false,
        reason,
    }
}

/// One VPC and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VpcReport {
    pub record: Arc<VpcRecord>,
    pub verdict: VpcVerdict,
}

/// A target's VPCs, once both listings have answered for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VpcInventory {
    /// Sorted by VPC id.
    pub vpcs: Vec<VpcReport>,
    pub noncompliant: usize,
}

impl VpcInventory {
    pub fn judge(records: &[Arc<VpcRecord>], include_default_vpcs: bool, exempt_tag: &str) -> Self {
        let vpcs: Vec<VpcReport> = records
            .iter()
            .map(|record| VpcReport {
                verdict: judge_vpc(record, include_default_vpcs, exempt_tag),
                record: Arc::clone(record),
            })
            .collect();
        let noncompliant = vpcs
            .iter()
            .filter(|vpc| vpc.verdict.compliant() == Some(false))
            .count();
        Self { vpcs, noncompliant }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc(endpoints: Vec<EndpointRecord>) -> VpcRecord {
        VpcRecord {
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            vpc_id: "vpc-0a".into(),
            is_default: false,
            tags: LiteMap::new(),
            endpoints,
        }
    }

    fn endpoint(state: &str, private_dns: bool) -> EndpointRecord {
        EndpointRecord {
            endpoint_id: "vpce-1".into(),
            endpoint_type: "Interface".into(),
            state: state.into(),
            private_dns,
        }
    }

    #[test]
    fn a_vpc_passes_only_with_an_available_endpoint_with_private_dns() {
        let judge = |record: &VpcRecord| judge_vpc(record, false, "rotation-exempt").compliant();
        assert_eq!(judge(&vpc(vec![])), Some(false));
        assert_eq!(judge(&vpc(vec![endpoint("available", false)])), Some(false));
        assert_eq!(judge(&vpc(vec![endpoint("pending", true)])), Some(false));
        assert_eq!(judge(&vpc(vec![endpoint("available", true)])), Some(true));
        let verdict = judge_vpc(&vpc(vec![endpoint("available", false)]), false, "x");
        assert!(
            matches!(&verdict, VpcVerdict::Judged { reason, .. } if reason.contains("vpce-1 (available, private DNS off)")),
            "{verdict:?}"
        );
    }

    #[test]
    fn default_and_exempt_vpcs_are_skipped_unless_default_ones_are_included() {
        let mut default = vpc(vec![]);
        default.is_default = true;
        assert_eq!(
            judge_vpc(&default, false, "rotation-exempt"),
            VpcVerdict::Skipped(VpcSkipped::DefaultVpc)
        );
        assert_eq!(
            judge_vpc(&default, true, "rotation-exempt").compliant(),
            Some(false)
        );
        let mut exempt = vpc(vec![]);
        exempt
            .tags
            .insert("rotation-exempt".into(), "dev VPC, no endpoint".into());
        assert_eq!(
            judge_vpc(&exempt, false, "rotation-exempt"),
            VpcVerdict::Skipped(VpcSkipped::Exempt("dev VPC, no endpoint".into()))
        );
    }
}
