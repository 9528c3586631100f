#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_rotation_exporter::config::{format_config_duration, parse_duration};

fuzz_target!(|text: &str| {
    if let Ok(duration) = parse_duration(text) {
        // What the exporter prints back (in `check` and errors) must read
        // back as the same duration, or a config copied from its output
        // would change meaning.
        let shown = format_config_duration(duration);
        assert_eq!(
            parse_duration(&shown),
            Ok(duration),
            "{text:?} printed as {shown:?}"
        );
    }
});
