//! AWS Organizations through the official SDK client: the tree, its pages, who may read it,
//! throttling and faults.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_organizations::config::Region;
use aws_sdk_organizations::config::retry::RetryConfig;
use aws_sdk_organizations::error::ProvideErrorMetadata;
use aws_sdk_organizations::types::{AccountState, AccountStatus, ParentType};
use common::{static_credentials, sts_client};
use simulator::{
    AccountState as SimState, Fault, FaultRule, Fleet, ORGANIZATIONS_PAGE_LIMIT, OrgAccount,
    OrgUnit, Organization, SimulatorHandle, start,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BASE: &str = "123456789012";
const DELEGATED: &str = "888888888888";
const OUTSIDER: &str = "777777777777";

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn org_client_with(
    sim: &SimulatorHandle,
    credentials: Credentials,
    retry: RetryConfig,
) -> aws_sdk_organizations::Client {
    let config = aws_sdk_organizations::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(retry)
        .build();
    aws_sdk_organizations::Client::from_conf(config)
}

/// Retries are off so that every SDK call is exactly one request to count.
fn org_client(sim: &SimulatorHandle) -> aws_sdk_organizations::Client {
    org_client_with(
        sim,
        static_credentials(&sim.base_credentials()),
        RetryConfig::disabled(),
    )
}

/// A client signing as `account`, through an assumed role as the exporter would.
async fn org_client_as(
    sim: &SimulatorHandle,
    account: &str,
) -> Result<aws_sdk_organizations::Client, Box<dyn std::error::Error>> {
    let assumed = sts_client(sim, "us-east-1")
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/reader"))
        .role_session_name("test")
        .send()
        .await?;
    let credentials = assumed.credentials().ok_or("no credentials")?;
    let credentials = Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        None,
        "assumed",
    );
    Ok(org_client_with(sim, credentials, RetryConfig::disabled()))
}

fn member(index: usize) -> String {
    format!("{:012}", 100_000_000_000 + index)
}

/// Workloads holds 25 accounts and a Prod unit with 3; Teams holds 23 units of one account each.
fn big_fleet() -> Result<Fleet, simulator::FleetError> {
    let mut teams = OrgUnit::new("Teams");
    for team in 0..23 {
        teams = teams.unit(OrgUnit::new(format!("team-{team:02}")).accounts([member(100 + team)]));
    }
    let organization = Organization::new()
        .delegated_administrator(DELEGATED)
        .unit(
            OrgUnit::new("Workloads")
                .accounts((0..25).map(member))
                .unit(OrgUnit::new("Prod").accounts((50..53).map(member))),
        )
        .unit(teams)
        .account(
            OrgAccount::new(member(0))
                .name("payments-prod")
                .tag("team", "payments"),
        )
        .account(OrgAccount::new(member(1)).state(SimState::Suspended))
        .account(OrgAccount::new(member(2)).state(SimState::Closed))
        .account(OrgAccount::new(member(3)).state(SimState::PendingActivation))
        .account(
            OrgAccount::new(member(4))
                .state(SimState::PendingClosure)
                .omit_state(),
        );
    Fleet::builder()
        .account(OUTSIDER)
        .organization(organization)
        .build()
}

/// Every account id under `parent`, page by page with `page_size`, with the number of pages.
async fn accounts_under(
    client: &aws_sdk_organizations::Client,
    parent: &str,
    page_size: i32,
) -> Result<(Vec<String>, usize), aws_sdk_organizations::Error> {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let page = client
            .list_accounts_for_parent()
            .parent_id(parent)
            .max_results(page_size)
            .set_next_token(token.take())
            .send()
            .await?;
        pages += 1;
        ids.extend(
            page.accounts()
                .iter()
                .filter_map(|a| a.id().map(str::to_string)),
        );
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok((ids, pages)),
        }
    }
}

async fn units_under(
    client: &aws_sdk_organizations::Client,
    parent: &str,
) -> Result<Vec<(String, String)>, aws_sdk_organizations::Error> {
    let mut units = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_organizational_units_for_parent()
            .parent_id(parent)
            .set_next_token(token.take())
            .send()
            .await?;
        units.extend(page.organizational_units().iter().map(|unit| {
            (
                unit.id().unwrap_or_default().to_string(),
                unit.name().unwrap_or_default().to_string(),
            )
        }));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(units),
        }
    }
}

