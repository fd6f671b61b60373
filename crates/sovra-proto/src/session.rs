//! An open conversation: per-direction keys and the replay window.
//!
//! Both sides hold the same two keys, exported from the ack's HPKE context:
//! `initiator-to-responder` and `responder-to-initiator`. A message is sealed under the key of
//! its direction with the conversation, the token, the direction and the `seq` as associated
//! data, so a payload cannot be moved to another conversation, reflected back to its sender,
//! or renumbered. Then the whole request is signed by the sender's Ed25519 key — the seed's
//! per-message signature, which lets the receiver attribute every message to a key even
//! after the session keys are gone. No per-message public-key operation is needed beyond
//! that signature.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::canonical::Canonical;
use crate::encoding::{b64, b64_array, b64_decode};
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::message::{MessageRequest, Payload};
use crate::seal::{payload_open, payload_seal};

/// Highest `seq` allowed: 2^53 − 1, so it survives JSON parsers that read numbers as doubles.
pub const MAX_SEQ: u64 = (1 << 53) - 1;
/// Largest accepted `sealed_payload`, in decoded bytes (256 KiB of plaintext plus overhead).
pub const MAX_SEALED_PAYLOAD: usize = 256 * 1024 + 40;
/// How far below the highest accepted `seq` a message may still arrive (a relay may reorder).
pub const REPLAY_WINDOW: u64 = 64;

const KEY_I2R: &str = "rapp-d2d/1.0/key/initiator-to-responder";
const KEY_R2I: &str = "rapp-d2d/1.0/key/responder-to-initiator";

/// Which side of the handshake this cloud was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Initiator,
    Responder,
}

/// The direction a message travels, named from the handshake's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    InitiatorToResponder,
    ResponderToInitiator,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::InitiatorToResponder => "initiator-to-responder",
            Direction::ResponderToInitiator => "responder-to-initiator",
        }
    }
}

impl Role {
    fn sending(self) -> Direction {
        match self {
            Role::Initiator => Direction::InitiatorToResponder,
            Role::Responder => Direction::ResponderToInitiator,
        }
    }
    fn receiving(self) -> Direction {
        match self {
            Role::Initiator => Direction::ResponderToInitiator,
            Role::Responder => Direction::InitiatorToResponder,
        }
    }
}

/// Checks the shape of a conversation token: base64 of exactly 32 bytes.
pub fn validate_token(token: &str) -> Result<(), ProtoError> {
    b64_array::<32>("conversation_token", token).map(|_| ())
}

/// One side's view of an open conversation.
pub struct Session {
    pub role: Role,
    pub conversation_id: Uuid,
    pub token: String,
    pub me: PublicKey,
    pub peer: PublicKey,
    /// The key the peer's messages are signed with: `peer` itself, or the host key its
    /// certificate named in the handshake (§19.2).
    pub peer_signer: PublicKey,
    send_key: Zeroizing<[u8; 32]>,
    recv_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("conversation_id", &self.conversation_id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A message request whose fields decoded; what a receiver has before it looks up the token.
#[derive(Debug, Clone)]
pub struct ParsedMessage {
    pub token: String,
    pub seq: u64,
    pub sealed_payload: Vec<u8>,
    pub sig: [u8; 64],
}

impl MessageRequest {
    /// Decodes and size-checks every field; no key is needed yet.
    pub fn parse(&self) -> Result<ParsedMessage, ProtoError> {
        validate_token(&self.conversation_token)?;
        if self.seq == 0 || self.seq > MAX_SEQ {
            return Err(ProtoError::malformed(
                "seq",
                format!("must be 1..={MAX_SEQ}"),
            ));
        }
        Ok(ParsedMessage {
            token: self.conversation_token.clone(),
            seq: self.seq,
            sealed_payload: b64_decode("sealed_payload", &self.sealed_payload, MAX_SEALED_PAYLOAD)?,
            sig: signature_from_b64("sig", &self.sig)?,
        })
    }
}

fn message_bytes(token: &str, seq: u64, sealed_payload: &[u8]) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/message")
        .str(token)
        .u64(seq)
        .bytes(sealed_payload)
        .finish()
}

impl Session {
    pub(crate) fn from_exporter<E>(
        role: Role,
        conversation_id: Uuid,
        token: String,
        me: PublicKey,
        peer: PublicKey,
        peer_signer: PublicKey,
        export: impl Fn(&[u8], &mut [u8]) -> Result<(), E>,
    ) -> Session {
        let mut i2r = Zeroizing::new([0u8; 32]);
        let mut r2i = Zeroizing::new([0u8; 32]);
        // HPKE export of 32 bytes with SHA-256 cannot fail (limit is 255 * 32).
        let _ = export(KEY_I2R.as_bytes(), i2r.as_mut());
        let _ = export(KEY_R2I.as_bytes(), r2i.as_mut());
        let (send_key, recv_key) = match role {
            Role::Initiator => (i2r, r2i),
            Role::Responder => (r2i, i2r),
        };
        Session {
            role,
            conversation_id,
            token,
            me,
            peer,
            peer_signer,
            send_key,
            recv_key,
        }
    }

