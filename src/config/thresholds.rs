//! The thresholds a policy sets and an override may change.

use std::time::Duration;

use super::raw::RawDuration;
use super::validate::{Problems, check_tag_keys};

/// Declares each threshold once, as
/// `name: Type = default, RawType => check;`, and from that list generates:
/// - `Thresholds`, every value in force;
/// - `ThresholdOverrides`, the same fields as `Option`s, which an override
///   sets only where it changes the policy;
/// - `Thresholds::overlaid`, laying overrides over thresholds;
/// - `RawThresholds`, the keys as written, and its `validate`, which runs
///   `check(problems, "<path>.<name>", raw)` on each key given.
///
/// A check returns `None` when the written value is unusable; it has then
/// reported the problem, and the config will not load.
macro_rules! thresholds {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $type:ty = $default:expr, $raw:ty => $check:path;
    )+) => {
        /// The thresholds that overrides can change per secret.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Thresholds {
            $($(#[doc = $doc])* pub $name: $type,)+
        }

        /// What one override changes; `None` keeps the policy's value.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct ThresholdOverrides {
            $($(#[doc = $doc])* pub $name: Option<$type>,)+
        }

        impl Thresholds {
            /// These thresholds with each value `overrides` gives in place of this one's.
            pub fn overlaid(&self, overrides: &ThresholdOverrides) -> Thresholds {
                Thresholds {
                    $($name: overrides.$name.as_ref().unwrap_or(&self.$name).clone(),)+
                }
            }
        }

        impl ThresholdOverrides {
            /// The policy's thresholds: these, and the default for each not given.
            pub(super) fn or_defaults(self) -> Thresholds {
                Thresholds {
                    $($name: self.$name.unwrap_or_else(|| $default),)+
                }
            }
        }

        /// The threshold keys of the policy or of one override, as written.
        #[derive(Debug)]
        pub(super) struct RawThresholds {
            $(pub(super) $name: Option<$raw>,)+
        }

        impl RawThresholds {
            /// Checks each key given, in declaration order, which is the
            /// order of the problems reported.
            pub(super) fn validate(self, problems: &mut Problems, path: &str) -> ThresholdOverrides {
                ThresholdOverrides {
                    $($name: self.$name.and_then(|raw| {
                        $check(problems, &format!("{path}.{}", stringify!($name)), raw)
                    }),)+
                }
            }
        }
    };
}

thresholds! {
    /// The schedule must rotate at least this often.
    max_rotation_interval: Duration = days(30), RawDuration => positive_duration;
    /// Time since the value last changed (creation if never rotated).
    max_age: Duration = days(30), RawDuration => positive_duration;
    /// How late `NextRotationDate` may be before the rotation counts as overdue.
    overdue_grace: Duration = hours(24), RawDuration => positive_duration;
    /// A rotation still pending after this is stuck.
    pending_timeout: Duration = hours(6), RawDuration => positive_duration;
    /// A secret not accessed for this long is unused.
    unused_after: Duration = days(90), RawDuration => positive_duration;
    /// Secrets must be encrypted with a customer managed key, not `aws/secretsmanager`.
    require_customer_managed_key: bool = true, bool => as_written;
    /// Empty: at least one tag whose key does not start with `aws:`.
    required_tags: Vec<String> = Vec::new(), Vec<String> => tag_keys;
    /// How long after the rotation day the version it replaced may still be read.
    previous_version_grace: Duration = days(1), RawDuration => positive_duration;
}

const fn hours(count: u64) -> Duration {
    Duration::from_secs(count * 3600)
}

const fn days(count: u64) -> Duration {
    hours(count * 24)
}

fn positive_duration(problems: &mut Problems, path: &str, raw: RawDuration) -> Option<Duration> {
    problems.positive_duration(path, Some(&raw))
}

fn tag_keys(problems: &mut Problems, path: &str, keys: Vec<String>) -> Option<Vec<String>> {
    check_tag_keys(problems, path, &keys);
    Some(keys)
}

fn as_written<T>(_: &mut Problems, _: &str, value: T) -> Option<T> {
    Some(value)
}