#[tokio::test]
async fn a_nested_tree_is_walked_page_by_page() -> TestResult {
    let sim = start(big_fleet()?, localhost()).await?;
    let client = org_client(&sim);

    let roots = client.list_roots().send().await?;
    let root = roots.roots().first().ok_or("no root")?;
    let root_id = root.id().ok_or("root without id")?.to_string();
    assert_eq!(Some(root_id.clone()), sim.organization_root_id());
    assert_eq!(root.name(), Some("Root"));
    let org_id = sim.organization_id().ok_or("no organization")?;
    assert_eq!(
        root.arn(),
        Some(format!("arn:aws:organizations::{BASE}:root/{org_id}/{root_id}").as_str())
    );

    // Depth first from the root, as a discovery would.
    let mut found = Vec::new();
    let mut parents = vec![root_id.clone()];
    let mut unit_count = 0;
    while let Some(parent) = parents.pop() {
        let (accounts, _) = accounts_under(&client, &parent, 7).await?;
        found.extend(accounts);
        for (id, _) in units_under(&client, &parent).await? {
            unit_count += 1;
            parents.push(id);
        }
    }
    let listed: BTreeSet<String> = found.iter().cloned().collect();
    assert_eq!(listed.len(), found.len(), "no account twice");
    // 25 + 3 + 23 members, the management account and the delegated administrator.
    assert_eq!(found.len(), 53);
    assert_eq!(unit_count, 2 + 1 + 23);

    let workloads = sim
        .organizational_unit_id(&["Workloads"])
        .ok_or("no Workloads")?;
    let (in_workloads, pages) = accounts_under(&client, &workloads, 20).await?;
    assert_eq!(in_workloads.len(), 25);
    assert_eq!(pages, 2, "20 and 5");
    let sorted = {
        let mut sorted = in_workloads.clone();
        sorted.sort();
        sorted
    };
    assert_eq!(in_workloads, sorted, "pages come in id order");

    let teams = sim.organizational_unit_id(&["Teams"]).ok_or("no Teams")?;
    let first = client
        .list_organizational_units_for_parent()
        .parent_id(&teams)
        .send()
        .await?;
    assert_eq!(
        first.organizational_units().len(),
        ORGANIZATIONS_PAGE_LIMIT,
        "20 a page by default"
    );
    assert!(first.next_token().is_some());
    let team_units = units_under(&client, &teams).await?;
    assert_eq!(team_units.len(), 23);
    let prod = sim
        .organizational_unit_id(&["Workloads", "Prod"])
        .ok_or("no Prod")?;
    assert!(prod.starts_with(&format!("ou-{}-", root_id.trim_start_matches("r-"))));

    // ListAccounts sees the same accounts, with the SDK's own paginator.
    let mut all = BTreeSet::new();
    let mut pages = client.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        all.extend(
            page?
                .accounts()
                .iter()
                .filter_map(|a| a.id().map(str::to_string)),
        );
    }
    assert_eq!(all, listed);
    assert_eq!(
        sim.requests_by_account("ListAccounts", BASE),
        3,
        "20, 20, 13"
    );
    Ok(())
}

