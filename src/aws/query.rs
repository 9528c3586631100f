//! The AWS query protocols of RDS (awsQuery) and EC2 (ec2Query): a
//! form-encoded `POST /` with `Action` and `Version`, an XML answer.
//!
//! The exporter reads four operations of these two services
//! (`DescribeDBInstances`, `DescribeDBClusters`, `DescribeVpcs`,
//! `DescribeVpcEndpoints`). Their SDK crates are among the largest AWS
//! publishes: `aws-sdk-ec2` alone took 432 s and `aws-sdk-rds` 155 s to
//! build on the CI machine (2 cores), and both would be built again by
//! clippy and by the fuzz build, well past the suite's 20 minutes. So the
//! requests are sent through the SDK's own orchestrator
//! ([`Operation`]) with the same parts as every SDK client (the shared
//! HTTPS client, SigV4 signing with the cached credentials of the target,
//! timeouts, standard retries with AWS's throttling codes, a retry
//! partition per account, service and region, the request counter), and
//! only the four requests and the fields read of their answers are written
//! here.

use std::fmt;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::auth::sigv4::{SCHEME_ID as SIGV4_SCHEME_ID, SigV4AuthScheme};
use aws_runtime::auth::{SigV4OperationSigningConfig, SigningOptions};
use aws_runtime::retries::classifiers::AwsErrorCodeClassifier;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::auth::{
    AuthSchemeOptionResolverParams, SharedAuthScheme, SharedAuthSchemeOptionResolver,
};
use aws_smithy_runtime_api::client::identity::SharedIdentityResolver;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_runtime_api::client::runtime_plugin::StaticRuntimePlugin;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::Layer;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_xml::decode::{Document, ScopedDecoder, try_data};
use aws_types::SigningName;
use aws_types::region::SigningRegion;

use super::{ClientFactory, SourceError, Target, classify_sdk_error};

/// The largest answer read: a page of 100 databases or 1,000 VPCs is well
/// under a megabyte; a larger body is not one of these answers.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The longest text kept of one XML field: identifiers, ARNs, engine names
/// and tags are short; only a malformed answer is cut.
pub const MAX_FIELD_BYTES: usize = 2_048;

/// One of the query-protocol services the exporter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryService {
    /// The SigV4 signing name, the endpoint's first label and the request
    /// counter's `service` label.
    pub name: &'static str,
    /// The API version every request names.
    pub version: &'static str,
}

pub const RDS: QueryService = QueryService {
    name: "rds",
    version: "2014-10-31",
};

pub const EC2: QueryService = QueryService {
    name: "ec2",
    version: "2016-11-15",
};

/// One request: its action and its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub action: &'static str,
    pub params: Vec<(String, String)>,
}

impl QueryRequest {
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            params: Vec::new(),
        }
    }

    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The form body: `Action`, `Version`, then the parameters.
    pub fn body(&self, service: &QueryService) -> String {
        let mut body = String::new();
        let mut writer =
            aws_smithy_query::QueryWriter::new(&mut body, self.action, service.version);
        for (name, value) in &self.params {
            writer.prefix(name).string(value);
        }
        writer.finish();
        body
    }
}

/// An error answer (`<ErrorResponse><Error>` of awsQuery, `<Response>
/// <Errors><Error>` of ec2Query), or a success answer that could not be read.
#[derive(Debug)]
pub struct QueryError {
    meta: ErrorMetadata,
}

impl QueryError {
    fn unreadable(why: impl Into<String>) -> Self {
        Self {
            meta: ErrorMetadata::builder().message(why.into()).build(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.meta.code(), self.meta.message()) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (Some(code), None) => f.write_str(code),
            (None, Some(message)) => f.write_str(message),
            (None, None) => f.write_str("an error answer without a code"),
        }
    }
}

impl std::error::Error for QueryError {}

impl ProvideErrorMetadata for QueryError {
    fn meta(&self) -> &ErrorMetadata {
        &self.meta
    }
}

/// The code and message of an error answer of either protocol. The first
/// `Code` and `Message` found under an `Error` element are taken, wherever
/// the protocol nests it.
pub fn parse_error(body: &[u8]) -> ErrorMetadata {
    let mut builder = ErrorMetadata::builder();
    let Ok(text) = std::str::from_utf8(body) else {
        return builder.message("an error answer that is not UTF-8").build();
    };
    let mut document = Document::new(text);
    let Ok(mut root) = document.root_element() else {
        return builder.message("an error answer that is not XML").build();
    };
    let mut code = None;
    let mut message = None;
    find_error(&mut root, 0, &mut code, &mut message);
    if let Some(code) = code {
        builder = builder.code(code);
    }
    if let Some(message) = message {
        builder = builder.message(message);
    }
    builder.build()
}

