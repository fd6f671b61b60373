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

/// As `parse`, for a time that must be near now (a `sent_at`): a well-formed RFC 3339 time
/// that a timestamp cannot hold (jiff's range ends on 9999-12-30, UTC) is `Ok(None)` — certainly
/// not near now, so the caller answers `stale_timestamp`, not `malformed`.
pub fn parse_near(field: &'static str, text: &str) -> Result<Option<Timestamp>, ProtoError> {
    match parse(field, text) {
        Ok(t) => Ok(Some(t)),
        Err(e) => match jiff::fmt::temporal::Pieces::parse(text) {
            Ok(p) if p.time().is_some() && p.offset().is_some() => Ok(None),
            _ => Err(e),
        },
    }
}

/// Formats a timestamp as RFC 3339 in UTC, truncated to whole seconds.
pub fn format(at: Timestamp) -> String {
    Timestamp::from_second(at.as_second())
        .expect("a valid timestamp truncated is valid")
        .to_string()
}

/// Unix milliseconds as RFC 3339 in UTC, with the milliseconds when there are any
/// (`2026-12-07T11:42:57.123Z`): how the owner API reports a time (§15). Out of range: empty.
pub fn format_ms(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Serde for a unix-milliseconds `i64` that travels as RFC 3339 text (`#[serde(with = …)]`).
pub mod as_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse("time", &text)
            .map(|t| t.as_millisecond())
            .map_err(serde::de::Error::custom)
    }
}

/// As [`as_rfc3339`], for an optional time (`null` when absent).
pub mod as_rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&super::format_ms(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                super::parse("time", &text)
                    .map(|t| t.as_millisecond())
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_times_keep_their_milliseconds() {
        assert_eq!(format_ms(1_796_990_577_123), "2026-12-11T12:02:57.123Z");
        assert_eq!(format_ms(1_796_990_577_000), "2026-12-11T12:02:57Z");
        assert_eq!(format_ms(1_796_990_577_120), "2026-12-11T12:02:57.12Z");
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "as_rfc3339")]
            at: i64,
            #[serde(with = "as_rfc3339_opt")]
            until: Option<i64>,
        }
        let t = T {
            at: 1_796_990_577_123,
            until: None,
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"at":"2026-12-11T12:02:57.123Z","until":null}"#);
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
    }

    #[test]
    fn round_trip_and_rejects() {
        let t = parse("t", "2027-04-19T00:00:00Z").unwrap();
        assert_eq!(format(t), "2027-04-19T00:00:00Z");
        assert!(parse("t", "2027-04-19T02:00:00+02:00").is_ok());
        assert_eq!(parse("t", "2027-04-19").unwrap_err().code(), "malformed");
        assert_eq!(parse("t", "yesterday").unwrap_err().code(), "malformed");
        assert_eq!(parse_near("t", "9999-12-31T23:59:59Z").unwrap(), None);
        assert!(parse_near("t", "2027-04-19T00:00:00Z").unwrap().is_some());
        assert_eq!(
            parse_near("t", "9999-12-31").unwrap_err().code(),
            "malformed"
        );
        assert_eq!(
            parse_near("t", "9999-13-31T00:00:00Z").unwrap_err().code(),
            "malformed"
        );
    }
}
