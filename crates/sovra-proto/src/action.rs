//! Federation action tokens (docs/PROTOCOL.md §23): the second surface of a cloud, beside D2D.
//!
//! An action (a follow, a post, a reaction, a file share…) is a compact JWS whose claims are
//! Cloudillo's (`iss`, `k`, `t`, `c`, `p`, `a`, `aud`, `sub`, `iat`, `exp`, `_`), so a Sovra
//! cloud and a Cloudillo instance can check each other's actions. Sovra signs with EdDSA (the
//! cloud's Ed25519 key) and verifies EdDSA and ES384 (Cloudillo's P-384). The algorithm is
//! *the key's*: a header naming anything else than what the issuer's published key is for is
//! refused before any signature check, so `none`, HS256-with-the-public-key and ES/EdDSA
//! confusion have no way in.
//!
//! JWS signing input is `base64url(header) "." base64url(payload)`: ASCII that always starts
//! with `eyJ` and holds no 0x00, while every other Sovra signature covers canonical bytes that
//! start with a `rapp-…`/`sovra-…` label followed by 0x00 (§4). A signature for one can never
//! verify as the other.
//!
//! Ids are content addresses: an action's is `a1~` + base64url(SHA-256(token text)), a file's
//! `f1~` + base64url(SHA-256(bytes)).

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::encoding::{b64, b64_decode};
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair};

/// The largest token accepted, in bytes of its compact text.
pub const MAX_TOKEN: usize = 32 * 1024;
/// Attachments (`a`) one action may name.
pub const MAX_ATTACHMENTS: usize = 32;
/// The longest `iss`, `aud` (an id tag: a Sovra handle or a domain).
pub const MAX_ID_TAG: usize = 255;
/// The longest `k`, `p`, `sub`, `f`.
pub const MAX_REF: usize = 128;
/// How far in the future `iat` may be (seconds), for clock skew.
pub const MAX_FUTURE_IAT: i64 = 300;
/// The header Sovra signs with: exactly these bytes, base64url-encoded.
pub const EDDSA_HEADER: &str = r#"{"alg":"EdDSA","typ":"JWT"}"#;

const ED25519_SPKI: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const P384_SPKI: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

/// A key an issuer publishes in its profile (`keys[].publicKey`): standard base64 of the DER
/// SubjectPublicKeyInfo, as Cloudillo publishes the body of its PEM.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ActionKey {
    Ed25519(PublicKey),
    /// An uncompressed SEC1 point (0x04 ‖ X ‖ Y), checked on the curve when a signature is.
    P384(Box<[u8; 97]>),
}

impl ActionKey {
    pub fn from_spki_b64(text: &str) -> Result<ActionKey, ProtoError> {
        let der = b64_decode("publicKey", text, 256)?;
        if let Some(raw) = der.strip_prefix(&ED25519_SPKI[..]) {
            let raw: [u8; 32] = raw.try_into().map_err(|_| ProtoError::WrongSize {
                field: "publicKey",
                expected: "44 bytes for Ed25519".into(),
                got: der.len(),
            })?;
            return Ok(ActionKey::Ed25519(PublicKey::from_bytes(
                "publicKey",
                &raw,
            )?));
        }
        if let Some(point) = der.strip_prefix(&P384_SPKI[..]) {
            let point: [u8; 97] = point.try_into().map_err(|_| ProtoError::WrongSize {
                field: "publicKey",
                expected: "120 bytes for P-384".into(),
                got: der.len(),
            })?;
            if point[0] != 0x04 {
                return Err(ProtoError::malformed(
                    "publicKey",
                    "not an uncompressed point",
                ));
            }
            return Ok(ActionKey::P384(Box::new(point)));
        }
        Err(ProtoError::BadAlgorithm(
            "publicKey is neither Ed25519 nor P-384".into(),
        ))
    }