#[tokio::test]
async fn accounts_carry_state_and_the_status_derived_from_it() -> TestResult {
    let sim = start(big_fleet()?, localhost()).await?;
    let client = org_client(&sim);
    let workloads = sim
        .organizational_unit_id(&["Workloads"])
        .ok_or("no Workloads")?;
    let page = client
        .list_accounts_for_parent()
        .parent_id(&workloads)
        .max_results(5)
        .send()
        .await?;
    let org_id = sim.organization_id().ok_or("no organization")?;
    let account = |index: usize| {
        page.accounts()
            .iter()
            .find(|a| a.id() == Some(member(index).as_str()))
            .cloned()
            .ok_or(format!("no account {index}"))
    };
    let payments = account(0)?;
    assert_eq!(payments.name(), Some("payments-prod"));
    assert_eq!(payments.email(), Some("payments-prod@example.com"));
    assert_eq!(
        payments.arn(),
        Some(
            format!(
                "arn:aws:organizations::{BASE}:account/{org_id}/{}",
                member(0)
            )
            .as_str()
        )
    );
    assert!(payments.joined_timestamp().is_some());
    assert!(payments.joined_method().is_some());
    let pairs = [
        (0, Some(AccountState::Active), AccountStatus::Active),
        (1, Some(AccountState::Suspended), AccountStatus::Suspended),
        (2, Some(AccountState::Closed), AccountStatus::Suspended),
        (
            3,
            Some(AccountState::PendingActivation),
            AccountStatus::Active,
        ),
        (4, None, AccountStatus::PendingClosure),
    ];
    for (index, state, status) in pairs {
        let account = account(index)?;
        assert_eq!(account.state(), state.as_ref(), "{index}");
        assert_eq!(account.status(), Some(&status), "{index}");
    }
    Ok(())
}

#[tokio::test]
async fn tags_are_paged_twenty_at_a_time() -> TestResult {
    let tagged = (0..45).fold(OrgAccount::new(member(0)), |account, i| {
        account.tag(format!("key-{i:02}"), format!("value-{i}"))
    });
    let fleet = Fleet::builder()
        .organization(
            Organization::new()
                .root_tag("scope", "all")
                .unit(OrgUnit::new("Tagged").tag("owner", "platform"))
                .account(tagged),
        )
        .build()?;
    let sim = start(fleet, localhost()).await?;
    let client = org_client(&sim);

    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_tags_for_resource()
            .resource_id(member(0))
            .set_next_token(token.take())
            .send()
            .await?;
        sizes.push(page.tags().len());
        keys.extend(page.tags().iter().map(|t| t.key().to_string()));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(sizes, [20, 20, 5]);
    let expected: Vec<String> = (0..45).map(|i| format!("key-{i:02}")).collect();
    assert_eq!(keys, expected);

    let unit = sim.organizational_unit_id(&["Tagged"]).ok_or("no unit")?;
    let tags = client
        .list_tags_for_resource()
        .resource_id(unit)
        .send()
        .await?;
    assert_eq!(
        tags.tags().first().map(|t| (t.key(), t.value())),
        Some(("owner", "platform"))
    );
    let root = sim.organization_root_id().ok_or("no root")?;
    let tags = client
        .list_tags_for_resource()
        .resource_id(root)
        .send()
        .await?;
    assert_eq!(tags.tags().len(), 1);
    let untagged = client
        .list_tags_for_resource()
        .resource_id(BASE)
        .send()
        .await?;
    assert!(untagged.tags().is_empty());

    for (resource, code) in [
        ("999999999999", "TargetNotFoundException"),
        ("ou-zzzz-zzzzzzzz", "TargetNotFoundException"),
        ("not-an-id", "InvalidInputException"),
    ] {
        let error = client
            .list_tags_for_resource()
            .resource_id(resource)
            .send()
            .await
            .err()
            .ok_or(format!("{resource} answered"))?;
        assert_eq!(error.code(), Some(code), "{resource}");
    }
    Ok(())
}

#[tokio::test]
async fn the_delegated_administrator_reads_members_are_denied_outsiders_are_in_none() -> TestResult
{
    let sim = start(big_fleet()?, localhost()).await?;

    let delegated = org_client_as(&sim, DELEGATED).await?;
    let accounts = delegated.list_accounts().send().await?;
    assert_eq!(accounts.accounts().len(), 20);

    let member_client = org_client_as(&sim, &member(7)).await?;
    let error = member_client
        .list_accounts()
        .send()
        .await
        .err()
        .ok_or("a member listed the accounts")?;
    assert_eq!(error.code(), Some("AccessDeniedException"));
    assert_eq!(
        error.message(),
        Some("You don't have permissions to access this resource.")
    );
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_access_denied_exception())
    );
    // Any member may describe its organization, as in AWS.
    let described = member_client.describe_organization().send().await?;
    assert_eq!(
        described.organization().and_then(|o| o.master_account_id()),
        Some(BASE)
    );

    let outsider = org_client_as(&sim, OUTSIDER).await?;
    for error in [
        outsider
            .list_roots()
            .send()
            .await
            .err()
            .map(|e| e.code().map(str::to_string)),
        outsider
            .describe_organization()
            .send()
            .await
            .err()
            .map(|e| e.code().map(str::to_string)),
    ] {
        assert_eq!(
            error.flatten().as_deref(),
            Some("AWSOrganizationsNotInUseException")
        );
    }

    let plain = start(Fleet::builder().build()?, localhost()).await?;
    let error = org_client(&plain)
        .list_accounts()
        .send()
        .await
        .err()
        .ok_or("a fleet without an organization answered")?;
    assert_eq!(error.code(), Some("AWSOrganizationsNotInUseException"));
    assert_eq!(
        error.message(),
        Some("Your account is not a member of an organization.")
    );
    assert_eq!(plain.organization_id(), None);
    Ok(())
}

