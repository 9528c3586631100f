#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    // Certificate paths are read as given: a device or procfs file would
    // only measure the machine (reading /dev/zero never ends), not the parser.
    if ["/dev", "/proc", "/sys"]
        .iter()
        .any(|dir| text.contains(dir))
    {
        return;
    }
    // A directory that does not exist, so relative certificate paths fail
    // to read instead of finding files of the run's working directory.
    let _ = secrets_rotation_exporter::web::parse(text, Path::new("/nonexistent/web-config.yml"));
});
