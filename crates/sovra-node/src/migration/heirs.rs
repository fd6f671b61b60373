//! Inheritance (docs/PROTOCOL.md §22): the dead-man's switch and what it does.
//!
//! The cloud key's policy names heirs (whitelisted peers) and a period of owner inactivity.
//! Every authenticated owner request is activity. Before the period ends the owner's devices
//! are warned (an `inheritance_warning` event); when it ends the cloud is sealed (the owner,
//! back, may unseal it), each heir is marked on the whitelist with its grant and told with a
//! signed notice (retried each sweep until told). A `read` heir may open a conversation with the
//! sealed cloud; a `control` heir may claim the cloud itself, as a bundle sealed to its key.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use sovra_proto::PublicKey;
use sovra_proto::inheritance::{HeirGrant, InheritanceClaim, InheritanceNotice, InheritancePolicy};
use sovra_proto::migration::{ArchivedKeys, LockWith, seal_bundle};

use super::seal::Unseal;
use crate::agents::events::{Event, event_now};
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{DAY_MS, now_ms};

/// How long before the switch fires the owner is warned (at most half the period).
pub const WARN_BEFORE_MS: i64 = 7 * DAY_MS;

pub use sovra_proto::owner::lifecycle::HeirsStatus;

/// What `POST /api/d2d/inheritance/claim` answers a `control` heir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// The migration bundle (§20.1), sealed to the heir's encryption key, base64.
    pub bundle: String,
}

impl Cloud {
    /// An authenticated owner request: the switch's clock starts again.
    pub(crate) fn note_owner_activity(&self) {
        self.owner_active_at.fetch_max(now_ms(), Ordering::Relaxed);
    }

    pub async fn heirs_status(&self) -> ApiResult<HeirsStatus> {
        let Some(row) = self.store.inheritance().await? else {
            return Ok(HeirsStatus {
                policy: None,
                active_at: None,
                fires_at: None,
                fired_at: None,
            });
        };
        let policy: InheritancePolicy =
            serde_json::from_str(&row.policy).map_err(ApiError::internal)?;
        let active = row
            .active_at
            .max(self.owner_active_at.load(Ordering::Relaxed));
        Ok(HeirsStatus {
            fires_at: Some(active + policy.inactive_days as i64 * DAY_MS),
            policy: Some(policy),
            active_at: Some(active),
            fired_at: row.fired_at,
        })
    }