const ORG_YAML: &str = r#"
base_account: "123456789012"
organization:
  id: o-exampleorg1
  management_account: "999999999999"
  delegated_administrators: ["888888888888"]
  root: { id: r-ab12, name: Root }
  units:
    - name: Workloads
      id: ou-ab12-11111111
      accounts: ["111111111111", "222222222222"]
      units:
        - name: Prod
          accounts: ["333333333333"]
  accounts:
    - id: "111111111111"
      name: payments-prod
      email: payments@example.com
      state: SUSPENDED
      tags: { cost-center: "42" }
    - id: "444444444444"
      name: loose
"#;

#[tokio::test]
async fn a_fleet_file_sets_ids_and_the_management_account() -> TestResult {
    let fleet = Fleet::from_yaml_str(ORG_YAML, chrono::Utc::now())?;
    let ids: BTreeSet<&str> = fleet.accounts().iter().map(|a| a.id.as_str()).collect();
    for id in [
        BASE,
        "999999999999",
        "888888888888",
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
    ] {
        assert!(ids.contains(id), "{id} is an account of the fleet");
    }
    assert_eq!(fleet.organization_id(), Some("o-exampleorg1"));
    let sim = start(fleet, localhost()).await?;

    // The base account is outside the organization its fleet describes.
    let error = org_client(&sim)
        .list_roots()
        .send()
        .await
        .err()
        .ok_or("answered")?;
    assert_eq!(error.code(), Some("AWSOrganizationsNotInUseException"));

    let client = org_client_as(&sim, "999999999999").await?;
    let organization = client.describe_organization().send().await?;
    let organization = organization.organization().ok_or("no organization")?;
    assert_eq!(organization.id(), Some("o-exampleorg1"));
    assert_eq!(
        organization.arn(),
        Some("arn:aws:organizations::999999999999:organization/o-exampleorg1")
    );
    assert_eq!(
        organization.master_account_arn(),
        Some("arn:aws:organizations::999999999999:account/o-exampleorg1/999999999999")
    );
    assert_eq!(organization.master_account_id(), Some("999999999999"));
    assert!(organization.master_account_email().is_some());
    assert_eq!(organization.feature_set().map(|f| f.as_str()), Some("ALL"));
    assert!(organization.available_policy_types().is_empty());

    assert_eq!(sim.organization_root_id().as_deref(), Some("r-ab12"));
    assert_eq!(
        sim.organizational_unit_id(&["Workloads"]).as_deref(),
        Some("ou-ab12-11111111")
    );
    let units = client
        .list_organizational_units_for_parent()
        .parent_id("ou-ab12-11111111")
        .send()
        .await?;
    let prod = units.organizational_units().first().ok_or("no Prod")?;
    assert_eq!(prod.name(), Some("Prod"));
    let prod_id = prod.id().ok_or("no id")?;
    assert_eq!(
        prod.arn(),
        Some(format!("arn:aws:organizations::999999999999:ou/o-exampleorg1/{prod_id}").as_str())
    );

    let parents = client
        .list_parents()
        .child_id("333333333333")
        .send()
        .await?;
    let parent = parents.parents().first().ok_or("no parent")?;
    assert_eq!(
        (parent.id(), parent.r#type()),
        (Some(prod_id), Some(&ParentType::OrganizationalUnit))
    );
    let parents = client
        .list_parents()
        .child_id("ou-ab12-11111111")
        .send()
        .await?;
    let parent = parents.parents().first().ok_or("no parent")?;
    assert_eq!(
        (parent.id(), parent.r#type()),
        (Some("r-ab12"), Some(&ParentType::Root))
    );
    let parents = client
        .list_parents()
        .child_id("444444444444")
        .send()
        .await?;
    assert_eq!(
        parents.parents().first().and_then(|p| p.id()),
        Some("r-ab12")
    );

    let at_root = client
        .list_accounts_for_parent()
        .parent_id("r-ab12")
        .send()
        .await?;
    let ids: Vec<&str> = at_root.accounts().iter().filter_map(|a| a.id()).collect();
    assert_eq!(ids, ["444444444444", "888888888888", "999999999999"]);

    let tags = client
        .list_tags_for_resource()
        .resource_id("111111111111")
        .send()
        .await?;
    assert_eq!(
        tags.tags().first().map(|t| (t.key(), t.value())),
        Some(("cost-center", "42"))
    );
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_the_errors_aws_sends() -> TestResult {
    let sim = start(big_fleet()?, localhost()).await?;
    let client = org_client(&sim);
    let root = sim.organization_root_id().ok_or("no root")?;

    let code = |result: Result<(), aws_sdk_organizations::Error>| {
        result.err().and_then(|e| e.code().map(str::to_string))
    };
    macro_rules! code_of {
        ($call:expr) => {
            code(
                $call
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_sdk_organizations::Error::from),
            )
        };
    }
    assert_eq!(
        code_of!(
            client
                .list_accounts_for_parent()
                .parent_id("ou-zzzz-zzzzzzzz")
        )
        .as_deref(),
        Some("ParentNotFoundException")
    );
    assert_eq!(
        code_of!(
            client
                .list_organizational_units_for_parent()
                .parent_id("r-zzzz")
        )
        .as_deref(),
        Some("ParentNotFoundException")
    );
    assert_eq!(
        code_of!(client.list_accounts_for_parent().parent_id(BASE)).as_deref(),
        Some("InvalidInputException"),
        "an account is no parent"
    );
    assert_eq!(
        code_of!(client.list_parents().child_id("999999999999")).as_deref(),
        Some("ChildNotFoundException")
    );
    assert_eq!(
        code_of!(client.list_parents().child_id(&root)).as_deref(),
        Some("InvalidInputException"),
        "the root is no child"
    );
    for max in [0, 21] {
        assert_eq!(
            code_of!(client.list_accounts().max_results(max)).as_deref(),
            Some("InvalidInputException"),
            "MaxResults {max}"
        );
    }
    assert_eq!(
        code_of!(client.list_accounts().next_token("garbled")).as_deref(),
        Some("InvalidInputException")
    );
    // A token of one parent's listing does not page another's.
    let workloads = sim
        .organizational_unit_id(&["Workloads"])
        .ok_or("no Workloads")?;
    let first = client
        .list_accounts_for_parent()
        .parent_id(&workloads)
        .send()
        .await?;
    let token = first.next_token().ok_or("no token")?;
    let error = client
        .list_accounts_for_parent()
        .parent_id(&root)
        .next_token(token)
        .send()
        .await
        .err()
        .ok_or("a foreign token was accepted")?;
    let reason = error
        .as_service_error()
        .and_then(|e| match e {
            aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentError::InvalidInputException(e) => e.reason().map(|r| r.as_str().to_string()),
            _ => None,
        });
    assert_eq!(reason.as_deref(), Some("INVALID_NEXT_TOKEN"));
    Ok(())
}

#[tokio::test]
async fn too_many_requests_is_retried_by_the_sdk_and_fails_without_retries() -> TestResult {
    let sim = start(big_fleet()?, localhost()).await?;
    sim.set_quota("ListAccounts", Some(2.0));
    let retrying = org_client_with(
        &sim,
        static_credentials(&sim.base_credentials()),
        RetryConfig::standard()
            .with_max_attempts(10)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(1)),
    );
    for _ in 0..4 {
        retrying.list_accounts().send().await?;
    }
    assert!(
        sim.requests("ListAccounts") > 4,
        "throttled attempts were retried: {}",
        sim.requests("ListAccounts")
    );

    // The bucket holds at most two tokens, so one of three calls in a row is refused.
    let once = org_client(&sim);
    let mut refused = None;
    for _ in 0..3 {
        if let Err(error) = once.list_accounts().send().await {
            refused = Some(error);
            break;
        }
    }
    let error = refused.ok_or("three calls in a row passed a quota of two a second")?;
    assert_eq!(error.code(), Some("TooManyRequestsException"));
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_too_many_requests_exception())
    );
    Ok(())
}

