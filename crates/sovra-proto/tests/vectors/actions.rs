//! actions.json: federation action tokens (docs/PROTOCOL.md §23) — EdDSA tokens from a fixed
//! seed, a CONN with its proof of work, a file id, an ES384 token signed once by Python's
//! `cryptography` (ECDSA is randomized, so it is frozen here, not regenerated), and tokens
//! that must fail with their error codes. Ids are rebuilt here with sha2 directly.

use super::*;
use data_encoding::BASE64URL_NOPAD;
use sovra_proto::action::{self, ActionClaims, ActionKey};

const ISSUER_SEED: [u8; 32] = [0xac; 32];
/// 2026-11-21T12:00:00Z, the vectors' `now`, in seconds.
const NOW_SECS: i64 = 1_795_262_400;
const ES384_SPKI: &str = "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEPn4KD02XhO9aDIUJiqWrrSJ09LMaNRuftacXPcKvlYneLzF204aIm7m3iW3B2UlGpy30/WFp8xFbtkbskV+gRsMJFkutc+n0CnfSWei7kfd1th7vWN2Ni0ljRoupvSu5";
const ES384_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJjbC5leGFtcGxlLm9yZyIsImsiOiIyMDI2MTEyMSIsInQiOiJGTExXIiwiYXVkIjoiQGJvYi5jbG91ZCIsImlhdCI6MTc5NTI2MjQwMH0.G9Jp71_v6ucS2NJ-TS9jfVkbr5V83vaQmaPleIAPG982L3gfvLHhwB_wrjCOEXm4J_09IoO7CzGRsfacfufZchTf7R9clyV8k5WE_RjLQ5_Sjy4vWj21d7UZcxtZtDwJ";

fn content_address(prefix: &str, bytes: &[u8]) -> String {
    format!(
        "{prefix}1~{}",
        BASE64URL_NOPAD.encode(&sha2::Sha256::digest(bytes))
    )
}

fn b64url_json(v: &Value) -> String {
    BASE64URL_NOPAD.encode(&serde_json::to_vec(v).unwrap())
}

fn token_json(name: &str, token: &str, claims: &ActionClaims, work: usize) -> Value {
    let (input, _) = token.rsplit_once('.').unwrap();
    json!({
        "name": name,
        "claims": claims,
        "signing_input": input,
        "token": token,
        "action_id": content_address("a", token.as_bytes()),
        "work": work,
    })
}

pub fn actions_vector() -> Value {
    let key = SigningKeypair::from_seed(&ISSUER_SEED);
    let key_id = ActionKey::sovra_key_id(&key.public());
    let claims = |t: &str| {
        let mut c = ActionClaims::new("@alice.cloud", &key_id, t, NOW_SECS);
        c.aud = Some("@bob.cloud".into());
        c
    };
    let file = b"hello, file\n".to_vec();
    let file_id = content_address("f", &file);

    let follow = claims("FLLW");
    let mut post = claims("POST");
    post.aud = None;
    post.c = Some(json!("a post with a file"));
    post.a = Some(vec![file_id.clone()]);
    post.v = Some("P".into());
    let mut like = claims("REACT:LIKE");
    like.p = Some(content_address("a", b"some post"));
    like.exp = Some(NOW_SECS + 3600);
    let conn = claims("CONN");
    let conn_token = action::sign_with_work(&key, &conn, 2);
    let conn_claims = action::parse(&conn_token).unwrap().claims;

    let mut expired = claims("MSG");
    expired.iat = NOW_SECS - 7200;
    expired.exp = Some(NOW_SECS - 3600);
    let mut future = claims("MSG");
    future.iat = NOW_SECS + 301;
    let follow_json = serde_json::to_value(&follow).unwrap();
    let good = action::sign(&key, &follow);
    // The signature of `good` over claims with another audience.
    let mut other = follow_json.clone();
    other["aud"] = json!("@carol.cloud");
    let (h, rest) = good.split_once('.').unwrap();
    let tampered = format!(
        "{h}.{}.{}",
        b64url_json(&other),
        rest.rsplit_once('.').unwrap().1
    );
    let none = format!(
        "{}.{}.",
        b64url_json(&json!({"alg": "none"})),
        b64url_json(&follow_json)
    );
    let hs256 = format!(
        "{}.{}.{}",
        b64url_json(&json!({"alg": "HS256", "typ": "JWT"})),
        b64url_json(&follow_json),
        BASE64URL_NOPAD.encode(&[0x5a; 32])
    );
    let es_header_ed_key = format!(
        "{}.{}.{}",
        b64url_json(&json!({"alg": "ES384", "typ": "JWT"})),
        b64url_json(&follow_json),
        BASE64URL_NOPAD.encode(&[0x11; 96])
    );
    let mut bad_type = follow_json.clone();
    bad_type["t"] = json!("follow");
    let bad_type = format!(
        "{}.{}.{}",
        b64url_json(&json!({"alg": "EdDSA", "typ": "JWT"})),
        b64url_json(&bad_type),
        BASE64URL_NOPAD.encode(&[0; 64])
    );

    json!({
        "description": "Federation action tokens (section 23). EdDSA tokens are signed by the Ed25519 key of `issuer.ed25519_seed` and are deterministic; `signing_input` is what the signature covers; `action_id` is a1~ + base64url(SHA-256(token)); `work` is the number of trailing `A`s the token has at least. The ES384 token was signed once by another implementation (ECDSA P-384, r||s); it verifies with `es384.public_key` at `now`. Negative tokens fail with `error`, checked against `key` (`issuer` or `es384`) at `now` (unix seconds).",
        "now": NOW_SECS,
        "issuer": {
            "id_tag": "@alice.cloud",
            "ed25519_seed": hex(&ISSUER_SEED),
            "key_id": key_id,
            "public_key": ActionKey::Ed25519(key.public()).to_spki_b64(),
        },
        "tokens": [
            token_json("FLLW", &good, &follow, 0),
            token_json("public POST with an attachment, no audience", &action::sign(&key, &post), &post, 0),
            token_json("REACT:LIKE with a parent and an expiry", &action::sign(&key, &like), &like, 0),
            token_json("CONN with a proof of work of 2 characters in `_`", &conn_token, &conn_claims, 2),
        ],
        "file": { "bytes_hex": hex(&file), "id": file_id },
        "es384": {
            "id_tag": "cl.example.org",
            "key_id": "20261121",
            "public_key": ES384_SPKI,
            "token": ES384_TOKEN,
            "action_id": content_address("a", ES384_TOKEN.as_bytes()),
        },
        "negative": [
            { "name": "alg none", "token": none, "key": "issuer", "error": "bad_algorithm" },
            { "name": "HS256 (the public key as an HMAC secret)", "token": hs256, "key": "issuer", "error": "bad_algorithm" },
            { "name": "ES384 header, EdDSA issuer key", "token": es_header_ed_key, "key": "issuer", "error": "bad_algorithm" },
            { "name": "EdDSA token checked against a P-384 key", "token": good, "key": "es384", "error": "bad_algorithm" },
            { "name": "payload changed (another audience), signature kept", "token": tampered, "key": "issuer", "error": "bad_signature" },
            { "name": "expired (exp before now)", "token": action::sign(&key, &expired), "key": "issuer", "error": "token_expired" },
            { "name": "iat more than 300 s ahead", "token": action::sign(&key, &future), "key": "issuer", "error": "stale_timestamp" },
            { "name": "type not capitals", "token": bad_type, "key": "issuer", "error": "malformed" },
            { "name": "two parts only", "token": "eyJhbGciOiJFZERTQSJ9.e30", "key": "issuer", "error": "malformed" },
        ],
    })
}

