//! The socketmap server over real sockets.

use std::os::unix::fs::PermissionsExt as _;

use mta_sts_policyd::netstring::{self, FramingError, MAX_REQUEST};
use mta_sts_policyd::{Daemon, Event, Listener, Reply, SocketAccess};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{Env, TempDir};

/// A server running in the background until `stop` is sent.
pub(crate) struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), mta_sts_policyd::PolicydError>>,
}

impl Running {
    pub(crate) fn start(daemon: &Daemon, listener: Listener) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let daemon = daemon.clone();
        let task = tokio::spawn(async move {
            daemon
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        Running { stop, task }
    }

    pub(crate) async fn shut_down(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }
}

pub(crate) async fn tcp(env: &Env) -> (Running, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    (Running::start(&env.daemon, listener.into()), addr)
}

pub(crate) fn request(name_and_key: &str) -> Vec<u8> {
    netstring::encode(name_and_key.as_bytes())
}

/// Reads replies until `n` have arrived.
pub(crate) async fn read_replies<S: AsyncRead + Unpin>(stream: &mut S, n: usize) -> Vec<Reply> {
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < n {
        match netstring::decode_with_limit(&buffer, 1 << 20).expect("a reply netstring") {
            Some((payload, used)) => {
                replies.push(Reply::parse(payload).expect("a socketmap reply"));
                buffer.drain(..used);
            }
            None => {
                let mut chunk = [0u8; 4096];
                let read = stream.read(&mut chunk).await.expect("read");
                assert!(
                    read > 0,
                    "connection closed after {} replies",
                    replies.len()
                );
                buffer.extend_from_slice(&chunk[..read]);
            }
        }
    }
    assert!(buffer.is_empty(), "unexpected bytes after the replies");
    replies
}

/// Asserts the server closes the connection without sending anything more.
pub(crate) async fn assert_closed<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.expect("read to end");
    assert!(rest.is_empty(), "unexpected bytes {rest:?}");
}

