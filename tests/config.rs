//! Configuration fixtures: every `*.ok.yaml` must load, every `*.bad.yaml`
//! must fail with exactly the lines of its sibling `*.bad.expected`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use secrets_rotation_exporter::config::{
    self, Config, Discovery, OrganizationsDiscovery, parse_duration,
};
use secrets_rotation_exporter::metrics;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

fn fixtures_ending_with(suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory is readable")
        .map(|entry| entry.expect("fixture entry is readable").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

fn load_fixture(name: &str) -> Config {
    let path = fixtures_dir().join(name);
    config::load(&path).unwrap_or_else(|err| panic!("{} should load:\n{err}", path.display()))
}

#[test]
fn every_ok_fixture_loads() {
    let files = fixtures_ending_with(".ok.yaml");
    assert!(
        files.len() >= 4,
        "expected the ok fixtures, found {files:?}"
    );
    for path in files {
        if let Err(err) = config::load(&path) {
            panic!("{} should load:\n{err}", path.display());
        }
    }
}

#[test]
fn every_bad_fixture_fails_with_its_expected_lines() {
    let files = fixtures_ending_with(".bad.yaml");
    assert!(
        files.len() >= 14,
        "expected the bad fixtures, found {files:?}"
    );
    for path in files {
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|err| panic!("{}: {err}", expected_path.display()));
        match config::load(&path) {
            Ok(_) => panic!("{} should not load", path.display()),
            Err(err) => assert_eq!(
                err.to_string(),
                expected.trim_end(),
                "error of {}",
                path.display()
            ),
        }
    }
}

#[test]
fn every_bad_fixture_has_an_expected_file_and_the_reverse() {
    for path in fixtures_ending_with(".bad.yaml") {
        assert!(
            path.with_extension("expected").is_file(),
            "{} has no .expected sibling",
            path.display()
        );
    }
    for path in fixtures_ending_with(".bad.expected") {
        assert!(
            path.with_extension("yaml").is_file(),
            "{} has no .yaml sibling",
            path.display()
        );
    }
}

#[test]
fn the_spec_example_gives_the_documented_values() {
    let config = load_fixture("full.ok.yaml");
    assert_eq!(config.poll_interval, 5 * MINUTE);
    assert_eq!(config.regions, ["us-east-1", "eu-west-1"]);

    let [account] = config.accounts.as_slice() else {
        panic!("one account expected, got {:?}", config.accounts);
    };
    assert_eq!(account.id, "111111111111");
    assert_eq!(
        account.role_arn.as_deref(),
        Some("arn:aws:iam::111111111111:role/secrets-rotation-reader")
    );
    assert_eq!(account.external_id.as_deref(), Some("optional-external-id"));
    assert_eq!(account.regions, ["us-east-1"]);
    assert_eq!(account.name.as_deref(), Some("payments-prod"));

    let defaults = &config.policy.defaults;
    assert_eq!(defaults.max_rotation_interval, 30 * DAY);
    assert_eq!(defaults.max_age, 30 * DAY);
    assert_eq!(defaults.overdue_grace, 24 * HOUR);
    assert_eq!(defaults.pending_timeout, 6 * HOUR);
    assert_eq!(defaults.unused_after, 90 * DAY);
    assert!(defaults.require_customer_managed_key);
    assert!(defaults.required_tags.is_empty());
    assert_eq!(config.policy.exempt_tag, "rotation-exempt");

    let [dev] = config.policy.overrides.as_slice() else {
        panic!("one override expected");
    };
    assert_eq!(
        dev.matcher.tags.get("environment").map(String::as_str),
        Some("dev")
    );
    assert_eq!(dev.thresholds.max_age, Some(90 * DAY));
    assert_eq!(dev.thresholds.max_rotation_interval, Some(90 * DAY));
    assert_eq!(dev.thresholds.overdue_grace, None);

    assert!(config.cloudtrail.enabled);
    assert_eq!(config.cloudtrail.lookback, 7 * DAY);
    assert_eq!(config.cloudtrail.requests_per_second, 1.0);
    assert!(!config.cloudwatch.enabled);
    assert_eq!(config.cloudwatch.namespace, "SecretsRotation");
    assert!(!config.cloudwatch.alarms.manage);
    assert_eq!(config.cloudwatch.alarms.prefix, "secrets-rotation-");
    assert_eq!(config.labels.tags, ["environment", "team"]);
}

#[test]
fn the_spec_example_equals_the_defaults_plus_its_targets() {
    // Every value SPEC.md writes out is also the default, so leaving the
    // keys out must give the same policy and integrations.
    let spelled_out = load_fixture("full.ok.yaml");
    let minimal = config::parse(
        "regions: [us-east-1]\npolicy:\n  overrides:\n    - match: { tags: { environment: dev } }\n      max_age: 90d\n      max_rotation_interval: 90d\nlabels: { tags: [environment, team] }\n",
    )
    .expect("minimal config parses");
    assert_eq!(minimal.policy, spelled_out.policy);
    assert_eq!(minimal.cloudtrail, spelled_out.cloudtrail);
    assert_eq!(minimal.cloudwatch, spelled_out.cloudwatch);
    assert_eq!(minimal.labels, spelled_out.labels);
    assert_eq!(minimal.poll_interval, spelled_out.poll_interval);
}

#[test]
fn aws_settings_default_when_the_section_is_absent() {
    let config = load_fixture("minimal.ok.yaml");
    assert!(config.accounts.is_empty());
    let aws = &config.aws;
    assert_eq!(aws.connect_timeout, Duration::from_secs(5));
    assert_eq!(aws.operation_timeout, Duration::from_secs(30));
    assert_eq!(aws.target_timeout, 2 * MINUTE);
    assert_eq!(aws.max_concurrent_targets, 32);
    assert_eq!(aws.max_attempts, 3);
    assert_eq!(aws.role_session_name, "secrets-rotation-exporter");
}

#[test]
fn an_unset_target_timeout_shrinks_below_a_short_poll_interval() {
    let config = load_fixture("no-accounts.ok.yaml");
    assert_eq!(config.poll_interval, MINUTE);
    assert_eq!(config.aws.target_timeout, Duration::from_secs(48));
    assert_eq!(config.regions, ["us-gov-west-1", "cn-north-1"]);
}

#[test]
fn a_target_timeout_must_leave_part_of_the_poll_interval_free() {
    let shortest = config::parse("poll_interval: 30s\nregions: [us-east-1]\n")
        .expect("the shortest poll interval loads with the default target timeout");
    assert_eq!(shortest.aws.target_timeout, Duration::from_secs(24));

    let just_under =
        config::parse("poll_interval: 1m\nregions: [us-east-1]\naws: { target_timeout: 59s }\n")
            .expect("a target timeout below the poll interval loads");
    assert_eq!(just_under.aws.target_timeout, Duration::from_secs(59));

    let whole =
        config::parse("poll_interval: 1m\nregions: [us-east-1]\naws: { target_timeout: 1m }\n")
            .expect_err("a target timeout of the whole interval is rejected");
    assert_eq!(
        whole.to_string(),
        "aws.target_timeout: must be shorter than poll_interval, 1m (got 1m)"
    );
}

#[test]
fn a_200_kb_nested_list_is_rejected_before_the_yaml_parser_reads_it() {
    let depth = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested.yaml");
    let yaml = format!("regions: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(&path, &yaml).expect("write");

    let started = Instant::now();
    let err = config::load(&path).expect_err("a 100,000-deep list is rejected");
    let elapsed = started.elapsed();
    println!(
        "{} bytes nested {depth} deep rejected in {elapsed:?}",
        yaml.len()
    );

    assert_eq!(
        err.to_string(),
        "line 1: collections nested more than 64 levels deep (column 73)"
    );
    // The parser's time grows with the square of the depth, the scan's
    // only with the length: the loose bound catches a return of the first
    // without failing on a busy machine.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn a_file_over_1_mib_is_rejected_naming_it_and_one_of_1_mib_is_read() {
    const MIB: usize = 1024 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let document = "regions: [us-east-1]\n#";
    let padded = |len: usize| format!("{document}{}", " ".repeat(len - document.len()));

    let at_limit = dir.path().join("at-limit.yaml");
    std::fs::write(&at_limit, padded(MIB)).expect("write");
    config::load(&at_limit).unwrap_or_else(|err| panic!("a 1 MiB file loads: {err}"));

    let over = dir.path().join("over.yaml");
    std::fs::write(&over, padded(MIB + 1)).expect("write");
    let err = config::load(&over).expect_err("a file over 1 MiB is rejected");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: file is larger than 1 MiB, far more than a configuration needs",
            over.display()
        )
    );
}

