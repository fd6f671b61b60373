//! What happens in a cloud, as it happens: inbound messages and replies, drafts, pending
//! requests, brain failures, conversations waiting for a human. Emitted after the change they
//! describe committed; read live by the owner (`GET /api/owner/events`, `sovra inbox`) and by
//! agents (`GET /api/agent/events`) as Server-Sent Events.
//!
//! Delivery is best-effort and live only: a listener that falls behind by more than
//! [`BUFFER`] events is told so (`lagged`) and continues; what it missed is in the owner API's
//! lists (`/messages`, `/drafts`, `/pending`).

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{self, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast;

use crate::cloud::Cloud;
use crate::store::now_ms;

/// Events buffered per listener before it is told it lagged.
pub const BUFFER: usize = 1024;

pub use sovra_proto::owner::Event;

/// An event of `kind` happening now.
pub fn event_now(kind: &'static str) -> Event {
    Event::new(kind, now_ms())
}

pub fn channel() -> broadcast::Sender<Event> {
    broadcast::channel(BUFFER).0
}

impl Cloud {
    /// Tells every live listener; costs nothing when nobody listens.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// A live SSE stream of this cloud's events that `keep` accepts.
    pub fn event_stream<F>(
        &self,
        keep: F,
    ) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>> + use<F>>
    where
        F: Fn(&Event) -> bool + Send + 'static,
    {
        let rx = self.events.subscribe();
        let shutdown = self.shutdown_signal();
        let stream = futures_util::stream::unfold((rx, keep), move |(mut rx, keep)| {
            let mut shutdown = shutdown.clone();
            async move {
                loop {
                    let event = tokio::select! {
                        e = rx.recv() => e,
                        _ = shutdown.wait_for(|s| *s) => return None,
                    };
                    let event = match event {
                        Ok(e) if keep(&e) => e,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(n)) => Event {
                            reason: Some(format!("{n} event(s) missed")),
                            ..event_now("lagged")
                        },
                        Err(broadcast::error::RecvError::Closed) => return None,
                    };
                    let sse = sse::Event::default()
                        .event(event.kind.as_ref())
                        .json_data(&event)
                        .expect("events serialize");
                    return Some((Ok(sse), (rx, keep)));
                }
            }
        });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}
