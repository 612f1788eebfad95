//! A private Knot DNS for tests (feature `test-support`): Debian's `knotd`, started on loopback
//! from a configuration in a temporary directory, authoritative for the zones a test gives, and
//! accepting RFC 2136 updates signed with [`UPDATE_KEY`]. Killed, and its directory removed, on
//! drop.
//!
//! Knot keeps updates in memory here (no journal, no zone-file sync): each server starts from
//! the zones the test wrote and forgets everything when it stops.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mta_sts_store::test_support::skip;

use super::{TsigAlgorithm, TsigKey};

/// Where Debian installs the server (package knot).
pub const KNOTD: &str = "/usr/sbin/knotd";
/// Where Debian installs the update client (package knot-dnsutils).
pub const KNSUPDATE: &str = "/usr/bin/knsupdate";

/// The key the server lets update every zone.
pub const UPDATE_KEY: &str = "mta-sts-update";
/// A key the server knows but lets update nothing: its updates are refused by the access list.
pub const READ_ONLY_KEY: &str = "mta-sts-read-only";

/// How long knotd may take to load its zones.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many fresh ports to try when another program takes the chosen one first.
const ATTEMPTS: usize = 5;

/// One zone for the server: its name and the records below its SOA and NS, in zone-file syntax
/// with the zone as `$ORIGIN` (`@ MX 10 mx1`, `mx1 A 127.0.0.1`).
#[derive(Debug, Clone)]
pub struct Zone {
    /// The zone's name, without the trailing dot (`example.test`).
    pub name: String,
    /// Zone-file lines.
    pub records: String,
}

impl Zone {
    /// The zone `name` holding `records`.
    pub fn new(name: &str, records: &str) -> Zone {
        Zone {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            records: records.to_string(),
        }
    }
}

/// A running private Knot DNS.
#[derive(Debug)]
pub struct Knot {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
    update_secret: String,
    read_only_secret: String,
    log: Arc<Mutex<String>>,
}

impl Knot {
    /// Starts knotd for `zones`, or returns `None` after a `SKIPPED:` line on standard error
    /// when it is not installed (a failure instead when `MTA_STS_REQUIRE_TOOLS=1`).
    ///
    /// # Panics
    /// When knotd is installed but does not start or load a zone: that is a fault of the
    /// harness, the zones given, or the machine.
    pub fn start(zones: &[Zone]) -> Option<Knot> {
        // The tests also change zones through knsupdate, a client other than ours.
        if !skip::installed(KNOTD, "knot") || !skip::installed(KNSUPDATE, "knot-dnsutils") {
            return None;
        }
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-knot-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("db")).expect("create the knot test directory");
        for zone in zones {
            std::fs::write(dir.join(format!("{}.zone", zone.name)), zone_file(zone))
                .expect("write a zone file");
        }
        let update_secret = random_secret();
        let read_only_secret = random_secret();
        let mut failures = String::new();
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            std::fs::write(
                dir.join("knot.conf"),
                config(&dir, addr, zones, &update_secret, &read_only_secret),
            )
            .expect("write the knot configuration");
            let mut child = Command::new(KNOTD)
                .arg("-c")
                .arg(dir.join("knot.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start knotd");
            let log = Arc::new(Mutex::new(String::new()));
            let (lines, events) = mpsc::channel();
            for output in [
                child
                    .stdout
                    .take()
                    .map(|o| Box::new(o) as Box<dyn Read + Send>),
                child
                    .stderr
                    .take()
                    .map(|o| Box::new(o) as Box<dyn Read + Send>),
            ]
            .into_iter()
            .flatten()
            {
                collect_log(output, Arc::clone(&log), lines.clone());
            }
            drop(lines);
            let mut knot = Knot {
                child,
                dir: dir.clone(),
                addr,
                update_secret: update_secret.clone(),
                read_only_secret: read_only_secret.clone(),
                log,
            };
            match knot.wait_until_loaded(zones, &events) {
                Ok(()) => return Some(knot),
                // Another program took the port between our probe and knotd's bind: retry.
                Err(log) if log.contains("address in use") || log.contains("cannot bind") => {
                    failures.push_str(&log);
                    // Keep the directory for the next attempt.
                    knot.dir = PathBuf::new();
                }
                Err(log) => panic!("knotd did not start:\n{log}"),
            }
        }
        panic!("knotd found no free port in {ATTEMPTS} attempts:\n{failures}")
    }

    /// Readiness: knotd logs `[zone.] loaded, serial ...` once a zone answers, and `server
    /// started` once it listens. Err with the log when it exits or takes too long.
    fn wait_until_loaded(
        &mut self,
        zones: &[Zone],
        events: &mpsc::Receiver<String>,
    ) -> Result<(), String> {
        let mut waiting: HashSet<String> = zones.iter().map(|z| format!("[{}.]", z.name)).collect();
        let mut started = false;
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        while !(started && waiting.is_empty()) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match events.recv_timeout(left) {
                Ok(line) => {
                    if line.contains("server started") {
                        started = true;
                    }
                    if line.contains("] loaded, serial") {
                        waiting.retain(|zone| !line.contains(zone.as_str()));
                    }
                    if line.contains("error:") && line.contains("zone") && line.contains("failed") {
                        return Err(self.log());
                    }
                }
                // Both outputs closed: knotd exited.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    return Err(self.log());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "knotd did not load its zones within {} s:\n{}",
                        START_TIMEOUT.as_secs(),
                        self.log()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The address knotd answers on, UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key allowed to update every zone.
    pub fn update_key(&self) -> TsigKey {
        TsigKey::from_base64(UPDATE_KEY, TsigAlgorithm::HmacSha256, &self.update_secret)
            .expect("the harness's key is valid")
    }

    /// The update key's secret, base64.
    pub fn update_secret(&self) -> &str {
        &self.update_secret
    }

    /// A key the server knows but whose updates its access list refuses.
    pub fn read_only_key(&self) -> TsigKey {
        TsigKey::from_base64(
            READ_ONLY_KEY,
            TsigAlgorithm::HmacSha256,
            &self.read_only_secret,
        )
        .expect("the harness's key is valid")
    }

    /// Writes the update key as `tsig-keygen` would (BIND's key file syntax) into the server's
    /// directory, and returns its path: what a configuration's `secret_file` names.
    pub fn write_update_key_file(&self) -> PathBuf {
        let path = self.dir.join("update.key");
        std::fs::write(
            &path,
            format!(
                "key \"{UPDATE_KEY}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
                self.update_secret
            ),
        )
        .expect("write the key file");
        path
    }

    /// Sends `commands` (knsupdate's syntax: `update add NAME TTL TYPE DATA`, ...) as one update
    /// signed with the update key, through Debian's `knsupdate`: a client other than ours, for
    /// a test's own changes to a zone.
    ///
    /// # Panics
    /// When knsupdate is missing or the server refuses.
    pub fn nsupdate(&self, zone: &str, commands: &str) {
        let script = format!(
            "server {} {}\nzone {zone}.\n{commands}\nsend\n",
            self.addr.ip(),
            self.addr.port()
        );
        let mut child = Command::new(KNSUPDATE)
            .arg("-y")
            .arg(format!("hmac-sha256:{UPDATE_KEY}:{}", self.update_secret))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start knsupdate (apt-get install knot-dnsutils)");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            stdin
                .write_all(script.as_bytes())
                .expect("write to knsupdate");
        }
        let output = child.wait_with_output().expect("run knsupdate");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && !printed.contains("ERROR"),
            "knsupdate failed ({}):\n{printed}\nscript:\n{script}",
            output.status
        );
    }

    /// The server's directory (configuration, zone files, key file); removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What knotd logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        // The child is the knotd this harness started: kill it by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Reads one of knotd's outputs line by line on a thread of its own, into the shared log and