    fn aad(&self, direction: Direction, seq: u64) -> Vec<u8> {
        Canonical::new("rapp-d2d/1.0/payload")
            .str(&self.conversation_id.hyphenated().to_string())
            .str(&self.token)
            .str(direction.label())
            .u64(seq)
            .finish()
    }

    /// Seals and signs a payload as message number `seq` in this cloud's sending direction.
    /// The caller owns the counter and must persist it before sending.
    pub fn seal(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        signer: &SigningKeypair,
        seq: u64,
        payload: &Payload,
    ) -> Result<MessageRequest, ProtoError> {
        let plaintext = Zeroizing::new(payload.to_json()?);
        self.seal_bytes(rng, signer, seq, &plaintext)
    }

    /// `seal` for an already-encoded payload. `signer` is the key the peer verifies this side
    /// with: the cloud key, or the host key a hosted cloud's handshake certified.
    pub fn seal_bytes(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        signer: &SigningKeypair,
        seq: u64,
        plaintext: &[u8],
    ) -> Result<MessageRequest, ProtoError> {
        if seq == 0 || seq > MAX_SEQ {
            return Err(ProtoError::malformed(
                "seq",
                format!("must be 1..={MAX_SEQ}"),
            ));
        }
        let sealed = payload_seal(
            rng,
            &self.send_key,
            &self.aad(self.role.sending(), seq),
            plaintext,
        );
        if sealed.len() > MAX_SEALED_PAYLOAD {
            return Err(ProtoError::WrongSize {
                field: "sealed_payload",
                expected: format!("at most {MAX_SEALED_PAYLOAD}"),
                got: sealed.len(),
            });
        }
        let sig = signer.sign(&message_bytes(&self.token, seq, &sealed));
        Ok(MessageRequest {
            conversation_token: self.token.clone(),
            seq,
            sealed_payload: b64(&sealed),
            sig: b64(&sig),
        })
    }

    /// Verifies the peer's signature and opens the payload. Replay is the caller's to check,
    /// with the conversation's `ReplayWindow`, before acting on the result.
    pub fn open(&self, message: &ParsedMessage) -> Result<Payload, ProtoError> {
        let plaintext = self.open_bytes(message)?;
        Payload::from_json(&plaintext)
    }

    /// `open` without decoding the payload JSON.
    pub fn open_bytes(&self, message: &ParsedMessage) -> Result<Zeroizing<Vec<u8>>, ProtoError> {
        if message.token != self.token {
            return Err(ProtoError::UnknownToken);
        }
        self.peer_signer.verify(
            "message",
            &message_bytes(&message.token, message.seq, &message.sealed_payload),
            &message.sig,
        )?;
        payload_open(
            &self.recv_key,
            &self.aad(self.role.receiving(), message.seq),
            &message.sealed_payload,
        )
        .map(Zeroizing::new)
    }

