//! A cloud's connection to a relay (docs/PROTOCOL.md §17): authenticate with the cloud key,
//! leave envelopes for other keys (solving the first-contact puzzle when asked), receive what
//! waits for this key, and ack it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sovra_proto::relay::{
    AckResponse, ClientFrame, Envelope, PowSolution, ServerFrame, pow_solve, sign_auth,
    sign_cloud_auth,
};
use sovra_proto::{CloudKeys, PublicKey, SigningKeypair};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::ClientError;

/// Longest wait for one answer from the relay.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RelayConnection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    me: PublicKey,
    /// Envelopes that arrived while waiting for an answer, in order.
    inbox: VecDeque<Envelope>,
    next_id: u64,
}

fn closed() -> ClientError {
    ClientError::Transport("the relay closed the connection".into())
}

fn refused(error: String, message: String) -> ClientError {
    ClientError::Status {
        status: 0,
        code: error,
        message,
    }
}

/// Parses a PEM file of CA certificates (a relay's private CA); at least one is required so
/// a wrong file is refused rather than silently trusting nothing extra.
pub fn parse_ca_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Decode(format!("CA file: {e}")))?;
    if certs.is_empty() {
        return Err(ClientError::Decode(
            "CA file: no PEM certificate in it".into(),
        ));
    }
    Ok(certs)
}

/// The TLS settings for `wss://` relays: the same verifier and crypto provider reqwest uses
/// for HTTPS (the system's roots through rustls-platform-verifier, aws-lc-rs), plus a private
/// CA when the owner gave one.
fn tls_connector(extra_ca_pem: Option<&str>) -> Result<Connector, ClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra = match extra_ca_pem {
        Some(pem) => parse_ca_pem(pem)?,
        None => Vec::new(),
    };
    let tls = |e: rustls::Error| ClientError::Transport(format!("TLS setup: {e}"));
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(tls)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

impl RelayConnection {
    /// Connects to `relay` (`ws://` or `wss://`, checked against the system's roots) and
    /// authenticates as `keys`.
    pub async fn connect(relay: &str, keys: &SigningKeypair) -> Result<Self, ClientError> {
        Self::connect_with_ca(relay, keys, None).await
    }

    /// As `connect`, also trusting the CA certificates in `ca_pem` for a `wss://` relay.
    pub async fn connect_with_ca(
        relay: &str,
        keys: &SigningKeypair,
        ca_pem: Option<&str>,
    ) -> Result<Self, ClientError> {
        Self::open(relay, keys.public(), ca_pem, |r, n| sign_auth(keys, r, n)).await
    }

    /// A cloud as its node holds it: a hosted cloud authenticates with its host key and
    /// certificate and is known to the relay as its cloud key (§17.2, §19.2).
    pub async fn connect_cloud(
        relay: &str,
        keys: &CloudKeys,
        ca_pem: Option<&str>,
    ) -> Result<Self, ClientError> {
        Self::open(relay, keys.public(), ca_pem, |r, n| {
            sign_cloud_auth(keys, r, n)
        })
        .await
    }

    async fn open(
        relay: &str,
        me: PublicKey,
        ca_pem: Option<&str>,
        auth: impl FnOnce(&str, &[u8; 32]) -> ClientFrame,
    ) -> Result<Self, ClientError> {
        let relay = relay.trim_end_matches('/');
        let url = format!("{relay}/v1/connect");
        let connector = if url.starts_with("wss://") {
            Some(tls_connector(ca_pem)?)
        } else {
            None
        };
        // Nagle off (`true`): an ack followed by a send are two small frames, and with Nagle
        // the second waits for the peer's delayed TCP ack (tens of milliseconds).
        let (ws, _) = tokio::time::timeout(
            ANSWER_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(&url, None, true, connector),
        )
        .await
        .map_err(|_| ClientError::Transport(format!("{url}: timed out")))?
        .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
        let mut conn = RelayConnection {
            ws,
            me,
            inbox: VecDeque::new(),
            next_id: 1,
        };
        let nonce = match conn.read().await? {
            ServerFrame::Challenge { nonce, .. } => {
                sovra_proto::encoding::b64_array::<32>("nonce", &nonce)?
            }
            other => {
                return Err(ClientError::Decode(format!(
                    "expected a challenge: {other:?}"
                )));
            }
        };
        conn.write(&auth(relay, &nonce)).await?;
        match conn.read().await? {
            ServerFrame::Ready { .. } => Ok(conn),
            ServerFrame::Error { error, message, .. } => Err(refused(error, message)),
            other => Err(ClientError::Decode(format!("expected ready: {other:?}"))),
        }
    }

    pub fn key(&self) -> PublicKey {
        self.me
    }

