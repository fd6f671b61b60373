//! The owner API: what the cloud's human (through the CLI, later a web page) may do.
//!
//! Separate from the D2D surface (`/api/owner/…`) and never usable unauthenticated: every
//! request carries `x-sovra-device`, `x-sovra-timestamp`, `x-sovra-nonce` and
//! `x-sovra-signature` (docs/PROTOCOL.md §Owner API). The device must hold an unrevoked
//! certificate from the cloud key; the timestamp must be within 60 s; the nonce unused.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use sovra_proto::device::{
    KeyCertificate, OWNER_REQUEST_WINDOW_MS, OwnerAuth, PURPOSE_OWNER, owner_request_bytes,
    verify_certified,
};
use sovra_proto::registry::{PhoneProof, VerifiedLookup};
use sovra_proto::{Call, DataPolicy, Payload, PublicKey, Retention, WhitelistEntry, safety_code};

use crate::capability::Adapter;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{CapabilityRow, now_ms};
use sovra_http::{JsonBody, MAX_BODY};

fn unauthorized(why: impl Into<String>) -> ApiError {
    ApiError::new(401, "unauthorized", why)
}

/// Middleware: authenticates the request, then hands it on with its body intact.
pub async fn authenticate(
    State(cloud): State<Arc<Cloud>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| unauthorized(format!("missing {name} header")))
    };
    let auth = OwnerAuth {
        device: header("x-sovra-device")?,
        timestamp_ms: header("x-sovra-timestamp")?
            .parse()
            .map_err(|_| unauthorized("x-sovra-timestamp is not an integer"))?,
        nonce: header("x-sovra-nonce")?,
        signature: header("x-sovra-signature")?,
    };
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            413,
            "wrong_size",
            format!("request body is larger than {MAX_BODY} bytes"),
        )
    })?;
    let now = now_ms();
    auth.check_window(now)?;
    let device = PublicKey::from_b64("x-sovra-device", &auth.device)?;
    let sig = sovra_proto::keys::signature_from_b64("x-sovra-signature", &auth.signature)?;
    let certificate: Option<KeyCertificate> = cloud
        .store
        .device_certificate(&auth.device)
        .await?
        .and_then(|c| serde_json::from_str(&c).ok());
    let certificates: Vec<KeyCertificate> = certificate.into_iter().collect();
    // The path as the client signed it: the full path on the node (before the router
    // stripped the cloud's prefix), with the query.
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.clone());
    let uri = original.as_ref().unwrap_or(&parts.uri);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let signed = owner_request_bytes(
        parts.method.as_str(),
        path,
        auth.timestamp_ms,
        &auth.nonce,
        &bytes,
    );
    verify_certified(
        &cloud.public(),
        &device,
        &certificates,
        PURPOSE_OWNER,
        "owner request",
        &signed,
        &sig,
    )
    .map_err(|_| unauthorized("not signed by a device this cloud certified"))?;
    if !cloud
        .store
        .use_nonce(&auth.nonce, now + 2 * OWNER_REQUEST_WINDOW_MS)
        .await?
    {
        return Err(ApiError::new(
            401,
            "replayed_request",
            "this request nonce was already used",
        ));
    }
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

// --- whitelist ---------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct PeerBody {
    #[serde(flatten)]
    entry: WhitelistEntry,
    #[serde(default)]
    url: Option<String>,
    /// Relays the peer can be reached through (`ws://…`), for a peer without a reachable URL.
    #[serde(default)]
    relays: Option<Vec<String>>,
    /// The peer's X25519 key (base64): needed to open a conversation through relays alone,
    /// where no identity document can be fetched.
    #[serde(default)]
    encryption_key: Option<String>,
}

fn peer_json(p: &crate::store::Peer) -> Value {
    json!({
        "entry": p.grant.to_entry(),
        "url": p.peer_url,
        "fingerprint": p.grant.peer_pubkey.fingerprint(),
        "registry": p.registry_url,
        "checked_at": p.checked_at,
        "relays": p.peer_relays,
    })
}

