//! The node-id: `$SOVRA_HOME/node.key` (0600) and `node-config.json`, created by
//! `sovra node init` or, with defaults, by the first `node serve`.
//!
//! * `GET /api/node` — the node's signed statement (`NodeDocument`), fresh on every request

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sovra_proto::SigningKeypair;
use sovra_proto::keyfile::{self, KeyRole};
use sovra_proto::node::NodeDocument;

use crate::error::ApiResult;
use crate::home::HomeError;

/// What the operator says about the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    #[serde(default)]
    pub operator_contact: Option<String>,
    /// `closed`, `invite` or `phone` (`sovra_proto::node::HOSTING_POLICIES`).
    pub hosting_policy: String,
    /// Policy `phone`: the registry (URL and pinned key) whose attestations admit a cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_registry: Option<PhoneRegistry>,
}

/// A registry the operator trusts to vouch for phones, pinned by key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneRegistry {
    pub url: String,
    /// Its signing key, base64, as `GET /v1/registry` gave it when the operator set it.
    pub key: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            operator_contact: None,
            hosting_policy: "closed".into(),
            phone_registry: None,
        }
    }
}

pub struct NodeIdentity {
    pub keys: SigningKeypair,
    pub config: NodeConfig,
    /// How many clouds the node serves (for the statement).
    pub clouds: std::sync::atomic::AtomicU64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.into(),
        source,
    }
}

impl NodeIdentity {
    /// Loads the node key and settings from `home`, creating the key (and default settings)
    /// the first time.
    pub fn load_or_create(home: &Path) -> Result<NodeIdentity, HomeError> {
        let key_path = home.join("node.key");
        let keys = if key_path.exists() {
            keyfile::load_signing_key(&key_path, KeyRole::Node)?
        } else {
            std::fs::create_dir_all(home).map_err(io(home))?;
            let keys = SigningKeypair::generate(&mut sovra_proto::os_rng());
            keyfile::save_signing_key(&key_path, KeyRole::Node, &keys)?;
            keys
        };
        let config_path = home.join("node-config.json");
        let config = if config_path.exists() {
            let text = std::fs::read(&config_path).map_err(io(&config_path))?;
            serde_json::from_slice(&text)
                .map_err(|e| HomeError::Invalid(format!("{}: {e}", config_path.display())))?
        } else {
            NodeConfig::default()
        };
        Ok(NodeIdentity {
            keys,
            config,
            clouds: Default::default(),
        })
    }

    /// Writes new operator settings (checked as the statement will check them).
    pub fn configure(home: &Path, config: &NodeConfig) -> Result<NodeIdentity, HomeError> {
        NodeDocument::sign(
            &SigningKeypair::from_seed(&[0; 32]),
            config.operator_contact.clone(),
            &config.hosting_policy,
            config.phone_registry.as_ref().map(|r| r.url.clone()),
            0,
            jiff::Timestamp::now(),
        )
        .map_err(|e| HomeError::Invalid(e.to_string()))?;
        let mut identity = Self::load_or_create(home)?;
        let path = home.join("node-config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(config).expect("json"))
            .map_err(io(&path))?;
        identity.config = config.clone();
        Ok(identity)
    }

    pub fn document(&self) -> ApiResult<NodeDocument> {
        Ok(NodeDocument::sign(
            &self.keys,
            self.config.operator_contact.clone(),
            &self.config.hosting_policy,
            self.config.phone_registry.as_ref().map(|r| r.url.clone()),
            self.clouds.load(std::sync::atomic::Ordering::Relaxed),
            jiff::Timestamp::now(),
        )?)
    }
}

/// `GET /api/node`.
pub async fn node_document(State(node): State<Arc<NodeIdentity>>) -> ApiResult<Json<NodeDocument>> {
    node.document().map(Json)
}
