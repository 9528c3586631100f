//! The organization as the simulator serves it: the tree of the root, units and accounts, with
//! AWS-shaped ids, indexed by parent so that a page of children costs O(page).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::fleet::{AccountState, OrgAccount, OrgUnit, Organization, check_account_id};
use crate::ids::{derived_chars, fnv1a};

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// AWS nests organizational units at most this many levels below the root.
pub(crate) const MAX_UNIT_DEPTH: usize = 5;
/// AWS allows this many tags on one resource.
const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitRecord {
    pub name: String,
    pub parent: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountRecord {
    pub name: String,
    pub email: String,
    pub state: AccountState,
    pub omit_state: bool,
    pub parent: String,
    pub tags: BTreeMap<String, String>,
    pub joined_method: &'static str,
    pub joined: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrgState {
    pub id: String,
    pub management: String,
    pub delegated: BTreeSet<String>,
    pub root_id: String,
    pub root_name: String,
    pub root_tags: BTreeMap<String, String>,
    pub units: BTreeMap<String, UnitRecord>,
    pub accounts: BTreeMap<String, AccountRecord>,
    /// Unit ids by parent id.
    unit_children: BTreeMap<String, BTreeSet<String>>,
    /// Account ids by parent id.
    account_children: BTreeMap<String, BTreeSet<String>>,
}

/// What a parent or child id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Root,
    Unit,
    Account,
}

impl OrgState {
    fn arn(&self, kind: &str, id: &str) -> String {
        format!(
            "arn:aws:organizations::{}:{kind}/{}/{id}",
            self.management, self.id
        )
    }

    pub fn organization_arn(&self) -> String {
        format!(
            "arn:aws:organizations::{}:organization/{}",
            self.management, self.id
        )
    }

    pub fn root_arn(&self) -> String {
        self.arn("root", &self.root_id)
    }

    pub fn unit_arn(&self, id: &str) -> String {
        self.arn("ou", id)
    }

    pub fn account_arn(&self, id: &str) -> String {
        self.arn("account", id)
    }

    pub fn node(&self, id: &str) -> Option<Node> {
        if id == self.root_id {
            Some(Node::Root)
        } else if self.units.contains_key(id) {
            Some(Node::Unit)
        } else if self.accounts.contains_key(id) {
            Some(Node::Account)
        } else {
            None
        }
    }

    pub fn is_parent(&self, id: &str) -> bool {
        matches!(self.node(id), Some(Node::Root | Node::Unit))
    }

    /// Ids of the units directly under `parent`, in id order, after `after`.
    pub fn units_under<'a>(
        &'a self,
        parent: &str,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a String> + 'a {
        after_in(self.unit_children.get(parent), after)
    }

    /// Ids of the accounts directly under `parent`, in id order, after `after`.
    pub fn accounts_under<'a>(
        &'a self,
        parent: &str,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a String> + 'a {
        after_in(self.account_children.get(parent), after)
    }

    /// The parent of a unit or an account.
    pub fn parent_of(&self, child: &str) -> Option<&str> {
        self.units
            .get(child)
            .map(|unit| unit.parent.as_str())
            .or_else(|| self.accounts.get(child).map(|a| a.parent.as_str()))
    }

    pub fn tags_of(&self, id: &str) -> Option<&BTreeMap<String, String>> {
        if id == self.root_id {
            Some(&self.root_tags)
        } else if let Some(unit) = self.units.get(id) {
            Some(&unit.tags)
        } else {
            self.accounts.get(id).map(|account| &account.tags)
        }
    }

    /// The id of the unit at the end of a path of names from the root.
    pub fn unit_by_path(&self, path: &[&str]) -> Option<String> {
        let mut parent = self.root_id.clone();
        for name in path {
            parent = self
                .units_under(&parent, None)
                .find(|id| self.units.get(*id).is_some_and(|unit| unit.name == *name))?
                .clone();
        }
        (!path.is_empty()).then_some(parent)
    }

    pub fn insert_account(&mut self, id: String, record: AccountRecord) {
        self.account_children
            .entry(record.parent.clone())
            .or_default()
            .insert(id.clone());
        self.accounts.insert(id, record);
    }

    pub fn remove_account(&mut self, id: &str) -> Option<AccountRecord> {
        let record = self.accounts.remove(id)?;
        if let Some(children) = self.account_children.get_mut(&record.parent) {
            children.remove(id);
        }
        Some(record)
    }

    /// Moves an account under another parent; false when either is unknown.
    pub fn move_account(&mut self, id: &str, parent: &str) -> bool {
        if !self.is_parent(parent) {
            return false;
        }
        let Some(mut record) = self.remove_account(id) else {
            return false;
        };
        record.parent = parent.to_string();
        self.insert_account(id.to_string(), record);
        true
    }

    fn insert_unit(&mut self, id: String, record: UnitRecord) {
        self.unit_children
            .entry(record.parent.clone())
            .or_default()
            .insert(id.clone());
        self.units.insert(id, record);
    }
}

