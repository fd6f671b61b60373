//! The relay's rules: who may connect, what a `send` must carry, and how envelopes reach
//! their recipients (docs/PROTOCOL.md §17).
//!
//! The connection task itself (auth, the frame loop, pushing) is in `connection.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::connection::Answer;
use crate::store::{NewEnvelope, Quota, Store, StoreError};
use rand_core::Rng;
use sovra_proto::relay::{AckResponse, ClientFrame, PATHS, ServerFrame, pow_valid};
use sovra_proto::{PublicKey, os_rng};

/// Most outstanding proof-of-work puzzles (a flood of requests cannot grow memory past it).
const MAX_PUZZLES: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The URL clouds connect to and sign in their `auth` (`ws://host:port`).
    pub public_url: String,
    /// Undelivered envelopes expire this long after they were accepted.
    pub ttl: Duration,
    pub quota: Quota,
    /// Leading zero bits a first-contact proof of work needs; 0 turns it off.
    pub pow_difficulty: u8,
    /// How long a puzzle can be solved and used.
    pub pow_ttl: Duration,
    /// Token bucket per sender key: frames per second, and the burst.
    pub rate_per_second: f64,
    pub burst: f64,
    /// How often expired envelopes are swept.
    pub sweep_every: Duration,
    /// Loopback clients are not counted per source address: behind a TLS front on the same
    /// host every client comes from loopback (tests turn this off to check the limit).
    pub exempt_loopback: bool,
}

impl Settings {
    pub fn new(public_url: impl Into<String>) -> Settings {
        Settings {
            public_url: public_url.into(),
            ttl: Duration::from_secs(7 * 24 * 3600),
            quota: Quota {
                envelopes: 10_000,
                bytes: 256 * 1024 * 1024,
                per_sender_envelopes: 2_500,
                per_sender_bytes: 64 * 1024 * 1024,
                per_key_envelopes: 5_000,
                per_key_bytes: 128 * 1024 * 1024,
                per_source_envelopes: 20_000,
                per_source_bytes: 512 * 1024 * 1024,
            },
            pow_difficulty: 18,
            pow_ttl: Duration::from_secs(120),
            rate_per_second: 100.0,
            burst: 500.0,
            sweep_every: Duration::from_secs(60),
            exempt_loopback: true,
        }
    }
}

struct Puzzle {
    sender: PublicKey,
    recipient: PublicKey,
    expires: Instant,
}

