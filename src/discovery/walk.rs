//! One read of the organization: the unit tree from the roots down, the
//! accounts of the included units, and their tags when labels ask for them.
//!
//! Everything here comes from AWS and is checked before use: ids must have
//! their documented shape, names and tags are bounded, a unit or account
//! listed twice (a unit that is its own ancestor would walk for ever) is
//! used once, and the whole walk is bounded in units, accounts and depth.

use std::collections::{HashSet, VecDeque};

use crate::aws::SourceError;
use crate::aws::organizations::{OrgAccount, OrganizationsApi};
use crate::config::{OrganizationsDiscovery, is_account_id, is_root_id, is_unit_id};

/// Units walked before the answer is taken to be broken: AWS allows 1,000
/// organizational units in an organization.
pub const MAX_UNITS: usize = 10_000;

/// Accounts before the answer is taken to be broken: AWS grants at most
/// 10,000 accounts to an organization.
pub const MAX_ACCOUNTS: usize = 100_000;

/// Levels of units below a root: AWS allows five.
pub const MAX_DEPTH: usize = 16;

/// Longest name kept as a label value; Organizations allows 50 characters
/// for an account and 128 for a unit.
const MAX_NAME_CHARS: usize = 256;

/// AWS's limits on a tag: 128 characters of key, 256 of value.
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// One active account of the included units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAccount {
    pub id: String,
    pub name: Option<String>,
    /// Names from the root down to the account's parent, joined by `/`.
    pub ou_path: String,
    /// The partition of the account's ARN (`aws`, `aws-cn`, `aws-us-gov`),
    /// for its reader role's ARN.
    pub partition: Option<String>,
    /// The tags among `account_tags`, sorted by key.
    pub tags: Vec<(String, String)>,
}

/// What a walk found, and what it could not use.
#[derive(Debug, Default)]
pub struct Walk {
    pub accounts: Vec<FoundAccount>,
    /// Included or excluded unit ids that the organization does not have.
    pub units_not_found: Vec<String>,
    /// Entries of the answers that could not be used and were skipped.
    pub skipped: Vec<String>,
    /// Accounts left out for their state (suspended, closing, closed).
    pub inactive: usize,
}

/// Reads the organization as `scope` asks, with `account_tags` the tag
/// keys to read (none: no tag is read).
pub async fn walk(
    api: &impl OrganizationsApi,
    scope: &OrganizationsDiscovery,
    account_tags: &[String],
) -> Result<Walk, SourceError> {
    let mut walk = Walk::default();
    let included: HashSet<&str> = scope.include_ous.iter().map(String::as_str).collect();
    let excluded: HashSet<&str> = scope.exclude_ous.iter().map(String::as_str).collect();
    let excluded_accounts: HashSet<&str> =
        scope.exclude_accounts.iter().map(String::as_str).collect();
    let mut found_units: HashSet<String> = HashSet::new();
    let mut seen_accounts: HashSet<String> = HashSet::new();

    struct Pending {
        id: String,
        path: String,
        depth: usize,
        included: bool,
    }
    let mut queue: VecDeque<Pending> = VecDeque::new();
    for root in api.roots().await? {
        if !is_root_id(&root.id) {
            walk.skipped
                .push(format!("ListRoots: root id {:?} is not a root id", root.id));
            continue;
        }
        if !found_units.insert(root.id.clone()) {
            walk.skipped
                .push(format!("ListRoots: root {} listed twice", root.id));
            continue;
        }
        let name = unit_name(&mut walk, &root.id, root.name);
        queue.push_back(Pending {
            included: included.is_empty() || included.contains(root.id.as_str()),
            id: root.id,
            path: name,
            depth: 0,
        });
    }

    // Units outside every included subtree are walked only to find the
    // included ones, and no further once all have been found.
    while let Some(unit) = queue.pop_front() {
        if excluded.contains(unit.id.as_str()) {
            continue;
        }
        let all_included_found = included.iter().all(|id| found_units.contains(*id));
        if unit.included {
            for account in api.child_accounts(&unit.id).await? {
                take_account(
                    &mut walk,
                    &mut seen_accounts,
                    &excluded_accounts,
                    &unit.path,
                    account,
                )?;
            }
        } else if all_included_found {
            continue;
        }
        for child in api.child_units(&unit.id).await? {
            if !is_unit_id(&child.id) {
                walk.skipped.push(format!(
                    "ListOrganizationalUnitsForParent: unit id {:?} under {} is not a unit id",
                    child.id, unit.id
                ));
                continue;
            }
            if !found_units.insert(child.id.clone()) {
                walk.skipped.push(format!(
                    "ListOrganizationalUnitsForParent: unit {} listed again under {}",
                    child.id, unit.id
                ));
                continue;
            }
            if found_units.len() > MAX_UNITS {
                return Err(SourceError::invalid_response(format!(
                    "the organization lists more than {MAX_UNITS} units, far more than AWS allows"
                )));
            }
            let depth = unit.depth.saturating_add(1);
            if depth > MAX_DEPTH {
                return Err(SourceError::invalid_response(format!(
                    "the organization's units nest more than {MAX_DEPTH} levels deep, far more than AWS allows"
                )));
            }
            let name = unit_name(&mut walk, &child.id, child.name);
            queue.push_back(Pending {
                included: unit.included || included.contains(child.id.as_str()),
                path: format!("{}/{}", unit.path, name),
                id: child.id,
                depth,
            });
        }
    }

    walk.units_not_found = scope
        .include_ous
        .iter()
        .chain(&scope.exclude_ous)
        .filter(|id| !found_units.contains(id.as_str()))
        .cloned()
        .collect();

    if !account_tags.is_empty() {
        for account in &mut walk.accounts {
            let tags = api.account_tags(&account.id).await?;
            account.tags = chosen_tags(&mut walk.skipped, &account.id, tags, account_tags);
        }
    }
    walk.accounts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(walk)
}

