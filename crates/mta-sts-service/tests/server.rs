//! The accept loop and the HTTP server over real sockets on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mta_sts_service::{
    CapNotice, CloseReason, Connection, ConnectionMetrics, HttpOptions, MetricsRegistry, Server,
    Shutdown,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Notify, mpsc};

/// A registry with the connection metrics of a server prefixed `test`.
fn metrics() -> (MetricsRegistry, ConnectionMetrics) {
    let registry = MetricsRegistry::new();
    let connections = registry.register(|registry| {
        ConnectionMetrics::register(
            registry.sub_registry_with_prefix("test"),
            "Test",
            &[
                CloseReason::ClientClosed,
                CloseReason::HeaderTimeout,
                CloseReason::Evicted,
                CloseReason::Shutdown,
            ],
        )
    });
    (registry, connections)
}

/// The value of one sample in the registry's text.
fn sample(registry: &MetricsRegistry, name: &str) -> f64 {
    let text = registry.encode();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
}

fn closed(registry: &MetricsRegistry, reason: &str) -> f64 {
    sample(
        registry,
        &format!("test_connections_closed_total{{reason=\"{reason}\"}}"),
    )
}

/// Everything the peer sends until it closes.
async fn read_to_end(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    let mut text = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut text))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&text).into_owned()
}

/// A router whose `/slow` says it started and then waits for `release`.
fn slow_app(started: mpsc::Sender<()>, release: Arc<Notify>) -> Router {
    Router::new().route(
        "/slow",
        get(move || {
            let started = started.clone();
            let release = Arc::clone(&release);
            async move {
                let _ = started.send(()).await;
                release.notified().await;
                "done"
            }
        }),
    )
}

#[tokio::test]
async fn a_graceful_shutdown_stops_accepting_drains_the_request_in_flight_then_closes() {
    let (registry, connections) = metrics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (started_tx, mut started) = mpsc::channel(1);
    let release = Arc::new(Notify::new());
    let shutdown = Shutdown::new();
    let server = tokio::spawn(
        Server::new(listener)
            .metrics(connections)
            .drain_timeout(Duration::from_secs(60))
            .serve_http(
                HttpOptions::default(),
                slow_app(started_tx, Arc::clone(&release)),
                shutdown.triggered(),
            ),
    );
    let mut client = TcpStream::connect(address).await.expect("connect");
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("request");
    started.recv().await.expect("the request is in flight");
    shutdown.trigger();
    // The listener closes while the request is still in flight.
    tokio::time::timeout(Duration::from_secs(30), async {
        while TcpStream::connect(address).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the listener is closed");
    assert!(
        !server.is_finished(),
        "the request in flight holds the server"
    );
    release.notify_one();
    let response = read_to_end(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    server.await.expect("the server ends once drained");
    assert_eq!(closed(&registry, "shutdown"), 1.0);
    assert_eq!(sample(&registry, "test_connections_open"), 0.0);
}

#[tokio::test]
async fn the_drain_deadline_cuts_off_what_does_not_finish() {
    let (registry, connections) = metrics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (started_tx, mut started) = mpsc::channel(1);
    // Never released.
    let release = Arc::new(Notify::new());
    let shutdown = Shutdown::new();
    let server = tokio::spawn(
        Server::new(listener)
            .metrics(connections)
            .drain_timeout(Duration::from_millis(200))
            .serve_http(
                HttpOptions::default(),
                slow_app(started_tx, release),
                shutdown.triggered(),
            ),
    );
    let mut client = TcpStream::connect(address).await.expect("connect");
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("request");
    started.recv().await.expect("the request is in flight");
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server ends at the deadline")
        .expect("no panic");
    assert_eq!(
        read_to_end(&mut client).await,
        "",
        "cut off without an answer"
    );
    assert_eq!(closed(&registry, "shutdown"), 1.0);
    assert_eq!(sample(&registry, "test_connections_open"), 0.0);
}

#[tokio::test]
async fn slow_headers_close_the_connection() {
    let (registry, connections) = metrics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let shutdown = Shutdown::new();
    let options = HttpOptions {
        header_read_timeout: Duration::from_millis(300),
    };
    let server = tokio::spawn(Server::new(listener).metrics(connections).serve_http(
        options,
        Router::new().route("/", get(|| async { "ok" })),
        shutdown.triggered(),
    ));
    let mut client = TcpStream::connect(address).await.expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nhost:")
        .await
        .expect("half a request");
    let answer = read_to_end(&mut client).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    shutdown.trigger();
    server.await.expect("the server ends");
    assert_eq!(closed(&registry, "header_timeout"), 1.0);
}

/// Echoes what it reads until the client closes, the connection is evicted, or the server
/// stops.
async fn echo(mut stream: UnixStream, connection: Connection) -> CloseReason {
    let Connection {
        mut slot,
        mut stopping,
    } = connection;
    let activity = slot.activity();
    let mut buffer = [0u8; 64];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return CloseReason::ClientClosed,
                Ok(n) => {
                    activity.progress();
                    if stream.write_all(&buffer[..n]).await.is_err() {
                        return CloseReason::ClientClosed;
                    }
                }
            },
            () = slot.evicted() => return CloseReason::Evicted,
            () = stopping.wait() => return CloseReason::Shutdown,
        }
    }
}

