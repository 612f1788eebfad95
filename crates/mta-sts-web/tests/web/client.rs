//! A minimal HTTP/1.1 client over a real socket: enough to see status, headers, and when each
//! chunk of a streamed body arrives (which a buffering client would hide).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A whole response, with the arrival time of each body chunk since the request was sent.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub chunk_times: Vec<Duration>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error.code` of a JSON error.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.body))
            .to_string()
    }
}

/// One request on its own connection, read as it arrives.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    sent: Instant,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Conn {
    /// Sends `GET path` and reads the response head.
    pub async fn open(addr: SocketAddr, path: &str) -> Conn {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            sent: Instant::now(),
            status: 0,
            headers: Vec::new(),
        };
        let status_line = conn.line().await;
        conn.status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        loop {
            let line = conn.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            conn.headers
                .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        conn
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).await.expect("read");
        self.buf.extend_from_slice(&tmp[..n]);
        n > 0
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return String::from_utf8(line).expect("ASCII line");
            }
            assert!(self.fill().await, "connection closed mid-line");
        }
    }

    async fn exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed mid-body");
        }
        self.buf.drain(..n).collect()
    }

    /// The next chunk of a chunked body, and when it arrived; `None` after the last.
    pub async fn next_chunk(&mut self) -> Option<(Vec<u8>, Duration)> {
        let size_line = self.line().await;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        if size == 0 {
            // Trailers, then the empty line.
            while !self.line().await.is_empty() {}
            return None;
        }
        let data = self.exact(size).await;
        let at = self.sent.elapsed();
        assert_eq!(self.exact(2).await, b"\r\n");
        Some((data, at))
    }

    /// Reads the rest of the body.
    pub async fn finish(mut self) -> Response {
        let mut body = Vec::new();
        let mut chunk_times = Vec::new();
        if self.is_chunked() {
            while let Some((data, at)) = self.next_chunk().await {
                body.extend(data);
                chunk_times.push(at);
            }
        } else if let Some(length) = self.header("content-length") {
            let length = length.parse().expect("content-length");
            body = self.exact(length).await;
            chunk_times.push(self.sent.elapsed());
        } else {
            while self.fill().await {}
            body = std::mem::take(&mut self.buf);
            chunk_times.push(self.sent.elapsed());
        }
        Response {
            status: self.status,
            headers: self.headers,
            body: String::from_utf8(body).expect("UTF-8 body"),
            chunk_times,
        }
    }
}

/// `GET path`, read to the end.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    Conn::open(addr, path).await.finish().await
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
