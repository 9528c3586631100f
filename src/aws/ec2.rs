//! EC2: `DescribeVpcs` and `DescribeVpcEndpoints` (filtered on the Secrets
//! Manager service), over the ec2Query protocol (see [`super::query`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_smithy_xml::decode::ScopedDecoder;
use litemap::LiteMap;

use super::pages::Pages;
use super::query::{EC2, QueryRequest, boolean, read_answer, text};
use super::{ClientFactory, SourceError, Target};
use crate::vpcs::{EndpointRecord, VpcRecord};

/// The largest page both operations serve (`MaxResults`).
pub const PAGE_SIZE: u32 = 1_000;

/// Pages of one listing before it is taken to go round: an account and
/// region holds 5 VPCs by default and a few hundred at most.
pub const MAX_PAGES: usize = 1_000;

/// Entries read of one page: EC2 serves at most `PAGE_SIZE`.
pub const MAX_ENTRIES_PER_PAGE: usize = 1_000;

/// Tags kept of one VPC: EC2 allows 50.
pub const MAX_TAGS: usize = 50;

/// One VPC of a `DescribeVpcs` page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VpcEntry {
    pub vpc_id: Option<String>,
    pub owner_id: Option<String>,
    pub is_default: bool,
    pub tags: LiteMap<Arc<str>, Arc<str>>,
}