fn after_in<'a>(
    set: Option<&'a BTreeSet<String>>,
    after: Option<&'a str>,
) -> impl Iterator<Item = &'a String> + 'a {
    set.into_iter().flat_map(move |set| {
        set.iter()
            .skip_while(move |id| after.is_some_and(|after| id.as_str() <= after))
    })
}

fn lower_alnum(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn check_org_id(id: &str) -> Result<(), String> {
    match id.strip_prefix("o-") {
        Some(rest) if (10..=32).contains(&rest.len()) && lower_alnum(rest) => Ok(()),
        _ => Err(format!(
            "`{id}` is not an organization id: o- and 10 to 32 lowercase letters or digits"
        )),
    }
}

fn check_root_id(id: &str) -> Result<(), String> {
    match id.strip_prefix("r-") {
        Some(rest) if (4..=32).contains(&rest.len()) && lower_alnum(rest) => Ok(()),
        _ => Err(format!(
            "`{id}` is not a root id: r- and 4 to 32 lowercase letters or digits"
        )),
    }
}

/// AWS's unit ids carry the root's: `ou-<root id without r->-<8 to 32 letters or digits>`.
fn check_unit_id(id: &str, root_id: &str) -> Result<(), String> {
    let root = root_id.trim_start_matches("r-");
    let shaped = id
        .strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(middle, last)| {
            middle == root && (8..=32).contains(&last.len()) && lower_alnum(last)
        });
    if shaped {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a unit id of root {root_id}: ou-{root}- and 8 to 32 lowercase letters \
             or digits"
        ))
    }
}

/// Ids shaped like AWS's unit ids of any root, as requests are checked.
pub(crate) fn unit_id_shaped(id: &str) -> bool {
    id.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(middle, last)| {
            (4..=32).contains(&middle.len())
                && lower_alnum(middle)
                && (8..=32).contains(&last.len())
                && lower_alnum(last)
        })
}

pub(crate) fn root_id_shaped(id: &str) -> bool {
    check_root_id(id).is_ok()
}

fn check_email(email: &str) -> Result<(), String> {
    let shaped = (6..=64).contains(&email.len())
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain
                    .split_once('.')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        });
    if shaped {
        Ok(())
    } else {
        Err(format!(
            "`{email}` is not an email address of 6 to 64 characters"
        ))
    }
}

pub(crate) fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "{} tags; AWS allows {MAX_TAGS} on a resource",
            tags.len()
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(format!("tag key `{key}` must be 1 to 128 characters"));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(format!("tag key `{key}`: the aws: prefix is AWS's own"));
        }
        if value.chars().count() > 256 {
            return Err(format!(
                "tag `{key}`: the value must be at most 256 characters"
            ));
        }
    }
    Ok(())
}

fn check_account_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 50 || !name.is_ascii() {
        Err(format!(
            "account name `{name}` must be 1 to 50 ASCII characters"
        ))
    } else {
        Ok(())
    }
}

/// The email an account gets when the fleet names none: its name made address-safe.
fn default_email(name: &str) -> String {
    let local: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{local}@example.com")
}

/// A join date derived from the account, so answers are the same on every run.
fn joined(id: &str) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2021, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    base + Duration::days((fnv1a(&["joined", id]) % 1000) as i64)
        + Duration::seconds((fnv1a(&["joined-at", id]) % 86_400) as i64)
}

/// A record for an account the fleet or the handle adds.
pub(crate) fn account_record(
    account: &OrgAccount,
    parent: String,
    management: &str,
) -> Result<AccountRecord, String> {
    check_account_id(&account.id)?;
    let name = account
        .name
        .clone()
        .unwrap_or_else(|| format!("account-{}", account.id));
    check_account_name(&name)?;
    let email = account
        .email
        .clone()
        .unwrap_or_else(|| default_email(&name));
    check_email(&email)?;
    check_tags(&account.tags)?;
    Ok(AccountRecord {
        name,
        email,
        state: account.state,
        omit_state: account.omit_state,
        parent,
        tags: account.tags.clone(),
        // The management account created the organization; AWS lists it as invited.
        joined_method: if account.id == management {
            "INVITED"
        } else {
            "CREATED"
        },
        joined: joined(&account.id),
    })
}

