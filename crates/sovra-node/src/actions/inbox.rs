//! Accepting an inbound action (`POST /api/inbox`, §23.5) and applying its effects later.
//!
//! The checks run in the order PROTOCOL.md §23.5 gives, cheapest first, so a flood of junk
//! costs no profile fetches: rate, token syntax, audience, type and proof of work, duplicate,
//! permission by the cloud's relations, then the issuer's key and the signature. Only then is
//! the action written, `queued`, and the 202 sent; the task here applies what it changes
//! (followers, connections) in the commit that marks it `done`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::{mpsc, oneshot};

use sovra_proto::ProtoError;
use sovra_proto::action::{self, ActionClaims, InboxRequest};

use crate::agents::events::event_now;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{Effect, InboundAction, Store};

/// Inbound actions waiting for their effects at once; more are refused (429) until the task
/// catches up.
pub const MAX_QUEUED: i64 = 10_000;
/// Queued actions applied per pass, in one commit.
const BATCH: i64 = 256;
/// Accepted actions committed together at most.
const MAX_ACCEPT_BATCH: usize = 256;

type AcceptReply = oneshot::Sender<Result<bool, String>>;

/// Group commit of accepted actions: one task takes every verified action waiting when it is
/// free and stores them in one transaction (one fsync), then answers each; a lone action is
/// committed at once, and under load the batch grows by itself.
pub struct Acceptor {
    tx: mpsc::Sender<(InboundAction, AcceptReply)>,
}