    /// The session's secrets, for the node to persist (encrypted at rest where it can).
    pub fn to_stored(&self) -> StoredSession {
        StoredSession {
            role: self.role,
            conversation_id: self.conversation_id.hyphenated().to_string(),
            token: self.token.clone(),
            me: self.me.to_b64(),
            peer: self.peer.to_b64(),
            peer_signer: (self.peer_signer != self.peer).then(|| self.peer_signer.to_b64()),
            send_key: b64(self.send_key.as_ref()),
            recv_key: b64(self.recv_key.as_ref()),
        }
    }

    pub fn from_stored(stored: &StoredSession) -> Result<Session, ProtoError> {
        let peer = PublicKey::from_b64("peer", &stored.peer)?;
        Ok(Session {
            role: stored.role,
            conversation_id: crate::handshake::parse_conversation_id(&stored.conversation_id)?,
            token: stored.token.clone(),
            me: PublicKey::from_b64("me", &stored.me)?,
            peer,
            peer_signer: match &stored.peer_signer {
                Some(k) => PublicKey::from_b64("peer_signer", k)?,
                None => peer,
            },
            send_key: Zeroizing::new(b64_array("send_key", &stored.send_key)?),
            recv_key: Zeroizing::new(b64_array("recv_key", &stored.recv_key)?),
        })
    }
}

/// A session as a node stores it. Contains secret keys.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    pub role: Role,
    pub conversation_id: String,
    pub token: String,
    pub me: String,
    pub peer: String,
    /// Absent when the peer signs with its own key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_signer: Option<String>,
    pub send_key: String,
    pub recv_key: String,
}

impl Drop for StoredSession {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.send_key.zeroize();
        self.recv_key.zeroize();
    }
}

/// Anti-replay state for one direction of one conversation (the sliding window of RFC 4303
/// §3.4.3 / RFC 9147 §4.5.1). A `seq` is accepted once; `seq`s up to `REPLAY_WINDOW - 1`
/// below the highest accepted one may still arrive late, older ones are refused as stale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWindow {
    /// Highest accepted seq; 0 before the first message.
    pub highest: u64,
    /// Bit `i` set: `highest - i` was accepted.
    pub seen: u64,
}

impl ReplayWindow {
    /// Would `seq` be accepted? Does not change the window: call `accept` after the message
    /// is committed, so a failed store does not burn the `seq`.
    pub fn check(&self, seq: u64) -> Result<(), ProtoError> {
        if seq == 0 || seq > MAX_SEQ {
            return Err(ProtoError::malformed(
                "seq",
                format!("must be 1..={MAX_SEQ}"),
            ));
        }
        if seq > self.highest {
            return Ok(());
        }
        let age = self.highest - seq;
        if age >= REPLAY_WINDOW {
            return Err(ProtoError::StaleSeq {
                seq,
                highest: self.highest,
            });
        }
        if self.seen & (1 << age) != 0 {
            return Err(ProtoError::ReplayedSeq { seq });
        }
        Ok(())
    }

    /// Records `seq` as accepted. `check` must have passed.
    pub fn accept(&mut self, seq: u64) {
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = seq;
        } else {
            self.seen |= 1 << (self.highest - seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_in_and_out_of_order_once() {
        let mut w = ReplayWindow::default();
        for seq in [1, 2, 5, 3] {
            w.check(seq).unwrap();
            w.accept(seq);
        }
        assert_eq!(w.check(5).unwrap_err().code(), "replayed_seq");
        assert_eq!(w.check(3).unwrap_err().code(), "replayed_seq");
        w.check(4).unwrap();
        w.accept(100);
        assert_eq!(w.check(36).unwrap_err().code(), "stale_seq");
        w.check(37).unwrap();
        assert_eq!(w.check(100).unwrap_err().code(), "replayed_seq");
        assert_eq!(w.check(0).unwrap_err().code(), "malformed");
    }

    #[test]
    fn window_jump_clears_history() {
        let mut w = ReplayWindow::default();
        w.accept(1);
        w.accept(1000);
        assert_eq!(w.seen, 1);
        w.check(999).unwrap();
    }
}
