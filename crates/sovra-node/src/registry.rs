//! A cloud and its registries (docs/PROTOCOL.md §16): registering its handle, keeping its
//! record fresh, rotating its own key, and resolving and following peers by handle.
//!
//! Trust rests on one rule: a registry's key is pinned on first contact, and every lookup
//! must verify against the pinned key, never against the key an answer names. Whitelist
//! entries resolved by handle remember their registry; a rotation (signed by the old key) is
//! followed silently with the grants kept, a reset (signed only by the registry) becomes a
//! pending request the owner must approve.

use std::sync::Arc;
use std::time::Duration;

use sovra_client::{ClientError, RegistryClient};
use sovra_proto::device::KeyCertificate;
use sovra_proto::encoding::b64;
use sovra_proto::registry::{
    ChainLink, CloudRecord, Follow, PhoneProof, RecordUpdate, RegisterRequest, RotateRequest,
    VerifiedLookup, operation,
};
use sovra_proto::{CloudKeys, Grant, PublicKey, os_rng};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{HandleStatus, Peer, PinnedRegistry, now_ms};

/// Time limit of one registry request.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);
/// A registration is refreshed (the registry's "active" signal) at least this often.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Registry-resolved peers are re-checked this often by the sweeper.
pub const PEER_CHECK_EVERY: Duration = Duration::from_secs(3600);
/// An unknown key claiming a registry-resolved handle triggers at most one early check of
/// that handle per this interval, so strangers cannot make the node hammer a registry.
const EARLY_CHECK_EVERY: Duration = Duration::from_secs(60);

pub use sovra_proto::owner::PeerCheck;

/// The handle domain: `@alice.cloud` → `cloud`.
fn domain_of(handle: &str) -> &str {
    handle.split_once('.').map(|(_, d)| d).unwrap_or("")
}

fn normalize_url(url: &str) -> ApiResult<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
        return Err(ApiError::bad_request(
            "the registry must be an http(s) URL of at most 2048 bytes",
        ));
    }
    Ok(url.to_owned())
}

/// A registry refusal is passed on with its own code and status, so the owner sees exactly
/// what the registry said (`wrong_code`, `handle_taken`, `registration_locked`…); a registry
/// that cannot be reached or answers nonsense is a 502.
pub(crate) fn registry_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Status {
            status,
            code,
            message,
        } => {
            let known = sovra_proto::registry::ERROR_CODES
                .iter()
                .chain(sovra_proto::ERROR_CODES)
                .find(|c| **c == code);
            match known {
                Some(code) if status < 500 || *code == "sms_failed" => {
                    ApiError::new(status, code, format!("registry: {message}"))
                }
                _ => ApiError::new(
                    502,
                    "registry_unreachable",
                    format!("registry answered {status} {code}: {message}"),
                ),
            }
        }
        ClientError::Transport(t) => ApiError::new(502, "registry_unreachable", t),
        ClientError::Decode(d) => ApiError::new(502, "registry_untrusted", d),
        ClientError::Moved(_) => {
            ApiError::new(502, "registry_untrusted", "a registry does not move")
        }
        ClientError::Proto(p) => untrusted(p),
    }
}

fn untrusted(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        502,
        "registry_untrusted",
        format!("the registry's answer does not verify against its pinned key: {e}"),
    )
}

impl Cloud {
    pub(crate) fn registry_client(url: &str) -> RegistryClient {
        RegistryClient::new(url, REGISTRY_TIMEOUT)
    }

    /// The registry at `url` with its key: pinned now if this is the first contact, and
    /// refused if the registry today presents another key than the pinned one.
    pub async fn pin_registry(&self, url: &str) -> ApiResult<PinnedRegistry> {
        self.pin_registry_as(url, None).await
    }

