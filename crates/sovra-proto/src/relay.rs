//! The relay protocol, `sovra-relay/1` (docs/PROTOCOL.md §17): WebSocket frames, the
//! challenge–response that authenticates a cloud, and the first-contact proof of work.
//!
//! A relay stores and forwards *envelopes*: a D2D request body (unchanged from §7/§8, already
//! sealed end to end), the recipient's answer to it, or a notice that it expired undelivered.
//! It learns who talks to whom, when and how much — never what.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};

pub const AUTH_LABEL: &str = "sovra-relay/1/auth";
pub const POW_LABEL: &str = "sovra-relay/1/pow";

/// The D2D paths an envelope may carry a request for.
pub const PATHS: [&str; 2] = ["/api/d2d/handshake", "/api/d2d/message"];

/// Every error code a relay sends in an `error` frame (§17.6), beside §10's.
pub const ERROR_CODES: &[&str] = &[
    "unauthenticated",
    "pow_required",
    "bad_pow",
    "rate_limited",
    "quota_exceeded",
];

/// Frames the relay sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of every connection: sign it to authenticate.
    Challenge { nonce: String, relay: String },
    /// Authentication succeeded; queued envelopes follow.
    Ready { pubkey: String },
    /// A first-contact proof-of-work puzzle, for `send`s to `to`.
    Pow {
        id: String,
        to: String,
        nonce: String,
        difficulty: u8,
        expires_at: String,
    },
    /// The relay stored the `send` with this `id` durably as `envelope`.
    Accepted { id: String, envelope: String },
    /// Something addressed to this cloud.
    Envelope(Envelope),
    /// A refusal; `id` names the frame it answers, when it answers one.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        error: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

/// What the relay delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The relay's id for it: acks name it, answers point back to it.
    pub envelope: String,
    /// The sending cloud's key (the relay authenticated it).
    pub from: String,
    #[serde(flatten)]
    pub content: EnvelopeContent,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EnvelopeContent {
    /// A D2D request: what `POST {path}` with `body` would have carried.
    Request {
        path: String,
        body: serde_json::Value,
    },
    /// The recipient's answer to the request envelope `reply_to`: the HTTP status and body
    /// its D2D endpoint would have answered.
    Response {
        reply_to: String,
        status: u16,
        body: serde_json::Value,
    },
    /// The request envelope `reply_to`, sent by this cloud, expired undelivered.
    Expired { reply_to: String },
}

