//! Rotation schedule parsing and longest gaps, checked against calendar dates.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrets_rotation_exporter::policy::schedule::{
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
        assert_eq!(
            parsed,
            Schedule::Rate(Duration::from_secs(seconds)),
            "{expression}"
        );
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
        // Hour increments restart each day: 10, 16, 22, then 10 again.
        ("cron(0 10/6 * * ? *)", 12 * HOUR),
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

#[test]
fn next_firings_land_on_known_calendar_dates() {
    // 2026-01-01 is a Thursday.
    let after = start_of_2026();
    let cases = [
        // Day-of-week 1 is Sunday and 7 is Saturday, not Monday and Sunday.
        ("cron(0 0 ? * 1 *)", after, at(2026, 1, 4, 0, 0)),
        ("cron(0 0 ? * SUN *)", after, at(2026, 1, 4, 0, 0)),
        ("cron(0 0 ? * 7 *)", after, at(2026, 1, 3, 0, 0)),
        ("cron(0 0 ? * sat *)", after, at(2026, 1, 3, 0, 0)),
        ("cron(0 0 ? * L *)", after, at(2026, 1, 3, 0, 0)),
        ("cron(0 0 ? * 2 *)", after, at(2026, 1, 5, 0, 0)),
        ("cron(0 0 ? * 5 *)", after, at(2026, 1, 8, 0, 0)),
        // Strictly after: a firing at `after` itself does not count.
        ("cron(0 0 * * ? *)", after, at(2026, 1, 2, 0, 0)),
        (
            "cron(0 10 * * ? *)",
            at(2026, 1, 1, 9, 59),
            at(2026, 1, 1, 10, 0),
        ),
        (
            "cron(30 10 * * ? *)",
            at(2026, 1, 1, 10, 30),
            at(2026, 1, 2, 10, 30),
        ),
        (
            "cron(0 17 L * ? *)",
            at(2026, 2, 1, 0, 0),
            at(2026, 2, 28, 17, 0),
        ),
        (
            "cron(0 17 L * ? *)",
            at(2028, 2, 1, 0, 0),
            at(2028, 2, 29, 17, 0),
        ),
        // Saturday 31 Jan 2026: the last weekday is Friday the 30th.
        ("cron(0 9 LW * ? *)", after, at(2026, 1, 30, 9, 0)),
        // Sunday 31 May 2026.
        (
            "cron(0 9 LW * ? *)",
            at(2026, 5, 1, 0, 0),
            at(2026, 5, 29, 9, 0),
        ),
        // Saturday 1 Aug 2026: W does not cross back into July.
        (
            "cron(0 9 1W * ? *)",
            at(2026, 7, 2, 0, 0),
            at(2026, 8, 3, 9, 0),
        ),
        // Sunday 31 May 2026: W does not cross forward into June.
        (
            "cron(0 9 31W * ? *)",
            at(2026, 5, 1, 0, 0),
            at(2026, 5, 29, 9, 0),
        ),
        // April has no 31st, so the next 31W is in May.
        (
            "cron(0 9 31W * ? *)",
            at(2026, 4, 1, 0, 0),
            at(2026, 5, 29, 9, 0),
        ),
        // Sunday 15 Feb 2026 moves to Monday, Saturday 15 Aug to Friday.
        (
            "cron(0 9 15W * ? *)",
            at(2026, 2, 1, 0, 0),
            at(2026, 2, 16, 9, 0),
        ),
        (
            "cron(0 9 15W * ? *)",
            at(2026, 8, 1, 0, 0),
            at(2026, 8, 14, 9, 0),
        ),
        (
            "cron(0 9 15W * ? *)",
            at(2026, 1, 1, 0, 0),
            at(2026, 1, 15, 9, 0),
        ),
        ("cron(0 0 ? * 3#2 *)", after, at(2026, 1, 13, 0, 0)),
        (
            "cron(0 0 ? * 3#2 *)",
            at(2026, 1, 13, 0, 0),
            at(2026, 2, 10, 0, 0),
        ),
        // No fifth Friday in February to April 2026.
        (
            "cron(0 0 ? * 6#5 *)",
            at(2026, 2, 1, 0, 0),
            at(2026, 5, 29, 0, 0),
        ),
        ("cron(0 0 ? * 6L *)", after, at(2026, 1, 30, 0, 0)),
        ("cron(0 0 29 2 ? *)", after, at(2028, 2, 29, 0, 0)),
        // 2100 is not a leap year.
        (
            "cron(0 0 29 2 ? *)",
            at(2096, 3, 1, 0, 0),
            at(2104, 2, 29, 0, 0),
        ),
        ("cron(0 0 1 1 ? 2030-2035)", after, at(2030, 1, 1, 0, 0)),
    ];
    for (expression, after, expected) in cases {
        assert_eq!(
            schedule(expression).next_after(after),
            Some(expected),
            "{expression} after {after}"
        );
    }
}

#[test]
fn rate_next_firing_is_one_period_after() {
    assert_eq!(
        schedule("rate(30 days)").next_after(start_of_2026()),
        Some(at(2026, 1, 31, 0, 0))
    );
}

