//! SSM Parameter Store: `DescribeParameters` and `ListTagsForResource`, the
//! metadata of parameters. Never `GetParameter`, `GetParameters` or
//! `GetParametersByPath`: the exporter does not read a value.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_ssm::types::{ParameterMetadata, ParameterStringFilter, ResourceTypeForTagging};
use chrono::{DateTime, Utc};
use litemap::LiteMap;
use serde_json::Value;

use super::pages::Pages;
use super::{ClientFactory, SourceError, Target, classify_sdk_error};
use crate::inventory::{Interner, bounded_text};
use crate::parameters::{ParameterExpiration, ParameterRecord};

/// The largest page `DescribeParameters` serves.
pub const PAGE_SIZE: i32 = 50;

/// Pages of one listing before it is taken to go round. An account and
/// region holds at most 100,000 Advanced and 10,000 Standard parameters,
/// 2,200 pages of 50; with a filter, SSM may answer pages with fewer (even
/// none) and a token, so room is left for that.
pub const MAX_DESCRIBE_PAGES: usize = 20_000;

/// The longest parameter name SSM allows; a longer one is not a name.
pub const MAX_NAME_BYTES: usize = 2_048;

/// The longest text kept of a type, tier or key id: AWS sends short values
/// (a key ARN is about 80 bytes); only a malformed answer is cut.
pub const MAX_FIELD_BYTES: usize = 2_048;

/// The largest policy text read; SSM caps a parameter's policies far below.
pub const MAX_POLICY_TEXT_BYTES: usize = 16 * 1024;

/// Tags kept of one parameter: SSM allows 50.
pub const MAX_TAGS: usize = 50;

/// The longest tag key and value kept (SSM: 128 and 256 characters).
pub const MAX_TAG_TEXT_BYTES: usize = 1_024;

/// One page of `DescribeParameters`.
#[derive(Debug, Default)]
pub struct ParameterPage {
    pub parameters: Vec<ParameterRecord>,
    /// Entries that could not be used (no name, no type) and were left out.
    pub skipped: usize,
    pub next_token: Option<String>,
}

/// The SSM seam: what the source reads of one target.
pub trait SsmApi: Send + Sync + 'static {
    /// One page of the parameters of `types`, under `path` (recursively)
    /// when given.
    fn describe_parameters(
        &self,
        target: &Target,
        types: &[String],
        path: Option<&str>,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<ParameterPage, SourceError>> + Send;

    /// The tags of one parameter.
    fn parameter_tags(
        &self,
        target: &Target,
        name: &str,
    ) -> impl Future<Output = Result<LiteMap<Arc<str>, Arc<str>>, SourceError>> + Send;
}

