#![no_main]

use libfuzzer_sys::fuzz_target;

// A config file is operator input, but it is also whatever a templating
// mistake or a truncated write leaves behind: it must be refused with an
// error, never crash or stall the exporter.
fuzz_target!(|text: &str| {
    let _ = secrets_rotation_exporter::config::parse(text);
});
