//! Who sent a request, as every service handler sees it.

/// A request after authentication: who signed it and for which region.
pub(crate) struct Caller {
    pub account: String,
    pub principal_arn: String,
    pub user_id: String,
    pub region: String,
}
