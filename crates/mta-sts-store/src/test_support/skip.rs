//! Skipping a test whose system program or service is missing, visibly: one line starting
//! `SKIPPED:` on the real standard error, where a green run still shows it (libtest's output
//! capture swallows `eprintln!` of a passing test, not a write to the stderr handle), or a
//! failure when `MTA_STS_REQUIRE_TOOLS=1` (CI installs every program and starts every service,
//! so a skip there is a fault).
//!
//! Every test crate reaches this through its dev-dependency on this crate's `test-support`
//! feature (the store is the lowest crate with one), so the rule is written once.

use std::io::Write as _;
use std::path::Path;

/// The environment variable that turns every skip into a failure when it is `1`.
pub const REQUIRE_TOOLS_ENV: &str = "MTA_STS_REQUIRE_TOOLS";

/// Whether `program` (an absolute path) is installed. When it is not, the running test is
/// skipped: `SKIPPED: <test> needs <program> (apt-get install <package>)`.
///
/// # Panics
/// When the program is missing and `MTA_STS_REQUIRE_TOOLS=1`.
#[track_caller]
pub fn installed(program: &str, package: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    skip(&format!(
        "{} needs {program} (apt-get install {package})",
        running_test()
    ));
    false
}

/// Skips the running test for `need`, a sentence naming the test and what it lacks: writes
/// `SKIPPED: <need>` past libtest's capture. The caller then returns without testing.
///
/// # Panics
/// When `MTA_STS_REQUIRE_TOOLS=1`: a test that cannot run must not look like a pass.
#[track_caller]
pub fn skip(need: &str) {
    assert!(
        std::env::var_os(REQUIRE_TOOLS_ENV).is_none_or(|v| v != "1"),
        "{need}; {REQUIRE_TOOLS_ENV}=1 makes a missing tool or service a failure, not a skip"
    );
    // A write error leaves nothing better to report to.
    let _ = std::io::stderr().write_all(format!("SKIPPED: {need}\n").as_bytes());
}

/// The running test's name (libtest names each test's thread after the test).
pub fn running_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_program_is_not_skipped() {
        // /bin/sh is on every machine these tests run on. (The missing case changes with
        // MTA_STS_REQUIRE_TOOLS, which a test cannot set without racing the others.)
        assert!(installed("/bin/sh", "dash"));
    }

    #[test]
    fn the_running_test_is_named() {
        assert!(running_test().ends_with("the_running_test_is_named"));
    }
}
