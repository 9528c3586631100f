#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::policy::schedule;

// `ScheduleExpression` comes from AWS, set by whoever configured rotation:
// the poll judges every secret's schedule, so no expression may panic or
// stall it.
fuzz_target!(|text: &str| {
    let Ok(parsed) = schedule::parse(text) else {
        return;
    };
    let from = Utc.with_ymd_and_hms(2025, 3, 30, 1, 30, 0).unwrap();
    let _ = parsed.longest_gap(from);
    let _ = parsed.next_after(from);
});
