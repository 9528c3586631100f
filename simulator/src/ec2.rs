//! EC2 over its query protocol: `DescribeVpcs` and `DescribeVpcEndpoints`, XML answers with
//! `requestId` and `...Set`/`item` lists, and `Response`/`Errors` errors.

use axum::http::StatusCode;
use axum::response::Response;

use crate::caller::Caller;
use crate::fleet::{EndpointSpec, VpcSpec, dhcp_options_id};
use crate::query::{self, Form, Stop, element};
use crate::state::{Fault, Refusal, Shared};
use crate::sts::{escape, xml_response};

pub(crate) const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// `DescribeVpcs`' `MaxResults` bounds.
pub const DESCRIBE_VPCS_MIN_RESULTS: usize = 5;
pub const EC2_MAX_RESULTS: usize = 1000;

struct Ec2Error {
    status: StatusCode,
    code: String,
    message: String,
}

impl Ec2Error {
    fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterValue", message)
    }

    fn into_response_with(self, request_id: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code>\
             <Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>\n",
            escape(&self.code),
            escape(&self.message)
        );
        xml_response(self.status, body, request_id)
    }
}

fn stopped(stop: Stop, action: &str, caller: Option<&Caller>) -> Ec2Error {
    match stop {
        Stop::UnknownKey => Ec2Error::new(
            StatusCode::UNAUTHORIZED,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ),
        Stop::ExpiredKey => Ec2Error::new(
            StatusCode::BAD_REQUEST,
            "RequestExpired",
            "Request has expired.",
        ),
        Stop::Throttled => Ec2Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        Stop::Denied => Ec2Error::new(
            StatusCode::FORBIDDEN,
            "UnauthorizedOperation",
            format!(
                "You are not authorized to perform this operation. User: {} is not authorized to \
                 perform: ec2:{action} because no identity-based policy allows the ec2:{action} \
                 action",
                caller.map_or("", |c| c.principal_arn.as_str())
            ),
        ),
        Stop::Internal => Ec2Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "An internal error has occurred",
        ),
    }
}

pub(crate) async fn serve(
    shared: &Shared,
    caller: Option<Caller>,
    refusal: Option<Refusal>,
    body: &[u8],
    request_id: &str,
) -> Response {
    let form = Form::parse(body);
    let Some(action) = form.get("Action").map(str::to_string) else {
        return Ec2Error::new(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "The request must contain the parameter Action",
        )
        .into_response_with(request_id);
    };
    let fault = match query::gate(shared, "ec2", &action, caller.as_ref(), refusal).await {
        Ok(fault) => fault,
        Err(stop) => {
            return stopped(stop, &action, caller.as_ref()).into_response_with(request_id);
        }
    };
    let Some(caller) = caller else {
        return stopped(Stop::UnknownKey, &action, None).into_response_with(request_id);
    };
    if form.get("Version").is_none() {
        return Ec2Error::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "The request must contain the parameter Version",
        )
        .into_response_with(request_id);
    }
    let answer = match action.as_str() {
        "DescribeVpcs" => describe_vpcs(shared, &caller, &form, fault, request_id),
        "DescribeVpcEndpoints" => describe_endpoints(shared, &caller, &form, fault, request_id),
        other => Err(Ec2Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        )),
    };
    match answer {
        Ok(body) => xml_response(StatusCode::OK, query::cut(body, fault), request_id),
        Err(error) => error.into_response_with(request_id),
    }
}

/// `MaxResults` (`None`: everything) and where `NextToken` starts.
fn paging(
    form: &Form,
    min: usize,
    clamp: bool,
    tag: &str,
) -> Result<(usize, Option<String>), Ec2Error> {
    let size = match form.get("MaxResults") {
        None => usize::MAX,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= min as i64 && (clamp || n <= EC2_MAX_RESULTS as i64) => {
                (n as usize).min(EC2_MAX_RESULTS)
            }
            _ => {
                return Err(Ec2Error::invalid(format!(
                    "Value ( {text} ) for parameter maxResults is invalid. Expecting a value \
                     between {min} and {EC2_MAX_RESULTS}."
                )));
            }
        },
    };
    let start = match form.get("NextToken") {
        None => None,
        Some(token) => Some(query::token_start(token, tag).ok_or_else(|| {
            Ec2Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPaginationToken",
                format!("Invalid pagination token: {token}"),
            )
        })?),
    };
    Ok((size, start))
}