pub async fn list_peers(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    let peers = cloud.store.peers().await?;
    Ok(Json(
        json!({ "peers": peers.iter().map(peer_json).collect::<Vec<_>>() }),
    ))
}

/// Adds or updates a whitelist entry (PUT semantics on the peer's key).
pub async fn put_peer(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<PeerBody>,
) -> ApiResult<Json<Value>> {
    let grant = body.entry.validate()?;
    if grant.peer_pubkey == cloud.public() {
        return Err(ApiError::bad_request("a cloud cannot whitelist itself"));
    }
    if let Some(url) = &body.url
        && (!(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048)
    {
        return Err(ApiError::bad_request(format!(
            "{url:?} is not an http(s) URL"
        )));
    }
    let relays = body
        .relays
        .as_deref()
        .map(|r| {
            r.iter()
                .map(|u| crate::relay::normalize_relay_url(u))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if let Some(k) = &body.encryption_key {
        sovra_proto::EncryptionKey::from_b64("encryption_key", k)?;
    }
    cloud
        .store
        .whitelist_upsert(
            &grant,
            body.url.as_deref(),
            relays.as_deref(),
            body.encryption_key.as_deref(),
        )
        .await?;
    cloud
        .store
        .pending_settle(&grant.peer_pubkey.to_b64(), "approved")
        .await?;
    let peer = cloud
        .store
        .peer(&grant.peer_pubkey)
        .await?
        .ok_or_else(|| ApiError::internal("peer vanished"))?;
    Ok(Json(peer_json(&peer)))
}

pub async fn remove_peer(
    State(cloud): State<Arc<Cloud>>,
    Path(who): Path<String>,
) -> ApiResult<Json<Value>> {
    let peer = cloud.store.find_peer(&who).await?.ok_or_else(|| {
        ApiError::not_found("unknown_peer", format!("{who} is not on the whitelist"))
    })?;
    cloud.store.remove_peer(&peer.grant.peer_pubkey).await?;
    Ok(Json(json!({ "removed": peer.grant.peer_handle })))
}

// --- pending requests --------------------------------------------------------------------

pub async fn list_pending(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "pending": cloud.store.pending().await? })))
}

#[derive(Deserialize, Default)]
pub struct ApproveBody {
    /// Absent: none for a stranger; for a key reset, the grants the old key had.
    #[serde(default)]
    allowed_capabilities: Option<Vec<String>>,
    #[serde(default)]
    rate_limit_per_day: Option<u32>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    handle: Option<String>,
}

pub async fn approve_pending(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApproveBody>,
) -> ApiResult<Json<Value>> {
    let request = cloud.store.pending_get(&id).await?.ok_or_else(|| {
        ApiError::not_found("unknown_request", format!("no pending request {id}"))
    })?;
    if request.reason == "key_reset" {
        return approve_key_reset(cloud, request, body).await;
    }
    let handle = body
        .handle
        .or(request.peer_handle)
        .ok_or_else(|| ApiError::bad_request("the request named no handle; give one"))?;
    let entry = WhitelistEntry {
        peer_pubkey: request.peer_pubkey,
        peer_handle: handle,
        allowed_capabilities: body.allowed_capabilities.unwrap_or_default(),
        rate_limit_per_day: body
            .rate_limit_per_day
            .unwrap_or(sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY),
        expires_at: body.expires_at,
    };
    put_peer(
        State(cloud),
        JsonBody(PeerBody {
            entry,
            url: body.url,
            relays: None,
            encryption_key: None,
        }),
    )
    .await
}

pub async fn deny_pending(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let request = cloud.store.pending_get(&id).await?.ok_or_else(|| {
        ApiError::not_found("unknown_request", format!("no pending request {id}"))
    })?;
    cloud
        .store
        .pending_settle(&request.peer_pubkey, "denied")
        .await?;
    Ok(Json(json!({ "denied": request.peer_pubkey })))
}

// --- capabilities ------------------------------------------------------------------------

pub async fn list_capabilities(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "capabilities": cloud.store.capabilities().await? }),
    ))
}

#[derive(Deserialize)]
pub struct CapabilityBody {
    description: String,
    adapter: Adapter,
}

