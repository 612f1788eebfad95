//! The daemon's configuration readers never panic on what an operator writes: any text is either a
//! configuration or an error, in our TOML (`--config`) and in postfix-mta-sts-resolver's YAML
//! (`--compat-config`). A configuration read from TOML passes its own validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_policyd::{Config, compat_config};

fuzz_target!(|data: &[u8]| {
    // The files are read as UTF-8 text (`read_to_string`): anything else never reaches a parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        assert!(config.validate().is_ok());
    }
    let _ = compat_config::from_yaml(text);
});
