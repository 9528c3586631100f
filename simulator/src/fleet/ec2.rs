//! VPCs of the fleet and their VPC endpoints: only what `DescribeVpcs` and
//! `DescribeVpcEndpoints` show.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::ids::derived_chars;

/// `vpcEndpointType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum EndpointType {
    #[default]
    Interface,
    Gateway,
}

impl EndpointType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interface => "Interface",
            Self::Gateway => "Gateway",
        }
    }
}

/// `state` of a VPC endpoint, as EC2 spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointState {
    #[default]
    Available,
    Pending,
    PendingAcceptance,
    Deleting,
    Deleted,
    Rejected,
    Failed,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Pending => "pending",
            Self::PendingAcceptance => "pendingAcceptance",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

/// One VPC endpoint of a VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The short service name, `secretsmanager`: `serviceName` is
    /// `com.amazonaws.<region>.<service>`.
    pub service: String,
    pub endpoint_type: EndpointType,
    pub state: EndpointState,
    /// `None`: true for an `Interface` endpoint, false for a `Gateway` one.
    pub private_dns: Option<bool>,
    /// `vpce-...`; `None`: derived from the VPC and the endpoint's place in it.
    pub id: Option<String>,
    pub created: DateTime<Utc>,
    /// In the order AWS returns them.
    pub tags: Vec<(String, String)>,
}

impl EndpointSpec {
    /// An available `Interface` endpoint with private DNS, created now.
    pub fn interface(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            endpoint_type: EndpointType::Interface,
            state: EndpointState::Available,
            private_dns: None,
            id: None,
            created: Utc::now(),
            tags: Vec::new(),
        }
    }

    /// An available `Gateway` endpoint (no private DNS), created now.
    pub fn gateway(service: impl Into<String>) -> Self {
        Self {
            endpoint_type: EndpointType::Gateway,
            ..Self::interface(service)
        }
    }

    pub fn state(mut self, state: EndpointState) -> Self {
        self.state = state;
        self
    }

    pub fn private_dns(mut self, enabled: bool) -> Self {
        self.private_dns = Some(enabled);
        self
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn created(mut self, when: DateTime<Utc>) -> Self {
        self.created = when;
        self
    }

    /// Adds a tag, replacing the value of an existing tag with the same key.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.tags.iter_mut().find(|(existing, _)| *existing == key) {
            Some(tag) => tag.1 = value,
            None => self.tags.push((key, value)),
        }
        self
    }

    pub fn effective_private_dns(&self) -> bool {
        self.private_dns
            .unwrap_or(self.endpoint_type == EndpointType::Interface)
    }
}

/// One VPC of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcSpec {
    /// `vpc-...`; `None`: derived from where the VPC lives and its place among them.
    pub vpc_id: Option<String>,
    pub cidr: String,
    /// `isDefault`.
    pub default: bool,
    /// In the order AWS returns them.
    pub tags: Vec<(String, String)>,
    pub endpoints: Vec<EndpointSpec>,
}

/// The CIDR block of a VPC when the fleet names none.
pub const DEFAULT_VPC_CIDR: &str = "10.0.0.0/16";
/// The CIDR block AWS gives a default VPC.
pub const DEFAULT_VPC_DEFAULT_CIDR: &str = "172.31.0.0/16";

impl VpcSpec {
    /// A VPC on 10.0.0.0/16 without tags or endpoints.
    pub fn new() -> Self {
        Self {
            vpc_id: None,
            cidr: DEFAULT_VPC_CIDR.to_string(),
            default: false,
            tags: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// The account's default VPC, on 172.31.0.0/16.
    pub fn default_vpc() -> Self {
        Self {
            cidr: DEFAULT_VPC_DEFAULT_CIDR.to_string(),
            default: true,
            ..Self::new()
        }
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.vpc_id = Some(id.into());
        self
    }

    pub fn cidr(mut self, cidr: impl Into<String>) -> Self {
        self.cidr = cidr.into();
        self
    }

    /// Adds a tag, replacing the value of an existing tag with the same key.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.tags.iter_mut().find(|(existing, _)| *existing == key) {
            Some(tag) => tag.1 = value,
            None => self.tags.push((key, value)),
        }
        self
    }

