#![no_main]

//! Input: the policies of one SSM parameter as `DescribeParameters` hands
//! them back, one per line as `PolicyType<TAB>PolicyText` (a line without a
//! tab has no `PolicyType`). Both come from AWS and are untrusted: reading
//! the expiration may neither panic nor take long, and a date is only ever
//! read from an `Expiration` policy.

use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::aws::ssm::{MAX_POLICY_TEXT_BYTES, expiration_of};
use secrets_rotation_exporter::parameters::ParameterExpiration;

fuzz_target!(|text: &str| {
    let policies: Vec<(Option<&str>, Option<&str>)> = text
        .lines()
        .take(64)
        .map(|line| match line.split_once('\t') {
            Some((policy_type, policy_text)) => (Some(policy_type), Some(policy_text)),
            None => (None, Some(line)),
        })
        .collect();
    match expiration_of(policies.iter().copied()) {
        ParameterExpiration::None => {}
        ParameterExpiration::At(_) => {
            // A date needs an Expiration policy that fits the bound.
            assert!(text.contains("Expiration"));
            assert!(policies.iter().any(|(_, policy_text)| {
                policy_text.is_some_and(|t| t.len() <= MAX_POLICY_TEXT_BYTES)
            }));
        }
        ParameterExpiration::Unreadable(why) => assert!(!why.is_empty()),
    }
});
