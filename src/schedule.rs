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

use std::fmt;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_HOUR: u64 = 3_600;

/// "You can rotate a secret as often as every four hours" (Secrets Manager
/// user guide, Rate expressions).
const MIN_RATE_HOURS: u64 = 4;
/// "The maximum rotation period is 999 days" (Secrets Manager user guide,
/// Rate expressions). No separate maximum is documented for a rate in hours,
/// so hours are held to the same period.
const MAX_RATE_DAYS: u64 = 999;
const MAX_RATE_HOURS: u64 = MAX_RATE_DAYS * 24;

/// Every calendar pattern (weekdays, leap years) repeats after 400 Gregorian
/// years, so a schedule without a firing in that span never fires.
const SEARCH_YEARS: i32 = 400;

const YEAR_MIN: u32 = 1970;
const YEAR_MAX: u32 = 2199;

/// AWS day-of-week numbering.
const SUNDAY: u32 = 1;
const SATURDAY: u32 = 7;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed Secrets Manager rotation schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Rate(Duration),
    Cron(CronSchedule),
}

/// A parsed `cron(...)` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// Minutes of the UTC day at which a matching day fires, ascending.
    times_of_day: Vec<u16>,
    /// Longest distance in minutes between two firings of the same day.
    longest_gap_within_day: u16,
    days: DayRule,
    /// Bit `m` set for month `m` (1-12).
    months: u16,
    years: YearSet,
}

/// One cron field, named as AWS names it in its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    Minutes,
    Hours,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Minutes => "minutes",
            CronField::Hours => "hours",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
            CronField::Year => "year",
        })
    }
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

fn parse_rate(body: &str) -> Result<Duration, String> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [value, unit] = parts.as_slice() else {
        return Err("expected rate(<value> <unit>), e.g. rate(10 days)".to_string());
    };
    let value: u64 = value
        .parse()
        .map_err(|_| format!("rate value {value:?} is not a positive whole number"))?;
    if value == 0 {
        return Err("rate value must be at least 1".to_string());
    }
    match unit.to_ascii_lowercase().as_str() {
        "hour" | "hours" => {
            if !(MIN_RATE_HOURS..=MAX_RATE_HOURS).contains(&value) {
                return Err(format!(
                    "{value} hours is out of range {MIN_RATE_HOURS}-{MAX_RATE_HOURS} hours"
                ));
            }
            Ok(Duration::from_secs(value * SECONDS_PER_HOUR))
        }
        "day" | "days" => {
            if value > MAX_RATE_DAYS {
                return Err(format!(
                    "{value} days is out of range 1-{MAX_RATE_DAYS} days"
                ));
            }
            Ok(Duration::from_secs(value * SECONDS_PER_DAY.unsigned_abs()))
        }
        _ => Err(format!(
            "unknown rate unit {unit:?} (expected hour, hours, day or days)"
        )),
    }
}

/// A cron parse failure before it is tied to the expression text.
enum CronProblem {
    Whole(String),
    Field(CronField, String),
}

impl CronProblem {
    fn into_schedule_error(self, expression: &str) -> ScheduleError {
        let expression = expression.to_string();
        match self {
            CronProblem::Whole(problem) => ScheduleError::Cron {
                expression,
                problem,
            },
            CronProblem::Field(field, problem) => ScheduleError::CronField {
                expression,
                field,
                problem,
            },
        }
    }
}

