//! One hosted cloud: its keys, its store, and the domain rules of rapp-d2d/1.0 applied to them.
//!
//! Handlers (`d2d.rs`, `owner.rs`) parse and call into here; the workers (`server.rs`) call
//! `run_jobs`, `deliver_due` and `sweep`. Every state change is one store transaction, and a
//! request is answered only after its transaction committed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand_core::Rng;
use sha2::{Digest, Sha256};
use sovra_client::{ClientError, D2dClient};
use sovra_proto::handshake::{
    self, REASON_EXPIRED, REASON_NOT_ON_WHITELIST, REASON_RATE_LIMIT, REASON_REFUSED,
};
use sovra_proto::{
    Ack, CallResult, Capability, CloudKeys, HandshakeOutcome, HandshakeRequest, HandshakeResponse,
    IdentityDocument, MessageRequest, MessageResponse, Payload, ProtoError, PublicKey, Retention,
    Session, StoredSession, os_rng,
};
use tokio::sync::Notify;

use crate::capability::{self, Adapter};
use crate::error::{ApiError, ApiResult};
use crate::home::CloudConfig;
use crate::inbox::{Accepted, Inbound, Rejected};
use crate::store::{Conversation, Peer, Store, now_ms};

/// Node-wide settings that shape delivery.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Give up on an outbound delivery this long after it was queued.
    pub delivery_horizon: Duration,
    /// First retry delay; doubles per attempt, with full jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Time limit of one outbound HTTP request.
    pub request_timeout: Duration,
    /// Whether peers are told the node's URL (identity document, registry record). Off for a
    /// node behind NAT: its clouds are then reached only through their relays.
    pub publish_endpoint: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delivery_horizon: Duration::from_secs(24 * 3600),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            publish_endpoint: true,
        }
    }
}

pub struct Cloud {
    pub name: String,
    pub dir: PathBuf,
    pub config: CloudConfig,
    /// Swapped whole when the cloud rotates its key (`registry.rs`); readers take a snapshot.
    keys: std::sync::RwLock<Arc<CloudKeys>>,
    pub store: Store,
    /// This cloud's public base URL; its D2D endpoints are below it.
    pub base_url: String,
    pub settings: Settings,
    d2d: D2dClient,
    http: reqwest::Client,
    pub outbox_wake: Notify,
    pub jobs_wake: Notify,
    /// When an unknown key claiming a registry-resolved handle last made us check that
    /// handle early (`registry.rs`); bounded by the whitelist's size.
    pub(crate) early_checks:
        std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// One link task per relay (`relay.rs`).
    pub(crate) relay_links: std::sync::Mutex<
        std::collections::HashMap<String, tokio::sync::mpsc::Sender<crate::relay::Outbound>>,
    >,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// This cloud's own `Arc`, for work that outlives a `&self` call (restarting relay links).
    pub(crate) me: std::sync::Weak<Cloud>,
}

/// Identifies a request's exact bytes, to tell a retransmission from a replay. Hashes the wire
/// fields: base64 is strictly canonical, so equal text means equal bytes.
fn hash_request(request: &MessageRequest) -> String {
    let digest = Sha256::new()
        .chain_update(request.sealed_payload.as_bytes())
        .chain_update([0])
        .chain_update(request.sig.as_bytes())
        .finalize();
    sovra_proto::encoding::hex(&digest)
}

fn retention_str(r: Retention) -> &'static str {
    match r {
        Retention::Session => "session",
        Retention::Days90 => "90d",
        Retention::Permanent => "permanent",
    }
}

impl Cloud {
    pub async fn open(
        dir: PathBuf,
        base_url: String,
        settings: Settings,
    ) -> Result<Arc<Cloud>, crate::home::HomeError> {
        let config = crate::home::load_config(&dir)?;
        let keys = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key"))?;
        let store = Store::open(&dir.join("cloud.db")).await?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let timeout = settings.request_timeout;
        Ok(Arc::new_cyclic(|me| Cloud {
            me: me.clone(),
            name,
            dir,
            config,
            keys: std::sync::RwLock::new(Arc::new(keys)),
            store,
            base_url,
            settings,
            d2d: D2dClient::new(timeout),
            http: reqwest::Client::new(),
            outbox_wake: Notify::new(),
            jobs_wake: Notify::new(),
            early_checks: Default::default(),
            relay_links: Default::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        }))
    }

