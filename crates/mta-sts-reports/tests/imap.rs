//! The IMAP fetch against a real dovecot on loopback, with a handler that sorts messages by a
//! header, so the mailbox logic is tested apart from the intake (the binary's tests wire both).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mta_sts_reports::imap::dovecot::{self, Dovecot};
use mta_sts_reports::imap::{
    Disposition, FetchSettings, ImapError, MessageHandler, PassTally, Security, fetch_once, watch,
};

type OnTrouble = Box<dyn Fn(&ImapError) + Send + Sync>;

/// Takes messages marked `X-Kind: report`, sends others to not-a-report, and answers "store
/// unavailable" while `store_down` is set.
#[derive(Default)]
struct Sorter {
    store_down: AtomicBool,
    seen: Mutex<Vec<String>>,
    too_large: Mutex<Vec<u32>>,
    taken: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    /// Called on each connection failure, before the watcher waits to reconnect.
    on_trouble: Option<OnTrouble>,
}

impl MessageHandler for Sorter {
    async fn take(&self, _uid: u32, raw: &[u8]) -> Disposition {
        let text = String::from_utf8_lossy(raw).into_owned();
        let subject = subject(&text);
        self.seen.lock().expect("lock").push(subject.clone());
        if self.store_down.load(Ordering::SeqCst) {
            return Disposition::StoreUnavailable;
        }
        if text.contains("X-Kind: report") {
            if let Some(taken) = &self.taken {
                let _ = taken.send(subject);
            }
            Disposition::Taken
        } else {
            Disposition::NotAReport
        }
    }

    fn too_large(&self, uid: u32, _size: u32, _cap: u32) {
        self.too_large.lock().expect("lock").push(uid);
    }

    fn connection_trouble(&self, error: &ImapError, _retry_in: Duration) {
        if let Some(on_trouble) = &self.on_trouble {
            on_trouble(error);
        }
    }
}

impl Sorter {
    fn seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

fn subject(text: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix("Subject: "))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn message(subject: &str, kind: &str) -> Vec<u8> {
    format!(
        "From: reporter@example.net\r\nTo: tlsrpt@example.com\r\nSubject: {subject}\r\n\
         X-Kind: {kind}\r\nMessage-ID: <{subject}@example.net>\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

fn subjects(messages: &[Vec<u8>]) -> Vec<String> {
    let mut subjects: Vec<String> = messages
        .iter()
        .map(|m| subject(&String::from_utf8_lossy(m)))
        .collect();
    subjects.sort();
    subjects
}

fn settings(server: &Dovecot, security: Security) -> FetchSettings {
    let mut settings = FetchSettings::new(
        server.url(security, "INBOX"),
        dovecot::PASSWORD.to_string(),
        server.tls(),
    );
    settings.timeout = Duration::from_secs(20);
    settings
}

#[tokio::test]
async fn messages_are_sorted_into_folders_and_never_read_twice() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &message("report-1", "report")).await;
    server.append("INBOX", &message("spam-1", "other")).await;
    server.append("INBOX", &message("report-2", "report")).await;
    let settings = settings(&server, Security::ImplicitTls);
    let handler = Sorter::default();

    let tally = fetch_once(&settings, &handler).await.expect("fetch");
    assert_eq!(
        tally,
        PassTally {
            taken: 2,
            not_a_report: 1,
            too_large: 0,
            store_unavailable: false
        }
    );
    // In UID order, each once.
    assert_eq!(handler.seen(), ["report-1", "spam-1", "report-2"]);
    assert!(server.messages("INBOX").is_empty());
    assert_eq!(
        subjects(&server.messages("TLSRPT-processed")),
        ["report-1", "report-2"]
    );
    assert_eq!(
        subjects(&server.messages("TLSRPT-not-a-report")),
        ["spam-1"]
    );

    // A second run finds nothing to read.
    let tally = fetch_once(&settings, &handler).await.expect("second fetch");
    assert_eq!(tally, PassTally::default());
    assert!(handler.seen().is_empty());
}

#[tokio::test]
async fn a_store_that_is_down_leaves_mail_in_place_until_the_retry() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &message("report-1", "report")).await;
    server.append("INBOX", &message("report-2", "report")).await;
    let mut settings = settings(&server, Security::StartTls);
    settings.processed_folder = "Done".to_string();
    let handler = Sorter::default();
    handler.store_down.store(true, Ordering::SeqCst);

    let tally = fetch_once(&settings, &handler).await.expect("fetch");
    assert!(tally.store_unavailable);
    assert_eq!(tally.taken, 0);
    // The pass stopped at the first message; both are still in the mailbox, nothing moved.
    assert_eq!(handler.seen(), ["report-1"]);
    assert_eq!(
        subjects(&server.messages("INBOX")),
        ["report-1", "report-2"]
    );
    assert!(server.messages("Done").is_empty());

    handler.store_down.store(false, Ordering::SeqCst);
    let tally = fetch_once(&settings, &handler).await.expect("retry");
    assert_eq!(tally.taken, 2);
    assert!(!tally.store_unavailable);
    assert!(server.messages("INBOX").is_empty());
    assert_eq!(subjects(&server.messages("Done")), ["report-1", "report-2"]);
}