/// `<Error>` sits at most two levels below the root.
fn find_error(
    scope: &mut ScopedDecoder<'_, '_>,
    depth: u8,
    code: &mut Option<String>,
    message: &mut Option<String>,
) {
    while let Some(mut tag) = scope.next_tag() {
        if tag.start_el().local() == "Error" {
            while let Some(mut field) = tag.next_tag() {
                match field.start_el().local() {
                    "Code" if code.is_none() => *code = text(&mut field).ok(),
                    "Message" if message.is_none() => *message = text(&mut field).ok(),
                    _ => {}
                }
            }
            return;
        }
        if depth < 2 {
            find_error(&mut tag, depth.saturating_add(1), code, message);
            if code.is_some() {
                return;
            }
        }
    }
}

/// The text of a leaf element, cut to [`MAX_FIELD_BYTES`].
pub fn text(tag: &mut ScopedDecoder<'_, '_>) -> Result<String, String> {
    let data = try_data(tag).map_err(|err| err.to_string())?;
    Ok(crate::inventory::bounded_text(&data, MAX_FIELD_BYTES).to_owned())
}

/// `true` or `false`, as both protocols write booleans.
pub fn boolean(tag: &mut ScopedDecoder<'_, '_>) -> Result<bool, String> {
    match text(tag)?.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!(
            "{}: not a boolean: {other:?}",
            tag.start_el().local()
        )),
    }
}

/// Reads a success answer: `read` gets the root element of the document.
pub fn read_answer<T>(
    body: &[u8],
    read: impl FnOnce(&mut ScopedDecoder<'_, '_>) -> Result<T, String>,
) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_owned())?;
    let mut document = Document::new(text);
    let mut root = document
        .root_element()
        .map_err(|err| format!("the answer is not XML: {err}"))?;
    read(&mut root)
}

