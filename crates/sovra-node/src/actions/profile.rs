//! Profiles: this cloud's `GET /api/me` (§23.1) and other issuers' — where an id tag's
//! actions surface is, and its keys, fetched with a timeout and cached (failures briefly).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sovra_proto::action::{ActionKey, Envelope, Profile, ProfileKey};
use sovra_proto::identity::validate_handle;

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{DAY_MS, now_ms};

/// How long a key this cloud signed with stays listed after it was replaced.
pub const KEY_GRACE_MS: i64 = 365 * DAY_MS;
/// How long a fetched profile is believed.
const PROFILE_TTL: Duration = Duration::from_secs(600);
/// A profile that did not name a token's key is fetched again at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// How long a failed fetch is answered from memory.
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// Profiles and failures remembered at once.
const MAX_CACHED: usize = 4096;
/// The largest `/api/me` answer read.
const MAX_PROFILE_BODY: usize = 64 * 1024;

/// Where an id tag's actions surface is, and the profile it publishes there.
#[derive(Clone)]
pub struct Issuer {
    /// The base every actions path is below (`<base>/api/me`, `<base>/api/inbox`).
    pub base_url: String,
    keys: Vec<(String, ActionKey, Option<i64>)>,
    fetched: Instant,
}

impl Issuer {
    /// The key `key_id`, if the profile lists it and it has not expired.
    pub fn key(&self, key_id: &str) -> Option<&ActionKey> {
        let now = now_ms();
        self.keys
            .iter()
            .find(|(id, _, exp)| id == key_id && exp.is_none_or(|e| e > now))
            .map(|(_, k, _)| k)
    }
}

/// Fetched profiles and recent failures, by id tag; both bounded.
#[derive(Default)]
pub struct Profiles {
    issuers: Mutex<HashMap<String, Issuer>>,
    failures: Mutex<HashMap<String, (Instant, ApiError)>>,
}

fn bounded<V>(map: &mut HashMap<String, V>, key: String, value: V, age: impl Fn(&V) -> Instant) {
    if map.len() >= MAX_CACHED && !map.contains_key(&key) {
        // Drop the oldest entry: a full map must not refuse new issuers.
        if let Some(old) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
        {
            map.remove(&old);
        }
    }
    map.insert(key, value);
}

fn unreachable(id_tag: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        424,
        "issuer_unreachable",
        format!("the profile of {id_tag} could not be fetched: {why}"),
    )
}

