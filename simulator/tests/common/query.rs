//! Raw requests in the query protocols (STS, RDS, EC2) and the few XML reads the tests need:
//! the exporter speaks RDS and EC2 without their SDKs, so these tests do too.
#![allow(dead_code)]

use simulator::{Credentials, SimulatorHandle};

/// A POST of `form` signed (in scope only: signatures are not checked) for `service` in `region`.
pub async fn query(
    sim: &SimulatorHandle,
    service: &str,
    region: &str,
    credentials: &Credentials,
    form: &[(&str, &str)],
) -> (u16, String) {
    let body = serde_urlencoded::to_string(form).unwrap_or_default();
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/{service}/aws4_request, \
         SignedHeaders=host, Signature=00",
        credentials.access_key_id
    );
    let mut request = reqwest::Client::new()
        .post(sim.endpoint_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", authorization)
        .body(body);
    if let Some(token) = &credentials.session_token {
        request = request.header("x-amz-security-token", token);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => (0, error.to_string()),
    }
}

/// A Secrets Manager `ListSecrets` (JSON protocol) with `credentials`: its status.
pub async fn list_secrets_status(sim: &SimulatorHandle, credentials: &Credentials) -> u16 {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/us-east-1/secretsmanager/aws4_request, \
         SignedHeaders=host, Signature=00",
        credentials.access_key_id
    );
    let mut request = reqwest::Client::new()
        .post(sim.endpoint_url())
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "secretsmanager.ListSecrets")
        .header("authorization", authorization)
        .body("{}");
    if let Some(token) = &credentials.session_token {
        request = request.header("x-amz-security-token", token);
    }
    request.send().await.map_or(0, |r| r.status().as_u16())
}

/// Credentials of `account` from a raw STS `AssumeRole` with the base credentials.
pub async fn assume(sim: &SimulatorHandle, account: &str) -> Credentials {
    let role = format!("arn:aws:iam::{account}:role/reader");
    let (_, body) = query(
        sim,
        "sts",
        "us-east-1",
        &sim.base_credentials(),
        &[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", &role),
            ("RoleSessionName", "tests"),
        ],
    )
    .await;
    let first = |tag: &str| texts(&body, tag).into_iter().next().unwrap_or_default();
    Credentials {
        access_key_id: first("AccessKeyId"),
        secret_access_key: first("SecretAccessKey"),
        session_token: Some(first("SessionToken")),
    }
}

/// The text of every `<tag>...</tag>`, in order, unescaped; the elements must not nest.
pub fn texts(xml: &str, tag: &str) -> Vec<String> {
    blocks(xml, tag)
        .into_iter()
        .map(|text| {
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// The raw content of every `<tag>...</tag>`, in order; the elements must not nest.
pub fn blocks(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        found.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    found
}

/// The first `<tag>` text, empty when there is none.
pub fn text(xml: &str, tag: &str) -> String {
    texts(xml, tag).into_iter().next().unwrap_or_default()
}