impl ClientFactory {
    /// Sends `request` to `service` in the target's account and region and
    /// reads the answer with `read`. Errors are classified like every SDK
    /// call's; an answer `read` cannot use is `invalid_response`.
    pub async fn query<T>(
        &self,
        service: QueryService,
        target: &Target,
        request: QueryRequest,
        read: fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, SourceError>
    where
        T: fmt::Debug + Send + Sync + 'static,
    {
        let parts = &self.parts;
        let credentials = self
            .credentials_for(target)
            .or_else(|| parts.base.credentials_provider());
        let Some(credentials) = credentials else {
            return Err(SourceError {
                reason: crate::snapshot::ErrorReason::AccessDenied,
                message: "no credentials to sign the request with".to_owned(),
            });
        };
        let endpoint = endpoint_url(parts.base.endpoint_url(), service, &target.region);
        let operation = Operation::builder()
            .service_name(service.name)
            .operation_name(request.action)
            .http_client(parts.http_client.clone())
            .endpoint_url(&endpoint)
            .timeout_config(parts.timeouts())
            .standard_retry(&parts.retries())
            .retry_classifier(AwsErrorCodeClassifier::<QueryError>::new())
            .interceptor(parts.request_counter.clone())
            .runtime_plugin(signing_plugin(service, target, credentials, parts))
            .serializer(
                move |request: QueryRequest| -> Result<HttpRequest, BoxError> {
                    let mut http = HttpRequest::new(SdkBody::from(request.body(&service)));
                    http.set_method("POST")?;
                    http.set_uri("/")?;
                    http.headers_mut().insert(
                        "Content-Type",
                        "application/x-www-form-urlencoded; charset=utf-8",
                    );
                    Ok(http)
                },
            )
            .deserializer(move |response: &HttpResponse| {
                let body = response.body().bytes().unwrap_or_default();
                if !response.status().is_success() {
                    return Err(OrchestratorError::operation(QueryError {
                        meta: parse_error(body),
                    }));
                }
                if body.len() > MAX_ANSWER_BYTES {
                    return Err(OrchestratorError::operation(QueryError::unreadable(
                        format!(
                            "an answer of {} bytes, over the {MAX_ANSWER_BYTES} read",
                            body.len()
                        ),
                    )));
                }
                read(body).map_err(|why| OrchestratorError::operation(QueryError::unreadable(why)))
            })
            .build();
        operation
            .invoke(request)
            .await
            .map_err(|err| classify_sdk_error(&err))
    }
}

/// The service's endpoint in `region`, or the endpoint the configuration
/// sets for every service (`AWS_ENDPOINT_URL`, as the SDK clients honour).
fn endpoint_url(configured: Option<&str>, service: QueryService, region: &str) -> String {
    if let Some(url) = configured {
        return url.to_owned();
    }
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{}.{region}.{domain}", service.name)
}

/// Signs with SigV4 for the service and the target's region, with the
/// target's credentials through the shared identity cache, and keeps the
/// retries of this account, service and region apart from the others'.
fn signing_plugin(
    service: QueryService,
    target: &Target,
    credentials: SharedCredentialsProvider,
    parts: &super::ClientParts,
) -> StaticRuntimePlugin {
    let mut layer = Layer::new("query-signing");
    layer.store_put(SigV4OperationSigningConfig {
        region: Some(SigningRegion::from(aws_types::region::Region::new(
            target.region.clone(),
        ))),
        region_set: None,
        name: Some(SigningName::from_static(service.name)),
        signing_options: SigningOptions::default(),
    });
    layer.store_put(AuthSchemeOptionResolverParams::new(()));
    layer.store_put(ClientFactory::retry_partition(service.name, target));
    let components = RuntimeComponentsBuilder::new("query-signing")
        .with_auth_scheme(SharedAuthScheme::new(SigV4AuthScheme::new()))
        .with_auth_scheme_option_resolver(Some(SharedAuthSchemeOptionResolver::new(
            StaticAuthSchemeOptionResolver::new(vec![SIGV4_SCHEME_ID]),
        )))
        .with_identity_resolver(SIGV4_SCHEME_ID, SharedIdentityResolver::new(credentials))
        .with_identity_cache(Some(parts.identity_cache.clone()));
    StaticRuntimePlugin::new()
        .with_config(layer.freeze())
        .with_runtime_components(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_action_version_and_parameters_encoded() {
        let body = QueryRequest::new("DescribeVpcEndpoints")
            .param("Filter.1.Name", "service-name")
            .param("Filter.1.Value.1", "com.amazonaws.eu-west-1.secretsmanager")
            .param("NextToken", "a b/c=")
            .body(&EC2);
        assert_eq!(
            body,
            "Action=DescribeVpcEndpoints&Version=2016-11-15\
             &Filter.1.Name=service-name\
             &Filter.1.Value.1=com.amazonaws.eu-west-1.secretsmanager\
             &NextToken=a%20b%2Fc%3D"
        );
    }

    #[test]
    fn error_answers_of_both_protocols_give_code_and_message() {
        let rds = br#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
            <Error><Type>Sender</Type><Code>AccessDenied</Code>
            <Message>User is not authorized to perform: rds:DescribeDBInstances</Message></Error>
            <RequestId>1</RequestId></ErrorResponse>"#;
        let meta = parse_error(rds);
        assert_eq!(meta.code(), Some("AccessDenied"));
        assert_eq!(
            meta.message(),
            Some("User is not authorized to perform: rds:DescribeDBInstances")
        );
        let ec2 = br#"<?xml version="1.0" encoding="UTF-8"?>
            <Response><Errors><Error><Code>RequestLimitExceeded</Code>
            <Message>Request limit exceeded.</Message></Error></Errors>
            <RequestID>2</RequestID></Response>"#;
        let meta = parse_error(ec2);
        assert_eq!(meta.code(), Some("RequestLimitExceeded"));
        assert_eq!(meta.message(), Some("Request limit exceeded."));
    }

    #[test]
    fn an_error_answer_that_is_not_xml_has_no_code() {
        assert_eq!(parse_error(b"<html>Bad Gateway").code(), None);
        assert_eq!(parse_error(&[0xff, 0xfe]).code(), None);
        assert_eq!(parse_error(b"").code(), None);
    }

    #[test]
    fn endpoints_follow_the_partition_unless_one_is_configured() {
        assert_eq!(
            endpoint_url(None, RDS, "eu-west-1"),
            "https://rds.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint_url(None, EC2, "cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint_url(Some("http://127.0.0.1:4566"), EC2, "eu-west-1"),
            "http://127.0.0.1:4566"
        );
    }
}
