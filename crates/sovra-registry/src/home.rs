//! A registry's directory: `registry.key` (its Ed25519 signing key), `phone-pepper.key` (the
//! HMAC key for phone numbers) — both created at first start with mode 0600 — and
//! `registry.db`.

use std::path::Path;
use std::sync::Arc;

use rand_core::Rng;
use sovra_proto::keyfile::{self, KeyFileError, KeyRole};
use sovra_proto::{SigningKeypair, os_rng};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::phone::{PhoneHasher, warm_up};
use crate::registry::{Registry, Settings};
use crate::sms::SmsGateway;
use crate::store::SqliteStore;

#[derive(Debug, Error)]
pub enum OpenError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// Version of the pepper in `phone-pepper.key`, stored beside every phone hash.
const PEPPER_VERSION: i64 = 1;

/// Opens (creating on first start) the registry kept in `dir`.
pub async fn open(
    dir: &Path,
    settings: Settings,
    sms: Arc<dyn SmsGateway>,
) -> Result<Registry<SqliteStore>, OpenError> {
    std::fs::create_dir_all(dir).map_err(|e| OpenError::Io(dir.display().to_string(), e))?;
    let key_path = dir.join("registry.key");
    if !key_path.exists() {
        keyfile::save_signing_key(
            &key_path,
            KeyRole::Registry,
            &SigningKeypair::generate(&mut os_rng()),
        )?;
    }
    let keys = keyfile::load_signing_key(&key_path, KeyRole::Registry)?;
    let pepper_path = dir.join("phone-pepper.key");
    if !pepper_path.exists() {
        let mut pepper = Zeroizing::new([0u8; 32]);
        os_rng().fill_bytes(pepper.as_mut());
        keyfile::save_secret(&pepper_path, KeyRole::PhonePepper, &pepper)?;
    }
    let pepper = keyfile::load_secret(&pepper_path, KeyRole::PhonePepper)?;
    let store = SqliteStore::open(&dir.join("registry.db")).await?;
    warm_up();
    Ok(Registry::new(
        store,
        keys,
        PhoneHasher::new(pepper, PEPPER_VERSION),
        sms,
        settings,
    ))
}
