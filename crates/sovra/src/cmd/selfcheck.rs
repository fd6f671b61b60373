//! `sovra selfcheck`: the protocol core, exercised in one process.
//!
//! Walks @alice.cloud and @bob.cloud through a whole rapp-d2d/1.0 conversation without any
//! network, calling `sovra-proto` exactly as the node does, and checks every step — a quick
//! way to confirm a build's cryptography on a new machine. It exits non-zero if any check fails.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use jiff::Timestamp;
use serde_json::json;
use sovra_proto::handshake::{self, REASON_NOT_ON_WHITELIST};
use sovra_proto::keyfile;
use sovra_proto::{
    Ack, Call, CallResult, Capability, CloudKeys, Grant, HandshakeOutcome, IdentityDocument,
    Payload, ReplayWindow, Retention, WhitelistEntry, os_rng, safety_code,
};

pub(crate) struct Transcript {
    pub json: bool,
    pub steps: usize,
}

impl Transcript {
    pub fn step(&mut self, who: &str, what: &str, detail: serde_json::Value) {
        self.steps += 1;
        if self.json {
            println!(
                "{}",
                json!({"step": self.steps, "who": who, "what": what, "detail": detail})
            );
        } else {
            println!("{:>2}. [{who}] {what}", self.steps);
            if let Some(obj) = detail.as_object() {
                // The command behind the step first, then what it showed.
                let mut entries: Vec<_> = obj.iter().collect();
                entries.sort_by_key(|(k, _)| *k != "command");
                for (k, v) in entries {
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    // Keys are snake_case for JSON readers; people read them as words.
                    println!("      {}: {v}", k.replace('_', " "));
                }
            }
        }
    }
}

/// Bob's one exposed capability, the binary's built-in word counter: stands in for an agent.
fn word_count(args: &serde_json::Value) -> CallResult {
    let (ok, output, error) = match super::agent::word_count(args) {
        Ok(v) => (true, Some(v), None),
        Err(e) => (false, None, Some(e.to_string())),
    };
    CallResult {
        capability: "WordCount".into(),
        ok,
        output,
        error,
    }
}

fn create_cloud(home: &Path, name: &str) -> Result<CloudKeys> {
    let dir = home.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("cloud.key");
    keyfile::save_cloud_keys(&path, &CloudKeys::generate(&mut os_rng()))?;
    // Reload from disk: what follows uses the keys as a restarted node would.
    Ok(keyfile::load_cloud_keys(&path)?)
}

