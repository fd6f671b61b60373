//! Proofs of work, one rule for both places Sovra asks for one (first contact at a relay,
//! §17.5, and with a cloud that requires it of strangers, §7.8): find a `counter` such that
//! SHA-256 of the puzzle's canonical bytes starts with `difficulty` zero bits.

/// Zero bits at the start of `digest`, most significant bit of the first byte first.
pub fn leading_zero_bits(digest: &[u8; 32]) -> u32 {
    let mut n = 0;
    for byte in digest {
        if *byte == 0 {
            n += 8;
        } else {
            n += byte.leading_zeros();
            break;
        }
    }
    n
}

/// Whether `digest` meets `difficulty`.
pub fn meets(digest: &[u8; 32], difficulty: u8) -> bool {
    leading_zero_bits(digest) >= u32::from(difficulty)
}

/// The smallest counter whose digest meets `difficulty` (2^difficulty tries on average).
pub fn solve(difficulty: u8, digest: impl Fn(u64) -> [u8; 32]) -> u64 {
    (0u64..)
        .find(|c| meets(&digest(*c), difficulty))
        .expect("a solution exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_across_bytes() {
        let mut d = [0u8; 32];
        d[2] = 0b0001_0000;
        assert_eq!(leading_zero_bits(&d), 19);
        assert!(meets(&d, 19) && !meets(&d, 20));
        assert_eq!(leading_zero_bits(&[0u8; 32]), 256);
    }
}
