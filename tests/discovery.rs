//! Account discovery through AWS Organizations, end to end against the
//! simulator: which accounts become targets, how a refresh adds and drops
//! them while the exporter runs, what a failing Organizations leaves, and
//! how replicas split a discovered organization.

mod common;

use std::collections::BTreeSet;

use chrono::Utc;
use common::{Exposition, Harness, run_check, scrape_until};
use secrets_rotation_exporter::app::Exporter;
use secrets_rotation_exporter::config;
use secrets_rotation_exporter::demo::simulator_sdk_config;
use simulator::{
    AccountState, Fault, FaultRule, Fleet, OrgAccount, OrgUnit, Organization, SecretSpec,
};

const MANAGEMENT: &str = "999999999999";
/// The delegated administrator discovery reads the organization from.
const DELEGATED: &str = "888888888888";
const WORKLOADS_ACCOUNT: &str = "111111111111";
const PROD_ACCOUNT: &str = "222222222222";
const PROD_SUSPENDED: &str = "222222222223";
const PROD_CLOSING: &str = "222222222224";
const LEGACY_ACCOUNT: &str = "333333333333";
const DEV_ACCOUNT: &str = "555555555555";
const DEV_EXCLUDED: &str = "555555555556";
const SANDBOX_ACCOUNT: &str = "444444444444";
const REGION: &str = "us-east-1";

const ROOT_ID: &str = "r-ab12";
const WORKLOADS_ID: &str = "ou-ab12-11111111";
const PROD_ID: &str = "ou-ab12-22222222";
const LEGACY_ID: &str = "ou-ab12-33333333";
const DEV_ID: &str = "ou-ab12-55555555";
const SANDBOX_ID: &str = "ou-ab12-44444444";

/// Root > Workloads > Prod > Legacy, Root > Workloads > Dev, Root >
/// Sandbox: three levels below the root, with a suspended and a closing
/// account in Prod, and a secret in every account.
fn fleet() -> Fleet {
    let organization = Organization::new()
        .management_account(MANAGEMENT)
        .delegated_administrator(DELEGATED)
        .root_id(ROOT_ID)
        .unit(
            OrgUnit::new("Workloads")
                .id(WORKLOADS_ID)
                .accounts([WORKLOADS_ACCOUNT])
                .unit(
                    OrgUnit::new("Prod")
                        .id(PROD_ID)
                        .accounts([PROD_ACCOUNT, PROD_SUSPENDED, PROD_CLOSING])
                        .unit(
                            OrgUnit::new("Legacy")
                                .id(LEGACY_ID)
                                .accounts([LEGACY_ACCOUNT]),
                        ),
                )
                .unit(
                    OrgUnit::new("Dev")
                        .id(DEV_ID)
                        .accounts([DEV_ACCOUNT, DEV_EXCLUDED]),
                ),
        )
        .unit(
            OrgUnit::new("Sandbox")
                .id(SANDBOX_ID)
                .accounts([SANDBOX_ACCOUNT]),
        )
        .account(OrgAccount::new(DELEGATED).name("security-tooling"))
        .account(
            OrgAccount::new(PROD_ACCOUNT)
                .name("payments-prod")
                .tag("cost-center", "cc-42"),
        )
        .account(OrgAccount::new(PROD_SUSPENDED).state(AccountState::Suspended))
        .account(OrgAccount::new(PROD_CLOSING).state(AccountState::PendingClosure));
    let mut builder = Fleet::builder()
        .base_account(MANAGEMENT)
        .regions([REGION])
        .organization(organization);
    for account in [
        WORKLOADS_ACCOUNT,
        PROD_ACCOUNT,
        PROD_SUSPENDED,
        PROD_CLOSING,
        LEGACY_ACCOUNT,
        DEV_ACCOUNT,
        DEV_EXCLUDED,
        SANDBOX_ACCOUNT,
    ] {
        builder = builder
            .account(account)
            .region(REGION)
            .secret(SecretSpec::new(format!("app-{account}/db")).tag("team", "payments"));
    }
    builder.build().expect("fleet builds")
}

