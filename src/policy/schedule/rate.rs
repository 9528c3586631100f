//! `rate(...)`: a fixed period, in the bounds Secrets Manager documents.

use std::time::Duration;

use super::{SECONDS_PER_DAY, SECONDS_PER_HOUR};

/// "You can rotate a secret as often as every four hours" (Secrets Manager
/// user guide, Rate expressions).
const MIN_RATE_HOURS: u64 = 4;
/// "The maximum rotation period is 999 days" (Secrets Manager user guide,
/// Rate expressions). No separate maximum is documented for a rate in hours,
/// so hours are held to the same period.
const MAX_RATE_DAYS: u64 = 999;
const MAX_RATE_HOURS: u64 = MAX_RATE_DAYS * 24;

pub(super) fn parse_rate(body: &str) -> Result<Duration, String> {
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
