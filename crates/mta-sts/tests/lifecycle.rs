//! The servers' process lifecycle as systemd sees it: the real binary, real signals, and
//! systemd's notify socket played by a unix datagram socket of the test.

use std::io::{BufRead as _, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// systemd's side: a datagram socket in a directory of the test's own.
struct Systemd {
    dir: PathBuf,
    socket: UnixDatagram,
}

impl Systemd {
    fn new(name: &str) -> Systemd {
        let dir =
            std::env::temp_dir().join(format!("mta-sts-lifecycle-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let socket = UnixDatagram::bind(dir.join("notify")).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Systemd { dir, socket }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("notify")
    }

    /// The next datagram, as text.
    fn next(&self, waiting_for: &str) -> String {
        let mut buffer = [0u8; 512];
        let n = self
            .socket
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("no {waiting_for} from the server: {e}"));
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `mta-sts ARGS` with systemd's notify socket. Its log is read by a thread that ends
/// when the process closes its standard error, so joining that thread after the process exits
/// gives the whole log.
fn start(args: &[&str], systemd: &Systemd) -> (Child, JoinHandle<Vec<String>>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NOTIFY_SOCKET", systemd.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mta-sts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let log = std::thread::spawn(move || stderr.lines().map_while(Result::ok).collect());
    (child, log)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name}");
}

/// Reload and stop as systemd does them (`systemctl reload`, `systemctl stop`), checking what
/// the server tells systemd at each step and that it exits 0.
fn reload_then_stop(args: &[&str], name: &str) {
    let systemd = Systemd::new(name);
    let (mut child, log) = start(args, &systemd);
    assert_eq!(systemd.next("READY=1"), "READY=1");
    signal(&child, "HUP");
    let reloading = systemd.next("RELOADING=1");
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading}");
    assert!(
        lines
            .next()
            .is_some_and(|line| line.starts_with("MONOTONIC_USEC=")),
        "{reloading}"
    );
    assert_eq!(systemd.next("READY=1 after the reload"), "READY=1");
    signal(&child, "TERM");
    assert_eq!(systemd.next("STOPPING=1"), "STOPPING=1");
    let exit = child.wait().expect("the server stops on SIGTERM");
    let log = log.join().expect("the log reader").join("\n");
    assert!(exit.success(), "{exit:?}\n{log}");
    assert!(
        log.contains("SIGHUP received:") && log.contains("has nothing to reload"),
        "{log}"
    );
    assert!(log.contains("SIGTERM received:"), "{log}");
    assert!(
        log.contains("stopped after finishing the requests in flight"),
        "{log}"
    );
}

#[test]
fn the_daemon_reloads_on_sighup_and_stops_on_sigterm() {
    reload_then_stop(
        &[
            "daemon",
            "--listen",
            "127.0.0.1:0",
            "--cache",
            "memory",
            "--postfix-version",
            "3.10",
        ],
        "daemon",
    );
}

#[test]
fn the_web_checker_reloads_on_sighup_and_stops_on_sigterm() {
    reload_then_stop(&["web", "--listen", "127.0.0.1:0"], "web");
}