/// The exporter's configuration for the fleet above: the Workloads subtree
/// less Legacy and one Dev account, read from the delegated administrator.
fn config_yaml(extra: &str) -> String {
    format!(
        r#"
poll_interval: 5m
regions: [{REGION}]
cloudtrail: {{ enabled: false }}
labels: {{ account_tags: [cost-center] }}
discovery:
  organizations:
    role_arn: arn:aws:iam::{DELEGATED}:role/secrets-rotation-org-reader
    member_role_name: secrets-rotation-reader
    include_ous: [{WORKLOADS_ID}]
    exclude_ous: [{LEGACY_ID}]
    exclude_accounts: ["{DEV_EXCLUDED}"]
    requests_per_second: 50
{extra}"#
    )
}

fn polled_accounts(exporter: &Exporter) -> Vec<String> {
    exporter
        .targets
        .current()
        .accounts
        .iter()
        .map(|account| account.account_id.clone())
        .collect()
}

fn secret_accounts(exposition: &Exposition) -> BTreeSet<String> {
    exposition.secret_accounts().into_iter().collect()
}

fn organizations_up(exposition: &Exposition) -> f64 {
    exposition.value(
        "secrets_rotation_exporter_target_up",
        &[
            ("account_id", DELEGATED),
            ("region", REGION),
            ("source", "organizations"),
        ],
    )
}

/// Refreshes the organization and polls, as `check` does.
async fn refresh_and_poll(harness: &Harness) -> bool {
    let discovery = harness
        .exporter
        .discovery
        .as_ref()
        .expect("discovery is on");
    let refreshed = discovery.refresh_once(Utc::now()).await;
    harness.exporter.poller.poll_once(Utc::now()).await;
    refreshed
}

