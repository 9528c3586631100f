//! The AWS Organization of a fleet: its organizational units and the accounts in them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// Where an account is in its lifecycle: the `State` of Organizations' `Account`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountState {
    PendingActivation,
    #[default]
    Active,
    Suspended,
    PendingClosure,
    Closed,
}

impl AccountState {
    pub const ALL: [AccountState; 5] = [
        AccountState::PendingActivation,
        AccountState::Active,
        AccountState::Suspended,
        AccountState::PendingClosure,
        AccountState::Closed,
    ];

    /// The value of `State`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::PendingActivation => "PENDING_ACTIVATION",
            AccountState::Active => "ACTIVE",
            AccountState::Suspended => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
            AccountState::Closed => "CLOSED",
        }
    }

    /// The older `Status` field AWS still sends beside `State`. It knows only `ACTIVE`,
    /// `SUSPENDED` and `PENDING_CLOSURE`: an account still signing up counts as active, and a
    /// closed one, in its 90 days before it leaves the organization, as suspended.
    pub fn status(self) -> &'static str {
        match self {
            AccountState::PendingActivation | AccountState::Active => "ACTIVE",
            AccountState::Suspended | AccountState::Closed => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
        }
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        AccountState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not an account state (PENDING_ACTIVATION, ACTIVE, SUSPENDED, \
                     PENDING_CLOSURE, CLOSED)"
                )
            })
    }
}

/// An account of the organization, wherever it sits in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    /// Default `account-<id>`.
    pub name: Option<String>,
    /// Default derived from the name: `<name>@example.com`.
    pub email: Option<String>,
    pub state: AccountState,
    /// Answers without `State`, as the API did before it had the field, so a client's
    /// fallback to `Status` can be tested.
    pub omit_state: bool,
    pub tags: BTreeMap<String, String>,
}

impl OrgAccount {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            email: None,
            state: AccountState::Active,
            omit_state: false,
            tags: BTreeMap::new(),
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    pub fn state(mut self, state: AccountState) -> Self {
        self.state = state;
        self
    }