impl Acceptor {
    pub fn start(store: Store) -> Acceptor {
        let (tx, mut rx) = mpsc::channel::<(InboundAction, AcceptReply)>(4 * MAX_ACCEPT_BATCH);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_ACCEPT_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                let (actions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match store.accept_actions(&actions).await {
                    Ok(fresh) => {
                        for (reply, f) in replies.into_iter().zip(fresh) {
                            let _ = reply.send(Ok(f));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        Acceptor { tx }
    }

    /// Stores `action` (`queued`); `false` if it was already stored.
    pub async fn accept(&self, action: InboundAction) -> ApiResult<bool> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((action, reply))
            .await
            .map_err(|_| ApiError::internal("the action acceptor stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the action acceptor stopped"))?
            .map_err(ApiError::internal)
    }
}

/// The action types this cloud accepts, with their subtypes' meaning in [`effect`].
pub const TYPES: [&str; 8] = [
    "FLLW", "CONN", "APRV", "POST", "MSG", "CMNT", "REACT", "FSHR",
];

fn not_connected(iss: &str, what: &str) -> ApiError {
    ApiError::new(
        403,
        "not_connected",
        format!("{iss} is not connected to this cloud, so it may not send {what}"),
    )
}

impl Cloud {
    /// Checks, verifies and stores an inbound action; the id it is stored under.
    pub async fn receive_action(
        &self,
        request: &InboxRequest,
        source: Option<IpAddr>,
    ) -> ApiResult<String> {
        self.actions.limits.admit(source)?;
        let parsed = action::parse(&request.token)?;
        let claims = &parsed.claims;
        let id = parsed.id();
        match (claims.base_type(), &claims.aud) {
            // A post to followers names no audience.
            ("POST", None) => {}
            (_, Some(aud)) if aud == self.id_tag() => {}
            _ => return Err(ProtoError::WrongRecipient.into()),
        }
        if claims.iss == self.id_tag() {
            return Err(ApiError::bad_request(
                "this cloud does not accept its own actions",
            ));
        }
        if !TYPES.contains(&claims.base_type()) {
            return Err(ApiError::new(
                400,
                "unsupported_action",
                format!(
                    "`{}` is not an action type this cloud accepts ({})",
                    claims.t,
                    TYPES.join(", ")
                ),
            ));
        }
        if claims.base_type() == "CONN"
            && claims.subtype().is_none()
            && action::work(&request.token) < self.settings.action_pow
        {
            let mut e = ApiError::new(
                428,
                "pow_required",
                format!(
                    "a connection request must end with {} `A`s (a proof of work in its `_` claim)",
                    self.settings.action_pow
                ),
            );
            e.extra = Some(("work", self.settings.action_pow.into()));
            return Err(e);
        }
        if self.store.action_exists(&id).await? {
            // The same bytes verified before: accepting them again changes nothing.
            return Ok(id);
        }
        self.may_send(claims).await?;
        let issuer = self.issuer(&claims.iss, Some(&claims.k)).await?;
        let key = issuer
            .key(&claims.k)
            .ok_or_else(|| super::unknown_key(&claims.iss))?;
        parsed.verify(key, super::now_secs())?;
        if self.actions.queued.load(Relaxed) >= MAX_QUEUED {
            return Err(ApiError::new(
                429,
                "rate_limited",
                "this cloud has too many actions waiting to be processed; try again later",
            ));
        }
        let fresh = self
            .actions
            .acceptor
            .accept(InboundAction {
                id: id.clone(),
                token: request.token.clone(),
                claims: claims.clone(),
                origin: issuer.base_url.clone(),
            })
            .await?;
        if fresh {
            self.actions.queued.fetch_add(1, Relaxed);
            metrics::counter!("sovra_actions_received_total", "type" => claims.base_type().to_owned())
                .increment(1);
            self.actions.wake.notify_one();
        }
        Ok(id)
    }

    /// Whether the claimed issuer may send this action to this cloud, by its relations here
    /// (checked before the signature, and holding after it).
    async fn may_send(&self, c: &ActionClaims) -> ApiResult<()> {
        if self.store.is_blocked(&c.iss).await? {
            return Err(ApiError::new(
                403,
                "blocked",
                format!("this cloud does not accept actions from {}", c.iss),
            ));
        }
        let connected = || async {
            Ok::<_, ApiError>(
                self.store
                    .connection(&c.iss)
                    .await?
                    .is_some_and(|r| r.state == "connected"),
            )
        };
        match c.base_type() {
            "FLLW" | "CONN" => Ok(()),
            "APRV" => {
                let ours = self.store.connection(&c.iss).await?;
                match ours {
                    Some(r) if r.state == "requested" && c.sub.as_deref() == Some(&r.action_id) => {
                        Ok(())
                    }
                    _ => Err(ApiError::new(
                        403,
                        "not_connected",
                        format!(
                            "no connection request of this cloud to {} is waiting for that approval (`sub` must be its id)",
                            c.iss
                        ),
                    )),
                }
            }
            "POST" if c.aud.is_none() => {
                let followed = self.store.follow(&c.iss, "out").await?.is_some();
                if followed || connected().await? {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        403,
                        "not_following",
                        format!("this cloud does not follow {}", c.iss),
                    ))
                }
            }
            "CMNT" | "REACT" => {
                if connected().await? {
                    return Ok(());
                }
                // Anyone may answer a public action of ours.
                let parent = match &c.p {
                    Some(p) => self.store.action(p).await?,
                    None => None,
                };
                match parent {
                    Some(p) if p.direction == "out" && p.public => Ok(()),
                    _ => Err(not_connected(
                        &c.iss,
                        "comments or reactions to what is not public",
                    )),
                }
            }
            t => match connected().await? {
                true => Ok(()),
                false => Err(not_connected(&c.iss, t)),
            },
        }
    }

    /// The task that applies accepted actions' effects, oldest first; wakes on each accepted
    /// action and once a minute (what a crash left queued is picked up at start).
    pub async fn process_actions(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self.settings.process_actions {
            return;
        }
        loop {
            match self.apply_queued().await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(cloud = %self.name, "applying actions: {}", e.message),
            }
            tokio::select! {
                _ = self.actions.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One pass over queued actions: how many were applied.
    pub async fn apply_queued(&self) -> ApiResult<usize> {
        let queued = self.store.queued_actions(BATCH).await?;
        let batch: Vec<_> = queued
            .iter()
            .map(|row| {
                let origin = row.origin.clone().unwrap_or_default();
                (row.id.clone(), effect(&row.kind, &row.issuer, origin))
            })
            .collect();
        let applied = self.store.apply_actions(&batch).await?;
        let done = applied.iter().filter(|a| **a).count() as i64;
        self.actions.queued.fetch_sub(done, Relaxed);
        for (row, applied) in queued.iter().zip(applied) {
            if applied {
                let mut event = event_now("action");
                event.id = Some(row.id.clone());
                event.peer = Some(row.issuer.clone());
                event.reason = Some(row.kind.clone());
                event.text = row.content.as_ref().map(|c| {
                    c.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| c.to_string())
                });
                self.emit(event);
            }
        }
        Ok(queued.len())
    }
}

/// What an accepted action of type `t` from `iss` changes here.
fn effect(t: &str, iss: &str, base_url: String) -> Effect {
    let id_tag = iss.to_owned();
    match t {
        "FLLW" => Effect::Follow {
            id_tag,
            direction: "in",
            base_url,
        },
        "FLLW:DEL" => Effect::Unfollow {
            id_tag,
            direction: "in",
        },
        "CONN" => Effect::Asked { id_tag, base_url },
        "CONN:DEL" => Effect::Disconnected { id_tag },
        "APRV" => Effect::Connected { id_tag },
        _ => Effect::None,
    }
}
