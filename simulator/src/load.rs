//! Load settings for benchmarks: a latency added to every answer, request quotas per operation
//! and account-region (token buckets, as AWS throttles), and a meter of the highest request rate
//! each operation reached in any account-region.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// AWS's default quotas for the operations the simulator serves, in requests per second per
/// account and region: Secrets Manager's `ListSecrets` (100), `DescribeSecret` (10,000, the older
/// and lower of the published figures), `ListSecretVersionIds` (50) and STS (600). CloudTrail's
/// `LookupEvents` quota has its own setting, [`crate::SimulatorHandle::set_cloudtrail_rate`].
/// SSM's `DescribeParameters` gets a modest stand-in of 10: AWS throttles it (its
/// `ThrottlingException: Rate exceeded` is documented) but publishes no figure.
/// Organizations is absent: AWS says it throttles but publishes no per-second figure for its
/// reads, so its operations get a quota only when one is set.
pub const AWS_QUOTAS: [(&str, f64); 6] = [
    ("ListSecrets", 100.0),
    ("DescribeSecret", 10_000.0),
    ("ListSecretVersionIds", 50.0),
    ("AssumeRole", 600.0),
    ("GetCallerIdentity", 600.0),
    ("DescribeParameters", 10.0),
];

/// The highest rate an operation reached: requests within one second (a sliding window) in one
/// account-region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeakRate {
    pub account: String,
    pub region: String,
    pub requests_per_second: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

type Key = (String, String, String);

#[derive(Debug, Default)]
pub(crate) struct Load {
    pub latency: Duration,
    quotas: HashMap<String, f64>,
    buckets: HashMap<Key, Bucket>,
    /// Arrival times of the last second's requests, by (operation, account, region).
    windows: HashMap<Key, VecDeque<Instant>>,
    peaks: HashMap<String, PeakRate>,
}

const WINDOW: Duration = Duration::from_secs(1);

impl Load {
    /// `None` lifts the quota; the operation's buckets start full again.
    pub fn set_quota(&mut self, operation: &str, requests_per_second: Option<f64>) {
        match requests_per_second {
            Some(rate) => {
                self.quotas.insert(operation.to_string(), rate);
            }
            None => {
                self.quotas.remove(operation);
            }
        }
        self.buckets.retain(|(op, _, _), _| op != operation);
    }

    /// Meters the request and takes a token from its bucket; false when the quota refuses it.
    /// Refused requests are metered too: a throttled client still sent them.
    pub fn admit(&mut self, operation: &str, account: &str, region: &str, now: Instant) -> bool {
        let key = (
            operation.to_string(),
            account.to_string(),
            region.to_string(),
        );
        self.meter(&key, now);
        let Some(&rate) = self.quotas.get(operation) else {
            return true;
        };
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        let burst = rate.max(1.0);
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn meter(&mut self, key: &Key, now: Instant) {
        let window = self.windows.entry(key.clone()).or_default();
        while window
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= WINDOW)
        {
            window.pop_front();
        }
        window.push_back(now);
        let rate = window.len() as u64;
        let (operation, account, region) = key;
        let peak = self
            .peaks
            .entry(operation.clone())
            .or_insert_with(|| PeakRate {
                account: account.clone(),
                region: region.clone(),
                requests_per_second: 0,
            });
        if rate > peak.requests_per_second {
            *peak = PeakRate {
                account: account.clone(),
                region: region.clone(),
                requests_per_second: rate,
            };
        }
    }

    pub fn peak(&self, operation: &str) -> Option<PeakRate> {
        self.peaks.get(operation).cloned()
    }

    pub fn reset_meter(&mut self) {
        self.windows.clear();
        self.peaks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_allows_a_second_of_burst_then_throttles_per_account_region() {
        let mut load = Load::default();
        load.set_quota("ListSecrets", Some(2.0));
        let start = Instant::now();
        assert!(load.admit("ListSecrets", "a", "r", start));
        assert!(load.admit("ListSecrets", "a", "r", start));
        assert!(!load.admit("ListSecrets", "a", "r", start));
        assert!(load.admit("ListSecrets", "b", "r", start));
        assert!(load.admit("ListSecrets", "a", "r", start + Duration::from_millis(500)));
        assert!(
            load.admit("DescribeSecret", "a", "r", start),
            "no quota set"
        );
    }

    #[test]
    fn the_meter_keeps_the_busiest_second_of_any_account_region() {
        let mut load = Load::default();
        let start = Instant::now();
        for i in 0..5 {
            load.admit(
                "ListSecrets",
                "a",
                "r",
                start + Duration::from_millis(100 * i),
            );
        }
        for i in 0..3 {
            load.admit(
                "ListSecrets",
                "b",
                "r",
                start + Duration::from_millis(10 * i),
            );
        }
        // Two seconds later the window of `a` holds one request; the peak stays.
        load.admit("ListSecrets", "a", "r", start + Duration::from_secs(3));
        assert_eq!(
            load.peak("ListSecrets"),
            Some(PeakRate {
                account: "a".into(),
                region: "r".into(),
                requests_per_second: 5
            })
        );
        assert_eq!(load.peak("DescribeSecret"), None);
    }
}
