//! The shapes of AWS identifiers the configuration names: account ids,
//! regions, IAM role ARNs and session names.

pub(super) fn is_account_id(text: &str) -> bool {
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
pub(super) fn role_arn_account(arn: &str) -> Result<&str, String> {
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
    let segments: Vec<&str> = role_path.split('/').collect();
    let name_ok = segments
        .last()
        .is_some_and(|name| (1..=64).contains(&name.len()));
    let segments_ok = segments
        .iter()
        .all(|segment| !segment.is_empty() && segment.chars().all(is_iam_name_char));
    if !name_ok || !segments_ok {
        return Err(shape());
    }
    Ok(account)
}
