//! The text exposition format: exact sample values, label escaping, and a
//! writer that emits a family's header only when it has a series and hands
//! the text to a sink in chunks.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::schema::MetricFamily;

/// A sample value. Every value the snapshot holds is an integer or a time
/// with nanosecond precision, so values are written as exact decimals: no
/// exponent, no rounding through `f64`, and never NaN or infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SampleValue {
    Count(u64),
    /// `whole` plus `nanos` billionths, `nanos` below one billion.
    Seconds {
        whole: i64,
        nanos: u32,
    },
}

impl SampleValue {
    pub(super) fn flag(on: bool) -> Self {
        SampleValue::Count(u64::from(on))
    }

    pub(super) fn count(n: usize) -> Self {
        SampleValue::Count(u64::try_from(n).unwrap_or(u64::MAX))
    }

    pub(super) fn timestamp(time: DateTime<Utc>) -> Self {
        let mut whole = time.timestamp();
        let mut nanos = time.timestamp_subsec_nanos();
        // chrono counts a leap second as nanos past one billion.
        if nanos >= 1_000_000_000 {
            whole = whole.saturating_add(1);
            nanos -= 1_000_000_000;
        }
        SampleValue::Seconds { whole, nanos }
    }

    pub(super) fn duration(duration: Duration) -> Self {
        SampleValue::Seconds {
            whole: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            nanos: duration.subsec_nanos(),
        }
    }

    fn write(self, out: &mut String) {
        let mut digits = itoa::Buffer::new();
        match self {
            SampleValue::Count(n) => out.push_str(digits.format(n)),
            SampleValue::Seconds { whole, nanos } => {
                // `whole` is the floor, so before 1970 the fraction counts up
                // from a more negative second: -1 s + 0.25 s is -0.75.
                let (negative, integer, fraction) = if whole < 0 && nanos > 0 {
                    (true, (whole + 1).unsigned_abs(), 1_000_000_000 - nanos)
                } else {
                    (whole < 0, whole.unsigned_abs(), nanos)
                };
                if negative {
                    out.push('-');
                }
                out.push_str(digits.format(integer));
                if fraction > 0 {
                    // Nine places with the trailing zeros dropped: the
                    // significant digits, after as many leading zeros as
                    // the remaining places leave.
                    let mut significant = fraction;
                    let mut places = 9;
                    while significant % 10 == 0 {
                        significant /= 10;
                        places -= 1;
                    }
                    let significant = digits.format(significant);
                    out.push('.');
                    for _ in significant.len()..places {
                        out.push('0');
                    }
                    out.push_str(significant);
                }
            }
        }
    }
}

/// Whether a label value holds a byte the text format escapes. Checked in
/// blocks without an early exit so that the compiler can vectorise the scan,
/// which runs for every label value of a scrape.
fn needs_escaping(value: &str) -> bool {
    value.as_bytes().chunks(32).any(|block| {
        block.iter().fold(false, |found, &b| {
            found | (b == b'\\') | (b == b'"') | (b == b'\n')
        })
    })
}