    /// `pin_registry`, with the key the owner learned from a trusted source instead of on first
    /// use: a registry presenting (or pinned with) another key is refused, nothing pinned.
    pub async fn pin_registry_as(
        &self,
        url: &str,
        expected: Option<PublicKey>,
    ) -> ApiResult<PinnedRegistry> {
        let mismatch = |key: &str| {
            ApiError::new(
                409,
                "registry_key_mismatch",
                format!("the registry at {url} has key {key}, not the one given"),
            )
        };
        let url = normalize_url(url)?;
        if let Some(pinned) = self.store.pinned_registry(&url).await? {
            if let Some(want) = expected
                && pinned.registry_key != want.to_b64()
            {
                return Err(mismatch(&pinned.registry_key));
            }
            return Ok(pinned);
        }
        let info = Self::registry_client(&url)
            .info()
            .await
            .map_err(registry_error)?;
        let key = PublicKey::from_b64("registry_key", &info.registry_key).map_err(untrusted)?;
        if expected.is_some_and(|want| want != key) {
            return Err(mismatch(&info.registry_key));
        }
        let pinned = self.store.pin_registry(&url, &key, &info.domain).await?;
        tracing::info!(cloud = %self.name, registry = %url, key = %key.to_human(), "pinned registry key");
        Ok(pinned)
    }