/// Every parameter of the target of `types`, under any of `path_prefixes`
/// (every parameter when there is none), sorted by name; `turn` is awaited
/// before each page. Returns the parameters and how many entries were left
/// out as unusable.
pub async fn list_parameters<A: SsmApi, F: Future<Output = ()>>(
    api: &A,
    target: &Target,
    types: &[String],
    path_prefixes: &[String],
    mut turn: impl FnMut() -> F,
) -> Result<(Vec<ParameterRecord>, usize), SourceError> {
    let paths: Vec<Option<&str>> = if path_prefixes.is_empty() {
        vec![None]
    } else {
        path_prefixes
            .iter()
            .map(|path| Some(path.as_str()))
            .collect()
    };
    // Prefixes may overlap (`/prod` and `/prod/db`): one record per name.
    let mut found: BTreeMap<String, ParameterRecord> = BTreeMap::new();
    let mut skipped = 0usize;
    for path in paths {
        let mut pages = Pages::new("DescribeParameters", MAX_DESCRIBE_PAGES);
        let mut next_token = None;
        loop {
            turn().await;
            let page = api
                .describe_parameters(target, types, path, next_token.take())
                .await?;
            skipped = skipped.saturating_add(page.skipped);
            for parameter in page.parameters {
                found.insert(parameter.name.clone(), parameter);
            }
            match pages.next_token(page.next_token.as_deref())? {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
    }
    Ok((found.into_values().collect(), skipped))
}

impl SsmApi for ClientFactory {
    async fn describe_parameters(
        &self,
        target: &Target,
        types: &[String],
        path: Option<&str>,
        next_token: Option<String>,
    ) -> Result<ParameterPage, SourceError> {
        let mut filters = Vec::with_capacity(2);
        filters.push(
            ParameterStringFilter::builder()
                .key("Type")
                .option("Equals")
                .set_values(Some(types.to_vec()))
                .build()
                .map_err(|err| SourceError::invalid_response(format!("Type filter: {err}")))?,
        );
        if let Some(path) = path {
            filters.push(
                ParameterStringFilter::builder()
                    .key("Path")
                    .option("Recursive")
                    .values(path)
                    .build()
                    .map_err(|err| SourceError::invalid_response(format!("Path filter: {err}")))?,
            );
        }
        let page = self
            .ssm(target)
            .describe_parameters()
            .set_parameter_filters(Some(filters))
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|err| classify_sdk_error(&err))?;
        let mut shared_text = Interner::new();
        let mut parsed = ParameterPage {
            next_token: page.next_token().map(str::to_owned),
            ..ParameterPage::default()
        };
        for metadata in page.parameters() {
            match record_from_metadata(target, metadata, &mut shared_text) {
                Some(record) => parsed.parameters.push(record),
                None => parsed.skipped = parsed.skipped.saturating_add(1),
            }
        }
        Ok(parsed)
    }

    async fn parameter_tags(
        &self,
        target: &Target,
        name: &str,
    ) -> Result<LiteMap<Arc<str>, Arc<str>>, SourceError> {
        let answer = self
            .ssm(target)
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .map_err(|err| classify_sdk_error(&err))?;
        let mut tags = LiteMap::new();
        for tag in answer.tag_list().iter().take(MAX_TAGS) {
            tags.insert(
                Arc::from(bounded_text(tag.key(), MAX_TAG_TEXT_BYTES)),
                Arc::from(bounded_text(tag.value(), MAX_TAG_TEXT_BYTES)),
            );
        }
        Ok(tags)
    }
}

/// A record of one `ParameterMetadata`; `None` when it has no usable name
/// or type, without which nothing can be said of it.
fn record_from_metadata(
    target: &Target,
    metadata: &ParameterMetadata,
    shared_text: &mut Interner,
) -> Option<ParameterRecord> {
    let name = metadata
        .name()
        .filter(|name| !name.is_empty() && name.len() <= MAX_NAME_BYTES)?;
    let parameter_type = metadata
        .r#type()
        .map(|kind| kind.as_str())
        .filter(|kind| !kind.is_empty())?;
    let mut text = |value: &str| shared_text.intern(bounded_text(value, MAX_FIELD_BYTES));
    let policies = metadata
        .policies()
        .iter()
        .map(|policy| (policy.policy_type(), policy.policy_text()));
    Some(ParameterRecord {
        account_id: Arc::from(target.account_id.as_str()),
        region: Arc::from(target.region.as_str()),
        name: name.to_owned(),
        parameter_type: text(parameter_type),
        key_id: metadata
            .key_id()
            .filter(|key| !key.is_empty())
            .map(&mut text),
        tier: metadata.tier().map(|tier| text(tier.as_str())),
        last_modified: metadata
            .last_modified_date()
            .and_then(|value| DateTime::<Utc>::from_timestamp(value.secs(), value.subsec_nanos())),
        version: Some(metadata.version()),
        expiration: expiration_of(policies),
        tags: None,
        tags_unknown: None,
    })
}

/// The expiration a parameter's policies set: the `Timestamp` of its
/// `Expiration` policy. Each policy is `(PolicyType, PolicyText)`; the type
/// is read from the text when SSM leaves it out.
pub fn expiration_of<'a>(
    policies: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> ParameterExpiration {
    for (policy_type, text) in policies {
        let text = text.unwrap_or_default();
        if text.len() > MAX_POLICY_TEXT_BYTES {
            if policy_type == Some("Expiration") {
                return ParameterExpiration::Unreadable(format!(
                    "the Expiration policy is {} bytes, more than the {MAX_POLICY_TEXT_BYTES} read",
                    text.len()
                ));
            }
            continue;
        }
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let declared = policy_type.or_else(|| {
            parsed
                .as_ref()
                .and_then(|policy| policy.get("Type"))
                .and_then(Value::as_str)
        });
        if declared != Some("Expiration") {
            continue;
        }
        let Some(policy) = parsed else {
            return ParameterExpiration::Unreadable("the Expiration policy is not JSON".to_owned());
        };
        let Some(timestamp) = policy
            .get("Attributes")
            .and_then(|attributes| attributes.get("Timestamp"))
            .and_then(Value::as_str)
        else {
            return ParameterExpiration::Unreadable(
                "the Expiration policy has no Attributes.Timestamp".to_owned(),
            );
        };
        return match DateTime::parse_from_rfc3339(timestamp) {
            Ok(at) => ParameterExpiration::At(at.with_timezone(&Utc)),
            Err(err) => ParameterExpiration::Unreadable(format!(
                "the Expiration policy's Timestamp {:?} is not a date: {err}",
                bounded_text(timestamp, 64)
            )),
        };
    }
    ParameterExpiration::None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiration(text: &str) -> ParameterExpiration {
        expiration_of([(Some("Expiration"), Some(text))])
    }

    #[test]
    fn the_expiration_timestamp_is_read_from_the_policy_text() {
        let at = expiration(
            r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-31T00:00:00.000Z"}}"#,
        );
        let expected = DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z")
            .map(|at| at.with_timezone(&Utc))
            .ok();
        assert_eq!(Some(at), expected.map(ParameterExpiration::At));
        let offset = expiration(
            r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-31T02:00:00+02:00"}}"#,
        );
        assert_eq!(Some(offset), expected.map(ParameterExpiration::At));
    }

    #[test]
    fn other_policies_set_no_expiration() {
        let policies = [
            (
                Some("NoChangeNotification"),
                Some(
                    r#"{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"20","Unit":"Days"}}"#,
                ),
            ),
            (None, Some("not json")),
        ];
        assert_eq!(expiration_of(policies), ParameterExpiration::None);
        assert_eq!(expiration_of([]), ParameterExpiration::None);
    }

    #[test]
    fn an_expiration_policy_without_its_type_is_found_by_its_text() {
        let at = expiration_of([(
            None,
            Some(r#"{"Type":"Expiration","Attributes":{"Timestamp":"2020-01-01T00:00:00Z"}}"#),
        )]);
        assert!(matches!(at, ParameterExpiration::At(_)));
    }

    #[test]
    fn an_unreadable_expiration_policy_is_unreadable_not_absent() {
        for text in [
            "not json",
            r#"{"Type":"Expiration"}"#,
            r#"{"Type":"Expiration","Attributes":{"Timestamp":"next tuesday"}}"#,
            r#"{"Type":"Expiration","Attributes":{"Timestamp":12}}"#,
        ] {
            assert!(
                matches!(expiration(text), ParameterExpiration::Unreadable(_)),
                "{text}"
            );
        }
        let huge = format!(
            r#"{{"Type":"Expiration","Attributes":{{"Timestamp":"2020-01-01T00:00:00Z","x":"{}"}}}}"#,
            "x".repeat(MAX_POLICY_TEXT_BYTES)
        );
        assert!(matches!(
            expiration(&huge),
            ParameterExpiration::Unreadable(_)
        ));
    }
}
