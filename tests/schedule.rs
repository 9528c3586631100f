//! Rotation schedule parsing and longest gaps, checked against calendar dates.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrets_rotation_exporter::schedule::{
    CronField, Schedule, ScheduleError, parse, parse_window,
};

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
        .unwrap_or_else(|| panic!("{year}-{month}-{day} {hour}:{minute} is not a valid test time"))
}

fn start_of_2026() -> DateTime<Utc> {
    at(2026, 1, 1, 0, 0)
}

fn schedule(expression: &str) -> Schedule {
    parse(expression).unwrap_or_else(|error| panic!("{expression} should parse: {error}"))
}

fn error_message(expression: &str) -> String {
    match parse(expression) {
        Ok(parsed) => panic!("{expression} should be rejected, parsed as {parsed:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn rate_expressions_give_their_period() {
    let cases = [
        ("rate(10 days)", 10 * DAY),
        ("rate(1 day)", DAY),
        ("rate(1 days)", DAY),
        ("rate(999 days)", 999 * DAY),
        ("rate(4 hours)", 4 * HOUR),
        ("rate(12 hours)", 12 * HOUR),
        ("rate(48 hours)", 48 * HOUR),
        ("  RATE( 7 Days )  ", 7 * DAY),
    ];
    for (expression, seconds) in cases {
        let parsed = schedule(expression);
        assert_eq!(parsed, Schedule::Rate(Duration::from_secs(seconds)), "{expression}");
        assert_eq!(
            parsed.longest_gap(start_of_2026()),
            Some(Duration::from_secs(seconds)),
            "{expression}"
        );
    }
}

#[test]
fn bad_rate_expressions_say_what_is_wrong() {
    let cases = [
        ("rate(0 days)", "at least 1"),
        ("rate(-1 days)", "not a positive whole number"),
        ("rate(ten days)", "not a positive whole number"),
        ("rate(5 weeks)", "unknown rate unit \"weeks\""),
        ("rate(5 minutes)", "unknown rate unit \"minutes\""),
        ("rate(5)", "expected rate(<value> <unit>)"),
        ("rate(1 hour)", "1 hours is out of range 4-23976 hours"),
        ("rate(3 hours)", "out of range 4-"),
        ("rate(1000 days)", "1000 days is out of range 1-999 days"),
    ];
    for (expression, expected) in cases {
        let message = error_message(expression);
        assert!(message.starts_with(expression), "{expression}: {message}");
        assert!(message.contains(expected), "{expression}: {message}");
    }
    for expression in ["rate 5 days", "rate(5 days", "5 days", "", "every(5 days)"] {
        assert_eq!(
            parse(expression),
            Err(ScheduleError::UnknownForm {
                expression: expression.trim().to_string()
            }),
            "{expression:?}"
        );
    }
}

#[test]
fn cron_longest_gaps_over_2026() {
    // Expected gaps were counted on a calendar for 2026 and January 2027.
    let cases = [
        ("cron(0 10 * * ? *)", DAY),
        ("cron(0 10 ? * * *)", DAY),
        ("cron(0 4/12 * * ? *)", 16 * HOUR),
        ("cron(0 */6 * * ? *)", 6 * HOUR),
        ("cron(0/15 * * * ? *)", 15 * 60),
        ("cron(0 8 ? * MON-FRI *)", 3 * DAY),
        ("cron(0 8 ? * 2-6 *)", 3 * DAY),
        // Mon 00:00 to Fri 00:00 is the long stretch of a range that wraps.
        ("cron(0 0 ? * FRI-MON *)", 4 * DAY),
        ("cron(0 18 ? * SAT *)", 7 * DAY),
        // 15th to the 1st of a 31-day month.
        ("cron(0 16 1,15 * ? *)", 17 * DAY),
        ("cron(0 0 1/10 * ? *)", 10 * DAY),
        ("cron(0 17 L * ? *)", 31 * DAY),
        // LW: Fri 27 Feb to Tue 31 Mar 2026.
        ("cron(0 9 LW * ? *)", 32 * DAY),
        ("cron(0 0 ? * 3#2 *)", 35 * DAY),
        ("cron(0 0 ? * TUE#2 *)", 35 * DAY),
        // Fifth Fridays of 2026: Jan 30, May 29, Jul 31, Oct 30, then Jan 29 2027.
        ("cron(0 0 ? * 6#5 *)", 119 * DAY),
        ("cron(0 0 ? * 6L *)", 35 * DAY),
        ("cron(0 0 ? * FRIL *)", 35 * DAY),
        ("cron(0 0 1 JAN,JUL ? *)", 184 * DAY),
        ("cron(0 0 1 1,7 ? *)", 184 * DAY),
        // AWS's own example pairs * with a weekday: * then acts as ?.
        ("cron(0 1 * 1/3 SUN *)", 70 * DAY),
        // First Sundays of the quarters: Jan 4, Apr 5, Jul 5, Oct 4, Jan 3 2027.
        ("cron(0 0 ? 1,4,7,10 SUN#1 *)", 91 * DAY),
        ("cron(0 0 ? JAN/3 1#1 *)", 91 * DAY),
        ("cron(0 12 1 1 ? *)", 365 * DAY),
    ];
    for (expression, seconds) in cases {
        assert_eq!(
            schedule(expression).longest_gap(start_of_2026()),
            Some(Duration::from_secs(seconds)),
            "{expression}"
        );
    }
}
