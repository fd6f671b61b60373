//! `GET /api/owner/openapi.json`: the OpenAPI 3.1 document of the owner API, generated from
//! the request and answer types the node, `sovra-client` and the CLI share, so the document
//! cannot drift from the code. A copy is committed as `docs/openapi.json` (a test fails when it
//! is stale).
//!
//! Coverage grows family by family as endpoints move from untyped JSON to shared types; today
//! it holds the actions surface (§23.10), the whitelist, pending requests, whoami and
//! capabilities, relays.

use axum::Json;
use serde::Serialize;
use utoipa::OpenApi;

use super::{
    actions, capabilities, conversations, devices, drafts, elevation, heirs, migration, nyms,
    peers, pending, registry, relays, swarms, whoami,
};

/// Every refusal: `{"error": "<stable code>", "message": "<human sentence>"}` (§10).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sovra owner API",
        description = "What a cloud's owner (its certified devices) may do. Every request is signed by a device the cloud key certified (docs/PROTOCOL.md §15.1), or carries the session cookie of a browser paired as such a device (§24); paths are below a cloud's base URL plus /api/owner.",
    ),
    servers((url = "/clouds/{cloud}/api/owner", variables(("cloud" = (default = "alice", description = "the cloud's name on its node"))))),
    paths(
        actions::follow, actions::unfollow, actions::connect, actions::approve, actions::deny,
        actions::disconnect, actions::block, actions::unblock, actions::blocked, actions::post,
        actions::send, actions::feed, actions::sent, actions::followers, actions::following,
        actions::connections, actions::put_file, actions::list_files, actions::get_file,
        actions::fetch_file, peers::list_peers, peers::put_peer, peers::put_peer_by_handle,
        peers::remove_peer, pending::list_pending, pending::approve_pending, pending::deny_pending,
        whoami::whoami, capabilities::list_capabilities, capabilities::expose_capability,
        capabilities::withdraw_capability, relays::list_relays, relays::add_relay,
        relays::remove_relay, crate::web::pairing::create, conversations::list_conversations,
        conversations::list_messages, conversations::close_conversation, conversations::outbox,
        conversations::cancel_outbox, conversations::send, drafts::list_drafts,
        drafts::send_draft, drafts::discard_draft, devices::list_devices, swarms::list_swarms,
        swarms::create_swarm, swarms::get_swarm, swarms::update_swarm, swarms::remove_swarm,
        swarms::get_soul, swarms::put_soul, swarms::get_memory, swarms::put_memory,
        swarms::create_token, swarms::revoke_tokens, nyms::list_nyms, nyms::add_nym,
        nyms::retire_nym, elevation::status, elevation::approve, elevation::drop_elevation,
        registry::registry_status, registry::registry_code, registry::registry_register,
        registry::registry_rotate, registry::registry_heartbeat, registry::registry_lookup,
        peers::check_peers, drafts::context, drafts::events, heirs::status, heirs::put,
        heirs::remove, heirs::inherited, migration::status, migration::cancel,
        migration::announce, migration::seal, migration::unseal, migration::export,
        elevation::by_phone,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "actions", description = "Federation actions: follows, connections, posts, files (PROTOCOL.md §23)"),
        (name = "peers", description = "The whitelist and the requests waiting for the owner (PROTOCOL.md §15.2)"),
        (name = "cloud", description = "The cloud itself"),
        (name = "relays", description = "The relays this cloud is reachable through (PROTOCOL.md §15.5)"),
        (name = "capabilities", description = "What the cloud exposes to peers, who still need a grant to call it"),
        (name = "conversations", description = "Conversations, the messages kept, the outbox and sending (PROTOCOL.md §15.2)"),
        (name = "drafts", description = "Review-mode answers waiting for the owner (PROTOCOL.md §18)"),
        (name = "devices", description = "The cloud's devices (PROTOCOL.md §19.4)"),
        (name = "swarms", description = "Swarms, their souls, notes and agent tokens (PROTOCOL.md §18)"),
        (name = "nyms", description = "Public faces the cloud key issues (PROTOCOL.md §19.7)"),
        (name = "elevation", description = "The second factor of high-trust operations (PROTOCOL.md §15.6)"),
        (name = "registry", description = "This cloud's handle at its registry, and lookups (PROTOCOL.md §16)"),
        (name = "heirs", description = "Who inherits this cloud, and clouds it inherits (PROTOCOL.md §22)"),
        (name = "migration", description = "Moving and sealing the cloud (PROTOCOL.md §20, §21)"),
        (name = "web", description = "Pairing a browser with the owner's web page (PROTOCOL.md §24)"),
    ),
)]
pub struct OwnerApi;

/// The document, as served and committed.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = OwnerApi::openapi();
    // The crate version would make every release rewrite the committed copy.
    doc.info.version = "1".into();
    doc
}

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
