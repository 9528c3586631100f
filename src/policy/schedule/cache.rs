//! `ScheduleCache`: each schedule's longest gap computed once a day, not once per secret.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::policy::start_of_day;

/// What the longest gap of one schedule expression came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) enum ScheduleGap {
    Longest(Duration),
    /// Parses, but stops firing (a cron whose years run out): no bound on the gap.
    NeverRepeats,
    Unreadable(String),
}

/// Longest gaps of schedule expressions, so that a poll of 100,000 secrets
/// sharing a few schedules walks each cron expression's year once.
///
/// Gaps are computed from the start of the UTC day of `now`, so a cached
/// value is exactly what a fresh computation at any time that day gives, and
/// `evaluate_with` stays a pure function of its inputs. Entries of earlier days
/// are dropped when the day changes. Safe to share between threads.
#[derive(Debug, Default)]
pub struct ScheduleCache {
    memo: Mutex<DayMemo>,
}

#[derive(Debug, Default)]
struct DayMemo {
    day: Option<NaiveDate>,
    gaps: HashMap<String, ScheduleGap>,
}

impl ScheduleCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub(in crate::policy) fn longest_gap(
        &self,
        expression: &str,
        now: DateTime<Utc>,
    ) -> ScheduleGap {
        let day = now.date_naive();
        if let Some(known) = self.lookup(expression, day) {
            return known;
        }
        // Computed outside the lock: a cron year walk must not stall other
        // threads evaluating rate() schedules.
        let gap = match super::parse(expression) {
            Ok(parsed) => match parsed.longest_gap(start_of_day(day)) {
                Some(gap) => ScheduleGap::Longest(gap),
                None => ScheduleGap::NeverRepeats,
            },
            Err(error) => ScheduleGap::Unreadable(error.to_string()),
        };
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.day != Some(day) {
            memo.gaps.clear();
            memo.day = Some(day);
        }
        memo.gaps.insert(expression.to_string(), gap.clone());
        gap
    }

    fn lookup(&self, expression: &str, day: NaiveDate) -> Option<ScheduleGap> {
        let memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.day == Some(day) {
            memo.gaps.get(expression).cloned()
        } else {
            None
        }
    }
}
