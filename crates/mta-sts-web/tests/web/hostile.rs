//! Clients that hold connections open: slowloris (request headers sent a byte at a time) at the
//! connection cap must not keep a visitor out, and the header-read timeout closes a slow
//! connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mta_sts_lab::Lab;
use mta_sts_web::{WebConfig, WebError, WebEvent};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{config, metric};

/// A web checker serving with its events collected.
struct Watched {
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<WebEvent>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), WebError>>,
}

impl Watched {
    async fn start(config: WebConfig) -> Watched {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let (sender, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(mta_sts_web::serve_with_events(
            listener,
            config,
            async {
                let _ = stopped.await;
            },
            move |event| {
                let _ = sender.send(event);
            },
        ));
        Watched {
            addr,
            events,
            stop,
            task,
        }
    }

    /// A metric's value, read over HTTP like any scrape.
    async fn metric(&self, sample: &str) -> f64 {
        metric(
            &crate::client::get(self.addr, "/metrics").await.body,
            sample,
        )
    }

    async fn closed(&self, reason: &str) -> f64 {
        self.metric(&format!(
            "mta_sts_connections_closed_total{{reason=\"{reason}\"}}"
        ))
        .await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("served");
    }
}

/// The start of a request whose headers never end.
const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: checker.test\r\n";

/// Slowloris: connections that send the start of a request, then one more header byte every
/// 200 ms for as long as they are open. One task feeds them all; it stops when told, or after
/// `max` connections.
struct Slowloris {
    opened: JoinHandle<u64>,
    stop: oneshot::Sender<()>,
}

impl Slowloris {
    /// Opens `now` connections at once (returning when all are open), then one more every
    /// `every`, up to `max` in all.
    async fn start(addr: SocketAddr, now: usize, every: Duration, max: u64) -> Slowloris {
        let mut held = Vec::new();
        for _ in 0..now {
            held.push(slow_connection(addr).await);
        }
        let (stop, mut stopped) = oneshot::channel::<()>();
        let opened = tokio::spawn(async move {
            let mut opened = 0u64;
            let mut tick = tokio::time::interval(every);
            let mut trickle = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick(), if opened < max => {
                        held.push(slow_connection(addr).await);
                        opened += 1;
                    }
                    _ = trickle.tick() => {
                        // One byte each; the ones the server closed are dropped.
                        held.retain(|stream| match stream.try_write(b"X") {
                            Ok(_) => true,
                            Err(error) => error.kind() == std::io::ErrorKind::WouldBlock,
                        });
                    }
                }
            }
            opened
        });
        Slowloris { opened, stop }
    }

    /// Stops the attack; the connections it opened after the first.
    async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.opened.await.expect("slowloris task")
    }
}

async fn slow_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(SLOW_HEAD).await.expect("write");
    stream
}

/// `GET /healthz` on a new connection, answered within a second; the time it took.
async fn visitor(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let response =
        tokio::time::timeout(Duration::from_secs(1), crate::client::get(addr, "/healthz"))
            .await
            .expect("answered within 1 s while attacked");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "ok");
    started.elapsed()
}

/// Waits (up to 10 s) until the metric `sample` reaches `at_least`.
async fn until(server: &Watched, sample: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.metric(sample).await < at_least {
        assert!(
            Instant::now() < deadline,
            "{sample} never reached {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_at_the_cap_does_not_keep_a_visitor_out() {
    let lab = Lab::start().await.expect("lab");
    let mut config = config(&lab);
    config.max_connections = 64;
    // Long enough that only the cap makes room during the attack.
    config.header_read_timeout = Duration::from_secs(60);
    let mut server = Watched::start(config).await;

    // Every place taken by a slow request, then more of them every 5 ms while visitors come.
    let attack = Slowloris::start(server.addr, 64, Duration::from_millis(5), 2000).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        slowest = slowest.max(visitor(server.addr).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flooded = attack.stop().await;
    eprintln!("cap 64: slowest answer while attacked {slowest:?}, {flooded} connections more");
    assert!(flooded > 0, "the attack went on during the visits");

    // Each connection beyond the cap closed one to make room: at least one per flooding
    // connection (the visitors freed theirs when they left).
    until(
        &server,
        "mta_sts_connections_closed_total{reason=\"evicted\"}",
        flooded as f64,
    )
    .await;
    assert_eq!(server.closed("header_timeout").await, 0.0);
    assert!(server.metric("mta_sts_connections_open").await <= 64.0);
    // One log line for the whole attack.
    assert_eq!(
        server.events.try_recv().ok(),
        Some(WebEvent::ConnectionCapReached {
            limit: 64,
            evicted: 1
        })
    );
    assert!(server.events.try_recv().is_err(), "only one notice");
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_header_read_timeout_closes_a_slow_connection() {
    let lab = Lab::start().await.expect("lab");
    let mut config = config(&lab);
    config.header_read_timeout = Duration::from_secs(1);
    let server = Watched::start(config).await;

    let slow = TcpStream::connect(server.addr).await.expect("connect");
    let (mut slow_read, mut slow_write) = slow.into_split();
    let started = Instant::now();
    let closed_at = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = slow_read.read_to_end(&mut answer).await;
        (Instant::now(), answer)
    });
    // A byte every 150 ms for 3 s: bytes trickling in do not extend the limit.
    let mut head = SLOW_HEAD.to_vec();
    head.resize(20, b'X');
    for byte in head {
        if slow_write.write_all(&[byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (closed_at, answer) = tokio::time::timeout(Duration::from_secs(10), closed_at)
        .await
        .expect("closed within 10 s")
        .expect("reader");
    let after = closed_at - started;
    assert!(
        after >= Duration::from_secs(1) && after < Duration::from_secs(3),
        "closed {after:?} after connecting, for a 1 s header timeout"
    );
    // Nothing of the application was served, at most hyper's 408.
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(server.closed("header_timeout").await, 1.0);
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let lab = Lab::start().await.expect("lab");
    let mut config = config(&lab);
    config.header_read_timeout = Duration::from_secs(1);
    let server = Watched::start(config).await;

    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: checker.test\r\n\r\n")
        .await
        .expect("write");
    // The answer, then nothing: the connection stays open for another request until the
    // limit, counted from the answer.
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    while !received.ends_with(b"ok") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("answered within 10 s")
            .expect("read");
        assert!(read > 0, "closed before answering");
        received.extend_from_slice(&chunk[..read]);
    }
    let answered = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
        .await
        .expect("closed within 10 s")
        .unwrap_or(0);
    let idle = answered.elapsed();
    assert_eq!(rest, 0, "nothing more is sent");
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(3),
        "closed after {idle:?} idle, for a 1 s header timeout"
    );
    assert_eq!(server.closed("header_timeout").await, 1.0);
    server.stop().await;
    lab.shutdown().await;
}
