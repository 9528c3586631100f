//! The inventory: `ListSecrets` only. It already returns the rotation
//! fields, tags, version stages and access date, so a fleet costs
//! ceil(n/100) requests per poll and no per-secret `DescribeSecret`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_secretsmanager::types::SecretListEntry;
use chrono::{DateTime, Utc};
use litemap::LiteMap;

use super::pages::Pages;
use super::{ClientFactory, SourceError, Target, classify_sdk_error};
use crate::inventory::{Interner, RotationRules, SecretRecord, bounded_text as bounded};

/// The largest page `ListSecrets` serves.
pub const PAGE_SIZE: i32 = 100;

/// Pages of one target's `ListSecrets` before the listing is taken to go
/// round: Secrets Manager holds at most 500,000 secrets per account and
/// region (its quota), 5,000 pages of 100.
pub const MAX_LIST_SECRETS_PAGES: usize = 5_000;

/// The longest `Type` kept. AWS documents no limit; partner types are
/// names like `MongoDBAtlasServiceAccount`, so only a malformed answer
/// is cut.
pub const MAX_SECRET_TYPE_BYTES: usize = 256;

/// The longest `ExternalSecretRotationRoleArn` kept: IAM's limit on an ARN.
pub const MAX_ROLE_ARN_BYTES: usize = 2_048;

/// Pages of one secret's `ListSecretVersionIds`: a secret holds about 100
/// versions at most (Secrets Manager's quota), and without deprecated ones
/// only those with a staging label are listed, so one page of 100 holds
/// them all; ten leave room for a raised quota.
pub const MAX_VERSION_PAGES: usize = 10;

/// Where the inventory of one target comes from. The poller depends on this
/// seam only, so tests can feed it without AWS.
pub trait SecretsSource: Send + Sync + 'static {
    fn list_secrets(
        &self,
        target: &Target,
    ) -> impl Future<Output = Result<Vec<SecretRecord>, SourceError>> + Send;

    /// The versions of one secret that carry a staging label, by version id.
    fn versions(
        &self,
        target: &Target,
        secret_arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, VersionFacts>, SourceError>> + Send;
}

impl SecretsSource for ClientFactory {
    async fn list_secrets(&self, target: &Target) -> Result<Vec<SecretRecord>, SourceError> {
        let client = self.secrets_manager(target);
        // Explicit pages rather than the SDK's paginator, which ends the
        // listing silently on a repeated token and would report half a fleet
        // as all of it.
        let mut pages = Pages::new("ListSecrets", MAX_LIST_SECRETS_PAGES);
        let mut next_token = None;
        let mut records = Vec::new();
        let mut shared_text = Interner::new();
        loop {
            let page = client
                .list_secrets()
                .max_results(PAGE_SIZE)
                // Secrets scheduled for deletion are still inventoried (and
                // reported as such) rather than silently vanishing.
                .include_planned_deletion(true)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            for entry in page.secret_list() {
                records.push(record_from_entry(target, entry, &mut shared_text)?);
            }
            match pages.next_token(page.next_token())? {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.arn.cmp(&b.arn)));
        Ok(records)
    }

