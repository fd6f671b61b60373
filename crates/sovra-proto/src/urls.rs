//! URLs a cloud publishes — endpoints and relays — under one rule, for identity documents and
//! registry records alike. Whatever is signed and served here is fetched by other nodes, so it
//! must be a real URL: it parses (WHATWG, the `url` crate), has an allowed scheme and a host,
//! carries no credentials or fragment, holds no control or white-space characters (which the
//! parser would silently strip), and is written in its canonical form — so the signed text is
//! the URL that will be used.

use crate::error::ProtoError;

/// Most URLs of one kind in a document or record.
pub const MAX_URLS: usize = 8;
/// Longest URL, in bytes.
pub const MAX_URL: usize = 2048;

/// Schemes of a cloud's D2D endpoint.
pub const ENDPOINT_SCHEMES: &[&str] = &["http", "https"];
/// Schemes of a relay (WebSocket; http(s) names the same host).
pub const RELAY_SCHEMES: &[&str] = &["ws", "wss", "http", "https"];
/// Either, where a document does not tell them apart.
pub const ANY_SCHEMES: &[&str] = &["http", "https", "ws", "wss"];

/// Checks a URL someone signed: it must already be in canonical form.
pub fn validate_url(field: &'static str, text: &str, schemes: &[&str]) -> Result<(), ProtoError> {
    let canonical = canonical_url(field, text, schemes)?;
    // The signed text must be the URL that will be used: in its parsed (canonical) form, up to
    // the `/` the parser adds after a bare host.
    if canonical != text.trim_end_matches('/') {
        return Err(ProtoError::malformed(
            field,
            format!("{text:?}: write it as {canonical}"),
        ));
    }
    Ok(())
}

/// Checks a URL an owner typed and returns its canonical form, without a trailing `/` (default
/// ports dropped, scheme and host lowercased): what the node then stores and signs.
pub fn canonical_url(
    field: &'static str,
    text: &str,
    schemes: &[&str],
) -> Result<String, ProtoError> {
    let bad = |why: String| ProtoError::malformed(field, format!("{text:?}: {why}"));
    if text.len() > MAX_URL {
        return Err(bad(format!("longer than {MAX_URL} bytes")));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains control or white-space characters".into()));
    }
    let url = url::Url::parse(text).map_err(|e| bad(format!("not a URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(bad(format!(
            "the scheme must be one of {}",
            schemes.join(", ")
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(bad("credentials or a fragment are not allowed".into()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

pub fn validate_urls(
    field: &'static str,
    urls: &[String],
    schemes: &[&str],
) -> Result<(), ProtoError> {
    if urls.len() > MAX_URLS {
        return Err(ProtoError::TooMany {
            field,
            max: MAX_URLS,
            got: urls.len(),
        });
    }
    for u in urls {
        validate_url(field, u, schemes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_urls_pass() {
        for ok in [
            "http://127.0.0.1:7870/clouds/alice",
            "https://alice.example",
            "https://[::1]:8443/x",
        ] {
            validate_url("endpoint", ok, ENDPOINT_SCHEMES).unwrap();
        }
        for bad in [
            "http://\u{0}",
            "http://a.example/\r\nX-Evil: 1",
            "http://a.example/ x",
            "http://",
            "http:///path",
            "ftp://a.example",
            "ws://relay.example",
            "https://user:pw@a.example",
            "https://a.example/#frag",
            "not a url",
            "",
        ] {
            assert_eq!(
                validate_url("endpoint", bad, ENDPOINT_SCHEMES)
                    .unwrap_err()
                    .code(),
                "malformed",
                "{bad:?}"
            );
        }
        validate_url("relays", "wss://relay.example:8443", RELAY_SCHEMES).unwrap();
        // Signed text must be canonical; an owner's input is made so.
        assert!(validate_url("relays", "wss://relay.example:443", RELAY_SCHEMES).is_err());
        assert_eq!(
            canonical_url("relays", "WSS://Relay.Example:443/", RELAY_SCHEMES).unwrap(),
            "wss://relay.example"
        );
        let long = format!("https://a.example/{}", "x".repeat(MAX_URL));
        assert!(validate_url("endpoint", &long, ENDPOINT_SCHEMES).is_err());
    }
}
