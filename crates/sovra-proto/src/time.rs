//! Timestamps on the wire: RFC 3339 strings (`2027-04-19T00:00:00Z`), as the seed's
//! `expires_at`. A signature covers the exact string that was sent, so a timestamp is never
//! reformatted between parsing and verifying.

use jiff::Timestamp;

use crate::error::ProtoError;

/// Parses an RFC 3339 timestamp field (an offset is required; `Z` is preferred).
pub fn parse(field: &'static str, text: &str) -> Result<Timestamp, ProtoError> {
    if text.len() > 64 {
        return Err(ProtoError::WrongSize {
            field,
            expected: "at most 64".into(),
            got: text.len(),
        });
    }
    text.parse::<Timestamp>()
        .map_err(|_| ProtoError::malformed(field, "not an RFC 3339 timestamp"))
}

/// Formats a timestamp as RFC 3339 in UTC, truncated to whole seconds.
pub fn format(at: Timestamp) -> String {
    Timestamp::from_second(at.as_second())
        .expect("a valid timestamp truncated is valid")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let t = parse("t", "2027-04-19T00:00:00Z").unwrap();
        assert_eq!(format(t), "2027-04-19T00:00:00Z");
        assert!(parse("t", "2027-04-19T02:00:00+02:00").is_ok());
        assert_eq!(parse("t", "2027-04-19").unwrap_err().code(), "malformed");
        assert_eq!(parse("t", "yesterday").unwrap_err().code(), "malformed");
    }
}
