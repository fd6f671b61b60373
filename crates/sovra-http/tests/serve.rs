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
    let app = Router::new().route(
        "/",
        get(|ConnectInfo(addr): ConnectInfo<SocketAddr>| async move { addr.ip().to_string() }),
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
