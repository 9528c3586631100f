//! Durations and times as the verdicts' sentences write them.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub(super) fn format_time(when: DateTime<Utc>) -> String {
    when.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration the way the configuration writes them: `41d 3h`, `30d 1s`,
/// `90s` becomes `1m 30s`. Every non-zero unit down to the second is shown so
/// that a value one second past its limit never reads the same as the limit.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let parts = [
        (total / 86_400, "d"),
        (total % 86_400 / 3_600, "h"),
        (total % 3_600 / 60, "m"),
        (total % 60, "s"),
    ];
    let mut text = String::new();
    for (amount, unit) in parts.into_iter().filter(|(amount, _)| *amount > 0) {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = write!(text, "{amount}{unit}");
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}