async fn echoed(stream: &mut UnixStream, text: &[u8]) {
    stream.write_all(text).await.expect("write");
    let mut back = vec![0u8; text.len()];
    stream.read_exact(&mut back).await.expect("echo");
    assert_eq!(back, text);
}

#[tokio::test]
async fn on_a_unix_socket_the_idle_connection_makes_room_at_the_cap() {
    let (registry, connections) = metrics();
    let dir = std::env::temp_dir().join(format!("mta-sts-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("cap.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    let notices = Arc::new(Mutex::new(Vec::<CapNotice>::new()));
    let heard = Arc::clone(&notices);
    let shutdown = Shutdown::new();
    let server = tokio::spawn(
        Server::new(listener)
            .max_connections(2)
            .metrics(connections)
            .on_cap_reached(move |notice| heard.lock().expect("lock").push(notice))
            .serve(shutdown.triggered(), |stream, _peer, connection| {
                echo(stream, connection)
            }),
    );
    let mut first = UnixStream::connect(&path).await.expect("connect");
    echoed(&mut first, b"first").await;
    let mut second = UnixStream::connect(&path).await.expect("connect");
    echoed(&mut second, b"second").await;
    // The first made progress before the second: after the second's echo, the first is the
    // one idle longest.
    let mut third = UnixStream::connect(&path).await.expect("connect");
    echoed(&mut third, b"third").await;
    assert_eq!(read_to_end(&mut first).await, "", "the first was evicted");
    echoed(&mut second, b"still here").await;
    assert_eq!(
        notices.lock().expect("lock").as_slice(),
        &[CapNotice {
            limit: 2,
            evicted: 1
        }]
    );
    shutdown.trigger();
    server.await.expect("the server ends");
    assert_eq!(closed(&registry, "evicted"), 1.0);
    assert_eq!(closed(&registry, "shutdown"), 2.0);
    assert_eq!(sample(&registry, "test_connections_open"), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn over_http_an_idle_keep_alive_connection_makes_room_and_a_busy_one_stays() {
    let (registry, connections) = metrics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (started_tx, mut started) = mpsc::channel(1);
    let release = Arc::new(Notify::new());
    let app = slow_app(started_tx, Arc::clone(&release)).route("/", get(|| async { "ok" }));
    let shutdown = Shutdown::new();
    let server = tokio::spawn(
        Server::new(listener)
            .max_connections(2)
            .metrics(connections)
            .serve_http(HttpOptions::default(), app, shutdown.triggered()),
    );
    // A request in progress: the busy connection.
    let mut busy = TcpStream::connect(address).await.expect("connect");
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("request");
    started.recv().await.expect("the request is in flight");
    // A keep-alive connection that was answered and now idles.
    let mut idle = TcpStream::connect(address).await.expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("request");
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.expect("an answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200 OK"));
    // A newcomer at the cap: the idle one goes, not the one answering a request.
    let mut newcomer = TcpStream::connect(address).await.expect("connect");
    newcomer
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .expect("request");
    assert!(
        read_to_end(&mut newcomer)
            .await
            .starts_with("HTTP/1.1 200 OK")
    );
    assert_eq!(read_to_end(&mut idle).await, "", "the idle one was closed");
    release.notify_one();
    let mut head = [0u8; 512];
    let n = busy.read(&mut head).await.expect("the slow answer");
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200 OK"),
        "{:?}",
        &head[..n]
    );
    shutdown.trigger();
    server.await.expect("the server ends");
    assert_eq!(closed(&registry, "evicted"), 1.0);
}

#[tokio::test]
async fn http2_serves_requests_and_closes_a_connection_idle_past_the_header_time_limit() {
    let (registry, connections) = metrics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let shutdown = Shutdown::new();
    let options = HttpOptions {
        header_read_timeout: Duration::from_millis(300),
    };
    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = tokio::spawn(Server::new(listener).metrics(connections).serve(
        shutdown.triggered(),
        move |stream, peer, connection| {
            mta_sts_service::serve_connection_http2(stream, peer, connection, options, app.clone())
        },
    ));
    let tcp = TcpStream::connect(address).await.expect("connect");
    let (mut sender, client) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    let client = tokio::spawn(client);
    for _ in 0..3 {
        let request = http::Request::builder()
            .uri(format!("http://{address}/"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), http::StatusCode::OK);
    }
    // Idle from now on: the server says GOAWAY and closes.
    tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .expect("the server closes the idle connection")
        .expect("task")
        .expect("a clean close");
    shutdown.trigger();
    server.await.expect("the server ends");
    assert_eq!(closed(&registry, "header_timeout"), 1.0);
}
