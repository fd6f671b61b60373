//! A cloud and its relays (docs/PROTOCOL.md §17): one WebSocket per relay, shared by both
//! directions because a relay keeps only the newest connection of a key.
//!
//! Inbound, an envelope is answered exactly as the D2D endpoint would answer the same body over
//! HTTP, and the answer is remembered by envelope id, so a redelivery gets the same answer and
//! is never processed twice. Outbound, a request through a relay is an HTTP request with a
//! longer way round: sent, accepted, then answered by a response envelope (or an expiry
//! notice), bounded by the cloud's request timeout.
//!
//! A request the relay accepted is sent once. Its envelope waits at the relay until it is
//! answered or expires, so a caller that gave up (a timeout, a dropped connection) and sends
//! the same body again is attached to the envelope already there, and an answer that came after
//! its caller left is kept for the retry ([`Sent`]) — a retry leaves no second copy at the
//! relay, unless the first has had no answer for an hour (a relay that lost its data answers
//! nothing). This memory lives as long as the process: after a restart a retry sends once
//! more.

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
    /// Identifies the request (recipient, path, body): a retry has the same.
    fingerprint: [u8; 32],
    reply: oneshot::Sender<Answer>,
}

/// Requests kept per link: sent and unanswered, or answered and kept for a retry.
const MAX_SENT: usize = 10_000;
/// How long an answer nobody took is kept for a retry.
const ANSWER_KEPT: Duration = Duration::from_secs(3600);
/// How long a retry waits on an envelope that never got an answer before sending it again: a
/// relay that lost its data (wiped, replaced at the same URL) sends neither a response nor an
/// expiry notice, and the message must not wait on it until the delivery horizon.
const RESEND_AFTER: Duration = Duration::from_secs(3600);

/// Requests through one relay by fingerprint: the envelope the relay accepted, who waits for
/// its answer, and the answer once it came.
struct Sent {
    by_fingerprint: HashMap<[u8; 32], Request>,
    by_envelope: HashMap<String, [u8; 32]>,
    /// [`RESEND_AFTER`] (tests shorten it).
    resend_after: Duration,
}

impl Default for Sent {
    fn default() -> Self {
        Sent {
            by_fingerprint: HashMap::new(),
            by_envelope: HashMap::new(),
            resend_after: RESEND_AFTER,
        }
    }
}

/// An answer as kept: a response (status, body), or why there will be none.
type Kept = Result<(u16, Value), String>;

struct Request {
    envelope: String,
    sent_at: std::time::Instant,
    waiters: Vec<oneshot::Sender<Answer>>,
    answer: Option<(Kept, std::time::Instant)>,
}

impl Sent {
    /// Attaches `reply` to a request already at the relay or answered; gives it back if there
    /// is none (it must be sent).
    fn attach(
        &mut self,
        fingerprint: &[u8; 32],
        reply: oneshot::Sender<Answer>,
    ) -> Option<oneshot::Sender<Answer>> {
        let Some(r) = self.by_fingerprint.get_mut(fingerprint) else {
            return Some(reply);
        };
        match r.answer.take() {
            // Kept too long: send again.
            Some((_, at)) if at.elapsed() > ANSWER_KEPT => {
                self.forget(fingerprint);
                return Some(reply);
            }
            // The answer came after its caller left: this retry takes it.
            Some((answer, _)) => {
                let _ = reply.send(answer.map_err(ClientError::Transport));
                self.forget(fingerprint);
            }
            // Unanswered for too long: the relay may have lost it.
            None if r.sent_at.elapsed() > self.resend_after => {
                self.forget(fingerprint);
                return Some(reply);
            }
            None => r.waiters.push(reply),
        }
        None
    }

    fn sent(&mut self, fingerprint: [u8; 32], envelope: String, reply: oneshot::Sender<Answer>) {
        if self.by_fingerprint.len() >= MAX_SENT {
            self.prune();
        }
        self.by_envelope.insert(envelope.clone(), fingerprint);
        self.by_fingerprint.insert(
            fingerprint,
            Request {
                envelope,
                sent_at: std::time::Instant::now(),
                waiters: vec![reply],
                answer: None,
            },
        );
    }

    /// The answer to `envelope` (a response, or an error text for an expiry): to every waiter
    /// still there, or kept for a retry if none is.
    fn answered(&mut self, envelope: &str, answer: Kept) {
        let Some(fingerprint) = self.by_envelope.get(envelope).copied() else {
            return;
        };
        let Some(r) = self.by_fingerprint.get_mut(&fingerprint) else {
            return;
        };
        let mut told = false;
        for w in r.waiters.drain(..) {
            told |= w
                .send(answer.clone().map_err(ClientError::Transport))
                .is_ok();
        }
        if told {
            self.forget(&fingerprint);
        } else {
            r.answer = Some((answer, std::time::Instant::now()));
        }
    }

    fn forget(&mut self, fingerprint: &[u8; 32]) {
        if let Some(r) = self.by_fingerprint.remove(fingerprint) {
            self.by_envelope.remove(&r.envelope);
        }
    }

