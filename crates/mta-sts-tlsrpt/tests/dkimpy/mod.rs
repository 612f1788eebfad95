//! dkimpy, an independent DKIM verifier (Python, PyPI `dkimpy`, with `pynacl` for Ed25519),
//! run through `tests/dkim_verify.py`. The Python is `MTA_STS_TEST_DKIMPY` (a virtualenv's
//! `bin/python`), else `python3`; without dkimpy the test is skipped visibly (a failure under
//! `MTA_STS_REQUIRE_TOOLS=1`).

#![allow(dead_code)] // Each test binary uses its own part.

use std::io::Write as _;
use std::process::{Command, Stdio};

use mta_sts_store::test_support::skip;

/// The environment variable naming a Python with dkimpy.
pub const DKIMPY_ENV: &str = "MTA_STS_TEST_DKIMPY";

/// A Python that imports `dkim` (and `nacl` when `ed25519`), or `None` after a `SKIPPED:` line.
pub fn python(ed25519: bool) -> Option<String> {
    let python = std::env::var(DKIMPY_ENV).unwrap_or_else(|_| "python3".to_string());
    let modules = if ed25519 {
        "import dkim, nacl"
    } else {
        "import dkim"
    };
    let works = Command::new(&python)
        .args(["-c", modules])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if works {
        Some(python)
    } else {
        skip::skip(&format!(
            "{} needs Python with dkimpy{} (python3 -m venv V && V/bin/pip install dkimpy pynacl; \
             then {DKIMPY_ENV}=V/bin/python)",
            skip::running_test(),
            if ed25519 { " and pynacl" } else { "" }
        ));
        None
    }
}

/// dkimpy's verdict on `message` with the key record `record` published at `name`: `Ok` with
/// its `pass` line, or `Err` with its reason.
pub fn verify(python: &str, name: &str, record: &str, message: &[u8]) -> Result<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dkim_verify.py");
    let mut child = Command::new(python)
        .args([script, name, record])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dkim_verify.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(message)
        .expect("write the message");
    let output = child.wait_with_output().expect("dkim_verify.py");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

/// A message as a Maildir file holds it (LF line ends) back in its wire form (CRLF).
pub fn crlf(message: &str) -> Vec<u8> {
    message
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}