/// EC2 filter values may hold `*` (any characters) and `?` (one character).
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|skip| matches(rest, &text[skip..])),
            Some(('?', rest)) => !text.is_empty() && matches(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && matches(rest, &text[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches(&pattern, &text)
}

/// Whether one of `values` matches one of the resource's `have`.
fn any_match(values: &[String], have: &[&str]) -> bool {
    values
        .iter()
        .any(|pattern| have.iter().any(|text| glob(pattern, text)))
}

/// `tag:<key>` and `tag-key`, common to both operations; `None` for any other filter.
fn tag_filter(name: &str, values: &[String], tags: &[(String, String)]) -> Option<bool> {
    if let Some(key) = name.strip_prefix("tag:") {
        let have: Vec<&str> = tags
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        return Some(any_match(values, &have));
    }
    if name == "tag-key" {
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        return Some(any_match(values, &keys));
    }
    None
}

fn invalid_filter(name: &str) -> Ec2Error {
    Ec2Error::invalid(format!("The filter '{name}' is invalid"))
}

fn tag_set(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        return "<tagSet/>".to_string();
    }
    let items: String = tags
        .iter()
        .map(|(key, value)| {
            format!(
                "<item>{}{}</item>",
                element("key", key),
                element("value", value)
            )
        })
        .collect();
    format!("<tagSet>{items}</tagSet>")
}

fn answer(action: &str, set: &str, page: &query::Page, request_id: &str) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{NAMESPACE}\">\n    \
         <requestId>{request_id}</requestId>\n    <{set}>\n"
    );
    for entry in &page.entries {
        body.push_str(&format!("        <item>{entry}</item>\n"));
    }
    body.push_str(&format!("    </{set}>\n"));
    if let Some(next) = &page.next {
        body.push_str(&format!("    {}\n", element("nextToken", next)));
    }
    body.push_str(&format!("</{action}Response>\n"));
    body
}

const VPCS_TAG: &str = "ec2-vpcs";
const ENDPOINTS_TAG: &str = "ec2-vpc-endpoints";

fn describe_vpcs(
    shared: &Shared,
    caller: &Caller,
    form: &Form,
    fault: Option<Fault>,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let (size, start) = paging(form, DESCRIBE_VPCS_MIN_RESULTS, false, VPCS_TAG)?;
    let filters = form.filters();
    let ids = form.list("VpcId");
    let world = shared.world();
    let empty = Default::default();
    let vpcs = world
        .vpcs(&caller.account, &caller.region)
        .unwrap_or(&empty);
    if let Some(missing) = ids.iter().find(|id| !vpcs.contains_key(*id)) {
        return Err(Ec2Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidVpcID.NotFound",
            format!("The vpc ID '{missing}' does not exist"),
        ));
    }
    let account = caller.account.as_str();
    let mut selected = Vec::new();
    for (id, vpc) in vpcs {
        if !ids.is_empty() && !ids.contains(id) {
            continue;
        }
        let mut keep = true;
        for (name, values) in &filters {
            let default = vpc.default.to_string();
            let matched = match name.as_str() {
                "vpc-id" => any_match(values, &[id]),
                "is-default" => any_match(values, &[&default]),
                "owner-id" => any_match(values, &[account]),
                "state" => any_match(values, &["available"]),
                "cidr" | "cidr-block-association.cidr-block" => any_match(values, &[&vpc.cidr]),
                other => {
                    tag_filter(other, values, &vpc.tags).ok_or_else(|| invalid_filter(other))?
                }
            };
            keep &= matched;
        }
        if keep {
            selected.push((id.clone(), vpc));
        }
    }
    let dhcp = dhcp_options_id(account, &caller.region);
    let render = |vpc: &&VpcSpec| {
        format!(
            "{}{}<state>available</state>{}{}<instanceTenancy>default</instanceTenancy>{}{}",
            element("vpcId", vpc.vpc_id.as_deref().unwrap_or_default()),
            element("ownerId", account),
            element("cidrBlock", &vpc.cidr),
            element("dhcpOptionsId", &dhcp),
            element("isDefault", &vpc.default.to_string()),
            tag_set(&vpc.tags)
        )
    };
    let mut page = query::page(selected, start.as_deref(), size, VPCS_TAG, render);
    query::shape(&mut page, fault, form.get("NextToken"));
    Ok(answer("DescribeVpcs", "vpcSet", &page, request_id))
}