#[test]
fn the_overrides_fixture_gives_typed_overrides_and_settings() {
    let config = load_fixture("overrides.ok.yaml");
    assert_eq!(config.poll_interval, 10 * MINUTE);

    // An account without its own regions inherits the top-level list.
    assert_eq!(config.accounts[0].regions, ["us-east-1", "eu-central-2"]);
    assert_eq!(config.accounts[1].regions, ["ap-southeast-4"]);
    assert_eq!(config.accounts[1].role_arn, None);

    assert_eq!(config.policy.defaults.max_age, 45 * DAY);
    assert_eq!(config.policy.defaults.max_rotation_interval, 30 * DAY);
    assert_eq!(
        config.policy.defaults.required_tags,
        ["team", "cost-center"]
    );

    let overrides = &config.policy.overrides;
    assert_eq!(overrides.len(), 3);

    let legacy = &overrides[0];
    let glob = legacy
        .matcher
        .name_glob
        .as_ref()
        .expect("name glob compiled");
    assert!(glob.is_match("legacy/db/password"));
    assert!(!glob.is_match("prod/legacy/db"));
    assert_eq!(legacy.thresholds.require_customer_managed_key, Some(false));
    assert_eq!(legacy.thresholds.max_rotation_interval, Some(7 * DAY));
    assert_eq!(legacy.thresholds.max_age, None);

    let regional = &overrides[1];
    assert_eq!(regional.matcher.account.as_deref(), Some("333333333333"));
    assert_eq!(regional.matcher.region.as_deref(), Some("ap-southeast-4"));
    assert!(regional.matcher.name_glob.is_none());
    assert_eq!(regional.thresholds.unused_after, Some(180 * DAY));
    assert_eq!(
        regional.thresholds.pending_timeout,
        Some(HOUR + 30 * MINUTE)
    );
    assert_eq!(regional.thresholds.overdue_grace, Some(12 * HOUR));

    let tagged = &overrides[2];
    assert_eq!(tagged.matcher.tags.len(), 2);
    assert_eq!(tagged.thresholds.required_tags.as_deref(), Some(&[][..]));
    assert_eq!(tagged.thresholds.max_age, Some(90 * DAY));

    assert!(!config.cloudtrail.enabled);
    assert_eq!(config.cloudtrail.requests_per_second, 2.0);
    assert!(config.cloudwatch.alarms.manage);
    assert_eq!(
        config.cloudwatch.alarms.actions,
        ["arn:aws:sns:us-east-1:222222222222:pager"]
    );
    assert_eq!(config.aws.target_timeout, 5 * MINUTE);
    assert_eq!(config.aws.max_concurrent_targets, 8);
    assert_eq!(config.aws.max_attempts, 5);
    assert_eq!(config.aws.role_session_name, "sre-secrets-audit");
}

