//! Handles: `@name.<suffix>`, the suffix being the registry's domain.
//!
//! Names are lowercase `a-z`, `0-9` and inner `-`, 3–32 characters. Two handles that a human
//! could mistake for each other must not both exist, so uniqueness is decided on a *skeleton*:
//! the Unicode TR39 skeleton of the name (case-folded, hyphens dropped), which maps `m`→`rn`,
//! `0`→`o` and `1`→`l`, and then the look-alikes TR39 leaves out because it maps characters,
//! not sequences, to prototypes: `cl`→`d`, `vv`→`w`, `i`→`l`, `5`→`s`. Non-ASCII input is
//! refused outright rather than mapped: a Cyrillic `а` has no place in a handle. Reserved
//! names are compared by skeleton too, so `adm1n` is as reserved as `admin`.

use crate::error::RegistryError;

pub const MIN_NAME: usize = 3;
pub const MAX_NAME: usize = 32;

const RESERVED: &[&str] = &[
    "abuse",
    "admin",
    "administrator",
    "all",
    "api",
    "everyone",
    "help",
    "hostmaster",
    "info",
    "mail",
    "moderator",
    "null",
    "official",
    "postmaster",
    "registry",
    "relay",
    "root",
    "security",
    "sovra",
    "staff",
    "support",
    "system",
    "undefined",
    "webmaster",
    "www",
];

/// A handle that passed the syntax rules of this registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// `@name.domain`, lowercase: the form stored and served.
    pub full: String,
    pub name: String,
    /// The uniqueness key.
    pub skeleton: String,
}

/// The look-alike-insensitive form of a name. Stored with every handle: a change here must
/// bump `SKELETON_VERSION` so a registry recomputes the stored ones at start.
pub fn skeleton(name: &str) -> String {
    let folded: String = name
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_lowercase();
    let tr39: String = unicode_security::confusable_detection::skeleton(&folded)
        .collect::<String>()
        .to_lowercase();
    tr39.replace('i', "l")
        .replace('5', "s")
        .replace("cl", "d")
        .replace("vv", "w")
}

/// Which `skeleton` the stored skeletons were computed with (1: five substitutions; 2: TR39
/// plus sequences).
pub const SKELETON_VERSION: i64 = 2;

impl Handle {
    /// Accepts `name`, `@name` or `@name.domain` (any case) for this registry's `domain`.
    pub fn parse(input: &str, domain: &str) -> Result<Handle, RegistryError> {
        let bad = |m: String| Err(RegistryError::InvalidHandle(m));
        let trimmed = input.trim();
        if !trimmed.is_ascii() {
            return bad("handles use only a-z, 0-9 and '-'".into());
        }
        let lower = trimmed.to_ascii_lowercase();
        let bare = lower.strip_prefix('@').unwrap_or(&lower);
        let name = match bare.split_once('.') {
            None => bare,
            Some((name, suffix)) if suffix == domain => name,
            Some((_, suffix)) => {
                return bad(format!(
                    "this registry issues @name.{domain} handles, not .{suffix}"
                ));
            }
        };
        if name.len() < MIN_NAME || name.len() > MAX_NAME {
            return bad(format!("names are {MIN_NAME}-{MAX_NAME} characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || name.starts_with('-')
            || name.ends_with('-')
        {
            return bad("names are a-z, 0-9 and '-' (not first or last)".into());
        }
        let skeleton = skeleton(name);
        let full = format!("@{name}.{domain}");
        if RESERVED.iter().any(|r| self::skeleton(r) == skeleton) {
            return Err(RegistryError::ReservedHandle { handle: full });
        }
        sovra_proto::identity::validate_handle(&full)
            .map_err(|e| RegistryError::InvalidHandle(e.to_string()))?;
        Ok(Handle {
            full,
            name: name.to_owned(),
            skeleton,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(input: &str) -> &'static str {
        Handle::parse(input, "cloud")
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn syntax_case_and_domain() {
        let h = Handle::parse("@Alice.Cloud", "cloud").unwrap();
        assert_eq!(h.full, "@alice.cloud");
        assert_eq!(
            Handle::parse("alice", "cloud").unwrap().full,
            "@alice.cloud"
        );
        assert_eq!(code("@alice.other"), "invalid_handle");
        assert_eq!(code("ab"), "invalid_handle");
        assert_eq!(code(&"a".repeat(33)), "invalid_handle");
        assert_eq!(code("a_b_c"), "invalid_handle");
        assert_eq!(code("-abc"), "invalid_handle");
        assert_eq!(code("аlice"), "invalid_handle"); // Cyrillic а
        assert_eq!(code("kody-2"), "ok");
    }

    #[test]
    fn reserved_and_confusable() {
        assert_eq!(code("admin"), "reserved_handle");
        assert_eq!(code("adm1n"), "reserved_handle");
        assert_eq!(code("supp0rt"), "reserved_handle");
        assert_eq!(skeleton("alice"), skeleton("a1ice"));
        assert_eq!(skeleton("modern"), skeleton("modem"));
        assert_eq!(skeleton("al-ice"), skeleton("alice"));
        assert_eq!(skeleton("vvill"), skeleton("will"));
        assert_eq!(skeleton("claniel"), skeleton("daniel"));
        assert_eq!(skeleton("b0b"), skeleton("bob"));
        assert_eq!(skeleton("5am"), skeleton("sarn"));
        assert_eq!(skeleton("billy"), skeleton("bi11y"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
        assert_ne!(skeleton("dan"), skeleton("don"));
    }
}
