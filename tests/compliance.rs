//! The compliance checks of SPEC.md, one table of cases per check, at a fixed `now`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use litemap::LiteMap;
use secrets_rotation_exporter::config::{
    Override, OverrideMatch, Policy, ThresholdOverrides, Thresholds,
};
use secrets_rotation_exporter::inventory::{RotationRules, SecretRecord, Unknown};
use secrets_rotation_exporter::policy::{
    Check, Evaluation, ScheduleCache, evaluate, evaluate_bare, evaluate_with, format_duration,
    thresholds_for,
};
use secrets_rotation_exporter::snapshot::ErrorReason;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const KEY_A_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_A_ARN: &str =
    "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B_ARN: &str =
    "arn:aws:kms:us-east-1:111111111111:key/99999999-12ab-34cd-56ef-1234567890ab";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    now() - TimeDelta::seconds(seconds)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3_600)
}

fn policy() -> Policy {
    Policy {
        defaults: Thresholds {
            max_rotation_interval: days(30),
            max_age: days(30),
            overdue_grace: hours(24),
            pending_timeout: hours(6),
            unused_after: days(90),
            require_customer_managed_key: true,
            previous_version_grace: days(1),
            required_tags: Vec::new(),
        },
        kms_key_arns: Vec::new(),
        require_parameter_expiration: false,
        include_default_vpcs: false,
        exempt_tag: "rotation-exempt".to_string(),
        overrides: Vec::new(),
    }
}

fn no_change() -> Override {
    Override {
        matcher: OverrideMatch {
            name: None,
            name_glob: None,
            account: None,
            region: None,
            tags: BTreeMap::new(),
        },
        thresholds: ThresholdOverrides::default(),
    }
}

fn name_glob(pattern: &str) -> OverrideMatch {
    OverrideMatch {
        name: Some(pattern.to_string()),
        name_glob: Some(globset::Glob::new(pattern).unwrap().compile_matcher()),
        ..no_change().matcher
    }
}

fn tags(pairs: &[(&str, &str)]) -> LiteMap<Arc<str>, Arc<str>> {
    pairs
        .iter()
        .map(|(key, value)| (Arc::from(*key), Arc::from(*value)))
        .collect()
}

fn override_tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A secret that passes every check under `policy()`.
fn healthy() -> SecretRecord {
    SecretRecord {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:payments/db-AbCdEf".to_string(),
        name: "payments/db".to_string(),
        kms_key_id: Some(KEY_A_ARN.into()),
        rotation_enabled: true,
        rotation_lambda_arn: Some("arn:aws:lambda:us-east-1:111111111111:function:rotate".into()),
        rotation_rules: Some(RotationRules {
            automatically_after_days: Some(30),
            duration: None,
            schedule_expression: None,
        }),
        created: Some(ago(400 * DAY)),
        last_changed: Some(ago(DAY)),
        last_accessed: Some(Utc.with_ymd_and_hms(2024, 6, 14, 0, 0, 0).unwrap()),
        last_rotated: Some(ago(10 * DAY)),
        next_rotation: Some(ago(-20 * DAY)),
        tags: tags(&[("team", "payments")]),
        current_version: Some("v1".into()),
        current_version_created: Some(ago(10 * DAY)),
        ..SecretRecord::default()
    }
}

fn with(edit: impl FnOnce(&mut SecretRecord)) -> SecretRecord {
    let mut record = healthy();
    edit(&mut record);
    record
}

fn rules(expression: Option<&str>, after_days: Option<i64>) -> Option<RotationRules> {
    Some(RotationRules {
        automatically_after_days: after_days,
        duration: None,
        schedule_expression: expression.map(Arc::from),
    })
}

/// `None`: the check emitted no verdict.
type Expected = Option<bool>;

