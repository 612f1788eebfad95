//! A private dovecot for tests (feature `test-support`): Debian's `dovecot-imapd`, started on
//! loopback from a configuration in a temporary directory, with a test user, a fresh certificate,
//! IMAP with STARTTLS and IMAPS on free ports, and Maildir storage the test can read directly.
//! Killed, and its directory removed, on drop.
//!
//! Run as root (CI), dovecot's login processes run as `nobody` and mail is stored as
//! nobody/nogroup (dovecot refuses mail access as root); run as another user, every process is
//! that user.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mta_sts_store::test_support::skip;

use super::{ImapUrl, Security};

/// Where Debian installs the dovecot master (package dovecot-core).
pub const DOVECOT: &str = "/usr/sbin/dovecot";
/// Where Debian installs the IMAP server process (package dovecot-imapd).
const IMAP_SERVER: &str = "/usr/lib/dovecot/imap";

/// The test user's login name.
pub const USER: &str = "reports";
/// The test user's password.
pub const PASSWORD: &str = "dovecot-test-password";

/// Debian's `nobody` and `nogroup`.
const NOBODY: u32 = 65534;

/// A running private dovecot.
#[derive(Debug)]
pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    imap_port: u16,
    imaps_port: u16,
    ca_pem: String,
    /// The owner given to directories the harness makes in the mail store (root: nobody).
    mail_owner: Option<u32>,
}

impl Dovecot {
    /// Starts dovecot, or returns `None` after a `SKIPPED:` line on standard error when it is not
    /// installed (a failure instead when `MTA_STS_REQUIRE_TOOLS=1`).
    ///
    /// # Panics
    /// When dovecot is installed but does not start: that is a fault of the harness or machine.
    pub fn start() -> Option<Dovecot> {
        Dovecot::start_with_capabilities(None)
    }

