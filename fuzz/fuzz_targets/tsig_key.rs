//! The TSIG secret file reader (`mta-sts serve`'s `[[dns_update]] secret_file`: the secret
//! alone, or the key file BIND's tsig-keygen or Knot's keymgr -t writes) never panics: any text
//! is a key or an error naming the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_net::dns_update::{TsigAlgorithm, TsigKey};

fuzz_target!(|data: &[u8]| {
    // The file is read as UTF-8 text (`read_to_string`): anything else never reaches the reader.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = TsigKey::from_key_file_text("mta-sts-update", TsigAlgorithm::HmacSha256, text, "fuzz")
    {
        assert_eq!(key.name(), "mta-sts-update");
    }
});
