//! What CloudWatch keeps of every account and region: metric data, alarms and the
//! PutMetricAlarm quota.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};

/// PutMetricAlarm's quota per account and region, in requests per second.
pub const DEFAULT_PUT_METRIC_ALARM_RATE: f64 = 3.0;

/// One datum as PutMetricData received it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatumRecord {
    pub namespace: String,
    pub metric_name: String,
    /// Name to value, as sent.
    pub dimensions: BTreeMap<String, String>,
    pub value: Option<f64>,
    /// `Values` (with their `Counts`, 1 when not given).
    pub values: Vec<(f64, f64)>,
    /// `StatisticValues`: sample count, sum, minimum, maximum.
    pub statistic_values: Option<[f64; 4]>,
    pub unit: Option<String>,
    /// `Timestamp`, else when it arrived.
    pub timestamp: DateTime<Utc>,
    pub storage_resolution: Option<i64>,
}

/// A metric alarm as PutMetricAlarm left it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: Option<i64>,
    pub unit: Option<String>,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: Option<f64>,
    pub comparison_operator: String,
    pub treat_missing_data: Option<String>,
    /// Tags are set at creation only; later PutMetricAlarm calls leave them alone, as AWS does.
    pub tags: BTreeMap<String, String>,
    pub configuration_updated: DateTime<Utc>,
    pub state_value: String,
}

/// Metric data, alarms and the PutMetricAlarm quota of every account and region.
#[derive(Debug)]
pub(crate) struct Store {
    pub(super) data: HashMap<(String, String), Vec<MetricDatumRecord>>,
    pub(super) alarms: HashMap<(String, String), BTreeMap<String, AlarmRecord>>,
    put_alarm_rate: Option<f64>,
    buckets: HashMap<(String, String), (f64, Instant)>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            data: HashMap::new(),
            alarms: HashMap::new(),
            put_alarm_rate: Some(DEFAULT_PUT_METRIC_ALARM_RATE),
            buckets: HashMap::new(),
        }
    }
}

impl Store {
    pub fn metric_data(&self, account: &str, region: &str) -> Vec<MetricDatumRecord> {
        self.data
            .get(&key(account, region))
            .cloned()
            .unwrap_or_default()
    }

    pub fn alarms(&self, account: &str, region: &str) -> Vec<AlarmRecord> {
        self.alarms
            .get(&key(account, region))
            .map(|alarms| alarms.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn set_put_alarm_rate(&mut self, rate: Option<f64>) {
        self.put_alarm_rate = rate;
        self.buckets.clear();
    }

    /// A token bucket per account and region with a burst of one second's worth.
    pub(super) fn admit_put_alarm(&mut self, account: &str, region: &str, now: Instant) -> bool {
        let Some(rate) = self.put_alarm_rate else {
            return true;
        };
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        let burst = rate.max(1.0);
        let (tokens, refilled) = self
            .buckets
            .entry(key(account, region))
            .or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*refilled).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(burst);
        *refilled = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(super) fn key(account: &str, region: &str) -> (String, String) {
    (account.to_string(), region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_quota_allows_a_burst_of_three_then_the_rate() {
        let mut store = Store::default();
        let now = Instant::now();
        let admitted = (0..5)
            .filter(|_| store.admit_put_alarm("1", "us-east-1", now))
            .count();
        assert_eq!(admitted, 3);
        assert!(store.admit_put_alarm(
            "1",
            "us-east-1",
            now + std::time::Duration::from_millis(340)
        ));
        assert!(store.admit_put_alarm("2", "us-east-1", now));
    }
}
