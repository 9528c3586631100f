//! The benchmark's quick mode and sharding. The quick fleet (80 accounts x
//! 2 regions, no latency) is polled twice by the real exporter against the
//! simulator with AWS's quotas; the requests each poll sends must match the
//! formulas in docs/performance.md exactly.

#[path = "../benches/scale/discovery.rs"]
mod discovery;
#[path = "../benches/scale/harness.rs"]
mod harness;
#[path = "../benches/scale/sources.rs"]
mod sources;

use harness::{FleetShape, Options};
use secrets_rotation_exporter::config::{self, Account, Shard};
use secrets_rotation_exporter::targets::TargetList;

fn count(requests: &std::collections::BTreeMap<String, u64>, operation: &str) -> u64 {
    requests.get(operation).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_fleet_sends_exactly_the_requests_of_the_formulas() -> Result<(), harness::BenchError>
{
    let shape = FleetShape::quick();
    let report = harness::run(&shape, &Options::quick()).await?;
    let facts = &report.facts;
    assert_eq!(facts.total_secrets(), shape.secret_count());
    assert!(
        facts.secrets.values().any(|n| *n > 200) && facts.secrets.values().any(|n| *n == 0),
        "the quick fleet must have empty and multi-page targets"
    );
    assert!(
        facts.succeeded_events.values().any(|n| *n > 50),
        "some target must need a second LookupEvents page"
    );

    let first = &report.first_poll;
    let second = &report.second_poll;
    assert_eq!(
        first.secrets,
        facts.total_secrets(),
        "every secret inventoried"
    );
    assert_eq!((first.targets_down, second.targets_down), (0, 0));

    // ListSecrets: sum of ceil(n/100) per target, an empty target one page.
    assert_eq!(
        count(&first.requests, "ListSecrets"),
        facts.expected_list_secrets()
    );
    assert_eq!(
        count(&second.requests, "ListSecrets"),
        facts.expected_list_secrets()
    );
    // Versions: each unknown one once, then never again.
    assert_eq!(
        count(&first.requests, "ListSecretVersionIds"),
        facts.expected_version_lookups(1)
    );
    assert_eq!(facts.expected_version_lookups(2), 0);
    assert_eq!(count(&second.requests, "ListSecretVersionIds"), 0);
    // CloudTrail: four event names per target, a page per 50 events.
    // A later refresh reads from the previous end minus the late-delivery
    // overlap, so only the newest events again.
    assert_eq!(
        count(&first.requests, "LookupEvents"),
        facts.expected_lookup_events(true)
    );
    assert_eq!(
        count(&second.requests, "LookupEvents"),
        facts.expected_lookup_events(false)
    );
    // AssumeRole: once per account, though 80 accounts exceed the SDK's
    // default identity cache of 64 credential providers.
    assert_eq!(count(&first.requests, "AssumeRole"), shape.accounts as u64);
    assert_eq!(count(&second.requests, "AssumeRole"), 0);
    // Nothing else, and never a secret value.
    let expected_operations = [
        "AssumeRole",
        "ListSecretVersionIds",
        "ListSecrets",
        "LookupEvents",
    ];
    for operation in first.requests.keys() {
        assert!(
            expected_operations.contains(&operation.as_str()),
            "unexpected {operation}"
        );
    }
    assert_eq!(report.throttled, 0, "no request throttled");

    // Every scrape succeeded, gzip decompressed to the plain body (checked in
    // the harness), and gzip is smaller.
    let scrapes = &report.scrapes;
    assert_eq!(scrapes.concurrent_ok, scrapes.concurrent_total);
    assert!(scrapes.gzip_bytes * 5 < scrapes.plain_bytes);

    // The baselines ran on the same fleet: every secret described, every
    // series through the GaugeVecs.
    let describe = report
        .describe
        .as_ref()
        .ok_or("the describe baseline ran")?;
    assert_eq!(describe.secrets, facts.total_secrets());
    assert_eq!(
        count(&describe.requests, "DescribeSecret"),
        facts.total_secrets() as u64
    );
    assert_eq!(
        count(&describe.requests, "ListSecrets"),
        facts.expected_list_secrets()
    );
    assert!(report.gauge_vec.series > facts.total_secrets() * 10);

    let table = harness::table(&report);
    assert!(table.contains("ListSecrets per poll"), "{table}");
    Ok(())
}

fn accounts(count: usize) -> Vec<Account> {
    (0..count)
        .map(|i| Account {
            id: format!("{:012}", 100_000_000_000usize + i * 7919),
            role_arn: None,
            external_id: None,
            regions: vec!["us-east-1".into()],
            name: None,
        })
        .collect()
}

#[test]
fn shards_cover_every_account_exactly_once() -> Result<(), String> {
    let fleet = accounts(500);
    for count in 1..=5u32 {
        let mut owners = vec![0u32; fleet.len()];
        for index in 0..count {
            let shard = Shard::new(index, count)?;
            let mine = TargetList::configured(&fleet, shard).accounts;
            // Each shard takes a fair share: none empty or far above 1/n.
            let share = mine.len() as f64 / fleet.len() as f64;
            assert!(
                share > 0.5 / f64::from(count) && share < 1.5 / f64::from(count),
                "shard {shard} holds {} of {} accounts",
                mine.len(),
                fleet.len()
            );
            for account in mine.iter() {
                let position = fleet.iter().position(|a| a.id == account.account_id);
                owners[position.ok_or("a shard invented an account")?] += 1;
            }
        }
        assert!(
            owners.iter().all(|owners| *owners == 1),
            "with {count} shards some account is polled {:?} times",
            owners.iter().filter(|o| **o != 1).collect::<Vec<_>>()
        );
    }
    Ok(())
}

#[test]
fn an_account_keeps_its_shard_across_processes() {
    // Pinned values: a hash seeded per process would move accounts between
    // replicas on every restart.
    assert_eq!(Shard::of("111111111111", 3), Shard::of("111111111111", 3));
    let placed: Vec<u32> = ["111111111111", "222222222222", "333333333333"]
        .iter()
        .map(|id| Shard::of(id, 1000))
        .collect();
    let fnv1a = |id: &str| {
        id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let expected: Vec<u32> = ["111111111111", "222222222222", "333333333333"]
        .iter()
        .map(|id| (fnv1a(id) % 1000) as u32)
        .collect();
    assert_eq!(placed, expected);
}

#[test]
fn shard_flag_and_config_key_are_validated() {
    assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
    assert!(Shard::parse("3/3").is_err());
    assert!(Shard::parse("0/0").is_err());
    assert!(Shard::parse("two/3").is_err());
    assert!(Shard::parse("1").is_err());

    let config = config::parse("regions: [us-east-1]\nshard: { index: 2, count: 4 }\n");
    assert_eq!(config.map(|c| c.shard), Ok(Shard { index: 2, count: 4 }));
    let unsharded = config::parse("regions: [us-east-1]\n");
    assert_eq!(unsharded.map(|c| c.shard), Ok(Shard::default()));
    let problems = |yaml: &str| match config::parse(&format!("regions: [us-east-1]\n{yaml}")) {
        Ok(_) => Vec::new(),
        Err(err) => err
            .problems
            .iter()
            .map(|p| p.path.clone())
            .collect::<Vec<_>>(),
    };
    assert_eq!(problems("shard: { index: 4, count: 4 }\n"), ["shard.index"]);
    assert_eq!(problems("shard: { index: 0, count: 0 }\n"), ["shard.count"]);
    assert_eq!(
        problems("shard: { index: -1, count: 2 }\n"),
        ["shard.index"]
    );
    assert!(!problems("shard: { index: 0 }\n").is_empty());
    assert!(!problems("shard: { index: 0, count: 2, seed: 1 }\n").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_an_organization_costs_a_request_per_unit_not_per_account()
-> Result<(), discovery::BenchError> {
    // 100 accounts in 10 units: every parent holds at most 20 accounts and
    // 20 units, so each listing is one page.
    let figures =
        discovery::discovery_figures(100, 10, std::time::Duration::ZERO, 100.0, true).await?;
    let [baseline, exporter, with_tags] = figures.readings.as_slice() else {
        panic!("three readings expected, got {}", figures.readings.len());
    };
    let requests = |reading: &discovery::Reading, operation: &str| {
        reading.requests.get(operation).copied().unwrap_or(0)
    };
    // One root, and one listing of units and one of accounts per parent:
    // the root and its 10 units.
    assert_eq!(requests(exporter, "ListRoots"), 1);
    assert_eq!(requests(exporter, "ListOrganizationalUnitsForParent"), 11);
    assert_eq!(requests(exporter, "ListAccountsForParent"), 11);
    assert_eq!(exporter.total_requests(), 23);
    // The generated organization suspends every 25th of its 100 accounts;
    // the management account joins them.
    assert_eq!(exporter.accounts, 97);
    // Tags cost one request per active account.
    assert_eq!(requests(with_tags, "ListTagsForResource"), 97);
    assert_eq!(with_tags.total_requests(), 23 + 97);
    // The baseline asks where each of the 101 accounts sits.
    assert_eq!(baseline.accounts, 101);
    assert!(requests(baseline, "ListParents") >= 101);
    assert_eq!(requests(baseline, "ListAccounts"), 6);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_cost_a_listing_page_per_fifty_and_never_a_value_read()
-> Result<(), sources::BenchError> {
    // 3 accounts x 2 regions with 60 parameters each: two pages per target.
    // Tags (one request per parameter) are counted by tests/ssm_parameters.rs.
    let inventory = sources::Inventory::Parameters { with_tags: false };
    let figures = sources::source_figures(inventory, 3, 2, 60, std::time::Duration::ZERO).await?;
    let [secrets_only, listed] = figures.readings.as_slice() else {
        panic!("two readings expected, got {}", figures.readings.len());
    };
    let requests = |reading: &sources::Reading, operation: &str| {
        reading.requests.get(operation).copied().unwrap_or(0)
    };
    assert_eq!(requests(secrets_only, "DescribeParameters"), 0);
    assert_eq!(secrets_only.resource_series, 0);
    assert_eq!(requests(listed, "DescribeParameters"), 6 * 2);
    assert_eq!(requests(listed, "ListTagsForResource"), 0);
    assert_eq!(listed.resource_series, 360);
    for reading in &figures.readings {
        for operation in ["GetParameter", "GetParameters", "GetParametersByPath"] {
            assert_eq!(
                requests(reading, operation),
                0,
                "{}: {operation}",
                reading.name
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_and_vpcs_cost_four_requests_a_target() -> Result<(), sources::BenchError> {
    // 3 accounts x 2 regions with 6 databases (2 of them clusters of two
    // members) and 6 VPCs each: one page of each listing per target.
    let figures = sources::source_figures(
        sources::Inventory::Databases,
        3,
        2,
        6,
        std::time::Duration::ZERO,
    )
    .await?;
    let [secrets_only, listed] = figures.readings.as_slice() else {
        panic!("two readings expected, got {}", figures.readings.len());
    };
    let requests = |reading: &sources::Reading, operation: &str| {
        reading.requests.get(operation).copied().unwrap_or(0)
    };
    for operation in [
        "DescribeDBClusters",
        "DescribeDBInstances",
        "DescribeVpcs",
        "DescribeVpcEndpoints",
    ] {
        assert_eq!(requests(secrets_only, operation), 0, "{operation}");
        assert_eq!(requests(listed, operation), 6, "{operation}");
    }
    assert_eq!(secrets_only.resource_series, 0);
    // 6 databases (members stand behind their clusters) and 6 VPCs a target.
    assert_eq!(listed.resource_series, 6 * 12);
    Ok(())
}