#[test]
fn rare_schedules_count_the_wait_beyond_the_year() {
    let cases = [
        // Fires on 29 Feb 2028, then 2032: a four-year cadence.
        ("cron(0 0 29 2 ? *)", start_of_2026(), 1461 * DAY),
        ("cron(0 0 29 2 ? *)", at(2028, 1, 1, 0, 0), 1461 * DAY),
        // 2096 to 2104 skips the non-leap 2100.
        ("cron(0 0 29 2 ? *)", at(2096, 1, 1, 0, 0), 2921 * DAY),
        // 2026-01-01 00:00 to the first firing on 2030-01-01 00:00.
        ("cron(0 0 1 1 ? 2030-2035)", start_of_2026(), 1461 * DAY),
        ("cron(0 0 1 1 ? 2026/2)", start_of_2026(), 730 * DAY),
    ];
    for (expression, from, seconds) in cases {
        assert_eq!(
            schedule(expression).longest_gap(from),
            Some(Duration::from_secs(seconds)),
            "{expression} from {from}"
        );
    }
}

#[test]
fn schedules_that_stop_firing_have_no_gap() {
    let cases = [
        "cron(0 0 1 1 ? 2020,2021)",
        "cron(0 0 ? * MON 1970-2025)",
        // Fires once within the year, never again.
        "cron(0 0 1 6 ? 2026)",
        // There is no 30 February.
        "cron(0 0 30 2 ? *)",
    ];
    for expression in cases {
        assert_eq!(
            schedule(expression).longest_gap(start_of_2026()),
            None,
            "{expression}"
        );
    }
    assert_eq!(
        schedule("cron(0 0 1 1 ? 2020,2021)").next_after(start_of_2026()),
        None
    );
    assert_eq!(
        schedule("cron(0 0 1 6 ? 2026)").next_after(start_of_2026()),
        Some(at(2026, 6, 1, 0, 0))
    );
}

#[test]
fn gaps_are_measured_from_the_given_instant() {
    let weekly = schedule("cron(0 12 ? * WED *)");
    // Within one weekly cadence the gap does not depend on where the year starts.
    for day in 1..=7 {
        assert_eq!(
            weekly.longest_gap(at(2026, 3, day, 6, 0)),
            Some(Duration::from_secs(7 * DAY)),
            "from March {day}"
        );
    }
    // A firing exactly at `from` is inside the year; a millisecond later it
    // is not, and the lone 2028 firing then has no successor.
    let two_years = schedule("cron(0 0 1 1 ? 2026,2028)");
    assert_eq!(
        two_years.longest_gap(start_of_2026()),
        Some(Duration::from_secs(730 * DAY))
    );
    let just_after = start_of_2026() + chrono::Duration::milliseconds(1);
    assert_eq!(two_years.longest_gap(just_after), None);
}

#[test]
fn names_are_case_insensitive_and_whitespace_is_tolerated() {
    let pairs = [
        ("cron(0 8 ? jan,Jul mon-FRI *)", "cron(0 8 ? 1,7 2-6 *)"),
        ("  cron(0   8 ?\t* MON-FRI *)  ", "cron(0 8 ? * MON-FRI *)"),
        ("CRON(0 8 ? * MON-FRI *)", "cron(0 8 ? * MON-FRI *)"),
        ("cron(0 0 ? * tue#2 *)", "cron(0 0 ? * 3#2 *)"),
        ("cron(0 0 ? * fril *)", "cron(0 0 ? * 6L *)"),
        ("cron(0 0 lw * ? *)", "cron(0 0 LW * ? *)"),
        ("cron(0 0 ? * SUN *)", "cron(0 0 ? * 1 *)"),
        ("cron(0 0 ? * SAT *)", "cron(0 0 ? * 7 *)"),
    ];
    for (written, canonical) in pairs {
        assert_eq!(schedule(written), schedule(canonical), "{written}");
    }
}

