//! `POST /api/d2d/handshake`: opening a conversation.
//!
//! ```text
//! initiator I                                          responder R
//!   e_I ← fresh X25519
//!   intro = {topic, sender_proof, ephemeral_key: e_I.pub, sent_at, …}
//!   sealed_intro = HPKE-Base(R.encryption_key, intro)
//!   sig = Sign(I, from, to, conversation_id, sealed_intro)
//!   ──────────── {from, to, conversation_id, sealed_intro, sig} ─────────────▶
//!                                               verify sig, open intro, check
//!                                               sender_proof and sent_at, decide
//!                                               ack ctx = HPKE-Base(e_I.pub, …)
//!                                               session keys = ctx.export(…)
//!   ◀──── {accepted, conversation_id, from, conversation_token, sealed_ack, sig} ────
//!   verify sig, open ack with e_I, export the same session keys
//! ```
//!
//! Forward secrecy: the session keys come from the ack's HPKE context, whose shared secret is
//! DH(ephemeral of R's encapsulation, e_I). Both halves are fresh per handshake and discarded
//! after it, so a later theft of either cloud's long-term keys opens no earlier conversation.
//! The long-term keys authenticate (Ed25519 signatures) and keep the intro private (HPKE to
//! R's long-term X25519 key); they never feed the session keys.
//!
//! The response is signed too, so a relay can neither forge a refusal nor swap the ack.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::canonical::Canonical;
use crate::encoding::{b64, b64_decode};
use crate::error::ProtoError;
use crate::host::{HostCertificate, signer_for};
use crate::identity::validate_handle;
use crate::keys::{CloudKeys, EncryptionKey, EncryptionSecret, PublicKey, signature_from_b64};
use crate::seal::{hpke_open, hpke_seal};
use crate::session::{Role, Session};
use crate::time;

/// How far an intro's `sent_at` may be from the responder's clock.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(300);
/// Largest accepted `sealed_intro` / `sealed_ack`, in decoded bytes.
pub const MAX_SEALED_INTRO: usize = 16 * 1024;
/// Largest accepted `topic`, in bytes.
pub const MAX_TOPIC: usize = 1024;

/// Refusal reasons from the seed; peers must accept other strings too and show them as-is.
pub const REASON_NOT_ON_WHITELIST: &str = "not on whitelist";
pub const REASON_RATE_LIMIT: &str = "rate limit";
pub const REASON_REFUSED: &str = "refused";
pub const REASON_EXPIRED: &str = "expired";

const INTRO_INFO: &str = "rapp-d2d/1.0/intro";
const ACK_INFO: &str = "rapp-d2d/1.0/ack";

/// The handshake request as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeRequest {
    pub from: String,
    pub to: String,
    pub conversation_id: String,
    pub sealed_intro: String,
    pub sig: String,
    /// A first-contact proof of work (§7.8), for a responder that requires one of strangers.
    /// Not signed: it binds to fields that are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow: Option<u64>,
    /// A hosted initiator: the certificate of the host key that signed (§19.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_certificate: Option<HostCertificate>,
}

pub const POW_LABEL: &str = "rapp-d2d/1.0/pow";

/// The largest `pow` counter (JSON integers stay exact, §1).
pub const MAX_POW_COUNTER: u64 = (1 << 53) - 1;

fn pow_digest(from: &PublicKey, to: &PublicKey, conversation_id: &str, counter: u64) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(
        Canonical::new(POW_LABEL)
            .bytes(from.as_bytes())
            .bytes(to.as_bytes())
            .str(conversation_id)
            .u64(counter)
            .finish(),
    )
    .into()
}

impl HandshakeRequest {
    /// Whether the request carries a proof of work meeting `difficulty` (§7.8). Cheap: one
    /// hash, no signature — checked before anything costly.
    pub fn pow_valid(&self, difficulty: u8) -> Result<bool, ProtoError> {
        let Some(counter) = self.pow else {
            return Ok(false);
        };
        if counter > MAX_POW_COUNTER {
            return Err(ProtoError::malformed("pow", "larger than 2^53 - 1"));
        }
        let from = PublicKey::from_b64("from", &self.from)?;
        let to = PublicKey::from_b64("to", &self.to)?;
        Ok(crate::pow::meets(
            &pow_digest(&from, &to, &self.conversation_id, counter),
            difficulty,
        ))
    }

