//! The node answers with the shared error body of `sovra-http`.

pub use sovra_http::{ApiError, ApiResult};