    /// The registry to ask about `handle`: the one named, else the one pinned for its domain.
    async fn registry_for(&self, handle: &str, named: Option<&str>) -> ApiResult<PinnedRegistry> {
        if let Some(url) = named {
            return self.pin_registry(url).await;
        }
        self.store
            .registry_for_domain(domain_of(handle))
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "no_registry",
                    format!(
                        "no registry is known for .{} handles; name one (--registry URL)",
                        domain_of(handle)
                    ),
                )
            })
    }

    /// Looks `handle` up and verifies the answer against the pinned registry key.
    pub async fn resolve(
        &self,
        handle: &str,
        named: Option<&str>,
    ) -> ApiResult<(PinnedRegistry, VerifiedLookup)> {
        sovra_proto::identity::validate_handle(handle)?;
        let registry = self.registry_for(handle, named).await?;
        let key = PublicKey::from_b64("registry_key", &registry.registry_key)?;
        let lookup = Self::registry_client(&registry.url)
            .lookup(handle)
            .await
            .map_err(registry_error)?;
        let verified = lookup.verify(&key, handle).map_err(untrusted)?;
        Ok((registry, verified))
    }

    /// Asks the registry to text a code to `phone` (the first step of every phone-gated
    /// operation).
    pub async fn request_code(
        &self,
        registry: &str,
        phone: &str,
        registry_key: Option<PublicKey>,
    ) -> ApiResult<sovra_proto::registry::CodeResponse> {
        let registry = self.pin_registry_as(registry, registry_key).await?;
        Self::registry_client(&registry.url)
            .request_code(phone)
            .await
            .map_err(registry_error)
    }

    /// This cloud's record as it should be published now.
    async fn record(&self, keys: &CloudKeys, handle: &str) -> ApiResult<CloudRecord> {
        Ok(CloudRecord::sign(
            keys,
            handle,
            self.endpoint(),
            self.store.relays().await?,
            jiff::Timestamp::now(),
        )?)
    }

    /// Claims this cloud's handle at `registry` with a verified phone (or refreshes the
    /// phone's registration, or recovers it: the registry decides, §16.5).
    pub async fn register(
        &self,
        registry: &str,
        proof: PhoneProof,
    ) -> ApiResult<(PinnedRegistry, VerifiedLookup)> {
        self.needs_cloud_key("register the handle")?;
        let registry = self.pin_registry(registry).await?;
        let key = PublicKey::from_b64("registry_key", &registry.registry_key)?;
        let handle = self.config.handle.clone();
        let record = self.record(&self.keys(), &handle).await?;
        let lookup = Self::registry_client(&registry.url)
            .register(&RegisterRequest {
                phone: proof,
                record,
            })
            .await
            .map_err(registry_error)?;
        let verified = lookup.verify(&key, &handle).map_err(untrusted)?;
        if verified.record.pubkey != self.public() {
            return Err(untrusted("the registry published another key"));
        }
        self.store
            .set_registration(&registry.url, &handle, &lookup.record.issued_at)
            .await?;
        tracing::info!(cloud = %self.name, %handle, registry = %registry.url, "registered");
        Ok((registry, verified))
    }

    /// Republishes the record when it is due (or `force`): the registry counts it as activity,
    /// which keeps the SIM-swap lock armed, and it carries a changed endpoint. Returns whether
    /// it published.
    pub async fn heartbeat(&self, force: bool) -> ApiResult<bool> {
        let Some(reg) = self.store.registration().await? else {
            return Ok(false);
        };
        if self.is_hosted() {
            return Ok(false);
        }
        self.finish_interrupted_rotation(&reg.handle, &reg.registry_url)
            .await?;
        let due = now_ms() - reg.last_heartbeat >= HEARTBEAT_EVERY.as_millis() as i64;
        if !(force || due) {
            return Ok(false);
        }
        let registry = self.pin_registry(&reg.registry_url).await?;
        let key = PublicKey::from_b64("registry_key", &registry.registry_key)?;
        let record = self.record(&self.keys(), &reg.handle).await?;
        let lookup = Self::registry_client(&registry.url)
            .put_record(&reg.handle, &RecordUpdate { record })
            .await
            .map_err(registry_error)?;
        lookup.verify(&key, &reg.handle).map_err(untrusted)?;
        self.store
            .set_registration(&registry.url, &reg.handle, &lookup.record.issued_at)
            .await?;
        Ok(true)
    }

    /// Rotates this cloud's key: a new key pair, a link signed by both keys, and the phone
    /// code plus the old key's signature the registry demands for a high-trust operation.
    ///
    /// The new key is on disk (`cloud.key.next`) before the registry hears of it, so a crash
    /// between the registry's acceptance and the swap loses no key; it replaces `cloud.key`
    /// only after the registry accepted. Then device certificates are re-issued by the new key
    /// and open conversations close, since their sessions were bound to the old key.
    pub async fn rotate_key(&self, proof: PhoneProof) -> ApiResult<VerifiedLookup> {
        self.needs_cloud_key("rotate the cloud key")?;
        let reg = self.store.registration().await?.ok_or_else(|| {
            ApiError::new(
                409,
                "not_registered",
                "this cloud has no registration to rotate; register first",
            )
        })?;
        let registry = self.pin_registry(&reg.registry_url).await?;
        let registry_key = PublicKey::from_b64("registry_key", &registry.registry_key)?;
        let old = self.keys();
        let new = CloudKeys::generate(&mut os_rng());
        let next = self.dir.join("cloud.key.next");
        let _ = std::fs::remove_file(&next);
        sovra_proto::keyfile::save_cloud_keys(&next, &new).map_err(ApiError::internal)?;
        let now = jiff::Timestamp::now();
        let op_sig = old.signing.sign(&operation::rotate(
            &reg.handle,
            &proof.verification_id,
            &new.public(),
        ));
        let request = RotateRequest {
            phone: proof,
            link: ChainLink::rotation(&old.signing, &new.signing, now),
            record: self.record(&new, &reg.handle).await?,
            op_sig: b64(&op_sig),
        };
        let answer = Self::registry_client(&registry.url)
            .rotate(&reg.handle, &request)
            .await;
        let lookup = match answer {
            Ok(lookup) => lookup,
            Err(e) => {
                let _ = std::fs::remove_file(&next);
                return Err(registry_error(e));
            }
        };
        let verified = lookup
            .verify(&registry_key, &reg.handle)
            .map_err(untrusted)?;
        if verified.record.pubkey != new.public() {
            return Err(untrusted("the registry did not publish the new key"));
        }
        self.adopt_keys(new, &reg.handle, &lookup.record.issued_at)
            .await?;
        Ok(verified)
    }

    /// Makes `cloud.key.next` the cloud's key once the registry publishes it: the file swap,
    /// device certificates re-issued by the new key, open conversations closed.
    async fn adopt_keys(&self, new: CloudKeys, handle: &str, issued_at: &str) -> ApiResult<()> {
        let next = self.dir.join("cloud.key.next");
        std::fs::rename(&next, self.dir.join("cloud.key")).map_err(ApiError::internal)?;
        let now = jiff::Timestamp::now();
        let mut certificates = Vec::new();
        let devices = self.store.device_list().await?;
        for d in devices.into_iter().filter(|d| d.revoked_at.is_none()) {
            let Ok(old_cert) = serde_json::from_str::<KeyCertificate>(&d.certificate) else {
                continue;
            };
            let device = d.device;
            let device_key = PublicKey::from_b64("device", &device)?;
            let cert = KeyCertificate::issue(
                &new.signing,
                &device_key,
                &old_cert.purpose,
                &old_cert.label,
                now,
            );
            certificates.push((device, serde_json::to_string(&cert).expect("json")));
        }
        let new_public = new.public();
        self.set_keys(new);
        // Relay links authenticated as the old key end (their senders drop) and come back
        // under the new one.
        self.relay_links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let closed = self
            .store
            .keys_rotated(&certificates, handle, issued_at)
            .await?;
        tracing::info!(cloud = %self.name, key = %new_public.to_human(), closed, "rotated the cloud key");
        if let Some(me) = self.me.upgrade() {
            me.start_relays(&self.store.relays().await?);
        }
        Ok(())
    }

    /// A rotation interrupted between the registry's answer and the key swap left
    /// `cloud.key.next`: the registry's record says whether it landed. Adopt the key if it
    /// did, discard it if the registry still has the current key.
    async fn finish_interrupted_rotation(&self, handle: &str, registry: &str) -> ApiResult<()> {
        let next = self.dir.join("cloud.key.next");
        if !next.exists() {
            return Ok(());
        }
        let new = sovra_proto::keyfile::load_cloud_keys(&next).map_err(ApiError::internal)?;
        let (_, verified) = self.resolve(handle, Some(registry)).await?;
        if verified.record.pubkey == new.public() {
            tracing::warn!(cloud = %self.name, "finishing a key rotation interrupted after the registry accepted it");
            let issued_at = sovra_proto::time::format(verified.record.issued_at);
            self.adopt_keys(new, handle, &issued_at).await?;
        } else if verified.record.pubkey == self.public() {
            let _ = std::fs::remove_file(&next);
        }
        Ok(())
    }

    /// Whitelists the cloud behind `handle`, with its key, endpoint and encryption key taken
    /// from the verified registry record.
    pub async fn add_peer_by_handle(
        &self,
        handle: &str,
        named_registry: Option<&str>,
        entry: sovra_proto::WhitelistEntry,
        swarm: Option<&str>,
    ) -> ApiResult<(Grant, VerifiedLookup)> {
        let (registry, verified) = self.resolve(handle, named_registry).await?;
        if verified.record.pubkey == self.public() {
            return Err(ApiError::bad_request("a cloud cannot whitelist itself"));
        }
        let entry = sovra_proto::WhitelistEntry {
            peer_pubkey: verified.record.pubkey.to_b64(),
            peer_handle: verified.record.handle.clone(),
            ..entry
        };
        let grant = entry.validate()?;
        self.store
            .whitelist_resolved(&grant, &verified.record, &registry.url, swarm)
            .await?;
        Ok((grant, verified))
    }

    /// Re-checks one registry-resolved peer and follows what the registry says.
    pub async fn check_peer(&self, peer: &Peer) -> PeerCheck {
        let handle = peer.grant.peer_handle.clone();
        match self.check_peer_inner(peer).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(cloud = %self.name, %handle, "checking peer at its registry: {}", e.message);
                PeerCheck::Failed {
                    handle,
                    error: format!("{}: {}", e.code, e.message),
                }
            }
        }
    }

    async fn check_peer_inner(&self, peer: &Peer) -> ApiResult<PeerCheck> {
        let handle = peer.grant.peer_handle.clone();
        let (_, verified) = self.resolve(&handle, peer.registry_url.as_deref()).await?;
        let pinned = peer.grant.peer_pubkey;
        let record = &verified.record;
        Ok(match verified.follow(&pinned) {
            Follow::Unchanged => {
                self.store.peer_confirmed(&pinned, record).await?;
                PeerCheck::Unchanged { handle }
            }
            Follow::Rotated { to } => {
                self.store.rekey_peer(&pinned, record).await?;
                tracing::info!(cloud = %self.name, %handle, to = %to.to_human(), "followed a key rotation");
                PeerCheck::Rotated {
                    handle,
                    to: to.to_b64(),
                }
            }
            Follow::Reset { to } => {
                let id = sovra_proto::handshake::random_uuid(&mut os_rng())
                    .hyphenated()
                    .to_string();
                let added = self.store.insert_key_reset(&id, &to, &handle).await?;
                if added {
                    tracing::warn!(cloud = %self.name, %handle, to = %to.to_human(), "peer's key was reset; waiting for the owner");
                }
                PeerCheck::Reset {
                    handle,
                    to: to.to_b64(),
                    request: id,
                }
            }
        })
    }

    /// Checks the registry-resolved peers: all of them (`all`), or those not checked within
    /// `PEER_CHECK_EVERY` (the sweeper).
    pub async fn check_peers(&self, all: bool) -> ApiResult<Vec<PeerCheck>> {
        let horizon = now_ms() - PEER_CHECK_EVERY.as_millis() as i64;
        let mut out = Vec::new();
        for peer in self.store.registry_peers().await? {
            if !all && peer.checked_at.unwrap_or(0) > horizon {
                continue;
            }
            out.push(self.check_peer(&peer).await);
        }
        Ok(out)
    }

    /// What the registry for `handle`'s domain says of it for `key` (PROTOCOL.md §15.4):
    /// verified, impostor, or — when none vouches either way — unverified.
    pub async fn handle_status(&self, handle: &str, key: &str) -> HandleStatus {
        match self.resolve(handle, None).await {
            Ok((_, v)) if v.record.pubkey.to_b64() == key => HandleStatus::Verified,
            Ok(_) => HandleStatus::Impostor,
            Err(_) => HandleStatus::Unverified,
        }
    }

    /// Checks the claimed handles of waiting requests, a few at a time, until the node stops.
    /// Each request is checked once here (its status is stored); approving re-checks.
    pub async fn verify_handles(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.store.pending_unchecked(32).await {
                Ok(batch) => {
                    for p in &batch {
                        let handle = p.peer_handle.as_deref().unwrap_or_default();
                        let status = self.handle_status(handle, &p.peer_pubkey).await;
                        if let Err(e) = self.store.set_handle_status(&p.id, status).await {
                            tracing::error!(cloud = %self.name, "storing a handle check: {e}");
                        }
                    }
                    if batch.len() == 32 {
                        continue;
                    }
                }
                Err(e) => tracing::error!(cloud = %self.name, "reading pending requests: {e}"),
            }
            tokio::select! {
                _ = self.handles_wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// A handshake from an unknown key that names a handle we resolved through a registry:
    /// the peer may have rotated since we last looked. Check now (rate-limited per handle)
    /// and report whether the key is now on the whitelist.
    pub(crate) async fn check_claimed_handle(&self, claimed: &str, from: &PublicKey) -> bool {
        let Ok(Some(peer)) = self.store.find_peer(claimed).await else {
            return false;
        };
        if peer.registry_url.is_none() {
            return false;
        }
        {
            let mut checks = self.early_checks.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            let handle = &peer.grant.peer_handle;
            if checks
                .get(handle)
                .is_some_and(|t| now.duration_since(*t) < EARLY_CHECK_EVERY)
            {
                return false;
            }
            checks.insert(handle.clone(), now);
        }
        matches!(self.check_peer(&peer).await, PeerCheck::Rotated { ref to, .. } if *to == from.to_b64())
    }
}
