//! Counts every attempt the SDK sends, retries included, by service,
//! operation and outcome: quotas are spent per attempt, not per call.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::errors::classify_code;
use crate::metrics::{ExporterMetrics, RequestOutcome};
use crate::snapshot::ErrorReason;

/// An SDK interceptor feeding `secrets_rotation_exporter_aws_requests_total`
/// (labels `service`, `operation`, `outcome`).
#[derive(Debug, Clone)]
pub struct RequestCounter {
    metrics: ExporterMetrics,
}

impl RequestCounter {
    pub fn new(metrics: ExporterMetrics) -> Self {
        Self { metrics }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let outcome = match context.response() {
            // No response at all: the attempt never reached AWS (or timed out);
            // still an attempt that counts against nothing but our patience.
            None => RequestOutcome::Error,
            Some(response) if response.status().is_success() => RequestOutcome::Ok,
            Some(response) => {
                // awsJson names the code in `x-amzn-ErrorType` (`Code:detail`),
                // RPC v2 CBOR services (CloudWatch) in `x-amzn-query-error`
                // (`Code;Sender`).
                let code = response
                    .headers()
                    .get("x-amzn-ErrorType")
                    .map(|value| value.split(':').next().unwrap_or(value).to_owned())
                    .or_else(|| {
                        response
                            .headers()
                            .get("x-amzn-query-error")
                            .map(|value| value.split(';').next().unwrap_or(value).to_owned())
                    })
                    .or_else(|| {
                        // Query-protocol services (STS) put the code in the XML body only.
                        response
                            .body()
                            .bytes()
                            .and_then(|body| query_error_code(body).map(str::to_owned))
                    });
                let throttled = response.status().as_u16() == 429
                    || code.as_deref().and_then(classify_code) == Some(ErrorReason::Throttled);
                if throttled {
                    RequestOutcome::Throttled
                } else {
                    RequestOutcome::Error
                }
            }
        };
        self.metrics.record_aws_request(
            service_label(metadata.service()),
            metadata.name(),
            outcome,
        );
        Ok(())
    }
}

/// The SDK names services by their model name; the label uses the short,
/// lower-case names operators type (`secretsmanager`, `sts`, `cloudtrail`),
/// the names the counters are created with at start-up.
fn service_label(service: &str) -> &str {
    match service {
        "secretsmanager" | "Secrets Manager" | "SecretsManager" => "secretsmanager",
        "sts" | "STS" => "sts",
        "cloudtrail" | "CloudTrail" => "cloudtrail",
        "monitoring" | "cloudwatch" | "CloudWatch" => "cloudwatch",
        "organizations" | "Organizations" => "organizations",
        "lambda" | "Lambda" => "lambda",
        "ssm" | "SSM" => "ssm",
        other => other,
    }
}

fn query_error_code(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")?.checked_add("<Code>".len())?;
    let end = start.checked_add(text.get(start..)?.find("</Code>")?)?;
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::service_label;

    #[test]
    fn every_sdk_service_name_becomes_the_label_its_counters_start_with() {
        // The model names the SDK crates carry in their operation metadata.
        for (sdk, label) in [
            ("Secrets Manager", "secretsmanager"),
            ("STS", "sts"),
            ("CloudTrail", "cloudtrail"),
            ("CloudWatch", "cloudwatch"),
            ("Organizations", "organizations"),
            ("Lambda", "lambda"),
            ("SSM", "ssm"),
        ] {
            assert_eq!(service_label(sdk), label, "{sdk}");
        }
    }
}