    pub fn to_spki_b64(&self) -> String {
        let mut der = Vec::with_capacity(120);
        match self {
            ActionKey::Ed25519(k) => {
                der.extend_from_slice(&ED25519_SPKI);
                der.extend_from_slice(k.as_bytes());
            }
            ActionKey::P384(p) => {
                der.extend_from_slice(&P384_SPKI);
                der.extend_from_slice(&p[..]);
            }
        }
        b64(&der)
    }

    /// The JWS `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            ActionKey::Ed25519(_) => "EdDSA",
            ActionKey::P384(_) => "ES384",
        }
    }

    /// The key id Sovra publishes its keys under (`k`): the key's `daemon_id` (§2).
    pub fn sovra_key_id(key: &PublicKey) -> String {
        key.daemon_id()
    }

    fn verify(&self, input: &[u8], sig: &[u8]) -> Result<(), ProtoError> {
        let bad = ProtoError::BadSignature {
            what: "action token",
        };
        match self {
            ActionKey::Ed25519(k) => {
                let sig: [u8; 64] = sig.try_into().map_err(|_| bad.clone())?;
                k.verify("action token", input, &sig)
            }
            ActionKey::P384(point) => {
                use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, UnparsedPublicKey};
                UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point[..])
                    .verify(input, sig)
                    .map_err(|_| bad)
            }
        }
    }
}

/// An action's claims, named as Cloudillo names them.
/// Claims this implementation does not know are ignored (Cloudillo may add some).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionClaims {
    /// The issuer's id tag: a Sovra handle (`@alice.cloud`) or a Cloudillo domain.
    pub iss: String,
    /// The id of the issuer's key that signed (`keys[].keyId` of its profile).
    pub k: String,
    /// The type, with an optional subtype: `FLLW`, `CONN`, `CONN:DEL`, `REACT:LIKE`…
    pub t: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<Value>,
    /// Parent action id (threads: a comment's post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// Attached file ids (`f1~…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// What the action is about without being its child (the CONN an APRV approves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Seconds since the Unix epoch.
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Cloudillo's capability flags; carried, not interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<String>,
    /// Visibility: `P` public; absent: only issuer and audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
    /// The proof-of-work nonce of a `CONN` (§23.4).
    #[serde(rename = "_", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl ActionClaims {
    /// Claims with the required fields; the rest set by the caller.
    pub fn new(iss: &str, k: &str, t: &str, iat: i64) -> ActionClaims {
        ActionClaims {
            iss: iss.into(),
            k: k.into(),
            t: t.into(),
            c: None,
            p: None,
            a: None,
            aud: None,
            sub: None,
            iat,
            exp: None,
            f: None,
            v: None,
            nonce: None,
        }
    }

    /// The type without its subtype (`REACT` of `REACT:LIKE`).
    pub fn base_type(&self) -> &str {
        self.t.split(':').next().unwrap_or("")
    }

    /// The subtype, if any (`DEL` of `CONN:DEL`).
    pub fn subtype(&self) -> Option<&str> {
        self.t.split_once(':').map(|(_, s)| s)
    }

    pub fn is_public(&self) -> bool {
        self.v.as_deref() == Some("P")
    }

    /// The rules every token's claims keep, whoever signed it.
    fn check(&self) -> Result<(), ProtoError> {
        let len = |field: &'static str, v: &str, max: usize| match v.is_empty() || v.len() > max {
            true => Err(ProtoError::malformed(
                "action token",
                format!("`{field}` must be 1 to {max} bytes"),
            )),
            false => Ok(()),
        };
        len("iss", &self.iss, MAX_ID_TAG)?;
        len("k", &self.k, MAX_REF)?;
        for (field, v, max) in [
            ("aud", &self.aud, MAX_ID_TAG),
            ("p", &self.p, MAX_REF),
            ("sub", &self.sub, MAX_REF),
            ("f", &self.f, MAX_REF),
            ("_", &self.nonce, MAX_REF),
        ] {
            if let Some(v) = v {
                len(field, v, max)?;
            }
        }
        if !valid_type(&self.t) {
            return Err(ProtoError::malformed(
                "action token",
                "`t` must be 2 to 8 capitals, optionally `:` and 1 to 16 capitals",
            ));
        }
        if let Some(a) = &self.a {
            if a.len() > MAX_ATTACHMENTS {
                return Err(ProtoError::TooMany {
                    field: "a",
                    max: MAX_ATTACHMENTS,
                    got: a.len(),
                });
            }
            for id in a {
                parse_file_id(id)?;
            }
        }
        if let Some(exp) = self.exp
            && exp <= self.iat
        {
            return Err(ProtoError::malformed(
                "action token",
                "`exp` is not after `iat`",
            ));
        }
        Ok(())
    }
}