/// Frames a cloud sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Auth {
        pubkey: String,
        sig: String,
        /// A hosted cloud: `pubkey` is the cloud key, `sig` is by the host key this
        /// certificate names (§19.2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host_certificate: Option<crate::host::HostCertificate>,
    },
    /// Store-and-forward a D2D request to `to`.
    Send {
        id: String,
        to: String,
        path: String,
        body: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pow: Option<PowSolution>,
    },
    /// This cloud has the envelope (and stored what it needed): the relay may delete it.
    /// A request envelope's ack may carry the answer for its sender.
    Ack {
        envelope: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<AckResponse>,
    },
    /// Ask for a proof-of-work puzzle for first contact with `to`.
    PowRequest { id: String, to: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckResponse {
    pub status: u16,
    pub body: serde_json::Value,
    /// The recipient vouches for the sender: its later `send`s to the recipient need no
    /// proof of work. `false` (the default) withdraws that if it was given before — so an
    /// answer alone (a refusal to a stranger) never exempts anyone (§17.5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowSolution {
    pub nonce: String,
    pub counter: u64,
}

/// What a cloud signs to authenticate: the relay URL it meant to reach (so a relay cannot
/// pass another relay's challenge through) and the connection's fresh nonce.
pub fn auth_bytes(relay: &str, nonce: &[u8; 32]) -> Vec<u8> {
    Canonical::new(AUTH_LABEL).str(relay).bytes(nonce).finish()
}

/// The `auth` frame for a challenge.
pub fn sign_auth(keys: &SigningKeypair, relay: &str, nonce: &[u8; 32]) -> ClientFrame {
    ClientFrame::Auth {
        pubkey: keys.public().to_b64(),
        sig: b64(&keys.sign(&auth_bytes(relay, nonce))),
        host_certificate: None,
    }
}

/// The `auth` frame for a cloud as its node holds it: signed by the host key with the
/// certificate when hosted, so the relay knows the connection as the cloud key.
pub fn sign_cloud_auth(keys: &crate::CloudKeys, relay: &str, nonce: &[u8; 32]) -> ClientFrame {
    ClientFrame::Auth {
        pubkey: keys.public().to_b64(),
        sig: b64(&keys.signing.sign(&auth_bytes(relay, nonce))),
        host_certificate: keys.host_certificate(),
    }
}

/// Checks an `auth` frame against the challenge; returns the authenticated key.
pub fn verify_auth(
    relay: &str,
    nonce: &[u8; 32],
    pubkey: &str,
    sig: &str,
) -> Result<PublicKey, ProtoError> {
    let key = PublicKey::from_b64("pubkey", pubkey)?;
    let sig = signature_from_b64("sig", sig)?;
    key.verify("relay auth", &auth_bytes(relay, nonce), &sig)?;
    Ok(key)
}

/// `verify_auth` for a frame that may carry a host certificate, which must hold at `now`;
/// returns the cloud key the connection speaks for.
pub fn verify_cloud_auth(
    relay: &str,
    nonce: &[u8; 32],
    pubkey: &str,
    sig: &str,
    host_certificate: Option<&crate::host::HostCertificate>,
    now: jiff::Timestamp,
) -> Result<PublicKey, ProtoError> {
    let key = PublicKey::from_b64("pubkey", pubkey)?;
    let signer = crate::host::signer_for(&key, host_certificate, now)?;
    let sig = signature_from_b64("sig", sig)?;
    signer.verify("relay auth", &auth_bytes(relay, nonce), &sig)?;
    Ok(key)
}

fn pow_digest(
    nonce: &[u8; 32],
    sender: &PublicKey,
    recipient: &PublicKey,
    counter: u64,
) -> [u8; 32] {
    Sha256::digest(
        Canonical::new(POW_LABEL)
            .bytes(nonce)
            .bytes(sender.as_bytes())
            .bytes(recipient.as_bytes())
            .u64(counter)
            .finish(),
    )
    .into()
}

/// Whether `counter` solves the puzzle: the digest starts with `difficulty` zero bits.
pub fn pow_valid(
    nonce: &[u8; 32],
    sender: &PublicKey,
    recipient: &PublicKey,
    counter: u64,
    difficulty: u8,
) -> bool {
    crate::pow::meets(&pow_digest(nonce, sender, recipient, counter), difficulty)
}

/// Finds the smallest solving counter (2^difficulty tries on average).
pub fn pow_solve(
    nonce: &[u8; 32],
    sender: &PublicKey,
    recipient: &PublicKey,
    difficulty: u8,
) -> u64 {
    crate::pow::solve(difficulty, |c| pow_digest(nonce, sender, recipient, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_binds_relay_and_nonce() {
        let k = SigningKeypair::from_seed(&[7; 32]);
        let nonce = [1u8; 32];
        let ClientFrame::Auth { pubkey, sig, .. } = sign_auth(&k, "ws://relay.example", &nonce)
        else {
            unreachable!()
        };
        assert!(verify_auth("ws://relay.example", &nonce, &pubkey, &sig).is_ok());
        assert!(verify_auth("ws://other.example", &nonce, &pubkey, &sig).is_err());
        assert!(verify_auth("ws://relay.example", &[2u8; 32], &pubkey, &sig).is_err());
    }

    #[test]
    fn pow_binds_sender_and_recipient() {
        let (a, b) = (
            SigningKeypair::from_seed(&[1; 32]).public(),
            SigningKeypair::from_seed(&[2; 32]).public(),
        );
        let nonce = [9u8; 32];
        let c = pow_solve(&nonce, &a, &b, 10);
        assert!(pow_valid(&nonce, &a, &b, c, 10));
        // The same counter for another pair, or another nonce, is (almost surely) no solution.
        let others = [
            pow_valid(&nonce, &b, &a, c, 10),
            pow_valid(&[8u8; 32], &a, &b, c, 10),
        ];
        assert!(others.iter().any(|v| !v));
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let f: ClientFrame = serde_json::from_str(
            r#"{"type":"ack","envelope":"e1","response":{"status":200,"body":{"received":true}}}"#,
        )
        .unwrap();
        assert!(matches!(
            f,
            ClientFrame::Ack {
                response: Some(_),
                ..
            }
        ));
        let e = ServerFrame::Envelope(Envelope {
            envelope: "e1".into(),
            from: "k".into(),
            content: EnvelopeContent::Expired {
                reply_to: "e0".into(),
            },
            created_at: "2026-11-21T00:00:00Z".into(),
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "envelope");
        assert_eq!(v["kind"], "expired");
        assert_eq!(v["reply_to"], "e0");
    }
}
