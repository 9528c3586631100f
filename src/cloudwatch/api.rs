//! The seam between the CloudWatch logic and AWS.

use futures::future::BoxFuture;

use super::{AlarmDefinition, Datum, ExistingAlarm};
use crate::aws::SourceError;

/// The CloudWatch calls reconciliation and publishing need; pagination and
/// pacing live behind it.
pub trait CloudWatchApi: Send + Sync {
    fn put_metric_data<'a>(
        &'a self,
        namespace: &'a str,
        data: &'a [Datum],
    ) -> BoxFuture<'a, Result<(), SourceError>>;
    /// Every metric alarm whose name starts with `prefix`, all pages.
    fn describe_alarms<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ExistingAlarm>, SourceError>>;
    fn alarm_tags<'a>(
        &'a self,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, SourceError>>;
    fn put_alarm<'a>(
        &'a self,
        alarm: &'a AlarmDefinition,
    ) -> BoxFuture<'a, Result<(), SourceError>>;
    fn tag_alarm<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<(), SourceError>>;
    fn delete_alarms<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<(), SourceError>>;
}