pub async fn expose_capability(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<CapabilityBody>,
) -> ApiResult<Json<Value>> {
    sovra_proto::identity::validate_capability_name(&name)?;
    if body.description.len() > sovra_proto::identity::MAX_CAPABILITY_DESCRIPTION {
        return Err(ApiError::bad_request(
            "description is longer than 1024 bytes",
        ));
    }
    body.adapter.validate().map_err(ApiError::bad_request)?;
    let row = CapabilityRow {
        name,
        description: body.description,
        adapter: serde_json::to_value(&body.adapter).expect("json"),
    };
    cloud.store.upsert_capability(&row).await?;
    Ok(Json(json!(row)))
}

pub async fn withdraw_capability(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if !cloud.store.remove_capability(&name).await? {
        return Err(ApiError::not_found(
            "unknown_capability",
            format!("{name} is not exposed"),
        ));
    }
    Ok(Json(json!({ "withdrawn": name })))
}

// --- conversations and messages ----------------------------------------------------------

pub async fn list_conversations(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    let peers = cloud.store.peers().await?;
    let conversations: Vec<Value> = cloud
        .store
        .conversations()
        .await?
        .into_iter()
        .map(|c| {
            let handle = peers
                .iter()
                .find(|p| p.grant.peer_pubkey.to_b64() == c.peer_pubkey)
                .map(|p| p.grant.peer_handle.clone());
            let mut v = json!(c);
            v["peer_handle"] = json!(handle);
            v
        })
        .collect();
    Ok(Json(json!({ "conversations": conversations })))
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    conversation: Option<String>,
}

/// Everything the cloud keeps, with its retention policy (the owner's view of `data_policy`).
pub async fn list_messages(
    State(cloud): State<Arc<Cloud>>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(id) = &q.conversation
        && cloud.store.conversation(id).await?.is_none()
    {
        return Err(ApiError::not_found(
            "unknown_conversation",
            format!("no conversation {id}"),
        ));
    }
    Ok(Json(
        json!({ "messages": cloud.store.messages(q.conversation.as_deref()).await? }),
    ))
}

pub async fn close_conversation(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if cloud.store.conversation(&id).await?.is_none() {
        return Err(ApiError::not_found(
            "unknown_conversation",
            format!("no conversation {id}"),
        ));
    }
    let closed = cloud.store.close_conversation(&id).await?;
    Ok(Json(json!({ "closed": id, "was_open": closed })))
}

pub async fn outbox(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "outbox": cloud.store.outbox().await? })))
}

#[derive(Deserialize)]
pub struct SendBody {
    to: String,
    text: String,
    #[serde(default)]
    calls: Vec<Call>,
    #[serde(default)]
    retention: Option<Retention>,
    #[serde(default)]
    usage: Option<String>,
    #[serde(default)]
    topic: Option<String>,
}

pub async fn send(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<SendBody>,
) -> ApiResult<Json<Value>> {
    let mut payload = Payload::text(body.text);
    payload.calls = body.calls;
    payload.data_policy = DataPolicy {
        retention: body.retention.unwrap_or(Retention::Session),
        usage: body.usage.unwrap_or_default(),
    };
    let topic = body.topic.unwrap_or_else(|| "conversation".into());
    let (conversation_id, seq) = cloud.send(&body.to, &topic, &payload).await?;
    Ok(Json(
        json!({ "conversation_id": conversation_id, "seq": seq }),
    ))
}

pub async fn whoami(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "handle": cloud.config.handle,
        "pubkey": cloud.public().to_human(),
        "daemon_id": cloud.public().daemon_id(),
        "fingerprint": cloud.public().fingerprint(),
        "url": cloud.base_url,
    })))
}