/// the readiness channel; a full pipe would otherwise stop knotd at its next log line.
fn collect_log(output: Box<dyn Read + Send>, log: Arc<Mutex<String>>, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
            // The receiver is gone once the server is ready; keep draining anyway.
            let _ = lines.send(line);
        }
    });
}

fn zone_file(zone: &Zone) -> String {
    format!(
        "$ORIGIN {name}.\n$TTL 60\n@ SOA ns.{name}. hostmaster.{name}. 1 3600 600 86400 60\n\
         @ NS ns.{name}.\nns A 127.0.0.1\n{records}\n",
        name = zone.name,
        records = zone.records
    )
}

fn config(
    dir: &Path,
    addr: SocketAddr,
    zones: &[Zone],
    update_secret: &str,
    read_only_secret: &str,
) -> String {
    let d = dir.display();
    let mut text = format!(
        "server:
    rundir: {d}
    listen: {ip}@{port}
log:
  - target: stdout
    any: info
database:
    storage: {d}/db
key:
  - id: {UPDATE_KEY}.
    algorithm: hmac-sha256
    secret: {update_secret}
  - id: {READ_ONLY_KEY}.
    algorithm: hmac-sha256
    secret: {read_only_secret}
acl:
  - id: update
    key: {UPDATE_KEY}.
    action: update
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
",
        ip = addr.ip(),
        port = addr.port()
    );
    for zone in zones {
        text.push_str(&format!(
            "  - domain: {name}.\n    file: {name}.zone\n    acl: update\n",
            name = zone.name
        ));
    }
    text
}

/// A port free for both UDP and TCP on 127.0.0.1 when asked (knotd binds both).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP port");
        let port = udp.local_addr().expect("a bound address").port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

/// 32 random bytes, base64: a fresh secret per server, so no test passes by a fixed key.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    let mut urandom = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    urandom.read_exact(&mut bytes).expect("read /dev/urandom");
    data_encoding::BASE64.encode(&bytes)
}