    /// Installs the cloud key's policy; every heir must be on the whitelist (that is where
    /// the notice goes).
    pub async fn set_heirs(&self, policy: &InheritancePolicy) -> ApiResult<()> {
        policy.verify(&self.public())?;
        for heir in &policy.heirs {
            let key = PublicKey::from_b64("heirs.pubkey", &heir.pubkey)?;
            if self.store.peer(&key).await?.is_none() {
                return Err(ApiError::new(
                    409,
                    "unknown_peer",
                    format!(
                        "{} is not on the whitelist; add the heir as a peer first",
                        heir.handle
                    ),
                ));
            }
        }
        if let Some(row) = self.store.inheritance().await?
            && let Ok(current) = serde_json::from_str::<InheritancePolicy>(&row.policy)
            && current.issued_at.parse::<jiff::Timestamp>().ok()
                > policy.issued_at.parse::<jiff::Timestamp>().ok()
        {
            return Err(ApiError::new(
                409,
                "stale_policy",
                "a policy issued later is already in force",
            ));
        }
        self.store
            .set_inheritance(Some(&serde_json::to_string(policy).expect("json")))
            .await?;
        self.owner_active_at.fetch_max(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// The switch, checked by the sweep at `now` (a parameter so tests control the clock).
    pub async fn check_inheritance(self: &Arc<Self>, now: i64) -> ApiResult<()> {
        let Some(row) = self.store.inheritance().await? else {
            return Ok(());
        };
        if row.fired_at.is_some() {
            return self.tell_heirs().await;
        }
        let policy: InheritancePolicy =
            serde_json::from_str(&row.policy).map_err(ApiError::internal)?;
        let active = row
            .active_at
            .max(self.owner_active_at.load(Ordering::Relaxed));
        let period = policy.inactive_days as i64 * DAY_MS;
        let fires_at = active + period;
        if now >= fires_at {
            return self.fire(&policy, now).await;
        }
        let warn_from = fires_at - WARN_BEFORE_MS.min(period / 2);
        let warned = row.warned_at.is_some_and(|w| w >= active);
        let warned_at = if now >= warn_from && !warned {
            let when = jiff::Timestamp::from_millisecond(fires_at)
                .map(sovra_proto::time::format)
                .unwrap_or_default();
            tracing::warn!(cloud = %self.name, "inheritance: the switch fires at {when} unless the owner uses the cloud");
            self.emit(Event {
                reason: Some(format!(
                    "no owner activity for a while: the cloud is sealed and its heirs told at {when}, unless you use it before"
                )),
                ..event_now("inheritance_warning")
            });
            Some(now)
        } else {
            row.warned_at
        };
        self.store.set_inheritance_clock(active, warned_at).await?;
        Ok(())
    }

    async fn fire(self: &Arc<Self>, policy: &InheritancePolicy, now: i64) -> ApiResult<()> {
        tracing::warn!(cloud = %self.name, "inheritance: the owner was inactive for {} days; sealing and telling the heirs", policy.inactive_days);
        self.seal(None, Unseal::Owner).await?;
        let heirs: Vec<(String, &'static str)> = policy
            .heirs
            .iter()
            .map(|h| (h.pubkey.clone(), h.grant.as_str()))
            .collect();
        self.store.fire_inheritance(now, &heirs).await?;
        self.emit(Event {
            reason: Some("the inheritance switch fired: the cloud is sealed".into()),
            ..event_now("inheritance_fired")
        });
        self.tell_heirs().await
    }

    /// Sends the notice to each heir not yet told (a refusal counts as told: asking again
    /// would get the same answer).
    async fn tell_heirs(self: &Arc<Self>) -> ApiResult<()> {
        let Some(row) = self.store.inheritance().await? else {
            return Ok(());
        };
        let (Some(fired), Ok(policy)) = (
            row.fired_at,
            serde_json::from_str::<InheritancePolicy>(&row.policy),
        ) else {
            return Ok(());
        };
        let told = self.store.heirs_told().await?;
        let keys = self.keys();
        // Never ahead of this clock (a test may have run the switch on a later one).
        let at =
            jiff::Timestamp::from_millisecond(fired.min(now_ms())).map_err(ApiError::internal)?;
        for heir in policy.heirs.iter().filter(|h| !told.contains(&h.pubkey)) {
            let key = PublicKey::from_b64("heir", &heir.pubkey)?;
            let Some(peer) = self.store.peer(&key).await? else {
                tracing::warn!(cloud = %self.name, heir = %heir.handle, "an heir left the whitelist: not told");
                self.store.heir_told(&heir.pubkey).await?;
                continue;
            };
            let notice =
                InheritanceNotice::sign(&keys.signing, keys.host_certificate(), &policy, &key, at)?;
            match self
                .post_to_peer::<_, serde_json::Value>(&peer, "/api/d2d/inheritance", &notice)
                .await
            {
                Ok(_) => self.store.heir_told(&heir.pubkey).await?,
                Err(e) if e.is_retryable() => {
                    tracing::info!(cloud = %self.name, heir = %heir.handle, "heir not told yet: {e}")
                }
                Err(e) => {
                    tracing::warn!(cloud = %self.name, heir = %heir.handle, "the heir refused the notice: {e}");
                    self.store.heir_told(&heir.pubkey).await?;
                }
            }
        }
        Ok(())
    }

    /// `POST /api/d2d/inheritance`: a cloud that named this one heir tells it the switch fired.
    pub async fn receive_inheritance(&self, notice: &InheritanceNotice) -> ApiResult<()> {
        let (cloud, grant) = notice.verify(&self.public(), jiff::Timestamp::now())?;
        let handle = self.store.peer(&cloud).await?.map(|p| p.grant.peer_handle);
        if !self
            .store
            .add_inherited(
                &cloud.to_b64(),
                handle.as_deref(),
                grant.as_str(),
                &serde_json::to_string(notice).expect("json"),
            )
            .await?
        {
            return Err(ApiError::new(
                429,
                "rate_limited",
                format!(
                    "this cloud keeps at most {} inheritance notices",
                    crate::store::MAX_INHERITED
                ),
            ));
        }
        self.emit(Event {
            peer: handle,
            reason: Some(format!("you inherit this cloud ({})", grant.as_str())),
            ..event_now("inherited")
        });
        Ok(())
    }

    /// `POST /api/d2d/inheritance/claim`: a `control` heir takes the cloud — its archive with
    /// its keys, as a bundle sealed to the heir's encryption key and signed by the cloud key.
    pub async fn claim_inheritance(&self, claim: &InheritanceClaim) -> ApiResult<ClaimResponse> {
        let heir = claim.verify(&self.public(), jiff::Timestamp::now())?;
        let not_heir = || {
            ApiError::new(
                403,
                "not_heir",
                "only an heir with control may claim this cloud, once its switch fired",
            )
        };
        let row = self.store.inheritance().await?.ok_or_else(not_heir)?;
        let policy: InheritancePolicy =
            serde_json::from_str(&row.policy).map_err(ApiError::internal)?;
        if row.fired_at.is_none() || policy.heir(&heir).map(|h| h.grant) != Some(HeirGrant::Control)
        {
            return Err(not_heir());
        }
        self.needs_cloud_key("hand the cloud to an heir")?;
        let to = self
            .store
            .peer(&heir)
            .await?
            .and_then(|p| p.peer_encryption_key)
            .ok_or_else(|| {
                ApiError::new(
                    409,
                    "no_encryption_key",
                    "the heir's encryption key is not known here yet",
                )
            })?;
        let to = sovra_proto::EncryptionKey::from_b64("peer_encryption_key", &to)?;
        let keys = self.keys();
        let mut archive = self.export_archive(false).await?;
        archive.keys = Some(ArchivedKeys::of(&keys));
        let bundle = seal_bundle(
            &mut sovra_proto::os_rng(),
            &keys.signing,
            &archive.to_bytes(),
            LockWith::Recipient(to),
            jiff::Timestamp::now(),
        )?;
        tracing::warn!(cloud = %self.name, heir = %heir.to_b64(), "inheritance: the cloud was handed to an heir");
        Ok(ClaimResponse {
            bundle: sovra_proto::encoding::b64(&bundle),
        })
    }
}
