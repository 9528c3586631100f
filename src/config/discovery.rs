//! Validation of `discovery`: where accounts are found besides the explicit
//! `accounts`. Today only AWS Organizations.

use std::collections::BTreeMap;
use std::time::Duration;

use super::aws_names::{RolePathFault, is_account_id, is_root_or_ou_id, role_path_fault};
use super::duration::format_config_duration;
use super::raw::{RawDiscovery, RawOrganizations};
use super::validate::{Problems, check_external_id, check_role_arn, check_role_external_id};
use super::{Account, Discovery, OrganizationsDiscovery};

const PATH: &str = "discovery.organizations";
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);
/// The organization changes rarely, and `ListAccounts` and friends are
/// throttled per organization, shared with every other tool reading it.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Organizations publishes no per-operation quota; it throttles at a few
/// requests a second, shared with everything else reading the organization.
const DEFAULT_REQUESTS_PER_SECOND: f64 = 4.0;
/// Well above any rate Organizations sustains: a higher setting is a typo.
const MAX_REQUESTS_PER_SECOND: f64 = 100.0;
/// IAM's limit on a role path; the role name itself is held to 64.
const MAX_MEMBER_ROLE_NAME_LEN: usize = 512;

/// `accounts` is the validated explicit list: an account excluded from
/// discovery but listed there would still be polled, so saying so beats a
/// silent contradiction.
pub(super) fn validate_discovery(
    problems: &mut Problems,
    raw: Option<RawDiscovery>,
    accounts: &[Account],
) -> Discovery {
    let organizations = raw
        .and_then(|raw| raw.organizations)
        .map(|raw| validate_organizations(problems, raw, accounts));
    Discovery { organizations }
}

fn validate_organizations(
    problems: &mut Problems,
    raw: RawOrganizations,
    accounts: &[Account],
) -> OrganizationsDiscovery {
    if let Some(role_arn) = &raw.role_arn {
        check_role_arn(problems, &format!("{PATH}.role_arn"), role_arn);
    }
    check_role_external_id(
        problems,
        &format!("{PATH}.external_id"),
        raw.external_id.as_deref(),
        raw.role_arn.is_some(),
    );

    let member_role_name = match raw.member_role_name {
        Some(name) => {
            check_member_role_name(problems, &name);
            name
        }
        None => {
            problems.add(
                format!("{PATH}.member_role_name"),
                "is required: the role each discovered account is read through, \
                 arn:<partition>:iam::<account>:role/<member_role_name>",
            );
            String::new()
        }
    };
    // Always usable: it goes with the member role, which is always assumed.
    if let Some(external_id) = &raw.member_external_id {
        check_external_id(problems, &format!("{PATH}.member_external_id"), external_id);
    }

    let include_ous = raw.include_ous.unwrap_or_default();
    let exclude_ous = raw.exclude_ous.unwrap_or_default();
    let included = check_ou_ids(problems, "include_ous", &include_ous, None);
    check_ou_ids(problems, "exclude_ous", &exclude_ous, Some(&included));

    let exclude_accounts = raw.exclude_accounts.unwrap_or_default();
    check_exclude_accounts(problems, &exclude_accounts, accounts);

    let refresh_path = format!("{PATH}.refresh_interval");
    let refresh_interval = problems.duration(
        &refresh_path,
        raw.refresh_interval.as_ref(),
        DEFAULT_REFRESH_INTERVAL,
    );
    if refresh_interval < MIN_REFRESH_INTERVAL {
        problems.add(
            refresh_path,
            format!(
                "must be at least {} (got {})",
                format_config_duration(MIN_REFRESH_INTERVAL),
                format_config_duration(refresh_interval)
            ),
        );
    }

    let requests_per_second = raw
        .requests_per_second
        .unwrap_or(DEFAULT_REQUESTS_PER_SECOND);
    if !(requests_per_second > 0.0 && requests_per_second <= MAX_REQUESTS_PER_SECOND) {
        problems.add(
            format!("{PATH}.requests_per_second"),
            format!(
                "must be greater than 0 and at most {MAX_REQUESTS_PER_SECOND} (got {requests_per_second})"
            ),
        );
    }

    OrganizationsDiscovery {
        role_arn: raw.role_arn,
        external_id: raw.external_id,
        member_role_name,
        member_external_id: raw.member_external_id,
        include_ous,
        exclude_ous,
        exclude_accounts,
        refresh_interval,
        requests_per_second,
    }
}

