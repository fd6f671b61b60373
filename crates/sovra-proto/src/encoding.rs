//! Text encodings of binary fields on the wire.
//!
//! Keys, signatures and sealed blobs travel as standard base64 with padding (RFC 4648 §4).
//! Decoding is strict (no whitespace, no missing padding, no non-canonical trailing bits) so
//! that a value has exactly one text form and signatures over the raw bytes cannot be
//! confused by alternative spellings.

use data_encoding::{BASE64, HEXLOWER};

use crate::error::ProtoError;

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(bytes)
}

/// Decodes a base64 field of any length, refusing anything longer than `max` decoded bytes.
pub fn b64_decode(field: &'static str, text: &str, max: usize) -> Result<Vec<u8>, ProtoError> {
    let too_long = |got: usize| ProtoError::WrongSize {
        field,
        expected: format!("at most {max} bytes"),
        got,
    };
    // A cheap bound before allocating: base64 is 4 chars per 3 bytes, so longer text cannot
    // decode to `max` bytes or fewer.
    if text.len() > max.div_ceil(3) * 4 {
        return Err(too_long(text.len() / 4 * 3));
    }
    let bytes = decode_strict(field, text)?;
    // The limit is on the bytes: the text bound above lets up to two more through.
    if bytes.len() > max {
        return Err(too_long(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes a base64 field that must be exactly `N` bytes.
pub fn b64_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], ProtoError> {
    exact(field, &decode_strict(field, text)?)
}

/// Base64 with exactly one text per value. `data-encoding` alone also accepts padded blocks
/// in the middle (`YQ==YQ==`, a concatenation), a second spelling of the same bytes; so the
/// text must be what encoding the bytes gives back (found by tests/fuzz.rs).
fn decode_strict(field: &'static str, text: &str) -> Result<Vec<u8>, ProtoError> {
    let bad = || ProtoError::BadEncoding {
        field,
        encoding: "base64",
    };
    let bytes = BASE64.decode(text.as_bytes()).map_err(|_| bad())?;
    if BASE64.encode_len(bytes.len()) != text.len() || BASE64.encode(&bytes) != text {
        return Err(bad());
    }
    Ok(bytes)
}

/// Decodes a lowercase hex field that must be exactly `N` bytes.
pub fn hex_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], ProtoError> {
    let bytes = HEXLOWER
        .decode(text.as_bytes())
        .map_err(|_| ProtoError::BadEncoding {
            field,
            encoding: "lowercase hex",
        })?;
    exact(field, &bytes)
}

fn exact<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], ProtoError> {
    <[u8; N]>::try_from(bytes).map_err(|_| ProtoError::WrongSize {
        field,
        expected: N.to_string(),
        got: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(b64(b"ab"), "YWI=");
        assert!(b64_decode("x", "YWI=", 10).is_ok());
        // Missing padding, whitespace and non-canonical trailing bits are refused.
        assert_eq!(
            b64_decode("x", "YWI", 10).unwrap_err().code(),
            "bad_encoding"
        );
        assert_eq!(
            b64_decode("x", "YW I=", 10).unwrap_err().code(),
            "bad_encoding"
        );
        assert_eq!(
            b64_decode("x", "YWJ=", 10).unwrap_err().code(),
            "bad_encoding"
        );
        assert_eq!(
            b64_decode("x", "YWJjZGVm", 3).unwrap_err().code(),
            "wrong_size"
        );
        // Padding only at the end: a padded block in the middle is a second spelling.
        for text in ["YQ==YQ==", "+aA0aac=0AAA"] {
            assert_eq!(
                b64_decode("x", text, 10).unwrap_err().code(),
                "bad_encoding",
                "{text}"
            );
        }
    }

    #[test]
    fn arrays_check_length() {
        assert_eq!(b64_array::<2>("x", "YWI=").unwrap(), *b"ab");
        assert_eq!(
            b64_array::<3>("x", "YWI=").unwrap_err().code(),
            "wrong_size"
        );
        assert_eq!(hex_array::<1>("x", "0a").unwrap(), [10]);
        assert_eq!(
            hex_array::<1>("x", "0A").unwrap_err().code(),
            "bad_encoding"
        );
    }
}