fn describe_endpoints(
    shared: &Shared,
    caller: &Caller,
    form: &Form,
    fault: Option<Fault>,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let (size, start) = paging(form, 1, true, ENDPOINTS_TAG)?;
    let filters = form.filters();
    let ids = form.list("VpcEndpointId");
    let world = shared.world();
    let region = caller.region.as_str();
    let mut endpoints: Vec<(String, &str, &EndpointSpec)> = world
        .vpcs(&caller.account, region)
        .into_iter()
        .flat_map(|vpcs| vpcs.iter())
        .flat_map(|(vpc_id, vpc)| {
            vpc.endpoints.iter().map(move |endpoint| {
                (
                    endpoint.id.clone().unwrap_or_default(),
                    vpc_id.as_str(),
                    endpoint,
                )
            })
        })
        .collect();
    endpoints.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(missing) = ids
        .iter()
        .find(|id| !endpoints.iter().any(|(have, _, _)| have == *id))
    {
        return Err(Ec2Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidVpcEndpointId.NotFound",
            format!("The Vpc Endpoint Id '{missing}' does not exist"),
        ));
    }
    let mut selected = Vec::new();
    for (id, vpc_id, endpoint) in endpoints {
        if !ids.is_empty() && !ids.contains(&id) {
            continue;
        }
        let service_name = format!("com.amazonaws.{region}.{}", endpoint.service);
        let mut keep = true;
        for (name, values) in &filters {
            let matched = match name.as_str() {
                "service-name" => any_match(values, &[&service_name]),
                "vpc-id" => any_match(values, &[vpc_id]),
                "vpc-endpoint-id" => any_match(values, &[&id]),
                "vpc-endpoint-type" => values
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(endpoint.endpoint_type.as_str())),
                "vpc-endpoint-state" => values
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(endpoint.state.as_str())),
                other => tag_filter(other, values, &endpoint.tags)
                    .ok_or_else(|| invalid_filter(other))?,
            };
            keep &= matched;
        }
        if keep {
            selected.push((id, (vpc_id, service_name, endpoint)));
        }
    }
    let account = caller.account.as_str();
    let render = |(vpc_id, service_name, endpoint): &(&str, String, &EndpointSpec)| {
        format!(
            "{}{}{}{}{}{}{}{}{}",
            element("vpcEndpointId", endpoint.id.as_deref().unwrap_or_default()),
            element("vpcEndpointType", endpoint.endpoint_type.as_str()),
            element("vpcId", vpc_id),
            element("serviceName", service_name),
            element("state", endpoint.state.as_str()),
            element(
                "privateDnsEnabled",
                &endpoint.effective_private_dns().to_string()
            ),
            element("ownerId", account),
            element(
                "creationTimestamp",
                &endpoint
                    .created
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
            ),
            tag_set(&endpoint.tags)
        )
    };
    let mut page = query::page(selected, start.as_deref(), size, ENDPOINTS_TAG, render);
    query::shape(&mut page, fault, form.get("NextToken"));
    Ok(answer(
        "DescribeVpcEndpoints",
        "vpcEndpointSet",
        &page,
        request_id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_take_wildcards() {
        assert!(glob(
            "com.amazonaws.*.secretsmanager",
            "com.amazonaws.us-east-1.secretsmanager"
        ));
        assert!(glob("vpc-?", "vpc-a"));
        assert!(!glob("vpc-?", "vpc-ab"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }
}