fn valid_type(t: &str) -> bool {
    let caps = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_uppercase())
    };
    match t.split_once(':') {
        Some((base, sub)) => base.len() >= 2 && caps(base, 8) && caps(sub, 16),
        None => t.len() >= 2 && caps(t, 8),
    }
}

/// A token taken apart but not yet verified: what is needed to find the issuer's key.
#[derive(Clone, Debug)]
pub struct UnverifiedAction {
    pub token: String,
    pub alg: String,
    pub claims: ActionClaims,
    signing_input_len: usize,
    signature: Vec<u8>,
}

impl UnverifiedAction {
    /// The content address of the token.
    pub fn id(&self) -> String {
        action_id(&self.token)
    }

    /// Verifies the signature with the issuer's key `key` and the token's times against
    /// `now` (unix seconds). The header's `alg` must be the one `key` is for.
    pub fn verify(&self, key: &ActionKey, now: i64) -> Result<&ActionClaims, ProtoError> {
        if self.alg != key.alg() {
            return Err(ProtoError::BadAlgorithm(format!(
                "the token says {} but the issuer's key is for {}",
                self.alg,
                key.alg()
            )));
        }
        key.verify(
            &self.token.as_bytes()[..self.signing_input_len],
            &self.signature,
        )?;
        if self.claims.iat > now + MAX_FUTURE_IAT {
            return Err(ProtoError::StaleTimestamp {
                at: self.claims.iat.to_string(),
            });
        }
        if let Some(exp) = self.claims.exp
            && exp <= now
        {
            return Err(ProtoError::TokenExpired);
        }
        Ok(&self.claims)
    }
}

fn b64url_decode(field: &'static str, text: &str) -> Result<Vec<u8>, ProtoError> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| ProtoError::BadEncoding {
            field,
            encoding: "base64url",
        })
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// Takes a compact JWS apart: sizes, encodings, header and claims rules. No signature check:
/// the caller finds the issuer's key by `claims.iss` and `claims.k`, then calls `verify`.
pub fn parse(token: &str) -> Result<UnverifiedAction, ProtoError> {
    if token.len() > MAX_TOKEN {
        return Err(ProtoError::WrongSize {
            field: "token",
            expected: format!("at most {MAX_TOKEN} bytes"),
            got: token.len(),
        });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProtoError::malformed(
            "action token",
            "not a compact JWS (three base64url parts joined by dots)",
        ));
    };
    let header: Header = serde_json::from_slice(&b64url_decode("token header", h)?)
        .map_err(|e| ProtoError::malformed("action token header", e.to_string()))?;
    if header.crit.is_some() {
        return Err(ProtoError::malformed(
            "action token header",
            "`crit` extensions are not supported",
        ));
    }
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(ProtoError::malformed(
            "action token header",
            "`typ` is not JWT",
        ));
    }
    if !matches!(header.alg.as_str(), "EdDSA" | "ES384") {
        return Err(ProtoError::BadAlgorithm(format!(
            "`{}` is not accepted (EdDSA or ES384 only)",
            header.alg
        )));
    }
    let claims: ActionClaims = serde_json::from_slice(&b64url_decode("token payload", p)?)
        .map_err(|e| ProtoError::malformed("action token", e.to_string()))?;
    claims.check()?;
    let signature = b64url_decode("token signature", s)?;
    let want = match header.alg.as_str() {
        "EdDSA" => 64,
        _ => 96,
    };
    if signature.len() != want {
        return Err(ProtoError::WrongSize {
            field: "token signature",
            expected: want.to_string(),
            got: signature.len(),
        });
    }
    Ok(UnverifiedAction {
        token: token.to_owned(),
        alg: header.alg,
        claims,
        signing_input_len: h.len() + 1 + p.len(),
        signature,
    })
}