pub fn run(home: Option<PathBuf>, json: bool) -> Result<()> {
    let tmp;
    let kept = home.is_some();
    let home = match home {
        Some(h) => h,
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let mut t = Transcript { json, steps: 0 };
    let mut rng = os_rng();
    let now = Timestamp::now();
    if !json {
        println!("Sovra quickstart — protocol self-check (rapp-d2d/1.0, in one process)");
        println!(
            "The node, registry and relay are not built yet; this runs their protocol core.\n"
        );
    }

    let alice = create_cloud(&home, "alice")?;
    let bob = create_cloud(&home, "bob")?;
    t.step(
        "alice",
        "created cloud @alice.cloud",
        json!({
            "pubkey": alice.public().to_human(),
            "daemon_id": alice.public().daemon_id(),
            "key_file": home.join("alice/cloud.key").display().to_string() + " (mode 0600)",
        }),
    );
    t.step(
        "bob",
        "created cloud @bob.cloud",
        json!({
            "pubkey": bob.public().to_human(),
            "daemon_id": bob.public().daemon_id(),
        }),
    );

    let bob_doc = IdentityDocument::sign(
        &bob,
        "@bob.cloud",
        vec![Capability {
            name: "WordCount".into(),
            description: "Counts the words of a text".into(),
        }],
        vec!["http://127.0.0.1:0/".into()],
        vec![],
        now,
    )?;
    let fetched = serde_json::to_vec(&bob_doc)?;
    let bob_identity = IdentityDocument::from_json(&fetched)?;
    ensure!(
        bob_identity.pubkey == bob.public(),
        "identity document key mismatch"
    );
    t.step("alice", "fetched and verified Bob's identity document", json!({
        "handle": bob_identity.handle,
        "capabilities": bob_identity.capabilities.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "fingerprint": bob_identity.pubkey.fingerprint(),
        "safety_code": safety_code(&alice.public(), &bob.public()),
    }));

    let bob_whitelist: Vec<Grant> = vec![
        WhitelistEntry {
            peer_pubkey: alice.public().to_b64(),
            peer_handle: "@alice.cloud".into(),
            allowed_capabilities: vec!["WordCount".into()],
            rate_limit_per_day: 100,
            expires_at: Some(sovra_proto::time::format(
                now + jiff::SignedDuration::from_hours(24 * 30),
            )),
        }
        .validate()?,
    ];
    t.step(
        "bob",
        "whitelisted @alice.cloud",
        json!(bob_whitelist[0].to_entry()),
    );

    let (request, pending) = handshake::initiate(
        &mut rng,
        &alice,
        Some("@alice.cloud"),
        bob_identity.pubkey,
        bob_identity.encryption_key,
        "counting words together",
        now,
    )?;
    t.step(
        "alice",
        "sent a handshake (intro sealed to Bob's X25519 key)",
        json!({
            "conversation_id": request.conversation_id,
            "sealed_intro_bytes": request.sealed_intro.len() * 3 / 4,
        }),
    );

    let received = handshake::receive(&request, &bob, Timestamp::now())?;
    let grant = bob_whitelist
        .iter()
        .find(|g| g.peer_pubkey == received.from && !g.is_expired(Timestamp::now()))
        .context("alice should be whitelisted")?;
    let ack = Ack {
        capabilities: grant.allowed_capabilities.clone(),
        expires_at: None,
        accepted_at: sovra_proto::time::format(Timestamp::now()),
        responder_handle: Some("@bob.cloud".into()),
    };
    let (response, bob_session) = handshake::accept(&mut rng, &bob, &received, &ack)?;
    t.step(
        "bob",
        "verified the handshake and accepted",
        json!({
            "topic": received.topic,
            "from": received.sender_handle,
            "granted": ack.capabilities,
        }),
    );

    let HandshakeOutcome::Accepted {
        session: alice_session,
        ack,
    } = pending.complete(&response)?
    else {
        bail!("bob refused the handshake");
    };
    t.step(
        "alice",
        "opened Bob's sealed ack; both sides now share forward-secret session keys",
        json!({
            "granted": ack.capabilities,
        }),
    );

    let question = "the quick brown fox jumps over the lazy dog";
    let mut payload = Payload::text("Hi Bob, how many words is this?");
    payload.calls.push(Call {
        capability: "WordCount".into(),
        args: json!({ "text": question }),
    });
    payload.data_policy.retention = Retention::Session;
    let m1 = alice_session.seal(&mut rng, &alice.signing, 1, &payload)?;
    let wire = serde_json::to_string(&m1)?;
    ensure!(
        !wire.contains("Hi Bob") && !wire.contains(question),
        "plaintext on the wire"
    );
    t.step(
        "alice",
        "sent message seq 1 with a WordCount call",
        json!({
            "what_a_relay_sees": format!("{}…", &wire[..wire.len().min(120)]),
        }),
    );

    let mut bob_window = ReplayWindow::default();
    let parsed = m1.parse()?;
    bob_window.check(parsed.seq)?;
    let got = bob_session.open(&parsed)?;
    bob_window.accept(parsed.seq);
    let results: Vec<CallResult> = got
        .calls
        .iter()
        .map(|c| {
            if !grant.allows(&c.capability) {
                CallResult {
                    capability: c.capability.clone(),
                    ok: false,
                    output: None,
                    error: Some("not granted".into()),
                }
            } else {
                word_count(&c.args)
            }
        })
        .collect();
    t.step(
        "bob",
        "opened seq 1 and ran the call",
        json!({
            "text": got.text,
            "data_policy": format!("{:?}", got.data_policy.retention),
            "result": results[0].output,
        }),
    );

    let mut reply = Payload::text("Nine words, Alice.");
    reply.in_reply_to = Some(1);
    reply.results = results;
    let r1 = bob_session.seal(&mut rng, &bob.signing, 1, &reply)?;
    let got_reply = alice_session.open(&r1.parse()?)?;
    ensure!(
        got_reply.results[0].output == Some(json!({"words": 9})),
        "wrong call result"
    );
    t.step(
        "alice",
        "opened Bob's reply",
        json!({
            "text": got_reply.text,
            "in_reply_to": got_reply.in_reply_to,
            "results": got_reply.results,
        }),
    );

    // What every receiver must refuse.
    let replay = bob_window.check(m1.parse()?.seq).err().map(|e| e.code());
    ensure!(replay == Some("replayed_seq"), "replay was not refused");
    let mut tampered = m1.parse()?;
    tampered.sealed_payload[40] ^= 1;
    let tamper = bob_session.open(&tampered).err().map(|e| e.code());
    ensure!(tamper == Some("bad_signature"), "tampering was not refused");
    let mallory = CloudKeys::generate(&mut rng);
    let (m_req, m_pending) = handshake::initiate(
        &mut rng,
        &mallory,
        None,
        bob.public(),
        bob.encryption.public(),
        "let me in",
        now,
    )?;
    let m_received = handshake::receive(&m_req, &bob, Timestamp::now())?;
    ensure!(
        !bob_whitelist
            .iter()
            .any(|g| g.peer_pubkey == m_received.from),
        "mallory is whitelisted"
    );
    let refusal = handshake::refuse(
        &bob,
        &m_received.from,
        m_received.conversation_id,
        REASON_NOT_ON_WHITELIST,
    );
    let HandshakeOutcome::Refused { reason } = m_pending.complete(&refusal)? else {
        bail!("mallory was accepted");
    };
    t.step(
        "bob",
        "refused what must be refused",
        json!({
            "replayed_seq_1": replay,
            "tampered_ciphertext": tamper,
            "unknown_peer_handshake": reason,
        }),
    );

    if json {
        println!("{}", json!({"ok": true, "steps": t.steps}));
    } else {
        println!("\nAll {} steps verified.", t.steps);
        if kept {
            println!("The clouds' key files are in {}.", home.display());
        } else {
            println!(
                "The clouds lived in a temporary directory, now removed (--keys DIR keeps them)."
            );
        }
    }
    Ok(())
}
