//! A cloud and its relays (docs/PROTOCOL.md §17): one WebSocket per relay, shared by both
//! directions because a relay keeps only the newest connection of a key.
//!
//! Inbound, an envelope is answered exactly as the D2D endpoint would answer the same body over
//! HTTP, and the answer is remembered by envelope id, so a redelivery gets the same answer and
//! is never processed twice. Outbound, a request through a relay is an HTTP request with a
//! longer way round: sent, accepted, then answered by a response envelope (or an expiry
//! notice), bounded by the cloud's request timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sovra_client::{ClientError, RelayConnection};
use sovra_proto::migration::MoveStatement;
use sovra_proto::relay::{AckResponse, Envelope, EnvelopeContent};
use sovra_proto::{HandshakeRequest, MessageRequest, PublicKey};
use tokio::sync::{mpsc, oneshot};

use crate::cloud::Cloud;
use crate::error::ApiError;

type Answer = Result<(u16, Value), ClientError>;

/// A request for the link task to carry.
pub(crate) struct Outbound {
    to: PublicKey,
    path: &'static str,
    body: Value,
    reply: oneshot::Sender<Answer>,
}

/// Checks and normalizes a relay URL: `ws://` or `wss://`, no trailing `/`.
pub fn normalize_relay_url(url: &str) -> Result<String, ApiError> {
    Ok(sovra_proto::urls::canonical_url(
        "relay",
        url.trim(),
        &["ws", "wss"],
    )?)
}

impl Cloud {
    /// The link to `url`, started if it is not running.
    pub(crate) fn relay_link(self: &Arc<Self>, url: &str) -> mpsc::Sender<Outbound> {
        let mut links = self.relay_links.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = links.get(url).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(256);
        links.insert(url.to_owned(), tx.clone());
        tokio::spawn(run_link(Arc::clone(self), url.to_owned(), rx));
        tx
    }

    /// Connects to every relay this cloud is registered with, so envelopes reach it.
    pub fn start_relays(self: &Arc<Self>, relays: &[String]) {
        for url in relays {
            self.relay_link(url);
        }
    }

    /// POSTs a D2D body to `to` through the relay at `url` and waits for its answer.
    pub(crate) async fn relay_post<B: Serialize, T: DeserializeOwned>(
        self: &Arc<Self>,
        url: &str,
        to: &PublicKey,
        path: &'static str,
        body: &B,
    ) -> Result<T, ClientError> {
        let (reply, answer) = oneshot::channel();
        let body = serde_json::to_value(body).expect("bodies serialize");
        self.relay_link(url)
            .send(Outbound {
                to: *to,
                path,
                body,
                reply,
            })
            .await
            .map_err(|_| ClientError::Transport(format!("{url}: the relay link stopped")))?;
        let (status, body) = tokio::time::timeout(self.settings.request_timeout, answer)
            .await
            .map_err(|_| {
                ClientError::Transport(format!("{url}: no answer through the relay in time"))
            })?
            .map_err(|_| ClientError::Transport(format!("{url}: the relay link dropped")))??;
        if (200..300).contains(&status) {
            return serde_json::from_value(body).map_err(|e| ClientError::Decode(e.to_string()));
        }
        Err(sovra_client::status_error(status, &body, b""))
    }

    /// What the D2D endpoint answers for `body` at `path`: the status and body, never an
    /// error — a refusal is an answer too.
    async fn answer_relayed(self: &Arc<Self>, path: &str, body: Value) -> (u16, Value) {
        if path == "/api/d2d/moved" {
            let result = match serde_json::from_value::<MoveStatement>(body) {
                Ok(s) => self
                    .receive_move(&s)
                    .await
                    .map(|a| serde_json::to_value(a).expect("json")),
                Err(e) => Err(ApiError::bad_request(format!("not a move statement: {e}"))),
            };
            return match result {
                Ok(v) => (200, v),
                Err(e) => (e.status.as_u16(), e.body()),
            };
        }
        // As over HTTP (`d2d::speaking`): inside the write gate, refused while moving or moved.
        let _gate = self.migration.enter().await;
        if let Err(e) = self.speaking() {
            return (e.status.as_u16(), e.body());
        }
        let result = match path {
            "/api/d2d/handshake" => match serde_json::from_value::<HandshakeRequest>(body) {
                Ok(r) => self
                    .receive_handshake(&r, None)
                    .await
                    .map(|a| serde_json::to_value(a).expect("json")),
                Err(e) => Err(ApiError::bad_request(format!("not a handshake: {e}"))),
            },
            "/api/d2d/inheritance" => {
                match serde_json::from_value::<sovra_proto::inheritance::InheritanceNotice>(body) {
                    Ok(n) => self
                        .receive_inheritance(&n)
                        .await
                        .map(|()| serde_json::json!({ "status": "accepted" })),
                    Err(e) => Err(ApiError::bad_request(format!("not a notice: {e}"))),
                }
            }
            "/api/d2d/message" => match serde_json::from_value::<MessageRequest>(body) {
                Ok(r) => self
                    .receive_message(&r)
                    .await
                    .map(|a| serde_json::to_value(a).expect("json")),
                Err(e) => Err(ApiError::bad_request(format!("not a message: {e}"))),
            },
            other => Err(ApiError::not_found(
                "not_found",
                format!("no D2D endpoint {other}"),
            )),
        };
        match result {
            Ok(v) => (200, v),
            Err(e) => (e.status.as_u16(), e.body()),
        }
    }

