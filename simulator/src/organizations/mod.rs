//! AWS Organizations' read operations over the fleet's organization, in AWS's awsJson1.1 shapes:
//! the tree of roots, units and accounts, their tags, and who may read them.

pub(crate) mod model;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::awsjson::JsonError;
use crate::caller::Caller;
use crate::state::Shared;
use crate::time::epoch_seconds;
use crate::token;

use model::{AccountRecord, Node, OrgState, root_id_shaped, unit_id_shaped};

/// Organizations answers at most this many entries a page (its `MaxResults` limit).
pub const ORGANIZATIONS_PAGE_LIMIT: usize = 20;

const OPERATIONS: [&str; 7] = [
    "ListRoots",
    "ListOrganizationalUnitsForParent",
    "ListAccountsForParent",
    "ListAccounts",
    "ListTagsForResource",
    "DescribeOrganization",
    "ListParents",
];

fn error(code: &'static str, message: impl Into<String>) -> JsonError {
    JsonError::bad_request(code, message).capitalized()
}

pub(crate) fn too_many_requests() -> JsonError {
    error(
        "TooManyRequestsException",
        "You have sent too many requests in too short a period of time. The quota helps \
         protect against denial-of-service attacks. Try again later.",
    )
}

pub(crate) fn access_denied() -> JsonError {
    error(
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
    )
}

pub(crate) fn service_exception() -> JsonError {
    JsonError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        "AWS Organizations can't complete your request because of an internal service error. \
         Try again later.",
    )
    .capitalized()
}

fn not_in_use() -> JsonError {
    error(
        "AWSOrganizationsNotInUseException",
        "Your account is not a member of an organization.",
    )
}

fn invalid_input(reason: &'static str, message: impl Into<String>) -> JsonError {
    error("InvalidInputException", message).member("Reason", reason)
}

fn invalid_token() -> JsonError {
    invalid_input(
        "INVALID_NEXT_TOKEN",
        "The NextToken value is not valid. Use the value returned by the previous call.",
    )
}

fn parent_not_found() -> JsonError {
    error(
        "ParentNotFoundException",
        "We can't find a root or OU with the ParentId that you specified.",
    )
}

fn child_not_found() -> JsonError {
    error(
        "ChildNotFoundException",
        "We can't find an organizational unit (OU) or AWS account with the ChildId that you \
         specified.",
    )
}

fn target_not_found() -> JsonError {
    error(
        "TargetNotFoundException",
        "We can't find a root, OU, account, or policy with the TargetId that you specified.",
    )
}

pub(crate) fn handle(
    shared: &Shared,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Value, JsonError> {
    if !OPERATIONS.contains(&operation) {
        return Err(JsonError::without_message(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
        ));
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| {
            JsonError::bad_request(
                "SerializationException",
                "Start of structure or map found where not expected.",
            )
        })?
    };
    let world = shared.world();
    let Some(org) = world.organization.as_ref() else {
        return Err(not_in_use());
    };
    authorize(org, &caller.account, operation)?;
    match operation {
        "DescribeOrganization" => Ok(describe_organization(org)),
        "ListRoots" => list_roots(org, &input),
        "ListOrganizationalUnitsForParent" => list_units(org, &input),
        "ListAccountsForParent" => list_accounts_for_parent(org, &input),
        "ListAccounts" => list_accounts(org, &input),
        "ListTagsForResource" => list_tags(org, &input),
        _ => list_parents(org, &input),
    }
}

/// The management account and delegated administrators read the organization; any member may
/// describe it, as AWS allows; an account outside it is told it is in no organization.
fn authorize(org: &OrgState, account: &str, operation: &str) -> Result<(), JsonError> {
    if account == org.management || org.delegated.contains(account) {
        Ok(())
    } else if !org.accounts.contains_key(account) {
        Err(not_in_use())
    } else if operation == "DescribeOrganization" {
        Ok(())
    } else {
        Err(access_denied())
    }
}

fn describe_organization(org: &OrgState) -> Value {
    let email = org
        .accounts
        .get(&org.management)
        .map(|account| account.email.clone())
        .unwrap_or_default();
    json!({
        "Organization": {
            "Id": org.id,
            "Arn": org.organization_arn(),
            "FeatureSet": "ALL",
            "MasterAccountArn": org.account_arn(&org.management),
            "MasterAccountId": org.management,
            "MasterAccountEmail": email,
            "AvailablePolicyTypes": [],
        }
    })
}

/// One page's settings: how many entries and after which key, from a token bound to the
/// operation and the listing it was issued for.
struct Page {
    limit: usize,
    after: Option<String>,
    /// `<operation>|<listing>|`, the start of every token of this listing.
    scope: String,
}

impl Page {
    fn parse(
        input: &Value,
        operation: &str,
        listing: &str,
        paged: bool,
    ) -> Result<Self, JsonError> {
        let limit = if paged {
            max_results(input)?
        } else {
            ORGANIZATIONS_PAGE_LIMIT
        };
        let scope = format!("{operation}|{listing}|");
        let after = match input.get("NextToken").filter(|v| !v.is_null()) {
            None => None,
            Some(value) => {
                let text = value
                    .as_str()
                    .and_then(token::decode)
                    .ok_or_else(invalid_token)?;
                let after = text.strip_prefix(&scope).ok_or_else(invalid_token)?;
                if after.is_empty() {
                    return Err(invalid_token());
                }
                Some(after.to_string())
            }
        };
        Ok(Self {
            limit,
            after,
            scope,
        })
    }

