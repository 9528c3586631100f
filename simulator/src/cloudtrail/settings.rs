//! How `LookupEvents` behaves beyond its input: the delivery delay and the request quota.

use std::collections::HashMap;
use std::time::Instant;

use chrono::Duration;

/// LookupEvents' quota per account and region, in requests per second.
pub const DEFAULT_LOOKUP_RATE: f64 = 2.0;

/// Delivery delay and request quota of `LookupEvents`.
#[derive(Debug)]
pub(crate) struct Settings {
    pub delivery_delay: Duration,
    rate: Option<f64>,
    buckets: HashMap<(String, String), Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            delivery_delay: Duration::zero(),
            rate: Some(DEFAULT_LOOKUP_RATE),
            buckets: HashMap::new(),
        }
    }
}

impl Settings {
    /// `None` lifts the quota; buckets start full again.
    pub fn set_rate(&mut self, rate: Option<f64>) {
        self.rate = rate;
        self.buckets.clear();
    }

    /// Takes a token from the bucket of `account`/`region`; false when it is empty. The burst is
    /// one second's worth of requests (two at AWS's rate), never less than one request.
    pub fn admit(&mut self, account: &str, region: &str, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        let burst = rate.max(1.0);
        let bucket = self
            .buckets
            .entry((account.to_string(), region.to_string()))
            .or_insert(Bucket {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut settings = Settings::default();
        let start = Instant::now();
        assert!(settings.admit("a", "r", start));
        assert!(settings.admit("a", "r", start));
        assert!(!settings.admit("a", "r", start));
        assert!(settings.admit("b", "r", start), "buckets are per account");
        assert!(settings.admit("a", "r", start + std::time::Duration::from_millis(500)));
        assert!(!settings.admit("a", "r", start + std::time::Duration::from_millis(600)));
        settings.set_rate(None);
        assert!((0..100).all(|_| settings.admit("a", "r", start)));
    }
}