    pub async fn write(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text = serde_json::to_string(frame).expect("frames serialize");
        self.ws
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Writes raw text (tests use it to send what a well-behaved client never would).
    pub async fn write_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.ws
            .send(Message::Text(text.to_owned().into()))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// The next frame from the relay, waiting at most `ANSWER_TIMEOUT`.
    pub async fn read(&mut self) -> Result<ServerFrame, ClientError> {
        tokio::time::timeout(ANSWER_TIMEOUT, self.read_frame())
            .await
            .map_err(|_| ClientError::Transport("the relay did not answer".into()))?
    }

    /// The next frame, however long it takes (cancel-safe).
    async fn read_frame(&mut self) -> Result<ServerFrame, ClientError> {
        loop {
            let msg = self
                .ws
                .next()
                .await
                .ok_or_else(closed)?
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            match msg {
                Message::Text(t) => {
                    return serde_json::from_str(&t)
                        .map_err(|e| ClientError::Decode(format!("bad frame: {e}")));
                }
                Message::Close(_) => return Err(closed()),
                _ => continue,
            }
        }
    }

    /// Reads until the answer to frame `id`, keeping envelopes that arrive meanwhile.
    async fn answer(&mut self, id: &str) -> Result<ServerFrame, ClientError> {
        loop {
            match self.read().await? {
                ServerFrame::Envelope(e) => self.inbox.push_back(e),
                ServerFrame::Accepted { id: got, .. }
                | ServerFrame::Pow { id: got, .. }
                | ServerFrame::Error { id: Some(got), .. }
                    if got != id => {}
                frame => return Ok(frame),
            }
        }
    }

    fn frame_id(&mut self) -> String {
        self.next_id += 1;
        format!("f{}", self.next_id)
    }

    /// Leaves a D2D request for `to`; returns the envelope id once the relay stored it.
    /// Solves the first-contact puzzle if the relay asks for one.
    pub async fn send(
        &mut self,
        to: &PublicKey,
        path: &str,
        body: serde_json::Value,
    ) -> Result<String, ClientError> {
        let mut pow = None;
        loop {
            let id = self.frame_id();
            self.write(&ClientFrame::Send {
                id: id.clone(),
                to: to.to_b64(),
                path: path.into(),
                body: body.clone(),
                pow: pow.take(),
            })
            .await?;
            match self.answer(&id).await? {
                ServerFrame::Accepted { envelope, .. } => return Ok(envelope),
                ServerFrame::Error { error, .. } if error == "pow_required" => {
                    pow = Some(self.solve(to).await?);
                }
                ServerFrame::Error { error, message, .. } => return Err(refused(error, message)),
                other => return Err(ClientError::Decode(format!("unexpected {other:?}"))),
            }
        }
    }

    /// Asks for a puzzle for `to` and solves it.
    pub async fn solve(&mut self, to: &PublicKey) -> Result<PowSolution, ClientError> {
        let id = self.frame_id();
        self.write(&ClientFrame::PowRequest {
            id: id.clone(),
            to: to.to_b64(),
        })
        .await?;
        match self.answer(&id).await? {
            ServerFrame::Pow {
                nonce, difficulty, ..
            } => {
                let bytes = sovra_proto::encoding::b64_array::<32>("nonce", &nonce)?;
                let (me, to) = (self.me, *to);
                let counter =
                    tokio::task::spawn_blocking(move || pow_solve(&bytes, &me, &to, difficulty))
                        .await
                        .map_err(|e| ClientError::Transport(e.to_string()))?;
                Ok(PowSolution { nonce, counter })
            }
            ServerFrame::Error { error, message, .. } => Err(refused(error, message)),
            other => Err(ClientError::Decode(format!("unexpected {other:?}"))),
        }
    }

    /// The envelopes that arrived while this connection waited for answers, without waiting
    /// for more.
    pub fn take_buffered(&mut self) -> Vec<Envelope> {
        self.inbox.drain(..).collect()
    }

    /// The next envelope for this key, waiting for one to arrive however long it takes
    /// (cancel-safe: a caller may select on it).
    pub async fn next_envelope(&mut self) -> Result<Envelope, ClientError> {
        if let Some(e) = self.inbox.pop_front() {
            return Ok(e);
        }
        loop {
            match self.read_frame().await? {
                ServerFrame::Envelope(e) => return Ok(e),
                ServerFrame::Error { error, message, .. } => return Err(refused(error, message)),
                _ => {}
            }
        }
    }

    /// Acks an envelope, with the answer for its sender when it was a request.
    pub async fn ack(
        &mut self,
        envelope: &str,
        response: Option<AckResponse>,
    ) -> Result<(), ClientError> {
        self.write(&ClientFrame::Ack {
            envelope: envelope.into(),
            response,
        })
        .await
    }
}
