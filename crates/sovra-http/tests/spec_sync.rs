//! PROTOCOL.md §10.1 (the HTTP layer's answers) and §11's head limits against the code.

use axum::http::StatusCode;
use sovra_http::errors::{MAX_HEAD, MAX_URI, code_for};

fn section(spec: &str, from: &str, to: &str) -> String {
    let start = spec.find(from).unwrap();
    let end = spec[start..].find(to).unwrap() + start;
    spec[start..end].to_owned()
}

#[test]
fn the_http_layer_codes_and_limits_are_the_documented_ones() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .unwrap();
    let table = section(&spec, "### 10.1", "## 11.");
    let mut rows = 0;
    for line in table.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(code) = cells
            .get(1)
            .and_then(|c| c.strip_prefix('`')?.strip_suffix('`'))
        else {
            continue;
        };
        let status: u16 = cells[2].parse().unwrap();
        assert_eq!(
            code_for(StatusCode::from_u16(status).unwrap()),
            code,
            "§10.1 says {status} is `{code}`"
        );
        rows += 1;
    }
    assert_eq!(rows, 8);
    let limits = section(&spec, "## 11. Limits", "## 12.");
    assert!(limits.contains(&format!(
        "| request target (path and query) | {MAX_URI} bytes"
    )));
    assert!(limits.contains(&format!(
        "| request head (request line and headers) | {MAX_HEAD} bytes"
    )));
    assert!(table.contains(&format!("over {MAX_URI} bytes")));
    assert!(table.contains(&format!("over {MAX_HEAD} bytes")));
}
