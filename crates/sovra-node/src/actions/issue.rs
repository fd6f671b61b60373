//! Actions this cloud issues (§23.7) and their delivery (§23.8).
//!
//! Issuing signs the token with the cloud key, then stores the action, the relation it
//! changes and one outbox row per recipient inbox in one commit: the D2D outbox's rows,
//! worker, cancelling and listing carry actions too (`kind = 'action'`). Delivery follows
//! Cloudillo's policy — from `action_backoff_base` doubling to `action_backoff_max`, with full
//! jitter, `action_max_attempts` attempts — and a per-host circuit breaker: after
//! [`BREAKER_THRESHOLD`] failures in a row a host is marked unavailable and its deliveries wait
//! (without spending attempts) until the breaker lets one through again.

use std::time::{Duration, Instant};

use sovra_proto::action::owner::{Action, Issued};
use sovra_proto::action::{self, ActionClaims, InboxRequest};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{
    ActionDelivery, ActionRow, Effect, NewAction, OutboxItem, OutboxOutcome, now_ms,
};

/// Failures in a row after which a host's breaker opens.
pub const BREAKER_THRESHOLD: u32 = 5;
/// The longest text of a post, message or comment, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;
/// The largest inbox answer read (its error body, if any).
const MAX_ANSWER: usize = 16 * 1024;

/// One host's recent delivery failures.
#[derive(Debug, Clone, Default)]
pub struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

fn ms_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(sovra_proto::time::format)
        .unwrap_or_default()
}

/// The owner API's view of a stored action.
pub(crate) fn view(r: ActionRow) -> Action {
    Action {
        id: r.id,
        direction: r.direction,
        issuer: r.issuer,
        kind: r.kind,
        audience: r.audience,
        parent: r.parent,
        subject: r.subject,
        content: r.content,
        attachments: r.attachments,
        public: r.public,
        issued_at: ms_text(r.iat.saturating_mul(1000)),
        received_at: ms_text(r.received_at),
        state: r.state,
        token: r.token,
    }
}

fn inbox_url(base: &str) -> String {
    format!("{}/api/inbox", base.trim_end_matches('/'))
}

/// The host (with its port) an inbox URL points at: what a breaker is kept for.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| url.to_owned())
}

impl Cloud {
    /// Claims issued by this cloud now, with its current key.
    pub(crate) async fn claims(&self, t: &str) -> ApiResult<ActionClaims> {
        self.speaking()?;
        Ok(ActionClaims::new(
            self.id_tag(),
            &self.action_key_id().await?,
            t,
            super::now_secs(),
        ))
    }

    /// Signs `claims`, stores the action with `change`, and queues it for `recipients`'
    /// inboxes (base URLs); the action as stored.
    pub(crate) async fn issue(
        &self,
        claims: &ActionClaims,
        pow: usize,
        effect: Effect,
        recipients: &[String],
    ) -> ApiResult<Issued> {
        let keys = self.keys();
        let token = match pow {
            0 => action::sign(&keys.signing, claims),
            n => action::sign_with_work(&keys.signing, claims, n),
        };
        // What is signed must be what a receiver accepts; a claim this cloud built wrongly
        // is caught here, not by every peer.
        let parsed = action::parse(&token)?;
        let id = parsed.id();
        let body = serde_json::to_string(&InboxRequest {
            token: token.clone(),
            related: None,
        })
        .map_err(ApiError::internal)?;
        let mut seen = std::collections::HashSet::new();
        let deliveries: Vec<ActionDelivery> = recipients
            .iter()
            .map(|b| inbox_url(b))
            .filter(|u| seen.insert(u.clone()))
            .map(|inbox_url| ActionDelivery {
                action_id: id.clone(),
                inbox_url,
                body: body.clone(),
            })
            .collect();
        self.store
            .issue_action(
                &NewAction {
                    id: &id,
                    token: &token,
                    direction: "out",
                    claims: &parsed.claims,
                    origin: None,
                    state: "done",
                },
                &effect,
                &deliveries,
            )
            .await?;
        if !deliveries.is_empty() {
            self.outbox_wake.notify_one();
        }
        metrics::counter!("sovra_actions_issued_total", "type" => parsed.claims.base_type().to_owned())
            .increment(1);
        let row = self
            .store
            .action(&id)
            .await?
            .ok_or_else(|| ApiError::internal("the action just issued is gone"))?;
        Ok(Issued {
            action: view(row),
            deliveries: deliveries.len(),
        })
    }

    /// A post to every follower and connection; `public` also lists it at `GET /api/actions`.
    pub async fn post(&self, request: &sovra_proto::action::owner::Post) -> ApiResult<Issued> {
        if request.text.is_empty() || request.text.len() > MAX_TEXT {
            return Err(ApiError::bad_request(format!(
                "a post's text is 1 to {MAX_TEXT} bytes"
            )));
        }
        let mut claims = self.claims("POST").await?;
        claims.c = Some(serde_json::Value::String(request.text.clone()));
        claims.a = self.attachments(&request.files).await?;
        claims.v = request.public.then(|| "P".to_owned());
        let mut recipients: Vec<String> = Vec::new();
        for r in self.store.relations("follows", Some("in")).await? {
            recipients.push(r.base_url);
        }
        for r in self
            .store
            .relations("connections", Some("connected"))
            .await?
        {
            recipients.push(r.base_url);
        }
        self.issue(&claims, 0, Effect::None, &recipients).await
    }