    async fn versions(
        &self,
        target: &Target,
        secret_arn: &str,
    ) -> Result<BTreeMap<String, VersionFacts>, SourceError> {
        let client = self.secrets_manager(target);
        let mut pages = Pages::new("ListSecretVersionIds", MAX_VERSION_PAGES);
        let mut next_token = None;
        let mut versions = BTreeMap::new();
        loop {
            // Deprecated versions carry no staging label, so the ones asked
            // about (AWSCURRENT, AWSPENDING, AWSPREVIOUS) are always in the
            // default listing.
            let page = client
                .list_secret_version_ids()
                .secret_id(secret_arn)
                .max_results(PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            for version in page.versions() {
                if let Some(id) = version.version_id() {
                    versions.insert(
                        id.to_owned(),
                        VersionFacts {
                            created: timestamp(version.created_date()),
                            last_accessed: timestamp(version.last_accessed_date()),
                        },
                    );
                }
            }
            match pages.next_token(page.next_token())? {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
        Ok(versions)
    }
}

/// What `ListSecretVersionIds` says of one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionFacts {
    pub created: Option<DateTime<Utc>>,
    /// The day it was last read (`LastAccessedDate` has no time).
    pub last_accessed: Option<DateTime<Utc>>,
}

fn timestamp(value: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    let value = value?;
    DateTime::from_timestamp(value.secs(), value.subsec_nanos())
}

/// Converts one entry; an entry without ARN or name is a response we cannot
/// trust, and the whole target is reported as such rather than half-listed.
pub fn record_from_entry(
    target: &Target,
    entry: &SecretListEntry,
    shared_text: &mut Interner,
) -> Result<SecretRecord, SourceError> {
    let (Some(arn), Some(name)) = (entry.arn(), entry.name()) else {
        return Err(SourceError::invalid_response(
            "ListSecrets returned a secret without ARN or Name",
        ));
    };
    let tags: Vec<(Arc<str>, Arc<str>)> = entry
        .tags()
        .iter()
        .filter_map(|tag| {
            Some((
                shared_text.intern(tag.key()?),
                shared_text.intern(tag.value().unwrap_or_default()),
            ))
        })
        .collect();
    // From a vector's iterator the map allocates exactly what it holds,
    // which matters for records kept until the next poll.
    let tags = LiteMap::from_iter(tags);
    let mut record = SecretRecord {
        account_id: shared_text.intern(&target.account_id),
        region: shared_text.intern(&target.region),
        arn: arn.to_owned(),
        name: name.to_owned(),
        kms_key_id: entry.kms_key_id().map(|key| shared_text.intern(key)),
        rotation_enabled: entry.rotation_enabled().unwrap_or(false),
        rotation_lambda_arn: entry
            .rotation_lambda_arn()
            .map(|arn| shared_text.intern(arn)),
        rotation_rules: entry.rotation_rules().map(|rules| RotationRules {
            automatically_after_days: rules.automatically_after_days(),
            duration: rules.duration().map(|window| shared_text.intern(window)),
            schedule_expression: rules
                .schedule_expression()
                .map(|expression| shared_text.intern(expression)),
        }),
        created: timestamp(entry.created_date()),
        last_changed: timestamp(entry.last_changed_date()),
        last_accessed: timestamp(entry.last_accessed_date()),
        last_rotated: timestamp(entry.last_rotated_date()),
        next_rotation: timestamp(entry.next_rotation_date()),
        deleted: timestamp(entry.deleted_date()),
        owning_service: entry
            .owning_service()
            .map(|service| shared_text.intern(service)),
        // Few distinct types and rotation roles serve many secrets: interned.
        secret_type: entry
            .r#type()
            .map(|kind| shared_text.intern(bounded(kind, MAX_SECRET_TYPE_BYTES))),
        external_rotation_role_arn: entry
            .external_secret_rotation_role_arn()
            .map(|role| shared_text.intern(bounded(role, MAX_ROLE_ARN_BYTES))),
        external_rotation_metadata: !entry.external_secret_rotation_metadata().is_empty(),
        primary_region: entry
            .primary_region()
            .map(|region| shared_text.intern(region)),
        tags,
        current_version: None,
        pending_version: None,
        current_version_created: None,
        pending_since: None,
        rotation_events: None,
        rotation_events_unknown: None,
        versions_unknown: None,
        previous_version: None,
        previous_version_access: None,
        rotation_function: None,
        database: None,
    };
    if let Some(versions) = entry.secret_versions_to_stages() {
        record.set_version_stages(
            versions
                .iter()
                .map(|(id, stages)| (id.as_str(), stages.iter().map(String::as_str))),
        );
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::types::ExternalSecretRotationMetadataItem;

    use super::*;
    use crate::inventory::RotationType;

    fn target() -> Target {
        Target {
            account_id: "111111111111".into(),
            account_name: None,
            role_arn: None,
            external_id: None,
            region: "us-east-1".into(),
        }
    }

    fn entry(name: &str) -> aws_sdk_secretsmanager::types::builders::SecretListEntryBuilder {
        SecretListEntry::builder()
            .arn(format!(
                "arn:aws:secretsmanager:us-east-1:111111111111:secret:{name}-AbCdEf"
            ))
            .name(name)
    }

    fn convert(entry: &SecretListEntry, shared_text: &mut Interner) -> SecretRecord {
        match record_from_entry(&target(), entry, shared_text) {
            Ok(record) => record,
            Err(error) => panic!("entry refused: {error:?}"),
        }
    }

    #[test]
    fn external_secret_fields_are_kept_and_give_its_rotation_type() {
        let role = "arn:aws:iam::111111111111:role/salesforce-rotation";
        let listed = entry("crm/salesforce")
            .r#type("SalesforceClientSecret")
            .external_secret_rotation_role_arn(role)
            .external_secret_rotation_metadata(
                ExternalSecretRotationMetadataItem::builder()
                    .key("apiVersion")
                    .value("v65.0")
                    .build(),
            )
            .build();
        let mut shared_text = Interner::new();
        let record = convert(&listed, &mut shared_text);
        assert_eq!(
            record.secret_type.as_deref(),
            Some("SalesforceClientSecret")
        );
        assert_eq!(record.external_rotation_role_arn.as_deref(), Some(role));
        assert!(record.external_rotation_metadata);
        assert_eq!(record.rotation_type(), RotationType::External);

        // The role is held once for every secret that names it.
        let other = convert(
            &entry("crm/other")
                .external_secret_rotation_role_arn(role)
                .build(),
            &mut shared_text,
        );
        match (
            &record.external_rotation_role_arn,
            &other.external_rotation_role_arn,
        ) {
            (Some(first), Some(second)) => assert!(Arc::ptr_eq(first, second)),
            _ => panic!("role ARN not kept"),
        }
    }

    #[test]
    fn service_lambda_and_plain_secrets_get_their_rotation_type() {
        let mut shared_text = Interner::new();
        let owned = entry("rds!db-1234")
            .owning_service("rds")
            .rotation_enabled(true)
            .build();
        let lambda = entry("app/db")
            .rotation_lambda_arn("arn:aws:lambda:us-east-1:111111111111:function:rotate")
            .build();
        let plain = entry("app/key").build();
        let types: Vec<RotationType> = [owned, lambda, plain]
            .iter()
            .map(|listed| convert(listed, &mut shared_text).rotation_type())
            .collect();
        assert_eq!(
            types,
            [
                RotationType::Service,
                RotationType::Lambda,
                RotationType::None
            ]
        );
        let record = convert(&entry("app/key").build(), &mut shared_text);
        assert_eq!(record.secret_type, None);
        assert_eq!(record.external_rotation_role_arn, None);
        assert!(!record.external_rotation_metadata);
    }

    #[test]
    fn oversized_external_values_are_cut_on_a_character_boundary_and_still_count() {
        let huge_type = "é".repeat(MAX_SECRET_TYPE_BYTES);
        let huge_role = "r".repeat(MAX_ROLE_ARN_BYTES * 10);
        let listed = entry("odd")
            .r#type(huge_type.as_str())
            .external_secret_rotation_role_arn(huge_role)
            .build();
        let record = convert(&listed, &mut Interner::new());
        let kept_type = record.secret_type.as_deref().unwrap_or_default();
        assert!(kept_type.len() <= MAX_SECRET_TYPE_BYTES);
        assert!(kept_type.len() >= MAX_SECRET_TYPE_BYTES - 1);
        assert!(huge_type.starts_with(kept_type));
        assert_eq!(
            record.external_rotation_role_arn.as_deref().map(str::len),
            Some(MAX_ROLE_ARN_BYTES)
        );
        assert_eq!(record.rotation_type(), RotationType::External);
    }

    #[test]
    fn bounded_keeps_short_text_whole() {
        assert_eq!(
            bounded("SalesforceClientSecret", 256),
            "SalesforceClientSecret"
        );
        assert_eq!(bounded("ab", 2), "ab");
        assert_eq!(bounded("aé", 2), "a");
        assert_eq!(bounded("", 0), "");
    }
}
