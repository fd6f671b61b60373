//! The registry's own parsers, fed arbitrary text (docs/SECURITY.md): phone input and handle
//! claims. Bodies and signed objects are `sovra-proto` types, fuzzed there. Never a panic; what
//! is accepted is canonical (normalizing it again changes nothing).

#[path = "../../sovra-proto/tests/support/mutate.rs"]
mod mutate;

use proptest::prelude::*;
use proptest::test_runner::Config;
use sovra_registry::handle::{Handle, skeleton};
use sovra_registry::phone::{country_code, normalize};

fn config() -> Config {
    mutate::config(256)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn phone_input(text in prop_oneof![
        ".{0,80}",
        "\\+[0-9 ()\\-.]{0,30}",
        "\\+(1|44|49|33|881|882|979)[0-9]{4,14}",
    ]) {
        if let Ok(e164) = normalize(&text) {
            prop_assert!(e164.starts_with('+'), "{}", e164);
            prop_assert_eq!(normalize(&e164).unwrap(), e164.clone());
            prop_assert!(country_code(&e164).is_some());
        }
    }

    #[test]
    fn handle_claims(text in prop_oneof![".{0,48}", "@?[a-zA-Z0-9\\-]{0,36}(\\.[a-z]{0,8})?"]) {
        let _ = skeleton(&text);
        if let Ok(h) = Handle::parse(&text, "cloud") {
            let again = Handle::parse(&h.full, "cloud").unwrap();
            prop_assert_eq!(&again.full, &h.full);
            prop_assert_eq!(again.skeleton, h.skeleton);
            prop_assert!(sovra_proto::identity::validate_handle(&h.full).is_ok());
        }
    }
}
