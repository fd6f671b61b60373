//! The responder side of rapp-d2d/1.0 (docs/PROTOCOL.md §5, §7, §8): the identity document,
//! an inbound handshake (whitelist, expiry, rate limit, pending requests for strangers) and an
//! inbound message (token, session, replay window via the inbox's group commit).

use sovra_proto::handshake::{
    self, REASON_EXPIRED, REASON_NOT_ON_WHITELIST, REASON_RATE_LIMIT, REASON_REFUSED,
};
use sovra_proto::{
    Ack, Capability, HandshakeRequest, HandshakeResponse, IdentityDocument, MessageRequest,
    MessageResponse, Payload, ProtoError, PublicKey, os_rng,
};

use super::inbox::{Accepted, Inbound, Rejected};
use super::{hash_request, retention_str};
use crate::agents::events::{Event, event_now};
use crate::agents::swarm;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, now_ms};

impl Cloud {
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

    /// `source` is the client's address when it came over HTTP (first-contact limits).
    pub async fn receive_handshake(
        &self,
        request: &HandshakeRequest,
        source: Option<std::net::IpAddr>,
    ) -> ApiResult<HandshakeResponse> {
        let difficulty = self.settings.stranger_pow_difficulty;
        if difficulty > 0 {
            // Before anything costly (signatures, unsealing): a stranger pays first (§7.8).
            let from = PublicKey::from_b64("from", &request.from)?;
            if self.store.peer(&from).await?.is_none() && !request.pow_valid(difficulty)? {
                return Err(ProtoError::PowRequired { difficulty }.into());
            }
        }
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
            handshake::refuse(&keys, &received.from, received.conversation_id, reason)
        };
        // Everything read before the transaction: the store has one connection.
        let earlier = self.store.pending_all_for(&received.from).await?;
        // For a stranger: denied before (refused without asking again), or asking now (once).
        let denied = earlier.iter().any(|p| p.state == "denied");
        let ask = !denied && !earlier.iter().any(|p| p.state == "pending");
        if peer.is_none() {
            // A stranger: bounded per source, per cloud, and in requests waiting at once.
            self.strangers.admit(source)?;
            if ask && self.store.pending_count().await? >= self.settings.max_pending {
                return Err(ApiError::new(
                    429,
                    "rate_limited",
                    format!(
                        "{} requests already wait for this cloud's owner; try again later",
                        self.settings.max_pending
                    ),
                ));
            }
        }
        // A sealed cloud (or swarm) opens no new conversation (§21) — but with its heirs (§22).
        match &peer {
            Some(p) if p.heir.is_some() => {}
            Some(p) => self.swarm_writable(&p.swarm)?,
            None => self.writable()?,
        }
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
            if ask {
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
            if ask && received.sender_handle.is_some() {
                self.handles_wake.notify_one();
            }
            if ask {
                self.emit(Event {
                    id: Some(id.clone()),
                    peer: received.sender_handle.clone(),
                    text: Some(received.topic.clone()),
                    ..event_now("pending")
                });
            }
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
            capabilities: peer.grant.capability_grants(),
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
        // The operator's quota for this cloud on its node (the sender retries later).
        self.room_for_message().await?;
        let session = &route.session;
        let plaintext = session.open_bytes(&parsed)?;
        let peer = self.store.peer(&session.peer).await?;
        let Some(peer) = peer.filter(|p| !p.grant.is_expired(jiff::Timestamp::now())) else {
            return Err(ProtoError::ExpiredToken.into());
        };
        let payload = Payload::from_json(&plaintext)?;
        let for_brain = payload.in_reply_to.is_none()
            && payload.refusal.is_none()
            && !payload.text.trim().is_empty()
            && match &payload.swarm {
                // Addressed by name: answered, or refused, by the job.
                Some(_) => true,
                None => self
                    .store
                    .swarm(&peer.swarm)
                    .await?
                    .is_some_and(|s| swarm::row_answers(&s)),
            };
        let queue_job = for_brain || !payload.calls.is_empty();
        let route_id = route.id.clone();
        let verdict = self
            .inbox
            .accept(Inbound {
                conversation_id: route.id.clone(),
                peer_pubkey: route.peer_pubkey,
                seq: parsed.seq,
                request_hash: hash_request(request),
                payload: std::str::from_utf8(&plaintext)
                    .map_err(ApiError::internal)?
                    .to_owned(),
                retention: retention_str(payload.data_policy.retention),
                in_reply_to: payload.in_reply_to,
                queue_job,
                rate_limit_per_day: peer.grant.rate_limit_per_day,
            })
            .await;
        match verdict {
            Ok(Accepted::Stored) => {
                if queue_job {
                    self.jobs_wake.notify_one();
                }
                // A reply goes to whichever swarm wrote what it answers; a new message to the
                // swarm it addresses or the peer's.
                let swarm = match payload.in_reply_to {
                    Some(answered) => self.store.sent_by_swarm(&route_id, answered).await?,
                    None => Some(payload.swarm.clone().unwrap_or_else(|| peer.swarm.clone())),
                };
                self.emit(Event {
                    conversation_id: Some(route_id),
                    seq: Some(parsed.seq),
                    in_reply_to: payload.in_reply_to,
                    peer: Some(peer.grant.peer_handle.clone()),
                    swarm,
                    text: Some(payload.text),
                    automatic: payload.automatic,
                    refusal: payload.refusal,
                    ..event_now(if payload.in_reply_to.is_some() {
                        "reply"
                    } else {
                        "message"
                    })
                });
            }
            // A retransmission of what we already accepted: acknowledge, do nothing again.
            Ok(Accepted::Retransmission) => {}
            Err(Rejected::Protocol(e)) => return Err(e.into()),
            Err(Rejected::Storage(e)) => return Err(ApiError::internal(e)),
        }
        Ok(MessageResponse { received: true })
    }
}