#[tokio::test]
async fn faults_apply_to_organizations_too() -> TestResult {
    let sim = start(big_fleet()?, localhost()).await?;
    let client = org_client(&sim);

    for (fault, code) in [
        (Fault::Throttling, "TooManyRequestsException"),
        (Fault::AccessDenied, "AccessDeniedException"),
        (Fault::InternalError, "ServiceException"),
    ] {
        sim.fail(FaultRule::new(fault).operation("ListRoots").times(1));
        let error = client
            .list_roots()
            .send()
            .await
            .err()
            .ok_or("fault not applied")?;
        assert_eq!(error.code(), Some(code));
    }

    // A throttling fault is retried like the real one.
    let retrying = org_client_with(
        &sim,
        static_credentials(&sim.base_credentials()),
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(10)),
    );
    sim.reset_counts();
    sim.fail(
        FaultRule::new(Fault::Throttling)
            .operation("ListAccounts")
            .times(2),
    );
    retrying.list_accounts().send().await?;
    assert_eq!(sim.requests("ListAccounts"), 3);

    sim.fail(
        FaultRule::new(Fault::DuplicateEntry)
            .operation("ListAccounts")
            .times(1),
    );
    let page = client.list_accounts().max_results(3).send().await?;
    let ids: Vec<&str> = page.accounts().iter().filter_map(|a| a.id()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids.first(), ids.last());

    for operation in [
        "ListTagsForResource",
        "ListOrganizationalUnitsForParent",
        "ListRoots",
    ] {
        sim.fail(
            FaultRule::new(Fault::DuplicateEntry)
                .operation(operation)
                .times(1),
        );
    }
    let tags = client
        .list_tags_for_resource()
        .resource_id(member(0))
        .send()
        .await?;
    assert_eq!(tags.tags().len(), 2, "one tag, repeated");
    let root = sim.organization_root_id().ok_or("no root")?;
    let units = client
        .list_organizational_units_for_parent()
        .parent_id(&root)
        .send()
        .await?;
    assert_eq!(
        units.organizational_units().len(),
        3,
        "two units, one repeated"
    );
    assert_eq!(client.list_roots().send().await?.roots().len(), 2);

    let first = client.list_accounts().send().await?;
    let token = first.next_token().ok_or("no token")?;
    sim.fail(
        FaultRule::new(Fault::RepeatNextToken)
            .operation("ListAccounts")
            .times(1),
    );
    let second = client.list_accounts().next_token(token).send().await?;
    assert_eq!(second.next_token(), Some(token));

    sim.fail(
        FaultRule::new(Fault::MalformedBody)
            .operation("ListRoots")
            .times(1),
    );
    assert!(client.list_roots().send().await.is_err());
    client.list_roots().send().await?;
    Ok(())
}