    pub fn public(&self) -> PublicKey {
        self.keys().public()
    }

    /// Fires when the node stops serving this cloud; long-lived tasks (relay links) end.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// The URL peers are told to use, if the node publishes one.
    pub fn endpoint(&self) -> Option<String> {
        self.settings
            .publish_endpoint
            .then(|| self.base_url.clone())
    }

    /// The cloud's current keys.
    pub fn keys(&self) -> Arc<CloudKeys> {
        self.keys.read().expect("keys lock").clone()
    }

    /// Replaces the keys after a rotation the registry accepted.
    pub(crate) fn set_keys(&self, keys: CloudKeys) {
        *self.keys.write().expect("keys lock") = Arc::new(keys);
    }

    /// `GET /api/d2d/identity`: signed fresh, listing only what the owner exposed.
    pub async fn identity_document(&self) -> ApiResult<IdentityDocument> {
        let capabilities = self
            .store
            .capabilities()
            .await?
            .into_iter()
            .map(|c| Capability {
                name: c.name,
                description: c.description,
            })
            .collect();
        let keys = self.keys();
        Ok(IdentityDocument::sign(
            &keys,
            &self.config.handle,
            capabilities,
            self.endpoint().into_iter().collect(),
            self.store.relays().await?,
            jiff::Timestamp::now(),
        )?)
    }

    // --- responder side ----------------------------------------------------------------------

    pub async fn receive_handshake(
        &self,
        request: &HandshakeRequest,
    ) -> ApiResult<HandshakeResponse> {
        let keys = self.keys();
        let received = handshake::receive(request, &keys, jiff::Timestamp::now())?;
        let id = received.conversation_id.hyphenated().to_string();
        if self.store.handshake_seen(&id).await? {
            return Err(ProtoError::ReplayedHandshake(id).into());
        }
        let mut peer = self.store.peer(&received.from).await?;
        if peer.is_none()
            && let Some(claimed) = &received.sender_handle
            && self.check_claimed_handle(claimed, &received.from).await
        {
            // The registry showed a rotation to this key: the entry moved, grants kept.
            peer = self.store.peer(&received.from).await?;
        }
        let refuse = |reason: &str| {
            handshake::refuse(
                &keys.signing,
                &received.from,
                received.conversation_id,
                reason,
            )
        };
        // Everything read before the transaction: the store has one connection.
        let earlier = self.store.pending_all_for(&received.from).await?;
        let over_limit = match &peer {
            Some(p) => {
                self.store.rate_count(&received.from).await?
                    >= i64::from(p.grant.rate_limit_per_day)
            }
            None => false,
        };
        let mut tx = self.store.begin().await?;
        if let Err(e) = Store::mark_handshake_seen(&mut tx, &id).await {
            // The same request raced itself in: the other copy won.
            return Err(
                match e
                    .as_database_error()
                    .is_some_and(|d| d.is_unique_violation())
                {
                    true => ProtoError::ReplayedHandshake(id).into(),
                    false => e.into(),
                },
            );
        }
        let Some(peer) = peer else {
            // The seed's "prompt the human for novel peers": keep it for the owner, once per
            // peer; a peer the owner denied is refused without asking again.
            let denied = earlier.iter().any(|p| p.state == "denied");
            if !denied && !earlier.iter().any(|p| p.state == "pending") {
                Store::insert_pending(
                    &mut tx,
                    &id,
                    &received.from,
                    received.sender_handle.as_deref(),
                    &received.topic,
                )
                .await?;
            }
            tx.commit().await?;
            return Ok(refuse(if denied {
                REASON_REFUSED
            } else {
                REASON_NOT_ON_WHITELIST
            }));
        };
        if peer.grant.is_expired(jiff::Timestamp::now()) {
            tx.commit().await?;
            return Ok(refuse(REASON_EXPIRED));
        }
        if over_limit {
            tx.commit().await?;
            return Ok(refuse(REASON_RATE_LIMIT));
        }
        let ack = Ack {
            capabilities: peer.grant.allowed_capabilities.clone(),
            expires_at: None,
            accepted_at: sovra_proto::time::format(jiff::Timestamp::now()),
            responder_handle: Some(self.config.handle.clone()),
        };
        let (response, session) = handshake::accept(&mut os_rng(), &keys, &received, &ack)?;
        let stored = serde_json::to_string(&session.to_stored()).expect("json");
        Store::insert_conversation(
            &mut tx,
            &id,
            &session.token,
            &received.from.to_b64(),
            "responder",
            &received.topic,
            &stored,
            &[],
            None,
        )
        .await?;
        Store::add_rate_event(&mut tx, &received.from.to_b64()).await?;
        tx.commit().await?;
        self.store.rate_noted(&received.from.to_b64());
        tracing::info!(cloud = %self.name, peer = %peer.grant.peer_handle, conversation = %id, "accepted handshake");
        Ok(response)
    }