/// Ids of the organization and its root as AWS would shape them, derived from the fleet.
fn derived_org_id(management: &str) -> String {
    format!(
        "o-{}",
        derived_chars(&["organization", management], LOWER_ALNUM, 10)
    )
}

fn derived_root_id(org_id: &str) -> String {
    format!("r-{}", derived_chars(&["root", org_id], LOWER_ALNUM, 4))
}

fn derived_unit_id(org_id: &str, root_id: &str, path: &[&str]) -> String {
    let path = path.join("/");
    format!(
        "ou-{}-{}",
        root_id.trim_start_matches("r-"),
        derived_chars(&["ou", org_id, &path], LOWER_ALNUM, 8)
    )
}

struct Walk<'a> {
    org_id: &'a str,
    root_id: &'a str,
    units: Vec<(String, UnitRecord)>,
    unit_ids: HashSet<String>,
    /// Account id -> (parent id, where it was placed).
    placed: BTreeMap<String, (String, String)>,
}

impl Walk<'_> {
    fn unit(
        &mut self,
        unit: &OrgUnit,
        parent: &str,
        names: &mut Vec<String>,
        at: &str,
    ) -> Result<(), String> {
        if unit.name.is_empty() || unit.name.chars().count() > 128 {
            return Err(format!("{at}.name: must be 1 to 128 characters"));
        }
        names.push(unit.name.clone());
        if names.len() > MAX_UNIT_DEPTH {
            return Err(format!(
                "{at}: unit {} is nested {} levels below the root; AWS allows {MAX_UNIT_DEPTH}",
                names.join("/"),
                names.len()
            ));
        }
        let id = match &unit.id {
            Some(id) => {
                check_unit_id(id, self.root_id).map_err(|e| format!("{at}.id: {e}"))?;
                id.clone()
            }
            None => {
                let path: Vec<&str> = names.iter().map(String::as_str).collect();
                derived_unit_id(self.org_id, self.root_id, &path)
            }
        };
        if !self.unit_ids.insert(id.clone()) {
            return Err(format!("{at}.id: unit id {id} is used twice"));
        }
        check_tags(&unit.tags).map_err(|e| format!("{at}.tags: {e}"))?;
        for (index, account) in unit.accounts.iter().enumerate() {
            let here = format!("{at}.accounts[{index}]");
            check_account_id(account).map_err(|e| format!("{here}: {e}"))?;
            if let Some((_, first)) = self.placed.get(account) {
                return Err(format!(
                    "{here}: account {account} is already placed at {first}; an account sits in \
                     one unit"
                ));
            }
            self.placed
                .insert(account.clone(), (id.clone(), here.clone()));
        }
        let mut sibling_names = HashSet::new();
        for (index, child) in unit.units.iter().enumerate() {
            if !sibling_names.insert(child.name.as_str()) {
                return Err(format!(
                    "{at}.units[{index}].name: {} has two units named {}",
                    unit.name, child.name
                ));
            }
            self.unit(child, &id, names, &format!("{at}.units[{index}]"))?;
        }
        names.pop();
        self.units.push((
            id,
            UnitRecord {
                name: unit.name.clone(),
                parent: parent.to_string(),
                tags: unit.tags.clone(),
            },
        ));
        Ok(())
    }
}

