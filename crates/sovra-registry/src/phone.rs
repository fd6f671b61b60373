//! Phone numbers: parsed and normalized to E.164, then never kept in clear.
//!
//! The registry stores `HMAC-SHA-256(pepper, E.164)`. Phone numbers are a small, enumerable
//! space, so a plain hash would be reversed by brute force in minutes; the pepper is a secret
//! generated at first start (mode 0600) and never leaves the registry. Each stored hash carries
//! the pepper's version so the pepper can be replaced later by rehashing at next verification.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::RegistryError;

/// Longest input considered; anything longer is not a phone number.
const MAX_INPUT: usize = 64;

/// Parses a number in international form (`+` and country code) and returns it as E.164.
pub fn normalize(input: &str) -> Result<String, RegistryError> {
    let input = input.trim();
    if input.len() > MAX_INPUT {
        return Err(RegistryError::InvalidPhone(
            "longer than any phone number".into(),
        ));
    }
    // Only what a phone number is written with: an extension or an invisible character (a
    // direction mark, a zero-width space) would be dropped by the parser, so the number
    // verified would not be the text asked for.
    if let Some(c) = input
        .chars()
        .find(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.')))
    {
        return Err(RegistryError::InvalidPhone(format!(
            "{c:?} is not part of a phone number: digits, spaces and + ( ) - . only, no extension"
        )));
    }
    if !input.starts_with('+') {
        return Err(RegistryError::InvalidPhone(
            "give the number in international form, starting with + and the country code".into(),
        ));
    }
    let number = phonenumber::parse(None, input)
        .map_err(|e| RegistryError::InvalidPhone(format!("not a phone number: {e}")))?;
    if !number.is_valid() {
        return Err(RegistryError::InvalidPhone(
            "not a valid number for its country".into(),
        ));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// The country calling code of an E.164 number (`+44…` → 44).
pub fn country_code(e164: &str) -> Option<u16> {
    phonenumber::parse(None, e164)
        .ok()
        .map(|n| n.country().code())
}

/// Parses once so the first real request does not pay for loading the metadata (~70 ms).
pub fn warm_up() {
    let _ = normalize("+14155552671");
}

/// Keyed hashing of E.164 numbers.
pub struct PhoneHasher {
    pepper: Zeroizing<[u8; 32]>,
    version: i64,
}

impl PhoneHasher {
    pub fn new(pepper: Zeroizing<[u8; 32]>, version: i64) -> Self {
        PhoneHasher { pepper, version }
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    /// Hex HMAC of the E.164 form under the pepper.
    pub fn hash(&self, e164: &str) -> String {
        self.mac(&[b"phone", e164.as_bytes()])
    }

    /// Hex HMAC binding a verification code to its verification id, so stored codes are not
    /// readable from the database either.
    pub fn code_mac(&self, verification_id: &str, code: &str) -> String {
        self.mac(&[b"code", verification_id.as_bytes(), code.as_bytes()])
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.pepper.as_ref())
            .expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        sovra_proto::encoding::hex(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalize_to_e164() {
        assert_eq!(normalize("+1 415-555-2671").unwrap(), "+14155552671");
        assert_eq!(normalize(" +44 20 7946 0958 ").unwrap(), "+442079460958");
        assert_eq!(normalize("+33 6 12 34 56 78").unwrap(), "+33612345678");
        for bad in [
            "",
            "4155552671",
            "+1 555",
            "+999 1234567",
            "hello",
            "+1 415 555 2671 9999 9999",
        ] {
            let e = normalize(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_phone", "{bad:?}");
        }
        assert!(normalize(&format!("+1{}", "5".repeat(100))).is_err());
    }

    #[test]
    fn hashes_depend_on_the_pepper() {
        let a = PhoneHasher::new(Zeroizing::new([1; 32]), 1);
        let b = PhoneHasher::new(Zeroizing::new([2; 32]), 1);
        assert_eq!(a.hash("+14155552671"), a.hash("+14155552671"));
        assert_ne!(a.hash("+14155552671"), b.hash("+14155552671"));
        assert_ne!(a.hash("+14155552671"), a.hash("+14155552672"));
        assert!(!a.hash("+14155552671").contains("4155552671"));
    }
}
