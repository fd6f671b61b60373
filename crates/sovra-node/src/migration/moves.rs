//! Move statements (docs/PROTOCOL.md §20.4–§20.6).
//!
//! * On the new node, the owner installs the statement the cloud key signed
//!   ([`Cloud::announce_move`]); the node records it, republishes its registry record, and
//!   tells the node the cloud left and every whitelisted peer (`POST /api/d2d/moved`), again
//!   from the sweep until each has heard.
//! * On the old node, the statement for its own cloud ends its service: from then on every D2D
//!   request is answered 410 `moved` with the statement.
//! * On a peer, a statement signed by a whitelisted key with a higher `seq` than the last one
//!   followed moves the entry's endpoint and relays — whether it came pushed or inside a 410 —
//!   with grants, rate counts and conversations untouched.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sovra_proto::PublicKey;
use sovra_proto::migration::MoveStatement;

use super::State;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::Peer;

/// What `POST /api/d2d/moved` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MovedResponse {
    /// `followed` (a peer moved its entry), `moved` (this node stopped serving the cloud) or
    /// `unchanged` (already known).
    pub status: String,
}

pub use sovra_proto::owner::lifecycle::AnnounceRequest;

pub use sovra_proto::owner::lifecycle::AnnounceResponse;

fn stale(seq: u64, last: u64) -> ApiError {
    ApiError::new(
        409,
        "stale_move",
        format!("move statement {seq} is not newer than the last one followed ({last})"),
    )
}

impl Cloud {
    /// `POST /api/d2d/moved`: a move statement for this cloud (the old node standing down) or
    /// for a whitelisted peer (following it).
    pub async fn receive_move(
        self: &Arc<Self>,
        statement: &MoveStatement,
    ) -> ApiResult<MovedResponse> {
        let cloud = PublicKey::from_b64("cloud", &statement.cloud)?;
        let now = jiff::Timestamp::now();
        let status = if cloud == self.public() {
            let verified = statement.verify(&cloud, now)?;
            if let State::Moved(current) = self.migration.state()
                && current.seq >= verified.seq
            {
                return match current.seq == verified.seq && *current == *statement {
                    true => Ok(MovedResponse {
                        status: "unchanged".into(),
                    }),
                    false => Err(stale(verified.seq, current.seq)),
                };
            }
            if let Some((last, _)) = self.store.last_move().await?
                && last >= verified.seq
            {
                // A statement this copy announced itself (or an older one): not a move away.
                return Err(stale(verified.seq, last));
            }
            self.migration
                .change(&self.store, State::Moved(Box::new(statement.clone())))
                .await?;
            // Relay links end; the workers see the state and stand down.
            self.shut_down();
            tracing::info!(cloud = %self.name, seq = verified.seq, "moved to {:?}", verified.endpoint);
            "moved"
        } else {
            let peer = self.store.peer(&cloud).await?.ok_or_else(|| {
                ApiError::new(
                    403,
                    "not_whitelisted",
                    "this cloud follows moves of whitelisted peers only",
                )
            })?;
            match self.follow_move(&peer, statement).await? {
                true => "followed",
                false => "unchanged",
            }
        };
        Ok(MovedResponse {
            status: status.into(),
        })
    }

    /// Follows a peer's move statement: `true` if the entry moved, `false` if it was already
    /// followed; 409 `stale_move` for an older one, 401 for one the peer's key did not sign.
    pub(crate) async fn follow_move(
        &self,
        peer: &Peer,
        statement: &MoveStatement,
    ) -> ApiResult<bool> {
        let verified = statement.verify(&peer.grant.peer_pubkey, jiff::Timestamp::now())?;
        if verified.seq <= peer.moved_seq {
            let same = verified.seq == peer.moved_seq
                && verified.endpoint == peer.peer_url
                && verified.relays == peer.peer_relays
                && Some(&statement.encryption_key) == peer.peer_encryption_key.as_ref();
            return match same {
                true => Ok(false),
                false => Err(stale(verified.seq, peer.moved_seq)),
            };
        }
        let moved = self
            .store
            .follow_peer_move(
                &peer.grant.peer_pubkey,
                verified.seq,
                verified.endpoint.as_deref(),
                &verified.relays,
                &verified.encryption_key.to_b64(),
                &verified.signer,
            )
            .await?;
        if moved {
            tracing::info!(cloud = %self.name, peer = %peer.grant.peer_handle, "peer moved to {:?}", verified.endpoint);
            self.outbox_wake.notify_one();
        }
        Ok(moved)
    }