/// Escapes a label value as the text format requires: backslash, double
/// quote and line feed.
pub(super) fn push_escaped(out: &mut String, value: &str) {
    if !needs_escaping(value) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `value` escaped, borrowed when nothing needed escaping.
pub(super) fn escaped(value: &str) -> Cow<'_, str> {
    if needs_escaping(value) {
        let mut out = String::with_capacity(value.len() + 8);
        push_escaped(&mut out, value);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

/// Appends `,name="value"`.
pub(super) fn push_label(out: &mut String, name: &str, value: &str) {
    out.push(',');
    out.push_str(name);
    out.push_str("=\"");
    push_escaped(out, value);
    out.push('"');
}

/// Appends `,name="value"` for a value that is already escaped.
pub(super) fn push_escaped_label(out: &mut String, name: &str, escaped_value: &str) {
    out.push(',');
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(escaped_value);
    out.push('"');
}

/// How much rendered text is gathered before it goes to the sink: large
/// enough that the sink (a gzip encoder) works on big blocks, small enough
/// to stay in the CPU cache.
pub(super) const CHUNK_BYTES: usize = 256 * 1024;

/// Where rendered text goes: gathered in `text` and, when there is a sink,
/// handed to it every [`CHUNK_BYTES`], so that a streamed rendering never
/// holds the whole exposition.
pub(super) struct Output<'a> {
    text: &'a mut String,
    sink: Option<&'a mut dyn std::io::Write>,
    /// The sink's first error; what is rendered after it is dropped.
    error: Option<std::io::Error>,
}

impl<'a> Output<'a> {
    pub(super) fn new(text: &'a mut String, sink: Option<&'a mut dyn std::io::Write>) -> Self {
        Self {
            text,
            sink,
            error: None,
        }
    }

    /// Hands the rest of the text to the sink, and reports the sink's first
    /// error.
    pub(super) fn finish(mut self) -> std::io::Result<()> {
        self.flush();
        match self.error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Called between series, so that chunks end at line boundaries.
    fn series_written(&mut self) {
        if self.text.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        if self.error.is_none()
            && let Err(err) = sink.write_all(self.text.as_bytes())
        {
            self.error = Some(err);
        }
        self.text.clear();
    }
}

/// Writes the series of one family. The header goes out with the first
/// series only, so a family with nothing to report is left out entirely.
pub(super) struct FamilyWriter<'w, 'a> {
    out: &'w mut Output<'a>,
    family: &'static MetricFamily,
    header_written: bool,
    /// `name{account_id="...",region="..."` of the current target.
    target_prefix: String,
    /// The target prefix followed by `,secret_name="`.
    secret_prefix: String,
}

/// `# HELP` and `# TYPE` of a family.
pub(super) fn push_family_header(out: &mut String, family: &MetricFamily) {
    out.push_str("# HELP ");
    out.push_str(family.name);
    out.push(' ');
    out.push_str(family.help);
    out.push_str("\n# TYPE ");
    out.push_str(family.name);
    out.push(' ');
    out.push_str(family.metric_type.as_str());
    out.push('\n');
}

impl<'w, 'a> FamilyWriter<'w, 'a> {
    pub(super) fn new(out: &'w mut Output<'a>, family: &'static MetricFamily) -> Self {
        Self {
            out,
            family,
            header_written: false,
            target_prefix: String::new(),
            secret_prefix: String::new(),
        }
    }

    fn write_header(&mut self) {
        if self.header_written {
            return;
        }
        self.header_written = true;
        push_family_header(self.out.text, self.family);
    }

    /// Makes the target whose escaped `account_id="...",region="..."` is
    /// `identity` the one the next series belong to.
    pub(super) fn start_target(&mut self, identity: &str) {
        self.target_prefix.clear();
        self.target_prefix.push_str(self.family.name);
        self.target_prefix.push('{');
        self.target_prefix.push_str(identity);
        self.secret_prefix.clear();
        self.secret_prefix.push_str(&self.target_prefix);
        self.secret_prefix.push_str(",secret_name=\"");
    }

    /// Writes the current target's `name{account_id="...",region="..."`;
    /// more labels follow with [`push_label`] and the series ends with
    /// [`FamilyWriter::end_series`].
    pub(super) fn start_target_series(&mut self) -> &mut String {
        self.write_header();
        let out = &mut *self.out.text;
        out.push_str(&self.target_prefix);
        out
    }

    /// As [`FamilyWriter::start_target_series`], with the secret's name.
    pub(super) fn start_secret_series(&mut self, escaped_name: &str) -> &mut String {
        self.write_header();
        let out = &mut *self.out.text;
        out.push_str(&self.secret_prefix);
        out.push_str(escaped_name);
        out.push('"');
        out
    }

    pub(super) fn end_series(&mut self, value: SampleValue) {
        let out = &mut *self.out.text;
        out.push_str("} ");
        value.write(out);
        out.push('\n');
        self.out.series_written();
    }

    pub(super) fn unlabelled_series(&mut self, value: SampleValue) {
        self.write_header();
        let out = &mut *self.out.text;
        out.push_str(self.family.name);
        out.push(' ');
        value.write(out);
        out.push('\n');
        self.out.series_written();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rendered(value: SampleValue) -> String {
        let mut out = String::new();
        value.write(&mut out);
        out
    }

    #[test]
    fn whole_timestamps_print_as_integers() {
        let time = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single();
        let time = time.map(SampleValue::timestamp).map(rendered);
        assert_eq!(time.as_deref(), Some("1717243200"));
    }

    #[test]
    fn fractional_seconds_print_exactly_without_trailing_zeros() {
        let value = SampleValue::Seconds {
            whole: 1_717_243_200,
            nanos: 120_000_000,
        };
        assert_eq!(rendered(value), "1717243200.12");
        let value = SampleValue::duration(Duration::from_nanos(1_000_000_001));
        assert_eq!(rendered(value), "1.000000001");
    }

    #[test]
    fn times_before_1970_print_the_right_negative_value() {
        let time = DateTime::<Utc>::from_timestamp(-2, 250_000_000);
        assert_eq!(
            time.map(SampleValue::timestamp).map(rendered).as_deref(),
            Some("-1.75")
        );
        let time = DateTime::<Utc>::from_timestamp(-3, 0);
        assert_eq!(
            time.map(SampleValue::timestamp).map(rendered).as_deref(),
            Some("-3")
        );
    }

    #[test]
    fn huge_durations_saturate_instead_of_wrapping() {
        assert_eq!(
            rendered(SampleValue::duration(Duration::MAX)),
            "9223372036854775807.999999999"
        );
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut out = String::new();
        push_escaped(&mut out, "a\\b\"c\nd é");
        assert_eq!(out, "a\\\\b\\\"c\\nd é");
    }
}