#[test]
fn empty_documents_fail_only_for_lack_of_regions() {
    for text in ["", "{}", "~", "# nothing\n"] {
        let err = config::parse(text).expect_err("no regions");
        assert_eq!(err.problems.len(), 1, "{text:?}: {err}");
        assert_eq!(err.problems[0].path, "regions", "{text:?}");
    }
}

#[test]
fn a_missing_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("absent.yaml");
    let err = config::load(&path).expect_err("missing file");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: cannot read file", path.display())),
        "{text}"
    );
}

#[test]
fn tag_labels_replace_every_other_character_with_underscores() {
    assert_eq!(metrics::tag_label_name("team"), "tag_team");
    assert_eq!(metrics::tag_label_name("cost-center"), "tag_cost_center");
    assert_eq!(
        metrics::tag_label_name("aws:cloudformation:stack"),
        "tag_aws_cloudformation_stack"
    );
    assert_eq!(metrics::tag_label_name("Ünit 1"), "tag__nit_1");
}

/// The error lines of a document that must not load.
fn problems_of(yaml: &str) -> String {
    match config::parse(yaml) {
        Ok(config) => panic!("should not load:\n{yaml}\ngot {config:?}"),
        Err(err) => err.to_string(),
    }
}

/// A document with one region and `discovery.organizations` holding the
/// required `member_role_name` plus `keys` (each indented as an
/// `organizations` key).
fn with_organizations(keys: &str) -> String {
    format!(
        "regions: [us-east-1]\ndiscovery:\n  organizations:\n    member_role_name: reader\n{keys}"
    )
}