/// Approving a key reset moves the peer's entry to the new key, grants kept unless the owner
/// gives others; the registry is asked again first, so only the key it still vouches for is
/// approved.
async fn approve_key_reset(
    cloud: Arc<Cloud>,
    request: crate::store::PendingRequest,
    body: ApproveBody,
) -> ApiResult<Json<Value>> {
    let handle = request
        .peer_handle
        .clone()
        .ok_or_else(|| ApiError::internal("key reset without a handle"))?;
    let old = cloud
        .store
        .find_peer(&handle)
        .await?
        .filter(|p| p.registry_url.is_some());
    let (registry, verified) = cloud
        .resolve(
            &handle,
            old.as_ref().and_then(|p| p.registry_url.as_deref()),
        )
        .await?;
    if verified.record.pubkey.to_b64() != request.peer_pubkey {
        return Err(ApiError::new(
            409,
            "conflict",
            format!("{handle} no longer has the key this request is about; check the peers again"),
        ));
    }
    let previous = old.as_ref().map(|p| p.grant.to_entry());
    let entry = WhitelistEntry {
        peer_pubkey: request.peer_pubkey.clone(),
        peer_handle: handle.clone(),
        allowed_capabilities: body
            .allowed_capabilities
            .or_else(|| previous.as_ref().map(|p| p.allowed_capabilities.clone()))
            .unwrap_or_default(),
        rate_limit_per_day: body
            .rate_limit_per_day
            .or(previous.as_ref().map(|p| p.rate_limit_per_day))
            .unwrap_or(sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY),
        expires_at: body
            .expires_at
            .or_else(|| previous.and_then(|p| p.expires_at)),
    };
    let grant = entry.validate()?;
    if let Some(old) = &old {
        // Moves the entry to the new key and ends the old key's conversations in one
        // transaction; the grants given now are written just after.
        cloud
            .store
            .rekey_peer(&old.grant.peer_pubkey, &verified.record)
            .await?;
    }
    cloud
        .store
        .whitelist_resolved(&grant, &verified.record, &registry.url)
        .await?;
    cloud
        .store
        .pending_settle(&request.peer_pubkey, "approved")
        .await?;
    let peer = cloud
        .store
        .peer(&grant.peer_pubkey)
        .await?
        .ok_or_else(|| ApiError::internal("approved peer vanished"))?;
    Ok(Json(peer_json(&peer)))
}

// --- registry ----------------------------------------------------------------------------

fn lookup_json(cloud: &Cloud, v: &VerifiedLookup) -> Value {
    json!({
        "handle": v.record.handle,
        "pubkey": v.record.pubkey.to_b64(),
        "fingerprint": v.record.pubkey.fingerprint(),
        "safety_code": safety_code(&cloud.public(), &v.record.pubkey),
        "endpoint": v.record.endpoint,
        "relays": v.record.relays,
        "key_changes": v.chain.len(),
        "was_reset": v.was_reset(),
    })
}

/// `GET /registry`: this cloud's registration and the registries whose keys it pinned.
pub async fn registry_status(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "registration": cloud.store.registration().await?,
        "pinned": cloud.store.pinned_registries().await?,
    })))
}

#[derive(Deserialize)]
pub struct CodeBody {
    registry: String,
    phone: String,
}

/// `POST /registry/verifications`: the registry texts a code to the phone.
pub async fn registry_code(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<CodeBody>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let sent = cloud.request_code(&body.registry, &body.phone).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"verification_id": sent.verification_id, "expires_at": sent.expires_at})),
    ))
}

#[derive(Deserialize)]
pub struct RegisterBody {
    registry: String,
    #[serde(flatten)]
    proof: PhoneProof,
}

/// `POST /registry/register`: claims this cloud's handle with the verified phone.
pub async fn registry_register(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RegisterBody>,
) -> ApiResult<Json<Value>> {
    let (pinned, verified) = cloud.register(&body.registry, body.proof).await?;
    Ok(Json(json!({
        "handle": verified.record.handle,
        "pubkey": verified.record.pubkey.to_b64(),
        "fingerprint": verified.record.pubkey.fingerprint(),
        "endpoint": verified.record.endpoint,
        "registry": pinned.url,
        "registry_key": pinned.registry_key,
        "was_reset": verified.was_reset(),
    })))
}