    /// Solves the responder's first-contact puzzle for this request and attaches it.
    pub fn solve_pow(&mut self, difficulty: u8) -> Result<(), ProtoError> {
        let from = PublicKey::from_b64("from", &self.from)?;
        let to = PublicKey::from_b64("to", &self.to)?;
        let id = self.conversation_id.clone();
        self.pow = Some(crate::pow::solve(difficulty, |c| {
            pow_digest(&from, &to, &id, c)
        }));
        Ok(())
    }
}

/// The handshake response as it travels: accepted (with token and ack) or refused (with reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeResponse {
    pub accepted: bool,
    pub conversation_id: String,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_ack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub sig: String,
    /// A hosted responder: the certificate of the host key that signed (§19.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_certificate: Option<HostCertificate>,
}

/// The sealed intro's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intro {
    pub topic: String,
    /// Ed25519 signature by `from` over the `rapp-d2d/1.0/sender-proof` bytes: proof, inside
    /// the ciphertext, that the holder of `from` chose this ephemeral key and topic. The
    /// responder can keep it as evidence that does not depend on the transport envelope.
    pub sender_proof: String,
    /// The initiator's ephemeral X25519 public key, base64; the ack is sealed to it.
    pub ephemeral_key: String,
    pub sent_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_handle: Option<String>,
}

/// The sealed ack's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Capabilities this peer may call, as the responder's whitelist grants them.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// When the conversation token stops being accepted; `None`: until the conversation closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub accepted_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder_handle: Option<String>,
}

/// What the initiator keeps between sending the request and reading the response. Holds the
/// ephemeral secret: keep it no longer than the handshake, and store it only where cloud keys
/// may be stored.
#[derive(Debug)]
pub struct PendingHandshake {
    pub conversation_id: Uuid,
    pub me: PublicKey,
    pub peer: PublicKey,
    pub sealed_intro: Vec<u8>,
    pub ephemeral: EncryptionSecret,
    /// When the handshake was sent: a hosted responder's certificate must hold then.
    pub started_at: Timestamp,
}

/// A handshake request whose signature, intro and sender proof checked out.
#[derive(Debug, Clone)]
pub struct ReceivedHandshake {
    pub from: PublicKey,
    /// The key that signed for `from`: `from` itself, or its certified host key.
    pub signer: PublicKey,
    pub to: PublicKey,
    pub conversation_id: Uuid,
    pub topic: String,
    pub sender_handle: Option<String>,
    pub sent_at: Timestamp,
    pub ephemeral_key: EncryptionKey,
    pub sealed_intro: Vec<u8>,
}

/// The initiator's reading of a response.
#[derive(Debug)]
pub enum HandshakeOutcome {
    /// Boxed: a session holds two expanded public keys and would dwarf the refusal.
    Accepted {
        session: Box<Session>,
        ack: Ack,
    },
    Refused {
        reason: String,
    },
}

fn handshake_bytes(from: &PublicKey, to: &PublicKey, id: &str, sealed_intro: &[u8]) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/handshake")
        .bytes(from.as_bytes())
        .bytes(to.as_bytes())
        .str(id)
        .bytes(sealed_intro)
        .finish()
}

fn intro_aad(from: &PublicKey, to: &PublicKey, id: &str) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/intro-aad")
        .bytes(from.as_bytes())
        .bytes(to.as_bytes())
        .str(id)
        .finish()
}

/// The bytes `sender_proof` signs (public so test vectors can publish the intro's plaintext).
pub fn sender_proof_bytes(
    from: &PublicKey,
    to: &PublicKey,
    id: &str,
    ephemeral: &EncryptionKey,
    topic: &str,
    sent_at: &str,
) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/sender-proof")
        .bytes(from.as_bytes())
        .bytes(to.as_bytes())
        .str(id)
        .bytes(ephemeral.as_bytes())
        .str(topic)
        .str(sent_at)
        .finish()
}

