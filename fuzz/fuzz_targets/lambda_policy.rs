#![no_main]

//! Input: a function ARN on the first line, then the resource policy
//! document `GetPolicy` answered with, as the rest of the input. Both come
//! from AWS and are untrusted: neither may panic or take long, and a
//! policy is judged the same however it is spelled.

use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::aws::lambda::{
    MAX_POLICY_BYTES, function_location, secrets_manager_may_invoke,
};

fuzz_target!(|text: &str| {
    let (arn, document) = text.split_once('\n').unwrap_or((text, ""));
    if let Some((account, region)) = function_location(arn) {
        // A location is the ARN's own account and region fields.
        assert_eq!(account.len(), 12);
        assert!(arn.contains(&format!(":{region}:{account}:function:")));
    }
    match secrets_manager_may_invoke(document) {
        Ok(allowed) => {
            assert!(document.len() <= MAX_POLICY_BYTES);
            // Allowing needs a statement that names the invoke action.
            if allowed {
                assert!(document.to_ascii_lowercase().contains("allow"));
            }
        }
        Err(problem) => assert!(!problem.is_empty()),
    }
});