    /// Takes a page from keys in order (already past the cursor) and the token of the next.
    fn take<'a, T>(&self, keys: impl Iterator<Item = (&'a str, T)>) -> (Vec<T>, Option<String>) {
        let mut page = Vec::with_capacity(self.limit);
        let mut last = None;
        let mut more = false;
        for (key, item) in keys {
            if page.len() == self.limit {
                more = true;
                break;
            }
            last = Some(key);
            page.push(item);
        }
        let next = more
            .then(|| last.map(|last| token::encode(&format!("{}{last}", self.scope))))
            .flatten();
        (page, next)
    }
}

fn max_results(input: &Value) -> Result<usize, JsonError> {
    let Some(value) = input.get("MaxResults").filter(|v| !v.is_null()) else {
        return Ok(ORGANIZATIONS_PAGE_LIMIT);
    };
    let Some(number) = value.as_i64() else {
        return Err(JsonError::bad_request(
            "SerializationException",
            "MaxResults must be an integer",
        ));
    };
    if number < 1 {
        return Err(invalid_input(
            "MIN_VALUE_EXCEEDED",
            format!("MaxResults {number} is less than the minimum of 1."),
        ));
    }
    if number > ORGANIZATIONS_PAGE_LIMIT as i64 {
        return Err(invalid_input(
            "MAX_VALUE_EXCEEDED",
            format!("MaxResults {number} is more than the maximum of {ORGANIZATIONS_PAGE_LIMIT}."),
        ));
    }
    Ok(number as usize)
}

fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, JsonError> {
    match input.get(field) {
        None | Some(Value::Null) => Err(invalid_input(
            "INPUT_REQUIRED",
            format!("You must specify a value for {field}."),
        )),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(JsonError::bad_request(
            "SerializationException",
            format!("{field} must be a string"),
        )),
    }
}

/// A `ParentId`: a root or unit id, else `InvalidInputException` as AWS checks the pattern.
fn parent_id<'a>(org: &OrgState, input: &'a Value) -> Result<&'a str, JsonError> {
    let parent = required(input, "ParentId")?;
    if !root_id_shaped(parent) && !unit_id_shaped(parent) {
        return Err(invalid_input(
            "INVALID_PATTERN",
            format!("ParentId `{parent}` is not a root or organizational unit id."),
        ));
    }
    if !org.is_parent(parent) {
        return Err(parent_not_found());
    }
    Ok(parent)
}

fn list_roots(org: &OrgState, input: &Value) -> Result<Value, JsonError> {
    let page = Page::parse(input, "ListRoots", "", true)?;
    let roots = std::iter::once(org.root_id.as_str())
        .filter(|id| page.after.as_deref().is_none_or(|after| *id > after))
        .map(|id| (id, id));
    let (ids, next) = page.take(roots);
    let roots: Vec<Value> = ids
        .into_iter()
        .map(|_| {
            json!({
                "Id": org.root_id,
                "Arn": org.root_arn(),
                "Name": org.root_name,
                "PolicyTypes": [],
            })
        })
        .collect();
    Ok(with_token(json!({ "Roots": roots }), next))
}

fn list_units(org: &OrgState, input: &Value) -> Result<Value, JsonError> {
    let parent = parent_id(org, input)?;
    let page = Page::parse(input, "ListOrganizationalUnitsForParent", parent, true)?;
    let (ids, next) = page.take(
        org.units_under(parent, page.after.as_deref())
            .map(|id| (id.as_str(), id)),
    );
    let units: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| {
            let unit = org.units.get(id)?;
            Some(json!({ "Id": id, "Arn": org.unit_arn(id), "Name": unit.name }))
        })
        .collect();
    Ok(with_token(json!({ "OrganizationalUnits": units }), next))
}

fn account_entry(org: &OrgState, id: &str, account: &AccountRecord) -> Value {
    let mut entry = Map::new();
    entry.insert("Id".into(), id.into());
    entry.insert("Arn".into(), org.account_arn(id).into());
    entry.insert("Email".into(), account.email.clone().into());
    entry.insert("Name".into(), account.name.clone().into());
    entry.insert("Status".into(), account.state.status().into());
    if !account.omit_state {
        entry.insert("State".into(), account.state.as_str().into());
    }
    entry.insert("JoinedMethod".into(), account.joined_method.into());
    entry.insert(
        "JoinedTimestamp".into(),
        json!(epoch_seconds(account.joined)),
    );
    Value::Object(entry)
}

fn accounts_page<'a>(
    org: &'a OrgState,
    page: &Page,
    ids: impl Iterator<Item = &'a String>,
) -> Value {
    let (ids, next) = page.take(ids.map(|id| (id.as_str(), id)));
    let accounts: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| Some(account_entry(org, id, org.accounts.get(id)?)))
        .collect();
    with_token(json!({ "Accounts": accounts }), next)
}