/// SHA-256 of everything both sides agreed on; feeds the ack's HPKE `info`, so the session
/// keys are bound to this exact handshake.
fn transcript_hash(
    initiator: &PublicKey,
    responder: &PublicKey,
    id: &str,
    sealed_intro: &[u8],
    token: &str,
) -> [u8; 32] {
    let bytes = Canonical::new("rapp-d2d/1.0/transcript")
        .bytes(initiator.as_bytes())
        .bytes(responder.as_bytes())
        .str(id)
        .bytes(sealed_intro)
        .str(token)
        .finish();
    Sha256::digest(bytes).into()
}

fn ack_info(transcript: &[u8; 32]) -> Vec<u8> {
    Canonical::new(ACK_INFO).bytes(transcript).finish()
}

fn response_bytes(
    responder: &PublicKey,
    initiator: &PublicKey,
    id: &str,
    outcome: ResponseOutcome<'_>,
) -> Vec<u8> {
    let c = Canonical::new("rapp-d2d/1.0/handshake-response")
        .bytes(responder.as_bytes())
        .bytes(initiator.as_bytes())
        .str(id);
    match outcome {
        ResponseOutcome::Accepted { token, sealed_ack } => {
            c.str("accepted").str(token).bytes(sealed_ack).finish()
        }
        ResponseOutcome::Refused { reason } => c.str("refused").str(reason).finish(),
    }
}

enum ResponseOutcome<'a> {
    Accepted {
        token: &'a str,
        sealed_ack: &'a [u8],
    },
    Refused {
        reason: &'a str,
    },
}

/// Parses a conversation id: a UUID in its canonical lowercase hyphenated form, so the bytes
/// that are signed have one spelling.
pub fn parse_conversation_id(text: &str) -> Result<Uuid, ProtoError> {
    let id = Uuid::try_parse(text)
        .map_err(|_| ProtoError::malformed("conversation_id", "not a UUID"))?;
    if id.hyphenated().to_string() != text {
        return Err(ProtoError::malformed(
            "conversation_id",
            "must be a lowercase hyphenated UUID",
        ));
    }
    Ok(id)
}