async fn pipelined<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let mut batch = Vec::new();
    for req in [
        "postfix healthy-enforce.test",
        "postfix mode-none.test",
        "strict mode-testing.test",
        "postfix [192.0.2.1]:25",
        "postfix mx-wildcard.test",
    ] {
        batch.extend(request(req));
    }
    // One write, so the server sees every request before answering any.
    stream.write_all(&batch).await.expect("write");
    let replies = read_replies(stream, 5).await;
    assert_eq!(
        replies,
        [
            Reply::Ok("secure match=mx.healthy-enforce.test servername=hostname".into()),
            Reply::NotFound,
            Reply::Ok("secure match=mx.mode-testing.test servername=hostname".into()),
            Reply::NotFound,
            Reply::Ok("secure match=.mx-wildcard.test servername=hostname".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_answers_pipelined_requests_in_order() {
    let env = Env::start().await;
    let (server, addr) = tcp(&env).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    pipelined(&mut stream).await;
    // The connection stays open for more.
    stream
        .write_all(&request("postfix sts-missing.test"))
        .await
        .expect("write");
    assert_eq!(read_replies(&mut stream, 1).await, [Reply::NotFound]);
    server.shut_down().await;
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_and_malformed_requests_close_the_connection() {
    let env = Env::start().await;
    let mut events = env.daemon.subscribe();
    let (server, addr) = tcp(&env).await;

    // The longest request allowed is answered.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let longest = format!("postfix {}", "a".repeat(MAX_REQUEST - "postfix ".len()));
    stream.write_all(&request(&longest)).await.expect("write");
    assert_eq!(read_replies(&mut stream, 1).await, [Reply::NotFound]);

    // One byte more: the requests before it are answered, then the connection is closed.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut batch = request("postfix healthy-enforce.test");
    batch.extend(format!("{}:", MAX_REQUEST + 1).as_bytes());
    stream.write_all(&batch).await.expect("write");
    assert_eq!(read_replies(&mut stream, 1).await.len(), 1);
    assert_closed(&mut stream).await;

    // Not a netstring at all.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    assert_closed(&mut stream).await;

    // A payload longer than announced.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"7:postfix example.com,")
        .await
        .expect("write");
    assert_closed(&mut stream).await;

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::BadRequest { error } = event {
            seen.push(error);
        }
    }
    assert_eq!(
        seen,
        [
            FramingError::TooLong { limit: MAX_REQUEST },
            FramingError::BadLength { found: b'G' },
            FramingError::MissingComma { found: b' ' },
        ]
    );
    server.shut_down().await;
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_with_a_file_mode() {
    let env = Env::start().await;
    let dir = TempDir::new("unix");
    let path = dir.file("socketmap");
    let access = SocketAccess {
        mode: Some("0660".parse().expect("mode")),
        ..SocketAccess::default()
    };
    let listener = Listener::bind_unix(&path, &access).expect("bind");
    assert_eq!(listener.local_addr(), format!("unix:{}", path.display()));
    let permissions = std::fs::metadata(&path).expect("socket file").permissions();
    assert_eq!(permissions.mode() & 0o777, 0o660);
    let server = Running::start(&env.daemon, listener);

    // A second daemon must not take over a live socket.
    assert!(Listener::bind_unix(&path, &SocketAccess::default()).is_err());

    let mut stream = UnixStream::connect(&path).await.expect("connect");
    pipelined(&mut stream).await;
    drop(stream);
    server.shut_down().await;
    assert!(!path.exists(), "the socket file is removed on shutdown");

    // A stale socket file (its daemon gone) is replaced; a regular file is never deleted.
    let stale = std::os::unix::net::UnixListener::bind(&path).expect("stale socket");
    drop(stale);
    let listener =
        Listener::bind_unix(&path, &SocketAccess::default()).expect("replaces a stale socket");
    drop(listener);
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, b"precious").expect("write");
    assert!(Listener::bind_unix(&path, &SocketAccess::default()).is_err());
    assert_eq!(std::fs::read(&path).expect("kept"), b"precious");
    env.lab.shutdown().await;
}

#[tokio::test]
async fn unix_socket_owner_and_group_by_name_or_number() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = TempDir::new("owner");
    let path = dir.file("socketmap");
    let probe = dir.file("probe");
    std::fs::write(&probe, b"").expect("probe file");
    let me = std::fs::metadata(&probe).expect("probe");
    let my_group = nix::unistd::Group::from_gid(me.gid().into())
        .expect("group database")
        .expect("the daemon's group has a name");
    let access = SocketAccess {
        mode: Some("0660".parse().expect("mode")),
        owner: Some(me.uid().to_string()),
        group: Some(my_group.name.clone()),
    };
    let listener = Listener::bind_unix(&path, &access).expect("bind");
    let socket = std::fs::metadata(&path).expect("socket");
    assert_eq!((socket.uid(), socket.gid()), (me.uid(), me.gid()));
    drop(listener);
    let _ = std::fs::remove_file(&path);

    if me.uid() == 0 {
        // Only root may give a file away: the chrooted-Postfix case, socket owned by postfix.
        let nobody = nix::unistd::User::from_name("nobody")
            .expect("user database")
            .expect("user nobody");
        let access = SocketAccess {
            owner: Some("nobody".into()),
            group: Some(nobody.gid.as_raw().to_string()),
            ..SocketAccess::default()
        };
        let listener = Listener::bind_unix(&path, &access).expect("bind as root");
        let socket = std::fs::metadata(&path).expect("socket");
        assert_eq!(
            (socket.uid(), socket.gid()),
            (nobody.uid.as_raw(), nobody.gid.as_raw())
        );
        drop(listener);
        let _ = std::fs::remove_file(&path);
    }

    for (owner, group, named) in [
        (
            Some("no-such-user-mta-sts"),
            None,
            "no user named `no-such-user-mta-sts`",
        ),
        (
            None,
            Some("no-such-group-mta-sts"),
            "no group named `no-such-group-mta-sts`",
        ),
    ] {
        let access = SocketAccess {
            owner: owner.map(String::from),
            group: group.map(String::from),
            ..SocketAccess::default()
        };
        let error = Listener::bind_unix(&path, &access).expect_err("unknown name");
        assert!(error.to_string().contains(named), "{error}");
        assert!(!path.exists(), "nothing is bound for an unknown name");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_requests_in_flight() {
    let env = Env::start().await;
    let (server, addr) = tcp(&env).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&request("postfix slow-healthy.test"))
        .await
        .expect("write");
    // The policy host takes 400 ms to answer; stop the server while the fetch is in flight.
    env.source.fetch_started.notified().await;
    server.shut_down().await;
    assert_eq!(
        read_replies(&mut stream, 1).await,
        [Reply::Ok(
            "secure match=mx.slow-healthy.test servername=hostname".into()
        )]
    );
    assert_closed(&mut stream).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_cap_the_idle_connection_makes_room() {
    let env = Env::start_with(|config| config.max_connections = 1).await;
    let (server, addr) = tcp(&env).await;
    let mut first = TcpStream::connect(addr).await.expect("connect");
    first
        .write_all(&request("postfix healthy-enforce.test"))
        .await
        .expect("write");
    assert_eq!(read_replies(&mut first, 1).await.len(), 1);

    // The first connection, now idle, is closed so that the second is served at once.
    let mut second = TcpStream::connect(addr).await.expect("connect");
    second
        .write_all(&request("postfix healthy-enforce.test"))
        .await
        .expect("write");
    assert_eq!(read_replies(&mut second, 1).await.len(), 1);
    assert_closed(&mut first).await;
    server.shut_down().await;
    env.lab.shutdown().await;
}
