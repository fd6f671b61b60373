//! The registry's rules: codes, claims, lookups, rotations, renames, devices, the registration
//! lock. Handlers (`api.rs`) parse and call here; storage is behind [`RegistryStore`].
//!
//! Every operation validates everything it can without side effects first (signatures, handle
//! syntax, ownership), then spends the phone code, then writes once. A code is spent only by
//! an operation that then either succeeds or fails for a reason the code holder must hear
//! (the phone does not own the handle, the registration lock).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sovra_proto::registry::{
    ChainLink, CloudRecord, DeviceRequest, LinkKind, Lookup, PhoneProof, RecordUpdate,
    RegisterRequest, RegistryInfo, RenameRequest, RotateRequest, VerifiedRecord, WhoamiResponse,
    operation,
};
use sovra_proto::{ProtoError, PublicKey, SigningKeypair, keys::signature_from_b64};
use subtle::ConstantTimeEq;

use crate::error::RegistryError;
use crate::handle::Handle;
use crate::phone::{PhoneHasher, normalize};
use crate::sms::SmsGateway;
use crate::store::{CloudRow, RegistryStore, Retired, is_conflict};

pub type Result<T> = std::result::Result<T, RegistryError>;

/// Oldest `issued_at` a record presented to the registry may carry.
pub const RECORD_MAX_AGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[derive(Debug, Clone)]
pub struct Settings {
    /// Handles are `@name.<domain>`.
    pub domain: String,
    pub code_ttl: Duration,
    /// Wrong codes before a verification locks.
    pub max_attempts: u32,
    /// Codes per phone, and per client address, within `send_window`.
    pub sends_per_phone: i64,
    pub sends_per_client: i64,
    pub send_window: Duration,
    /// A cloud active this recently cannot be re-registered without its key.
    pub lock_period: Duration,
    /// A renamed-away handle stays unclaimable, pointing at its successor, this long.
    pub retire_period: Duration,
    /// SMS pumping: codes sent per hour in all, and per country calling code. Kept in memory
    /// (a restart forgets them; several instances each keep their own).
    pub sms_per_hour: u32,
    pub sms_per_country_per_hour: u32,
    /// Number prefixes never texted: satellite, international-network and premium ranges,
    /// where a pumped code costs the most and no person is expected.
    pub denied_prefixes: Vec<String>,
    /// Lookups answered per minute to one client address (GCRA, the same burst): a handle is
    /// cheap to look up, and the handle space is meant to be searched one name at a time.
    pub lookups_per_client_per_minute: u32,
}

/// Satellite (+870 Inmarsat, +881 GMSS), international networks (+882, +883) and the
/// international premium-rate range (+979).
pub const DEFAULT_DENIED_PREFIXES: &[&str] = &["+870", "+881", "+882", "+883", "+979"];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            domain: "cloud".into(),
            code_ttl: Duration::from_secs(10 * 60),
            max_attempts: 5,
            sends_per_phone: 3,
            sends_per_client: 20,
            send_window: Duration::from_secs(3600),
            lock_period: Duration::from_secs(7 * 24 * 3600),
            retire_period: Duration::from_secs(30 * 24 * 3600),
            sms_per_hour: 1000,
            sms_per_country_per_hour: 200,
            denied_prefixes: DEFAULT_DENIED_PREFIXES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            lookups_per_client_per_minute: 600,
        }
    }
}

pub struct Registry<S: RegistryStore> {
    pub store: S,
    keys: SigningKeypair,
    pub(crate) hasher: PhoneHasher,
    pub(crate) sms: Arc<dyn SmsGateway>,
    pub settings: Settings,
    /// Codes sent per hour: in all, and by country calling code.
    pub(crate) sms_budget: governor::DefaultDirectRateLimiter,
    pub(crate) sms_by_country: governor::DefaultKeyedRateLimiter<u16>,
    lookups_by_client: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
}

fn per_hour(n: u32) -> governor::Quota {
    let n = std::num::NonZeroU32::new(n.max(1)).expect("at least 1");
    governor::Quota::per_hour(n).allow_burst(n)
}

pub(crate) fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

fn parse_lookup(row: &CloudRow) -> Result<Lookup> {
    serde_json::from_str(&row.lookup)
        .map_err(|e| RegistryError::Storage(sqlx::Error::Decode(Box::new(e))))
}

fn check_op_sig(key: &PublicKey, bytes: &[u8], sig: &str) -> Result<()> {
    key.verify(
        "operation (current cloud key)",
        bytes,
        &signature_from_b64("op_sig", sig)?,
    )?;
    Ok(())
}

