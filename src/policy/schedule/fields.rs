//! The six cron fields: values, names, ranges, lists and increments, and the
//! day rules (`L`, `W`, `#`) that pick the days of a month.

const YEAR_MIN: u32 = 1970;
const YEAR_MAX: u32 = 2199;

/// AWS day-of-week numbering.
const SUNDAY: u32 = 1;
const SATURDAY: u32 = 7;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

pub(super) struct FieldSpec {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Whether `a-b` with `a > b` wraps round (`FRI-MON`, `22-2`).
    wraps: bool,
}

pub(super) const MINUTES: FieldSpec = FieldSpec {
    min: 0,
    max: 59,
    names: &[],
    wraps: true,
};
pub(super) const HOURS: FieldSpec = FieldSpec {
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
pub(super) const MONTHS: FieldSpec = FieldSpec {
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
pub(super) fn parse_plain_field(text: &str, spec: &FieldSpec) -> Result<u64, String> {
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
pub(super) enum YearSet {
    Any,
    /// Bit `y - 1970` set for year `y`.
    Listed {
        bits: [u64; 4],
        last: i32,
    },
}

impl YearSet {
    pub(super) fn contains(&self, year: i32) -> bool {
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

pub(super) fn parse_years(text: &str) -> Result<YearSet, String> {
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
pub(super) enum DayRule {
    OfMonth(DayOfMonthRule),
    OfWeek(DayOfWeekRule),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct DayOfMonthRule {
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
pub(super) struct DayOfWeekRule {
    /// Bit `w` for weekday `w` (1 = Sunday).
    weekdays: u8,
    /// `wL`: bit `w` for the last weekday `w` of the month.
    last_in_month: u8,
    /// `w#n`: entry `w` has bit `n` set for the n-th weekday `w` of the month.
    nth_in_month: [u8; 8],
}

/// `None` for `?`.
pub(super) fn parse_day_of_month(text: &str) -> Result<Option<DayOfMonthRule>, String> {
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
pub(super) fn parse_day_of_week(text: &str) -> Result<Option<DayOfWeekRule>, String> {
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
    pub(super) fn days_in(&self, length: u32, first_weekday: u32) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_mask_covers_exactly_the_days_of_the_month() {
        assert_eq!(month_mask(28).count_ones(), 28);
        assert_eq!(month_mask(31).count_ones(), 31);
        assert_eq!(month_mask(31) & 1, 0);
    }
}
