//! What the registry's operator does, beside the protocol (docs/PROTOCOL.md §16.8): list
//! handles, suspend one, lift a suspension and the registration lock, take one down, and add
//! already-verified clouds in bulk. `sovra registry admin` calls these on the registry's own
//! database; no network endpoint exposes them.

use sovra_proto::registry::CloudRecord;

use crate::error::RegistryError;
use crate::handle::Handle;
use crate::registry::{Registry, Result, ms, now_ms};
use crate::store::{CloudRow, RegistryStore, Retired};

impl<S: RegistryStore> Registry<S> {
    /// Operator: clouds in handle order after `after` (`""`: from the start), at most 1,000.
    /// Rows carry phone hashes: callers show handles, keys and dates, never those.
    pub async fn admin_list(&self, after: &str, limit: usize) -> Result<Vec<CloudRow>> {
        Ok(self
            .store
            .list_clouds(after, limit.clamp(1, 1000) as i64)
            .await?)
    }

    /// Operator: suspends `handle` (lookups and its owner's changes answer `suspended`).
    pub async fn admin_suspend(&self, handle: &str, reason: &str) -> Result<()> {
        let cloud = self.any_cloud(handle).await?;
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 500 {
            return Err(RegistryError::Conflict(
                "a suspension needs a reason of 1 to 500 bytes".into(),
            ));
        }
        self.store
            .set_suspended(&cloud.handle, Some(reason))
            .await?;
        tracing::warn!(handle = %cloud.handle, reason, "suspended by the operator");
        Ok(())
    }

    /// Operator: lifts a suspension and the registration lock of `handle`, so its phone can
    /// claim it under a new key at once (after the operator has checked who asks, out of band).
    pub async fn admin_unlock(&self, handle: &str) -> Result<()> {
        let cloud = self.any_cloud(handle).await?;
        self.store.set_suspended(&cloud.handle, None).await?;
        self.store.lift_lock(&cloud.handle).await?;
        tracing::warn!(handle = %cloud.handle, "unlocked by the operator");
        Ok(())
    }

    /// Operator: deletes `handle`'s cloud (its phone and key are free again) and retires the
    /// handle for the retirement period: lookups answer `taken_down`, claims `handle_taken`.
    pub async fn admin_take_down(&self, handle: &str) -> Result<()> {
        let cloud = self.any_cloud(handle).await?;
        let until = now_ms() + ms(self.settings.retire_period);
        self.store
            .take_down(
                cloud.id,
                &Retired {
                    skeleton: cloud.skeleton.clone(),
                    handle: cloud.handle.clone(),
                    successor: String::new(),
                    until,
                },
            )
            .await?;
        tracing::warn!(handle = %cloud.handle, "taken down by the operator");
        Ok(())
    }

    /// Adds already-verified clouds in bulk: an operator's import or a benchmark's setup. The
    /// phones are taken as verified and the records as valid (callers vouch for both); each
    /// gets its signed lookup, and all are written in one transaction.
    pub async fn import(&self, entries: &[(String, CloudRecord)]) -> Result<()> {
        let now = now_ms();
        let mut rows = Vec::with_capacity(entries.len());
        for (e164, record) in entries {
            let handle = Handle::parse(&record.handle, &self.settings.domain)?;
            rows.push(CloudRow {
                id: 0,
                phone_hash: self.hasher.hash(e164),
                pepper_version: self.hasher.version(),
                handle: handle.full,
                skeleton: handle.skeleton,
                pubkey: record.pubkey.clone(),
                lookup: self.sign_lookup(record.clone(), vec![])?,
                created_at: now,
                updated_at: now,
                last_active_at: now,
                suspended: None,
            });
        }
        self.store.bulk_insert_clouds(&rows).await?;
        Ok(())
    }
}
