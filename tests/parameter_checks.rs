//! The checks of SSM parameters, each passing and failing, at a fixed `now`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use litemap::LiteMap;
use secrets_rotation_exporter::config::{
    Override, OverrideMatch, Policy, ThresholdOverrides, Thresholds,
};
use secrets_rotation_exporter::inventory::Unknown;
use secrets_rotation_exporter::parameters::{ParameterExpiration, ParameterRecord};
use secrets_rotation_exporter::policy::{
    ParameterCheck, ParameterEvaluation, evaluate_parameter, evaluate_parameter_bare,
};
use secrets_rotation_exporter::snapshot::ErrorReason;

const DAY: i64 = 86_400;
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    now() - TimeDelta::seconds(seconds)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn policy() -> Policy {
    Policy {
        defaults: Thresholds {
            max_rotation_interval: days(30),
            max_age: days(90),
            overdue_grace: days(1),
            pending_timeout: Duration::from_secs(6 * 3_600),
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

/// A SecureString on a customer managed key, written ten days ago, tags not read.
fn parameter(name: &str) -> ParameterRecord {
    ParameterRecord {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        name: name.to_owned(),
        parameter_type: "SecureString".into(),
        key_id: Some(KEY_ARN.into()),
        tier: Some("Standard".into()),
        last_modified: Some(ago(10 * DAY)),
        version: Some(3),
        expiration: ParameterExpiration::None,
        tags: None,
        tags_unknown: None,
    }
}

fn tags(pairs: &[(&str, &str)]) -> LiteMap<Arc<str>, Arc<str>> {
    pairs
        .iter()
        .map(|(key, value)| (Arc::from(*key), Arc::from(*value)))
        .collect()
}

fn verdict(evaluation: &ParameterEvaluation, check: ParameterCheck) -> Option<bool> {
    evaluation.verdict(check).map(|verdict| verdict.compliant)
}

fn unknown(evaluation: &ParameterEvaluation, check: ParameterCheck) -> Option<Unknown> {
    evaluation
        .unknown
        .iter()
        .find(|unknown| unknown.check == check)
        .map(|unknown| unknown.reason)
}

#[test]
fn parameter_age_compares_last_modified_with_max_age() {
    let fresh = evaluate_parameter(&parameter("/app/fresh"), &policy(), now());
    assert_eq!(verdict(&fresh, ParameterCheck::ParameterAge), Some(true));
    assert_eq!(fresh.max_age, Some(days(90)));

    let stale = ParameterRecord {
        last_modified: Some(ago(400 * DAY)),
        ..parameter("/app/stale")
    };
    let judged = evaluate_parameter(&stale, &policy(), now());
    assert_eq!(verdict(&judged, ParameterCheck::ParameterAge), Some(false));
    let reason = judged
        .verdict(ParameterCheck::ParameterAge)
        .map(|v| v.reason().to_owned())
        .unwrap_or_default();
    assert!(reason.contains("400d"), "{reason}");

    // Exactly at the limit still passes; a date in the future is no age.
    let at_limit = ParameterRecord {
        last_modified: Some(ago(90 * DAY)),
        ..parameter("/app/limit")
    };
    assert_eq!(
        verdict(
            &evaluate_parameter(&at_limit, &policy(), now()),
            ParameterCheck::ParameterAge
        ),
        Some(true)
    );
    let future = ParameterRecord {
        last_modified: Some(now() + TimeDelta::days(3)),
        ..parameter("/app/future")
    };
    assert_eq!(
        verdict(
            &evaluate_parameter(&future, &policy(), now()),
            ParameterCheck::ParameterAge
        ),
        Some(true)
    );
}

#[test]
fn a_parameter_without_last_modified_has_no_age_verdict() {
    let undated = ParameterRecord {
        last_modified: None,
        ..parameter("/app/undated")
    };
    let judged = evaluate_parameter(&undated, &policy(), now());
    assert_eq!(verdict(&judged, ParameterCheck::ParameterAge), None);
    assert_eq!(
        unknown(&judged, ParameterCheck::ParameterAge),
        Some(Unknown::Failed(ErrorReason::InvalidResponse))
    );
}

#[test]
fn an_override_matched_on_the_parameter_name_sets_its_max_age() {
    let mut policy = policy();
    policy.overrides.push(Override {
        matcher: OverrideMatch {
            name: Some("/legacy/*".into()),
            name_glob: globset::Glob::new("/legacy/*")
                .ok()
                .map(|glob| glob.compile_matcher()),
            account: None,
            region: None,
            tags: BTreeMap::new(),
        },
        thresholds: ThresholdOverrides {
            max_age: Some(days(365)),
            ..ThresholdOverrides::default()
        },
    });
    let old = |name: &str| ParameterRecord {
        last_modified: Some(ago(200 * DAY)),
        ..parameter(name)
    };
    let legacy = evaluate_parameter(&old("/legacy/db"), &policy, now());
    assert_eq!(verdict(&legacy, ParameterCheck::ParameterAge), Some(true));
    assert_eq!(legacy.max_age, Some(days(365)));
    let other = evaluate_parameter(&old("/app/db"), &policy, now());
    assert_eq!(verdict(&other, ParameterCheck::ParameterAge), Some(false));
}

#[test]
fn an_override_on_tags_applies_only_where_tags_are_read_and_is_unknown_where_they_failed() {
    let mut policy = policy();
    policy.overrides.push(Override {
        matcher: OverrideMatch {
            name: None,
            name_glob: None,
            account: None,
            region: None,
            tags: BTreeMap::from([("environment".to_owned(), "dev".to_owned())]),
        },
        thresholds: ThresholdOverrides {
            max_age: Some(days(365)),
            ..ThresholdOverrides::default()
        },
    });
    let old = ParameterRecord {
        last_modified: Some(ago(200 * DAY)),
        ..parameter("/dev/db")
    };
    // Tags not read: the tag override cannot match, the defaults apply.
    let judged = evaluate_parameter(&old, &policy, now());
    assert_eq!(verdict(&judged, ParameterCheck::ParameterAge), Some(false));
    // Tags read and matching.
    let tagged = ParameterRecord {
        tags: Some(tags(&[("environment", "dev")])),
        ..old.clone()
    };
    let judged = evaluate_parameter(&tagged, &policy, now());
    assert_eq!(verdict(&judged, ParameterCheck::ParameterAge), Some(true));
    // Tags read but failed for this parameter: which max_age holds cannot
    // be told, so neither can the age verdict, the key verdict or the tags.
    let failed = ParameterRecord {
        tags: None,
        tags_unknown: Some(Unknown::Failed(ErrorReason::AccessDenied)),
        ..old
    };
    let judged = evaluate_parameter(&failed, &policy, now());
    assert!(judged.verdicts.is_empty(), "{:?}", judged.verdicts);
    assert_eq!(judged.max_age, None);
    for check in [
        ParameterCheck::ParameterAge,
        ParameterCheck::KmsCustomerManaged,
        ParameterCheck::RequiredTags,
    ] {
        assert_eq!(
            unknown(&judged, check),
            Some(Unknown::Failed(ErrorReason::AccessDenied)),
            "{check:?}"
        );
    }
}

#[test]
fn kms_customer_managed_fails_the_aws_managed_key_and_keys_outside_the_allowlist() {
    let on = |key: Option<&str>| ParameterRecord {
        key_id: key.map(Arc::from),
        ..parameter("/app/key")
    };
    let judged = |record: &ParameterRecord, policy: &Policy| {
        verdict(
            &evaluate_parameter(record, policy, now()),
            ParameterCheck::KmsCustomerManaged,
        )
    };
    assert_eq!(judged(&on(Some(KEY_ARN)), &policy()), Some(true));
    assert_eq!(judged(&on(Some("alias/aws/ssm")), &policy()), Some(false));
    assert_eq!(
        judged(
            &on(Some("arn:aws:kms:us-east-1:111111111111:alias/aws/ssm")),
            &policy()
        ),
        Some(false)
    );
    assert_eq!(judged(&on(None), &policy()), Some(false));

    let mut allowlist = policy();
    allowlist.kms_key_arns = vec!["alias/payments".to_owned()];
    assert_eq!(judged(&on(Some("alias/payments")), &allowlist), Some(true));
    assert_eq!(judged(&on(Some(KEY_ARN)), &allowlist), Some(false));

    // Not required: no verdict. Not a SecureString: nothing is encrypted.
    let mut relaxed = policy();
    relaxed.defaults.require_customer_managed_key = false;
    assert_eq!(judged(&on(Some("alias/aws/ssm")), &relaxed), None);
    let plain = ParameterRecord {
        parameter_type: "String".into(),
        key_id: None,
        ..parameter("/app/plain")
    };
    assert_eq!(judged(&plain, &policy()), None);
}

#[test]
fn parameter_expiration_needs_a_policy_that_has_not_passed() {
    let mut policy = policy();
    let judged = |record: &ParameterRecord, policy: &Policy| {
        let evaluation = evaluate_parameter(record, policy, now());
        (
            verdict(&evaluation, ParameterCheck::ParameterExpiration),
            unknown(&evaluation, ParameterCheck::ParameterExpiration),
        )
    };
    // Not required: the check does not apply.
    assert_eq!(judged(&parameter("/app/a"), &policy), (None, None));

    policy.require_parameter_expiration = true;
    let advanced = |expiration| ParameterRecord {
        tier: Some("Advanced".into()),
        expiration,
        ..parameter("/app/advanced")
    };
    assert_eq!(
        judged(
            &advanced(ParameterExpiration::At(now() + TimeDelta::days(30))),
            &policy
        ),
        (Some(true), None)
    );
    assert_eq!(
        judged(
            &advanced(ParameterExpiration::At(now() - TimeDelta::days(1))),
            &policy
        ),
        (Some(false), None)
    );
    assert_eq!(
        judged(&advanced(ParameterExpiration::None), &policy),
        (Some(false), None)
    );
    assert_eq!(
        judged(
            &advanced(ParameterExpiration::Unreadable("not JSON".into())),
            &policy
        ),
        (None, Some(Unknown::Failed(ErrorReason::InvalidResponse)))
    );
    // A Standard parameter cannot carry a policy: it fails, and says why.
    let standard = evaluate_parameter(&parameter("/app/standard"), &policy, now());
    let reason = standard
        .verdict(ParameterCheck::ParameterExpiration)
        .map(|v| (v.compliant, v.reason().to_owned()));
    assert!(
        matches!(&reason, Some((false, text)) if text.contains("Advanced")),
        "{reason:?}"
    );
}

#[test]
fn required_tags_is_judged_only_where_tags_are_read() {
    let mut policy = policy();
    policy.defaults.required_tags = vec!["team".to_owned()];
    let check = ParameterCheck::RequiredTags;
    let untouched = evaluate_parameter(&parameter("/app/a"), &policy, now());
    assert_eq!(verdict(&untouched, check), None);
    assert_eq!(unknown(&untouched, check), None);

    let with = |pairs: &[(&str, &str)]| ParameterRecord {
        tags: Some(tags(pairs)),
        ..parameter("/app/tagged")
    };
    assert_eq!(
        verdict(
            &evaluate_parameter(&with(&[("team", "payments")]), &policy, now()),
            check
        ),
        Some(true)
    );
    assert_eq!(
        verdict(
            &evaluate_parameter(&with(&[("owner", "x")]), &policy, now()),
            check
        ),
        Some(false)
    );
    let not_yet = ParameterRecord {
        tags_unknown: Some(Unknown::NotYetRead),
        ..parameter("/app/pending")
    };
    assert_eq!(
        unknown(&evaluate_parameter(&not_yet, &policy, now()), check),
        Some(Unknown::NotYetRead)
    );
    // Without required_tags, as for secrets: at least one tag of its own.
    let defaults = self::policy();
    assert_eq!(
        verdict(&evaluate_parameter(&with(&[]), &defaults, now()), check),
        Some(false)
    );
    assert_eq!(
        verdict(
            &evaluate_parameter(&with(&[("a", "b")]), &defaults, now()),
            check
        ),
        Some(true)
    );
}

#[test]
fn bare_verdicts_are_the_explained_ones_without_their_sentences() {
    let mut policy = policy();
    policy.require_parameter_expiration = true;
    let record = ParameterRecord {
        last_modified: Some(ago(400 * DAY)),
        key_id: Some("alias/aws/ssm".into()),
        tags: Some(tags(&[])),
        ..parameter("/app/everything-wrong")
    };
    let explained = evaluate_parameter(&record, &policy, now());
    let bare = evaluate_parameter_bare(&record, &policy, now());
    let outcomes = |evaluation: &ParameterEvaluation| -> Vec<(ParameterCheck, bool)> {
        evaluation
            .verdicts
            .iter()
            .map(|v| (v.check, v.compliant))
            .collect()
    };
    assert_eq!(outcomes(&explained), outcomes(&bare));
    assert_eq!(
        outcomes(&explained),
        ParameterCheck::ALL.map(|check| (check, false)).to_vec()
    );
    assert!(bare.verdicts.iter().all(|v| v.reason().is_empty()));
    assert!(explained.verdicts.iter().all(|v| !v.reason().is_empty()));
}
