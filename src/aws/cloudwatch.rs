//! CloudWatch through `aws-sdk-cloudwatch` (Smithy RPC v2 CBOR): the calls
//! the publisher and the alarm reconciliation make, and the conversions
//! between their types and the SDK's.

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, MetricDatum, StandardUnit, Statistic,
    Tag,
};
use futures::future::BoxFuture;

use super::pages::Pages;
use super::{SourceError, classify_sdk_error};
use crate::cloudwatch::{
    AlarmDefinition, CloudWatchApi, Datum, ExistingAlarm, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};

/// Pages of `DescribeAlarms` before the listing is taken to go round. Only
/// the alarms under the exporter's prefix are listed, and those are the
/// alarms it plans, a few per check: one page of 100 holds them. 1,000 pages
/// (100,000 alarms) leaves room for thousands of hand-made alarms sharing the
/// prefix and still ends a listing that goes round within minutes.
pub const MAX_DESCRIBE_ALARMS_PAGES: usize = 1_000;

/// The `CloudWatchApi` of a client built by `ClientFactory::cloudwatch`.
#[derive(Clone)]
pub struct SdkCloudWatch {
    client: aws_sdk_cloudwatch::Client,
}

impl SdkCloudWatch {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }
}

/// The tag that marks an alarm as the exporter's to change and delete.
fn managed_tag() -> Tag {
    Tag::builder()
        .key(MANAGED_TAG_KEY)
        .value(MANAGED_TAG_VALUE)
        .build()
}

fn sdk_dimensions(dimensions: &[(impl AsRef<str>, impl AsRef<str>)]) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|(name, value)| {
            Dimension::builder()
                .name(name.as_ref())
                .value(value.as_ref())
                .build()
        })
        .collect()
}

fn definition_of(alarm: &MetricAlarm) -> AlarmDefinition {
    AlarmDefinition {
        name: alarm.alarm_name().unwrap_or_default().to_string(),
        description: alarm.alarm_description().map(str::to_owned),
        namespace: alarm.namespace().unwrap_or_default().to_string(),
        metric_name: alarm.metric_name().unwrap_or_default().to_string(),
        dimensions: alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        statistic: alarm
            .statistic()
            .map(|s| s.as_str().to_string())
            .or_else(|| alarm.extended_statistic().map(str::to_owned))
            .unwrap_or_default(),
        period_seconds: alarm.period().unwrap_or_default(),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        threshold: alarm.threshold().unwrap_or(f64::NAN),
        comparison_operator: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        treat_missing_data: alarm.treat_missing_data().map(str::to_owned),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        alarm_actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
        unit: alarm.unit().map(|u| u.as_str().to_string()),
    }
}

impl CloudWatchApi for SdkCloudWatch {
    fn put_metric_data<'a>(
        &'a self,
        namespace: &'a str,
        data: &'a [Datum],
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            let data: Vec<MetricDatum> = data
                .iter()
                .map(|datum| {
                    MetricDatum::builder()
                        .metric_name(datum.metric_name)
                        .set_dimensions(Some(sdk_dimensions(&datum.dimensions)))
                        .value(datum.value)
                        .unit(if datum.count {
                            StandardUnit::Count
                        } else {
                            StandardUnit::None
                        })
                        .build()
                })
                .collect();
            self.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(data))
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }

    fn describe_alarms<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExistingAlarm>, SourceError>> {
        Box::pin(async move {
            let mut alarms = Vec::new();
            let mut token: Option<String> = None;
            let mut pages = Pages::new("DescribeAlarms", MAX_DESCRIBE_ALARMS_PAGES);
            loop {
                let page = self
                    .client
                    .describe_alarms()
                    .alarm_name_prefix(prefix)
                    .alarm_types(AlarmType::MetricAlarm)
                    .max_records(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|err| classify_sdk_error(&err))?;
                alarms.extend(page.metric_alarms().iter().map(|alarm| ExistingAlarm {
                    arn: alarm.alarm_arn().unwrap_or_default().to_string(),
                    definition: definition_of(alarm),
                }));
                match pages.next_token(page.next_token())? {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
            Ok(alarms)
        })
    }

    fn alarm_tags<'a>(
        &'a self,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, SourceError>> {
        Box::pin(async move {
            let output = self
                .client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(output
                .tags()
                .iter()
                .map(|tag| {
                    (
                        tag.key().unwrap_or_default().to_string(),
                        tag.value().unwrap_or_default().to_string(),
                    )
                })
                .collect())
        })
    }

    fn put_alarm<'a>(
        &'a self,
        alarm: &'a AlarmDefinition,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            self.client
                .put_metric_alarm()
                .alarm_name(&alarm.name)
                .set_alarm_description(alarm.description.clone())
                .namespace(&alarm.namespace)
                .metric_name(&alarm.metric_name)
                .set_dimensions(Some(sdk_dimensions(&alarm.dimensions)))
                .statistic(Statistic::from(alarm.statistic.as_str()))
                .period(alarm.period_seconds)
                .evaluation_periods(alarm.evaluation_periods)
                .set_datapoints_to_alarm(alarm.datapoints_to_alarm)
                .threshold(alarm.threshold)
                .comparison_operator(ComparisonOperator::from(alarm.comparison_operator.as_str()))
                .set_treat_missing_data(alarm.treat_missing_data.clone())
                .actions_enabled(alarm.actions_enabled)
                .set_alarm_actions(Some(alarm.alarm_actions.clone()))
                .set_ok_actions(Some(alarm.ok_actions.clone()))
                .set_insufficient_data_actions(Some(alarm.insufficient_data_actions.clone()))
                .tags(managed_tag())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }

    fn tag_alarm<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            self.client
                .tag_resource()
                .resource_arn(arn)
                .tags(managed_tag())
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }

    fn delete_alarms<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            self.client
                .delete_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .send()
                .await
                .map_err(|err| classify_sdk_error(&err))?;
            Ok(())
        })
    }
}