    /// One envelope for this cloud: returns what to ack it with, or None to leave it unacked
    /// (a storage failure: the relay will deliver it again).
    async fn take_envelope(
        self: &Arc<Self>,
        e: &Envelope,
        waiting: &mut HashMap<String, oneshot::Sender<Answer>>,
    ) -> Option<Option<AckResponse>> {
        match &e.content {
            EnvelopeContent::Request { path, body } => {
                let (status, body) = match self.store.relay_answer(&e.envelope).await {
                    Ok(Some(done)) => done,
                    Ok(None) => {
                        let (status, body) = self.answer_relayed(path, body.clone()).await;
                        if status >= 500 {
                            return None;
                        }
                        if let Err(err) =
                            self.store.relay_answered(&e.envelope, status, &body).await
                        {
                            tracing::error!(cloud = %self.name, "remembering a relay answer: {err}");
                            return None;
                        }
                        (status, body)
                    }
                    Err(err) => {
                        tracing::error!(cloud = %self.name, "reading relay answers: {err}");
                        return None;
                    }
                };
                // Vouch at the relay only for a peer on the whitelist now: a stranger's knock,
                // answered or not, must keep paying the relay's proof of work.
                let contact = match PublicKey::from_b64("from", &e.from) {
                    Ok(from) => matches!(
                        self.store.peer(&from).await,
                        Ok(Some(p)) if !p.grant.is_expired(jiff::Timestamp::now())
                    ),
                    Err(_) => false,
                };
                Some(Some(AckResponse {
                    status,
                    body,
                    contact,
                }))
            }
            EnvelopeContent::Response {
                reply_to,
                status,
                body,
            } => {
                if let Some(w) = waiting.remove(reply_to) {
                    let _ = w.send(Ok((*status, body.clone())));
                }
                Some(None)
            }
            EnvelopeContent::Expired { reply_to } => {
                if let Some(w) = waiting.remove(reply_to) {
                    let _ = w.send(Err(ClientError::Transport(
                        "expired at the relay undelivered".into(),
                    )));
                }
                Some(None)
            }
        }
    }
}

/// The link task: keeps one authenticated connection to `url` (reconnecting with backoff),
/// carries outbound requests, and answers and acks what arrives. Ends when the cloud shuts
/// down.
async fn run_link(cloud: Arc<Cloud>, url: String, mut rx: mpsc::Receiver<Outbound>) {
    let mut stop = cloud.shutdown_signal();
    let mut backoff = Duration::from_millis(200);
    loop {
        if *stop.borrow() {
            return;
        }
        let keys = cloud.keys();
        // Read at every attempt, so a CA the owner replaces applies on the next reconnect.
        let ca = cloud.store.relay_ca(&url).await.ok().flatten();
        let mut conn = match RelayConnection::connect_cloud(&url, &keys, ca.as_deref()).await {
            Ok(c) => {
                backoff = Duration::from_millis(200);
                tracing::info!(cloud = %cloud.name, relay = %url, "connected to relay");
                c
            }
            Err(e) => {
                tracing::warn!(cloud = %cloud.name, relay = %url, "relay connection failed: {e}");
                // Requests waiting meanwhile fail now rather than at their timeout.
                while let Ok(o) = rx.try_recv() {
                    let _ = o.reply.send(Err(ClientError::Transport(e.to_string())));
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let mut waiting: HashMap<String, oneshot::Sender<Answer>> = HashMap::new();
        loop {
            tokio::select! {
                out = rx.recv() => {
                    let Some(out) = out else { return };
                    match conn.send(&out.to, out.path, out.body).await {
                        Ok(envelope) => {
                            waiting.retain(|_, w| !w.is_closed());
                            waiting.insert(envelope, out.reply);
                        }
                        Err(e) => {
                            let broken = matches!(e, ClientError::Transport(_));
                            let _ = out.reply.send(Err(e));
                            if broken {
                                break;
                            }
                        }
                    }
                    for e in conn.take_buffered() {
                        if let Some(ack) = cloud.take_envelope(&e, &mut waiting).await
                            && conn.ack(&e.envelope, ack).await.is_err()
                        {
                            break;
                        }
                    }
                }
                e = conn.next_envelope() => {
                    let Ok(e) = e else { break };
                    if let Some(ack) = cloud.take_envelope(&e, &mut waiting).await
                        && conn.ack(&e.envelope, ack).await.is_err()
                    {
                        break;
                    }
                }
                _ = stop.changed() => return,
            }
        }
        for (_, w) in waiting.drain() {
            let _ = w.send(Err(ClientError::Transport(format!(
                "{url}: the relay connection dropped"
            ))));
        }
        tracing::warn!(cloud = %cloud.name, relay = %url, "relay connection lost; reconnecting");
    }
}