impl<S: RegistryStore> Registry<S> {
    pub fn new(
        store: S,
        keys: SigningKeypair,
        hasher: PhoneHasher,
        sms: Arc<dyn SmsGateway>,
        settings: Settings,
    ) -> Self {
        Registry {
            store,
            keys,
            hasher,
            sms,
            sms_budget: governor::RateLimiter::direct(per_hour(settings.sms_per_hour)),
            sms_by_country: governor::RateLimiter::keyed(per_hour(
                settings.sms_per_country_per_hour,
            )),
            lookups_by_client: governor::RateLimiter::keyed({
                let n = std::num::NonZeroU32::new(settings.lookups_per_client_per_minute.max(1))
                    .expect("at least 1");
                governor::Quota::per_minute(n).allow_burst(n)
            }),
            settings,
        }
    }

    pub fn public(&self) -> PublicKey {
        self.keys.public()
    }

    /// Admits one lookup from `client`, or says how long to wait.
    pub fn admit_lookup(&self, client: std::net::IpAddr) -> Result<()> {
        if self.lookups_by_client.len() > 65_536 {
            self.lookups_by_client.retain_recent();
        }
        self.lookups_by_client
            .check_key(&client)
            .map_err(|not_until| {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                RegistryError::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                }
            })
    }

    pub fn info(&self) -> RegistryInfo {
        RegistryInfo {
            registry_key: self.public().to_b64(),
            domain: self.settings.domain.clone(),
            code_ttl_seconds: self.settings.code_ttl.as_secs(),
        }
    }

    /// The hash under which the registry knows this phone (for tools and tests that seed data).
    pub fn phone_hash(&self, phone: &str) -> Result<String> {
        Ok(self.hasher.hash(&normalize(phone)?))
    }

    // --- codes ---------------------------------------------------------------------------

    // --- records -------------------------------------------------------------------------

    fn check_record(&self, record: &CloudRecord) -> Result<(VerifiedRecord, Handle)> {
        // The handle first, so a handle in the wrong form is `invalid_handle` (§16.6), not the
        // generic `malformed` the record's own check would give it.
        let handle = Handle::parse(&record.handle, &self.settings.domain)?;
        if handle.full != record.handle {
            return Err(RegistryError::InvalidHandle(format!(
                "write the handle as {}",
                handle.full
            )));
        }
        let verified = record.verify()?;
        // A record is signed for now: one dated ahead would make every later (honest) record
        // "older" and freeze its owner out; one long past is a replay of an old state.
        let now = jiff::Timestamp::now();
        let skew = sovra_proto::handshake::MAX_CLOCK_SKEW;
        if verified.issued_at > now + skew || verified.issued_at < now - RECORD_MAX_AGE {
            return Err(ProtoError::StaleTimestamp {
                at: record.issued_at.clone(),
            }
            .into());
        }
        Ok((verified, handle))
    }

    /// Fails if `handle` (by skeleton) belongs to a cloud other than `owner`, or is retired.
    async fn check_available(&self, handle: &Handle, owner: Option<i64>) -> Result<()> {
        let holder = self.store.cloud_by_skeleton(&handle.skeleton).await?;
        let retired = self.store.retired(&handle.skeleton, now_ms()).await?;
        if holder.is_some_and(|c| Some(c.id) != owner) || retired.is_some() {
            return Err(RegistryError::HandleTaken {
                handle: handle.full.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn sign_lookup(&self, record: CloudRecord, chain: Vec<ChainLink>) -> Result<String> {
        let lookup = Lookup::sign(&self.keys, record, chain, Timestamp::now());
        serde_json::to_string(&lookup)
            .map_err(|e| RegistryError::Storage(sqlx::Error::Decode(Box::new(e))))
    }

    async fn conflict(&self, e: sqlx::Error, handle: &str) -> RegistryError {
        if is_conflict(&e) {
            if self
                .store
                .cloud_by_handle(handle)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                RegistryError::HandleTaken {
                    handle: handle.into(),
                }
            } else {
                RegistryError::KeyTaken
            }
        } else {
            RegistryError::Storage(e)
        }
    }

    /// `POST /v1/clouds`. A new phone claims a handle; the phone's own cloud refreshes its
    /// record; a new key for an existing phone is the SIM-swap case: refused while the cloud
    /// was active within the lock period, afterwards accepted as a *reset*.
    /// Returns the signed lookup JSON and whether a cloud was created.
    pub async fn register(&self, req: &RegisterRequest) -> Result<(String, bool)> {
        let (record, handle) = self.check_record(&req.record)?;
        let phone_hash = self.spend_code(&req.phone).await?;
        let now = now_ms();
        let Some(mut cloud) = self.store.cloud_by_phone(&phone_hash).await? else {
            self.check_available(&handle, None).await?;
            let lookup = self.sign_lookup(req.record.clone(), vec![])?;
            let row = CloudRow {
                id: 0,
                phone_hash,
                pepper_version: self.hasher.version(),
                handle: handle.full.clone(),
                skeleton: handle.skeleton.clone(),
                pubkey: record.pubkey.to_b64(),
                lookup: lookup.clone(),
                created_at: now,
                updated_at: now,
                last_active_at: now,
                suspended: None,
            };
            if let Err(e) = self.store.insert_cloud(&row).await {
                return Err(self.conflict(e, &handle.full).await);
            }
            tracing::info!(handle = %handle.full, "registered");
            return Ok((lookup, true));
        };
        not_suspended(&cloud)?;
        // The SIM-swap lock comes first: while the cloud is active, a claim under another key
        // learns nothing else about it (not even that the handle differs).
        let new_key = cloud.pubkey != record.pubkey.to_b64();
        let idle = now - cloud.last_active_at;
        let lock = ms(self.settings.lock_period);
        if new_key && idle < lock {
            return Err(RegistryError::RegistrationLocked {
                retry_after_secs: ((lock - idle) / 1000).max(1) as u64,
            });
        }
        if handle.full != cloud.handle {
            return Err(RegistryError::Conflict(format!(
                "this phone's cloud is {}; changing the handle is a rename",
                cloud.handle
            )));
        }
        let current = parse_lookup(&cloud)?;
        let mut chain = current.chain;
        if new_key {
            let old = PublicKey::from_b64("pubkey", &cloud.pubkey)?;
            chain.push(ChainLink::reset(
                &self.keys,
                &old,
                &record.pubkey,
                Timestamp::now(),
            ));
            tracing::warn!(handle = %cloud.handle, "key reset after the registration lock");
        }
        cloud.pubkey = record.pubkey.to_b64();
        cloud.lookup = self.sign_lookup(req.record.clone(), chain)?;
        cloud.updated_at = now;
        cloud.last_active_at = now;
        if let Err(e) = self.store.update_cloud(&cloud, None).await {
            return Err(self.conflict(e, &handle.full).await);
        }
        Ok((cloud.lookup, false))
    }

    /// The cloud of `handle`, for a change its owner asks for: refused while suspended.
    async fn cloud(&self, handle: &str) -> Result<CloudRow> {
        let cloud = self.any_cloud(handle).await?;
        not_suspended(&cloud)?;
        Ok(cloud)
    }

    /// The cloud of `handle`, suspended or not.
    pub(crate) async fn any_cloud(&self, handle: &str) -> Result<CloudRow> {
        let parsed = Handle::parse(handle, &self.settings.domain)
            .map_err(|_| RegistryError::UnknownHandle)?;
        self.store
            .cloud_by_handle(&parsed.full)
            .await?
            .ok_or(RegistryError::UnknownHandle)
    }

    /// `PUT /v1/handles/{handle}/record`: the same key publishes a newer record.
    pub async fn update_record(&self, handle: &str, req: &RecordUpdate) -> Result<String> {
        let mut cloud = self.cloud(handle).await?;
        let (record, _) = self.check_record(&req.record)?;
        if record.pubkey.to_b64() != cloud.pubkey {
            return Err(ProtoError::BadSignature {
                what: "record (not signed by the handle's current key)",
            }
            .into());
        }
        if record.handle != cloud.handle {
            return Err(RegistryError::Conflict(
                "a record update keeps the handle; changing it is a rename".into(),
            ));
        }
        let current = parse_lookup(&cloud)?;
        let previous = sovra_proto::time::parse("issued_at", &current.record.issued_at)?;
        // Older records are refused so a captured one cannot roll an endpoint back.
        if record.issued_at < previous {
            return Err(RegistryError::Conflict(
                "the record is older than the published one".into(),
            ));
        }
        let now = now_ms();
        cloud.lookup = self.sign_lookup(req.record.clone(), current.chain)?;
        cloud.updated_at = now;
        cloud.last_active_at = now;
        self.store.update_cloud(&cloud, None).await?;
        Ok(cloud.lookup)
    }

    /// Checks that the spent code's phone owns `cloud`.
    async fn spend_owner_code(&self, proof: &PhoneProof, cloud: &CloudRow) -> Result<()> {
        let phone_hash = self.spend_code(proof).await?;
        if !bool::from(phone_hash.as_bytes().ct_eq(cloud.phone_hash.as_bytes())) {
            return Err(RegistryError::PhoneMismatch);
        }
        Ok(())
    }

    /// `POST /v1/handles/{handle}/rotate`: phone code + the current key + the new key.
    pub async fn rotate(&self, handle: &str, req: &RotateRequest) -> Result<String> {
        let mut cloud = self.cloud(handle).await?;
        let current_key = PublicKey::from_b64("pubkey", &cloud.pubkey)?;
        let link = req.link.verify(&self.public())?;
        if link.kind != LinkKind::Rotation {
            return Err(ProtoError::Malformed {
                what: "link.kind",
                detail: "a rotation".into(),
            }
            .into());
        }
        let (record, _) = self.check_record(&req.record)?;
        if link.old != current_key || link.new != record.pubkey || record.handle != cloud.handle {
            return Err(ProtoError::Malformed {
                what: "link",
                detail: "must lead from the handle's current key to the new record's key".into(),
            }
            .into());
        }
        check_op_sig(
            &current_key,
            &operation::rotate(&cloud.handle, &req.phone.verification_id, &link.new),
            &req.op_sig,
        )?;
        self.spend_owner_code(&req.phone, &cloud).await?;
        let mut chain = parse_lookup(&cloud)?.chain;
        chain.push(req.link.clone());
        let now = now_ms();
        cloud.pubkey = record.pubkey.to_b64();
        cloud.lookup = self.sign_lookup(req.record.clone(), chain)?;
        cloud.updated_at = now;
        cloud.last_active_at = now;
        if let Err(e) = self.store.update_cloud(&cloud, None).await {
            return Err(self.conflict(e, &cloud.handle).await);
        }
        tracing::info!(handle = %cloud.handle, "key rotated");
        Ok(cloud.lookup)
    }

    /// `POST /v1/handles/{handle}/rename`: phone code + the current key.
    pub async fn rename(&self, handle: &str, req: &RenameRequest) -> Result<String> {
        let mut cloud = self.cloud(handle).await?;
        let current_key = PublicKey::from_b64("pubkey", &cloud.pubkey)?;
        let (record, new) = self.check_record(&req.record)?;
        if record.pubkey != current_key {
            return Err(ProtoError::BadSignature {
                what: "record (not signed by the handle's current key)",
            }
            .into());
        }
        self.check_available(&new, Some(cloud.id)).await?;
        check_op_sig(
            &current_key,
            &operation::rename(&cloud.handle, &req.phone.verification_id, &new.full),
            &req.op_sig,
        )?;
        self.spend_owner_code(&req.phone, &cloud).await?;
        let now = now_ms();
        let old = Handle::parse(&cloud.handle, &self.settings.domain)?;
        let retire = (old.skeleton != new.skeleton).then(|| Retired {
            skeleton: old.skeleton.clone(),
            handle: old.full.clone(),
            successor: new.full.clone(),
            until: now + ms(self.settings.retire_period),
        });
        let chain = parse_lookup(&cloud)?.chain;
        cloud.handle = new.full.clone();
        cloud.skeleton = new.skeleton.clone();
        cloud.lookup = self.sign_lookup(req.record.clone(), chain)?;
        cloud.updated_at = now;
        cloud.last_active_at = now;
        if let Err(e) = self.store.update_cloud(&cloud, retire.as_ref()).await {
            return Err(self.conflict(e, &new.full).await);
        }
        tracing::info!(from = %old.full, to = %new.full, "handle renamed");
        Ok(cloud.lookup)
    }

    /// `POST /v1/handles/{handle}/devices`: phone code + the current key. Returns the
    /// device keys now on record.
    pub async fn add_device(&self, handle: &str, req: &DeviceRequest) -> Result<Vec<String>> {
        let cloud = self.cloud(handle).await?;
        let current_key = PublicKey::from_b64("pubkey", &cloud.pubkey)?;
        let device = req.certificate.verify(&current_key)?;
        check_op_sig(
            &current_key,
            &operation::device(&cloud.handle, &req.phone.verification_id, &device),
            &req.op_sig,
        )?;
        self.spend_owner_code(&req.phone, &cloud).await?;
        let cert = serde_json::to_string(&req.certificate)
            .map_err(|e| RegistryError::Storage(sqlx::Error::Decode(Box::new(e))))?;
        self.store
            .add_device(cloud.id, &device.to_b64(), &cert, now_ms())
            .await?;
        Ok(self.store.devices(cloud.id).await?)
    }

    /// `POST /v1/attestations`: a phone verified just now vouches for a cloud key, for one
    /// audience (a node that hosts by phone), under a tag that names neither the phone nor
    /// links audiences: SHA-256 of the phone's HMAC and the audience.
    pub async fn attest(
        &self,
        req: &sovra_proto::registry::AttestationRequest,
    ) -> Result<sovra_proto::registry::PhoneAttestation> {
        let cloud = PublicKey::from_b64("cloud_key", &req.cloud_key)?;
        sovra_proto::urls::validate_url("audience", &req.audience, &["http", "https"])?;
        let phone_hash = self.spend_code(&req.phone).await?;
        let tag: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(
                sovra_proto::canonical::Canonical::new("sovra-registry/1/phone-tag")
                    .str(&phone_hash)
                    .str(&req.audience)
                    .finish(),
            )
            .into()
        };
        Ok(sovra_proto::registry::PhoneAttestation::sign(
            &self.keys,
            &cloud,
            &req.audience,
            &tag,
            Timestamp::now(),
        ))
    }

    /// `POST /v1/elevations`: the phone on record for a handle answers a code again, for the
    /// cloud key the handle has now and one audience (the node serving it): the second factor
    /// of a high-trust operation there (§16.3).
    pub async fn elevate(
        &self,
        req: &sovra_proto::registry::ElevationRequest,
    ) -> Result<sovra_proto::registry::Elevation> {
        sovra_proto::urls::validate_url("audience", &req.audience, &["http", "https"])?;
        let claimed = PublicKey::from_b64("cloud_key", &req.cloud_key)?;
        let cloud = self.cloud(&req.handle).await?;
        if PublicKey::from_b64("pubkey", &cloud.pubkey)? != claimed {
            return Err(ProtoError::Malformed {
                what: "cloud_key",
                detail: "not the key this handle has now".into(),
            }
            .into());
        }
        self.spend_owner_code(&req.phone, &cloud).await?;
        Ok(sovra_proto::registry::Elevation::sign(
            &self.keys,
            &claimed,
            &req.audience,
            Timestamp::now(),
        ))
    }

    /// `POST /v1/whoami`: the phone alone recovers its handle and key (low-trust).
    pub async fn whoami(&self, proof: &PhoneProof) -> Result<WhoamiResponse> {
        let phone_hash = self.spend_code(proof).await?;
        let cloud = self
            .store
            .cloud_by_phone(&phone_hash)
            .await?
            .ok_or(RegistryError::NotRegistered)?;
        Ok(WhoamiResponse {
            handle: cloud.handle,
            pubkey: cloud.pubkey,
        })
    }

    /// `GET /v1/handles/{handle}`: the stored signed lookup, as is.
    pub async fn lookup(&self, handle: &str) -> Result<String> {
        let parsed = Handle::parse(handle, &self.settings.domain)
            .map_err(|_| RegistryError::UnknownHandle)?;
        if let Some(json) = self.store.lookup_json(&parsed.full).await? {
            return Ok(json);
        }
        // Not served: suspended, taken down, renamed, or never there.
        if let Some(cloud) = self.store.cloud_by_handle(&parsed.full).await? {
            not_suspended(&cloud)?;
        }
        match self.store.retired(&parsed.skeleton, now_ms()).await? {
            Some(r) if r.handle == parsed.full && r.successor.is_empty() => {
                Err(RegistryError::TakenDown { handle: r.handle })
            }
            Some(r) if r.handle == parsed.full => Err(RegistryError::HandleChanged {
                handle: r.handle,
                successor: r.successor,
            }),
            _ => Err(RegistryError::UnknownHandle),
        }
    }

    /// Forgets expired codes and old send records.
    pub async fn sweep(&self) -> Result<()> {
        let now = now_ms();
        self.store
            .sweep(
                now - ms(self.settings.send_window).max(24 * 3600 * 1000),
                now,
            )
            .await?;
        Ok(())
    }
}

/// Refuses what a suspended cloud asks for, and its lookups.
fn not_suspended(cloud: &CloudRow) -> Result<()> {
    match &cloud.suspended {
        Some(reason) => Err(RegistryError::Suspended {
            handle: cloud.handle.clone(),
            reason: reason.clone(),
        }),
        None => Ok(()),
    }
}
