//! The one error type of the protocol layer.
//!
//! Every way a peer's bytes can be refused has exactly one variant here, and every variant has
//! a stable `code()` string. The HTTP layer maps the code into the body
//! `{"error": "<code>", "message": "…"}` so that a client in another language can branch on
//! the code and show the message; the codes are part of the protocol (docs/PROTOCOL.md §Errors)
//! and must never be renamed.

use thiserror::Error;

/// Why a rapp-d2d/1.0 object was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The JSON did not parse, a required field is missing, or a field's value breaks a rule
    /// that is not about its encoding or size (a bad handle, an unknown retention value…).
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },

    /// A field that must be base64 (RFC 4648 §4, with padding) or hex is not.
    #[error("field `{field}` is not valid {encoding}")]
    BadEncoding {
        field: &'static str,
        encoding: &'static str,
    },

    /// A field decoded, but to the wrong number of bytes (a key that is not 32 bytes…), or a
    /// body or field is larger than the protocol allows.
    #[error("field `{field}` has {got} bytes, expected {expected}")]
    WrongSize {
        field: &'static str,
        expected: String,
        got: usize,
    },

    /// A list holds more items than the protocol allows (calls, capabilities, URLs, links):
    /// `wrong_size` on the wire like any size, but counted in items, not bytes.
    #[error("field `{field}` has {got} items, at most {max}")]
    TooMany {
        field: &'static str,
        max: usize,
        got: usize,
    },

    /// An Ed25519 signature did not verify (RFC 8032, strict verification).
    #[error("signature over {what} does not verify")]
    BadSignature { what: &'static str },

    /// A sealed blob did not open: tampered, truncated, or sealed to someone else.
    #[error("cannot unseal {what}")]
    CannotUnseal { what: &'static str },

    /// The object is addressed to a key other than ours.
    #[error("addressed to another recipient")]
    WrongRecipient,

    /// This `seq` was already accepted in this conversation and direction.
    #[error("seq {seq} was already accepted")]
    ReplayedSeq { seq: u64 },

    /// This `seq` is too far below the highest accepted one to be checked for replay.
    #[error("seq {seq} is older than the replay window (highest accepted {highest})")]
    StaleSeq { seq: u64, highest: u64 },

    /// A timestamp is outside the accepted clock-skew window.
    #[error("timestamp {at} is outside the accepted window")]
    StaleTimestamp { at: String },

    /// No conversation is known under this token.
    #[error("unknown conversation token")]
    UnknownToken,

    /// The conversation exists but its token has expired or the conversation was closed.
    #[error("conversation token expired")]
    ExpiredToken,

    /// A handshake with this `conversation_id` was already handled (docs/PROTOCOL.md §9.3).
    #[error("conversation {0} was already handled")]
    ReplayedHandshake(String),

    /// The peer is over its `rate_limit_per_day`.
    #[error("rate limit of {limit} per day reached")]
    RateLimited { limit: u32 },

    /// The responder requires a first-contact proof of work of strangers (§7.8) and this
    /// handshake has none, or one below `difficulty`.
    #[error("a first-contact proof of work of {difficulty} bits is required")]
    PowRequired { difficulty: u8 },

    /// The `schema` names a protocol version this implementation does not speak.
    #[error("unsupported protocol version `{0}`")]
    UnsupportedVersion(String),

    /// An action token's `alg`, or a published key's type, is not one Sovra accepts
    /// (EdDSA, ES384), or the token's `alg` is not the one its issuer's key is for (§23.2).
    #[error("algorithm refused: {0}")]
    BadAlgorithm(String),

    /// An action token's `exp` has passed.
    #[error("the action token has expired")]
    TokenExpired,
}

impl ProtoError {
    /// The stable, machine-readable error code (docs/PROTOCOL.md §Errors).
    pub fn code(&self) -> &'static str {
        match self {
            ProtoError::Malformed { .. } => "malformed",
            ProtoError::BadEncoding { .. } => "bad_encoding",
            ProtoError::WrongSize { .. } | ProtoError::TooMany { .. } => "wrong_size",
            ProtoError::BadSignature { .. } => "bad_signature",
            ProtoError::CannotUnseal { .. } => "cannot_unseal",
            ProtoError::WrongRecipient => "wrong_recipient",
            ProtoError::ReplayedSeq { .. } => "replayed_seq",
            ProtoError::StaleSeq { .. } => "stale_seq",
            ProtoError::StaleTimestamp { .. } => "stale_timestamp",
            ProtoError::UnknownToken => "unknown_token",
            ProtoError::ExpiredToken => "expired_token",
            ProtoError::ReplayedHandshake(_) => "replayed_handshake",
            ProtoError::RateLimited { .. } => "rate_limited",
            ProtoError::PowRequired { .. } => "pow_required",
            ProtoError::UnsupportedVersion(_) => "unsupported_version",
            ProtoError::BadAlgorithm(_) => "bad_algorithm",
            ProtoError::TokenExpired => "token_expired",
        }
    }

    /// The HTTP status this error is answered with (docs/PROTOCOL.md §10). A body over the size
    /// limit is the one `wrong_size` answered 413; the HTTP layer decides that itself.
    pub fn http_status(&self) -> u16 {
        match self {
            ProtoError::Malformed { .. }
            | ProtoError::BadEncoding { .. }
            | ProtoError::WrongSize { .. }
            | ProtoError::TooMany { .. }
            | ProtoError::CannotUnseal { .. }
            | ProtoError::StaleTimestamp { .. }
            | ProtoError::UnsupportedVersion(_)
            | ProtoError::BadAlgorithm(_) => 400,
            ProtoError::BadSignature { .. } | ProtoError::TokenExpired => 401,
            ProtoError::UnknownToken => 404,
            ProtoError::ReplayedHandshake(_)
            | ProtoError::ReplayedSeq { .. }
            | ProtoError::StaleSeq { .. } => 409,
            ProtoError::ExpiredToken => 410,
            ProtoError::WrongRecipient => 421,
            ProtoError::RateLimited { .. } => 429,
            ProtoError::PowRequired { .. } => 428,
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        ProtoError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// Every code `ProtoError::code` can return, for documentation tests and client generators.
pub const ERROR_CODES: &[&str] = &[
    "malformed",
    "bad_encoding",
    "wrong_size",
    "bad_signature",
    "cannot_unseal",
    "wrong_recipient",
    "replayed_seq",
    "stale_seq",
    "stale_timestamp",
    "unknown_token",
    "expired_token",
    "replayed_handshake",
    "rate_limited",
    "pow_required",
    "unsupported_version",
    "bad_algorithm",
    "token_expired",
];
