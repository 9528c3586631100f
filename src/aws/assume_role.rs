//! Credentials for an account reached through `sts:AssumeRole`.
//!
//! aws-config's `AssumeRoleProvider` builds its own STS client, which would
//! escape the request counter, the explicit timeouts and the per-account
//! retry partition; this provider uses a client built like every other one,
//! when it needs one: once per credential lifetime, so an STS client held
//! per account would be kept for nothing.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError, future};

use super::ClientParts;
use super::errors::{SourceError, classify_sdk_error};

#[derive(Debug)]
pub(super) struct AssumeRoleCredentials {
    pub parts: Arc<ClientParts>,
    pub account_id: String,
    pub role_arn: String,
    pub external_id: Option<String>,
}

impl AssumeRoleCredentials {
    async fn assume(&self) -> provider::Result {
        let output = self
            .parts
            .sts(Some(&self.account_id))
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.parts.settings.role_session_name)
            .set_external_id(self.external_id.clone())
            .send()
            .await
            .map_err(|err| {
                let mut failure = classify_sdk_error(&err);
                failure.message = format!("AssumeRole {}: {}", self.role_arn, failure.message);
                CredentialsError::provider_error(failure)
            })?;
        let credentials = output.credentials().ok_or_else(|| {
            CredentialsError::provider_error(SourceError::invalid_response(
                "AssumeRole returned no credentials",
            ))
        })?;
        let expiry = SystemTime::try_from(*credentials.expiration()).map_err(|_| {
            CredentialsError::provider_error(SourceError::invalid_response(
                "AssumeRole returned an expiration out of range",
            ))
        })?;
        Ok(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            Some(expiry),
            "AssumeRole",
        ))
    }
}

impl ProvideCredentials for AssumeRoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}