fn check_member_role_name(problems: &mut Problems, name: &str) {
    let path = format!("{PATH}.member_role_name");
    let message = match role_path_fault(name) {
        Some(RolePathFault::Empty) => {
            "must not be empty: it is the role each discovered account is read through".to_string()
        }
        Some(RolePathFault::OuterSlash) => format!(
            "must not start or end with \"/\": write a path and name as team/reader, not /team/reader/ (got {name:?})"
        ),
        Some(RolePathFault::EmptySegment) => {
            format!("must not have an empty segment between two \"/\" (got {name:?})")
        }
        Some(RolePathFault::BadCharacter) => format!(
            "must be a role name, maybe after a path: letters, digits and _+=,.@- in segments separated by \"/\" (got {name:?})"
        ),
        Some(RolePathFault::NameTooLong) => format!(
            "the role name after the last \"/\" must be at most 64 characters (got {})",
            name.rsplit('/').next().map_or(0, str::len)
        ),
        None if name.len() > MAX_MEMBER_ROLE_NAME_LEN => format!(
            "must be at most {MAX_MEMBER_ROLE_NAME_LEN} characters (got {})",
            name.len()
        ),
        None => return,
    };
    problems.add(path, message);
}

/// Checks one of `include_ous` / `exclude_ous`; gives each valid id with the
/// index of its first entry. `included`, for `exclude_ous`: the ids of
/// `include_ous`, as an id in both says two opposite things.
fn check_ou_ids<'a>(
    problems: &mut Problems,
    key: &str,
    ids: &'a [String],
    included: Option<&BTreeMap<&str, usize>>,
) -> BTreeMap<&'a str, usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, id) in ids.iter().enumerate() {
        let path = format!("{PATH}.{key}[{index}]");
        if !is_root_or_ou_id(id) {
            problems.add(
                path,
                format!(
                    "must be a root id (r- and 4 to 32 lowercase letters or digits) or an OU id \
                     (ou-, 4 to 32 lowercase letters or digits, -, 8 to 32 more), \
                     such as r-a1b2 or ou-a1b2-c3d4e5f6 (got {id:?})"
                ),
            );
        } else if let Some(first) = seen.get(id.as_str()) {
            problems.add(
                path,
                format!("duplicate id {id} (also {PATH}.{key}[{first}])"),
            );
        } else {
            seen.insert(id, index);
            if let Some(first) = included.and_then(|included| included.get(id.as_str())) {
                problems.add(
                    path,
                    format!(
                        "{id} is also included ({PATH}.include_ous[{first}]): list it in one of the two"
                    ),
                );
            }
        }
    }
    seen
}

fn check_exclude_accounts(problems: &mut Problems, ids: &[String], accounts: &[Account]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, id) in ids.iter().enumerate() {
        let path = format!("{PATH}.exclude_accounts[{index}]");
        if !is_account_id(id) {
            problems.add(path, format!("must be exactly 12 digits (got {id:?})"));
        } else if let Some(first) = seen.get(id.as_str()) {
            problems.add(
                path,
                format!("duplicate account {id} (also {PATH}.exclude_accounts[{first}])"),
            );
        } else {
            seen.insert(id, index);
            if let Some(explicit) = accounts.iter().position(|account| account.id == *id) {
                problems.add(
                    path,
                    format!(
                        "account {id} is also listed in accounts[{explicit}], and explicit accounts are always polled: \
                         remove it from one of the two"
                    ),
                );
            }
        }
    }
}