    /// Starts dovecot announcing exactly `capabilities` after login (dovecot's
    /// `imap_capability`), to play a server without MOVE or UIDPLUS. The commands still work;
    /// only the announcement, which the client goes by, changes.
    ///
    /// # Panics
    /// As [`Dovecot::start`].
    pub fn start_with_capabilities(capabilities: Option<&str>) -> Option<Dovecot> {
        if !installed() {
            return None;
        }
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-dovecot-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["base", "state", "mail", "home"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the dovecot test directory");
        }
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        let (internal_user, login_user, mail_ids) = if root {
            for sub in ["mail", "home"] {
                std::os::unix::fs::chown(dir.join(sub), Some(NOBODY), Some(NOBODY))
                    .expect("give the mail directory to nobody");
            }
            (
                "root".to_string(),
                "nobody".to_string(),
                format!("mail_uid = {NOBODY}\nmail_gid = {NOBODY}\n"),
            )
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".to_string());
            (me.clone(), me, String::new())
        };

        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("generate the test certificate");
        let ca_pem = certified.cert.pem();
        std::fs::write(dir.join("cert.pem"), &ca_pem).expect("write the certificate");
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem())
            .expect("write the key");
        std::fs::write(
            dir.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .expect("write the password file");

        let imap_port = free_port();
        let imaps_port = free_port();
        let d = dir.display();
        let instance = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let capability_line = capabilities
            .map(|list| format!("imap_capability = {list}\n"))
            .unwrap_or_default();
        let config = format!(
            "protocols = imap
listen = 127.0.0.1
base_dir = {d}/base
state_dir = {d}/state
instance_name = {instance}
log_path = {d}/dovecot.log
default_internal_user = {internal_user}
default_internal_group = {internal_user}
default_login_user = {login_user}
first_valid_uid = 0
first_valid_gid = 0
{mail_ids}ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = home={d}/home/%u
}}
mail_location = maildir:{d}/mail/%u
{capability_line}service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"
        );
        std::fs::write(dir.join("dovecot.conf"), config).expect("write the dovecot configuration");
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let mut dovecot = Dovecot {
            child,
            dir,
            imap_port,
            imaps_port,
            ca_pem,
            mail_owner: root.then_some(NOBODY),
        };
        dovecot.wait_until_listening();
        Some(dovecot)
    }

    /// Readiness: the master binds its listeners before it serves; poll until both accept, or
    /// fail with the log when dovecot exits or 20 s pass.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.imaps_port, self.imap_port] {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            loop {
                if TcpStream::connect(address).is_ok() {
                    break;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!(
                        "dovecot exited ({status}) before listening:\n{}",
                        self.log()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not listen on {address} within 20 s:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The URL of a mailbox of the test user, by implicit TLS or STARTTLS.
    pub fn url(&self, security: Security, mailbox: &str) -> ImapUrl {
        ImapUrl {
            security,
            user: USER.to_string(),
            host: "127.0.0.1".to_string(),
            port: match security {
                Security::ImplicitTls => self.imaps_port,
                Security::StartTls => self.imap_port,
            },
            mailbox: mailbox.to_string(),
        }
    }

    /// The server's certificate, PEM (self-signed: it is its own CA).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The certificate as a file, for `--ca-file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The temporary directory (configuration, Maildir, log); removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A TLS client configuration trusting this server.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        super::tls_config(Some(self.ca_pem.as_bytes())).expect("the test certificate is usable")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// Delivers a message by IMAP APPEND (RFC 3501 §6.3.11), creating the folder when missing.
    ///
    /// # Panics
    /// When the server refuses: the test cannot go on.
    pub async fn append(&self, folder: &str, raw: &[u8]) {
        self.append_with_flags(folder, raw, None).await;
    }

    /// Delivers a message by IMAP APPEND with flags, such as `(\Deleted)`.
    ///
    /// # Panics
    /// When the server refuses: the test cannot go on.
    pub async fn append_with_flags(&self, folder: &str, raw: &[u8], flags: Option<&str>) {
        let tcp = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.imaps_port))
            .await
            .expect("connect to dovecot");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("an IP name");
        let tls = tokio_rustls::TlsConnector::from(self.tls())
            .connect(name, tcp)
            .await
            .expect("TLS with dovecot");
        let mut client = async_imap::Client::new(tls);
        client.read_response().await.expect("the greeting");
        let mut session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("log in to dovecot");
        if !folder.eq_ignore_ascii_case("INBOX") {
            // Already there is fine.
            let _ = session.create(folder).await;
        }
        session
            .append(folder, flags, None, raw)
            .await
            .expect("APPEND to dovecot");
        let _ = session.logout().await;
    }

    /// Delivers a message by writing it into the Maildir (`new/`), as a local delivery agent
    /// would: synchronous, and without an IMAP connection.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn deliver(&self, folder: &str, raw: &[u8]) {
        static DELIVERED: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{}.M{}P{}.mta-sts-test",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            DELIVERED.fetch_add(1, Ordering::Relaxed),
            std::process::id()
        );
        let folder_dir = self.folder_dir(folder);
        // Before the user's first login the Maildir does not exist yet: make it as dovecot would,
        // owned by the mail user.
        let user_dir = self.dir.join("mail").join(USER);
        for dir in [&user_dir, &folder_dir]
            .into_iter()
            .flat_map(|d| [d.clone(), d.join("tmp"), d.join("new"), d.join("cur")])
        {
            if !dir.exists() {
                std::fs::create_dir(&dir).expect("make the Maildir");
                if let Some(owner) = self.mail_owner {
                    std::os::unix::fs::chown(&dir, Some(owner), Some(owner))
                        .expect("give the Maildir to the mail user");
                }
            }
        }
        // Maildir: write in tmp/, then rename into new/, so the server never sees half a message.
        let tmp = folder_dir.join("tmp").join(&name);
        std::fs::write(&tmp, raw).expect("write the message into tmp/");
        std::fs::rename(&tmp, folder_dir.join("new").join(&name)).expect("move it into new/");
    }

    fn folder_dir(&self, folder: &str) -> PathBuf {
        let root = self.dir.join("mail").join(USER);
        if folder.eq_ignore_ascii_case("INBOX") {
            root
        } else {
            root.join(format!(".{folder}"))
        }
    }

    /// Drops every IMAP connection of the test user (`doveadm kick`), as a server restart would.
    ///
    /// # Panics
    /// When doveadm fails.
    pub fn kick(&self) {
        let output = Command::new("/usr/bin/doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .arg("kick")
            .arg(USER)
            .output()
            .expect("run doveadm");
        assert!(
            output.status.success(),
            "doveadm kick failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// How many messages in `folder` carry the `\Deleted` flag (Maildir's `T` in the file name).
    pub fn flagged_deleted(&self, folder: &str) -> usize {
        let dir = self.folder_dir(folder).join("cur");
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .rsplit_once(":2,")
                            .is_some_and(|(_, flags)| flags.contains('T'))
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Every message now in `folder`, read straight from the Maildir (Maildir++ layout: INBOX
    /// is the root, another folder `.NAME`), in file-name order (delivery order).
    pub fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        let root = self.folder_dir(folder);
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(root.join(sub)) {
                files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read(path).ok())
            .collect()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // Its children leave when the master's pipe closes.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port: bound, read and released. Dovecot binds its own sockets, so a tiny race
/// with another process remains; the readiness check fails loudly if it is lost.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

/// Whether dovecot is installed; when not, the test is skipped visibly (or fails with
/// `MTA_STS_REQUIRE_TOOLS=1`), as every test that needs a system program is.
fn installed() -> bool {
    [DOVECOT, IMAP_SERVER]
        .into_iter()
        .all(|program| skip::installed(program, "dovecot-imapd"))
}
