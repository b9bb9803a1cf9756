//! Plain HTTP/1.1 exchanges with a peer's web server, one request per connection, for the tests
//! of the profiles' pages and APIs: no HTTP client library, so what the tests see is what any
//! browser or script would get, headers included.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One request (`Connection: close`) with a JSON `body`: the status, the head (lower case) and
/// the body as text.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the peer's HTTP server");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a read timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// [`http`], with the body parsed as JSON (panicking, with the body, when it is not).
pub fn http_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = http(addr, method, path, body);
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body:?}"));
    (status, value)
}

/// Opens `/api/events` on `addr` and reads it until its first `status` event is whole; returns
/// what was read (the head and the events so far).
pub fn first_status_event(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the peer's HTTP server");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a read timeout");
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\n\n") || !seen.contains("event: status") {
        let n = stream.read(&mut buf).expect("the event stream");
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}