fn assert_table(
    check: Check,
    policy: &Policy,
    at: DateTime<Utc>,
    cases: Vec<(&str, SecretRecord, Expected)>,
) {
    let mut failures = Vec::new();
    for (name, record, expected) in cases {
        let evaluation = evaluate(&record, policy, at);
        let verdict = evaluation.verdict(check);
        let got = verdict.map(|verdict| verdict.compliant);
        if got != expected {
            failures.push(format!(
                "{name}: expected {expected:?}, got {got:?} ({:?})",
                verdict.map(|verdict| verdict.reason())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}:\n{}",
        check.as_str(),
        failures.join("\n")
    );
}

#[test]
fn the_healthy_secret_passes_every_applicable_check_in_spec_order() {
    let evaluation = evaluate(&healthy(), &policy(), now());
    let checks: Vec<Check> = evaluation.verdicts.iter().map(|v| v.check).collect();
    assert_eq!(
        checks,
        vec![
            Check::RotationEnabled,
            Check::RotationInterval,
            Check::RotationAge,
            Check::RotationOverdue,
            Check::KmsCustomerManaged,
            Check::Unused,
            Check::RequiredTags,
        ]
    );
    let failing: Vec<_> = evaluation
        .verdicts
        .iter()
        .filter(|v| !v.compliant)
        .collect();
    assert!(failing.is_empty(), "{failing:?}");
    assert!(evaluation.compliant());
    assert_eq!(evaluation.exemption, None);
    assert!(!evaluation.scheduled_for_deletion);
}

#[test]
fn rotation_enabled() {
    assert_table(
        Check::RotationEnabled,
        &policy(),
        now(),
        vec![
            ("enabled", healthy(), Some(true)),
            (
                "disabled without rules",
                with(|r| {
                    r.rotation_enabled = false;
                    r.rotation_rules = None;
                }),
                Some(false),
            ),
            (
                "disabled with leftover rules",
                with(|r| {
                    r.rotation_enabled = false;
                    r.rotation_rules = rules(Some("rate(30 days)"), Some(30));
                }),
                Some(false),
            ),
        ],
    );
}

#[test]
fn leftover_rules_of_a_disabled_rotation_give_no_interval() {
    let record = with(|r| {
        r.rotation_enabled = false;
        r.rotation_rules = rules(None, Some(7));
    });
    let evaluation = evaluate(&record, &policy(), now());
    assert_eq!(evaluation.rotation_interval, None);
    assert!(evaluation.verdict(Check::RotationInterval).is_none());
    assert!(evaluation.verdict(Check::RotationOverdue).is_none());
    let reason = &evaluation.verdict(Check::RotationEnabled).unwrap().reason();
    assert!(reason.contains("disabled"), "{reason}");
}

#[test]
fn rotation_interval() {
    let mut six_hours = policy();
    six_hours.defaults.max_rotation_interval = hours(6);
    let mut sixteen_days = policy();
    sixteen_days.defaults.max_rotation_interval = days(16);
    let mut seventeen_days = policy();
    seventeen_days.defaults.max_rotation_interval = days(17);
    let schedule = |expression: &str| {
        let expression = expression.to_string();
        with(move |r| r.rotation_rules = rules(Some(&expression), None))
    };

    assert_table(
        Check::RotationInterval,
        &policy(),
        now(),
        vec![
            (
                "AutomaticallyAfterDays at the limit",
                with(|r| r.rotation_rules = rules(None, Some(30))),
                Some(true),
            ),
            (
                "AutomaticallyAfterDays one day over",
                with(|r| r.rotation_rules = rules(None, Some(31))),
                Some(false),
            ),
            ("rate(30 days)", schedule("rate(30 days)"), Some(true)),
            ("rate(31 days)", schedule("rate(31 days)"), Some(false)),
            ("rate(12 hours)", schedule("rate(12 hours)"), Some(true)),
            (
                "the expression wins over AutomaticallyAfterDays",
                with(|r| r.rotation_rules = rules(Some("rate(60 days)"), Some(7))),
                Some(false),
            ),
            (
                "monthly cron has a 31-day gap",
                schedule("cron(0 0 1 * ? *)"),
                Some(false),
            ),
            (
                "cron whose years have passed",
                schedule("cron(0 0 1 1 ? 2020)"),
                Some(false),
            ),
            (
                "unparseable expression",
                schedule("rate(every now and then)"),
                Some(false),
            ),
            (
                "rotation on without rules",
                with(|r| r.rotation_rules = None),
                Some(false),
            ),
            (
                "rotation on with empty rules",
                with(|r| r.rotation_rules = rules(None, None)),
                Some(false),
            ),
            ("rotation off", with(|r| r.rotation_enabled = false), None),
        ],
    );
    assert_table(
        Check::RotationInterval,
        &six_hours,
        now(),
        vec![(
            "rate(12 hours) under 6h",
            schedule("rate(12 hours)"),
            Some(false),
        )],
    );
    // 1st and 15th of each month: the longest gap is the 15th to the 1st after a 31-day month.
    let twice_a_month = schedule("cron(0 16 1,15 * ? *)");
    assert_table(
        Check::RotationInterval,
        &sixteen_days,
        now(),
        vec![("cron under 16d", twice_a_month.clone(), Some(false))],
    );
    assert_table(
        Check::RotationInterval,
        &seventeen_days,
        now(),
        vec![("cron under 17d", twice_a_month.clone(), Some(true))],
    );
    let evaluation = evaluate(&twice_a_month, &seventeen_days, now());
    assert_eq!(evaluation.rotation_interval, Some(days(17)));
}

#[test]
fn the_rotation_window_is_not_added_to_the_schedule_gap() {
    let record = with(|r| {
        r.rotation_rules = Some(RotationRules {
            automatically_after_days: Some(30),
            duration: Some("24h".into()),
            schedule_expression: Some("rate(30 days)".into()),
        })
    });
    let evaluation = evaluate(&record, &policy(), now());
    assert_eq!(evaluation.rotation_interval, Some(days(30)));
    let verdict = evaluation.verdict(Check::RotationInterval).unwrap();
    assert!(verdict.compliant, "{}", verdict.reason());
    assert_eq!(verdict.observed_seconds(), Some(30.0 * DAY as f64));
    assert_eq!(verdict.limit_seconds(), Some(30.0 * DAY as f64));
}

#[test]
fn interval_reasons_say_what_is_wrong() {
    let over = evaluate(
        &with(|r| r.rotation_rules = rules(None, Some(90))),
        &policy(),
        now(),
    );
    let verdict = over.verdict(Check::RotationInterval).unwrap();
    assert!(verdict.reason().contains("90d"), "{}", verdict.reason());
    assert!(verdict.reason().contains("30d"), "{}", verdict.reason());
    assert_eq!(over.rotation_interval, Some(days(90)));

    let unreadable = evaluate(
        &with(|r| r.rotation_rules = rules(Some("rate(every now and then)"), Some(30))),
        &policy(),
        now(),
    );
    let verdict = unreadable.verdict(Check::RotationInterval).unwrap();
    assert!(
        verdict.reason().contains("rate(every now and then)"),
        "{}",
        verdict.reason()
    );
    assert_eq!(unreadable.rotation_interval, None);

    let stopped = evaluate(
        &with(|r| r.rotation_rules = rules(Some("cron(0 0 1 1 ? 2020)"), None)),
        &policy(),
        now(),
    );
    let verdict = stopped.verdict(Check::RotationInterval).unwrap();
    assert!(
        verdict.reason().contains("stops firing"),
        "{}",
        verdict.reason()
    );
    assert_eq!(stopped.rotation_interval, None);

    let missing = evaluate(&with(|r| r.rotation_rules = None), &policy(), now());
    let verdict = missing.verdict(Check::RotationInterval).unwrap();
    assert!(
        verdict.reason().contains("no rotation schedule"),
        "{}",
        verdict.reason()
    );
}

#[test]
fn rotation_age() {
    assert_table(
        Check::RotationAge,
        &policy(),
        now(),
        vec![
            (
                "rotated exactly max_age ago",
                with(|r| {
                    r.last_rotated = Some(ago(30 * DAY));
                    r.current_version_created = None;
                }),
                Some(true),
            ),
            (
                "rotated one second too long ago",
                with(|r| {
                    r.last_rotated = Some(ago(30 * DAY + 1));
                    r.current_version_created = None;
                }),
                Some(false),
            ),
            (
                "manual PutSecretValue after an old rotation",
                with(|r| {
                    r.last_rotated = Some(ago(40 * DAY));
                    r.current_version_created = Some(ago(DAY));
                }),
                Some(true),
            ),
            (
                "recent rotation, version date older",
                with(|r| {
                    r.last_rotated = Some(ago(DAY));
                    r.current_version_created = Some(ago(40 * DAY));
                }),
                Some(true),
            ),
            (
                "never rotated, created within max_age",
                with(|r| {
                    r.last_rotated = None;
                    r.current_version_created = None;
                    r.created = Some(ago(30 * DAY));
                }),
                Some(true),
            ),
            (
                "never rotated, created too long ago",
                with(|r| {
                    r.last_rotated = None;
                    r.current_version_created = None;
                    r.created = Some(ago(30 * DAY + 1));
                }),
                Some(false),
            ),
            (
                "LastChangedDate does not count as a value change",
                with(|r| {
                    r.last_rotated = Some(ago(40 * DAY));
                    r.current_version_created = None;
                    r.last_changed = Some(ago(HOUR));
                }),
                Some(false),
            ),
            (
                "nothing known",
                with(|r| {
                    r.last_rotated = None;
                    r.current_version_created = None;
                    r.created = None;
                }),
                Some(false),
            ),
            (
                "applies with rotation off too",
                with(|r| {
                    r.rotation_enabled = false;
                    r.last_rotated = Some(ago(31 * DAY));
                    r.current_version_created = None;
                }),
                Some(false),
            ),
        ],
    );
}

#[test]
fn age_verdict_carries_its_numbers() {
    let record = with(|r| {
        r.last_rotated = Some(ago(41 * DAY + 3 * HOUR));
        r.current_version_created = None;
    });
    let evaluation = evaluate(&record, &policy(), now());
    let verdict = evaluation.verdict(Check::RotationAge).unwrap();
    assert!(!verdict.compliant);
    assert_eq!(
        verdict.observed_seconds(),
        Some((41 * DAY + 3 * HOUR) as f64)
    );
    assert_eq!(verdict.limit_seconds(), Some(30.0 * DAY as f64));
    assert!(verdict.reason().contains("41d 3h"), "{}", verdict.reason());
    assert!(verdict.reason().contains("30d"), "{}", verdict.reason());

    let unknown = evaluate(
        &with(|r| {
            r.last_rotated = None;
            r.current_version_created = None;
            r.created = None;
        }),
        &policy(),
        now(),
    );
    let verdict = unknown.verdict(Check::RotationAge).unwrap();
    assert!(
        verdict.reason().contains("cannot tell"),
        "{}",
        verdict.reason()
    );
    assert_eq!(verdict.observed_seconds(), None);
}

#[test]
fn rotation_overdue() {
    assert_table(
        Check::RotationOverdue,
        &policy(),
        now(),
        vec![
            ("due in the future", healthy(), Some(true)),
            (
                "late by exactly the grace",
                with(|r| r.next_rotation = Some(ago(24 * HOUR))),
                Some(true),
            ),
            (
                "late by one second more than the grace",
                with(|r| r.next_rotation = Some(ago(24 * HOUR + 1))),
                Some(false),
            ),
            (
                "no NextRotationDate",
                with(|r| r.next_rotation = None),
                None,
            ),
            (
                "rotation off with a stale NextRotationDate",
                with(|r| {
                    r.rotation_enabled = false;
                    r.next_rotation = Some(ago(10 * DAY));
                }),
                None,
            ),
        ],
    );
    let late = evaluate(
        &with(|r| r.next_rotation = Some(ago(3 * DAY))),
        &policy(),
        now(),
    );
    let verdict = late.verdict(Check::RotationOverdue).unwrap();
    assert_eq!(verdict.observed_seconds(), Some(3.0 * DAY as f64));
    assert_eq!(verdict.limit_seconds(), Some(DAY as f64));
    assert!(verdict.reason().contains("3d"), "{}", verdict.reason());
}

#[test]
fn rotation_pending() {
    let pending = |since: Option<DateTime<Utc>>| {
        with(move |r| {
            r.set_version_stages([("v1", vec!["AWSCURRENT"]), ("v2", vec!["AWSPENDING"])]);
            r.pending_since = since;
        })
    };
    assert_table(
        Check::RotationPending,
        &policy(),
        now(),
        vec![
            (
                "pending exactly pending_timeout",
                pending(Some(ago(6 * HOUR))),
                Some(true),
            ),
            (
                "pending one second too long",
                pending(Some(ago(6 * HOUR + 1))),
                Some(false),
            ),
            ("pending, start unknown", pending(None), None),
            ("nothing pending", healthy(), None),
            (
                "AWSPENDING on the current version",
                with(|r| {
                    r.set_version_stages([("v1", vec!["AWSCURRENT", "AWSPENDING"])]);
                    r.pending_since = Some(ago(10 * DAY));
                }),
                None,
            ),
        ],
    );
    let stuck = evaluate(&pending(Some(ago(2 * DAY))), &policy(), now());
    let reason = &stuck.verdict(Check::RotationPending).unwrap().reason();
    assert!(reason.contains("v2") && reason.contains("2d"), "{reason}");
}

#[test]
fn kms_customer_managed() {
    let key = |id: Option<&str>| {
        let id = id.map(Arc::from);
        with(move |r| r.kms_key_id = id)
    };
    assert_table(
        Check::KmsCustomerManaged,
        &policy(),
        now(),
        vec![
            ("default key (no KmsKeyId)", key(None), Some(false)),
            (
                "AWS managed key by alias",
                key(Some("alias/aws/secretsmanager")),
                Some(false),
            ),
            (
                "AWS managed key by alias ARN",
                key(Some(
                    "arn:aws:kms:us-east-1:111111111111:alias/aws/secretsmanager",
                )),
                Some(false),
            ),
            (
                "customer managed key, no allowlist",
                key(Some(KEY_A_ARN)),
                Some(true),
            ),
            (
                "customer managed key id, no allowlist",
                key(Some(KEY_A_ID)),
                Some(true),
            ),
        ],
    );

    let mut not_required = policy();
    not_required.defaults.require_customer_managed_key = false;
    assert_table(
        Check::KmsCustomerManaged,
        &not_required,
        now(),
        vec![("default key, not required", key(None), None)],
    );

    let mut allow_arn = policy();
    allow_arn.kms_key_arns = vec![KEY_A_ARN.to_string()];
    assert_table(
        Check::KmsCustomerManaged,
        &allow_arn,
        now(),
        vec![
            ("allowed ARN", key(Some(KEY_A_ARN)), Some(true)),
            ("other key", key(Some(KEY_B_ARN)), Some(false)),
            (
                "bare id of the allowed key",
                key(Some(KEY_A_ID)),
                Some(true),
            ),
            (
                "same key id in another account",
                key(Some(&KEY_A_ARN.replace("111111111111", "222222222222"))),
                Some(false),
            ),
            ("default key", key(None), Some(false)),
            (
                "an alias cannot be resolved to the allowed key",
                key(Some("alias/payments")),
                Some(false),
            ),
        ],
    );

    let mut allow_short = policy();
    allow_short.kms_key_arns = vec![KEY_A_ID.to_string(), "alias/payments".to_string()];
    assert_table(
        Check::KmsCustomerManaged,
        &allow_short,
        now(),
        vec![
            ("ARN of an allowed key id", key(Some(KEY_A_ARN)), Some(true)),
            ("allowed alias", key(Some("alias/payments")), Some(true)),
            (
                "ARN of an allowed alias",
                key(Some("arn:aws:kms:us-east-1:111111111111:alias/payments")),
                Some(true),
            ),
            ("key not listed", key(Some(KEY_B_ARN)), Some(false)),
        ],
    );
}

#[test]
fn unused() {
    // LastAccessedDate is a day at 00:00 UTC; the access counts until the end of that day.
    let midnight = Utc.with_ymd_and_hms(2024, 6, 15, 0, 0, 0).unwrap();
    let accessed = |at: DateTime<Utc>| with(move |r| r.last_accessed = Some(at));
    let never_accessed = |created: Option<DateTime<Utc>>| {
        with(move |r| {
            r.last_accessed = None;
            r.created = created;
        })
    };
    let on_day = midnight - TimeDelta::days(91);
    let cases = || {
        vec![
            (
                "accessed yesterday",
                accessed(midnight - TimeDelta::days(1)),
                Some(true),
            ),
            (
                "accessed 91 days before today",
                accessed(on_day),
                Some(true),
            ),
            (
                "never accessed, created unused_after ago",
                never_accessed(Some(midnight - TimeDelta::days(90))),
                Some(true),
            ),
            (
                "never accessed, created unknown",
                never_accessed(None),
                Some(false),
            ),
        ]
    };
    assert_table(Check::Unused, &policy(), midnight, cases());

    let one_second_later = midnight + TimeDelta::seconds(1);
    assert_table(
        Check::Unused,
        &policy(),
        one_second_later,
        vec![
            (
                "accessed 91 days before, one second later",
                accessed(on_day),
                Some(false),
            ),
            (
                "never accessed, created one second too long ago",
                never_accessed(Some(midnight - TimeDelta::days(90))),
                Some(false),
            ),
        ],
    );

    let evaluation = evaluate(&accessed(on_day), &policy(), one_second_later);
    let verdict = evaluation.verdict(Check::Unused).unwrap();
    assert_eq!(verdict.observed_seconds(), Some((90 * DAY + 1) as f64));
    assert_eq!(verdict.limit_seconds(), Some(90.0 * DAY as f64));
    assert!(
        verdict.reason().contains("2024-03-16"),
        "{}",
        verdict.reason()
    );
}

#[test]
fn required_tags() {
    let tagged = |pairs: &[(&str, &str)]| {
        let pairs = tags(pairs);
        with(move |r| r.tags = pairs)
    };
    assert_table(
        Check::RequiredTags,
        &policy(),
        now(),
        vec![
            (
                "one tag of its own",
                tagged(&[("team", "payments")]),
                Some(true),
            ),
            ("no tags", tagged(&[]), Some(false)),
            (
                "only aws: tags",
                tagged(&[
                    ("aws:cloudformation:stack-name", "db"),
                    ("aws:secretsmanager:owningService", "rds"),
                ]),
                Some(false),
            ),
        ],
    );

    let mut listed = policy();
    listed.defaults.required_tags = vec!["owner".to_string(), "team".to_string()];
    assert_table(
        Check::RequiredTags,
        &listed,
        now(),
        vec![
            (
                "all present",
                tagged(&[("owner", "alice"), ("team", "payments")]),
                Some(true),
            ),
            (
                "present with an empty value",
                tagged(&[("owner", ""), ("team", "payments")]),
                Some(true),
            ),
            ("one missing", tagged(&[("team", "payments")]), Some(false)),
            (
                "keys are case sensitive",
                tagged(&[("Owner", "alice"), ("team", "payments")]),
                Some(false),
            ),
        ],
    );

    let one_missing = evaluate(&tagged(&[("team", "payments")]), &listed, now());
    let reason = &one_missing.verdict(Check::RequiredTags).unwrap().reason();
    assert!(
        reason.contains("owner") && !reason.contains("team"),
        "{reason}"
    );
    let none = evaluate(&tagged(&[("aws:x", "y")]), &listed, now());
    let reason = &none.verdict(Check::RequiredTags).unwrap().reason();
    assert!(reason.contains("owner, team"), "{reason}");
}

/// Fails every check it can, so that an exemption visibly removes verdicts.
fn neglected() -> SecretRecord {
    with(|r| {
        r.rotation_enabled = false;
        r.kms_key_id = None;
        r.tags = LiteMap::new();
        r.last_rotated = None;
        r.current_version_created = None;
    })
}

fn exempted(extra: &[(&str, &str)]) -> SecretRecord {
    let mut record = neglected();
    for (key, value) in tags(extra) {
        record.tags.insert(key, value);
    }
    record
}

/// The verdicts of the checks about rotation, which an exemption removes.
fn rotation_verdicts(evaluation: &Evaluation) -> Vec<Check> {
    evaluation
        .verdicts
        .iter()
        .map(|verdict| verdict.check)
        .chain(evaluation.unknown.iter().map(|unknown| unknown.check))
        .filter(|check| check.is_about_rotation())
        .collect()
}

#[test]
fn an_exempt_secret_is_judged_on_its_key_use_and_tags_only() {
    let exempt = evaluate(
        &exempted(&[("rotation-exempt", "the vendor rotates it")]),
        &policy(),
        now(),
    );
    assert!(exempt.exemption.is_some());
    let judged: Vec<(Check, bool)> = exempt
        .verdicts
        .iter()
        .map(|verdict| (verdict.check, verdict.compliant))
        .collect();
    assert_eq!(
        judged,
        vec![
            (Check::KmsCustomerManaged, false),
            (Check::Unused, true),
            (Check::RequiredTags, true),
        ],
        "the default key fails; use and the exempt tag itself pass"
    );
    assert!(exempt.unknown.is_empty());
    assert!(!exempt.compliant());
    assert_eq!(exempt.value_age_seconds, None);

    // A waiver of rotation is not a waiver of tags.
    let mut untagged = neglected();
    untagged
        .tags
        .insert("rotation-exempt".into(), String::new().into());
    let mut policy = policy();
    policy.defaults.required_tags = vec!["team".to_string()];
    let evaluation = evaluate(&untagged, &policy, now());
    assert_eq!(
        evaluation
            .verdict(Check::RequiredTags)
            .map(|verdict| verdict.compliant),
        Some(false)
    );
}

#[test]
fn every_check_knows_whether_it_is_about_rotation_and_its_position() {
    for (position, check) in Check::ALL.into_iter().enumerate() {
        assert_eq!(check.index(), position, "{check:?}");
        // SPEC.md: the rotation checks are `rotation_*` and `previous_version_read`.
        assert_eq!(
            check.is_about_rotation(),
            check.as_str().starts_with("rotation_") || check == Check::PreviousVersionRead,
            "{check:?}"
        );
    }
}

#[test]
fn a_check_whose_data_could_not_be_had_is_unknown_not_guessed() {
    let denied = Unknown::Failed(ErrorReason::AccessDenied);
    // Rotated 40 days ago, value changed by hand yesterday: only the
    // current version's creation, which could not be looked up, tells.
    let changed_by_hand = with(|r| {
        r.last_rotated = Some(ago(40 * DAY));
        r.last_changed = Some(ago(DAY));
        r.current_version_created = None;
        r.versions_unknown = Some(denied);
    });
    let evaluation = evaluate(&changed_by_hand, &policy(), now());
    assert_eq!(evaluation.verdict(Check::RotationAge), None);
    assert_eq!(
        evaluation
            .unknown
            .iter()
            .map(|u| (u.check, u.reason))
            .collect::<Vec<_>>(),
        vec![(Check::RotationAge, denied)]
    );
    assert_eq!(evaluation.value_age_seconds, None);

    // The value cannot have changed outside rotation: the age is known.
    let untouched = with(|r| {
        r.last_rotated = Some(ago(40 * DAY));
        r.last_changed = Some(ago(40 * DAY));
        r.current_version_created = None;
        r.versions_unknown = Some(denied);
    });
    assert_eq!(
        evaluate(&untouched, &policy(), now())
            .verdict(Check::RotationAge)
            .map(|v| v.compliant),
        Some(false)
    );

    let pending = with(|r| {
        r.set_version_stages([("v1", vec!["AWSCURRENT"]), ("v2", vec!["AWSPENDING"])]);
        r.pending_since = None;
        r.versions_unknown = Some(Unknown::NotYetRead);
    });
    let evaluation = evaluate(&pending, &policy(), now());
    assert_eq!(evaluation.verdict(Check::RotationPending), None);
    assert_eq!(
        evaluation
            .unknown
            .iter()
            .map(|u| u.check)
            .collect::<Vec<_>>(),
        vec![Check::RotationPending]
    );

    // CloudTrail read but its history unknown: a rotating secret has no
    // rotation_failed verdict, one that does not rotate has none to give.
    let unread = with(|r| {
        r.rotation_events = None;
        r.rotation_events_unknown = Some(denied);
    });
    let evaluation = evaluate(&unread, &policy(), now());
    assert_eq!(evaluation.verdict(Check::RotationFailed), None);
    assert_eq!(
        evaluation
            .unknown
            .iter()
            .map(|u| u.check)
            .collect::<Vec<_>>(),
        vec![Check::RotationFailed]
    );
    let not_rotating = with(|r| {
        r.rotation_enabled = false;
        r.rotation_events = None;
        r.rotation_events_unknown = Some(denied);
    });
    assert!(evaluate(&not_rotating, &policy(), now()).unknown.is_empty());
}

#[test]
fn exemptions() {
    let policy = policy();
    let reasoned = evaluate(
        &exempted(&[("rotation-exempt", "vendor rotates it")]),
        &policy,
        now(),
    );
    assert!(rotation_verdicts(&reasoned).is_empty());
    let exemption = reasoned.exemption.unwrap();
    assert_eq!(exemption.reason, "vendor rotates it");
    assert_eq!(exemption.until, None);

    let unexplained = evaluate(&exempted(&[("rotation-exempt", "")]), &policy, now());
    assert!(rotation_verdicts(&unexplained).is_empty());
    assert_eq!(unexplained.exemption.unwrap().reason, "(no reason given)");

    let until = Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap();
    let dated = exempted(&[
        ("rotation-exempt", "migration"),
        ("rotation-exempt-until", "2024-07-01"),
    ]);
    let before_end = evaluate(&dated, &policy, until - TimeDelta::seconds(1));
    assert!(rotation_verdicts(&before_end).is_empty());
    assert_eq!(before_end.exemption.unwrap().until, Some(until));
    let at_end = evaluate(&dated, &policy, until);
    assert_eq!(at_end.exemption, None);
    assert!(!at_end.compliant());
    assert!(at_end.exemption_ignored.unwrap().contains("2024-07-01"));

    let past = evaluate(
        &exempted(&[
            ("rotation-exempt", "migration"),
            ("rotation-exempt-until", "2024-01-31"),
        ]),
        &policy,
        now(),
    );
    assert_eq!(past.exemption, None);
    assert_eq!(
        past.verdict(Check::RotationEnabled).map(|v| v.compliant),
        Some(false)
    );

    let unreadable = evaluate(
        &exempted(&[
            ("rotation-exempt", "migration"),
            ("rotation-exempt-until", "end of July"),
        ]),
        &policy,
        now(),
    );
    assert_eq!(unreadable.exemption, None);
    assert_eq!(
        unreadable
            .verdict(Check::RotationEnabled)
            .map(|v| v.compliant),
        Some(false)
    );
    assert!(
        unreadable
            .exemption_ignored
            .unwrap()
            .contains("end of July")
    );

    let until_only = evaluate(
        &exempted(&[("rotation-exempt-until", "2030-01-01")]),
        &policy,
        now(),
    );
    assert_eq!(until_only.exemption, None);
    assert!(!until_only.verdicts.is_empty());
    assert!(until_only.exemption_ignored.is_some());

    let mut other_tag = policy.clone();
    other_tag.exempt_tag = "compliance-waiver".to_string();
    let waived = evaluate(
        &exempted(&[("compliance-waiver", "JIRA-12")]),
        &other_tag,
        now(),
    );
    assert_eq!(waived.exemption.unwrap().reason, "JIRA-12");
    let not_waived = evaluate(&exempted(&[("rotation-exempt", "x")]), &other_tag, now());
    assert_eq!(not_waived.exemption, None);
    assert!(!not_waived.compliant());
}

#[test]
fn a_secret_scheduled_for_deletion_gets_no_verdicts() {
    let mut record = neglected();
    record.deleted = Some(ago(DAY));
    let evaluation = evaluate(&record, &policy(), now());
    assert!(evaluation.scheduled_for_deletion);
    assert!(evaluation.verdicts.is_empty());
    assert_eq!(evaluation.max_age, days(30));
}

#[test]
fn overrides_first_match_wins() {
    let mut policy = policy();
    policy.overrides = vec![
        Override {
            matcher: name_glob("payments/*"),
            thresholds: ThresholdOverrides {
                max_age: Some(days(7)),
                ..ThresholdOverrides::default()
            },
        },
        Override {
            matcher: OverrideMatch {
                account: Some("222222222222".to_string()),
                ..no_change().matcher
            },
            thresholds: ThresholdOverrides {
                max_age: Some(days(60)),
                require_customer_managed_key: Some(false),
                ..ThresholdOverrides::default()
            },
        },
        Override {
            matcher: OverrideMatch {
                region: Some("eu-west-1".to_string()),
                ..no_change().matcher
            },
            thresholds: ThresholdOverrides {
                max_age: Some(days(45)),
                ..ThresholdOverrides::default()
            },
        },
        Override {
            matcher: OverrideMatch {
                tags: override_tags(&[("environment", "dev"), ("team", "web")]),
                ..no_change().matcher
            },
            thresholds: ThresholdOverrides {
                max_age: Some(days(90)),
                max_rotation_interval: Some(days(90)),
                ..ThresholdOverrides::default()
            },
        },
        Override {
            matcher: OverrideMatch {
                tags: override_tags(&[("environment", "dev")]),
                ..no_change().matcher
            },
            thresholds: ThresholdOverrides {
                max_age: Some(days(120)),
                ..ThresholdOverrides::default()
            },
        },
    ];

    let cases: Vec<(&str, SecretRecord, Duration)> = vec![
        (
            "no override matches",
            with(|r| r.name = "billing/db".to_string()),
            days(30),
        ),
        ("name glob", healthy(), days(7)),
        (
            "name glob wins over a later account match",
            with(|r| r.account_id = "222222222222".into()),
            days(7),
        ),
        (
            "account",
            with(|r| {
                r.name = "billing/db".to_string();
                r.account_id = "222222222222".into();
            }),
            days(60),
        ),
        (
            "region",
            with(|r| {
                r.name = "billing/db".to_string();
                r.region = "eu-west-1".into();
            }),
            days(45),
        ),
        (
            "every tag matches",
            with(|r| {
                r.name = "billing/db".to_string();
                r.tags = tags(&[("environment", "dev"), ("team", "web")]);
            }),
            days(90),
        ),
        (
            "one tag differs, falls to the next override",
            with(|r| {
                r.name = "billing/db".to_string();
                r.tags = tags(&[("environment", "dev"), ("team", "payments")]);
            }),
            days(120),
        ),
        (
            "tag value differs",
            with(|r| {
                r.name = "billing/db".to_string();
                r.tags = tags(&[("environment", "prod")]);
            }),
            days(30),
        ),
    ];
    for (name, record, expected) in cases {
        assert_eq!(thresholds_for(&record, &policy).max_age, expected, "{name}");
        assert_eq!(
            evaluate(&record, &policy, now()).max_age,
            expected,
            "{name}"
        );
    }

    // Only the fields an override gives change.
    let account_record = with(|r| {
        r.name = "billing/db".to_string();
        r.account_id = "222222222222".into();
    });
    let thresholds = thresholds_for(&account_record, &policy);
    assert!(!thresholds.require_customer_managed_key);
    assert_eq!(thresholds.max_rotation_interval, days(30));
    assert_eq!(thresholds.pending_timeout, hours(6));
    let evaluation = evaluate(&account_record, &policy, now());
    assert!(evaluation.verdict(Check::KmsCustomerManaged).is_none());
}

#[test]
fn an_override_needs_every_given_field() {
    let mut policy = policy();
    policy.overrides = vec![Override {
        matcher: OverrideMatch {
            account: Some("222222222222".to_string()),
            region: Some("eu-west-1".to_string()),
            ..name_glob("payments/*")
        },
        thresholds: ThresholdOverrides {
            max_age: Some(days(90)),
            ..ThresholdOverrides::default()
        },
    }];
    let everything = with(|r| {
        r.account_id = "222222222222".into();
        r.region = "eu-west-1".into();
    });
    assert_eq!(thresholds_for(&everything, &policy).max_age, days(90));
    let wrong_region = with(|r| r.account_id = "222222222222".into());
    assert_eq!(thresholds_for(&wrong_region, &policy).max_age, days(30));

    // A 40-day-old value passes under the override and fails without it.
    let old = |record: SecretRecord| {
        let mut record = record;
        record.last_rotated = Some(ago(40 * DAY));
        record.current_version_created = None;
        evaluate(&record, &policy, now())
            .verdict(Check::RotationAge)
            .map(|v| v.compliant)
    };
    assert_eq!(old(everything), Some(true));
    assert_eq!(old(wrong_region), Some(false));
}

#[test]
fn a_shared_cache_gives_the_same_evaluations() {
    let cache = ScheduleCache::new();
    let records = [
        with(|r| r.rotation_rules = rules(Some("cron(0 16 1,15 * ? *)"), None)),
        with(|r| r.rotation_rules = rules(Some("rate(7 days)"), None)),
        with(|r| r.rotation_rules = rules(Some("cron(nonsense)"), None)),
    ];
    let policy = policy();
    for at in [now(), now() + TimeDelta::days(40)] {
        for record in &records {
            let fresh: Evaluation = evaluate(record, &policy, at);
            let cached = evaluate_with(record, &policy, at, &cache);
            let cached_again = evaluate_with(record, &policy, at, &cache);
            assert_eq!(cached, fresh);
            assert_eq!(cached_again, fresh);
        }
    }
    let weekly = evaluate_with(&records[1], &policy, now(), &cache);
    assert_eq!(weekly.rotation_interval, Some(days(7)));
}

#[test]
fn durations_read_like_the_configuration() {
    assert_eq!(
        format_duration(Duration::from_secs(41 * 86_400 + 3 * 3_600)),
        "41d 3h"
    );
    assert_eq!(format_duration(days(30)), "30d");
    assert_eq!(format_duration(days(30) + Duration::from_secs(1)), "30d 1s");
    assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
    assert_eq!(format_duration(Duration::from_millis(400)), "0s");
    assert_eq!(format_duration(Duration::ZERO), "0s");
}

#[test]
fn verdicts_serialize_with_check_names() {
    let evaluation = evaluate(&neglected(), &policy(), now());
    let json = serde_json::to_value(&evaluation).unwrap();
    let first = &json["verdicts"][0];
    assert_eq!(first["check"], "rotation_enabled");
    assert_eq!(first["compliant"], false);
}

/// `/metrics` uses verdicts judged without their sentences; they must be the
/// same verdicts `check` prints, and the value's age (which CloudWatch
/// publishes) must survive.
#[test]
fn bare_verdicts_are_the_explained_ones_without_their_details() {
    let records = [
        healthy(),
        neglected(),
        exempted(&[("rotation-exempt", "vendor rotates it")]),
        with(|r| r.rotation_rules = rules(Some("cron(0 0 1 * ? *)"), None)),
        with(|r| r.rotation_rules = rules(Some("rate(0 days)"), None)),
        with(|r| r.last_rotated = Some(ago(45 * DAY))),
        with(|r| r.next_rotation = Some(ago(3 * DAY))),
        with(|r| {
            r.set_version_stages([("v1", vec!["AWSCURRENT"]), ("v2", vec!["AWSPENDING"])]);
            r.pending_since = Some(ago(2 * DAY));
        }),
        with(|r| r.kms_key_id = Some("alias/aws/secretsmanager".into())),
        with(|r| r.last_accessed = None),
        with(|r| r.tags = LiteMap::new()),
        with(|r| r.deleted = Some(ago(DAY))),
    ];
    let cache = ScheduleCache::new();
    let policy = policy();
    for (index, record) in records.iter().enumerate() {
        let explained = evaluate_with(record, &policy, now(), &cache);
        let bare = evaluate_bare(record, &policy, now(), &cache);
        let verdicts = |evaluation: &Evaluation| {
            evaluation
                .verdicts
                .iter()
                .map(|v| (v.check, v.compliant))
                .collect::<Vec<_>>()
        };
        assert_eq!(verdicts(&bare), verdicts(&explained), "record {index}");
        assert!(
            explained.verdicts.iter().all(|v| !v.reason().is_empty()),
            "record {index}"
        );
        assert!(
            bare.verdicts.iter().all(|v| v.detail.is_none()),
            "record {index}"
        );
        assert_eq!(
            bare.value_age_seconds,
            explained
                .verdict(Check::RotationAge)
                .and_then(|v| v.observed_seconds()),
            "record {index}"
        );
        assert_eq!(
            (
                &bare.exemption,
                &bare.exemption_ignored,
                bare.scheduled_for_deletion,
                bare.rotation_interval,
                bare.max_age
            ),
            (
                &explained.exemption,
                &explained.exemption_ignored,
                explained.scheduled_for_deletion,
                explained.rotation_interval,
                explained.max_age
            ),
            "record {index}"
        );
    }
}