#[tokio::test]
async fn the_handle_changes_the_organization_while_it_serves() -> TestResult {
    let sim = start(big_fleet()?, localhost()).await?;
    let client = org_client(&sim);
    let prod = sim
        .organizational_unit_id(&["Workloads", "Prod"])
        .ok_or("no Prod")?;
    let root = sim.organization_root_id().ok_or("no root")?;

    let newcomer = "555555555555";
    sim.add_organization_account(
        &prod,
        OrgAccount::new(newcomer)
            .name("newcomer")
            .tag("team", "new"),
    )?;
    assert!(
        sim.accounts().iter().any(|a| a.id == newcomer),
        "a simulated account too"
    );
    let (in_prod, _) = accounts_under(&client, &prod, 20).await?;
    assert!(in_prod.contains(&newcomer.to_string()));
    assert!(
        sim.add_organization_account(&prod, OrgAccount::new(newcomer))
            .is_err(),
        "already a member"
    );
    assert!(
        sim.add_organization_account("ou-zzzz-zzzzzzzz", OrgAccount::new("666666666666"))
            .is_err()
    );

    sim.move_organization_account(newcomer, &root)?;
    let parents = client.list_parents().child_id(newcomer).send().await?;
    assert_eq!(
        parents.parents().first().and_then(|p| p.id()),
        Some(root.as_str())
    );

    sim.set_organization_account_state(newcomer, SimState::Suspended)?;
    sim.set_organization_account_tags(newcomer, [("team", "old"), ("env", "dev")])?;
    let page = client
        .list_accounts_for_parent()
        .parent_id(&root)
        .send()
        .await?;
    let account = page
        .accounts()
        .iter()
        .find(|a| a.id() == Some(newcomer))
        .ok_or("not under the root")?;
    assert_eq!(account.state(), Some(&AccountState::Suspended));
    assert_eq!(account.status(), Some(&AccountStatus::Suspended));
    let tags = client
        .list_tags_for_resource()
        .resource_id(newcomer)
        .send()
        .await?;
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "dev"), ("team", "old")]);

    // A member that leaves is in no organization any more; a delegated administrator too.
    sim.remove_organization_account(DELEGATED)?;
    let former = org_client_as(&sim, DELEGATED).await?;
    let error = former
        .list_accounts()
        .send()
        .await
        .err()
        .ok_or("still reads")?;
    assert_eq!(error.code(), Some("AWSOrganizationsNotInUseException"));
    assert!(
        sim.remove_organization_account(BASE).is_err(),
        "the management account stays"
    );
    assert!(
        sim.set_organization_account_state(OUTSIDER, SimState::Active)
            .is_err()
    );
    Ok(())
}

