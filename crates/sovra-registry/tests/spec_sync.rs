//! docs/PROTOCOL.md §16.6 and the registry's error codes must not drift apart.

use sovra_registry::error::{ERROR_CODES, RegistryError};

#[test]
fn every_registry_error_code_is_documented_with_its_status() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .unwrap();
    let start = spec.find("### 16.6").unwrap();
    let end = spec[start..].find("### 16.7").unwrap() + start;
    let table: Vec<(String, u16)> = spec[start..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_owned(), cells.get(2)?.parse().ok()?))
        })
        .collect();
    let mut documented: Vec<&str> = table.iter().map(|(c, _)| c.as_str()).collect();
    documented.sort();
    let mut coded = ERROR_CODES.to_vec();
    coded.sort();
    assert_eq!(
        documented, coded,
        "PROTOCOL.md §16.6 and ERROR_CODES differ"
    );

    let samples = [
        RegistryError::InvalidPhone(String::new()),
        RegistryError::InvalidHandle(String::new()),
        RegistryError::ReservedHandle {
            handle: String::new(),
        },
        RegistryError::HandleTaken {
            handle: String::new(),
        },
        RegistryError::KeyTaken,
        RegistryError::UnknownVerification,
        RegistryError::CodeExpired,
        RegistryError::CodeUsed,
        RegistryError::WrongCode { attempts_left: 1 },
        RegistryError::LockedOut,
        RegistryError::RateLimited {
            retry_after_secs: 1,
        },
        RegistryError::RegistrationLocked {
            retry_after_secs: 1,
        },
        RegistryError::PhoneMismatch,
        RegistryError::NotRegistered,
        RegistryError::UnknownHandle,
        RegistryError::HandleChanged {
            handle: String::new(),
            successor: String::new(),
        },
        RegistryError::Conflict(String::new()),
        RegistryError::SmsFailed(String::new()),
        RegistryError::Suspended {
            handle: String::new(),
            reason: String::new(),
        },
        RegistryError::TakenDown {
            handle: String::new(),
        },
    ];
    assert_eq!(samples.len(), ERROR_CODES.len());
    for e in samples {
        let documented = table.iter().find(|(c, _)| c == e.code()).map(|(_, s)| *s);
        assert_eq!(documented, Some(e.status()), "{}", e.code());
    }
}
