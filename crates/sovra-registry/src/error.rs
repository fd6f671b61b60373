//! Every way the registry refuses, with its stable code and HTTP status (docs/PROTOCOL.md §16.6).

use sovra_http::ApiError;
use sovra_proto::ProtoError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("{0}")]
    InvalidPhone(String),
    #[error("{0}")]
    InvalidHandle(String),
    #[error("{handle} is reserved")]
    ReservedHandle { handle: String },
    #[error("{handle} is taken (or too close to a handle that is)")]
    HandleTaken { handle: String },
    #[error("this key already belongs to another handle")]
    KeyTaken,
    #[error("no such verification")]
    UnknownVerification,
    #[error("the code has expired; ask for a new one")]
    CodeExpired,
    #[error("the code was already used")]
    CodeUsed,
    #[error("wrong code; {attempts_left} tries left")]
    WrongCode { attempts_left: u32 },
    #[error("too many wrong codes; ask for a new one")]
    LockedOut,
    #[error("too many codes requested; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(
        "this phone's cloud was active in the last 7 days; recovery without its key opens in {retry_after_secs} s"
    )]
    RegistrationLocked { retry_after_secs: u64 },
    #[error("the verified phone does not own this handle")]
    PhoneMismatch,
    #[error("no cloud is registered for this phone")]
    NotRegistered,
    #[error("no such handle")]
    UnknownHandle,
    #[error("{handle} is now {successor}")]
    HandleChanged { handle: String, successor: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{handle} is suspended by the registry's operator: {reason}")]
    Suspended { handle: String, reason: String },
    #[error("{handle} was taken down by the registry's operator")]
    TakenDown { handle: String },
    #[error("the SMS could not be sent: {0}")]
    SmsFailed(String),
    #[error(transparent)]
    Protocol(#[from] ProtoError),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

impl RegistryError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::InvalidPhone(_) => "invalid_phone",
            RegistryError::InvalidHandle(_) => "invalid_handle",
            RegistryError::ReservedHandle { .. } => "reserved_handle",
            RegistryError::HandleTaken { .. } => "handle_taken",
            RegistryError::KeyTaken => "key_taken",
            RegistryError::UnknownVerification => "unknown_verification",
            RegistryError::CodeExpired => "code_expired",
            RegistryError::CodeUsed => "code_used",
            RegistryError::WrongCode { .. } => "wrong_code",
            RegistryError::LockedOut => "locked_out",
            RegistryError::RateLimited { .. } => "rate_limited",
            RegistryError::RegistrationLocked { .. } => "registration_locked",
            RegistryError::PhoneMismatch => "phone_mismatch",
            RegistryError::NotRegistered => "not_registered",
            RegistryError::UnknownHandle => "unknown_handle",
            RegistryError::HandleChanged { .. } => "handle_changed",
            RegistryError::Conflict(_) => "conflict",
            RegistryError::Suspended { .. } => "suspended",
            RegistryError::TakenDown { .. } => "taken_down",
            RegistryError::SmsFailed(_) => "sms_failed",
            RegistryError::Protocol(e) => e.code(),
            RegistryError::Storage(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            RegistryError::InvalidPhone(_)
            | RegistryError::InvalidHandle(_)
            | RegistryError::ReservedHandle { .. } => 400,
            RegistryError::WrongCode { .. } => 401,
            RegistryError::PhoneMismatch | RegistryError::Suspended { .. } => 403,
            RegistryError::UnknownVerification
            | RegistryError::NotRegistered
            | RegistryError::UnknownHandle => 404,
            RegistryError::HandleTaken { .. }
            | RegistryError::KeyTaken
            | RegistryError::CodeUsed
            | RegistryError::Conflict(_) => 409,
            RegistryError::CodeExpired
            | RegistryError::HandleChanged { .. }
            | RegistryError::TakenDown { .. } => 410,
            RegistryError::RegistrationLocked { .. } => 423,
            RegistryError::LockedOut | RegistryError::RateLimited { .. } => 429,
            RegistryError::SmsFailed(_) => 502,
            RegistryError::Protocol(e) => e.http_status(),
            RegistryError::Storage(_) => 500,
        }
    }
}

/// Every registry code (defined with the wire format, in `sovra_proto::registry`).
pub use sovra_proto::registry::ERROR_CODES;

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Storage(e) => ApiError::internal(e),
            e => ApiError::new(e.status(), e.code(), e.to_string()),
        }
    }
}