    pub async fn receive_message(&self, request: &MessageRequest) -> ApiResult<MessageResponse> {
        let parsed = request.parse()?;
        let route = self
            .store
            .route(&parsed.token)
            .await?
            .ok_or(ProtoError::UnknownToken)?;
        if route.state != "open" || route.expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(ProtoError::ExpiredToken.into());
        }
        let session = &route.session;
        let plaintext = session.open_bytes(&parsed)?;
        let peer = self.store.peer(&session.peer).await?;
        let Some(peer) = peer.filter(|p| !p.grant.is_expired(jiff::Timestamp::now())) else {
            return Err(ProtoError::ExpiredToken.into());
        };
        let payload = Payload::from_json(&plaintext)?;
        let has_calls = !payload.calls.is_empty();
        let verdict = self
            .store
            .accept_inbound(Inbound {
                conversation_id: route.id,
                peer_pubkey: route.peer_pubkey,
                seq: parsed.seq,
                request_hash: hash_request(request),
                payload: std::str::from_utf8(&plaintext)
                    .map_err(ApiError::internal)?
                    .to_owned(),
                retention: retention_str(payload.data_policy.retention),
                in_reply_to: payload.in_reply_to,
                has_calls,
                rate_limit_per_day: peer.grant.rate_limit_per_day,
            })
            .await;
        match verdict {
            Ok(Accepted::Stored) => {
                if has_calls {
                    self.jobs_wake.notify_one();
                }
            }
            // A retransmission of what we already accepted: acknowledge, do nothing again.
            Ok(Accepted::Retransmission) => {}
            Err(Rejected::Protocol(e)) => return Err(e.into()),
            Err(Rejected::Storage(e)) => return Err(ApiError::internal(e)),
        }
        Ok(MessageResponse { received: true })
    }

    // --- initiator side ----------------------------------------------------------------------

    /// Sends a payload to a whitelisted peer, opening a conversation first if none is open.
    /// Returns the conversation and the message's `seq`; delivery continues in the outbox.
    pub async fn send(
        self: &Arc<Self>,
        who: &str,
        topic: &str,
        payload: &Payload,
    ) -> ApiResult<(String, u64)> {
        let peer = self.store.find_peer(who).await?.ok_or_else(|| {
            ApiError::not_found(
                "unknown_peer",
                format!("{who} is not on this cloud's whitelist"),
            )
        })?;
        if peer.grant.is_expired(jiff::Timestamp::now()) {
            return Err(ApiError::new(
                403,
                "peer_expired",
                format!("the whitelist entry for {who} has expired"),
            ));
        }
        let conv = match self
            .store
            .open_conversation_with(&peer.grant.peer_pubkey)
            .await?
        {
            Some(c) => c,
            None => match self.open_conversation(&peer, topic).await {
                // The peer serves another key than we hold: if we resolved it through a
                // registry, it may have rotated; follow and try once more.
                Err(e) if e.code == "peer_key_mismatch" && peer.registry_url.is_some() => {
                    match self.check_peer(&peer).await {
                        crate::registry::PeerCheck::Rotated { to, .. } => {
                            let peer = self.store.find_peer(&to).await?.ok_or(e)?;
                            self.open_conversation(&peer, topic).await?
                        }
                        _ => return Err(e),
                    }
                }
                other => other?,
            },
        };
        let seq = self.enqueue(&conv, payload).await?;
        Ok((conv.id, seq))
    }

    async fn open_conversation(
        self: &Arc<Self>,
        peer: &Peer,
        topic: &str,
    ) -> ApiResult<Conversation> {
        let stored_key = peer
            .peer_encryption_key
            .as_deref()
            .map(|k| sovra_proto::EncryptionKey::from_b64("peer_encryption_key", k))
            .transpose()?;
        let no_endpoint = || {
            ApiError::new(
                409,
                "no_endpoint",
                format!("no URL or relay is known for {}", peer.grant.peer_handle),
            )
        };
        // The peer's encryption key: from its identity document when its endpoint answers,
        // else (reachable only through relays) the one its registry record vouched for.
        let encryption_key = match &peer.peer_url {
            Some(url) => match self.d2d.identity(url).await {
                Ok(identity) => {
                    if identity.pubkey != peer.grant.peer_pubkey {
                        return Err(ApiError::new(
                            502,
                            "peer_key_mismatch",
                            format!(
                                "{url} serves key {} but the whitelist has {}",
                                identity.pubkey, peer.grant.peer_pubkey
                            ),
                        ));
                    }
                    self.store
                        .set_peer_encryption_key(
                            &identity.pubkey,
                            &identity.encryption_key.to_b64(),
                        )
                        .await?;
                    identity.encryption_key
                }
                Err(ClientError::Transport(_)) if !peer.peer_relays.is_empty() => {
                    stored_key.ok_or_else(no_endpoint)?
                }
                Err(e) => return Err(peer_error(e)),
            },
            None if !peer.peer_relays.is_empty() => stored_key.ok_or_else(no_endpoint)?,
            None => return Err(no_endpoint()),
        };
        let keys = self.keys();
        let (request, pending) = handshake::initiate(
            &mut os_rng(),
            &keys,
            Some(&self.config.handle),
            peer.grant.peer_pubkey,
            encryption_key,
            topic,
            jiff::Timestamp::now(),
        )?;
        let response: HandshakeResponse = self
            .post_to_peer(peer, "/api/d2d/handshake", &request)
            .await
            .map_err(peer_error)?;
        match pending.complete(&response)? {
            HandshakeOutcome::Refused { reason } => Err(ApiError::new(
                409,
                "refused",
                format!(
                    "{} refused the conversation: {reason}",
                    peer.grant.peer_handle
                ),
            )),
            HandshakeOutcome::Accepted { session, ack } => {
                let id = session.conversation_id.hyphenated().to_string();
                let expires = ack
                    .expires_at
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map(|t| t.as_millisecond());
                let mut tx = self.store.begin().await?;
                Store::insert_conversation(
                    &mut tx,
                    &id,
                    &session.token,
                    &peer.grant.peer_pubkey.to_b64(),
                    "initiator",
                    topic,
                    &serde_json::to_string(&session.to_stored()).expect("json"),
                    &ack.capabilities,
                    expires,
                )
                .await?;
                tx.commit().await?;
                self.store
                    .conversation(&id)
                    .await?
                    .ok_or_else(|| ApiError::internal("conversation vanished"))
            }
        }
    }

    /// Numbers, seals and queues a payload in one transaction.
    async fn enqueue(&self, conv: &Conversation, payload: &Payload) -> ApiResult<u64> {
        let peer_key = PublicKey::from_b64("peer", &conv.peer_pubkey)?;
        // Where it will go first (for the owner's view; delivery asks the whitelist again):
        // the endpoint, else the first relay.
        let url = self
            .store
            .peer(&peer_key)
            .await?
            .and_then(|p| p.peer_url.or_else(|| p.peer_relays.into_iter().next()));
        let stored: StoredSession =
            serde_json::from_str(&conv.session).map_err(ApiError::internal)?;
        let session = Session::from_stored(&stored)?;
        let plaintext = payload.to_json()?;
        let keys = self.keys();
        let mut tx = self.store.begin().await?;
        let seq = Store::take_send_seq(&mut tx, &conv.id).await?;
        let request = session.seal_bytes(&mut os_rng(), &keys.signing, seq, &plaintext)?;
        Store::insert_outbox(
            &mut tx,
            &conv.id,
            seq,
            url.as_deref(),
            &serde_json::to_string(&request).expect("json"),
        )
        .await?;
        Store::insert_message(
            &mut tx,
            &conv.id,
            "out",
            seq,
            &hash_request(&request),
            std::str::from_utf8(&plaintext).expect("json is utf-8"),
            retention_str(payload.data_policy.retention),
            payload.in_reply_to,
        )
        .await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(seq)
    }

    // --- workers -----------------------------------------------------------------------------

    /// Calls whose adapter was started before a crash are not run again (at most once): they
    /// are answered with an error result.
    pub async fn recover_interrupted_jobs(&self) -> ApiResult<()> {
        for (conv, seq) in self.store.jobs("started").await? {
            self.answer_calls(&conv, seq, true).await?;
        }
        Ok(())
    }

    /// Runs queued calls and queues their replies.
    pub async fn run_jobs(&self) -> ApiResult<()> {
        for (conv, seq) in self.store.jobs("queued").await? {
            if self.store.start_job(&conv, seq).await? {
                self.answer_calls(&conv, seq, false).await?;
            }
        }
        Ok(())
    }

    async fn answer_calls(&self, conv_id: &str, seq: u64, interrupted: bool) -> ApiResult<()> {
        let conv = self
            .store
            .conversation(conv_id)
            .await?
            .ok_or_else(|| ApiError::internal("job without conversation"))?;
        let Some(message) = self.store.message(conv_id, "in", seq).await? else {
            // The content was deleted (conversation closed): nothing to answer.
            let mut tx = self.store.begin().await?;
            Store::finish_job(&mut tx, conv_id, seq).await?;
            tx.commit().await?;
            return Ok(());
        };
        let payload: Payload =
            serde_json::from_value(message.payload).map_err(ApiError::internal)?;
        let peer = self
            .store
            .peer(&PublicKey::from_b64("peer", &conv.peer_pubkey)?)
            .await?;
        let exposed = self.store.capabilities().await?;
        let soul = self.dir.join("soul.md");
        let mut results = Vec::with_capacity(payload.calls.len());
        for call in &payload.calls {
            let fail = |why: &str| CallResult {
                capability: call.capability.clone(),
                ok: false,
                output: None,
                error: Some(why.to_owned()),
            };
            let granted = peer
                .as_ref()
                .is_some_and(|p| p.grant.allows(&call.capability));
            let adapter = exposed
                .iter()
                .find(|c| c.name == call.capability)
                .and_then(|c| serde_json::from_value::<Adapter>(c.adapter.clone()).ok());
            results.push(match (interrupted, granted, adapter) {
                (true, _, _) => fail(
                    "interrupted: the node restarted while this call ran; it was not run again",
                ),
                (_, false, _) => fail("not granted"),
                (_, true, None) => fail("no such capability"),
                (_, true, Some(adapter)) => {
                    capability::run(
                        &self.http,
                        &call.capability,
                        &adapter,
                        &call.args,
                        &payload.text,
                        &soul,
                    )
                    .await
                }
            });
        }
        let ok = results.iter().filter(|r| r.ok).count();
        let mut reply = Payload::text(format!("{ok} of {} call(s) succeeded", results.len()));
        reply.results = results;
        reply.in_reply_to = Some(seq);
        reply.data_policy = payload.data_policy.clone();
        match self.enqueue(&conv, &reply).await {
            Ok(_)
            | Err(ApiError {
                code: "no_endpoint",
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        let mut tx = self.store.begin().await?;
        Store::finish_job(&mut tx, conv_id, seq).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Attempts every due delivery, concurrently.
    pub async fn deliver_due(self: &Arc<Self>) -> ApiResult<usize> {
        let due = self.store.due_outbox(64).await?;
        let n = due.len();
        let mut set = tokio::task::JoinSet::new();
        for item in due {
            let cloud = Arc::clone(self);
            set.spawn(async move { cloud.deliver_one(item).await });
        }
        while let Some(r) = set.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!(cloud = %self.name, "delivery bookkeeping failed: {}", e.message);
            }
        }
        Ok(n)
    }

    /// POSTs a D2D body to a peer: its endpoint first, then each of its relays when the
    /// endpoint cannot be reached (or there is none).
    async fn post_to_peer<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        self: &Arc<Self>,
        peer: &Peer,
        path: &'static str,
        body: &B,
    ) -> Result<T, ClientError> {
        let mut last = None;
        if let Some(url) = &peer.peer_url {
            match self.d2d.post(url, path, body).await {
                Err(e @ ClientError::Transport(_)) => last = Some(e),
                done => return done,
            }
        }
        for relay in &peer.peer_relays {
            match self
                .relay_post(relay, &peer.grant.peer_pubkey, path, body)
                .await
            {
                Err(e @ ClientError::Transport(_)) => last = Some(e),
                done => return done,
            }
        }
        Err(last.unwrap_or_else(|| {
            ClientError::Transport(format!(
                "no URL or relay is known for {}",
                peer.grant.peer_handle
            ))
        }))
    }

    async fn deliver_one(self: &Arc<Self>, item: crate::store::OutboxItem) -> ApiResult<()> {
        let request: MessageRequest =
            serde_json::from_str(&item.body).map_err(ApiError::internal)?;
        let attempts = item.attempts + 1;
        let peer = self
            .store
            .peer(&PublicKey::from_b64("peer", &item.peer_pubkey)?)
            .await?;
        let outcome = match &peer {
            Some(peer) => self
                .post_to_peer::<_, MessageResponse>(peer, "/api/d2d/message", &request)
                .await
                .and_then(|r| match r.received {
                    true => Ok(r),
                    false => Err(ClientError::Decode("received: false".into())),
                }),
            None => Err(ClientError::Status {
                status: 404,
                code: "unknown_peer".into(),
                message: "the peer left the whitelist".into(),
            }),
        };
        match outcome {
            Ok(_) => {
                self.store
                    .outbox_result(item.id, "delivered", attempts, now_ms(), None)
                    .await?
            }
            Err(e) if e.is_retryable() => {
                let now = now_ms();
                let horizon = self.settings.delivery_horizon.as_millis() as i64;
                if now - item.created_at >= horizon {
                    let why = format!(
                        "gave up after {attempts} attempts over {} s: {e}",
                        horizon / 1000
                    );
                    tracing::warn!(cloud = %self.name, outbox = item.id, "{why}");
                    self.store
                        .outbox_result(item.id, "failed", attempts, now, Some(&why))
                        .await?;
                } else {
                    let delay = self.backoff(attempts);
                    self.store
                        .outbox_result(
                            item.id,
                            "pending",
                            attempts,
                            now + delay,
                            Some(&e.to_string()),
                        )
                        .await?;
                }
            }
            Err(e) => {
                // The peer ended the conversation: stop using it, so the next send opens a new one.
                if matches!(e.code(), Some("expired_token" | "unknown_token")) {
                    self.store.close_conversation(&item.conversation_id).await?;
                }
                let why = format!("refused by the peer: {e}");
                self.store
                    .outbox_result(item.id, "failed", attempts, now_ms(), Some(&why))
                    .await?;
            }
        }
        Ok(())
    }

    /// Exponential backoff with full jitter: uniform in [0, min(max, base·2^(attempts−1))].
    fn backoff(&self, attempts: i64) -> i64 {
        let base = self.settings.backoff_base.as_millis() as u64;
        let cap = self.settings.backoff_max.as_millis() as u64;
        let exp = base
            .saturating_mul(1u64 << (attempts.clamp(1, 30) - 1))
            .min(cap)
            .max(1);
        (os_rng().next_u64() % (exp + 1)) as i64
    }

    /// Data-policy and replay-state housekeeping.
    pub async fn sweep(&self) -> ApiResult<()> {
        let n = self.store.sweep_retention().await?;
        if n > 0 {
            tracing::info!(cloud = %self.name, "deleted {n} message(s) past their 90-day retention");
        }
        self.store.sweep_replay_state().await?;
        // Registry upkeep: a failure is logged and retried next sweep, never fatal.
        if let Err(e) = self.heartbeat(false).await {
            tracing::warn!(cloud = %self.name, "registry heartbeat: {}", e.message);
        }
        self.check_peers(false).await?;
        Ok(())
    }
}

fn peer_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Transport(t) => ApiError::new(502, "peer_unreachable", t),
        ClientError::Status {
            status,
            code,
            message,
        } => ApiError::new(
            502,
            "peer_error",
            format!("peer answered {status} {code}: {message}"),
        ),
        ClientError::Decode(d) => ApiError::new(502, "peer_error", d),
        ClientError::Proto(p) => ApiError::new(
            502,
            "peer_error",
            format!("peer's answer did not verify: {p}"),
        ),
    }
}
