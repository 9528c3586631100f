//! AWS `rate(...)` and `cron(...)` rotation schedules and the longest gap
//! between their firings.
//!
//! The grammar is the EventBridge one that Secrets Manager documents
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>,
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html>):
//! six fields `Minutes Hours Day-of-month Month Day-of-week Year`, all in UTC,
//! day-of-week 1-7 with 1 = Sunday.
//!
//! Secrets Manager's own guide narrows cron further (minutes "must be 0" and
//! year "must be *"). Those rules are not enforced here: every expression this
//! exporter sees was already accepted by AWS, and an expression we refused
//! would turn a secret into "could not evaluate" instead of a measured gap.
//! The full EventBridge ranges (minutes 0-59, years 1970-2199) are accepted.

// The `deny(clippy::arithmetic_side_effects)` of `policy` does not hold here,
// and need not: this is calendar arithmetic over values the parsers have
// already bounded (cron fields within their ranges, steps of at least 1,
// `rate()` values within AWS's limits, checked before they are multiplied,
// years 1970-2199), walked from the host's `now` for at most a few years.
// No AWS date reaches it, only the expression, which is refused whole when
// a value falls outside its range.
#![allow(clippy::arithmetic_side_effects)]

mod cache;
mod calendar;
mod cron;
mod fields;
mod rate;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use cache::ScheduleCache;
pub(super) use cache::ScheduleGap;
pub use cron::{CronField, CronSchedule};

use cron::parse_cron;
use rate::parse_rate;

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_HOUR: u64 = 3_600;

/// A parsed Secrets Manager rotation schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Rate(Duration),
    Cron(CronSchedule),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{expression:?}: expected rate(...) or cron(...)")]
    UnknownForm { expression: String },
    #[error("{expression}: {problem}")]
    Rate { expression: String, problem: String },
    #[error("{expression}: {problem}")]
    Cron { expression: String, problem: String },
    #[error("{expression}: {field}: {problem}")]
    CronField {
        expression: String,
        field: CronField,
        problem: String,
    },
}

/// Parses a `ScheduleExpression` as Secrets Manager stores it.
///
/// Surrounding whitespace is ignored, fields may be separated by any run of
/// whitespace, and keywords, units and month/day names are case-insensitive:
/// AWS documents "separated by white space" without more, and a reader gains
/// nothing by being stricter than the service that accepted the expression.
pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
    let expression = expr.trim();
    if let Some(body) = call_body(expression, "rate") {
        return parse_rate(body)
            .map(Schedule::Rate)
            .map_err(|problem| ScheduleError::Rate {
                expression: expression.to_string(),
                problem,
            });
    }
    if let Some(body) = call_body(expression, "cron") {
        return parse_cron(body)
            .map(Schedule::Cron)
            .map_err(|error| error.into_schedule_error(expression));
    }
    Err(ScheduleError::UnknownForm {
        expression: expression.to_string(),
    })
}

impl Schedule {
    /// Longest time between two consecutive firings over the year starting at `from`
    /// (including the gap from the last firing in that year to the next one after it).
    ///
    /// None when the schedule never fires again (e.g. a cron whose year list is
    /// in the past), and also when it fires within the year but never after its
    /// last firing there: rotation then stops, so the gap has no bound. A cron
    /// that first fires after the year gives the longer of the wait from `from`
    /// to that firing and the gap that follows it.
    pub fn longest_gap(&self, from: DateTime<Utc>) -> Option<Duration> {
        match self {
            Schedule::Rate(period) => Some(*period),
            Schedule::Cron(cron) => cron.longest_gap(from),
        }
    }

    /// The next firing strictly after `after` (for reports).
    ///
    /// A `rate(...)` schedule has no fixed anchor: Secrets Manager counts it
    /// from the previous rotation, so pass the last rotation as `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Rate(period) => {
                let period = chrono::Duration::from_std(*period).ok()?;
                after.checked_add_signed(period)
            }
            Schedule::Cron(cron) => cron.next_after(after),
        }
    }
}

/// Secrets Manager's rotation window `Duration` field, e.g. "3h", "2h", "24h"
/// (also accepts "1h30m" and "90m"); None if it does not parse or is zero.
pub fn parse_window(s: &str) -> Option<Duration> {
    let text = s.trim();
    if text.is_empty() {
        return None;
    }
    let mut total_seconds: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit_seconds = match c.to_ascii_lowercase() {
            'h' => SECONDS_PER_HOUR,
            'm' => 60,
            _ => return None,
        };
        let amount: u64 = digits.parse().ok()?;
        digits.clear();
        total_seconds = total_seconds.checked_add(amount.checked_mul(unit_seconds)?)?;
    }
    if !digits.is_empty() || total_seconds == 0 {
        return None;
    }
    Some(Duration::from_secs(total_seconds))
}

/// The text between `keyword(` and the closing `)`, keyword case-insensitive.
fn call_body<'a>(expression: &'a str, keyword: &str) -> Option<&'a str> {
    let head = expression.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = expression[keyword.len()..].trim_start();
    rest.strip_prefix('(')?.strip_suffix(')')
}
