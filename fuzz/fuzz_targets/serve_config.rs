//! `mta-sts serve`'s configuration reader never panics on what an owner writes: any text is
//! either a configuration or an error naming the problem, and checking a parsed configuration
//! (domains, listeners, users' argon2 hashes, token hashes, the alert and rollout settings) is
//! either Ok or such an error too. A checked configuration checks again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_serve::ServeConfig;

fuzz_target!(|data: &[u8]| {
    // The file is read as UTF-8 text (`read_to_string`): anything else never reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = ServeConfig::parse(text) else {
        return;
    };
    if config.validate().is_ok() {
        let checked = config.clone();
        assert!(config.validate().is_ok());
        assert!(config == checked, "validating twice changed the configuration");
    }
});