fn parse_cron(body: &str) -> Result<CronSchedule, CronProblem> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] = fields.as_slice() else {
        return Err(CronProblem::Whole(format!(
            "has {} fields, expected 6 (minutes hours day-of-month month day-of-week year)",
            fields.len()
        )));
    };
    let in_field = |field: CronField| move |problem: String| CronProblem::Field(field, problem);

    let minutes = parse_plain_field(minutes, &MINUTES).map_err(in_field(CronField::Minutes))?;
    let hours = parse_plain_field(hours, &HOURS).map_err(in_field(CronField::Hours))?;
    let months = parse_plain_field(month, &MONTHS).map_err(in_field(CronField::Month))?;
    let years = parse_years(year).map_err(in_field(CronField::Year))?;

    // AWS: "You can't specify the Day-of-month and Day-of-week fields in the
    // same cron expression. If you specify a value in one of the fields, you
    // must use a ? in the other." Yet the Secrets Manager guide's own example
    // `cron(0 1 * 1/3 SUN *)` pairs * with a weekday, so a lone * beside a
    // specified other field is read as ?. Both * stays an error, as
    // EventBridge documents.
    let (day_of_month, day_of_week) = match (*day_of_month, *day_of_week) {
        ("*", other) if other != "?" && other != "*" => ("?", other),
        (other, "*") if other != "?" && other != "*" => (other, "?"),
        fields => fields,
    };
    let day_of_month = parse_day_of_month(day_of_month).map_err(in_field(CronField::DayOfMonth))?;
    let day_of_week = parse_day_of_week(day_of_week).map_err(in_field(CronField::DayOfWeek))?;

    let days = match (day_of_month, day_of_week) {
        (Some(rule), None) => DayRule::OfMonth(rule),
        (None, Some(rule)) => DayRule::OfWeek(rule),
        (Some(_), Some(_)) => {
            return Err(CronProblem::Whole(
                "day-of-month and day-of-week are both specified; one of them must be ?"
                    .to_string(),
            ));
        }
        (None, None) => {
            return Err(CronProblem::Whole(
                "day-of-month and day-of-week are both ?; exactly one of them must be ?"
                    .to_string(),
            ));
        }
    };

    let times_of_day: Vec<u16> = (0..24u16)
        .filter(|hour| hours & (1 << hour) != 0)
        .flat_map(|hour| {
            (0..60u16)
                .filter(move |minute| minutes & (1 << minute) != 0)
                .map(move |minute| hour * 60 + minute)
        })
        .collect();
    let longest_gap_within_day = times_of_day
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or(0);

    Ok(CronSchedule {
        times_of_day,
        longest_gap_within_day,
        days,
        // The month mask only ever has bits 1-12 set.
        months: u16::try_from(months).unwrap_or(0),
        years,
    })
}

struct FieldSpec {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Whether `a-b` with `a > b` wraps round (`FRI-MON`, `22-2`).
    wraps: bool,
}

const MINUTES: FieldSpec = FieldSpec {
    min: 0,
    max: 59,
    names: &[],
    wraps: true,
};
const HOURS: FieldSpec = FieldSpec {
    min: 0,
    max: 23,
    names: &[],
    wraps: true,
};
const DAYS_OF_MONTH: FieldSpec = FieldSpec {
    min: 1,
    max: 31,
    names: &[],
    wraps: true,
};
const MONTHS: FieldSpec = FieldSpec {
    min: 1,
    max: 12,
    names: &MONTH_NAMES,
    wraps: true,
};
const DAYS_OF_WEEK: FieldSpec = FieldSpec {
    min: 1,
    max: 7,
    names: &DAY_NAMES,
    wraps: true,
};
const YEARS: FieldSpec = FieldSpec {
    min: YEAR_MIN,
    max: YEAR_MAX,
    names: &[],
    wraps: false,
};

/// A field of values, ranges, lists and increments as a bit mask (bit `v` for
/// value `v`); only for fields whose values fit in 64 bits.
fn parse_plain_field(text: &str, spec: &FieldSpec) -> Result<u64, String> {
    if text == "?" {
        return Err("? is only allowed in day-of-month and day-of-week".to_string());
    }
    let mut mask = 0u64;
    for term in text.split(',') {
        expand_term(term, spec, |value| mask |= 1 << value)?;
    }
    Ok(mask)
}

/// Calls `add` with every value of one list item: `*`, `v`, `a-b`, each
/// optionally followed by `/step`.
fn expand_term(term: &str, spec: &FieldSpec, mut add: impl FnMut(u32)) -> Result<(), String> {
    if term.is_empty() {
        return Err("empty list item".to_string());
    }
    let (base, step) = match term.split_once('/') {
        Some((base, step)) => {
            let step = step
                .parse::<u32>()
                .ok()
                .filter(|step| *step >= 1)
                .ok_or_else(|| {
                    format!("increment {step:?} must be a whole number of at least 1")
                })?;
            (base, Some(step))
        }
        None => (term, None),
    };
    let (first, last) = if base == "*" {
        (spec.min, spec.max)
    } else if let Some((low, high)) = base.split_once('-') {
        (parse_value(low, spec)?, parse_value(high, spec)?)
    } else {
        let value = parse_value(base, spec)?;
        // AWS: `1/10` in day-of-month "means every 10 days" starting on the 1st.
        (value, if step.is_some() { spec.max } else { value })
    };
    if first > last && !spec.wraps {
        return Err(format!("range {first}-{last} runs backwards"));
    }
    let span = if first <= last {
        last - first + 1
    } else {
        (spec.max - first + 1) + (last - spec.min + 1)
    };
    let width = spec.max - spec.min + 1;
    for offset in (0..span).step_by(step.unwrap_or(1) as usize) {
        add(spec.min + (first - spec.min + offset) % width);
    }
    Ok(())
}

fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let value: u32 = text
            .parse()
            .map_err(|_| format!("{text} is out of range {}-{}", spec.min, spec.max))?;
        if !(spec.min..=spec.max).contains(&value) {
            return Err(format!("{value} is out of range {}-{}", spec.min, spec.max));
        }
        return Ok(value);
    }
    spec.names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .and_then(|index| u32::try_from(index).ok())
        .map(|index| spec.min + index)
        .ok_or_else(|| format!("{text:?} is not a valid value"))
}

/// Years 1970-2199, or any year.
#[derive(Debug, Clone, PartialEq, Eq)]
enum YearSet {
    Any,
    /// Bit `y - 1970` set for year `y`.
    Listed {
        bits: [u64; 4],
        last: i32,
    },
}

impl YearSet {
    fn contains(&self, year: i32) -> bool {
        match self {
            YearSet::Any => true,
            YearSet::Listed { bits, .. } => {
                let Ok(index) = u32::try_from(year - YEAR_MIN as i32) else {
                    return false;
                };
                index <= YEAR_MAX - YEAR_MIN
                    && bits[(index / 64) as usize] & (1 << (index % 64)) != 0
            }
        }
    }
}

fn parse_years(text: &str) -> Result<YearSet, String> {
    if text == "*" {
        return Ok(YearSet::Any);
    }
    if text == "?" {
        return Err("? is only allowed in day-of-month and day-of-week".to_string());
    }
    let mut bits = [0u64; 4];
    let mut last = 0u32;
    for term in text.split(',') {
        expand_term(term, &YEARS, |year| {
            let index = year - YEAR_MIN;
            bits[(index / 64) as usize] |= 1 << (index % 64);
            last = last.max(year);
        })?;
    }
    Ok(YearSet::Listed {
        bits,
        last: i32::try_from(last).unwrap_or(i32::MAX),
    })
}

/// Which days of a month fire; exactly one of the two day fields is given.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayRule {
    OfMonth(DayOfMonthRule),
    OfWeek(DayOfWeekRule),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct DayOfMonthRule {
    /// Bit `d` for day `d`.
    days: u32,
    /// `L`: the last day of the month.
    last_day: bool,
    /// `LW`: the last weekday (Monday-Friday) of the month.
    last_weekday: bool,
    /// `dW`: bit `d` for the weekday nearest day `d`, within the same month.
    nearest_weekday: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct DayOfWeekRule {
    /// Bit `w` for weekday `w` (1 = Sunday).
    weekdays: u8,
    /// `wL`: bit `w` for the last weekday `w` of the month.
    last_in_month: u8,
    /// `w#n`: entry `w` has bit `n` set for the n-th weekday `w` of the month.
    nth_in_month: [u8; 8],
}

/// `None` for `?`.
fn parse_day_of_month(text: &str) -> Result<Option<DayOfMonthRule>, String> {
    if text == "?" {
        return Ok(None);
    }
    let mut rule = DayOfMonthRule::default();
    for term in text.split(',') {
        let upper = term.to_ascii_uppercase();
        if upper == "L" {
            rule.last_day = true;
        } else if upper == "LW" {
            rule.last_weekday = true;
        } else if upper.starts_with('L') {
            return Err(format!(
                "{term:?}: only L and LW are supported (AWS documents no offset from the last day)"
            ));
        } else if let Some(day) = upper.strip_suffix('W') {
            if day.is_empty() || !day.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{term:?}: W follows a single day, e.g. 15W"));
            }
            rule.nearest_weekday |= 1 << parse_value(day, &DAYS_OF_MONTH)?;
        } else {
            expand_term(term, &DAYS_OF_MONTH, |day| rule.days |= 1 << day)?;
        }
    }
    Ok(Some(rule))
}

