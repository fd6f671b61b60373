//! Canonical byte strings: what exactly gets signed, hashed and bound as AEAD associated data.
//!
//! JSON is never signed. Every signed or bound thing is rebuilt from its fields as
//!
//! ```text
//! label || 0x00 || field_1 || field_2 || … || field_n
//! ```
//!
//! where `label` is an ASCII domain-separation string such as `rapp-d2d/1.0/handshake`,
//! every field is `u32_be(len) || bytes`, integers are fields of 8 bytes (`u64_be`), and
//! lists are a `u64_be` count field followed by their elements. Because each field carries its
//! length and each purpose its own label, no two different objects can produce the same bytes,
//! and a signature made for one purpose can never verify for another. docs/PROTOCOL.md
//! §Canonical bytes lists every label with its fields.

/// Builder for one canonical byte string.
#[derive(Debug, Clone)]
pub struct Canonical(Vec<u8>);

impl Canonical {
    /// Starts a byte string for the purpose named by `label`.
    pub fn new(label: &str) -> Self {
        let mut buf = Vec::with_capacity(label.len() + 1 + 256);
        buf.extend_from_slice(label.as_bytes());
        buf.push(0);
        Canonical(buf)
    }

    /// Appends a length-prefixed byte field.
    pub fn bytes(mut self, field: &[u8]) -> Self {
        let len = u32::try_from(field.len()).expect("canonical field longer than 4 GiB");
        self.0.reserve(4 + field.len());
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(field);
        self
    }

    /// Appends a UTF-8 string field.
    pub fn str(self, field: &str) -> Self {
        self.bytes(field.as_bytes())
    }

    /// Appends an integer field (8 bytes, big-endian).
    pub fn u64(self, value: u64) -> Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a list: its length as an integer field, then each element as a string field.
    pub fn str_list<'a>(mut self, items: impl ExactSizeIterator<Item = &'a str>) -> Self {
        self = self.u64(items.len() as u64);
        for item in items {
            self = self.str(item);
        }
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_exactly_as_documented() {
        let got = Canonical::new("L").str("ab").u64(1).finish();
        assert_eq!(
            got,
            [
                b'L', 0, // label and separator
                0, 0, 0, 2, b'a', b'b', // "ab"
                0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, // 1u64
            ]
        );
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = Canonical::new("L").str("ab").str("c").finish();
        let b = Canonical::new("L").str("a").str("bc").finish();
        assert_ne!(a, b);
    }
}