    /// Makes room: drops every kept answer, then, if still full, requests nobody waits for
    /// (a retry of one of those sends again).
    fn prune(&mut self) {
        let answered: Vec<[u8; 32]> = self
            .by_fingerprint
            .iter()
            .filter(|(_, r)| r.answer.is_some())
            .map(|(f, _)| *f)
            .collect();
        for f in answered {
            self.forget(&f);
        }
        if self.by_fingerprint.len() >= MAX_SENT {
            let idle: Vec<[u8; 32]> = self
                .by_fingerprint
                .iter()
                .filter(|(_, r)| r.waiters.iter().all(|w| w.is_closed()))
                .map(|(f, _)| *f)
                .collect();
            for f in idle {
                self.forget(&f);
            }
        }
    }
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
        let fingerprint = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(to.as_bytes());
            h.update(path.as_bytes());
            h.update(body.to_string().as_bytes());
            h.finalize().into()
        };
        self.relay_link(url)
            .send(Outbound {
                to: *to,
                path,
                body,
                fingerprint,
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
        sent: &mut Sent,
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
                sent.answered(reply_to, Ok((*status, body.clone())));
                Some(None)
            }
            EnvelopeContent::Expired { reply_to } => {
                sent.answered(reply_to, Err("expired at the relay undelivered".into()));
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
    // Outlives connections: an envelope accepted before a drop is answered after it.
    let mut sent = Sent::default();
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
        loop {
            tokio::select! {
                out = rx.recv() => {
                    let Some(out) = out else { return };
                    let Some(reply) = sent.attach(&out.fingerprint, out.reply) else {
                        continue;
                    };
                    match conn.send(&out.to, out.path, out.body).await {
                        Ok(envelope) => sent.sent(out.fingerprint, envelope, reply),
                        Err(e) => {
                            let broken = matches!(e, ClientError::Transport(_));
                            let _ = reply.send(Err(e));
                            if broken {
                                break;
                            }
                        }
                    }
                    for e in conn.take_buffered() {
                        if let Some(ack) = cloud.take_envelope(&e, &mut sent).await
                            && conn.ack(&e.envelope, ack).await.is_err()
                        {
                            break;
                        }
                    }
                }
                e = conn.next_envelope() => {
                    let Ok(e) = e else { break };
                    if let Some(ack) = cloud.take_envelope(&e, &mut sent).await
                        && conn.ack(&e.envelope, ack).await.is_err()
                    {
                        break;
                    }
                }
                _ = stop.changed() => return,
            }
        }
        tracing::warn!(cloud = %cloud.name, relay = %url, "relay connection lost; reconnecting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter() -> (oneshot::Sender<Answer>, oneshot::Receiver<Answer>) {
        oneshot::channel()
    }

    #[test]
    fn a_retry_waits_for_the_envelope_already_sent() {
        let mut sent = Sent::default();
        let f = [1u8; 32];
        let (first, mut first_rx) = waiter();
        let first = sent.attach(&f, first).expect("nothing sent yet: send it");
        sent.sent(f, "env-1".into(), first);
        // A retry while the first waits: attached, not sent again.
        let (retry, mut retry_rx) = waiter();
        assert!(sent.attach(&f, retry).is_none());
        sent.answered("env-1", Ok((200, serde_json::json!({"received": true}))));
        assert!(matches!(first_rx.try_recv(), Ok(Ok((200, _)))));
        assert!(matches!(retry_rx.try_recv(), Ok(Ok((200, _)))));
        // Answered and taken: the next request with the same body is sent anew.
        let (again, _) = waiter();
        assert!(sent.attach(&f, again).is_some());
    }

    #[test]
    fn an_answer_after_its_caller_left_goes_to_the_retry() {
        let mut sent = Sent::default();
        let f = [2u8; 32];
        let (first, first_rx) = waiter();
        sent.sent(f, "env-2".into(), first);
        drop(first_rx); // the caller timed out
        sent.answered("env-2", Err("expired at the relay undelivered".into()));
        let (retry, mut retry_rx) = waiter();
        assert!(sent.attach(&f, retry).is_none());
        assert!(matches!(
            retry_rx.try_recv(),
            Ok(Err(ClientError::Transport(_)))
        ));
    }

    #[test]
    fn an_envelope_unanswered_for_too_long_is_sent_again() {
        let mut sent = Sent {
            resend_after: Duration::from_millis(20),
            ..Sent::default()
        };
        let f = [3u8; 32];
        let (first, _first_rx) = waiter();
        sent.sent(f, "env-3".into(), first);
        let (retry, _) = waiter();
        assert!(sent.attach(&f, retry).is_none(), "still fresh: wait for it");
        std::thread::sleep(Duration::from_millis(30));
        let (retry, _) = waiter();
        assert!(sent.attach(&f, retry).is_some());
        assert!(sent.by_envelope.is_empty());
    }
}
