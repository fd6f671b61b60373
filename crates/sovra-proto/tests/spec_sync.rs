//! docs/PROTOCOL.md and the code must not drift apart: every error code, its HTTP status and
//! every limit the spec states are checked against the crate here.

use sovra_proto::ERROR_CODES;

fn spec() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .unwrap()
}

/// The `| code | HTTP | meaning |` table of §10, as (code, status) pairs.
fn error_table(spec: &str) -> Vec<(String, String)> {
    let start = spec.find("## 10. Errors").unwrap();
    // §10.1 (the HTTP layer's codes) is checked by sovra-http's own spec test.
    let end = spec[start..].find("### 10.1").unwrap() + start;
    spec[start..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_owned(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    let table = error_table(&spec());
    let documented: Vec<&str> = table.iter().map(|(c, _)| c.as_str()).collect();
    let mut sorted_doc = documented.clone();
    sorted_doc.sort();
    let mut sorted_code = ERROR_CODES.to_vec();
    sorted_code.sort();
    assert_eq!(
        sorted_doc, sorted_code,
        "PROTOCOL.md §10 and ERROR_CODES differ"
    );

    use sovra_proto::ProtoError as E;
    let samples = [
        E::Malformed {
            what: "x",
            detail: String::new(),
        },
        E::BadEncoding {
            field: "x",
            encoding: "base64",
        },
        E::WrongSize {
            field: "x",
            expected: "1".into(),
            got: 2,
        },
        E::BadSignature { what: "x" },
        E::CannotUnseal { what: "x" },
        E::WrongRecipient,
        E::ReplayedSeq { seq: 1 },
        E::StaleSeq {
            seq: 1,
            highest: 100,
        },
        E::StaleTimestamp { at: String::new() },
        E::UnknownToken,
        E::ExpiredToken,
        E::ReplayedHandshake(String::new()),
        E::RateLimited { limit: 1 },
        E::PowRequired { difficulty: 1 },
        E::UnsupportedVersion(String::new()),
        E::BadAlgorithm(String::new()),
        E::TokenExpired,
    ];
    assert_eq!(samples.len(), ERROR_CODES.len());
    for e in samples {
        let (_, status) = table.iter().find(|(c, _)| c == e.code()).unwrap();
        assert!(
            status.starts_with(&e.http_status().to_string()),
            "{}: spec says {status}, code says {}",
            e.code(),
            e.http_status()
        );
    }
}

#[test]
fn limits_in_the_spec_match_the_code() {
    let spec = spec();
    for (needle, value) in [
        (
            "`sealed_payload` | ",
            sovra_proto::session::MAX_SEALED_PAYLOAD,
        ),
        (
            "`sealed_intro`, `sealed_ack` | ",
            sovra_proto::handshake::MAX_SEALED_INTRO,
        ),
        (
            "`topic`, refusal `reason` | ",
            sovra_proto::handshake::MAX_TOPIC,
        ),
        (
            "| replay window | ",
            sovra_proto::session::REPLAY_WINDOW as usize,
        ),
        ("| calls per message | ", sovra_proto::message::MAX_CALLS),
        ("| handle | ", sovra_proto::identity::MAX_HANDLE),
        ("| swarm name | ", sovra_proto::message::MAX_SWARM_NAME),
        ("| `refusal` code | ", sovra_proto::message::MAX_REFUSAL),
    ] {
        let line = spec
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}"));
        assert!(
            line.contains(&value.to_string()),
            "{line} should state {value}"
        );
    }
    assert!(spec.contains(&format!(
        "within **{} seconds**",
        sovra_proto::handshake::MAX_CLOCK_SKEW.as_secs()
    )));
}