#[test]
fn actions_vector_verifies_from_the_file_alone() {
    bless_if_asked();
    let v = read("actions.json");
    let now = v["now"].as_i64().unwrap();
    let seed: [u8; 32] = unhex(s(&v["issuer"], "ed25519_seed")).try_into().unwrap();
    let key = SigningKeypair::from_seed(&seed);
    let issuer = ActionKey::from_spki_b64(s(&v["issuer"], "public_key")).unwrap();
    assert_eq!(issuer, ActionKey::Ed25519(key.public()));
    let es384 = ActionKey::from_spki_b64(s(&v["es384"], "public_key")).unwrap();
    for t in v["tokens"].as_array().unwrap() {
        let token = s(t, "token");
        assert!(token.starts_with(&format!(
            "{}.",
            BASE64URL_NOPAD.encode(action::EDDSA_HEADER.as_bytes())
        )));
        let (input, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(input, s(t, "signing_input"));
        let sig: [u8; 64] = BASE64URL_NOPAD
            .decode(sig.as_bytes())
            .unwrap()
            .try_into()
            .unwrap();
        key.public()
            .verify("action token", input.as_bytes(), &sig)
            .unwrap();
        assert_eq!(content_address("a", token.as_bytes()), s(t, "action_id"));
        let claims: ActionClaims = serde_json::from_value(t["claims"].clone()).unwrap();
        assert_eq!(action::sign(&key, &claims), token, "{}", s(t, "name"));
        let parsed = action::parse(token).unwrap();
        assert_eq!(parsed.verify(&issuer, now).unwrap(), &claims);
        assert!(
            token.bytes().rev().take_while(|b| *b == b'A').count()
                >= t["work"].as_u64().unwrap() as usize
        );
    }
    let bytes = unhex(s(&v["file"], "bytes_hex"));
    assert_eq!(content_address("f", &bytes), s(&v["file"], "id"));
    assert!(action::file_matches(s(&v["file"], "id"), &bytes));
    let es = action::parse(s(&v["es384"], "token")).unwrap();
    assert_eq!(
        es.verify(&es384, now).unwrap().iss,
        s(&v["es384"], "id_tag")
    );
    assert_eq!(es.id(), s(&v["es384"], "action_id"));
    for case in v["negative"].as_array().unwrap() {
        let key = match s(case, "key") {
            "es384" => &es384,
            _ => &issuer,
        };
        let got = action::parse(s(case, "token")).and_then(|p| p.verify(key, now).map(|_| ()));
        assert_eq!(
            got.unwrap_err().code(),
            s(case, "error"),
            "{}",
            s(case, "name")
        );
    }
}