/// Signs `claims` with an Ed25519 key: the compact JWS, header [`EDDSA_HEADER`].
pub fn sign(key: &SigningKeypair, claims: &ActionClaims) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialize");
    let mut token = BASE64URL_NOPAD.encode(EDDSA_HEADER.as_bytes());
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&payload));
    let sig = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&sig));
    token
}

/// Cloudillo's proof of work for `CONN`: the number of `A`s the token text ends with.
pub fn work(token: &str) -> usize {
    token.bytes().rev().take_while(|b| *b == b'A').count()
}

/// Signs `claims` with a `_` nonce counted up until the token ends in `chars` `A`s (the
/// last character of an Ed25519 signature carries 2 bits, every other 6: about
/// 2^(6·chars − 4) signatures).
pub fn sign_with_work(key: &SigningKeypair, claims: &ActionClaims, chars: usize) -> String {
    let mut claims = claims.clone();
    (0u64..)
        .map(|n| {
            claims.nonce = Some(n.to_string());
            sign(key, &claims)
        })
        .find(|t| work(t) >= chars)
        .expect("a nonce exists")
}

fn address(prefix: &str, bytes: &[u8]) -> String {
    format!(
        "{prefix}1~{}",
        BASE64URL_NOPAD.encode(&Sha256::digest(bytes))
    )
}

/// An action's id: `a1~` + base64url(SHA-256(token)).
pub fn action_id(token: &str) -> String {
    address("a", token.as_bytes())
}

/// A file's id: `f1~` + base64url(SHA-256(bytes)).
pub fn file_id(bytes: &[u8]) -> String {
    address("f", bytes)
}

fn parse_id(prefix: &'static str, id: &str) -> Result<[u8; 32], ProtoError> {
    let bad = || ProtoError::malformed("id", format!("`{id}` is not a {prefix} content address"));
    let rest = id.strip_prefix(prefix).ok_or_else(bad)?;
    let digest = b64url_decode("id", rest).map_err(|_| bad())?;
    digest.try_into().map_err(|_| bad())
}

/// The SHA-256 digest an action id names.
pub fn parse_action_id(id: &str) -> Result<[u8; 32], ProtoError> {
    parse_id("a1~", id)
}

/// The SHA-256 digest a file id names.
pub fn parse_file_id(id: &str) -> Result<[u8; 32], ProtoError> {
    parse_id("f1~", id)
}

/// Whether `bytes` are the file `id` names (a receiver checks every file it fetches).
pub fn file_matches(id: &str, bytes: &[u8]) -> bool {
    parse_file_id(id).is_ok_and(|d| d == <[u8; 32]>::from(Sha256::digest(bytes)))
}

mod profile;
pub use profile::{Envelope, InboxRequest, Profile, ProfileKey};