#[test]
fn a_full_discovery_section_gives_every_field() {
    let config = load_fixture("discovery.ok.yaml");
    assert_eq!(
        config.discovery,
        Discovery {
            organizations: Some(OrganizationsDiscovery {
                role_arn: Some(
                    "arn:aws:iam::999999999999:role/secrets-rotation-org-reader".to_string()
                ),
                external_id: Some("org-external-id".to_string()),
                member_role_name: "platform/secrets-rotation-reader".to_string(),
                member_external_id: Some("member-external-id".to_string()),
                include_ous: vec!["r-a1b2".to_string(), "ou-a1b2-c3d4e5f6".to_string()],
                exclude_ous: vec!["ou-a1b2-sandbox01".to_string()],
                exclude_accounts: vec!["222222222222".to_string()],
                refresh_interval: 30 * MINUTE,
                requests_per_second: 2.5,
            }),
        }
    );
    assert_eq!(config.labels.tags, ["environment", "team"]);
    assert_eq!(config.labels.account_tags, ["cost-center", "owner"]);
    assert_eq!(config.accounts.len(), 1);
}

#[test]
fn discovery_keys_default_to_an_hourly_read_of_the_whole_organization() {
    let config = config::parse(&with_organizations("")).expect("loads");
    assert_eq!(
        config.discovery.organizations,
        Some(OrganizationsDiscovery {
            role_arn: None,
            external_id: None,
            member_role_name: "reader".to_string(),
            member_external_id: None,
            include_ous: Vec::new(),
            exclude_ous: Vec::new(),
            exclude_accounts: Vec::new(),
            refresh_interval: HOUR,
            requests_per_second: 4.0,
        })
    );
    assert!(config.labels.account_tags.is_empty());
}

