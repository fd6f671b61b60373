//! One task per connection does everything for it — authenticates it, reads frames and hands
//! them to the relay's rules in arrival order, sends answers as their commits land (up to
//! [`MAX_IN_FLIGHT`] waiting at once), pushes what the mailbox holds — so an idle connection
//! costs one parked task and its socket buffers.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rand_core::Rng;
use sovra_proto::relay::{ClientFrame, Envelope, EnvelopeContent, ServerFrame, verify_cloud_auth};
use sovra_proto::{PublicKey, os_rng};

use crate::mailbox::{Mailbox, Taken};
use crate::relay::{Relay, error, time};
use crate::store::{PUSH_BATCH, StoredEnvelope};

/// How long a new connection has to authenticate.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// What a frame gets: an answer now (or none), or one once the writer committed it.
pub(crate) enum Answer<'a> {
    Now(Option<ServerFrame>),
    Later(Pin<Box<dyn Future<Output = Option<ServerFrame>> + Send + 'a>>),
}

/// Frames of one connection waiting for their commit; past it the connection reads no more
/// frames until one is answered.
const MAX_IN_FLIGHT: usize = 64;

/// Sends the envelopes above `after` (in `seq` order, as both the queue and the mailbox hold
/// them), moving `after` along; false if the socket failed.
async fn push(
    socket: &mut WebSocket,
    envelopes: impl IntoIterator<Item = StoredEnvelope>,
    after: &mut i64,
) -> bool {
    let mut sent = 0u64;
    let mut ok = true;
    for e in envelopes {
        if e.seq <= *after {
            continue;
        }
        *after = e.seq;
        if !send(socket, &delivered(e)).await {
            ok = false;
            break;
        }
        sent += 1;
    }
    if sent > 0 {
        metrics::counter!("sovra_relay_envelopes_pushed_total").increment(sent);
    }
    ok
}

fn delivered(e: StoredEnvelope) -> ServerFrame {
    let body = |b: Option<String>| {
        b.and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let content = match e.kind.as_str() {
        "request" => EnvelopeContent::Request {
            path: e.path.unwrap_or_default(),
            body: body(e.body),
        },
        "response" => EnvelopeContent::Response {
            reply_to: e.reply_to.unwrap_or_default(),
            status: e.status.unwrap_or(200),
            body: body(e.body),
        },
        _ => EnvelopeContent::Expired {
            reply_to: e.reply_to.unwrap_or_default(),
        },
    };
    ServerFrame::Envelope(Envelope {
        envelope: e.id,
        from: e.sender,
        content,
        created_at: time(e.created_at),
    })
}

async fn send(socket: &mut WebSocket, frame: &ServerFrame) -> bool {
    let text = serde_json::to_string(frame).expect("frames serialize");
    socket.send(Message::Text(text.into())).await.is_ok()
}

impl Relay {
    /// Serves one WebSocket. `source` is the client's address, counted against its storage
    /// share (`None`: not counted — loopback, where a TLS front would make every client look
    /// like one).
    pub async fn connection(self: Arc<Self>, mut socket: WebSocket, source: Option<IpAddr>) {
        let source = source.map(|ip| ip.to_string());
        let mut nonce = [0u8; 32];
        os_rng().fill_bytes(&mut nonce);
        let challenge = ServerFrame::Challenge {
            nonce: sovra_proto::encoding::b64(&nonce),
            relay: self.settings.public_url.clone(),
        };
        if !send(&mut socket, &challenge).await {
            return;
        }
        let me = match tokio::time::timeout(AUTH_TIMEOUT, socket.recv()).await {
            Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str(&text) {
                Ok(ClientFrame::Auth {
                    pubkey,
                    sig,
                    host_certificate,
                }) => {
                    match verify_cloud_auth(
                        &self.settings.public_url,
                        &nonce,
                        &pubkey,
                        &sig,
                        host_certificate.as_ref(),
                        jiff::Timestamp::now(),
                    ) {
                        Ok(key) => key,
                        Err(e) => {
                            send(&mut socket, &error(None, "unauthenticated", e.to_string())).await;
                            return;
                        }
                    }
                }
                _ => {
                    send(
                        &mut socket,
                        &error(None, "unauthenticated", "the first frame must be auth"),
                    )
                    .await;
                    return;
                }
            },
            _ => return,
        };
        let key = me.to_b64();
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let mailbox = self.store.mailboxes.open(&key, generation);
        if send(
            &mut socket,
            &ServerFrame::Ready {
                pubkey: key.clone(),
            },
        )
        .await
        {
            self.serve_authenticated(&mut socket, &me, &key, source.as_deref(), &mailbox)
                .await;
        }
        self.store.mailboxes.close(&key, generation);
    }

    async fn serve_authenticated(
        &self,
        socket: &mut WebSocket,
        me: &PublicKey,
        key: &str,
        source: Option<&str>,
        mailbox: &Mailbox,
    ) {
        // Everything queued is pushed from the start of each connection: what an earlier
        // connection received but did not ack comes again (at-least-once). After that, what
        // the writer commits arrives in the mailbox; the queue is read again only when the
        // mailbox overflowed (`mailbox.rs`).
        let mut after = 0i64;
        let mut read_queue = true;
        let mut in_flight = FuturesUnordered::new();
        loop {
            if read_queue {
                match self.store.pending(key, after).await {
                    Ok(batch) => {
                        read_queue = batch.len() as i64 == PUSH_BATCH;
                        if !push(socket, batch, &mut after).await {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::error!("reading the queue: {e}");
                        read_queue = false;
                    }
                }
                if read_queue {
                    continue;
                }
            }
            match mailbox.take() {
                Taken::Closed => return,
                Taken::Overflow => {
                    read_queue = true;
                    continue;
                }
                Taken::Envelopes(committed) => {
                    if !push(socket, committed, &mut after).await {
                        return;
                    }
                }
            }
            tokio::select! {
                Some(answer) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Some(answer) = answer
                        && !send(socket, &answer).await
                    {
                        return;
                    }
                }
                msg = socket.recv(), if in_flight.len() < MAX_IN_FLIGHT => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => {
                            if !send(socket, &error(None, "malformed", "frames are JSON text")).await {
                                return;
                            }
                            continue;
                        }
                        _ => return,
                    };
                    let answer = match serde_json::from_str::<ClientFrame>(&text) {
                        Ok(frame) => self.handle(me, key, source, frame).await,
                        Err(e) => {
                            Answer::Now(Some(error(None, "malformed", format!("not a frame: {e}"))))
                        }
                    };
                    match answer {
                        Answer::Now(Some(answer)) => {
                            if !send(socket, &answer).await {
                                return;
                            }
                        }
                        Answer::Now(None) => {}
                        Answer::Later(answer) => in_flight.push(answer),
                    }
                }
                _ = mailbox.notified() => {}
            }
        }
    }
}