pub mod owner;

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKeypair {
        SigningKeypair::from_seed(&[7; 32])
    }

    #[test]
    fn signs_and_verifies() {
        let k = key();
        let mut c = ActionClaims::new("@a.cloud", "k1", "POST", 1_000);
        c.c = Some(serde_json::json!({"text": "hi"}));
        let t = sign(&k, &c);
        let u = parse(&t).unwrap();
        assert_eq!(
            u.verify(&ActionKey::Ed25519(k.public()), 1_000).unwrap(),
            &c
        );
        assert!(action_id(&t).starts_with("a1~") && action_id(&t).len() == 46);
        let spki = ActionKey::Ed25519(k.public()).to_spki_b64();
        assert_eq!(
            ActionKey::from_spki_b64(&spki).unwrap(),
            ActionKey::Ed25519(k.public())
        );
    }

    #[test]
    fn refuses_other_algorithms_and_tampering() {
        let k = key();
        let t = sign(&k, &ActionClaims::new("@a.cloud", "k1", "FLLW", 1_000));
        let (_, rest) = t.split_once('.').unwrap();
        for alg in ["none", "HS256", "RS256"] {
            let h = BASE64URL_NOPAD.encode(format!(r#"{{"alg":"{alg}"}}"#).as_bytes());
            let e = parse(&format!("{h}.{rest}")).unwrap_err();
            assert_eq!(e.code(), "bad_algorithm", "{alg}");
        }
        let h = BASE64URL_NOPAD.encode(br#"{"alg":"ES384"}"#);
        let forged = format!(
            "{h}.{}.{}",
            rest.split('.').next().unwrap(),
            "A".repeat(128)
        );
        let e = parse(&forged)
            .unwrap()
            .verify(&ActionKey::Ed25519(k.public()), 1_000)
            .unwrap_err();
        assert_eq!(e.code(), "bad_algorithm");
        let mut bad = t.clone();
        bad.replace_range(bad.len() - 3..bad.len() - 2, "x");
        let e =
            parse(&bad).and_then(|u| u.verify(&ActionKey::Ed25519(k.public()), 1_000).map(|_| ()));
        assert!(e.is_err());
    }

    #[test]
    fn times_and_types() {
        let k = key();
        let mut c = ActionClaims::new("@a.cloud", "k1", "FLLW", 1_000);
        c.exp = Some(2_000);
        let u = parse(&sign(&k, &c)).unwrap();
        let pk = ActionKey::Ed25519(k.public());
        assert_eq!(u.verify(&pk, 2_000).unwrap_err().code(), "token_expired");
        assert_eq!(u.verify(&pk, 600).unwrap_err().code(), "stale_timestamp");
        for t in ["fllw", "F", "FOLLOWERSX", "REACT:", "REACT:like"] {
            let c = ActionClaims::new("@a.cloud", "k1", t, 1);
            assert_eq!(parse(&sign(&k, &c)).unwrap_err().code(), "malformed", "{t}");
        }
    }

    #[test]
    fn work_counts_trailing_capital_a() {
        let k = key();
        let t = sign_with_work(&k, &ActionClaims::new("@a.cloud", "k1", "CONN", 1), 2);
        assert!(work(&t) >= 2);
        assert!(parse(&t).unwrap().claims.nonce.is_some());
    }

    /// A P-384 issuer, as a Cloudillo instance signs (jsonwebtoken's ES384: r ‖ s, 96 bytes).
    pub(crate) fn es384_token(claims: &ActionClaims) -> (String, String) {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point: [u8; 97] = kp.public_key().as_ref().try_into().unwrap();
        let h = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ES384"}"#);
        let p = BASE64URL_NOPAD.encode(&serde_json::to_vec(claims).unwrap());
        let input = format!("{h}.{p}");
        let sig = kp.sign(&rng, input.as_bytes()).unwrap();
        let token = format!("{input}.{}", BASE64URL_NOPAD.encode(sig.as_ref()));
        (token, ActionKey::P384(Box::new(point)).to_spki_b64())
    }

    #[test]
    fn verifies_cloudillo_es384() {
        let c = ActionClaims::new("bob.example.com", "20250101", "FLLW", 1_000);
        let (token, spki) = es384_token(&c);
        let p384 = ActionKey::from_spki_b64(&spki).unwrap();
        assert_eq!(p384.alg(), "ES384");
        assert_eq!(parse(&token).unwrap().verify(&p384, 1_000).unwrap(), &c);
        // The same claims presented as EdDSA with the P-384 key: refused by algorithm.
        let k = key();
        let ed = sign(&k, &c);
        assert_eq!(
            parse(&ed).unwrap().verify(&p384, 1_000).unwrap_err().code(),
            "bad_algorithm"
        );
        let mut bad = token.clone();
        let n = bad.len();
        bad.replace_range(
            n - 10..n - 9,
            if &token[n - 10..n - 9] == "B" {
                "C"
            } else {
                "B"
            },
        );
        assert_eq!(
            parse(&bad)
                .unwrap()
                .verify(&p384, 1_000)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
    }
}
