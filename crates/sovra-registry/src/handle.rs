//! Handles: `@name.<suffix>`, the suffix being the registry's domain.
//!
//! Names are lowercase `a-z`, `0-9` and inner `-`, 3–32 characters. Two handles that a human
//! could mistake for each other must not both exist, so uniqueness is decided on a *skeleton*:
//! the name case-folded, with hyphens dropped and look-alikes mapped to one character
//! (`0`→`o`, `1`/`i`→`l`, `rn`→`m`, `vv`→`w`, `5`→`s`). Non-ASCII input is refused outright
//! rather than mapped: a Cyrillic `а` has no place in a handle. Reserved names are compared by
//! skeleton too, so `adm1n` is as reserved as `admin`.

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

/// The look-alike-insensitive form of a name.
pub fn skeleton(name: &str) -> String {
    let folded: String = name
        .chars()
        .filter(|c| *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            '0' => 'o',
            '1' | 'i' => 'l',
            '5' => 's',
            c => c,
        })
        .collect();
    folded.replace("rn", "m").replace("vv", "w")
}

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
        assert_ne!(skeleton("alice"), skeleton("alicia"));
    }
}