    /// Installs a move statement the cloud key signed for this node: records it, republishes
    /// the registry record, and tells the old node and the peers.
    pub async fn announce_move(
        self: &Arc<Self>,
        request: &AnnounceRequest,
    ) -> ApiResult<AnnounceResponse> {
        let verified = request
            .statement
            .verify(&self.public(), jiff::Timestamp::now())?;
        if let Some((last, _)) = self.store.last_move().await?
            && last >= verified.seq
        {
            return Err(stale(verified.seq, last));
        }
        if verified.endpoint.is_some() && verified.endpoint != self.endpoint() {
            return Err(ApiError::new(
                409,
                "wrong_endpoint",
                format!(
                    "the statement names {:?}; this node serves the cloud at {:?}",
                    verified.endpoint,
                    self.endpoint()
                ),
            ));
        }
        // The statement must name the keys this node answers with, or peers following it
        // could not open our intros or check our signatures.
        let keys = self.keys();
        let here = keys
            .delegation
            .as_ref()
            .map(|d| d.certificate.host_key.clone());
        let named = request
            .statement
            .host_certificate
            .as_ref()
            .map(|c| c.host_key.clone());
        if verified.encryption_key != keys.encryption.public() || here != named {
            return Err(ApiError::new(
                409,
                "wrong_keys",
                "the statement names other keys than this node signs and opens with for the cloud",
            ));
        }
        if let Some(old) = &request.old_endpoint {
            sovra_proto::urls::validate_url(
                "old_endpoint",
                old,
                sovra_proto::urls::ENDPOINT_SCHEMES,
            )?;
        }
        let json = serde_json::to_string(&request.statement).expect("json");
        self.store
            .add_move(verified.seq, &json, request.old_endpoint.as_deref())
            .await?;
        let registry_updated = match self.heartbeat(true).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(cloud = %self.name, "registry after the move: {}", e.message);
                false
            }
        };
        let old_node_told = self.tell_old_node().await;
        let (peers_told, peers_waiting) = self.tell_peers_of_move().await?;
        Ok(AnnounceResponse {
            seq: verified.seq,
            peers_told,
            peers_waiting,
            old_node_told,
            registry_updated,
        })
    }

    /// Tells the node this cloud left, if it has not acknowledged yet.
    pub(crate) async fn tell_old_node(&self) -> bool {
        let Ok(Some(old)) = self.store.old_node_to_tell().await else {
            return false;
        };
        let Ok(statement) = serde_json::from_str::<MoveStatement>(&old.statement) else {
            return false;
        };
        match self
            .d2d
            .post::<_, MovedResponse>(&old.endpoint, "/api/d2d/moved", &statement)
            .await
        {
            Ok(_) => {
                let _ = self.store.old_node_told(old.seq).await;
                true
            }
            Err(e) => {
                tracing::info!(cloud = %self.name, "the old node has not heard of the move yet: {e}");
                false
            }
        }
    }

    /// Tells every whitelisted peer not yet told of the last move; returns (told, waiting).
    pub(crate) async fn tell_peers_of_move(self: &Arc<Self>) -> ApiResult<(usize, usize)> {
        let Some((seq, json)) = self.store.last_move().await? else {
            return Ok((0, 0));
        };
        let statement: MoveStatement = serde_json::from_str(&json).map_err(ApiError::internal)?;
        let peers = self.store.peers_untold(seq).await?;
        let mut told = 0;
        let mut tasks = tokio::task::JoinSet::new();
        for peer in peers.iter().cloned() {
            let (cloud, statement) = (self.clone(), statement.clone());
            tasks.spawn(async move {
                let r = cloud
                    .post_to_peer::<_, MovedResponse>(&peer, "/api/d2d/moved", &statement)
                    .await;
                (peer, r)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((peer, r)) = done else { continue };
            match r {
                Ok(_) => {
                    self.store
                        .peer_told(&peer.grant.peer_pubkey.to_b64(), seq)
                        .await?;
                    told += 1;
                }
                Err(e) if e.is_retryable() => {
                    tracing::info!(cloud = %self.name, peer = %peer.grant.peer_handle, "not told of the move yet: {e}")
                }
                Err(e) => {
                    // The peer heard and refused (it dropped us, or knows a newer move): asking
                    // again would get the same answer.
                    tracing::warn!(cloud = %self.name, peer = %peer.grant.peer_handle, "refused the move statement: {e}");
                    self.store
                        .peer_told(&peer.grant.peer_pubkey.to_b64(), seq)
                        .await?;
                }
            }
        }
        Ok((told, peers.len() - told))
    }
}
