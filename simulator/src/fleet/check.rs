//! The shapes AWS accepts for account ids, region names and secret names.

pub(crate) fn check_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("`{id}` is not a 12-digit AWS account id"))
    }
}

pub(super) fn check_region(region: &str) -> Result<(), String> {
    let shaped = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-');
    if shaped {
        Ok(())
    } else {
        Err(format!("`{region}` is not a region name such as us-east-1"))
    }
}

/// Secrets Manager allows 1 to 512 of ASCII letters, digits and `/_+=.@-`, and `!` in the names
/// of secrets other services manage (`rds!db-...`).
pub(crate) fn check_secret_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c);
    if name.is_empty() || name.len() > 512 {
        Err(format!("name `{name}` must be 1 to 512 characters"))
    } else if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        Err(format!(
            "name `{name}` has `{bad}`; only ASCII letters, digits and /_+=.@-! are allowed"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::fleet::{Fleet, SecretSpec};

    #[test]
    fn bad_account_ids_and_names_are_rejected() {
        let error = Fleet::builder()
            .account("1234")
            .build()
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("`1234` is not a 12-digit")));
        let error = Fleet::builder()
            .secret(SecretSpec::new("has space"))
            .build()
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("has ` `")));
    }
}
