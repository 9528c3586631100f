//! Durations as the configuration writes them: Prometheus style, `90s`,
//! `5m`, `1h30m`.

use std::fmt::Write as _;
use std::time::Duration;

/// Units in descending order, as Prometheus writes them.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Prometheus stores durations as signed 64-bit nanoseconds; staying inside
/// that range keeps every duration convertible to the clocks used later.
const MAX_DURATION_MILLIS: u64 = (i64::MAX as u64) / 1_000_000;

/// Parses a Prometheus-style duration: `500ms`, `90s`, `5m`, `24h`, `30d`,
/// `1w`, `1y`, or a compound such as `1h30m` (units largest first, each at
/// most once). `0` alone is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration {text:?}: {why}");
    if text.is_empty() {
        return Err("empty duration; expected e.g. 90s, 5m, 24h".to_string());
    }
    if text.starts_with('-') {
        return Err(invalid("must not be negative"));
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut previous_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(match rest.chars().next() {
                Some(c) if !c.is_ascii_alphabetic() => {
                    invalid(&format!("unexpected character {c:?}"))
                }
                _ => invalid("expected a whole number followed by a unit (ms, s, m, h, d, w, y)"),
            });
        }
        let (digits, after_digits) = rest.split_at(digits_end);
        let unit_end = after_digits
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after_digits.len());
        let (unit, after_unit) = after_digits.split_at(unit_end);
        if unit.is_empty() {
            return Err(match after_digits.chars().next() {
                Some('.') => invalid("use whole numbers (1h30m rather than 1.5h)"),
                Some(other) => invalid(&format!("unexpected character {other:?}")),
                None => invalid(&format!(
                    "missing unit after {digits} (ms, s, m, h, d, w, y)"
                )),
            });
        }
        let Some(unit_index) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(invalid(&format!(
                "unknown unit {unit:?} (use ms, s, m, h, d, w, y)"
            )));
        };
        if previous_unit.is_some_and(|previous| previous >= unit_index) {
            return Err(invalid(
                "units must go from largest to smallest, each once (e.g. 1h30m)",
            ));
        }
        previous_unit = Some(unit_index);
        let out_of_range = || invalid("too large (at most about 292 years)");
        let number: u64 = digits.parse().map_err(|_| out_of_range())?;
        total = number
            .checked_mul(DURATION_UNITS[unit_index].1)
            .and_then(|millis| total.checked_add(millis))
            .filter(|millis| *millis <= MAX_DURATION_MILLIS)
            .ok_or_else(out_of_range)?;
        rest = after_unit;
    }
    Ok(Duration::from_millis(total))
}

/// Writes a duration the way `parse_duration` reads it (`1h30m`, `500ms`,
/// `0s`); sub-millisecond parts are dropped. Configuration error messages
/// use it so that a value can be pasted back into the file; verdict
/// messages use `policy::format_duration`, which spaces the parts and
/// stops at seconds.
pub fn format_config_duration(duration: Duration) -> String {
    let mut millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    // Years and weeks read worse than days in messages ("1y5w" vs "400d").
    for (unit, size) in DURATION_UNITS.iter().skip(2) {
        if millis >= *size {
            let _ = write!(out, "{}{unit}", millis / size);
            millis %= size;
        }
    }
    out
}