/// Adds a listed account to the walk when it is usable, active and not
/// excluded.
fn take_account(
    walk: &mut Walk,
    seen: &mut HashSet<String>,
    excluded: &HashSet<&str>,
    path: &str,
    account: OrgAccount,
) -> Result<(), SourceError> {
    let Some(id) = account.id.filter(|id| is_account_id(id)) else {
        walk.skipped.push(format!(
            "ListAccountsForParent: an account under {path} has no 12-digit id"
        ));
        return Ok(());
    };
    if !seen.insert(id.clone()) {
        walk.skipped
            .push(format!("ListAccountsForParent: account {id} listed twice"));
        return Ok(());
    }
    if seen.len() > MAX_ACCOUNTS {
        return Err(SourceError::invalid_response(format!(
            "the organization lists more than {MAX_ACCOUNTS} accounts, far more than AWS allows"
        )));
    }
    // `State` is the newer field and the one AWS keeps; `Status` is all an
    // older answer carries. An account with neither cannot be judged active.
    let active = match (account.state.as_deref(), account.status.as_deref()) {
        (Some(state), _) => state == "ACTIVE",
        (None, Some(status)) => status == "ACTIVE",
        (None, None) => {
            walk.skipped.push(format!(
                "ListAccountsForParent: account {id} has neither State nor Status"
            ));
            return Ok(());
        }
    };
    if !active {
        walk.inactive = walk.inactive.saturating_add(1);
        return Ok(());
    }
    if excluded.contains(id.as_str()) {
        return Ok(());
    }
    let name = match account.name {
        Some(name) if name.chars().count() > MAX_NAME_CHARS => {
            walk.skipped.push(format!(
                "ListAccountsForParent: account {id} has a name longer than {MAX_NAME_CHARS} characters"
            ));
            None
        }
        Some(name) if name.trim().is_empty() => None,
        other => other,
    };
    walk.accounts.push(FoundAccount {
        partition: account.arn.as_deref().and_then(arn_partition),
        id,
        name,
        ou_path: path.to_owned(),
        tags: Vec::new(),
    });
    Ok(())
}

/// A unit's name for the path; its id when the name is missing or unusable.
fn unit_name(walk: &mut Walk, id: &str, name: Option<String>) -> String {
    match name {
        Some(name) if !name.trim().is_empty() && name.chars().count() <= MAX_NAME_CHARS => name,
        _ => {
            walk.skipped.push(format!(
                "unit {id} has no usable name; its id stands for it"
            ));
            id.to_owned()
        }
    }
}

/// The tags whose keys are among `wanted`, sorted by key; a tag AWS could
/// not have sent is skipped.
fn chosen_tags(
    skipped: &mut Vec<String>,
    account_id: &str,
    tags: Vec<(String, String)>,
    wanted: &[String],
) -> Vec<(String, String)> {
    let mut chosen: Vec<(String, String)> = Vec::new();
    for (key, value) in tags {
        if !wanted.contains(&key) {
            continue;
        }
        if key.chars().count() > MAX_TAG_KEY_CHARS || value.chars().count() > MAX_TAG_VALUE_CHARS {
            skipped.push(format!(
                "ListTagsForResource: account {account_id} has a tag {key:.40?} longer than AWS allows"
            ));
            continue;
        }
        if chosen.iter().any(|(held, _)| *held == key) {
            skipped.push(format!(
                "ListTagsForResource: account {account_id} has tag {key:?} twice"
            ));
            continue;
        }
        chosen.push((key, value));
    }
    chosen.sort();
    chosen
}

