//! The JSON Schemas of the client-instance artifacts (`docs/schemas/`, draft 2020-12), compiled
//! once from the copies built into the binary; every artifact a node receives is checked
//! against its schema before it is parsed or verified.

use std::collections::HashMap;
use std::sync::OnceLock;

use jsonschema::{Registry, Resource, Validator};
use serde_json::Value;

const BASE: &str = "https://sovra.invalid/schemas/";

/// (schema name, its text): the bind first, the others refer to it.
pub const SCHEMAS: [(&str, &str); 4] = [
    (
        "participant-bind.v1",
        include_str!("../../../../docs/schemas/participant-bind.v1.schema.json"),
    ),
    (
        "client-instance-attachment.v1",
        include_str!("../../../../docs/schemas/client-instance-attachment.v1.schema.json"),
    ),
    (
        "client-instance-detachment.v1",
        include_str!("../../../../docs/schemas/client-instance-detachment.v1.schema.json"),
    ),
    (
        "client-instance-recovery.v1",
        include_str!("../../../../docs/schemas/client-instance-recovery.v1.schema.json"),
    ),
];

fn validators() -> &'static HashMap<&'static str, Validator> {
    static VALIDATORS: OnceLock<HashMap<&'static str, Validator>> = OnceLock::new();
    static REGISTRY: OnceLock<Registry<'static>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let parsed: Vec<(&str, Value)> = SCHEMAS
            .iter()
            .map(|(name, text)| {
                (
                    *name,
                    serde_json::from_str(text).expect("a built-in schema"),
                )
            })
            .collect();
        let registry = REGISTRY.get_or_init(|| {
            let mut builder = Registry::new();
            for (name, schema) in &parsed {
                builder = builder
                    .add(
                        format!("{BASE}{name}.schema.json"),
                        Resource::from_contents(schema.clone()),
                    )
                    .expect("a built-in schema URI");
            }
            builder.prepare().expect("the built-in schemas resolve")
        });
        parsed
            .iter()
            .map(|(name, schema)| {
                let v = jsonschema::options()
                    .should_validate_formats(true)
                    .with_registry(registry)
                    .build(schema)
                    .expect("a built-in schema compiles");
                (*name, v)
            })
            .collect()
    })
}

/// Checks `instance` against the schema `name`; the first violation, with where it is.
pub fn validate(name: &str, instance: &Value) -> Result<(), String> {
    let validator = validators()
        .get(name)
        .ok_or_else(|| format!("no schema {name}"))?;
    match validator.iter_errors(instance).next() {
        None => Ok(()),
        Some(e) => Err(format!(
            "does not match {name}: {} (at {})",
            e,
            e.instance_path()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_schemas_compile_and_refuse_extra_fields() {
        assert!(validate("participant-bind.v1", &serde_json::json!({})).is_err());
        assert!(validate("nope.v1", &serde_json::json!({})).is_err());
    }
}
