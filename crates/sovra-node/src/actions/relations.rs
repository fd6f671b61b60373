//! Follows and connections (§23.7): what the owner asks for, as the actions it issues.
//!
//! * follow: `FLLW` to the other cloud's inbox (its profile fetched first, so a cloud that
//!   cannot be reached is refused now, not after ten retries); unfollow: `FLLW:DEL`.
//! * connect: `CONN` with the proof of work; the other owner approves (`APRV`, `sub` = the
//!   request's id) or denies (nothing is sent: the request is dropped). A `CONN` crossing ours
//!   connects both at once. Disconnect: `CONN:DEL`.
//! * An approval may also put a Sovra handle on the D2D whitelist (no capabilities), so the
//!   connection becomes a peer the owner can grant calls to later.

use sovra_proto::WhitelistEntry;
use sovra_proto::action::owner::{Issued, Relation, Relations};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{Effect, Relation as Row};

fn since(r: Row) -> Relation {
    Relation {
        id_tag: r.id_tag,
        state: r.state,
        action_id: r.action_id,
        since: jiff::Timestamp::from_millisecond(r.since)
            .map(sovra_proto::time::format)
            .unwrap_or_default(),
    }
}

fn no_request(id_tag: &str) -> ApiError {
    ApiError::new(
        404,
        "unknown_request",
        format!("{id_tag} has not asked to connect"),
    )
}

impl Cloud {
    /// Checks `id_tag` names another cloud; the id tag as stored (handles lowercased).
    fn other(&self, id_tag: &str) -> ApiResult<String> {
        let id_tag = id_tag.trim().to_ascii_lowercase();
        if id_tag == self.id_tag() {
            return Err(ApiError::bad_request("that is this cloud's own id tag"));
        }
        Ok(id_tag)
    }

    pub async fn follow(&self, id_tag: &str) -> ApiResult<Issued> {
        let id_tag = self.other(id_tag)?;
        let issuer = self.issuer(&id_tag, None).await?;
        let mut claims = self.claims("FLLW").await?;
        claims.aud = Some(id_tag.clone());
        self.issue(
            &claims,
            0,
            Effect::Follow {
                id_tag: id_tag.clone(),
                direction: "out",
                base_url: issuer.base_url.clone(),
            },
            std::slice::from_ref(&issuer.base_url),
        )
        .await
    }

    pub async fn unfollow(&self, id_tag: &str) -> ApiResult<Issued> {
        let id_tag = self.other(id_tag)?;
        let followed = self.store.follow(&id_tag, "out").await?.ok_or_else(|| {
            ApiError::new(
                404,
                "not_following",
                format!("this cloud does not follow {id_tag}"),
            )
        })?;
        let mut claims = self.claims("FLLW:DEL").await?;
        claims.aud = Some(id_tag.clone());
        self.issue(
            &claims,
            0,
            Effect::Unfollow {
                id_tag: id_tag.clone(),
                direction: "out",
            },
            std::slice::from_ref(&followed.base_url),
        )
        .await
    }

    pub async fn connect(&self, id_tag: &str) -> ApiResult<Issued> {
        let id_tag = self.other(id_tag)?;
        match self.store.connection(&id_tag).await? {
            Some(r) if r.state == "connected" => {
                return Err(ApiError::new(
                    409,
                    "already_connected",
                    format!("this cloud is already connected to {id_tag}"),
                ));
            }
            // They asked first: connecting is approving.
            Some(r) if r.state == "asked" => return self.approve(&id_tag, false).await,
            _ => {}
        }
        let issuer = self.issuer(&id_tag, None).await?;
        let mut claims = self.claims("CONN").await?;
        claims.aud = Some(id_tag.clone());
        self.issue(
            &claims,
            self.settings.action_pow,
            Effect::Connection {
                id_tag: id_tag.clone(),
                state: "requested",
                base_url: issuer.base_url.clone(),
            },
            std::slice::from_ref(&issuer.base_url),
        )
        .await
    }

