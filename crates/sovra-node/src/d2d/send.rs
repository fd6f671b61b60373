//! The initiator side: open a conversation with a whitelisted peer (identity document or the
//! registry-vouched encryption key, handshake over the endpoint or a relay), then number, seal
//! and queue each message in one transaction. Delivery itself is `outbox.rs`.

use std::sync::Arc;

use sovra_client::ClientError;
use sovra_proto::handshake;
use sovra_proto::{HandshakeOutcome, HandshakeResponse, Payload, ProtoError, PublicKey, os_rng};

use super::queue::Outgoing;
use super::retention_str;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{Conversation, NewBrainRun, Peer, Store};

impl Cloud {
    // --- initiator side ----------------------------------------------------------------------

    /// Sends a payload to a whitelisted peer, opening a conversation first if none is open.
    /// Returns the conversation and the message's `seq`; delivery continues in the outbox.
    pub async fn send(
        self: &Arc<Self>,
        who: &str,
        topic: &str,
        payload: &Payload,
        swarm: Option<&str>,
    ) -> ApiResult<(String, u64)> {
        self.speaking()?;
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
        let seq = self.enqueue(&conv, payload, None, swarm).await?;
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
        let (mut request, pending) = handshake::initiate(
            &mut os_rng(),
            &keys,
            // A nym this cloud presents to the peer, else its handle.
            Some(peer.present_as.as_deref().unwrap_or(&self.config.handle)),
            peer.grant.peer_pubkey,
            encryption_key,
            topic,
            jiff::Timestamp::now(),
        )?;
        let response: HandshakeResponse = match self
            .post_to_peer(peer, "/api/d2d/handshake", &request)
            .await
        {
            // The peer asks strangers for a proof of work (§7.8): pay it once, within
            // reason, and knock again with the same request.
            Err(ClientError::Proto(ProtoError::PowRequired { difficulty }))
                if difficulty <= MAX_POW_PAID =>
            {
                request = tokio::task::spawn_blocking(move || {
                    request.solve_pow(difficulty).map(|()| request)
                })
                .await
                .map_err(ApiError::internal)??;
                self.post_to_peer(peer, "/api/d2d/handshake", &request)
                    .await
                    .map_err(peer_error)?
            }
            other => other.map_err(peer_error)?,
        };
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

    /// Numbers, seals and queues a payload in one transaction; with `answers`, the job of that
    /// inbound `seq` is marked done, and the brain run behind the reply recorded, in the same
    /// transaction (a reply is queued exactly once).
    /// `swarm` is the swarm that wrote it, if one did.
    pub(crate) async fn enqueue(
        &self,
        conv: &Conversation,
        payload: &Payload,
        answers: Option<(u64, Option<NewBrainRun>)>,
        swarm: Option<&str>,
    ) -> ApiResult<u64> {
        // The reply of a call that was running when the cloud froze for a move is queued: it
        // travels in the exported outbox (§20.3), and the freeze waits for it.
        let replying_while_moving =
            answers.is_some() && self.migration.state() == crate::migration::State::Moving;
        if !replying_while_moving {
            self.speaking()?;
        }
        self.room_for_message().await?;
        let peer_key = PublicKey::from_b64("peer", &conv.peer_pubkey)?;
        // Where it will go first (for the owner's view; delivery asks the whitelist again):
        // the endpoint, else the first relay.
        let url = self
            .store
            .peer(&peer_key)
            .await?
            .and_then(|p| p.peer_url.or_else(|| p.peer_relays.into_iter().next()));
        // The parsed session, from the same memo inbound messages use.
        let session = self
            .store
            .route(&conv.token)
            .await?
            .ok_or_else(|| ApiError::internal("conversation without a route"))?
            .session;
        let seq = self
            .queue
            .push(Outgoing {
                conversation_id: conv.id.clone(),
                session,
                keys: self.keys(),
                url,
                plaintext: payload.to_json()?,
                retention: retention_str(payload.data_policy.retention),
                in_reply_to: payload.in_reply_to,
                swarm: swarm.map(str::to_owned),
                job: answers,
            })
            .await
            .map_err(ApiError::internal)?;
        self.outbox_wake.notify_one();
        Ok(seq)
    }

    /// POSTs a D2D body to a peer: its endpoint first, then each of its relays when the
    /// endpoint cannot be reached (or there is none).
    pub(crate) async fn post_to_peer<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        self: &Arc<Self>,
        peer: &Peer,
        path: &'static str,
        body: &B,
    ) -> Result<T, ClientError> {
        match self.post_to_peer_once(peer, path, body).await {
            // The peer moved (§20.6): follow its signed statement, then try where it went.
            Err(ClientError::Moved(statement)) => {
                if let Err(e) = self.follow_move(peer, &statement).await {
                    return Err(ClientError::Status {
                        status: 410,
                        code: "moved".into(),
                        message: format!("the peer's move statement was refused: {}", e.message),
                    });
                }
                let moved = self
                    .store
                    .peer(&peer.grant.peer_pubkey)
                    .await
                    .map_err(|e| ClientError::Transport(format!("reading the whitelist: {e}")))?
                    .ok_or_else(|| ClientError::Transport("the peer left the whitelist".into()))?;
                self.post_to_peer_once(&moved, path, body).await
            }
            other => other,
        }
    }

    async fn post_to_peer_once<B: serde::Serialize, T: serde::de::DeserializeOwned>(
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
}

/// The hardest first-contact puzzle this node solves for a peer (about 16 million hashes,
/// seconds of one core); a peer demanding more is refused as unreasonable.
pub const MAX_POW_PAID: u8 = 24;

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
        ClientError::Moved(m) => ApiError::new(
            502,
            "peer_error",
            format!(
                "the peer moved again (statement {}) while being reached",
                m.seq
            ),
        ),
        ClientError::Proto(ProtoError::PowRequired { difficulty }) => ApiError::new(
            502,
            "peer_error",
            format!(
                "the peer asks strangers for a {difficulty}-bit proof of work; this node pays at most {MAX_POW_PAID}"
            ),
        ),
        ClientError::Proto(p) => ApiError::new(
            502,
            "peer_error",
            format!("peer's answer did not verify: {p}"),
        ),
    }
}