#[tokio::test]
async fn a_message_over_the_size_cap_is_left_unread_and_reported() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let mut big = message("big", "report");
    big.extend(std::iter::repeat_n(b'x', 4096));
    big.extend(b"\r\n");
    server.append("INBOX", &big).await;
    server.append("INBOX", &message("small", "report")).await;
    let mut settings = settings(&server, Security::ImplicitTls);
    settings.max_message_size = 1024;
    let handler = Sorter::default();

    let tally = fetch_once(&settings, &handler).await.expect("fetch");
    assert_eq!((tally.taken, tally.too_large), (1, 1));
    assert_eq!(handler.seen(), ["small"]);
    assert_eq!(handler.too_large.lock().expect("lock").len(), 1);
    assert_eq!(subjects(&server.messages("INBOX")), ["big"]);
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_sentence() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let mut settings = settings(&server, Security::ImplicitTls);
    settings.password = "not-the-password".to_string();
    let error = fetch_once(&settings, &Sorter::default())
        .await
        .expect_err("a wrong password must fail");
    assert!(matches!(error, ImapError::LoginRefused { .. }), "{error}");
    assert!(!error.is_temporary());
    let text = error.to_string();
    assert!(text.contains("refused the login of reports"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[tokio::test]
async fn an_untrusted_certificate_stops_before_the_password() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    for security in [Security::ImplicitTls, Security::StartTls] {
        let mut settings = settings(&server, security);
        // The Web PKI roots alone: the test server's self-signed certificate is not among them.
        settings.tls = mta_sts_reports::imap::tls_config(None).expect("web pki");
        let error = fetch_once(&settings, &Sorter::default())
            .await
            .expect_err("an untrusted certificate must fail");
        assert!(matches!(error, ImapError::Tls { .. }), "{error}");
        // Retrying cannot help: --watch stops rather than knocking forever.
        assert!(!error.is_temporary(), "{error}");
    }
    assert!(!server.log().contains("Login: user=<reports>"));
}

#[tokio::test]
async fn a_folder_equal_to_the_mailbox_is_refused() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let mut settings = settings(&server, Security::ImplicitTls);
    settings.not_a_report_folder = "inbox".to_string();
    let error = fetch_once(&settings, &Sorter::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, ImapError::Setting(_)), "{error}");
}

#[tokio::test]
async fn watch_takes_mail_that_arrives_while_idling() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &message("before", "report")).await;
    let settings = settings(&server, Security::ImplicitTls);
    let (taken_tx, mut taken) = tokio::sync::mpsc::unbounded_channel();
    let handler = Sorter {
        taken: Some(taken_tx),
        ..Sorter::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = async {
        watch(&settings, &handler, async {
            let _ = stopped.await;
        })
        .await
    };
    let driving = async {
        assert_eq!(taken.recv().await.as_deref(), Some("before"));
        // The watcher is now past its first pass: it is idling, or about to.
        server.append("INBOX", &message("during", "report")).await;
        assert_eq!(taken.recv().await.as_deref(), Some("during"));
        let _ = stop.send(());
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(watching, driving)
    })
    .await
    .expect("the watcher took both messages within a minute");
    let total = result.expect("watch");
    assert_eq!(total.taken, 2);
    assert!(server.messages("INBOX").is_empty());
    assert_eq!(
        subjects(&server.messages("TLSRPT-processed")),
        ["before", "during"]
    );
}