pub struct Relay {
    pub settings: Settings,
    pub store: Store,
    puzzles: Mutex<HashMap<[u8; 32], Puzzle>>,
    /// Frames per sender key (GCRA, `governor`, as the node and the registry limit).
    buckets: governor::DefaultKeyedRateLimiter<String>,
    /// (sender, recipient) pairs known to need no proof of work: the `contacts` rows already
    /// read or written. Only positives; a recipient withdrawing its word removes the pair here
    /// right after deleting the row.
    answered: Mutex<HashSet<(String, String)>>,
    /// Recipient keys already parsed and checked (a point decompression: ~5 % of the relay's
    /// CPU under load when done for every `send`).
    recipients: Mutex<HashMap<String, PublicKey>>,
    pub(crate) generations: AtomicU64,
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(crate) fn envelope_id() -> String {
    sovra_proto::handshake::random_uuid(&mut os_rng())
        .hyphenated()
        .to_string()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn error(id: Option<&str>, code: &str, message: impl Into<String>) -> ServerFrame {
    ServerFrame::Error {
        id: id.map(str::to_owned),
        error: code.into(),
        message: message.into(),
        retry_after_ms: None,
    }
}

pub(crate) fn time(ms: i64) -> String {
    sovra_proto::time::format(jiff::Timestamp::from_millisecond(ms).unwrap_or_default())
}

impl Relay {
    pub fn new(settings: Settings, store: Store) -> Relay {
        // The token bucket as a GCRA: one frame per 1/rate seconds, `burst` at once.
        let per = Duration::from_secs_f64(1.0 / settings.rate_per_second.max(1e-6));
        let burst =
            std::num::NonZeroU32::new(settings.burst.clamp(1.0, 1e9) as u32).expect("at least 1");
        let buckets = governor::RateLimiter::keyed(
            governor::Quota::with_period(per.max(Duration::from_nanos(1)))
                .expect("a positive period")
                .allow_burst(burst),
        );
        Relay {
            settings,
            store,
            puzzles: Mutex::default(),
            buckets,
            answered: Mutex::default(),
            recipients: Mutex::default(),
            generations: AtomicU64::new(1),
        }
    }

    /// Takes one token from `key`'s bucket; on refusal, how long until one is there.
    fn take_token(&self, key: &str) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        if self.buckets.len() > 100_000 {
            self.buckets.retain_recent();
        }
        self.buckets
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn new_puzzle(&self, sender: PublicKey, recipient: PublicKey) -> ([u8; 32], Instant) {
        let mut nonce = [0u8; 32];
        os_rng().fill_bytes(&mut nonce);
        let now = Instant::now();
        let expires = now + self.settings.pow_ttl;
        let mut puzzles = lock(&self.puzzles);
        if puzzles.len() >= MAX_PUZZLES {
            puzzles.retain(|_, p| p.expires > now);
        }
        if puzzles.len() < MAX_PUZZLES {
            puzzles.insert(
                nonce,
                Puzzle {
                    sender,
                    recipient,
                    expires,
                },
            );
        }
        (nonce, expires)
    }

    /// `to` as a key, parsed once.
    fn recipient_key(&self, to: &str) -> Result<PublicKey, sovra_proto::ProtoError> {
        if let Some(k) = lock(&self.recipients).get(to) {
            return Ok(*k);
        }
        let key = PublicKey::from_b64("to", to)?;
        let mut known = lock(&self.recipients);
        if known.len() >= 100_000 {
            known.clear();
        }
        known.insert(to.to_owned(), key);
        Ok(key)
    }

    /// Whether `recipient` has answered `sender`, from memory when known.
    async fn answered(&self, sender: &str, recipient: &str) -> Result<bool, sqlx::Error> {
        let pair = (sender.to_owned(), recipient.to_owned());
        if lock(&self.answered).contains(&pair) {
            return Ok(true);
        }
        let yes = self.store.answered(sender, recipient).await?;
        if yes {
            self.remember_answered(pair);
        }
        Ok(yes)
    }

    fn remember_answered(&self, pair: (String, String)) {
        let mut answered = lock(&self.answered);
        if answered.len() >= 1_000_000 {
            answered.clear();
        }
        answered.insert(pair);
    }

    /// Spends a puzzle: it must exist, be this pair's, unexpired, and solved.
    fn check_pow(
        &self,
        sender: &PublicKey,
        recipient: &PublicKey,
        solution: &sovra_proto::relay::PowSolution,
    ) -> Result<(), (&'static str, &'static str)> {
        let nonce: [u8; 32] = sovra_proto::encoding::b64_array("pow.nonce", &solution.nonce)
            .map_err(|_| ("bad_pow", "pow.nonce is not 32 bytes of base64"))?;
        let puzzle = lock(&self.puzzles)
            .remove(&nonce)
            .ok_or(("bad_pow", "unknown or already used puzzle"))?;
        if puzzle.expires < Instant::now() {
            return Err(("bad_pow", "the puzzle expired; ask for a new one"));
        }
        if puzzle.sender != *sender || puzzle.recipient != *recipient {
            return Err((
                "bad_pow",
                "the puzzle was issued for another sender or recipient",
            ));
        }
        if !pow_valid(
            &nonce,
            sender,
            recipient,
            solution.counter,
            self.settings.pow_difficulty,
        ) {
            return Err(("bad_pow", "the counter does not solve the puzzle"));
        }
        Ok(())
    }

    /// Answers one frame from an authenticated cloud. A frame that changes the store is handed
    /// to the writer here, in the order frames arrive; its answer comes after the commit.
    pub(crate) async fn handle(
        &self,
        me: &PublicKey,
        key: &str,
        source: Option<&str>,
        frame: ClientFrame,
    ) -> Answer<'_> {
        Answer::Now(Some(match frame {
            ClientFrame::Auth { .. } => error(None, "malformed", "already authenticated"),
            ClientFrame::PowRequest { id, to } => {
                if let Err(wait) = self.take_token(key) {
                    return Answer::Now(Some(rate_limited(&id, wait)));
                }
                let recipient = match PublicKey::from_b64("to", &to) {
                    Ok(k) => k,
                    Err(e) => return Answer::Now(Some(error(Some(&id), e.code(), e.to_string()))),
                };
                let (nonce, expires) = self.new_puzzle(*me, recipient);
                let expires_at = now_ms()
                    + expires
                        .saturating_duration_since(Instant::now())
                        .as_millis() as i64;
                ServerFrame::Pow {
                    id,
                    to,
                    nonce: sovra_proto::encoding::b64(&nonce),
                    difficulty: self.settings.pow_difficulty,
                    expires_at: time(expires_at),
                }
            }
            ClientFrame::Send {
                id,
                to,
                path,
                body,
                pow,
            } => {
                return self
                    .accept_send(me, key, source, id, to, path, body, pow)
                    .await;
            }
            ClientFrame::Ack { envelope, response } => {
                return self.accept_ack(key, envelope, response).await;
            }
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn accept_send(
        &self,
        me: &PublicKey,
        key: &str,
        source: Option<&str>,
        id: String,
        to: String,
        path: String,
        body: serde_json::Value,
        pow: Option<sovra_proto::relay::PowSolution>,
    ) -> Answer<'_> {
        if let Err(wait) = self.take_token(key) {
            return Answer::Now(Some(rate_limited(&id, wait)));
        }
        let recipient = match self.recipient_key(&to) {
            Ok(k) => k,
            Err(e) => return Answer::Now(Some(error(Some(&id), e.code(), e.to_string()))),
        };
        // A cloud talking to itself needs no relay: such envelopes would only be free storage.
        if recipient == *me {
            return Answer::Now(Some(error(
                Some(&id),
                "malformed",
                "to is the sending cloud itself; a relay carries envelopes between clouds",
            )));
        }
        if !PATHS.contains(&path.as_str()) {
            return Answer::Now(Some(error(
                Some(&id),
                "malformed",
                format!("path must be one of {PATHS:?}"),
            )));
        }
        if !body.is_object() {
            return Answer::Now(Some(error(
                Some(&id),
                "malformed",
                "body must be a JSON object",
            )));
        }
        if self.settings.pow_difficulty > 0 {
            let answered = match self.answered(key, &to).await {
                Ok(a) => a,
                Err(e) => return Answer::Now(Some(internal(&id, e))),
            };
            if !answered {
                let checked = match &pow {
                    None => Err((
                        "pow_required",
                        "first contact with this recipient needs a proof of work (pow_request)",
                    )),
                    Some(solution) => self.check_pow(me, &recipient, solution),
                };
                if let Err((code, why)) = checked {
                    return Answer::Now(Some(error(Some(&id), code, why)));
                }
            }
        }
        let now = now_ms();
        let envelope = envelope_id();
        let e = NewEnvelope {
            id: envelope.clone(),
            recipient: to.clone(),
            sender: key.to_owned(),
            kind: "request",
            path: Some(path),
            reply_to: None,
            status: None,
            body: Some(body.to_string()),
            created_at: now,
            expires_at: now + self.settings.ttl.as_millis() as i64,
            source: source.map(str::to_owned),
        };
        let pending = match self.store.insert(e, self.settings.quota).await {
            Ok(p) => p,
            Err(e) => return Answer::Now(Some(internal(&id, e))),
        };
        Answer::Later(Box::pin(async move {
            Some(stored_or_refused(id, envelope, pending.inserted().await))
        }))
    }

    async fn accept_ack(
        &self,
        key: &str,
        envelope: String,
        response: Option<AckResponse>,
    ) -> Answer<'_> {
        let now = now_ms();
        let contact = response.as_ref().is_some_and(|r| r.contact);
        let response = match response {
            Some(r) if !(100..=599).contains(&r.status) || !r.body.is_object() => {
                return Answer::Now(Some(error(
                    None,
                    "malformed",
                    "response needs a status 100–599 and an object body",
                )));
            }
            Some(r) => Some(NewEnvelope {
                id: envelope_id(),
                recipient: String::new(),
                sender: key.to_owned(),
                kind: "response",
                path: None,
                reply_to: Some(envelope.clone()),
                status: Some(r.status),
                body: Some(r.body.to_string()),
                created_at: now,
                expires_at: now + self.settings.ttl.as_millis() as i64,
                source: None,
            }),
            None => None,
        };
        let pending = match self.store.ack(&envelope, key, response, contact).await {
            Ok(p) => p,
            Err(e) => return Answer::Now(Some(internal("", e))),
        };
        let key = key.to_owned();
        Answer::Later(Box::pin(async move {
            match pending.acked().await {
                Ok(notify) => {
                    if let Some(sender) = notify {
                        let pair = (sender, key);
                        if contact {
                            self.remember_answered(pair);
                        } else {
                            lock(&self.answered).remove(&pair);
                        }
                    }
                    None
                }
                Err(e) => Some(internal("", e)),
            }
        }))
    }

    /// Expires what is due and tells the senders.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let count = self
            .store
            .expire(now_ms(), self.settings.ttl.as_millis() as i64)
            .await?;
        if count > 0 {
            tracing::info!("expired {count} envelope(s)");
        }
        Ok(count)
    }
}

/// The answer to a `send` once the writer decided it.
fn stored_or_refused(id: String, envelope: String, outcome: Result<(), StoreError>) -> ServerFrame {
    match outcome {
        Ok(()) => {
            metrics::counter!("sovra_relay_envelopes_stored_total").increment(1);
            ServerFrame::Accepted { id, envelope }
        }
        Err(StoreError::QuotaExceeded) => error(
            Some(&id),
            "quota_exceeded",
            "the recipient's queue at this relay is full; try later",
        ),
        Err(StoreError::StorageShareExceeded) => error(
            Some(&id),
            "quota_exceeded",
            "this key's or this address's share of the relay's storage is full; try later",
        ),
        Err(StoreError::ShareExceeded) => error(
            Some(&id),
            "quota_exceeded",
            "your share of the recipient's queue at this relay is full; try later",
        ),
        Err(e) => internal(&id, e),
    }
}

fn rate_limited(id: &str, wait: Duration) -> ServerFrame {
    ServerFrame::Error {
        id: Some(id.to_owned()),
        error: "rate_limited".into(),
        message: "too many frames from this key; slow down".into(),
        retry_after_ms: Some(wait.as_millis().max(1) as u64),
    }
}

fn internal(id: &str, e: impl std::fmt::Display) -> ServerFrame {
    tracing::error!("relay: {e}");
    error(
        (!id.is_empty()).then_some(id),
        "internal",
        "internal error; not stored",
    )
}