/// `POST /registry/rotate`: a new cloud key, with a fresh phone code (high-trust).
pub async fn registry_rotate(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(proof): JsonBody<PhoneProof>,
) -> ApiResult<Json<Value>> {
    let verified = cloud.rotate_key(proof).await?;
    Ok(Json(json!({
        "handle": verified.record.handle,
        "pubkey": verified.record.pubkey.to_b64(),
        "fingerprint": verified.record.pubkey.fingerprint(),
        "key_changes": verified.chain.len(),
    })))
}

/// `POST /registry/heartbeat`: republish the record now (after an endpoint change).
pub async fn registry_heartbeat(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    if !cloud.heartbeat(true).await? {
        return Err(ApiError::new(
            409,
            "not_registered",
            "this cloud is not registered",
        ));
    }
    Ok(Json(json!({"published": true})))
}

#[derive(Deserialize)]
pub struct RegistryQuery {
    #[serde(default)]
    registry: Option<String>,
}

/// `GET /registry/lookup/{handle}`: who the registry says `handle` is, verified, with the
/// safety code the two owners can compare.
pub async fn registry_lookup(
    State(cloud): State<Arc<Cloud>>,
    Path(handle): Path<String>,
    Query(q): Query<RegistryQuery>,
) -> ApiResult<Json<Value>> {
    let (registry, verified) = cloud.resolve(&handle, q.registry.as_deref()).await?;
    let mut v = lookup_json(&cloud, &verified);
    v["registry"] = json!(registry.url);
    Ok(Json(v))
}

#[derive(Deserialize)]
pub struct ByHandleBody {
    handle: String,
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    allowed_capabilities: Vec<String>,
    #[serde(default)]
    rate_limit_per_day: Option<u32>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// `POST /peers/by-handle`: resolve through the registry and whitelist what it vouches for.
pub async fn put_peer_by_handle(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<ByHandleBody>,
) -> ApiResult<Json<Value>> {
    let entry = WhitelistEntry {
        peer_pubkey: String::new(),
        peer_handle: body.handle.clone(),
        allowed_capabilities: body.allowed_capabilities,
        rate_limit_per_day: body
            .rate_limit_per_day
            .unwrap_or(sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY),
        expires_at: body.expires_at,
    };
    let (grant, verified) = cloud
        .add_peer_by_handle(&body.handle, body.registry.as_deref(), entry)
        .await?;
    let peer = cloud
        .store
        .peer(&grant.peer_pubkey)
        .await?
        .ok_or_else(|| ApiError::internal("peer vanished"))?;
    let mut v = peer_json(&peer);
    v["lookup"] = lookup_json(&cloud, &verified);
    Ok(Json(v))
}

/// `POST /peers/check`: ask the registries about every registry-resolved peer now.
pub async fn check_peers(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "checks": cloud.check_peers(true).await? })))
}

// --- relays ------------------------------------------------------------------------------

pub async fn list_relays(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "relays": cloud.store.relays().await? })))
}

#[derive(Deserialize)]
pub struct RelayBody {
    url: String,
}

/// `PUT /relays`: keep a connection to this relay (reachable through it from now on) and
/// publish it as a hint in the identity document and, when registered, the registry record.
pub async fn add_relay(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RelayBody>,
) -> ApiResult<Json<Value>> {
    let url = crate::relay::normalize_relay_url(&body.url)?;
    let added = cloud.store.add_relay(&url).await?;
    cloud.start_relays(std::slice::from_ref(&url));
    let published = match cloud.heartbeat(true).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(cloud = %cloud.name, "publishing the relay at the registry: {}", e.message);
            false
        }
    };
    Ok(Json(
        json!({"relay": url, "added": added, "published": published}),
    ))
}

/// `DELETE /relays`: stop publishing a relay (its link ends with the node).
pub async fn remove_relay(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RelayBody>,
) -> ApiResult<Json<Value>> {
    let url = crate::relay::normalize_relay_url(&body.url)?;
    if !cloud.store.remove_relay(&url).await? {
        return Err(ApiError::not_found(
            "unknown_relay",
            format!("{url} is not one of this cloud's relays"),
        ));
    }
    let _ = cloud.heartbeat(true).await;
    Ok(Json(json!({"removed": url})))
}
