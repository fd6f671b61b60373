//! Sealing (docs/PROTOCOL.md §21): a swarm, or the whole cloud (`*`), turned read-only. Its
//! soul and memory are frozen and nothing of it is written through the owner or agent API
//! (423 `sealed`); no peer opens a new conversation with it; peers already talking to it are
//! still answered, from the frozen memory. Whether it can be unsealed is decided when sealing.

use std::sync::Arc;

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

/// The whole cloud, in the `seals` table.
pub const WHOLE: &str = "*";

pub use sovra_proto::owner::lifecycle::Unseal;

fn sealed(what: &str) -> ApiError {
    ApiError::new(423, "sealed", format!("{what} is sealed: read-only"))
}

impl Cloud {
    /// The seals in force, by swarm (`*` for the whole cloud).
    pub fn seals(&self) -> Vec<(String, Unseal)> {
        let mut v: Vec<_> = self
            .migration
            .seals
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn sealed_as(&self, swarm: &str) -> Option<Unseal> {
        self.migration
            .seals
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(swarm)
            .copied()
    }

    /// Refuses a write to the cloud when it is sealed whole.
    pub fn writable(&self) -> ApiResult<()> {
        match self.sealed_as(WHOLE) {
            Some(_) => Err(sealed("this cloud")),
            None => Ok(()),
        }
    }

    /// Refuses a write to `swarm` when it or the whole cloud is sealed.
    pub fn swarm_writable(&self, swarm: &str) -> ApiResult<()> {
        self.writable()?;
        match self.sealed_as(swarm) {
            Some(_) => Err(sealed(&format!("swarm {swarm}"))),
            None => Ok(()),
        }
    }

    /// Seals `swarm` (or the whole cloud); sealing again only changes the policy if the
    /// current one allows unsealing.
    pub async fn seal(self: &Arc<Self>, swarm: Option<&str>, unseal: Unseal) -> ApiResult<()> {
        let key = swarm.unwrap_or(WHOLE);
        if let Some(s) = swarm
            && self.store.swarm(s).await?.is_none()
        {
            return Err(ApiError::not_found(
                "unknown_swarm",
                format!("no swarm {s}"),
            ));
        }
        if self.sealed_as(key) == Some(Unseal::Never) {
            return Err(sealed_for_good(key));
        }
        self.store.set_seal(key, Some(unseal.as_str())).await?;
        self.migration
            .seals
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), unseal);
        Ok(())
    }

    /// Lifts a seal the policy allows lifting.
    pub async fn unseal(self: &Arc<Self>, swarm: Option<&str>) -> ApiResult<()> {
        let key = swarm.unwrap_or(WHOLE);
        match self.sealed_as(key) {
            None => Err(ApiError::new(
                409,
                "not_sealed",
                format!("{} is not sealed", swarm.unwrap_or("the cloud")),
            )),
            Some(Unseal::Never) => Err(sealed_for_good(key)),
            Some(Unseal::Owner) => {
                self.store.set_seal(key, None).await?;
                self.migration
                    .seals
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(key);
                Ok(())
            }
        }
    }
}

fn sealed_for_good(key: &str) -> ApiError {
    ApiError::new(
        403,
        "seal_final",
        format!(
            "{} was sealed with unseal policy `never`",
            if key == WHOLE { "the cloud" } else { key }
        ),
    )
}