#[test]
fn invalid_cron_names_the_field_and_the_problem() {
    let cases = [
        (
            "cron(0 0 ? * 8 *)",
            CronField::DayOfWeek,
            "cron(0 0 ? * 8 *): day-of-week: 8 is out of range 1-7",
        ),
        (
            "cron(0 0 ? * 0 *)",
            CronField::DayOfWeek,
            "cron(0 0 ? * 0 *): day-of-week: 0 is out of range 1-7",
        ),
        (
            "cron(60 0 * * ? *)",
            CronField::Minutes,
            "cron(60 0 * * ? *): minutes: 60 is out of range 0-59",
        ),
        (
            "cron(0 24 * * ? *)",
            CronField::Hours,
            "cron(0 24 * * ? *): hours: 24 is out of range 0-23",
        ),
        (
            "cron(0 0 32 * ? *)",
            CronField::DayOfMonth,
            "cron(0 0 32 * ? *): day-of-month: 32 is out of range 1-31",
        ),
        (
            "cron(0 0 1 13 ? *)",
            CronField::Month,
            "cron(0 0 1 13 ? *): month: 13 is out of range 1-12",
        ),
        (
            "cron(0 0 1 FOO ? *)",
            CronField::Month,
            "cron(0 0 1 FOO ? *): month: \"FOO\" is not a valid value",
        ),
        (
            "cron(0 0 1 * ? 1969)",
            CronField::Year,
            "cron(0 0 1 * ? 1969): year: 1969 is out of range 1970-2199",
        ),
        (
            "cron(0 0 1 * ? 2030-2020)",
            CronField::Year,
            "cron(0 0 1 * ? 2030-2020): year: range 2030-2020 runs backwards",
        ),
        (
            "cron(0 */0 * * ? *)",
            CronField::Hours,
            "cron(0 */0 * * ? *): hours: increment \"0\" must be a whole number of at least 1",
        ),
        (
            "cron(0 0 ? * 3#6 *)",
            CronField::DayOfWeek,
            "cron(0 0 ? * 3#6 *): day-of-week: \"3#6\": the week after # must be 1-5",
        ),
        (
            "cron(0 0 L-2 * ? *)",
            CronField::DayOfMonth,
            "cron(0 0 L-2 * ? *): day-of-month: \"L-2\": only L and LW are supported (AWS documents no offset from the last day)",
        ),
        (
            "cron(0 0 1-5W * ? *)",
            CronField::DayOfMonth,
            "cron(0 0 1-5W * ? *): day-of-month: \"1-5W\": W follows a single day, e.g. 15W",
        ),
        (
            "cron(0 ? * * ? *)",
            CronField::Hours,
            "cron(0 ? * * ? *): hours: ? is only allowed in day-of-month and day-of-week",
        ),
        (
            "cron(0 0 1,,2 * ? *)",
            CronField::DayOfMonth,
            "cron(0 0 1,,2 * ? *): day-of-month: empty list item",
        ),
    ];
    for (expression, field, message) in cases {
        let error = parse(expression).expect_err(expression);
        assert_eq!(error.to_string(), message);
        assert!(
            matches!(error, ScheduleError::CronField { field: actual, .. } if actual == field),
            "{expression}: {error:?}"
        );
    }
}

#[test]
fn invalid_cron_shapes_are_rejected() {
    let cases = [
        ("cron(0 10 1 * MON *)", "both specified"),
        ("cron(0 10 ? * ? *)", "both ?"),
        ("cron(0 10 * * * *)", "both specified"),
        ("cron(0 10 * * ?)", "has 5 fields, expected 6"),
        ("cron(0 0 10 * * ? *)", "has 7 fields, expected 6"),
        ("cron()", "has 0 fields"),
    ];
    for (expression, expected) in cases {
        let message = error_message(expression);
        assert!(message.starts_with(expression), "{expression}: {message}");
        assert!(message.contains(expected), "{expression}: {message}");
    }
}

#[test]
fn rotation_windows_parse_as_hours_and_minutes() {
    let cases = [
        ("3h", Some(3 * HOUR)),
        ("2h", Some(2 * HOUR)),
        ("24h", Some(24 * HOUR)),
        ("1h30m", Some(HOUR + 30 * 60)),
        ("90m", Some(90 * 60)),
        (" 4H ", Some(4 * HOUR)),
        ("", None),
        ("3", None),
        ("h", None),
        ("3d", None),
        ("0h", None),
        ("-3h", None),
        ("3 h", None),
        ("99999999999999999999h", None),
    ];
    for (text, seconds) in cases {
        assert_eq!(
            parse_window(text),
            seconds.map(Duration::from_secs),
            "{text:?}"
        );
    }
}

/// The longest gap found by walking firings one at a time with `next_after`.
fn longest_gap_by_walking(parsed: &Schedule, from: DateTime<Utc>) -> Option<Duration> {
    let window_end = from + chrono::Duration::days(365);
    let mut firing = parsed.next_after(from - chrono::Duration::seconds(1))?;
    let mut longest = chrono::Duration::zero();
    while firing <= window_end {
        let next = parsed.next_after(firing)?;
        longest = longest.max(next - firing);
        firing = next;
    }
    longest.to_std().ok()
}

#[test]
fn longest_gap_agrees_with_walking_every_firing() {
    let expressions = [
        "cron(0 8 ? * MON-FRI *)",
        "cron(0 9-17 ? * MON-FRI *)",
        "cron(0/20 22-23,0-1 * * ? *)",
        "cron(15,45 3,21 1-7 * ? *)",
        "cron(0 16 1,15 * ? *)",
        "cron(0 0 ? * 6#5 *)",
        "cron(0 9 LW,15W * ? *)",
        "cron(0 0 ? 2-11/3 SUNL,3#2 *)",
    ];
    let starts = [
        start_of_2026(),
        at(2026, 3, 17, 9, 30),
        at(2027, 12, 31, 23, 59),
        at(2028, 2, 29, 12, 0),
    ];
    for expression in expressions {
        let parsed = schedule(expression);
        for from in starts {
            let walked = longest_gap_by_walking(&parsed, from);
            assert!(walked.is_some(), "{expression} from {from} never fires");
            assert_eq!(parsed.longest_gap(from), walked, "{expression} from {from}");
        }
    }
}
