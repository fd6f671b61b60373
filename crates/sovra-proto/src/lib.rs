//! `sovra-proto`: everything that knows a byte layout of rapp-d2d/1.0.
//!
//! Pure: no network, no async, no clock (callers pass `now`), no global RNG (callers pass
//! one, so tests and test vectors are reproducible). The only I/O is `keyfile`, which reads
//! and writes secret keys with mode 0600.
//!
//! # Layout
//!
//! * `action` — federation action tokens (compact JWS, EdDSA/ES384), content ids, `/api/me`.
//! * `keys` — Ed25519 signing keys and X25519 encryption keys, fingerprints, safety codes.
//! * `keyfile` — secret keys on disk.
//! * `canonical` — the exact bytes every signature and AEAD binding covers.
//! * `encoding`, `time` — base64/hex and RFC 3339 fields, strictly parsed.
//! * `identity` — the identity document (`GET /api/d2d/identity`).
//! * `whitelist` — a peer's whitelist entry and grants.
//! * `handshake` — `POST /api/d2d/handshake`: intro, ack, responses, session derivation.
//! * `session` — per-direction keys, message sealing and opening, the replay window.
//! * `message` — `POST /api/d2d/message` and its payload.
//! * `seal` — the HPKE and XChaCha20-Poly1305 constructions.
//! * `inheritance` — heirs, the notice when the switch fires, an heir's claim.
//! * `migration` — migration bundles (archive, encryption) and move statements.
//! * `registry` — registry records, key chains and signed lookups.
//! * `error` — one error enum with stable codes.
//!
//! docs/PROTOCOL.md is the normative description of all of it.
//!
//! # Example: a conversation
//!
//! ```
//! use sovra_proto::{handshake, Ack, CloudKeys, HandshakeOutcome, Payload, ReplayWindow, os_rng};
//!
//! let mut rng = os_rng();
//! let now = jiff::Timestamp::now();
//! let (alice, bob) = (CloudKeys::generate(&mut rng), CloudKeys::generate(&mut rng));
//!
//! // Alice seals an intro to Bob's encryption key (learned from his identity document).
//! let (request, pending) = handshake::initiate(
//!     &mut rng, &alice, Some("@alice.cloud"), bob.public(), bob.encryption.public(), "hello", now,
//! )?;
//! // Bob verifies it, decides (his whitelist), and accepts.
//! let received = handshake::receive(&request, &bob, now)?;
//! let ack = Ack { capabilities: vec![], expires_at: None,
//!                 accepted_at: sovra_proto::time::format(now), responder_handle: None };
//! let (response, bob_session) = handshake::accept(&mut rng, &bob, &received, &ack)?;
//! // Alice reads the signed response; both now hold the same session keys.
//! let HandshakeOutcome::Accepted { session, .. } = pending.complete(&response)? else {
//!     unreachable!()
//! };
//!
//! let message = session.seal(&mut rng, &alice.signing, 1, &Payload::text("hi Bob"))?;
//! let parsed = message.parse()?;
//! let mut window = ReplayWindow::default();
//! window.check(parsed.seq)?;
//! assert_eq!(bob_session.open(&parsed)?.text, "hi Bob");
//! window.accept(parsed.seq);
//! assert_eq!(window.check(parsed.seq).unwrap_err().code(), "replayed_seq");
//! # Ok::<(), sovra_proto::ProtoError>(())
//! ```

pub mod action;
pub mod attestation;
pub mod canonical;
pub mod client_instance;
pub mod device;
pub mod encoding;
pub mod error;
pub mod handshake;
pub mod host;
pub mod identity;
pub mod inheritance;
pub mod keyfile;
pub mod keys;
pub mod message;
pub mod migration;
pub mod node;
pub mod nym;
pub mod owner;
pub mod pow;
pub mod registry;
pub mod relay;
mod seal;
pub mod session;
pub mod time;
pub mod urls;
pub mod whitelist;

pub use error::{ERROR_CODES, ProtoError};
pub use handshake::{
    Ack, HandshakeOutcome, HandshakeRequest, HandshakeResponse, Intro, PendingHandshake,
    ReceivedHandshake,
};
pub use identity::{Capability, Identity, IdentityDocument, SCHEMA};
pub use keys::{
    CloudKeys, EncryptionKey, EncryptionSecret, PublicKey, SigningKeypair, os_rng, safety_code,
};
pub use message::{
    Call, CallResult, DataPolicy, MessageRequest, MessageResponse, Payload, Retention,
};
pub use seal::{ENC_LEN, NONCE_LEN, TAG_LEN};
pub use session::{ParsedMessage, ReplayWindow, Role, Session, StoredSession};
pub use whitelist::{Grant, WhitelistEntry};
