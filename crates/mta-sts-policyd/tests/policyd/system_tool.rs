//! System programs some tests drive (`redis-server`, `openssl`). Without the program
//! a test cannot run: it says so on the real standard error, where a green run still shows it,
//! or fails when `MTA_STS_REQUIRE_TOOLS=1` (CI installs every program, so a skip there is a fault).

use std::io::Write as _;
use std::path::Path;

/// Whether `program` (an absolute path) is installed. When it is not, the test skips: one line
/// `SKIPPED: <test> needs <program> (apt-get install <package>)` goes to standard error, written
/// past libtest's output capture (which swallows `eprintln!` of a passing test); with
/// `MTA_STS_REQUIRE_TOOLS=1` the test fails instead.
pub fn installed(program: &str, package: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let need = format!("{test} needs {program} (apt-get install {package})");
    assert!(
        std::env::var_os("MTA_STS_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
        "{need}; MTA_STS_REQUIRE_TOOLS=1 makes a missing tool a failure, not a skip"
    );
    let line = format!("SKIPPED: {need}");
    // A write error leaves nothing better to report to.
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
    false
}
