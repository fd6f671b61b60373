//! First contact: how much a key the cloud does not know can make it hold.
//!
//! Keys are free, so every handshake from a stranger could leave a pending request for the
//! owner. Three bounds keep that finite: a rate per source address and a rate for the whole
//! cloud (GCRA, `governor`), both counting only handshakes from keys not on the whitelist, and a
//! cap on requests waiting at once. Over any of them the handshake is answered 429
//! `rate_limited` and nothing is stored; requests already waiting are never dropped to make room
//! (what the owner has not seen is not lost). Handshakes arriving through a relay have no source
//! address: the relay's first-contact proof of work and the cloud-wide rate bound them.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The first-contact limits of one cloud.
pub struct Strangers {
    per_source: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
    /// What is counted, for the refusal ("first contacts", "reports").
    what: &'static str,
    /// Whom the global bound protects ("this cloud", "this node").
    whom: &'static str,
}

/// Source addresses remembered before the per-source state is pruned.
const SOURCES_KEPT: usize = 65_536;

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).expect("at least 1");
    Quota::per_minute(n).allow_burst(n)
}

impl Strangers {
    pub fn new(per_source_per_minute: u32, per_minute_total: u32) -> Strangers {
        Self::counting(
            "first contacts",
            "this cloud",
            per_source_per_minute,
            per_minute_total,
        )
    }

    /// The same two bounds for anything else outsiders may send unasked.
    pub fn counting(
        what: &'static str,
        whom: &'static str,
        per_source_per_minute: u32,
        per_minute_total: u32,
    ) -> Strangers {
        Strangers {
            per_source: RateLimiter::keyed(per_minute(per_source_per_minute)),
            global: RateLimiter::direct(per_minute(per_minute_total)),
            what,
            whom,
        }
    }

    /// Admits one first contact from `source`, or says when to try again.
    pub fn admit(&self, source: Option<IpAddr>) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        let refused = |wait: Duration, what: &str| {
            ApiError::new(
                429,
                "rate_limited",
                format!(
                    "too many {} {what}; try again in {} s",
                    self.what,
                    wait.as_secs().max(1)
                ),
            )
        };
        if let Some(ip) = source {
            if self.per_source.len() > SOURCES_KEPT {
                self.per_source.retain_recent();
            }
            if let Err(not_until) = self.per_source.check_key(&ip) {
                return Err(refused(
                    not_until.wait_time_from(clock.now()),
                    "from this address",
                ));
            }
        }
        self.global.check().map_err(|not_until| {
            refused(
                not_until.wait_time_from(clock.now()),
                &format!("to {}", self.whom),
            )
        })
    }
}