    /// One action of `kind` to one cloud: messages and file shares to connections, comments
    /// and reactions to connections or on another cloud's public action.
    pub async fn send_action(
        &self,
        request: &sovra_proto::action::owner::Send,
    ) -> ApiResult<Issued> {
        let base = request.kind.split(':').next().unwrap_or("");
        if !matches!(base, "MSG" | "CMNT" | "REACT" | "FSHR" | "POST") {
            return Err(ApiError::new(
                400,
                "unsupported_action",
                "send MSG, CMNT, REACT, FSHR or POST here; follows and connections have their own endpoints",
            ));
        }
        let to = request.to.trim().to_ascii_lowercase();
        let base_url = match self.store.connection(&to).await? {
            Some(c) if c.state == "connected" => c.base_url,
            _ if matches!(base, "CMNT" | "REACT") && request.parent.is_some() => {
                self.issuer(&to, None).await?.base_url
            }
            _ => {
                return Err(ApiError::new(
                    403,
                    "not_connected",
                    format!("this cloud is not connected to {to}"),
                ));
            }
        };
        if let Some(c) = &request.content
            && c.to_string().len() > MAX_TEXT
        {
            return Err(ApiError::bad_request(format!(
                "content is at most {MAX_TEXT} bytes of JSON"
            )));
        }
        let mut claims = self.claims(&request.kind).await?;
        claims.aud = Some(to);
        claims.c = request.content.clone();
        claims.p = request.parent.clone();
        claims.a = self.attachments(&request.files).await?;
        self.issue(&claims, 0, Effect::None, std::slice::from_ref(&base_url))
            .await
    }

    /// The `a` claim for files stored here, each checked to exist.
    async fn attachments(&self, files: &[String]) -> ApiResult<Option<Vec<String>>> {
        if files.len() > action::MAX_ATTACHMENTS {
            return Err(ApiError::bad_request(format!(
                "at most {} files per action",
                action::MAX_ATTACHMENTS
            )));
        }
        for id in files {
            action::parse_file_id(id)?;
            if self.store.file(id).await?.is_none() {
                return Err(super::files::unknown_file(id));
            }
        }
        Ok((!files.is_empty()).then(|| files.to_vec()))
    }

    /// Delivers one queued action to its inbox: the outcome to record.
    pub(crate) async fn deliver_action(&self, item: &OutboxItem) -> OutboxOutcome {
        let host = host_of(&item.url);
        let now = now_ms();
        let outcome =
            |state: &'static str, attempts: i64, next: i64, error: Option<String>| OutboxOutcome {
                id: item.id,
                state,
                attempts,
                next_attempt_at: next,
                error,
            };
        if let Some(wait) = self.breaker_open(&host) {
            // Not an attempt: the host is marked unavailable and is tried again later.
            return outcome(
                "pending",
                item.attempts,
                now + wait.as_millis() as i64,
                Some(format!(
                    "{host} is marked unavailable after {BREAKER_THRESHOLD} failures in a row; retried in {} s",
                    wait.as_secs().max(1)
                )),
            );
        }
        let attempts = item.attempts + 1;
        let sent = self
            .http
            .post(&item.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(item.body.clone())
            .timeout(self.settings.request_timeout)
            .send()
            .await;
        let failure = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = super::profile::read_limited(resp, MAX_ANSWER)
                    .await
                    .unwrap_or_default();
                if (200..300).contains(&status) {
                    self.breaker_result(&host, true);
                    return outcome("delivered", attempts, now_ms(), None);
                }
                let code = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let why = format!("{} answered {status} {code}", item.url);
                // 424: the inbox could not fetch our profile; `unknown_key`: it holds a profile
                // of ours from before a rotation. Both pass; every other refusal would repeat.
                let passing =
                    matches!(status, 408 | 424 | 425 | 429 | 500..=599) || code == "unknown_key";
                if !passing {
                    self.breaker_result(&host, true);
                    return outcome(
                        "failed",
                        attempts,
                        now_ms(),
                        Some(format!("refused by the inbox: {why}")),
                    );
                }
                why
            }
            Err(e) => format!("{}: {e}", item.url),
        };
        self.breaker_result(&host, false);
        if attempts >= self.settings.action_max_attempts {
            let why = format!("gave up after {attempts} attempts: {failure}");
            tracing::warn!(cloud = %self.name, outbox = item.id, "{why}");
            return outcome("failed", attempts, now_ms(), Some(why));
        }
        let delay = crate::d2d::backoff(
            self.settings.action_backoff_base,
            self.settings.action_backoff_max,
            attempts,
        );
        outcome("pending", attempts, now_ms() + delay, Some(failure))
    }

    /// How long deliveries to `host` still wait, if its breaker is open.
    fn breaker_open(&self, host: &str) -> Option<Duration> {
        let map = self
            .actions
            .breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let until = map.get(host)?.open_until?;
        until.checked_duration_since(Instant::now())
    }

    fn breaker_result(&self, host: &str, ok: bool) {
        let mut map = self
            .actions
            .breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if ok {
            map.remove(host);
            return;
        }
        // Bounded by the hosts this cloud delivers to; a host that answers again is removed.
        let b = map.entry(host.to_owned()).or_default();
        b.failures += 1;
        if b.failures >= BREAKER_THRESHOLD {
            let doublings = (b.failures - BREAKER_THRESHOLD).min(16);
            let open = self
                .settings
                .action_backoff_base
                .saturating_mul(1 << doublings)
                .min(self.settings.action_backoff_max);
            b.open_until = Some(Instant::now() + open);
        }
    }
}