/// The partition field of an ARN, when it has the shape of one.
pub fn arn_partition(arn: &str) -> Option<String> {
    let mut fields = arn.split(':');
    if fields.next() != Some("arn") {
        return None;
    }
    let partition = fields.next()?;
    (!partition.is_empty()
        && partition.len() <= 32
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-'))
    .then(|| partition.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_comes_from_the_arn() {
        assert_eq!(
            arn_partition("arn:aws-cn:organizations::111111111111:account/o-x/222222222222"),
            Some("aws-cn".to_owned())
        );
        assert_eq!(arn_partition("not an arn"), None);
        assert_eq!(arn_partition("arn::x"), None);
    }
}

#[cfg(test)]
mod walk_tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::aws::organizations::OrgUnit;
    use crate::snapshot::ErrorReason;

    /// An organization in memory: units by parent, accounts by parent, tags
    /// by account, and the calls made.
    #[derive(Default)]
    struct Org {
        roots: Vec<OrgUnit>,
        units: HashMap<String, Vec<OrgUnit>>,
        accounts: HashMap<String, Vec<OrgAccount>>,
        tags: HashMap<String, Vec<(String, String)>>,
        calls: Mutex<Vec<String>>,
    }

    impl Org {
        fn unit(mut self, parent: &str, id: &str, name: &str) -> Self {
            self.units.entry(parent.into()).or_default().push(OrgUnit {
                id: id.into(),
                name: Some(name.into()),
            });
            self
        }

        fn account(mut self, parent: &str, id: &str, state: &str) -> Self {
            self.accounts
                .entry(parent.into())
                .or_default()
                .push(OrgAccount {
                    id: Some(id.into()),
                    arn: Some(format!(
                        "arn:aws:organizations::999999999999:account/o-abcdefghij/{id}"
                    )),
                    name: Some(format!("name-{id}")),
                    state: Some(state.into()),
                    status: None,
                });
            self
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl OrganizationsApi for Org {
        async fn roots(&self) -> Result<Vec<OrgUnit>, SourceError> {
            self.calls.lock().unwrap().push("ListRoots".into());
            Ok(self.roots.clone())
        }
        async fn child_units(&self, parent_id: &str) -> Result<Vec<OrgUnit>, SourceError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("Units {parent_id}"));
            Ok(self.units.get(parent_id).cloned().unwrap_or_default())
        }
        async fn child_accounts(&self, parent_id: &str) -> Result<Vec<OrgAccount>, SourceError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("Accounts {parent_id}"));
            Ok(self.accounts.get(parent_id).cloned().unwrap_or_default())
        }
        async fn account_tags(
            &self,
            account_id: &str,
        ) -> Result<Vec<(String, String)>, SourceError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("Tags {account_id}"));
            Ok(self.tags.get(account_id).cloned().unwrap_or_default())
        }
    }

    const ROOT: &str = "r-ab12";
    const WORKLOADS: &str = "ou-ab12-11111111";
    const PROD: &str = "ou-ab12-22222222";
    const SANDBOX: &str = "ou-ab12-33333333";
    const LEGACY: &str = "ou-ab12-44444444";

    /// Root > Workloads > Prod > Legacy, Root > Sandbox.
    fn org() -> Org {
        let mut org = Org {
            roots: vec![OrgUnit {
                id: ROOT.into(),
                name: Some("Root".into()),
            }],
            ..Org::default()
        }
        .unit(ROOT, WORKLOADS, "Workloads")
        .unit(ROOT, SANDBOX, "Sandbox")
        .unit(WORKLOADS, PROD, "Prod")
        .unit(PROD, LEGACY, "Legacy")
        .account(ROOT, "999999999999", "ACTIVE")
        .account(WORKLOADS, "111111111111", "ACTIVE")
        .account(PROD, "222222222222", "ACTIVE")
        .account(PROD, "222222222223", "SUSPENDED")
        .account(PROD, "222222222224", "PENDING_CLOSURE")
        .account(PROD, "222222222225", "ACTIVE")
        .account(LEGACY, "333333333333", "ACTIVE")
        .account(SANDBOX, "444444444444", "ACTIVE");
        org.tags.insert(
            "222222222222".into(),
            vec![
                ("cost-center".into(), "cc-7".into()),
                ("other".into(), "x".into()),
            ],
        );
        org
    }

    fn scope(
        include: &[&str],
        exclude: &[&str],
        exclude_accounts: &[&str],
    ) -> OrganizationsDiscovery {
        let strings = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect();
        OrganizationsDiscovery {
            role_arn: None,
            external_id: None,
            member_role_name: "secrets-rotation-reader".into(),
            member_external_id: None,
            include_ous: strings(include),
            exclude_ous: strings(exclude),
            exclude_accounts: strings(exclude_accounts),
            refresh_interval: Duration::from_secs(3600),
            requests_per_second: 4.0,
        }
    }

    fn ids(walk: &Walk) -> Vec<&str> {
        walk.accounts.iter().map(|a| a.id.as_str()).collect()
    }

    #[tokio::test]
    async fn the_whole_organization_gives_every_active_account_with_its_path() {
        let org = org();
        let walk = walk(&org, &scope(&[], &[], &[]), &[]).await.unwrap();
        assert_eq!(
            ids(&walk),
            [
                "111111111111",
                "222222222222",
                "222222222225",
                "333333333333",
                "444444444444",
                "999999999999"
            ]
        );
        assert_eq!(walk.inactive, 2);
        let paths: Vec<&str> = walk.accounts.iter().map(|a| a.ou_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Root/Workloads",
                "Root/Workloads/Prod",
                "Root/Workloads/Prod",
                "Root/Workloads/Prod/Legacy",
                "Root/Sandbox",
                "Root"
            ]
        );
        assert_eq!(walk.accounts[0].partition.as_deref(), Some("aws"));
        assert!(walk.skipped.is_empty());
        // No tag is read unless labels ask for one.
        assert!(org.calls().iter().all(|call| !call.starts_with("Tags")));
    }

    #[tokio::test]
    async fn an_included_subtree_less_a_nested_unit_and_an_account() {
        let org = org();
        let walk = walk(
            &org,
            &scope(&[WORKLOADS], &[LEGACY], &["222222222225"]),
            &["cost-center".to_owned()],
        )
        .await
        .unwrap();
        assert_eq!(ids(&walk), ["111111111111", "222222222222"]);
        assert_eq!(
            walk.accounts[1].tags,
            [("cost-center".to_owned(), "cc-7".to_owned())]
        );
        let calls = org.calls();
        // Accounts are listed only inside the included subtree, and the
        // excluded unit is never entered.
        assert!(!calls.contains(&format!("Accounts {ROOT}")));
        assert!(!calls.contains(&format!("Accounts {SANDBOX}")));
        assert!(!calls.iter().any(|call| call.ends_with(LEGACY)));
        // Once every included unit is found, the rest is not walked.
        assert!(!calls.contains(&format!("Units {SANDBOX}")));
        assert!(walk.units_not_found.is_empty());
    }

    #[tokio::test]
    async fn an_answer_that_goes_round_or_repeats_is_used_once() {
        // Prod lists Workloads, its own parent, as a child.
        let org =
            org()
                .unit(PROD, WORKLOADS, "Workloads")
                .account(SANDBOX, "111111111111", "ACTIVE");
        let walk = walk(&org, &scope(&[], &[], &[]), &[]).await.unwrap();
        assert_eq!(walk.accounts.len(), 6);
        assert_eq!(walk.skipped.len(), 2, "{:?}", walk.skipped);
    }

    #[tokio::test]
    async fn an_account_without_state_or_status_is_skipped_and_status_alone_is_read() {
        let mut org = org();
        org.accounts.insert(
            SANDBOX.into(),
            vec![
                OrgAccount {
                    id: Some("555555555555".into()),
                    arn: None,
                    name: None,
                    state: None,
                    status: Some("ACTIVE".into()),
                },
                OrgAccount {
                    id: Some("666666666666".into()),
                    arn: None,
                    name: None,
                    state: None,
                    status: None,
                },
                OrgAccount {
                    id: Some("not-an-id".into()),
                    arn: None,
                    name: None,
                    state: Some("ACTIVE".into()),
                    status: None,
                },
            ],
        );
        let walk = walk(&org, &scope(&[SANDBOX], &[], &[]), &[]).await.unwrap();
        assert_eq!(ids(&walk), ["555555555555"]);
        assert_eq!(walk.accounts[0].partition, None);
        assert_eq!(walk.skipped.len(), 2);
    }

    #[tokio::test]
    async fn units_nested_past_any_real_organization_are_an_invalid_answer() {
        let mut org = org();
        let mut parent = SANDBOX.to_owned();
        for level in 0..MAX_DEPTH {
            let id = format!("ou-ab12-{:08}", 90_000_000 + level);
            org = org.unit(&parent, &id, "deep");
            parent = id;
        }
        let err = walk(&org, &scope(&[], &[], &[]), &[]).await.unwrap_err();
        assert_eq!(err.reason, ErrorReason::InvalidResponse);
    }

    #[tokio::test]
    async fn units_named_in_the_scope_but_missing_are_reported() {
        let org = org();
        let walk = walk(&org, &scope(&["ou-ab12-99999999"], &[], &[]), &[])
            .await
            .unwrap();
        assert!(walk.accounts.is_empty());
        assert_eq!(walk.units_not_found, ["ou-ab12-99999999"]);
    }
}
