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
use crate::config::OrganizationsDiscovery;

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

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

fn is_lower_alnum(text: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `r-` and 4 to 32 lowercase letters or digits (AWS's pattern).
pub fn is_root_id(id: &str) -> bool {
    id.strip_prefix("r-")
        .is_some_and(|rest| is_lower_alnum(rest, 4..=32))
}

/// `ou-`, 4 to 32 lowercase letters or digits, `-`, 8 to 32 more (AWS's pattern).
pub fn is_unit_id(id: &str) -> bool {
    id.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, unit)| is_lower_alnum(root, 4..=32) && is_lower_alnum(unit, 8..=32))
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
    fn ids_have_the_shapes_aws_documents() {
        assert!(is_root_id("r-ab12"));
        assert!(!is_root_id("r-AB12"));
        assert!(!is_root_id("r-ab1"));
        assert!(is_unit_id("ou-ab12-11111111"));
        assert!(!is_unit_id("ou-ab12-1111111"));
        assert!(!is_unit_id("ou-ab12"));
        assert!(!is_unit_id("r-ab12"));
    }

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