#[test]
fn discovery_without_organizations_discovers_nothing() {
    for text in [
        "regions: [us-east-1]\n",
        "regions: [us-east-1]\ndiscovery:\n",
        "regions: [us-east-1]\ndiscovery: {}\n",
    ] {
        let config = config::parse(text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert_eq!(
            config.discovery,
            Discovery {
                organizations: None
            },
            "{text:?}"
        );
    }
}

#[test]
fn unknown_discovery_keys_are_named_with_the_allowed_ones() {
    assert_eq!(
        problems_of("regions: [us-east-1]\ndiscovery:\n  organisations: {}\n"),
        "discovery.organisations: unknown field `organisations`, expected `organizations` at line 3 column 3"
    );
    assert_eq!(
        problems_of(&with_organizations("    refresh: 1h\n")),
        "discovery.organizations.refresh: unknown field `refresh`, expected one of `role_arn`, \
         `external_id`, `member_role_name`, `member_external_id`, `include_ous`, `exclude_ous`, \
         `exclude_accounts`, `refresh_interval`, `requests_per_second` at line 5 column 5"
    );
    assert_eq!(
        problems_of("regions: [us-east-1]\ndiscovery: [organizations]\n"),
        "discovery: invalid type: sequence, expected a mapping with organizations at line 2 column 12"
    );
    assert_eq!(
        problems_of("regions: [us-east-1]\nlabels: { account_tag: [owner] }\n"),
        "labels.account_tag: unknown field `account_tag`, expected `tags` or `account_tags` at line 2 column 11"
    );
}

#[test]
fn member_role_name_is_required_and_is_a_role_name_maybe_after_a_path() {
    const PATH: &str = "discovery.organizations.member_role_name";
    assert_eq!(
        problems_of("regions: [us-east-1]\ndiscovery:\n  organizations: {}\n"),
        format!(
            "{PATH}: is required: the role each discovered account is read through, \
             arn:<partition>:iam::<account>:role/<member_role_name>"
        )
    );
    let long_name = "r".repeat(65);
    let long_path = format!("{}/reader", "p".repeat(506));
    let cases = [
        (
            "\"\"",
            "must not be empty: it is the role each discovered account is read through".to_string(),
        ),
        (
            "/team/reader/",
            "must not start or end with \"/\": write a path and name as team/reader, not /team/reader/ (got \"/team/reader/\")"
                .to_string(),
        ),
        (
            "team/reader/",
            "must not start or end with \"/\": write a path and name as team/reader, not /team/reader/ (got \"team/reader/\")"
                .to_string(),
        ),
        (
            "team//reader",
            "must not have an empty segment between two \"/\" (got \"team//reader\")".to_string(),
        ),
        (
            "\"team/secrets reader\"",
            "must be a role name, maybe after a path: letters, digits and _+=,.@- in segments separated by \"/\" (got \"team/secrets reader\")"
                .to_string(),
        ),
        (
            long_name.as_str(),
            "the role name after the last \"/\" must be at most 64 characters (got 65)".to_string(),
        ),
        (
            long_path.as_str(),
            "must be at most 512 characters (got 513)".to_string(),
        ),
    ];
    for (name, message) in cases {
        let yaml = format!(
            "regions: [us-east-1]\ndiscovery:\n  organizations:\n    member_role_name: {name}\n"
        );
        assert_eq!(problems_of(&yaml), format!("{PATH}: {message}"), "{name}");
    }

    let longest_name = "r".repeat(64);
    let longest_path = format!("{}/reader", "p".repeat(505));
    for name in [
        "secrets-rotation-reader",
        "platform/secrets-rotation-reader",
        "a/b/c/R_e+a=d,e.r@x-1",
        longest_name.as_str(),
        longest_path.as_str(),
    ] {
        let yaml = format!(
            "regions: [us-east-1]\ndiscovery:\n  organizations:\n    member_role_name: {name}\n"
        );
        let config = config::parse(&yaml).unwrap_or_else(|err| panic!("{name}: {err}"));
        let organizations = config.discovery.organizations.expect("discovery");
        assert_eq!(organizations.member_role_name, name);
    }
}

#[test]
fn the_organizations_role_and_external_ids_follow_the_account_rules() {
    const PATH: &str = "discovery.organizations";
    let external_id_shape = "must be 2 to 1224 characters of letters, digits and _+=,.@:/-";
    let cases = [
        (
            "    role_arn: arn:aws:iam::99999999999:role/org-reader\n",
            format!(
                "{PATH}.role_arn: must look like arn:aws:iam::<12-digit account>:role/<name> (got \"arn:aws:iam::99999999999:role/org-reader\")"
            ),
        ),
        (
            "    external_id: org-external-id\n",
            format!("{PATH}.external_id: is only used when assuming role_arn, which is not set"),
        ),
        (
            "    external_id: x\n",
            format!(
                "{PATH}.external_id: is only used when assuming role_arn, which is not set\n\
                 {PATH}.external_id: {external_id_shape}"
            ),
        ),
        (
            "    role_arn: arn:aws:iam::999999999999:role/org-reader\n    external_id: \"a b\"\n",
            format!("{PATH}.external_id: {external_id_shape}"),
        ),
        (
            "    member_external_id: \"has spaces\"\n",
            format!("{PATH}.member_external_id: {external_id_shape}"),
        ),
    ];
    for (keys, expected) in cases {
        assert_eq!(problems_of(&with_organizations(keys)), expected, "{keys}");
    }

    // The member external id goes with the member role, so it needs no role_arn.
    let config = config::parse(&with_organizations(
        "    member_external_id: arn:aws:iam::1/x\n",
    ))
    .expect("loads");
    let organizations = config.discovery.organizations.expect("discovery");
    assert_eq!(organizations.role_arn, None);
    assert_eq!(
        organizations.member_external_id.as_deref(),
        Some("arn:aws:iam::1/x")
    );
}

#[test]
fn organizational_unit_ids_follow_the_aws_patterns_once_each() {
    const PATH: &str = "discovery.organizations";
    let shape = "must be a root id (r- and 4 to 32 lowercase letters or digits) or an OU id \
                 (ou-, 4 to 32 lowercase letters or digits, -, 8 to 32 more), such as r-a1b2 or ou-a1b2-c3d4e5f6";
    let longest_root = format!("r-{}", "a".repeat(32));
    let longest_ou = format!("ou-{}-{}", "a".repeat(32), "9".repeat(32));
    let config = config::parse(&with_organizations(&format!(
        "    include_ous: [r-a1b2, {longest_root}, ou-a1b2-c3d4e5f6]\n    exclude_ous: [{longest_ou}]\n"
    )))
    .expect("valid ids load");
    let organizations = config.discovery.organizations.expect("discovery");
    assert_eq!(
        organizations.include_ous,
        ["r-a1b2", longest_root.as_str(), "ou-a1b2-c3d4e5f6"]
    );
    assert_eq!(organizations.exclude_ous, [longest_ou.as_str()]);

    let too_long_root = format!("r-{}", "a".repeat(33));
    for id in [
        "r-abc",
        too_long_root.as_str(),
        "r-ABCD",
        "ou-abc-c3d4e5f6",
        "ou-a1b2-c3d4e5f",
        "ou-a1b2",
        "ou-a1b2-c3d4-e5f6g7h8",
        "a1b2-c3d4e5f6",
        "111111111111",
    ] {
        for key in ["include_ous", "exclude_ous"] {
            assert_eq!(
                problems_of(&with_organizations(&format!("    {key}: [\"{id}\"]\n"))),
                format!("{PATH}.{key}[0]: {shape} (got \"{id}\")"),
                "{key}: {id}"
            );
        }
    }

    assert_eq!(
        problems_of(&with_organizations(
            "    include_ous: [r-a1b2, ou-a1b2-c3d4e5f6, r-a1b2]\n    exclude_ous: [ou-a1b2-aaaaaaaa, ou-a1b2-aaaaaaaa]\n"
        )),
        format!(
            "{PATH}.include_ous[2]: duplicate id r-a1b2 (also {PATH}.include_ous[0])\n\
             {PATH}.exclude_ous[1]: duplicate id ou-a1b2-aaaaaaaa (also {PATH}.exclude_ous[0])"
        )
    );
    assert_eq!(
        problems_of(&with_organizations(
            "    include_ous: [r-a1b2, ou-a1b2-c3d4e5f6]\n    exclude_ous: [ou-a1b2-aaaaaaaa, ou-a1b2-c3d4e5f6]\n"
        )),
        format!(
            "{PATH}.exclude_ous[1]: ou-a1b2-c3d4e5f6 is also included ({PATH}.include_ous[1]): list it in one of the two"
        )
    );
}

#[test]
fn excluded_accounts_are_account_ids_once_each_and_never_explicit_ones() {
    const PATH: &str = "discovery.organizations.exclude_accounts";
    let yaml = "regions: [us-east-1]\naccounts:\n  - id: \"111111111111\"\n  - id: \"222222222222\"\n\
                discovery:\n  organizations:\n    member_role_name: reader\n    \
                exclude_accounts: [\"333333333333\", \"22222222222\", \"222222222222\", \"333333333333\", \"12345678901a\"]\n";
    assert_eq!(
        problems_of(yaml),
        format!(
            "{PATH}[1]: must be exactly 12 digits (got \"22222222222\")\n\
             {PATH}[2]: account 222222222222 is also listed in accounts[1], and explicit accounts are always polled: remove it from one of the two\n\
             {PATH}[3]: duplicate account 333333333333 (also {PATH}[0])\n\
             {PATH}[4]: must be exactly 12 digits (got \"12345678901a\")"
        )
    );
}

#[test]
fn the_organization_is_read_again_at_most_once_a_minute() {
    const PATH: &str = "discovery.organizations.refresh_interval";
    for (value, expected) in [
        ("59s", "must be at least 1m (got 59s)"),
        ("0", "must be at least 1m (got 0s)"),
        (
            "1.5h",
            "invalid duration \"1.5h\": use whole numbers (1h30m rather than 1.5h)",
        ),
    ] {
        assert_eq!(
            problems_of(&with_organizations(&format!(
                "    refresh_interval: {value}\n"
            ))),
            format!("{PATH}: {expected}"),
            "{value}"
        );
    }
    let config =
        config::parse(&with_organizations("    refresh_interval: 1m\n")).expect("1m loads");
    assert_eq!(
        config
            .discovery
            .organizations
            .expect("discovery")
            .refresh_interval,
        MINUTE
    );
}

#[test]
fn discovered_accounts_need_the_top_level_regions_in_one_problem() {
    let organizations = "discovery:\n  organizations:\n    member_role_name: reader\n";
    // No accounts: the problem is the discovered accounts, not the base account.
    assert_eq!(
        problems_of(organizations),
        "regions: must not be empty: accounts discovered in AWS Organizations are polled in these regions"
    );
    assert_eq!(
        problems_of(&format!("regions: []\n{organizations}")),
        "regions: must not be empty: accounts discovered in AWS Organizations are polled in these regions"
    );
    // Explicit accounts with their own regions do not cover discovered ones.
    assert_eq!(
        problems_of(&format!(
            "accounts:\n  - id: \"111111111111\"\n    regions: [us-east-1]\n{organizations}"
        )),
        "regions: must not be empty: accounts discovered in AWS Organizations are polled in these regions"
    );
    // Both reasons, one line.
    assert_eq!(
        problems_of(&format!(
            "accounts:\n  - id: \"111111111111\"\n  - id: \"222222222222\"\n{organizations}"
        )),
        "regions: must not be empty: accounts discovered in AWS Organizations are polled in these regions; \
         accounts[0], accounts[1] have no regions of their own"
    );
}

#[test]
fn account_tags_follow_the_tag_rules_and_need_discovery() {
    assert_eq!(
        problems_of(&with_organizations("").replace(
            "discovery:",
            "labels:\n  tags: [team, team]\n  account_tags: [team, cost-center, \"\", cost.center, owner, owner]\ndiscovery:"
        )),
        "labels.tags[1]: duplicate tag key \"team\" (also labels.tags[0])\n\
         labels.account_tags[2]: must not be empty\n\
         labels.account_tags[3]: tag key \"cost.center\" becomes label tag_cost_center, as does \"cost-center\" (labels.account_tags[1])\n\
         labels.account_tags[5]: duplicate tag key \"owner\" (also labels.account_tags[4])"
    );
    assert_eq!(
        problems_of("regions: [us-east-1]\nlabels: { account_tags: [cost-center] }\n"),
        "labels.account_tags: account tags are read from AWS Organizations, so they need discovery.organizations, which is not set"
    );
    assert_eq!(
        problems_of(
            "regions: [us-east-1]\nlabels: { account_tags: [cost-center] }\ndiscovery: {}\n"
        ),
        "labels.account_tags: account tags are read from AWS Organizations, so they need discovery.organizations, which is not set"
    );
    // The same key on both series is fine: they are different series.
    let config = config::parse(&with_organizations("").replace(
        "discovery:",
        "labels: { tags: [team], account_tags: [team], }\ndiscovery:",
    ))
    .expect("loads");
    assert_eq!(config.labels.tags, ["team"]);
    assert_eq!(config.labels.account_tags, ["team"]);
    let without = config::parse("regions: [us-east-1]\nlabels: { account_tags: [] }\n")
        .expect("an empty list needs no discovery");
    assert!(without.labels.account_tags.is_empty());
}

#[test]
fn config_check_names_every_discovery_problem_and_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_secrets-rotation-exporter"))
        .args([
            "config",
            "check",
            "--config.file",
            "tests/fixtures/config/discovery.bad.yaml",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = std::fs::read_to_string(fixtures_dir().join("discovery.bad.expected"))
        .expect("expected lines");
    assert_eq!(stderr.trim_end(), expected.trim_end());
    assert!(
        stderr.lines().all(|line| line.starts_with("regions: ")
            || line.starts_with("labels.account_tags[")
            || line.starts_with("discovery.organizations.")),
        "{stderr}"
    );
}

#[test]
fn durations_accept_prometheus_units_and_compounds() {
    let cases = [
        ("0", Duration::ZERO),
        ("500ms", Duration::from_millis(500)),
        ("90s", Duration::from_secs(90)),
        ("5m", 5 * MINUTE),
        ("24h", 24 * HOUR),
        ("30d", 30 * DAY),
        ("1w", 7 * DAY),
        ("1y", 365 * DAY),
        ("1h30m", HOUR + 30 * MINUTE),
        (
            "1d12h30m15s250ms",
            DAY + 12 * HOUR + 30 * MINUTE + Duration::from_millis(15_250),
        ),
        ("0s", Duration::ZERO),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_duration(text), Ok(expected), "{text}");
    }
}

#[test]
fn durations_reject_malformed_text_with_a_reason() {
    let cases = [
        ("", "empty duration"),
        ("-5m", "must not be negative"),
        ("5", "missing unit after 5"),
        ("5x", "unknown unit \"x\""),
        ("5mins", "unknown unit \"mins\""),
        ("1.5h", "use whole numbers"),
        ("m", "expected a whole number followed by a unit"),
        ("5m 30s", "unexpected character ' '"),
        (" 5m", "unexpected character ' '"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("5M", "unknown unit \"M\""),
        ("99999999999999999999999s", "too large"),
        ("300y", "too large"),
        ("18446744073709551615ms", "too large"),
    ];
    for (text, reason) in cases {
        match parse_duration(text) {
            Ok(duration) => panic!("{text:?} parsed as {duration:?}"),
            Err(message) => assert!(message.contains(reason), "{text:?}: {message}"),
        }
    }
}

#[test]
fn durations_round_trip_through_their_display_form() {
    for text in ["500ms", "90s", "5m", "1h30m", "30d", "1d1h1m1s1ms"] {
        let duration = parse_duration(text).expect("valid duration");
        let shown = config::format_config_duration(duration);
        assert_eq!(
            parse_duration(&shown),
            Ok(duration),
            "{text} shown as {shown}"
        );
    }
    assert_eq!(
        config::format_config_duration(parse_duration("1w").expect("valid")),
        "7d"
    );
    assert_eq!(config::format_config_duration(Duration::ZERO), "0s");
}

#[test]
fn the_ssm_parameters_source_is_off_by_default_and_lists_secure_strings() {
    let defaults = config::parse("regions: [us-east-1]\n").expect("minimal config parses");
    let ssm = &defaults.sources.ssm_parameters;
    assert!(!ssm.enabled);
    assert_eq!(ssm.types, ["SecureString"]);
    assert!(ssm.path_prefixes.is_empty());
    assert!(!ssm.tags);
    assert!(!defaults.policy.require_parameter_expiration);

    let config = load_fixture("sources-and-metrics.ok.yaml");
    let ssm = &config.sources.ssm_parameters;
    assert!(ssm.enabled);
    assert_eq!(ssm.types, ["SecureString", "String"]);
    // A trailing slash names the same hierarchy and is dropped.
    assert_eq!(ssm.path_prefixes, ["/prod", "/shared"]);
    assert!(ssm.tags);
    assert!(config.policy.require_parameter_expiration);
}

#[test]
fn the_rds_and_vpc_endpoint_sources_are_off_by_default_and_default_vpcs_skipped() {
    let defaults = config::parse("regions: [us-east-1]\n").expect("minimal config parses");
    assert!(!defaults.sources.rds);
    assert!(!defaults.sources.vpc_endpoints);
    assert!(!defaults.policy.include_default_vpcs);

    let config = load_fixture("sources-and-metrics.ok.yaml");
    assert!(config.sources.rds);
    assert!(config.sources.vpc_endpoints);
    assert!(config.policy.include_default_vpcs);
}