/// Checks an organization and gives every part its id. Errors name the offending field from
/// `organization.`.
pub(crate) fn settle(spec: &Organization, base_account: &str) -> Result<OrgState, String> {
    let management = spec
        .management_account
        .clone()
        .unwrap_or_else(|| base_account.to_string());
    check_account_id(&management).map_err(|e| format!("organization.management_account: {e}"))?;
    let id = match &spec.id {
        Some(id) => {
            check_org_id(id).map_err(|e| format!("organization.id: {e}"))?;
            id.clone()
        }
        None => derived_org_id(&management),
    };
    let root_id = match &spec.root_id {
        Some(root) => {
            check_root_id(root).map_err(|e| format!("organization.root.id: {e}"))?;
            root.clone()
        }
        None => derived_root_id(&id),
    };
    let root_name = spec.root_name.clone().unwrap_or_else(|| "Root".to_string());
    if root_name.is_empty() || root_name.chars().count() > 128 {
        return Err("organization.root.name: must be 1 to 128 characters".to_string());
    }
    check_tags(&spec.root_tags).map_err(|e| format!("organization.root.tags: {e}"))?;

    let mut walk = Walk {
        org_id: &id,
        root_id: &root_id,
        units: Vec::new(),
        unit_ids: HashSet::new(),
        placed: BTreeMap::new(),
    };
    let mut top_names = HashSet::new();
    for (index, unit) in spec.units.iter().enumerate() {
        let at = format!("organization.units[{index}]");
        if !top_names.insert(unit.name.as_str()) {
            return Err(format!(
                "{at}.name: the root has two units named {}",
                unit.name
            ));
        }
        walk.unit(unit, &root_id, &mut Vec::new(), &at)?;
    }
    let Walk { units, placed, .. } = walk;

    let mut delegated = BTreeSet::new();
    for (index, admin) in spec.delegated_administrators.iter().enumerate() {
        let at = format!("organization.delegated_administrators[{index}]");
        check_account_id(admin).map_err(|e| format!("{at}: {e}"))?;
        if *admin == management {
            return Err(format!(
                "{at}: {admin} is the management account, which cannot be a delegated \
                 administrator"
            ));
        }
        if !delegated.insert(admin.clone()) {
            return Err(format!("{at}: {admin} is listed twice"));
        }
    }

    let mut details: BTreeMap<&str, (usize, &OrgAccount)> = BTreeMap::new();
    for (index, account) in spec.accounts.iter().enumerate() {
        let at = format!("organization.accounts[{index}]");
        check_account_id(&account.id).map_err(|e| format!("{at}.id: {e}"))?;
        if details.insert(&account.id, (index, account)).is_some() {
            return Err(format!("{at}.id: account {} is listed twice", account.id));
        }
    }

    let mut state = OrgState {
        id,
        management: management.clone(),
        delegated: delegated.clone(),
        root_id: root_id.clone(),
        root_name,
        root_tags: spec.root_tags.clone(),
        units: BTreeMap::new(),
        accounts: BTreeMap::new(),
        unit_children: BTreeMap::new(),
        account_children: BTreeMap::new(),
    };
    for (unit_id, record) in units {
        state.insert_unit(unit_id, record);
    }
    let mut members: BTreeSet<String> = placed.keys().cloned().collect();
    members.extend(details.keys().map(|id| id.to_string()));
    members.insert(management.clone());
    members.extend(delegated);
    for member in members {
        let parent = placed
            .get(&member)
            .map_or_else(|| root_id.clone(), |(parent, _)| parent.clone());
        let (account, at) = match details.get(member.as_str()) {
            Some((index, account)) => (
                (*account).clone(),
                format!("organization.accounts[{index}]"),
            ),
            None => (OrgAccount::new(member.clone()), "organization".to_string()),
        };
        let record = account_record(&account, parent, &management)
            .map_err(|e| format!("{at}: account {member}: {e}"))?;
        state.insert_account(member, record);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(spec: &Organization) -> Result<OrgState, String> {
        settle(spec, "123456789012")
    }

    #[test]
    fn ids_are_derived_like_aws_and_reproducible() -> Result<(), String> {
        let spec = Organization::new().unit(
            OrgUnit::new("Workloads")
                .unit(OrgUnit::new("Prod").accounts(["111111111111"]))
                .accounts(["222222222222"]),
        );
        let org = settled(&spec)?;
        assert_eq!(org, settled(&spec)?);
        assert!(check_org_id(&org.id).is_ok(), "{}", org.id);
        assert_eq!(org.id.len(), 12);
        assert_eq!(org.root_id.len(), 6);
        let prod = org.unit_by_path(&["Workloads", "Prod"]).unwrap_or_default();
        assert!(check_unit_id(&prod, &org.root_id).is_ok(), "{prod}");
        assert_eq!(org.parent_of("111111111111"), Some(prod.as_str()));
        assert_eq!(
            org.parent_of("123456789012"),
            Some(org.root_id.as_str()),
            "the management account sits under the root"
        );
        assert_eq!(
            org.account_arn("111111111111"),
            format!(
                "arn:aws:organizations::123456789012:account/{}/111111111111",
                org.id
            )
        );
        assert_eq!(org.unit_by_path(&["Workloads", "Dev"]), None);
        assert_eq!(org.unit_by_path(&[]), None);
        Ok(())
    }

    #[test]
    fn pages_of_children_start_after_the_cursor() -> Result<(), String> {
        let ids: Vec<String> = (1..=5).map(|i| format!("11111111111{i}")).collect();
        let org = settled(&Organization::new().unit(OrgUnit::new("A").accounts(ids.clone())))?;
        let unit = org.unit_by_path(&["A"]).unwrap_or_default();
        let after: Vec<&String> = org.accounts_under(&unit, Some(&ids[1])).collect();
        assert_eq!(after, ids[2..].iter().collect::<Vec<_>>());
        assert_eq!(org.accounts_under("r-none", None).count(), 0);
        Ok(())
    }

    #[test]
    fn moving_and_removing_keep_the_index() -> Result<(), String> {
        let mut org = settled(
            &Organization::new()
                .unit(OrgUnit::new("A").accounts(["111111111111"]))
                .unit(OrgUnit::new("B")),
        )?;
        let a = org.unit_by_path(&["A"]).unwrap_or_default();
        let b = org.unit_by_path(&["B"]).unwrap_or_default();
        assert!(org.move_account("111111111111", &b));
        assert_eq!(org.accounts_under(&a, None).count(), 0);
        assert_eq!(org.accounts_under(&b, None).count(), 1);
        assert!(!org.move_account("111111111111", "ou-none-00000000"));
        assert!(!org.move_account("999999999999", &a));
        assert!(org.remove_account("111111111111").is_some());
        assert_eq!(org.accounts_under(&b, None).count(), 0);
        Ok(())
    }

    #[test]
    fn bad_organizations_are_rejected_with_their_path() {
        let deep = (0..6).fold(OrgUnit::new("L6"), |inner, level| {
            OrgUnit::new(format!("L{}", 5 - level)).unit(inner)
        });
        let cases = [
            (
                Organization::new().id("o-short"),
                "organization.id: `o-short` is not an organization id",
            ),
            (
                Organization::new().root_id("r-AB12"),
                "organization.root.id: `r-AB12`",
            ),
            (
                Organization::new()
                    .root_id("r-ab12")
                    .unit(OrgUnit::new("A").id("ou-cd34-11111111")),
                "organization.units[0].id: `ou-cd34-11111111` is not a unit id of root r-ab12",
            ),
            (
                Organization::new()
                    .unit(OrgUnit::new("A").accounts(["111111111111"]))
                    .unit(OrgUnit::new("B").accounts(["111111111111"])),
                "organization.units[1].accounts[0]: account 111111111111 is already placed at \
                 organization.units[0].accounts[0]",
            ),
            (
                Organization::new()
                    .unit(OrgUnit::new("A").id("ou-ab12-11111111"))
                    .unit(OrgUnit::new("B").id("ou-ab12-11111111"))
                    .root_id("r-ab12"),
                "organization.units[1].id: unit id ou-ab12-11111111 is used twice",
            ),
            (
                Organization::new()
                    .unit(OrgUnit::new("A"))
                    .unit(OrgUnit::new("A")),
                "organization.units[1].name: the root has two units named A",
            ),
            (
                Organization::new().unit(deep),
                "organization.units[0].units[0].units[0].units[0].units[0].units[0]: unit \
                 L0/L1/L2/L3/L4/L5 is nested 6 levels",
            ),
            (
                Organization::new()
                    .account(OrgAccount::new("111111111111"))
                    .account(OrgAccount::new("111111111111")),
                "organization.accounts[1].id: account 111111111111 is listed twice",
            ),
            (
                Organization::new().account(OrgAccount::new("1111")),
                "organization.accounts[0].id: `1111` is not a 12-digit",
            ),
            (
                Organization::new().delegated_administrator("123456789012"),
                "organization.delegated_administrators[0]: 123456789012 is the management",
            ),
            (
                Organization::new().account(OrgAccount::new("111111111111").email("nope")),
                "organization.accounts[0]: account 111111111111: `nope` is not an email",
            ),
            (
                Organization::new().account(OrgAccount::new("111111111111").tag("aws:x", "1")),
                "organization.accounts[0]: account 111111111111: tag key `aws:x`",
            ),
        ];
        for (spec, expected) in cases {
            let error = settled(&spec).err().unwrap_or_default();
            assert!(error.starts_with(expected), "{expected}\n=> {error}");
        }
    }

    #[test]
    fn five_levels_are_allowed() {
        let five = (0..4).fold(OrgUnit::new("L5"), |inner, level| {
            OrgUnit::new(format!("L{}", 4 - level)).unit(inner)
        });
        assert!(settled(&Organization::new().unit(five)).is_ok());
    }
}