/// A version-4 UUID from `rng` (conversation ids; also the node's own request ids).
pub fn random_uuid(rng: &mut impl rand_core::CryptoRng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Initiator, step 1: builds the request for a peer whose identity document was verified.
pub fn initiate(
    rng: &mut impl rand_core::CryptoRng,
    me: &CloudKeys,
    my_handle: Option<&str>,
    peer: PublicKey,
    peer_encryption_key: EncryptionKey,
    topic: &str,
    now: Timestamp,
) -> Result<(HandshakeRequest, PendingHandshake), ProtoError> {
    if topic.len() > MAX_TOPIC {
        return Err(ProtoError::WrongSize {
            field: "topic",
            expected: format!("at most {MAX_TOPIC}"),
            got: topic.len(),
        });
    }
    if let Some(h) = my_handle {
        validate_handle(h)?;
    }
    let from = me.public();
    let conversation_id = random_uuid(rng);
    let id = conversation_id.hyphenated().to_string();
    let ephemeral = EncryptionSecret::generate(rng);
    let ephemeral_pub = ephemeral.public();
    let sent_at = time::format(now);
    let proof = me.signing.sign(&sender_proof_bytes(
        &from,
        &peer,
        &id,
        &ephemeral_pub,
        topic,
        &sent_at,
    ));
    let intro = Intro {
        topic: topic.into(),
        sender_proof: b64(&proof),
        ephemeral_key: ephemeral_pub.to_b64(),
        sent_at,
        sender_handle: my_handle.map(str::to_owned),
    };
    let plaintext = Zeroizing::new(serde_json::to_vec(&intro).expect("intro serializes"));
    let (sealed_intro, _) = hpke_seal(
        rng,
        peer_encryption_key,
        &Canonical::new(INTRO_INFO).finish(),
        &intro_aad(&from, &peer, &id),
        &plaintext,
    )?;
    let sig = me
        .signing
        .sign(&handshake_bytes(&from, &peer, &id, &sealed_intro));
    let request = HandshakeRequest {
        from: from.to_b64(),
        to: peer.to_b64(),
        conversation_id: id,
        sealed_intro: b64(&sealed_intro),
        sig: b64(&sig),
        pow: None,
        host_certificate: me.host_certificate(),
    };
    Ok((
        request,
        PendingHandshake {
            conversation_id,
            me: from,
            peer,
            sealed_intro,
            ephemeral,
            started_at: now,
        },
    ))
}

/// Responder, step 2: checks a request addressed to `me`. Verifies the outer signature before
/// any decryption, so an unauthenticated flood costs one signature check per request.
/// Replay of a whole request is caught by the caller refusing a `conversation_id` it has
/// already seen (docs/PROTOCOL.md §State rules); `sent_at` bounds how long it must remember.
pub fn receive(
    request: &HandshakeRequest,
    me: &CloudKeys,
    now: Timestamp,
) -> Result<ReceivedHandshake, ProtoError> {
    let from = PublicKey::from_b64("from", &request.from)?;
    let to = PublicKey::from_b64("to", &request.to)?;
    let conversation_id = parse_conversation_id(&request.conversation_id)?;
    let sealed_intro = b64_decode("sealed_intro", &request.sealed_intro, MAX_SEALED_INTRO)?;
    let sig = signature_from_b64("sig", &request.sig)?;
    if to != me.public() {
        return Err(ProtoError::WrongRecipient);
    }
    let id = request.conversation_id.as_str();
    // The initiator's own key, or the host key its certificate names (§19.2).
    let signer = signer_for(&from, request.host_certificate.as_ref(), now)?;
    signer.verify(
        "handshake",
        &handshake_bytes(&from, &to, id, &sealed_intro),
        &sig,
    )?;
    let (plaintext, _) = hpke_open(
        "sealed_intro",
        &me.encryption,
        &sealed_intro,
        &Canonical::new(INTRO_INFO).finish(),
        &intro_aad(&from, &to, id),
    )?;
    let plaintext = Zeroizing::new(plaintext);
    let intro: Intro = serde_json::from_slice(&plaintext)
        .map_err(|e| ProtoError::malformed("intro", e.to_string()))?;
    if intro.topic.len() > MAX_TOPIC {
        return Err(ProtoError::WrongSize {
            field: "topic",
            expected: format!("at most {MAX_TOPIC}"),
            got: intro.topic.len(),
        });
    }
    if let Some(h) = &intro.sender_handle {
        validate_handle(h)?;
    }
    let ephemeral_key = EncryptionKey::from_b64("ephemeral_key", &intro.ephemeral_key)?;
    let proof = signature_from_b64("sender_proof", &intro.sender_proof)?;
    signer.verify(
        "sender_proof",
        &sender_proof_bytes(&from, &to, id, &ephemeral_key, &intro.topic, &intro.sent_at),
        &proof,
    )?;
    let sent_at = match time::parse_near("sent_at", &intro.sent_at)? {
        Some(t) if now.duration_since(t).abs() <= MAX_CLOCK_SKEW => t,
        _ => {
            return Err(ProtoError::StaleTimestamp {
                at: intro.sent_at.clone(),
            });
        }
    };
    Ok(ReceivedHandshake {
        from,
        signer,
        to,
        conversation_id,
        topic: intro.topic,
        sender_handle: intro.sender_handle,
        sent_at,
        ephemeral_key,
        sealed_intro,
    })
}

/// Responder, step 3a: accepts. Draws a fresh 32-byte conversation token, seals the ack to
/// the initiator's ephemeral key and derives the session.
pub fn accept(
    rng: &mut impl rand_core::CryptoRng,
    me: &CloudKeys,
    received: &ReceivedHandshake,
    ack: &Ack,
) -> Result<(HandshakeResponse, Session), ProtoError> {
    let mut token = [0u8; 32];
    rng.fill_bytes(&mut token);
    let token = b64(&token);
    let id = received.conversation_id.hyphenated().to_string();
    let responder = me.public();
    let th = transcript_hash(
        &received.from,
        &responder,
        &id,
        &received.sealed_intro,
        &token,
    );
    let plaintext = Zeroizing::new(serde_json::to_vec(ack).expect("ack serializes"));
    let (sealed_ack, ctx) =
        hpke_seal(rng, received.ephemeral_key, &ack_info(&th), &[], &plaintext)?;
    let session = Session::from_exporter(
        Role::Responder,
        received.conversation_id,
        token.clone(),
        responder,
        received.from,
        received.signer,
        |label, out| ctx.export(label, out),
    );
    let sig = me.signing.sign(&response_bytes(
        &responder,
        &received.from,
        &id,
        ResponseOutcome::Accepted {
            token: &token,
            sealed_ack: &sealed_ack,
        },
    ));
    Ok((
        HandshakeResponse {
            accepted: true,
            conversation_id: id,
            from: responder.to_b64(),
            conversation_token: Some(token),
            sealed_ack: Some(b64(&sealed_ack)),
            reason: None,
            sig: b64(&sig),
            host_certificate: me.host_certificate(),
        },
        session,
    ))
}

/// Responder, step 3b: refuses, with a signed reason.
pub fn refuse(
    me: &CloudKeys,
    initiator: &PublicKey,
    conversation_id: Uuid,
    reason: &str,
) -> HandshakeResponse {
    let id = conversation_id.hyphenated().to_string();
    let responder = me.public();
    let sig = me.signing.sign(&response_bytes(
        &responder,
        initiator,
        &id,
        ResponseOutcome::Refused { reason },
    ));
    HandshakeResponse {
        accepted: false,
        conversation_id: id,
        from: responder.to_b64(),
        conversation_token: None,
        sealed_ack: None,
        reason: Some(reason.into()),
        sig: b64(&sig),
        host_certificate: me.host_certificate(),
    }
}

impl PendingHandshake {
    /// Initiator, step 4: reads the response. Everything is checked before the outcome is
    /// believed: the responder's signature (also on refusals), the conversation id, the ack.
    pub fn complete(&self, response: &HandshakeResponse) -> Result<HandshakeOutcome, ProtoError> {
        let from = PublicKey::from_b64("from", &response.from)?;
        if from != self.peer {
            return Err(ProtoError::malformed(
                "from",
                "response is not from the cloud the handshake was sent to",
            ));
        }
        let id = self.conversation_id.hyphenated().to_string();
        if response.conversation_id != id {
            return Err(ProtoError::malformed(
                "conversation_id",
                "response is for another conversation",
            ));
        }
        let sig = signature_from_b64("sig", &response.sig)?;
        // The responder's own key, or its host key, certified when we knocked.
        let signer = signer_for(&from, response.host_certificate.as_ref(), self.started_at)?;
        if !response.accepted {
            let reason = response.reason.as_deref().unwrap_or(REASON_REFUSED);
            if reason.len() > MAX_TOPIC {
                return Err(ProtoError::WrongSize {
                    field: "reason",
                    expected: format!("at most {MAX_TOPIC}"),
                    got: reason.len(),
                });
            }
            signer.verify(
                "handshake response",
                &response_bytes(&from, &self.me, &id, ResponseOutcome::Refused { reason }),
                &sig,
            )?;
            return Ok(HandshakeOutcome::Refused {
                reason: reason.to_owned(),
            });
        }
        let token = response
            .conversation_token
            .as_deref()
            .ok_or_else(|| ProtoError::malformed("conversation_token", "missing"))?;
        crate::session::validate_token(token)?;
        let sealed_ack = b64_decode(
            "sealed_ack",
            response
                .sealed_ack
                .as_deref()
                .ok_or_else(|| ProtoError::malformed("sealed_ack", "missing"))?,
            MAX_SEALED_INTRO,
        )?;
        signer.verify(
            "handshake response",
            &response_bytes(
                &from,
                &self.me,
                &id,
                ResponseOutcome::Accepted {
                    token,
                    sealed_ack: &sealed_ack,
                },
            ),
            &sig,
        )?;
        let th = transcript_hash(&self.me, &from, &id, &self.sealed_intro, token);
        let (plaintext, ctx) = hpke_open(
            "sealed_ack",
            &self.ephemeral,
            &sealed_ack,
            &ack_info(&th),
            &[],
        )?;
        let plaintext = Zeroizing::new(plaintext);
        let ack: Ack = serde_json::from_slice(&plaintext)
            .map_err(|e| ProtoError::malformed("ack", e.to_string()))?;
        time::parse("accepted_at", &ack.accepted_at)?;
        if let Some(at) = &ack.expires_at {
            time::parse("expires_at", at)?;
        }
        let session = Box::new(Session::from_exporter(
            Role::Initiator,
            self.conversation_id,
            token.to_owned(),
            self.me,
            from,
            signer,
            |label, out| ctx.export(label, out),
        ));
        Ok(HandshakeOutcome::Accepted { session, ack })
    }
}