#[test]
fn fleet_files_with_a_bad_organization_are_rejected_with_the_path() {
    let now = chrono::Utc::now();
    let cases = [
        (
            "organization:\n  colour: red\n",
            "organization: unknown field `colour`",
        ),
        (
            "organization:\n  accounts:\n    - id: \"111111111111\"\n      state: GONE\n",
            "organization.accounts[0].state: unknown variant `GONE`",
        ),
        (
            "organization:\n  units:\n    - name: A\n      accounts: [\"111111111111\"]\n    - name: B\n      accounts: [\"111111111111\"]\n",
            "organization.units[1].accounts[0]: account 111111111111 is already placed",
        ),
        (
            "organization:\n  root: { id: r-ab12 }\n  units:\n    - name: A\n      id: ou-zz99-11111111\n",
            "organization.units[0].id: `ou-zz99-11111111` is not a unit id of root r-ab12",
        ),
        (
            "organization:\n  units:\n    - name: L1\n      units:\n        - name: L2\n          units:\n            - name: L3\n              units:\n                - name: L4\n                  units:\n                    - name: L5\n                      units:\n                        - name: L6\n",
            "organization.units[0].units[0].units[0].units[0].units[0].units[0]: unit L1/L2/L3/L4/L5/L6 is nested 6 levels",
        ),
        (
            "organization:\n  delegated_administrators: [\"12\"]\n",
            "organization.delegated_administrators[0]: `12` is not a 12-digit",
        ),
        (
            "organization:\n  id: o-Example\n",
            "organization.id: `o-Example` is not an organization id",
        ),
    ];
    for (yaml, expected) in cases {
        let error = Fleet::from_yaml_str(yaml, now)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with(expected), "{yaml}\n=> {error}");
    }
}

#[test]
fn a_generated_organization_builds_into_a_fleet() -> Result<(), simulator::FleetError> {
    let fleet = Fleet::builder()
        .organization(Organization::generated(300, 25))
        .build()?;
    assert_eq!(
        fleet.accounts().len(),
        301,
        "the base account and 300 members"
    );
    assert!(fleet.has_organization());
    Ok(())
}