    pub fn endpoint(mut self, endpoint: EndpointSpec) -> Self {
        self.endpoints.push(endpoint);
        self
    }
}

impl Default for VpcSpec {
    fn default() -> Self {
        Self::new()
    }
}

/// A VPC together with where it lives; once the fleet is built its id and its endpoints' ids
/// are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedVpc {
    pub account: String,
    pub region: String,
    pub vpc: VpcSpec,
}

const HEX: &[u8] = b"0123456789abcdef";

/// `vpc-` and 17 hex digits, derived from the VPC's place among the account-region's VPCs.
pub(crate) fn derived_vpc_id(account: &str, region: &str, index: usize) -> String {
    let index = index.to_string();
    format!(
        "vpc-{}",
        derived_chars(&["vpc", account, region, &index], HEX, 17)
    )
}

/// `vpce-` and 17 hex digits, derived from the VPC and the endpoint's place in it.
pub(crate) fn derived_endpoint_id(vpc_id: &str, index: usize) -> String {
    let index = index.to_string();
    format!("vpce-{}", derived_chars(&["vpce", vpc_id, &index], HEX, 17))
}

/// The `dhcpOptionsId` of every VPC of an account-region.
pub(crate) fn dhcp_options_id(account: &str, region: &str) -> String {
    format!(
        "dopt-{}",
        derived_chars(&["dopt", account, region], HEX, 17)
    )
}

fn check_hex_id(prefix: &str, id: &str) -> Result<(), String> {
    let hex = id.strip_prefix(prefix).unwrap_or_default();
    if (hex.len() == 8 || hex.len() == 17)
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not {prefix} followed by 8 or 17 lowercase hex digits"
        ))
    }
}

fn check_cidr(cidr: &str) -> Result<(), String> {
    let bad = || format!("`{cidr}` is not an IPv4 CIDR block such as 10.0.0.0/16");
    let (address, length) = cidr.split_once('/').ok_or_else(bad)?;
    let length: u8 = length.parse().map_err(|_| bad())?;
    address.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    if !(16..=28).contains(&length) {
        return Err(format!(
            "`{cidr}`: a VPC's block is /16 to /28, as AWS allows"
        ));
    }
    Ok(())
}

/// Checks one VPC alone; each message starts with the field at fault.
pub(crate) fn check_vpc(spec: &VpcSpec) -> Result<(), String> {
    if let Some(id) = &spec.vpc_id {
        check_hex_id("vpc-", id).map_err(|e| format!("vpc_id: {e}"))?;
    }
    check_cidr(&spec.cidr).map_err(|e| format!("cidr: {e}"))?;
    for (index, endpoint) in spec.endpoints.iter().enumerate() {
        let field = |name: &str| format!("endpoints[{index}].{name}");
        let service_ok = !endpoint.service.is_empty()
            && endpoint
                .service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
        if !service_ok {
            return Err(format!(
                "{}: `{}` is not a short service name such as secretsmanager",
                field("service"),
                endpoint.service
            ));
        }
        if let Some(id) = &endpoint.id {
            check_hex_id("vpce-", id).map_err(|e| format!("{}: {e}", field("id")))?;
        }
        if endpoint.endpoint_type == EndpointType::Gateway && endpoint.private_dns == Some(true) {
            return Err(format!(
                "{}: a Gateway endpoint has no private DNS",
                field("private_dns")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_blocks_are_checked() {
        assert!(check_vpc(&VpcSpec::new().id("vpc-0a1b2c3d4e5f60718")).is_ok());
        assert!(check_vpc(&VpcSpec::new().id("vpc-12345678")).is_ok());
        assert!(check_vpc(&VpcSpec::new().id("vpc-xyz")).is_err());
        assert!(check_vpc(&VpcSpec::new().cidr("10.0.0.0/8")).is_err());
        assert!(check_vpc(&VpcSpec::new().cidr("10.0.0/16")).is_err());
        let id = derived_vpc_id("111111111111", "us-east-1", 0);
        assert!(check_hex_id("vpc-", &id).is_ok(), "{id}");
        let endpoint = derived_endpoint_id(&id, 0);
        assert!(check_hex_id("vpce-", &endpoint).is_ok(), "{endpoint}");
    }
}
