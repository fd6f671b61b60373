//! docs/PROTOCOL.md §17.6 and the relay's error codes must not drift apart.

#[test]
fn every_relay_error_code_is_documented() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .unwrap();
    let start = spec.find("### 17.6").unwrap();
    let end = spec[start..].find("### 17.7").unwrap() + start;
    let mut documented: Vec<&str> = spec[start..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells.get(1)?.strip_prefix('`')?.strip_suffix('`')
        })
        .collect();
    documented.sort();
    let mut coded = sovra_proto::relay::ERROR_CODES.to_vec();
    coded.sort();
    assert_eq!(
        documented, coded,
        "PROTOCOL.md §17.6 and relay::ERROR_CODES differ"
    );
}