/// `None` for `?`.
fn parse_day_of_week(text: &str) -> Result<Option<DayOfWeekRule>, String> {
    if text == "?" {
        return Ok(None);
    }
    let mut rule = DayOfWeekRule::default();
    for term in text.split(',') {
        let upper = term.to_ascii_uppercase();
        if upper == "L" {
            // AWS: L in day-of-week "specifies the last day of the week".
            rule.weekdays |= 1 << SATURDAY;
        } else if let Some((weekday, nth)) = upper.split_once('#') {
            let weekday = parse_value(weekday, &DAYS_OF_WEEK)?;
            let nth = nth
                .parse::<u8>()
                .ok()
                .filter(|nth| (1..=5).contains(nth))
                .ok_or_else(|| format!("{term:?}: the week after # must be 1-5"))?;
            rule.nth_in_month[weekday as usize] |= 1 << nth;
        } else if let Some(weekday) = upper.strip_suffix('L') {
            rule.last_in_month |= 1 << parse_value(weekday, &DAYS_OF_WEEK)?;
        } else {
            expand_term(term, &DAYS_OF_WEEK, |weekday| rule.weekdays |= 1 << weekday)?;
        }
    }
    Ok(Some(rule))
}

impl DayRule {
    /// Bit `d` set for each day `d` of a month with `length` days whose 1st
    /// falls on AWS weekday `first_weekday`.
    fn days_in(&self, length: u32, first_weekday: u32) -> u32 {
        let weekday_of = |day: u32| (first_weekday - 1 + day - 1) % 7 + 1;
        match self {
            DayRule::OfMonth(rule) => {
                let mut mask = rule.days & month_mask(length);
                if rule.last_day {
                    mask |= 1 << length;
                }
                if rule.last_weekday {
                    let last_weekday = match weekday_of(length) {
                        SATURDAY => length - 1,
                        SUNDAY => length - 2,
                        _ => length,
                    };
                    mask |= 1 << last_weekday;
                }
                let mut nearest = rule.nearest_weekday & month_mask(length);
                while nearest != 0 {
                    let day = nearest.trailing_zeros();
                    nearest &= nearest - 1;
                    // The nearest weekday never leaves the month: a Saturday
                    // 1st moves forward to Monday the 3rd, a Sunday last day
                    // back to Friday.
                    let target = match weekday_of(day) {
                        SATURDAY if day == 1 => 3,
                        SATURDAY => day - 1,
                        SUNDAY if day == length => day - 2,
                        SUNDAY => day + 1,
                        _ => day,
                    };
                    mask |= 1 << target;
                }
                mask
            }
            DayRule::OfWeek(rule) => {
                let mut mask = 0;
                for day in 1..=length {
                    let weekday = weekday_of(day) as usize;
                    let week_of_month = (day - 1) / 7 + 1;
                    let fires = rule.weekdays & (1 << weekday) != 0
                        || (rule.last_in_month & (1 << weekday) != 0 && day + 7 > length)
                        || rule.nth_in_month[weekday] & (1 << week_of_month) != 0;
                    if fires {
                        mask |= 1 << day;
                    }
                }
                mask
            }
        }
    }
}

/// Bits 1..=length.
fn month_mask(length: u32) -> u32 {
    (u32::MAX >> (31 - length)) & !1
}

impl CronSchedule {
    /// Visits matching days (as days since 1970-01-01) in order, starting at
    /// `first_day`, skipping months and years the schedule excludes.
    fn for_each_day(&self, first_day: i64, mut visit: impl FnMut(i64) -> ControlFlow<()>) {
        let (start_year, start_month, start_day) = civil_from_days(first_day);
        let mut last_year = start_year.saturating_add(SEARCH_YEARS);
        if let YearSet::Listed { last, .. } = self.years {
            last_year = last_year.min(last);
        }
        for year in start_year..=last_year {
            if !self.years.contains(year) {
                continue;
            }
            let first_month = if year == start_year { start_month } else { 1 };
            for month in first_month..=12 {
                if self.months & (1 << month) == 0 {
                    continue;
                }
                let month_start = days_from_civil(year, month, 1);
                let mut days = self
                    .days
                    .days_in(days_in_month(year, month), weekday(month_start));
                if year == start_year && month == start_month {
                    days &= !((1u32 << start_day) - 1);
                }
                while days != 0 {
                    let day = days.trailing_zeros();
                    days &= days - 1;
                    if visit(month_start + i64::from(day) - 1).is_break() {
                        return;
                    }
                }
            }
        }
    }