fn list_accounts_for_parent(org: &OrgState, input: &Value) -> Result<Value, JsonError> {
    let parent = parent_id(org, input)?;
    let page = Page::parse(input, "ListAccountsForParent", parent, true)?;
    Ok(accounts_page(
        org,
        &page,
        org.accounts_under(parent, page.after.as_deref()),
    ))
}

fn list_accounts(org: &OrgState, input: &Value) -> Result<Value, JsonError> {
    let page = Page::parse(input, "ListAccounts", "", true)?;
    let ids = match page.after.as_deref() {
        Some(after) => org
            .accounts
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
        None => org.accounts.range::<str, _>(..),
    };
    Ok(accounts_page(org, &page, ids.map(|(id, _)| id)))
}

fn list_tags(org: &OrgState, input: &Value) -> Result<Value, JsonError> {
    let resource = required(input, "ResourceId")?;
    let shaped = root_id_shaped(resource)
        || unit_id_shaped(resource)
        || crate::fleet::check_account_id(resource).is_ok();
    if !shaped {
        return Err(invalid_input(
            "INVALID_PATTERN_TARGET_ID",
            format!("ResourceId `{resource}` is not a root, organizational unit or account id."),
        ));
    }
    let tags: &BTreeMap<String, String> = org.tags_of(resource).ok_or_else(target_not_found)?;
    // ListTagsForResource has no MaxResults; AWS pages tags all the same.
    let page = Page::parse(input, "ListTagsForResource", resource, false)?;
    let entries = match page.after.as_deref() {
        Some(after) => {
            tags.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        }
        None => tags.range::<str, _>(..),
    };
    let (entries, next) = page.take(entries.map(|(key, value)| (key.as_str(), (key, value))));
    let tags: Vec<Value> = entries
        .into_iter()
        .map(|(key, value)| json!({ "Key": key, "Value": value }))
        .collect();
    Ok(with_token(json!({ "Tags": tags }), next))
}

fn list_parents(org: &OrgState, input: &Value) -> Result<Value, JsonError> {
    let child = required(input, "ChildId")?;
    if !unit_id_shaped(child) && crate::fleet::check_account_id(child).is_err() {
        return Err(invalid_input(
            "INVALID_PATTERN",
            format!("ChildId `{child}` is not an organizational unit or account id."),
        ));
    }
    let parent = org.parent_of(child).ok_or_else(child_not_found)?;
    let page = Page::parse(input, "ListParents", child, true)?;
    let parents = std::iter::once(parent)
        .filter(|id| page.after.as_deref().is_none_or(|after| *id > after))
        .map(|id| (id, id));
    let (parents, next) = page.take(parents);
    let parents: Vec<Value> = parents
        .into_iter()
        .map(|id| {
            let kind = match org.node(id) {
                Some(Node::Root) => "ROOT",
                _ => "ORGANIZATIONAL_UNIT",
            };
            json!({ "Id": id, "Type": kind })
        })
        .collect();
    Ok(with_token(json!({ "Parents": parents }), next))
}

fn with_token(mut answer: Value, next: Option<String>) -> Value {
    if let (Some(next), Some(fields)) = (next, answer.as_object_mut()) {
        fields.insert("NextToken".into(), Value::String(next));
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_ends_with_a_token_only_when_more_follow() -> Result<(), String> {
        let input = json!({ "MaxResults": 2 });
        let page = Page::parse(&input, "ListAccounts", "", true).map_err(|e| e.code.to_string())?;
        let keys = ["a", "b", "c"];
        let (items, next) = page.take(keys.iter().map(|k| (*k, *k)));
        assert_eq!(items, ["a", "b"]);
        let next = next.ok_or("no token")?;
        let input = json!({ "MaxResults": 2, "NextToken": next });
        let page = Page::parse(&input, "ListAccounts", "", true).map_err(|e| e.code.to_string())?;
        assert_eq!(page.after.as_deref(), Some("b"));
        let (items, next) = page.take(keys[2..].iter().map(|k| (*k, *k)));
        assert_eq!(items, ["c"]);
        assert_eq!(next, None);
        let (items, next) = page.take(keys[..2].iter().map(|k| (*k, *k)));
        assert_eq!((items.len(), next), (2, None), "exactly a page: no token");
        Ok(())
    }

    #[test]
    fn tokens_of_another_listing_or_forged_are_invalid_input() {
        let other = token::encode("ListAccountsForParent|r-ab12|111111111111");
        for token in [other.as_str(), "zz", "", "00"] {
            let input = json!({ "NextToken": token });
            let reason = Page::parse(&input, "ListAccounts", "", true)
                .err()
                .map(|e| e.code);
            assert_eq!(reason, Some("InvalidInputException"), "{token}");
        }
        for max in [0, 21, -1] {
            let input = json!({ "MaxResults": max });
            let code = Page::parse(&input, "ListAccounts", "", true)
                .err()
                .map(|e| e.code);
            assert_eq!(code, Some("InvalidInputException"), "{max}");
        }
    }
}
