#![no_main]

//! Input: one byte choosing the answer read (an RDS instance or cluster
//! page, an EC2 VPC or endpoint page, an error of either protocol), then
//! the XML body. Answers come from AWS, or from whatever stands between it
//! and the exporter, and are untrusted: none may panic or take long, and
//! what is read stays within the bounds the readers set.

use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::aws::query::{MAX_FIELD_BYTES, parse_error};
use secrets_rotation_exporter::aws::{ec2, rds};

fn bounded(field: &Option<String>) {
    assert!(field.as_ref().is_none_or(|text| text.len() <= MAX_FIELD_BYTES));
}

fuzz_target!(|input: &[u8]| {
    let Some((&choice, body)) = input.split_first() else {
        return;
    };
    match choice % 5 {
        0 | 1 => {
            let read = if choice % 5 == 0 {
                rds::read_instances(body)
            } else {
                rds::read_clusters(body)
            };
            if let Ok(page) = read {
                assert!(page.entries.len() <= rds::MAX_ENTRIES_PER_PAGE);
                for entry in &page.entries {
                    bounded(&entry.identifier);
                    bounded(&entry.engine);
                    bounded(&entry.master_secret_arn);
                    bounded(&entry.cluster);
                    bounded(&entry.replica_of);
                }
                bounded(&page.marker);
            }
        }
        2 => {
            if let Ok(page) = ec2::read_vpcs(body) {
                assert!(page.vpcs.len() <= ec2::MAX_ENTRIES_PER_PAGE);
                for vpc in &page.vpcs {
                    bounded(&vpc.vpc_id);
                    assert!(vpc.tags.len() <= ec2::MAX_TAGS);
                }
                bounded(&page.next_token);
            }
        }
        3 => {
            if let Ok(page) = ec2::read_endpoints(body) {
                assert!(page.endpoints.len() <= ec2::MAX_ENTRIES_PER_PAGE);
                for endpoint in &page.endpoints {
                    bounded(&endpoint.endpoint_id);
                    bounded(&endpoint.state);
                    bounded(&endpoint.service_name);
                }
            }
        }
        _ => {
            let meta = parse_error(body);
            assert!(meta.code().is_none_or(|code| code.len() <= MAX_FIELD_BYTES));
        }
    }
});
