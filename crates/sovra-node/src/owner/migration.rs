//! Moving and sealing the cloud (PROTOCOL.md §20, §21).
//!
//! * `GET /migration` — this copy's state (`serving`, `moving`, `moved` with the statement),
//!   the last move statement's `seq`, and the seals in force
//! * `POST /migration/export` `{freeze}` → the archive (without keys; §20.2). `freeze: true`
//!   first stops the cloud taking anything in, for a move
//! * `POST /migration/cancel` — unfreeze a cloud whose move was abandoned
//! * `POST /migration/import` `<archive without keys>` → `{rows}` — a cloud moving to this
//!   node as a hosted cloud: its content, into the new cloud onboarding made
//! * `POST /migration/announce` `{statement, old_endpoint?}` — on the new node: install the move
//!   statement the cloud key signed; tells the registry, the old node and the peers
//! * `POST /seal` `{swarm?, unseal}` — seal a swarm or the whole cloud (`unseal`: `owner` | `never`)
//! * `POST /unseal` `{swarm?}` — lift a seal whose policy allows it
//!
//! Also here: the guard every owner and agent request passes (write gate, moving/moved, seals).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sovra_http::JsonBody;
use sovra_proto::migration::Archive;

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::migration::State as MoveState;
use crate::migration::moves::{AnnounceRequest, AnnounceResponse};

pub use sovra_proto::owner::lifecycle::MigrationStatus;

pub use sovra_proto::owner::lifecycle::SealInfo;

pub use sovra_proto::owner::lifecycle::ExportRequest;

pub use sovra_proto::owner::lifecycle::SealRequest;

pub use sovra_proto::owner::lifecycle::UnsealRequest;

#[utoipa::path(get, path = "/migration", tag = "migration", responses((status = 200, body = MigrationStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn status(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<MigrationStatus>> {
    let (state, statement) = match cloud.migration.state() {
        MoveState::Serving => ("serving", None),
        MoveState::Moving => ("moving", None),
        MoveState::Moved(s) => ("moved", Some(*s)),
    };
    Ok(Json(MigrationStatus {
        state: state.into(),
        statement,
        move_seq: cloud.store.last_move().await?.map_or(0, |(s, _)| s),
        seals: cloud
            .seals()
            .into_iter()
            .map(|(swarm, unseal)| SealInfo { swarm, unseal })
            .collect(),
    }))
}

#[utoipa::path(post, path = "/migration/export", tag = "migration", request_body = ExportRequest, responses((status = 200, description = "the archive (§20.2), without keys", body = Object), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn export(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<ExportRequest>,
) -> ApiResult<Json<Archive>> {
    cloud.export_archive(body.freeze).await.map(Json)
}

/// `POST /migration/import`: a moving cloud's archive, into this newly hosted cloud.
pub async fn import(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(archive): JsonBody<Archive>,
) -> ApiResult<Json<sovra_proto::owner::Imported>> {
    let rows = cloud.import_archive(&archive).await?;
    Ok(Json(sovra_proto::owner::Imported { rows }))
}

#[utoipa::path(post, path = "/migration/cancel", tag = "migration", responses((status = 200, body = MigrationStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn cancel(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<MigrationStatus>> {
    match cloud.migration.state() {
        MoveState::Moving => {
            cloud
                .migration
                .change(&cloud.store, MoveState::Serving)
                .await?;
            cloud.outbox_wake.notify_one();
            cloud.jobs_wake.notify_one();
            status(State(cloud)).await
        }
        MoveState::Serving => Err(ApiError::new(
            409,
            "not_moving",
            "this cloud is not frozen for a move",
        )),
        MoveState::Moved(_) => Err(ApiError::new(
            409,
            "moved",
            "this cloud has moved; the move can only be undone by moving it back",
        )),
    }
}

#[utoipa::path(post, path = "/migration/announce", tag = "migration", request_body = AnnounceRequest, responses((status = 200, body = AnnounceResponse), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn announce(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<AnnounceRequest>,
) -> ApiResult<Json<AnnounceResponse>> {
    cloud.speaking()?;
    cloud.announce_move(&body).await.map(Json)
}

#[utoipa::path(post, path = "/seal", tag = "migration", request_body = SealRequest, responses((status = 200, body = MigrationStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn seal(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<SealRequest>,
) -> ApiResult<Json<MigrationStatus>> {
    cloud.seal(body.swarm.as_deref(), body.unseal).await?;
    status(State(cloud)).await
}

#[utoipa::path(post, path = "/unseal", tag = "migration", request_body = UnsealRequest, responses((status = 200, body = MigrationStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn unseal(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<UnsealRequest>,
) -> ApiResult<Json<MigrationStatus>> {
    cloud.unseal(body.swarm.as_deref()).await?;
    status(State(cloud)).await
}

/// Paths below `/api/owner` that manage the move and the seals themselves: not gated, never
/// refused for moving or sealing (they are how a cloud gets out of either).
fn manages_itself(path: &str) -> bool {
    path.starts_with("/migration") || path == "/seal" || path == "/unseal"
}

/// Middleware on the owner and agent APIs (inside authentication). Reads pass; a write holds
/// the cloud's gate while it runs (a freeze waits for it), and is refused while the cloud is
/// moving (503) or moved (410), and when it or the swarm it names is sealed (423).
pub async fn guard(State(cloud): State<Arc<Cloud>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if method == axum::http::Method::GET
        || method == axum::http::Method::HEAD
        || manages_itself(&path)
    {
        return next.run(request).await;
    }
    // An agent's writes are its swarm's; an owner's name the swarm in the path, if any.
    let agent = request
        .extensions()
        .get::<crate::agents::api::AgentSwarm>()
        .map(|s| s.0.clone());
    let _gate = cloud.migration.enter().await;
    let allowed = cloud
        .speaking()
        .and_then(|()| match agent.as_deref().or(swarm_named(&path)) {
            Some(swarm) => cloud.swarm_writable(swarm),
            None => cloud.writable(),
        });
    match allowed {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// The swarm an owner path writes to: `/swarms/{name}…`.
fn swarm_named(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/swarms/")?;
    rest.split('/').next().filter(|s| !s.is_empty())
}