#[tokio::test]
async fn an_included_subtree_less_an_excluded_unit_and_account_gives_exactly_its_active_accounts() {
    let harness = Harness::start(fleet(), &config_yaml("")).await;
    assert!(refresh_and_poll(&harness).await);

    let expected = [WORKLOADS_ACCOUNT, PROD_ACCOUNT, DEV_ACCOUNT];
    assert_eq!(polled_accounts(&harness.exporter), expected);
    let exposition = harness.scrape().await;
    assert_eq!(
        secret_accounts(&exposition),
        expected.iter().map(|id| (*id).to_owned()).collect()
    );
    for never in [
        PROD_SUSPENDED,
        PROD_CLOSING,
        LEGACY_ACCOUNT,
        DEV_EXCLUDED,
        SANDBOX_ACCOUNT,
    ] {
        assert_eq!(
            exposition.count(
                "secrets_rotation_exporter_target_up",
                &[("account_id", never)]
            ),
            0,
            "{never} must not be a target"
        );
    }
    // Each account is described once, with its place and chosen tag.
    assert_eq!(
        exposition.value(
            "aws_account_info",
            &[
                ("account_id", PROD_ACCOUNT),
                ("account_name", "payments-prod"),
                ("ou_path", "Root/Workloads/Prod"),
                ("tag_cost_center", "cc-42"),
            ],
        ),
        1.0
    );
    assert_eq!(
        exposition.count(
            "aws_account_info",
            &[
                ("account_id", DEV_ACCOUNT),
                ("ou_path", "Root/Workloads/Dev")
            ]
        ),
        1
    );
    assert_eq!(exposition.count("aws_account_info", &[]), 3);
    assert_eq!(organizations_up(&exposition), 1.0);
    // Every member account was entered through its member role.
    let assumed: BTreeSet<String> = harness
        .simulator
        .assume_role_calls()
        .into_iter()
        .map(|call| call.role_arn)
        .collect();
    for account in expected {
        assert!(
            assumed.contains(&format!(
                "arn:aws:iam::{account}:role/secrets-rotation-reader"
            )),
            "{account} not read through its member role: {assumed:?}"
        );
    }
    // Organizations was read from the delegated administrator, and the
    // excluded subtree and the units outside the included one were never
    // asked for their accounts.
    assert_eq!(
        harness
            .simulator
            .requests_by_account("ListAccountsForParent", DELEGATED),
        harness.simulator.requests("ListAccountsForParent")
    );
    assert_eq!(harness.simulator.requests("ListAccountsForParent"), 3);
    assert_eq!(harness.simulator.requests("ListAccounts"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_polls_an_added_account_at_once_and_drops_one_moved_to_an_excluded_unit() {
    // Short intervals, and the exporter running as `serve` runs it: the
    // poller's and discovery's own loops, nothing driven by hand.
    let harness = Harness::start(
        fleet(),
        &config_yaml("").replace(
            "requests_per_second: 50",
            "requests_per_second: 50\n    refresh_interval: 1m",
        ),
    )
    .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut poll_stop = stopped.clone();
    let polling = tokio::spawn(harness.exporter.poller.clone().run(async move {
        let _ = poll_stop.wait_for(|stop| *stop).await;
    }));
    let discovering = harness
        .exporter
        .discovery
        .clone()
        .expect("discovery is on")
        .start(stopped.clone());

    let first = scrape_until(&harness.metrics_url, "the three accounts polled", |e| {
        secret_accounts(e).len() == 3
    })
    .await;
    assert!(secret_accounts(&first).contains(PROD_ACCOUNT));

    // A new account in Dev, and Prod's account moved under Legacy.
    const ADDED: &str = "666666666666";
    harness
        .simulator
        .add_organization_account(DEV_ID, OrgAccount::new(ADDED).name("new-team"))
        .expect("account added");
    harness
        .simulator
        .put_secret(ADDED, REGION, SecretSpec::new("new-team/api-key"))
        .expect("secret added");
    harness
        .simulator
        .move_organization_account(PROD_ACCOUNT, LEGACY_ID)
        .expect("account moved");
    // The next refresh, as its interval would bring it, without waiting a
    // minute: the poller's loop reacts to the new list on its own.
    let discovery = harness
        .exporter
        .discovery
        .as_ref()
        .expect("discovery is on");
    assert!(discovery.refresh_once(Utc::now()).await);
    let after = scrape_until(
        &harness.metrics_url,
        "the added account polled and the moved one dropped",
        |e| {
            let accounts = secret_accounts(e);
            accounts.contains(ADDED) && !accounts.contains(PROD_ACCOUNT)
        },
    )
    .await;
    assert_eq!(
        after.count("aws_account_info", &[("account_id", PROD_ACCOUNT)]),
        0
    );
    assert_eq!(
        after.count(
            "secrets_rotation_exporter_target_up",
            &[("account_id", PROD_ACCOUNT)]
        ),
        0
    );
    assert_eq!(
        after.count(
            "secrets_rotation_exporter_errors_total",
            &[("account_id", PROD_ACCOUNT)]
        ),
        0
    );
    assert_eq!(
        after.value(
            "aws_account_info",
            &[("account_id", ADDED), ("account_name", "new-team")]
        ),
        1.0
    );
    assert_eq!(
        polled_accounts(&harness.exporter),
        [WORKLOADS_ACCOUNT, DEV_ACCOUNT, ADDED]
    );

    let _ = stop.send(true);
    let _ = polling.await;
    let _ = discovering.await;
}

#[tokio::test]
async fn organizations_throttled_then_denied_keeps_every_target_until_it_recovers() {
    let harness = Harness::start(fleet(), &config_yaml("aws: { max_attempts: 2 }\n")).await;
    assert!(refresh_and_poll(&harness).await);
    let before = harness.scrape().await;
    let accounts_before = secret_accounts(&before);
    assert_eq!(accounts_before.len(), 3);

    let discovery = harness
        .exporter
        .discovery
        .as_ref()
        .expect("discovery is on");
    for (fault, reason) in [
        (Fault::Throttling, "throttled"),
        (Fault::AccessDenied, "access_denied"),
    ] {
        harness.simulator.clear_faults();
        harness
            .simulator
            .fail(FaultRule::new(fault).operation("ListAccountsForParent"));
        assert!(!discovery.refresh_once(Utc::now()).await, "{reason}");
        harness.exporter.poller.poll_once(Utc::now()).await;
        let during = harness.scrape().await;
        assert_eq!(secret_accounts(&during), accounts_before, "{reason}");
        assert_eq!(during.count("aws_account_info", &[]), 3, "{reason}");
        assert_eq!(organizations_up(&during), 0.0, "{reason}");
        assert!(
            during.value(
                "secrets_rotation_exporter_errors_total",
                &[("source", "organizations"), ("reason", reason)]
            ) >= 1.0,
            "{reason} counted"
        );
        assert_eq!(polled_accounts(&harness.exporter).len(), 3);
    }

    harness.simulator.clear_faults();
    assert!(discovery.refresh_once(Utc::now()).await);
    harness.exporter.poller.republish(Utc::now());
    let after = harness.scrape().await;
    assert_eq!(organizations_up(&after), 1.0);
    assert_eq!(secret_accounts(&after), accounts_before);
}

#[tokio::test]
async fn replicas_cover_a_discovered_organization_exactly_once() {
    let organization = Organization::generated(60, 8).management_account(MANAGEMENT);
    let fleet = Fleet::builder()
        .base_account(MANAGEMENT)
        .regions([REGION])
        .organization(organization)
        .build()
        .expect("fleet builds");
    let simulator = simulator::start(fleet, ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let expected: BTreeSet<String> = {
        let yaml = "regions: [us-east-1]\ncloudtrail: { enabled: false }\ndiscovery:\n  organizations:\n    member_role_name: reader\n    requests_per_second: 50\n";
        let exporter = Exporter::build(
            config::parse(yaml).expect("config"),
            simulator_sdk_config(&simulator).await,
        )
        .await
        .expect("exporter builds");
        assert!(
            exporter
                .discovery
                .as_ref()
                .expect("discovery")
                .refresh_once(Utc::now())
                .await
        );
        polled_accounts(&exporter).into_iter().collect()
    };
    // 60 generated accounts, every 25th suspended, and the management account.
    assert_eq!(expected.len(), 59);
    for count in 1..=5u32 {
        let mut owners: Vec<String> = Vec::new();
        for index in 0..count {
            let yaml = format!(
                "regions: [us-east-1]\ncloudtrail: {{ enabled: false }}\nshard: {{ index: {index}, count: {count} }}\ndiscovery:\n  organizations:\n    member_role_name: reader\n    requests_per_second: 50\n"
            );
            let exporter = Exporter::build(
                config::parse(&yaml).expect("config"),
                simulator_sdk_config(&simulator).await,
            )
            .await
            .expect("exporter builds");
            assert!(
                exporter
                    .discovery
                    .as_ref()
                    .expect("discovery")
                    .refresh_once(Utc::now())
                    .await
            );
            owners.extend(polled_accounts(&exporter));
        }
        let distinct: BTreeSet<String> = owners.iter().cloned().collect();
        assert_eq!(owners.len(), distinct.len(), "{count} replicas overlap");
        assert_eq!(distinct, expected, "{count} replicas miss accounts");
    }
    simulator.shutdown().await;
}

#[tokio::test]
async fn organizations_answers_that_cannot_be_trusted_fail_the_refresh_or_skip_the_entry() {
    // 60 accounts over the root and one unit: 30 and more per parent, so
    // each listing of accounts takes two pages.
    let organization = Organization::generated(60, 1).management_account(MANAGEMENT);
    let fleet = Fleet::builder()
        .base_account(MANAGEMENT)
        .regions([REGION])
        .organization(organization)
        .build()
        .expect("fleet builds");
    let yaml = format!(
        "regions: [{REGION}]\ncloudtrail: {{ enabled: false }}\naws: {{ max_attempts: 1 }}\n\
         discovery:\n  organizations:\n    member_role_name: reader\n    requests_per_second: 100\n"
    );
    let harness = Harness::start(fleet, &yaml).await;
    let discovery = harness
        .exporter
        .discovery
        .as_ref()
        .expect("discovery is on");
    assert!(discovery.refresh_once(Utc::now()).await);
    harness.exporter.poller.poll_once(Utc::now()).await;
    let accounts = polled_accounts(&harness.exporter);
    // 60 generated, two of them suspended, and the management account.
    assert_eq!(accounts.len(), 59);
    let up = |exposition: &Exposition| {
        exposition.value(
            "secrets_rotation_exporter_target_up",
            &[
                ("account_id", MANAGEMENT),
                ("region", REGION),
                ("source", "organizations"),
            ],
        )
    };
    let invalid = |exposition: &Exposition| {
        exposition.value(
            "secrets_rotation_exporter_errors_total",
            &[("source", "organizations"), ("reason", "invalid_response")],
        )
    };
    let mut counted = invalid(&harness.scrape().await);
    // A listing whose second page hands back the token it was asked with,
    // and a body cut in half: the refresh fails as invalid_response and
    // every account stays.
    for fault in [Fault::RepeatNextToken, Fault::MalformedBody] {
        harness.simulator.clear_faults();
        harness
            .simulator
            .fail(FaultRule::new(fault).operation("ListAccountsForParent"));
        assert!(!discovery.refresh_once(Utc::now()).await, "{fault:?}");
        harness.exporter.poller.republish(Utc::now());
        let exposition = harness.scrape().await;
        assert_eq!(up(&exposition), 0.0, "{fault:?}");
        assert!(invalid(&exposition) > counted, "{fault:?} counted");
        counted = invalid(&exposition);
        assert_eq!(polled_accounts(&harness.exporter), accounts, "{fault:?}");
    }
    // An account listed twice is used once and counted; the refresh is good.
    harness.simulator.clear_faults();
    harness
        .simulator
        .fail(FaultRule::new(Fault::DuplicateEntry).operation("ListAccountsForParent"));
    assert!(discovery.refresh_once(Utc::now()).await);
    harness.exporter.poller.republish(Utc::now());
    let exposition = harness.scrape().await;
    assert_eq!(up(&exposition), 1.0);
    assert!(invalid(&exposition) > counted);
    assert_eq!(polled_accounts(&harness.exporter), accounts);
}

#[tokio::test]
async fn check_discovers_once_and_cannot_evaluate_when_organizations_is_denied() {
    let simulator = simulator::start(fleet(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let run = run_check(&simulator, &config_yaml(""), "json").await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("no JSON ({err}): {}\n{}", run.stdout, run.stderr));
    let accounts: Vec<(&str, &str)> = report["accounts"]
        .as_array()
        .expect("accounts listed")
        .iter()
        .map(|a| {
            (
                a["account_id"].as_str().unwrap_or_default(),
                a["ou_path"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        accounts,
        [
            (WORKLOADS_ACCOUNT, "Root/Workloads"),
            (PROD_ACCOUNT, "Root/Workloads/Prod"),
            (DEV_ACCOUNT, "Root/Workloads/Dev"),
        ]
    );
    assert_eq!(report["summary"]["secrets"], 3);
    // The fleet's secrets never rotate: judged, and non-compliant.
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(simulator.requests("ListRoots"), 1, "check discovers once");

    simulator.fail(FaultRule::new(Fault::AccessDenied).operation("ListRoots"));
    let denied = run_check(&simulator, &config_yaml(""), "json").await;
    assert_eq!(denied.code, Some(2), "{}", denied.stdout);
    let report: serde_json::Value = serde_json::from_str(&denied.stdout).expect("JSON");
    let organizations = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|row| row["source"] == "organizations")
        .expect("an organizations row");
    assert_eq!(organizations["up"], false);
    assert_eq!(organizations["error"]["reason"], "access_denied");
    simulator.shutdown().await;
}