    /// Approves `id_tag`'s connection request; with `whitelist`, also whitelists the handle.
    pub async fn approve(&self, id_tag: &str, whitelist: bool) -> ApiResult<Issued> {
        let id_tag = self.other(id_tag)?;
        let request = self
            .store
            .connection(&id_tag)
            .await?
            .filter(|r| r.state == "asked")
            .ok_or_else(|| no_request(&id_tag))?;
        if whitelist {
            if !id_tag.starts_with('@') {
                return Err(ApiError::bad_request(
                    "only a Sovra handle can be whitelisted for D2D; a domain cannot",
                ));
            }
            if self.store.find_peer(&id_tag).await?.is_none() {
                let entry = WhitelistEntry {
                    peer_pubkey: String::new(),
                    peer_handle: id_tag.clone(),
                    allowed_capabilities: vec![],
                    rate_limit_per_day: sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY,
                    expires_at: None,
                };
                self.add_peer_by_handle(&id_tag, None, entry, None).await?;
            }
        }
        let mut claims = self.claims("APRV").await?;
        claims.aud = Some(id_tag.clone());
        claims.sub = Some(request.action_id.clone());
        self.issue(
            &claims,
            0,
            Effect::Connection {
                id_tag: id_tag.clone(),
                state: "connected",
                base_url: request.base_url.clone(),
            },
            std::slice::from_ref(&request.base_url),
        )
        .await
    }

    /// Drops `id_tag`'s connection request unanswered.
    pub async fn deny(&self, id_tag: &str) -> ApiResult<()> {
        let id_tag = self.other(id_tag)?;
        match self.store.drop_asked(&id_tag).await? {
            true => Ok(()),
            false => Err(no_request(&id_tag)),
        }
    }

    pub async fn disconnect(&self, id_tag: &str) -> ApiResult<Issued> {
        let id_tag = self.other(id_tag)?;
        let conn = self.store.connection(&id_tag).await?.ok_or_else(|| {
            ApiError::new(
                404,
                "not_connected",
                format!("this cloud has no connection with {id_tag}"),
            )
        })?;
        let mut claims = self.claims("CONN:DEL").await?;
        claims.aud = Some(id_tag.clone());
        self.issue(
            &claims,
            0,
            Effect::Disconnected {
                id_tag: id_tag.clone(),
            },
            std::slice::from_ref(&conn.base_url),
        )
        .await
    }

    /// Refuses `id_tag`'s actions from now on; its follow and any connection end. Nothing is
    /// sent: a block is this cloud's own business.
    pub async fn block(&self, id_tag: &str) -> ApiResult<()> {
        let id_tag = self.other(id_tag)?;
        Ok(self.store.block(&id_tag).await?)
    }

    pub async fn unblock(&self, id_tag: &str) -> ApiResult<()> {
        let id_tag = self.other(id_tag)?;
        match self.store.unblock(&id_tag).await? {
            true => Ok(()),
            false => Err(ApiError::new(
                404,
                "not_blocked",
                format!("{id_tag} is not blocked"),
            )),
        }
    }

    /// Blocked id tags, as relations in state `blocked`.
    pub async fn blocked_view(&self) -> ApiResult<Relations> {
        Ok(Relations {
            relations: self
                .store
                .blocked()
                .await?
                .into_iter()
                .map(|(id_tag, at)| {
                    since(Row {
                        id_tag,
                        state: "blocked".into(),
                        base_url: String::new(),
                        action_id: String::new(),
                        since: at,
                    })
                })
                .collect(),
        })
    }

    /// Followers (`in`), followed clouds (`out`) or connections (`None`: all states).
    pub async fn relations_view(&self, table: &str, state: Option<&str>) -> ApiResult<Relations> {
        Ok(Relations {
            relations: self
                .store
                .relations(table, state)
                .await?
                .into_iter()
                .map(since)
                .collect(),
        })
    }
}
