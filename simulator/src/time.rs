//! Times in fleets: absolute RFC 3339 instants or offsets from the moment a fleet is loaded.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

/// The instant `days` days before now.
pub fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

/// The instant `days` days after now.
pub fn days_from_now(days: i64) -> DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

/// Parses `now`, a signed offset (`-400d`, `+20d`, `-6h`, `-90m`, `-30s`) relative to `now`,
/// an RFC 3339 instant or a bare date (midnight UTC).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(sign) = text.chars().next().filter(|c| *c == '-' || *c == '+') {
        let offset = parse_offset(&text[1..]).ok_or_else(|| {
            format!("`{text}` is not a relative time such as -400d, +20d, -6h, -90m or -30s")
        })?;
        return Ok(if sign == '-' {
            now - offset
        } else {
            now + offset
        });
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "`{text}` is neither an RFC 3339 time (2026-01-31T12:00:00Z), a date (2026-01-31), \
         `now`, nor a relative time such as -400d, +20d, -6h, -90m or -30s"
    ))
}

fn parse_offset(text: &str) -> Option<Duration> {
    let unit_at = text.len().checked_sub(1)?;
    let (amount, unit) = text.split_at(unit_at);
    let amount: i64 = amount.parse().ok()?;
    match unit {
        "d" => Duration::try_days(amount),
        "h" => Duration::try_hours(amount),
        "m" => Duration::try_minutes(amount),
        "s" => Duration::try_seconds(amount),
        _ => None,
    }
}

/// AWS JSON protocols carry timestamps as fractional epoch seconds.
pub(crate) fn epoch_seconds(instant: DateTime<Utc>) -> f64 {
    instant.timestamp_millis() as f64 / 1000.0
}

/// Secrets Manager records access dates only, at midnight UTC.
pub(crate) fn midnight(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.date_naive().and_time(NaiveTime::MIN).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T15:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn relative_times_are_offsets_from_now() {
        let now = fixed_now();
        assert_eq!(parse_time("-400d", now), Ok(now - Duration::days(400)));
        assert_eq!(parse_time("+20d", now), Ok(now + Duration::days(20)));
        assert_eq!(parse_time("-6h", now), Ok(now - Duration::hours(6)));
        assert_eq!(parse_time("-90m", now), Ok(now - Duration::minutes(90)));
        assert_eq!(parse_time("-30s", now), Ok(now - Duration::seconds(30)));
        assert_eq!(parse_time("now", now), Ok(now));
    }

    #[test]
    fn absolute_times_ignore_now() {
        let now = fixed_now();
        let expected = DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(parse_time("2026-01-31T12:00:00Z", now).ok(), expected);
        assert_eq!(
            parse_time("2026-01-31", now).map(|t| t.to_rfc3339()),
            Ok("2026-01-31T00:00:00+00:00".to_string())
        );
    }

    #[test]
    fn malformed_times_are_rejected_with_the_offending_text() {
        let now = fixed_now();
        for bad in ["-400", "-4x", "yesterday", "+d", ""] {
            let error = parse_time(bad, now).err().unwrap_or_default();
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }

    #[test]
    fn midnight_keeps_the_date_only() {
        assert_eq!(
            midnight(fixed_now()).to_rfc3339(),
            "2026-03-10T00:00:00+00:00"
        );
    }
}
