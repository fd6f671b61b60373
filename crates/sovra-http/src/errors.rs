//! Every 4xx carries the JSON error body (PROTOCOL.md §10), including the answers no handler
//! writes:
//!
//! * [`json_errors`] — a layer over every router: limits on the request head (URI, header
//!   block) answered as JSON, and any error response that is not JSON (an extractor's plain-text
//!   rejection, a refused WebSocket upgrade) rewritten into `{"error", "message"}` with the
//!   code of its status.
//! * [`ParseErrorJson`] — wraps each connection's socket, because when hyper cannot parse a
//!   request at all (a garbage request line, a head past its buffer) it answers by itself with
//!   an empty body and closes; there is no request for a layer to see. The wrapper recognises
//!   that exact answer (a 4xx head with `content-length: 0` and no `content-type`, which no
//!   layered response has) as it is written and gives it the JSON body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ApiError;

/// Longest request target (path and query) answered; longer gets 414 `uri_too_long`.
pub const MAX_URI: usize = 8 * 1024;
/// Largest request head (request line and headers); larger gets 431 `headers_too_large`.
pub const MAX_HEAD: usize = 16 * 1024;

/// The stable code for an error status that no handler chose a code for.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "wrong_size",
        414 => "uri_too_long",
        426 => "upgrade_required",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "malformed",
    }
}

/// Marks an error response that is a page for a person's browser (the owner's web page): it
/// keeps its HTML. Every other error response is JSON.
#[derive(Debug, Clone, Copy)]
pub struct BrowserPage;

/// The layer: head limits first, then the JSON guarantee for whatever the router answered.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        return ApiError::new(
            414,
            "uri_too_long",
            format!("the request target is {target} bytes; at most {MAX_URI}"),
        )
        .into_response();
    }
    // As HTTP/1.1 writes them: "name: value\r\n" per header, plus the request line.
    let head = target
        + req.method().as_str().len()
        + 12
        + req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > MAX_HEAD {
        return ApiError::new(
            431,
            "headers_too_large",
            format!("the request head is about {head} bytes; at most {MAX_HEAD}"),
        )
        .into_response();
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let page = response.extensions().get::<BrowserPage>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_json || page {
        return response;
    }
    let keep = [
        header::ALLOW,
        header::RETRY_AFTER,
        header::SEC_WEBSOCKET_VERSION,
    ]
    .map(|h| response.headers().get(&h).cloned().map(|v| (h, v)));
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut answer = ApiError {
        status,
        code: code_for(status),
        message,
        extra: None,
    }
    .into_response();
    for (h, v) in keep.into_iter().flatten() {
        answer.headers_mut().insert(h, v);
    }
    answer
}

/// A connection's socket, with hyper's own bodiless parse-error answers given a JSON body.
pub struct ParseErrorJson<T> {
    inner: T,
    /// A rewritten answer still being written (hyper was told it was written whole).
    pending: Vec<u8>,
    sent: usize,
}

impl<T> ParseErrorJson<T> {
    pub fn new(inner: T) -> Self {
        ParseErrorJson {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

/// hyper's automatic answer (`HTTP/1.1 4xx …`, then only `content-length: 0`, `date` and
/// `connection` headers, no body), rewritten with the JSON error body; `None` for anything
/// else.
pub fn rewrite_parse_error(written: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(written).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let code = status_line.strip_prefix("HTTP/1.1 4")?;
    let status = StatusCode::from_u16(code.get(..2)?.parse::<u16>().ok()? + 400).ok()?;
    let mut zero_length = false;
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" if value.trim() == "0" => zero_length = true,
            "date" => date = Some(line),
            "connection" => {}
            _ => return None,
        }
    }
    if !zero_length {
        return None;
    }
    let message = match status.as_u16() {
        414 => format!("the request target is longer than the server reads; at most {MAX_URI}"),
        431 => format!("the request head is larger than the server reads; at most {MAX_HEAD}"),
        _ => "not an HTTP/1.1 request this server can parse".to_owned(),
    };
    let body = serde_json::json!({ "error": code_for(status), "message": message }).to_string();
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(date) = date {
        out.push_str(date);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<T: AsyncWrite + Unpin> ParseErrorJson<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as a rewritten answer if it is one; the caller reports it written.
    fn intercept(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let rewritten = rewrite_parse_error(buf)?;
        self.pending = rewritten;
        self.sent = 0;
        match self.drain(cx) {
            Poll::Ready(Err(e)) => Some(Err(e)),
            _ => Some(Ok(buf.len())),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ParseErrorJson<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ParseErrorJson<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if buf.starts_with(b"HTTP/1.1 4")
            && let Some(r) = self.intercept(cx, buf)
        {
            return Poll::Ready(r);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (nonempty.next(), nonempty.next())
            && only.starts_with(b"HTTP/1.1 4")
            && let Some(r) = self.intercept(cx, only)
        {
            return Poll::Ready(r);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_answers_are_rewritten() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 22 Nov 2026 04:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite_parse_error(hyper).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "malformed");
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(
            String::from_utf8(rewrite_parse_error(big).unwrap())
                .unwrap()
                .contains("headers_too_large")
        );
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nhello",
            b"\x81\x05HTTP/1.1 400",
        ] {
            assert!(rewrite_parse_error(other).is_none(), "{other:?}");
        }
    }
}
