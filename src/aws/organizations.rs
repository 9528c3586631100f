//! AWS Organizations: the four reads account discovery makes, each listing
//! paged with the repeated-token guard and every request paced within
//! Organizations' quotas, which are low and shared by everything that reads
//! the organization (Control Tower, StackSets, other tools).

use std::future::Future;

use super::pages::Pages;
use super::{ClientFactory, Pacer, SourceError, Target, classify_sdk_error};

/// The largest page the listings serve.
pub const PAGE_SIZE: i32 = 20;

/// Pages of one parent's accounts or units: an organization holds at most
/// 10,000 accounts (the highest quota AWS grants), 500 pages of 20; twice
/// that leaves room before a listing is taken to go round.
pub const MAX_CHILD_PAGES: usize = 1_000;

/// Pages of one account's tags: AWS allows 50 tags on a resource.
pub const MAX_TAG_PAGES: usize = 10;

/// Pages of the roots: an organization has one.
pub const MAX_ROOT_PAGES: usize = 10;

/// A root or organizational unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub id: String,
    pub name: Option<String>,
}

/// An account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: Option<String>,
    pub arn: Option<String>,
    pub name: Option<String>,
    /// `State`: ACTIVE, SUSPENDED, PENDING_ACTIVATION, PENDING_CLOSURE, CLOSED.
    pub state: Option<String>,
    /// `Status`, the older field: ACTIVE, SUSPENDED, PENDING_CLOSURE.
    pub status: Option<String>,
}

/// The reads discovery makes. Each returns a whole listing (every page) or
/// the error that ended it.
pub trait OrganizationsApi: Send + Sync + 'static {
    fn roots(&self) -> impl Future<Output = Result<Vec<OrgUnit>, SourceError>> + Send;

    fn child_units(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<OrgUnit>, SourceError>> + Send;

    fn child_accounts(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<OrgAccount>, SourceError>> + Send;

    /// Tags of an account, as (key, value).
    fn account_tags(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, SourceError>> + Send;
}

/// The partition a region belongs to, from its name.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The home region of Organizations in the partition of `region`: the
/// service is global, with one endpoint per partition.
pub fn organizations_region(region: Option<&str>) -> &'static str {
    match region.map_or("aws", partition_of_region) {
        "aws-cn" => "cn-northwest-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// Organizations through the SDK, read from `reader`: the management or
/// delegated administrator account, through its role when one is given.
/// Every request of a refresh takes its turn from one pacer
/// (`discovery.organizations.requests_per_second`): AWS publishes no
/// per-operation quota, throttles with `TooManyRequestsException` at a few
/// requests a second, and shares the quota with every other reader of the
/// organization.
pub struct SdkOrganizations {
    client: aws_sdk_organizations::Client,
    pacer: Pacer,
}

impl SdkOrganizations {
    pub fn new(factory: &ClientFactory, reader: &Target, requests_per_second: f64) -> Self {
        Self {
            client: factory.organizations(reader),
            pacer: Pacer::per_second(requests_per_second),
        }
    }
}

impl SdkOrganizations {
    /// Every page of one listing: `page` asks for the page after the token
    /// it is given and returns its items and next token; each request
    /// waits for its turn, and the listing ends on a repeated token or
    /// past `max_pages` as an invalid answer.
    async fn all_pages<T, F, Fut>(
        &self,
        operation: &'static str,
        max_pages: usize,
        mut page: F,
    ) -> Result<Vec<T>, SourceError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>), SourceError>>,
    {
        let mut pages = Pages::new(operation, max_pages);
        let mut next_token = None;
        let mut items = Vec::new();
        loop {
            self.pacer.wait().await;
            let (page_items, token) = page(next_token.take()).await?;
            items.extend(page_items);
            match pages.next_token(token.as_deref())? {
                Some(token) => next_token = Some(token),
                None => return Ok(items),
            }
        }
    }
}

fn unit(id: Option<&str>, name: Option<&str>) -> OrgUnit {
    OrgUnit {
        id: id.unwrap_or_default().to_owned(),
        name: name.map(str::to_owned),
    }
}

impl OrganizationsApi for SdkOrganizations {
    async fn roots(&self) -> Result<Vec<OrgUnit>, SourceError> {
        self.all_pages("ListRoots", MAX_ROOT_PAGES, |token| async {
            let page = self
                .client
                .list_roots()
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            let roots = page
                .roots()
                .iter()
                .map(|root| unit(root.id(), root.name()))
                .collect();
            Ok((roots, page.next_token().map(str::to_owned)))
        })
        .await
    }

    async fn child_units(&self, parent_id: &str) -> Result<Vec<OrgUnit>, SourceError> {
        self.all_pages(
            "ListOrganizationalUnitsForParent",
            MAX_CHILD_PAGES,
            |token| async {
                let page = self
                    .client
                    .list_organizational_units_for_parent()
                    .parent_id(parent_id)
                    .max_results(PAGE_SIZE)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|err| classify_sdk_error(&err))?;
                let units = page
                    .organizational_units()
                    .iter()
                    .map(|child| unit(child.id(), child.name()))
                    .collect();
                Ok((units, page.next_token().map(str::to_owned)))
            },
        )
        .await
    }

    async fn child_accounts(&self, parent_id: &str) -> Result<Vec<OrgAccount>, SourceError> {
        self.all_pages("ListAccountsForParent", MAX_CHILD_PAGES, |token| async {
            let page = self
                .client
                .list_accounts_for_parent()
                .parent_id(parent_id)
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            let accounts = page
                .accounts()
                .iter()
                .map(|account| OrgAccount {
                    id: account.id().map(str::to_owned),
                    arn: account.arn().map(str::to_owned),
                    name: account.name().map(str::to_owned),
                    state: account.state().map(|state| state.as_str().to_owned()),
                    status: account.status().map(|status| status.as_str().to_owned()),
                })
                .collect();
            Ok((accounts, page.next_token().map(str::to_owned)))
        })
        .await
    }

    async fn account_tags(&self, account_id: &str) -> Result<Vec<(String, String)>, SourceError> {
        self.all_pages("ListTagsForResource", MAX_TAG_PAGES, |token| async {
            let page = self
                .client
                .list_tags_for_resource()
                .resource_id(account_id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            let tags = page
                .tags()
                .iter()
                .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                .collect();
            Ok((tags, page.next_token().map(str::to_owned)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_is_read_in_the_home_region_of_the_partition() {
        assert_eq!(organizations_region(Some("eu-west-1")), "us-east-1");
        assert_eq!(organizations_region(None), "us-east-1");
        assert_eq!(organizations_region(Some("cn-north-1")), "cn-northwest-1");
        assert_eq!(organizations_region(Some("us-gov-east-1")), "us-gov-west-1");
    }
}