/// One endpoint of a `DescribeVpcEndpoints` page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EndpointEntry {
    pub endpoint_id: Option<String>,
    pub vpc_id: Option<String>,
    pub endpoint_type: Option<String>,
    pub state: Option<String>,
    pub service_name: Option<String>,
    pub private_dns: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VpcPage {
    pub vpcs: Vec<VpcEntry>,
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EndpointPage {
    pub endpoints: Vec<EndpointEntry>,
    pub next_token: Option<String>,
}

/// The EC2 seam: what the source reads of one target.
pub trait Ec2Api: Send + Sync + 'static {
    fn describe_vpcs(
        &self,
        target: &Target,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<VpcPage, SourceError>> + Send;

    /// Endpoints of `service_name` only.
    fn describe_vpc_endpoints(
        &self,
        target: &Target,
        service_name: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<EndpointPage, SourceError>> + Send;
}

/// The name of Secrets Manager's endpoint service in `region`.
pub fn secrets_manager_service_name(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("cn.com.amazonaws.{region}.secretsmanager")
    } else {
        format!("com.amazonaws.{region}.secretsmanager")
    }
}

/// Every VPC the target's account owns, sorted by id, each with its Secrets
/// Manager endpoints; `turn` is awaited before each page. A VPC another
/// account shares with this one is its owner's to judge, and is left out.
/// Returns them and how many entries were left out as unusable (no id).
pub async fn list_vpcs<A: Ec2Api, F: Future<Output = ()>>(
    api: &A,
    target: &Target,
    mut turn: impl FnMut() -> F,
) -> Result<(Vec<VpcRecord>, usize), SourceError> {
    let account_id: Arc<str> = Arc::from(target.account_id.as_str());
    let region: Arc<str> = Arc::from(target.region.as_str());
    let mut skipped = 0usize;
    let mut vpcs: BTreeMap<String, VpcRecord> = BTreeMap::new();
    let mut pages = Pages::new("DescribeVpcs", MAX_PAGES);
    let mut next_token = None;
    loop {
        turn().await;
        let page = api.describe_vpcs(target, next_token.take()).await?;
        for entry in page.vpcs {
            let Some(vpc_id) = entry.vpc_id.filter(|id| !id.is_empty()) else {
                skipped = skipped.saturating_add(1);
                continue;
            };
            if entry
                .owner_id
                .as_deref()
                .is_some_and(|owner| owner != target.account_id)
            {
                continue;
            }
            vpcs.insert(
                vpc_id.clone(),
                VpcRecord {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    vpc_id,
                    is_default: entry.is_default,
                    tags: entry.tags,
                    endpoints: Vec::new(),
                },
            );
        }
        match pages.next_token(page.next_token.as_deref())? {
            Some(token) => next_token = Some(token),
            None => break,
        }
    }
    let service_name = secrets_manager_service_name(&target.region);
    let mut pages = Pages::new("DescribeVpcEndpoints", MAX_PAGES);
    loop {
        turn().await;
        let page = api
            .describe_vpc_endpoints(target, &service_name, next_token.take())
            .await?;
        for entry in page.endpoints {
            // The filter is the service's to apply; an answer that ignores
            // it must not pass another service's endpoint for this one.
            if entry.service_name.as_deref() != Some(service_name.as_str()) {
                continue;
            }
            let (Some(endpoint_id), Some(vpc_id)) = (entry.endpoint_id, entry.vpc_id) else {
                skipped = skipped.saturating_add(1);
                continue;
            };
            // An endpoint of a VPC not listed (shared with this account).
            let Some(vpc) = vpcs.get_mut(&vpc_id) else {
                continue;
            };
            vpc.endpoints.push(EndpointRecord {
                endpoint_id,
                endpoint_type: entry.endpoint_type.unwrap_or_default(),
                state: entry.state.unwrap_or_default(),
                private_dns: entry.private_dns,
            });
        }
        match pages.next_token(page.next_token.as_deref())? {
            Some(token) => next_token = Some(token),
            None => break,
        }
    }
    let mut vpcs: Vec<VpcRecord> = vpcs.into_values().collect();
    for vpc in &mut vpcs {
        vpc.endpoints
            .sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
    }
    Ok((vpcs, skipped))
}

/// Reads the `<item>`s of the set named `set` under the root, and the
/// `nextToken`.
fn read_items<T>(
    body: &[u8],
    set: &str,
    mut item: impl FnMut(&mut ScopedDecoder<'_, '_>) -> Result<T, String>,
) -> Result<(Vec<T>, Option<String>), String> {
    read_answer(body, |root| {
        let mut items = Vec::new();
        let mut next_token = None;
        while let Some(mut tag) = root.next_tag() {
            match tag.start_el().local() {
                "nextToken" => next_token = Some(text(&mut tag)?).filter(|t| !t.is_empty()),
                name if name == set => {
                    while let Some(mut entry) = tag.next_tag() {
                        if entry.start_el().local() != "item" {
                            continue;
                        }
                        if items.len() >= MAX_ENTRIES_PER_PAGE {
                            return Err(format!(
                                "more than {MAX_ENTRIES_PER_PAGE} entries on one page"
                            ));
                        }
                        items.push(item(&mut entry)?);
                    }
                }
                _ => {}
            }
        }
        // EC2 leaves an empty set out of some answers: without one, the
        // page is empty (the root was checked to be this operation's).
        Ok((items, next_token))
    })
}

/// Reads a `DescribeVpcs` answer.
pub fn read_vpcs(body: &[u8]) -> Result<VpcPage, String> {
    check_root(body, "DescribeVpcsResponse")?;
    let (vpcs, next_token) = read_items(body, "vpcSet", |entry| {
        let mut vpc = VpcEntry::default();
        while let Some(mut field) = entry.next_tag() {
            match field.start_el().local() {
                "vpcId" => vpc.vpc_id = Some(text(&mut field)?),
                "ownerId" => vpc.owner_id = Some(text(&mut field)?),
                "isDefault" => vpc.is_default = boolean(&mut field)?,
                "tagSet" => vpc.tags = read_tags(&mut field)?,
                _ => {}
            }
        }
        Ok(vpc)
    })?;
    Ok(VpcPage { vpcs, next_token })
}

/// Reads a `DescribeVpcEndpoints` answer.
pub fn read_endpoints(body: &[u8]) -> Result<EndpointPage, String> {
    check_root(body, "DescribeVpcEndpointsResponse")?;
    let (endpoints, next_token) = read_items(body, "vpcEndpointSet", |entry| {
        let mut endpoint = EndpointEntry::default();
        while let Some(mut field) = entry.next_tag() {
            match field.start_el().local() {
                "vpcEndpointId" => endpoint.endpoint_id = Some(text(&mut field)?),
                "vpcId" => endpoint.vpc_id = Some(text(&mut field)?),
                "vpcEndpointType" => endpoint.endpoint_type = Some(text(&mut field)?),
                "state" => endpoint.state = Some(text(&mut field)?),
                "serviceName" => endpoint.service_name = Some(text(&mut field)?),
                "privateDnsEnabled" => endpoint.private_dns = boolean(&mut field)?,
                _ => {}
            }
        }
        Ok(endpoint)
    })?;
    Ok(EndpointPage {
        endpoints,
        next_token,
    })
}

/// An answer of another operation (or an HTML error page served with 200)
/// is not an empty page.
fn check_root(body: &[u8], expected: &str) -> Result<(), String> {
    read_answer(body, |root| {
        let name = root.start_el().local();
        if name == expected {
            Ok(())
        } else {
            Err(format!("expected {expected}, the answer is {name}"))
        }
    })
}

/// `<tagSet><item><key/><value/></item>…</tagSet>`, at most [`MAX_TAGS`].
fn read_tags(set: &mut ScopedDecoder<'_, '_>) -> Result<LiteMap<Arc<str>, Arc<str>>, String> {
    let mut tags = LiteMap::new();
    while let Some(mut item) = set.next_tag() {
        let (mut key, mut value) = (None, None);
        while let Some(mut field) = item.next_tag() {
            match field.start_el().local() {
                "key" => key = Some(text(&mut field)?),
                "value" => value = Some(text(&mut field)?),
                _ => {}
            }
        }
        if let Some(key) = key
            && tags.len() < MAX_TAGS
        {
            tags.insert(Arc::from(key), Arc::from(value.unwrap_or_default()));
        }
    }
    Ok(tags)
}

impl Ec2Api for ClientFactory {
    async fn describe_vpcs(
        &self,
        target: &Target,
        next_token: Option<String>,
    ) -> Result<VpcPage, SourceError> {
        let mut request =
            QueryRequest::new("DescribeVpcs").param("MaxResults", PAGE_SIZE.to_string());
        if let Some(token) = next_token {
            request = request.param("NextToken", token);
        }
        self.query(EC2, target, request, read_vpcs).await
    }

    async fn describe_vpc_endpoints(
        &self,
        target: &Target,
        service_name: &str,
        next_token: Option<String>,
    ) -> Result<EndpointPage, SourceError> {
        let mut request = QueryRequest::new("DescribeVpcEndpoints")
            .param("Filter.1.Name", "service-name")
            .param("Filter.1.Value.1", service_name)
            .param("MaxResults", PAGE_SIZE.to_string());
        if let Some(token) = next_token {
            request = request.param("NextToken", token);
        }
        self.query(EC2, target, request, read_endpoints).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vpc_page_gives_ids_owners_default_and_tags() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>7a62c49f</requestId>
  <vpcSet>
    <item>
      <vpcId>vpc-0a1b</vpcId><ownerId>111111111111</ownerId><state>available</state>
      <cidrBlock>10.0.0.0/16</cidrBlock><isDefault>false</isDefault>
      <tagSet><item><key>Name</key><value>payments</value></item><item><key>rotation-exempt</key><value>dev</value></item></tagSet>
    </item>
    <item><vpcId>vpc-default</vpcId><ownerId>111111111111</ownerId><isDefault>true</isDefault></item>
  </vpcSet>
  <nextToken>t2</nextToken>
</DescribeVpcsResponse>"#;
        let page = read_vpcs(body).expect("a valid page");
        assert_eq!(page.next_token.as_deref(), Some("t2"));
        assert_eq!(page.vpcs.len(), 2);
        assert_eq!(page.vpcs[0].vpc_id.as_deref(), Some("vpc-0a1b"));
        assert!(!page.vpcs[0].is_default);
        assert_eq!(
            page.vpcs[0].tags.get("rotation-exempt").map(|v| &**v),
            Some("dev")
        );
        assert!(page.vpcs[1].is_default);
    }

    #[test]
    fn an_endpoint_page_gives_type_state_and_private_dns() {
        let body =
            br#"<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>1</requestId>
  <vpcEndpointSet><item>
    <vpcEndpointId>vpce-1</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType>
    <vpcId>vpc-0a1b</vpcId><serviceName>com.amazonaws.eu-west-1.secretsmanager</serviceName>
    <state>available</state><privateDnsEnabled>false</privateDnsEnabled>
    <groupSet><item><groupId>sg-1</groupId></item></groupSet>
  </item></vpcEndpointSet>
</DescribeVpcEndpointsResponse>"#;
        let page = read_endpoints(body).expect("a valid page");
        assert_eq!(page.next_token, None);
        let endpoint = &page.endpoints[0];
        assert_eq!(endpoint.endpoint_id.as_deref(), Some("vpce-1"));
        assert_eq!(endpoint.state.as_deref(), Some("available"));
        assert!(!endpoint.private_dns);
    }

    #[test]
    fn answers_of_another_kind_are_refused() {
        assert!(read_vpcs(b"<DescribeVpcEndpointsResponse/>").is_err());
        assert!(read_endpoints(b"<html>").is_err());
        assert!(read_vpcs(b"<DescribeVpcsResponse><vpcSet><item><isDefault>maybe</isDefault></item></vpcSet></DescribeVpcsResponse>").is_err());
        assert_eq!(
            read_vpcs(b"<DescribeVpcsResponse/>").map(|p| p.vpcs.len()),
            Ok(0)
        );
    }

    #[test]
    fn the_service_name_follows_the_partition() {
        assert_eq!(
            secrets_manager_service_name("eu-west-1"),
            "com.amazonaws.eu-west-1.secretsmanager"
        );
        assert_eq!(
            secrets_manager_service_name("cn-north-1"),
            "cn.com.amazonaws.cn-north-1.secretsmanager"
        );
    }
}