/// Whether `id_tag` is a domain (a Cloudillo id tag): letters, digits, `-`, dots between.
fn valid_domain(id_tag: &str) -> bool {
    id_tag.len() <= 253
        && id_tag.contains('.')
        && id_tag.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl Cloud {
    /// This cloud's id tag on the actions surface: its handle.
    pub fn id_tag(&self) -> &str {
        &self.config.handle
    }

    /// The key id this cloud signs actions with now, recorded in `action_keys` (a key it
    /// replaced, after a rotation, stays listed for [`KEY_GRACE_MS`]).
    pub async fn action_key_id(&self) -> ApiResult<String> {
        let public = self.keys().signing.public();
        let key_id = ActionKey::sovra_key_id(&public);
        let recorded = &self.actions.recorded_key;
        // Written once per key, not on every profile read, token or access token.
        if recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            == Some(&key_id)
        {
            return Ok(key_id);
        }
        self.store
            .set_action_key(
                &key_id,
                &ActionKey::Ed25519(public).to_spki_b64(),
                KEY_GRACE_MS,
            )
            .await?;
        *recorded.lock().unwrap_or_else(|p| p.into_inner()) = Some(key_id.clone());
        Ok(key_id)
    }

    /// `GET /api/me`.
    pub async fn profile(&self) -> ApiResult<Profile> {
        self.action_key_id().await?;
        let keys = self
            .store
            .action_keys()
            .await?
            .into_iter()
            .map(|(key_id, public_key, exp)| ProfileKey {
                key_id,
                public_key,
                expires_at: exp.and_then(|ms| {
                    jiff::Timestamp::from_millisecond(ms)
                        .ok()
                        .map(sovra_proto::time::format)
                }),
            })
            .collect();
        Ok(Profile {
            id_tag: self.id_tag().to_owned(),
            name: self.id_tag().trim_start_matches('@').to_owned(),
            kind: "person".into(),
            profile_pic: None,
            keys,
        })
    }

    /// Where `id_tag`'s actions surface is: a Sovra handle's from its whitelist entry, a
    /// relation recorded earlier, or its registry record; a domain's from the Cloudillo URL
    /// template (`https://cl-o.<idTag>/api` by default).
    pub async fn actions_base(&self, id_tag: &str) -> ApiResult<String> {
        if id_tag.starts_with('@') {
            validate_handle(id_tag)?;
            if let Some(url) = self.store.find_peer(id_tag).await?.and_then(|p| p.peer_url) {
                return Ok(url);
            }
            let known = match self.store.connection(id_tag).await? {
                Some(r) => Some(r),
                None => match self.store.follow(id_tag, "out").await? {
                    Some(r) => Some(r),
                    None => self.store.follow(id_tag, "in").await?,
                },
            };
            if let Some(rel) = known {
                return Ok(rel.base_url);
            }
            let (_, lookup) = self.resolve(id_tag, None).await.map_err(|e| {
                ApiError::new(
                    424,
                    "issuer_unknown",
                    format!("no endpoint is known for {id_tag}: {}", e.message),
                )
            })?;
            return lookup.record.endpoint.ok_or_else(|| {
                ApiError::new(
                    424,
                    "issuer_unknown",
                    format!("{id_tag} publishes no endpoint"),
                )
            });
        }
        if !valid_domain(id_tag) {
            return Err(ApiError::bad_request(format!(
                "`{id_tag}` is neither a handle nor a domain"
            )));
        }
        let api = self.settings.cloudillo_api.replace("{id_tag}", id_tag);
        Ok(api.trim_end_matches("/api").to_owned())
    }

    /// The issuer `id_tag` with its keys: from the cache, or fetched from its `/api/me`. With
    /// `want_key`, a cached profile that lacks it is fetched again (the issuer rotated).
    pub async fn issuer(&self, id_tag: &str, want_key: Option<&str>) -> ApiResult<Issuer> {
        let cache = &self.actions.profiles;
        if let Some(i) = cache
            .issuers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id_tag)
            && i.fetched.elapsed() < PROFILE_TTL
            && (want_key.is_none_or(|k| i.key(k).is_some()) || i.fetched.elapsed() < REFETCH_AFTER)
        {
            return Ok(i.clone());
        }
        if let Some((at, e)) = cache
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id_tag)
            && at.elapsed() < FAILURE_TTL
        {
            return Err(e.clone());
        }
        match self.fetch_issuer(id_tag).await {
            Ok(i) => {
                let mut map = cache.issuers.lock().unwrap_or_else(|p| p.into_inner());
                bounded(&mut map, id_tag.to_owned(), i.clone(), |v| v.fetched);
                Ok(i)
            }
            Err(e) => {
                if e.code == "issuer_unreachable" {
                    let mut map = cache.failures.lock().unwrap_or_else(|p| p.into_inner());
                    bounded(
                        &mut map,
                        id_tag.to_owned(),
                        (Instant::now(), e.clone()),
                        |v| v.0,
                    );
                }
                Err(e)
            }
        }
    }

    async fn fetch_issuer(&self, id_tag: &str) -> ApiResult<Issuer> {
        let base_url = self.actions_base(id_tag).await?;
        let url = format!("{}/api/me", base_url.trim_end_matches('/'));
        let resp = self
            .http
            .get(&url)
            .timeout(self.settings.request_timeout)
            .send()
            .await
            .map_err(|e| unreachable(id_tag, e))?;
        if !resp.status().is_success() {
            return Err(unreachable(
                id_tag,
                format!("{url} answered {}", resp.status()),
            ));
        }
        let body = read_limited(resp, MAX_PROFILE_BODY)
            .await
            .map_err(|e| unreachable(id_tag, e))?;
        // Cloudillo wraps answers in {"data": …}; a bare profile is taken too.
        let profile = serde_json::from_slice::<Envelope<Profile>>(&body)
            .map(|e| e.data)
            .or_else(|_| serde_json::from_slice::<Profile>(&body))
            .map_err(|e| unreachable(id_tag, format!("not a profile: {e}")))?;
        if profile.id_tag.trim_start_matches('@') != id_tag.trim_start_matches('@') {
            return Err(ApiError::new(
                424,
                "issuer_mismatch",
                format!("{url} is the profile of {}, not {id_tag}", profile.id_tag),
            ));
        }
        let keys = profile
            .keys
            .iter()
            .filter_map(|k| {
                let key = ActionKey::from_spki_b64(&k.public_key).ok()?;
                let exp = match &k.expires_at {
                    Some(t) => Some(
                        sovra_proto::time::parse("expiresAt", t)
                            .ok()?
                            .as_millisecond(),
                    ),
                    None => None,
                };
                Some((k.key_id.clone(), key, exp))
            })
            .collect();
        Ok(Issuer {
            base_url,
            keys,
            fetched: Instant::now(),
        })
    }
}

/// Reads a response body up to `max` bytes; longer is an error, not a truncation.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