    fn longest_gap(&self, from: DateTime<Utc>) -> Option<Duration> {
        let (Some(&first_time), Some(&last_time)) =
            (self.times_of_day.first(), self.times_of_day.last())
        else {
            return None;
        };
        // Firings fall on whole minutes, so one at `from`'s second counts
        // only when `from` has no fraction.
        let window_start = from.timestamp() + i64::from(from.timestamp_subsec_nanos() > 0);
        let window_end = from.timestamp() + 365 * SECONDS_PER_DAY;
        let mut previous: Option<i64> = None;
        let mut longest: i64 = 0;
        let mut result = None;

        self.for_each_day(from.timestamp().div_euclid(SECONDS_PER_DAY), |day| {
            let day_start = day * SECONDS_PER_DAY;
            let first = day_start + i64::from(first_time) * 60;
            let last = day_start + i64::from(last_time) * 60;
            if first >= window_start && last <= window_end {
                if let Some(previous) = previous {
                    longest = longest.max(first - previous);
                }
                longest = longest.max(i64::from(self.longest_gap_within_day) * 60);
                previous = Some(last);
                return ControlFlow::Continue(());
            }
            for &time in &self.times_of_day {
                let firing = day_start + i64::from(time) * 60;
                if firing < window_start {
                    continue;
                }
                if firing > window_end {
                    if let Some(previous) = previous {
                        result = Some(longest.max(firing - previous));
                        return ControlFlow::Break(());
                    }
                    // Nothing fires within the year: the wait until the first
                    // firing counts, and so does the cadence after it (Feb 29
                    // seen from 2026 is a four-year schedule, not a two-year one).
                    longest = firing - from.timestamp();
                    previous = Some(firing);
                    continue;
                }
                if let Some(previous) = previous {
                    longest = longest.max(firing - previous);
                }
                previous = Some(firing);
            }
            ControlFlow::Continue(())
        });
        result.map(|seconds| Duration::from_secs(seconds.unsigned_abs()))
    }

    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after_seconds = after.timestamp();
        let mut next = None;
        self.for_each_day(after_seconds.div_euclid(SECONDS_PER_DAY), |day| {
            let day_start = day * SECONDS_PER_DAY;
            match self
                .times_of_day
                .iter()
                .map(|&time| day_start + i64::from(time) * 60)
                .find(|&firing| firing > after_seconds)
            {
                Some(firing) => {
                    next = Some(firing);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        });
        DateTime::from_timestamp(next?, 0)
    }
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// AWS weekday (1 = Sunday) of a day counted from 1970-01-01, a Thursday.
fn weekday(days: i64) -> u32 {
    // rem_euclid(7) is 0..=6, so the cast cannot truncate.
    ((days + 4).rem_euclid(7) + 1) as u32
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), cheaper than building a chrono date per month.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Timestamps chrono can represent keep the year well inside i32.
    (
        i32::try_from(year).unwrap_or(i32::MAX),
        month as u32,
        day as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_conversions_round_trip_across_leap_days_and_centuries() {
        for days in [-1, 0, 59, 60, 11_016, 47_540, 47_541, 95_000, 730_000] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(
                days_from_civil(year, month, day),
                days,
                "{year}-{month}-{day}"
            );
            let date = chrono::NaiveDate::from_ymd_opt(year, month, day).map(|date| {
                date.signed_duration_since(chrono::NaiveDate::default())
                    .num_days()
            });
            assert_eq!(date, Some(days));
        }
    }

    #[test]
    fn month_mask_covers_exactly_the_days_of_the_month() {
        assert_eq!(month_mask(28).count_ones(), 28);
        assert_eq!(month_mask(31).count_ones(), 31);
        assert_eq!(month_mask(31) & 1, 0);
    }
}
