//! The shapes of AWS identifiers the configuration names: account ids,
//! regions, IAM role ARNs, role and session names, external ids and
//! Organizations root and OU ids.

pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `[\w+=,.@-]`, the characters IAM allows in role and session names.
pub(super) fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// Shapes like `us-east-1`, `ap-southeast-4`, `us-gov-west-1`, `cn-north-1`,
/// `us-isob-east-1`: a two-letter area, an optional partition marker, a
/// direction and a number.
pub(super) fn is_region(text: &str) -> bool {
    const DIRECTIONS: [&str; 9] = [
        "north",
        "south",
        "east",
        "west",
        "central",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
    ];
    const PARTITION_MARKERS: [&str; 5] = ["gov", "iso", "isob", "isoe", "isof"];
    let parts: Vec<&str> = text.split('-').collect();
    let (area, marker, direction, number) = match parts.as_slice() {
        [area, direction, number] => (*area, None, *direction, *number),
        [area, marker, direction, number] => (*area, Some(*marker), *direction, *number),
        _ => return false,
    };
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && marker.is_none_or(|marker| PARTITION_MARKERS.contains(&marker))
        && DIRECTIONS.contains(&direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The account of `arn:<partition>:iam::<account>:role/<path/>name`, or
/// why the ARN is not a role ARN.
pub fn role_arn_account(arn: &str) -> Result<&str, String> {
    let shape =
        || format!("must look like arn:aws:iam::<12-digit account>:role/<name> (got {arn:?})");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(shape());
    };
    if *prefix != "arn"
        || !matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        || *service != "iam"
        || !region.is_empty()
        || !is_account_id(account)
    {
        return Err(shape());
    }
    let Some(role_path) = resource.strip_prefix("role/") else {
        return Err(shape());
    };
    if role_path_fault(role_path).is_some() {
        return Err(shape());
    }
    Ok(account)
}

/// Why a role name, maybe behind a path, is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RolePathFault {
    Empty,
    /// `/team/reader/`: IAM writes paths with both slashes, an ARN and the
    /// configuration without them.
    OuterSlash,
    EmptySegment,
    BadCharacter,
    /// The role name, the last segment, is over 64 characters.
    NameTooLong,
}

/// Checks a role name as it follows `role/` in an ARN: segments separated
/// by `/`, each non-empty and of IAM name characters, the last (the role
/// name itself) at most 64 characters. Role ARNs and `member_role_name`
/// share it, so a member role name that passes builds a role ARN that does.
pub(super) fn role_path_fault(text: &str) -> Option<RolePathFault> {
    if text.is_empty() {
        return Some(RolePathFault::Empty);
    }
    if text.starts_with('/') || text.ends_with('/') {
        return Some(RolePathFault::OuterSlash);
    }
    let segments: Vec<&str> = text.split('/').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Some(RolePathFault::EmptySegment);
    }
    if !text.chars().all(|c| c == '/' || is_iam_name_char(c)) {
        return Some(RolePathFault::BadCharacter);
    }
    if segments.last().is_some_and(|name| name.len() > 64) {
        return Some(RolePathFault::NameTooLong);
    }
    None
}

/// `[\w+=,.@:/-]{2,1224}`, what `AssumeRole` accepts as an external id.
pub(super) fn is_external_id(text: &str) -> bool {
    (2..=1224).contains(&text.chars().count())
        && text
            .chars()
            .all(|c| is_iam_name_char(c) || matches!(c, ':' | '/'))
}

/// An Organizations root id (`r-` and 4 to 32 lowercase letters or digits)
/// or OU id (`ou-`, 4 to 32 of them, `-`, 8 to 32 more): the patterns the
/// Organizations API documents for `ParentId`.
pub(super) fn is_root_or_ou_id(text: &str) -> bool {
    is_root_id(text) || is_unit_id(text)
}

/// Lowercase letters or digits, as many as `lengths` allows.
fn is_lower_alnum(text: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A root id: `r-` and 4 to 32 lowercase letters or digits (AWS's pattern).
pub fn is_root_id(text: &str) -> bool {
    text.strip_prefix("r-")
        .is_some_and(|root| is_lower_alnum(root, 4..=32))
}

/// An organizational unit id: `ou-`, 4 to 32 lowercase letters or digits,
/// `-`, 8 to 32 more (AWS's pattern).
pub fn is_unit_id(text: &str) -> bool {
    text.strip_prefix("ou-")
        .and_then(|ou| ou.split_once('-'))
        .is_some_and(|(root, own)| is_lower_alnum(root, 4..=32) && is_lower_alnum(own, 8..=32))
}
