//! The listener's limits against real sockets: slow and idle clients are cut off, connections
//! over a cap are closed at accept, and the client's address reaches handlers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use sovra_http::serve::{Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new()
        .route(
            "/",
            get(|ConnectInfo(addr): ConnectInfo<SocketAddr>| async move { addr.ip().to_string() }),
        )
        .route(
            "/n/{n}",
            get(|axum::extract::Path(n): axum::extract::Path<u32>| async move { n.to_string() }),
        )
        .route(
            "/s/{s}",
            get(|axum::extract::Path(s): axum::extract::Path<String>| async move { s }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, limits, async {
        let _ = rx.await;
    }));
    (addr, stop)
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(mut s: TcpStream) -> Duration {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }
}

async fn get_root(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn limits(max_connections: usize, max_per_source: usize, timeout_ms: u64) -> Limits {
    Limits {
        max_connections,
        max_per_source,
        header_read_timeout: Duration::from_millis(timeout_ms),
        exempt_loopback: false,
    }
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let (addr, _stop) = start(limits(100, 100, 400)).await;
    // Idle: connects and says nothing.
    let idle = TcpStream::connect(addr).await.unwrap();
    let took = closed_after(idle).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Slow loris: a header byte every 100 ms.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let drip = tokio::spawn(async move {
        for b in b"GET / HTTP/1.1\r\nx-a: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" {
            if slow.write_all(&[*b]).await.is_err() {
                return Some(slow);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(slow)
    });
    let slow = drip.await.unwrap().unwrap();
    let took = closed_after(slow).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A prompt client is served, and the handler sees its address.
    assert!(get_root(addr).await.ends_with("127.0.0.1"));
}

#[tokio::test]
async fn connections_over_the_caps_are_closed_at_accept() {
    let (addr, _stop) = start(limits(2, 100, 5_000)).await;
    let a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_after(third).await < Duration::from_secs(1),
        "over the global cap"
    );
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        get_root(addr).await.starts_with("HTTP/1.1 200"),
        "room again"
    );

    let (addr, _stop) = start(limits(100, 2, 5_000)).await;
    let a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_after(third).await < Duration::from_secs(1),
        "over the per-source cap"
    );
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(get_root(addr).await.starts_with("HTTP/1.1 200"));
}

/// Sends raw bytes; the status and the JSON body of the answer (the server closes after it).
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything sent.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let status = head[9..12].parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}

#[tokio::test]
async fn every_refusal_has_the_json_body_even_before_a_request_exists() {
    let (addr, _stop) = start(Limits::default()).await;
    let big = |n: usize| {
        format!(
            "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-big: {}\r\n\r\n",
            "a".repeat(n)
        )
    };
    let long = format!(
        "GET /{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "garbage request line",
            b"HELLO\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        (
            "bad header",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        (
            "head past the layer's limit",
            big(20_000).into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "head past hyper's buffer",
            big(200_000).into_bytes(),
            431,
            "headers_too_large",
        ),
        ("long target", long.into_bytes(), 414, "uri_too_long"),
        (
            "not a number",
            b"GET /n/abc HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        (
            "invalid UTF-8 in the path",
            b"GET /s/%FF%FE HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        (
            "no such path",
            b"GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
            404,
            "not_found",
        ),
        (
            "wrong method",
            b"DELETE / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
            405,
            "method_not_allowed",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got, body) = raw(addr, &request).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, code),
            "{what}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // And the connection that asked properly is unaffected.
    assert!(get_root(addr).await.starts_with("HTTP/1.1 200"));
}
