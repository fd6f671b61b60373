//! One-time phone codes (docs/PROTOCOL.md §16.4): sending one within the per-phone,
//! per-client and SMS-pumping limits, and spending one — the proof every phone-backed registry
//! operation starts from.

use jiff::Timestamp;
use rand_core::Rng;
use sovra_proto::registry::{CodeResponse, PhoneProof};
use sovra_proto::{ProtoError, os_rng};
use subtle::ConstantTimeEq;

use crate::error::RegistryError;
use crate::phone::normalize;
use crate::registry::{Registry, Result, ms, now_ms};
use crate::store::{RegistryStore, Verification};

/// A uniformly random 6-digit code (rejection sampling: no modulo bias).
fn six_digits(rng: &mut impl Rng) -> String {
    const LIMIT: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let v = rng.next_u32();
        if v < LIMIT {
            return format!("{:06}", v % 1_000_000);
        }
    }
}

impl<S: RegistryStore> Registry<S> {
    /// Sends a fresh code to `phone`, within the per-phone and per-client limits.
    pub async fn request_code(&self, phone: &str, client: &str) -> Result<CodeResponse> {
        let e164 = normalize(phone)?;
        if let Some(prefix) = self
            .settings
            .denied_prefixes
            .iter()
            .find(|p| e164.starts_with(p.as_str()))
        {
            return Err(RegistryError::InvalidPhone(format!(
                "numbers in {prefix} are not served"
            )));
        }
        let phone_hash = self.hasher.hash(&e164);
        let now = now_ms();
        let window = ms(self.settings.send_window);
        let (by_phone, by_client) = self
            .store
            .sends_since(&phone_hash, client, now - window)
            .await?;
        if by_phone >= self.settings.sends_per_phone || by_client >= self.settings.sends_per_client
        {
            return Err(RegistryError::RateLimited {
                retry_after_secs: self.settings.send_window.as_secs(),
            });
        }
        // The pumping budgets, after the per-phone and per-client limits (which cost nothing
        // of them).
        let country = crate::phone::country_code(&e164);
        if self.sms_budget.check().is_err()
            || country.is_some_and(|c| self.sms_by_country.check_key(&c).is_err())
        {
            tracing::warn!(country = ?country, "SMS budget spent; refusing codes for now");
            return Err(RegistryError::RateLimited {
                retry_after_secs: 3600 / u64::from(self.settings.sms_per_country_per_hour.max(1)),
            });
        }
        if self.sms_by_country.len() > 10_000 {
            self.sms_by_country.retain_recent();
        }
        let mut rng = os_rng();
        let code = six_digits(&mut rng);
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let id = sovra_proto::encoding::hex(&id);
        let expires_at = now + ms(self.settings.code_ttl);
        self.store
            .insert_verification(&Verification {
                id: id.clone(),
                phone_hash: phone_hash.clone(),
                pepper_version: self.hasher.version(),
                code_mac: self.hasher.code_mac(&id, &code),
                created_at: now,
                expires_at,
                attempts: 0,
                state: "open".into(),
            })
            .await?;
        self.store.record_send(&phone_hash, client, now).await?;
        let minutes = self.settings.code_ttl.as_secs() / 60;
        let body = format!(
            "Your Sovra code is {code}. It expires in {minutes} minutes. Never share it: nobody from Sovra will ask for it."
        );
        let sent = self.sms.send(&e164, &body).await;
        metrics::counter!("sovra_registry_sms_total", "ok" => sent.is_ok().to_string())
            .increment(1);
        sent.map_err(RegistryError::SmsFailed)?;
        Ok(CodeResponse {
            verification_id: id,
            expires_at: sovra_proto::time::format(
                Timestamp::from_millisecond(expires_at).unwrap_or(Timestamp::now()),
            ),
        })
    }

    /// Checks a code and spends it; returns the verified phone's hash.
    pub(crate) async fn spend_code(&self, proof: &PhoneProof) -> Result<String> {
        if proof.verification_id.len() > 64 {
            return Err(RegistryError::UnknownVerification);
        }
        let v = self
            .store
            .verification(&proof.verification_id)
            .await?
            .ok_or(RegistryError::UnknownVerification)?;
        match v.state.as_str() {
            "used" => return Err(RegistryError::CodeUsed),
            "locked" => return Err(RegistryError::LockedOut),
            _ => {}
        }
        if v.expires_at <= now_ms() {
            return Err(RegistryError::CodeExpired);
        }
        if proof.code.len() != 6 || !proof.code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProtoError::Malformed {
                what: "code",
                detail: "six digits".into(),
            }
            .into());
        }
        let mac = self.hasher.code_mac(&v.id, &proof.code);
        if !bool::from(mac.as_bytes().ct_eq(v.code_mac.as_bytes())) {
            let max = i64::from(self.settings.max_attempts);
            let attempts = self.store.fail_attempt(&v.id, max).await?;
            if attempts >= max {
                return Err(RegistryError::LockedOut);
            }
            return Err(RegistryError::WrongCode {
                attempts_left: (max - attempts) as u32,
            });
        }
        if !self.store.consume_verification(&v.id).await? {
            return Err(RegistryError::CodeUsed);
        }
        Ok(v.phone_hash)
    }
}
