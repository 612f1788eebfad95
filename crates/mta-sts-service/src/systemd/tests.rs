use std::os::unix::net::UnixDatagram;

use super::*;

fn received(socket: &UnixDatagram) -> String {
    let mut buffer = [0u8; 512];
    let n = socket.recv(&mut buffer).expect("a datagram");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[test]
fn each_state_is_one_datagram_on_a_path_socket() {
    let dir = std::env::temp_dir().join(format!("mta-sts-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let systemd = UnixDatagram::bind(&path).expect("bind the notify socket");
    let notifier = Notifier::new(path.as_os_str()).expect("a path");
    notifier.ready().expect("sent");
    assert_eq!(received(&systemd), "READY=1");
    notifier.reloading().expect("sent");
    let reloading = received(&systemd);
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"));
    let usec = lines
        .next()
        .and_then(|line| line.strip_prefix("MONOTONIC_USEC="))
        .and_then(|n| n.parse::<u128>().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    assert!(usec > 0);
    notifier
        .notify(&[NotifyState::Ready, NotifyState::Status("reloaded\nall")])
        .expect("sent");
    assert_eq!(received(&systemd), "READY=1\nSTATUS=reloaded all");
    notifier.stopping().expect("sent");
    assert_eq!(received(&systemd), "STOPPING=1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_abstract_socket_is_named_with_an_at_sign() {
    use std::os::linux::net::SocketAddrExt as _;
    let name = format!("mta-sts-notify-test-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("an abstract name");
    let systemd = UnixDatagram::bind_addr(&address).expect("bind the abstract socket");
    let notifier = Notifier::new(OsStr::new(&format!("@{name}"))).expect("an abstract name");
    notifier.status("serving").expect("sent");
    assert_eq!(received(&systemd), "STATUS=serving");
}

#[test]
fn a_socket_nobody_listens_on_is_an_error_naming_it() {
    let notifier = Notifier::new(OsStr::new("/nonexistent/mta-sts/notify.sock")).expect("a path");
    let error = notifier.ready().expect_err("nobody listens");
    assert!(matches!(error, ServiceError::Notify { .. }), "{error}");
    assert!(error.to_string().contains("READY=1"), "{error}");
}