    pub fn omit_state(mut self) -> Self {
        self.omit_state = true;
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// An organizational unit, with the accounts directly in it and its child units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub name: String,
    /// Default derived from the organization and the unit's path of names.
    pub id: Option<String>,
    pub accounts: Vec<String>,
    pub units: Vec<OrgUnit>,
    pub tags: BTreeMap<String, String>,
}

impl OrgUnit {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            id: None,
            accounts: Vec::new(),
            units: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Places accounts directly in this unit (details of each go to
    /// [`Organization::account`]).
    pub fn accounts<S: Into<String>>(mut self, accounts: impl IntoIterator<Item = S>) -> Self {
        self.accounts.extend(accounts.into_iter().map(Into::into));
        self
    }

    pub fn unit(mut self, unit: OrgUnit) -> Self {
        self.units.push(unit);
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// The organization a fleet's accounts belong to; [`crate::FleetBuilder::organization`] adds it.
///
/// ```
/// use simulator::{AccountState, Fleet, OrgAccount, OrgUnit, Organization};
/// let fleet = Fleet::builder()
///     .organization(
///         Organization::new()
///             .delegated_administrator("888888888888")
///             .unit(OrgUnit::new("Workloads").unit(OrgUnit::new("Prod").accounts(["111111111111"])))
///             .account(OrgAccount::new("111111111111").name("payments-prod").tag("team", "payments"))
///             .account(OrgAccount::new("222222222222").state(AccountState::Suspended)),
///     )
///     .build()?;
/// assert_eq!(fleet.accounts().len(), 4, "base, delegated administrator and two members");
/// # Ok::<(), simulator::FleetError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    /// `o-` and 10 to 32 lowercase letters or digits; default derived from the management
    /// account.
    pub id: Option<String>,
    /// Default: the fleet's base account.
    pub management_account: Option<String>,
    pub delegated_administrators: Vec<String>,
    /// `r-` and 4 to 32 lowercase letters or digits; default derived from the organization id.
    pub root_id: Option<String>,
    /// Default `Root`.
    pub root_name: Option<String>,
    pub root_tags: BTreeMap<String, String>,
    pub units: Vec<OrgUnit>,
    /// Details of accounts; one placed in no unit sits directly under the root.
    pub accounts: Vec<OrgAccount>,
}

/// Names of the accounts of [`Organization::generated`] start with this, then 4 digits.
const GENERATED_ACCOUNT_PREFIX: &str = "account-";
/// The first account id of [`Organization::generated`]; the following ones count up.
const GENERATED_FIRST_ACCOUNT: u64 = 200_000_000_001;

impl Organization {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn management_account(mut self, id: impl Into<String>) -> Self {
        self.management_account = Some(id.into());
        self
    }

    pub fn delegated_administrator(mut self, id: impl Into<String>) -> Self {
        self.delegated_administrators.push(id.into());
        self
    }

    pub fn root_id(mut self, id: impl Into<String>) -> Self {
        self.root_id = Some(id.into());
        self
    }

    pub fn root_name(mut self, name: impl Into<String>) -> Self {
        self.root_name = Some(name.into());
        self
    }

    pub fn root_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.root_tags.insert(key.into(), value.into());
        self
    }

    /// Adds a unit directly under the root.
    pub fn unit(mut self, unit: OrgUnit) -> Self {
        self.units.push(unit);
        self
    }

    /// Adds an account's details; unless a unit lists it, it sits under the root.
    pub fn account(mut self, account: OrgAccount) -> Self {
        self.accounts.push(account);
        self
    }

    /// A large organization for benchmarks, the same on every call: `accounts` accounts with ids
    /// from `200000000001` up, named `account-0001`..., spread over `units` units named
    /// `unit-001`... A fifth of the units sit under the root and the others below them (two or
    /// three levels deep), one account in `units + 1` sits under the root, every account has a
    /// `cost-center` and a `team` tag, and every 25th is `SUSPENDED`.
    pub fn generated(accounts: usize, units: usize) -> Self {
        let top = (units / 5).max(1);
        // Parent index of each unit, `None` for the root.
        let parents: Vec<Option<usize>> = (0..units)
            .map(|index| (index >= top).then(|| (index - top) / 2))
            .collect();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); units];
        for (index, parent) in parents.iter().enumerate() {
            if let Some(parent) = parent {
                children[*parent].push(index);
            }
        }
        let mut placed: Vec<Vec<String>> = vec![Vec::new(); units];
        let mut details = Vec::with_capacity(accounts);
        for index in 0..accounts {
            let id = format!("{:012}", GENERATED_FIRST_ACCOUNT + index as u64);
            let slot = index % (units + 1);
            if slot < units {
                placed[slot].push(id.clone());
            }
            let mut account = OrgAccount::new(id)
                .name(format!("{GENERATED_ACCOUNT_PREFIX}{:04}", index + 1))
                .tag("cost-center", format!("cc-{}", index % 7))
                .tag("team", format!("team-{}", index % 5));
            if index % 25 == 24 {
                account = account.state(AccountState::Suspended);
            }
            details.push(account);
        }
        fn build(index: usize, children: &[Vec<usize>], placed: &mut [Vec<String>]) -> OrgUnit {
            let mut unit = OrgUnit::new(format!("unit-{:03}", index + 1))
                .accounts(std::mem::take(&mut placed[index]));
            for child in &children[index] {
                unit = unit.unit(build(*child, children, placed));
            }
            unit
        }
        let mut organization = Organization::new();
        for index in (0..units).filter(|index| parents[*index].is_none()) {
            organization = organization.unit(build(index, &children, &mut placed));
        }
        organization.accounts = details;
        organization
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_state_as_aws_documents_it() {
        let pairs: Vec<_> = AccountState::ALL
            .into_iter()
            .map(|state| (state.as_str(), state.status()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("PENDING_ACTIVATION", "ACTIVE"),
                ("ACTIVE", "ACTIVE"),
                ("SUSPENDED", "SUSPENDED"),
                ("PENDING_CLOSURE", "PENDING_CLOSURE"),
                ("CLOSED", "SUSPENDED"),
            ]
        );
        assert_eq!("CLOSED".parse::<AccountState>(), Ok(AccountState::Closed));
        assert!("closed".parse::<AccountState>().is_err());
    }

    fn depth(unit: &OrgUnit) -> usize {
        1 + unit.units.iter().map(depth).max().unwrap_or(0)
    }

    fn count(unit: &OrgUnit) -> (usize, usize) {
        unit.units
            .iter()
            .map(count)
            .fold((1, unit.accounts.len()), |(units, accounts), (u, a)| {
                (units + u, accounts + a)
            })
    }

    #[test]
    fn a_generated_organization_is_nested_and_reproducible() {
        let organization = Organization::generated(500, 30);
        assert_eq!(organization, Organization::generated(500, 30));
        let (units, placed) = organization
            .units
            .iter()
            .map(count)
            .fold((0, 0), |(u, a), (du, da)| (u + du, a + da));
        assert_eq!(units, 30);
        assert_eq!(organization.units.len(), 6);
        assert_eq!(organization.accounts.len(), 500);
        assert!(placed < 500, "some accounts sit under the root");
        let deepest = organization.units.iter().map(depth).max().unwrap_or(0);
        assert!((3..=5).contains(&deepest), "{deepest}");
        assert_eq!(
            organization.accounts[0].name.as_deref(),
            Some("account-0001")
        );
        let suspended = organization
            .accounts
            .iter()
            .filter(|a| a.state == AccountState::Suspended)
            .count();
        assert_eq!(suspended, 20);
        for small in [0, 1, 2, 7, 9] {
            let organization = Organization::generated(10, small);
            let deepest = organization.units.iter().map(depth).max().unwrap_or(0);
            assert!(deepest <= 5, "{small} units nest {deepest} deep");
        }
    }
}