#[tokio::test]
async fn watch_reconnects_and_takes_mail_that_arrived_meanwhile() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let server = std::sync::Arc::new(server);
    server.append("INBOX", &message("before", "report")).await;
    let mut settings = settings(&server, Security::ImplicitTls);
    settings.retry_min = Duration::from_millis(10);
    let (taken_tx, mut taken) = tokio::sync::mpsc::unbounded_channel();
    let (trouble_tx, mut trouble) = tokio::sync::mpsc::unbounded_channel();
    let handler = Sorter {
        taken: Some(taken_tx),
        on_trouble: Some(Box::new({
            let server = server.clone();
            move |error: &ImapError| {
                // Delivered while the watcher is disconnected: the pass after reconnecting
                // must take it.
                let _ = trouble_tx.send(error.is_temporary());
                server.deliver("INBOX", &message("meanwhile", "report"));
            }
        })),
        ..Sorter::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = async {
        watch(&settings, &handler, async {
            let _ = stopped.await;
        })
        .await
    };
    let driving = async {
        assert_eq!(taken.recv().await.as_deref(), Some("before"));
        server.kick();
        assert_eq!(
            trouble.recv().await,
            Some(true),
            "a dropped connection is temporary"
        );
        assert_eq!(taken.recv().await.as_deref(), Some("meanwhile"));
        let _ = stop.send(());
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(watching, driving)
    })
    .await
    .expect("the watcher reconnected and took the message within a minute");
    let total = result.expect("watch");
    assert_eq!(total.taken, 2);
    assert_eq!(
        subjects(&server.messages("TLSRPT-processed")),
        ["before", "meanwhile"]
    );
}

#[tokio::test]
async fn watch_reissues_idle_and_keeps_taking_mail() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let mut settings = settings(&server, Security::StartTls);
    // IDLE ended and re-issued every 20 ms instead of every 28 minutes: many DONE/IDLE rounds
    // (each with a pass) before and after the message arrives.
    settings.idle_reissue = Duration::from_millis(20);
    let (taken_tx, mut taken) = tokio::sync::mpsc::unbounded_channel();
    let handler = Sorter {
        taken: Some(taken_tx),
        ..Sorter::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = async {
        watch(&settings, &handler, async {
            let _ = stopped.await;
        })
        .await
    };
    let driving = async {
        for round in 0..3 {
            let subject = format!("round-{round}");
            server.append("INBOX", &message(&subject, "report")).await;
            assert_eq!(taken.recv().await, Some(subject));
        }
        let _ = stop.send(());
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(watching, driving)
    })
    .await
    .expect("the watcher took every message within a minute");
    assert_eq!(result.expect("watch").taken, 3);
    assert!(server.messages("INBOX").is_empty());
}

#[tokio::test]
async fn without_move_messages_are_copied_flagged_and_expunged_by_uid() {
    let Some(server) = Dovecot::start_with_capabilities(Some("IMAP4rev1 LITERAL+ IDLE UIDPLUS"))
    else {
        return;
    };
    // The owner's own message, flagged for deletion but not expunged: UID EXPUNGE of our
    // messages alone must leave it.
    server
        .append_with_flags("INBOX", &message("owners", "other"), Some("(\\Deleted)"))
        .await;
    server.append("INBOX", &message("report-1", "report")).await;
    server.append("INBOX", &message("spam-1", "other")).await;
    let handler = Sorter::default();
    let tally = fetch_once(&settings(&server, Security::ImplicitTls), &handler)
        .await
        .expect("fetch");
    assert_eq!((tally.taken, tally.not_a_report), (1, 1));
    // Flagged \Deleted, it was not read either.
    assert_eq!(handler.seen(), ["report-1", "spam-1"]);
    assert_eq!(subjects(&server.messages("INBOX")), ["owners"]);
    assert_eq!(subjects(&server.messages("TLSRPT-processed")), ["report-1"]);
    assert_eq!(
        subjects(&server.messages("TLSRPT-not-a-report")),
        ["spam-1"]
    );
}

#[tokio::test]
async fn without_move_or_uidplus_originals_stay_flagged_and_are_not_read_again() {
    let Some(server) = Dovecot::start_with_capabilities(Some("IMAP4rev1 LITERAL+ IDLE")) else {
        return;
    };
    server.append("INBOX", &message("report-1", "report")).await;
    let settings = settings(&server, Security::ImplicitTls);
    let handler = Sorter::default();
    let tally = fetch_once(&settings, &handler).await.expect("fetch");
    assert_eq!(tally.taken, 1);
    assert_eq!(subjects(&server.messages("TLSRPT-processed")), ["report-1"]);
    // A plain EXPUNGE could remove mail others flagged: the original stays, flagged.
    assert_eq!(subjects(&server.messages("INBOX")), ["report-1"]);
    assert_eq!(server.flagged_deleted("INBOX"), 1);
    // And is not read again.
    let tally = fetch_once(&settings, &handler).await.expect("second fetch");
    assert_eq!(tally, PassTally::default());
    assert_eq!(handler.seen(), ["report-1"]);
}
