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
use crate::inventory::{Interner, RotationRules, SecretRecord};

/// The largest page `ListSecrets` serves.
pub const PAGE_SIZE: i32 = 100;

/// Pages of one target's `ListSecrets` before the listing is taken to go
/// round: Secrets Manager holds at most 500,000 secrets per account and
/// region (its quota), 5,000 pages of 100.
pub const MAX_LIST_SECRETS_PAGES: usize = 5_000;

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

    /// The creation time of every version of one secret, by version id.
    fn version_creations(
        &self,
        target: &Target,
        secret_arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, DateTime<Utc>>, SourceError>> + Send;
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

    async fn version_creations(
        &self,
        target: &Target,
        secret_arn: &str,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, SourceError> {
        let client = self.secrets_manager(target);
        let mut pages = Pages::new("ListSecretVersionIds", MAX_VERSION_PAGES);
        let mut next_token = None;
        let mut created = BTreeMap::new();
        loop {
            // Deprecated versions carry no staging label, so the ones asked
            // about (AWSCURRENT, AWSPENDING) are always in the default listing.
            let page = client
                .list_secret_version_ids()
                .secret_id(secret_arn)
                .max_results(PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            for version in page.versions() {
                if let (Some(id), Some(when)) =
                    (version.version_id(), timestamp(version.created_date()))
                {
                    created.insert(id.to_owned(), when);
                }
            }
            match pages.next_token(page.next_token())? {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
        Ok(created)
    }
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
