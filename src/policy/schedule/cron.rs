//! `cron(...)`: the parsed expression and the walk over the days it fires.

use std::fmt;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::calendar::{civil_from_days, days_from_civil, days_in_month, weekday};
use super::fields::{
    DayRule, HOURS, MINUTES, MONTHS, YearSet, parse_day_of_month, parse_day_of_week,
    parse_plain_field, parse_years,
};
use super::{SECONDS_PER_DAY, ScheduleError};

/// Every calendar pattern (weekdays, leap years) repeats after 400 Gregorian
/// years, so a schedule without a firing in that span never fires.
const SEARCH_YEARS: i32 = 400;

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

/// A cron parse failure before it is tied to the expression text.
pub(super) enum CronProblem {
    Whole(String),
    Field(CronField, String),
}

impl CronProblem {
    pub(super) fn into_schedule_error(self, expression: &str) -> ScheduleError {
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

pub(super) fn parse_cron(body: &str) -> Result<CronSchedule, CronProblem> {
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

    pub(super) fn longest_gap(&self, from: DateTime<Utc>) -> Option<Duration> {
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

    pub(super) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
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
