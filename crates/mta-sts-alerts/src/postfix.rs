//! A private Postfix for tests (feature `test-support`): Debian's `postfix`, started as its own instance
//! (`postfix -c DIR start`) from a configuration generated in a temporary directory, listening
//! only on a free loopback port, requiring STARTTLS with a fresh certificate, and delivering
//! mail for `alerts.test` into a Maildir the test reads (the `virtual` delivery agent, as the
//! `postfix` user). Its queue, data directory and log (`maillog_file`) are in the same
//! directory; on drop it is stopped and the directory removed. Needs root, as Postfix does.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mta_sts_store::test_support::skip;

/// Debian's `postfix` command (package postfix).
pub const POSTFIX: &str = "/usr/sbin/postfix";
/// The domain this instance delivers locally.
pub const DOMAIN: &str = "alerts.test";
/// The mailbox alerts are sent to.
pub const OWNER: &str = "owner@alerts.test";

/// A running private Postfix.
#[derive(Debug)]
pub struct Postfix {
    dir: PathBuf,
    port: u16,
}

impl Postfix {
    /// Starts Postfix, or returns `None` after a `SKIPPED:` line when it is not installed or
    /// this is not root (a failure instead when `MTA_STS_REQUIRE_TOOLS=1`).
    ///
    /// # Panics
    /// When Postfix is there but does not start: a fault of the harness or the machine.
    pub fn start() -> Option<Postfix> {
        if !skip::installed(POSTFIX, "postfix") {
            return None;
        }
        let Some((uid, gid)) = postfix_user() else {
            skip::skip(&format!(
                "{} needs the `postfix` user (apt-get install postfix)",
                skip::running_test()
            ));
            return None;
        };
        if !is_root() {
            skip::skip(&format!(
                "{} needs root to start a private Postfix",
                skip::running_test()
            ));
            return None;
        }
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-postfix-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["queue", "data", "mail"] {
            std::fs::create_dir_all(dir.join(sub)).expect("make the Postfix test directory");
        }
        // Postfix's own processes write these as the postfix user.
        for sub in ["data", "mail"] {
            std::os::unix::fs::chown(dir.join(sub), Some(uid), Some(gid))
                .expect("give the directory to postfix");
        }
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("generate the test certificate");
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).expect("write the certificate");
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem())
            .expect("write the key");
        let port = free_port();
        let d = dir.display();
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
myhostname = relay.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Only alerts.test is taken: mail for anywhere else is refused (554), as a relay would refuse
# a sender it does not know.
smtpd_relay_restrictions = reject_unauth_destination
# STARTTLS is required: a client that does not encrypt cannot send.
smtpd_tls_security_level = encrypt
smtpd_tls_cert_file = {d}/cert.pem
smtpd_tls_key_file = {d}/key.pem
smtpd_tls_received_header = yes
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = inline:{{ {OWNER}=owner/ }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
"
        );
        // No chroot (column 5 `n`): the queue is in a temporary directory, not a jail.
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
showq unix n - n - - showq
tlsmgr unix - - n 1000? 1 tlsmgr
"
        );
        std::fs::write(dir.join("main.cf"), main_cf).expect("write main.cf");
        std::fs::write(dir.join("master.cf"), master_cf).expect("write master.cf");
        let postfix = Postfix { dir, port };
        let output = postfix.command("start");
        assert!(
            output.status.success(),
            "postfix -c {} start failed: {}{}\n{}",
            postfix.dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            postfix.log()
        );
        postfix.wait_until_listening();
        Some(postfix)
    }

    fn command(&self, verb: &str) -> std::process::Output {
        Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.dir)
            .arg(verb)
            .output()
            .unwrap_or_else(|e| panic!("running postfix {verb} failed: {e}"))
    }

    /// Readiness: `postfix start` returns once the master runs; poll until the port accepts.
    fn wait_until_listening(&self) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(address).is_err() {
            assert!(
                Instant::now() < deadline,
                "postfix did not listen on {address} within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The SMTP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's certificate (self-signed for `localhost`), for `ca_file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Waits until `count` messages are in the owner's Maildir and returns them all, in
    /// delivery order; fails with the log after 30 s.
    pub async fn wait_for_messages(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages were delivered within 30 s:\n{}",
                messages.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The messages delivered so far.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.join("mail").join("owner").join("new");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("queue/pid/master.pid"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        let _ = self.command("stop");
        // The master leaves after its children; wait for it (bounded) before removing its
        // directory from under it.
        if let Some(pid) = pid {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while proc.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `postfix` user's uid and gid, from /etc/passwd.
fn postfix_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postfix", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
