//! `sovra bench export`: how long moving a big cloud takes, and how big its bundle is.
//!
//! A cloud holding `messages` messages (over `conversations` conversations with whitelisted
//! peers, `size`-byte texts, `permanent` retention so all of them travel) is made by importing a
//! generated archive, then served by a real node on loopback. Measured, one stage at a time:
//! the node's export over the owner API (one snapshot read, JSON over HTTP), sealing the bundle
//! (Argon2id with the default parameters, XChaCha20-Poly1305, the cloud key's signature),
//! opening it again, and importing it into a second home.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};
use sovra_proto::migration::{
    ARCHIVE_FORMAT, Archive, ArchivedCloud, ArchivedKeys, ArchivedTable, DEFAULT_ARGON2, LockWith,
    Unlock, open_bundle, seal_bundle,
};
use sovra_proto::{CloudKeys, os_rng};

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> ArchivedTable {
    ArchivedTable {
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        rows,
    }
}

/// A cloud's archive with `messages` messages over `conversations` peers.
fn generated(keys: &CloudKeys, messages: usize, conversations: usize, size: usize) -> Archive {
    let now = jiff::Timestamp::now().as_millisecond();
    let text = "x".repeat(size);
    let conversations = conversations.max(1);
    let (mut peers, mut convs, mut rows) = (Vec::new(), Vec::new(), Vec::with_capacity(messages));
    for c in 0..conversations {
        let peer = CloudKeys::generate(&mut os_rng()).public().to_b64();
        peers.push(vec![
            json!(peer),
            json!(format!("@peer{c}.cloud")),
            json!("[]"),
            json!(1000),
            json!(now),
        ]);
        convs.push(vec![
            json!(format!("00000000-0000-4000-8000-{c:012}")),
            json!(format!("token-{c}")),
            json!(peer),
            json!("responder"),
            json!("bench"),
            json!("{}"),
            json!(now),
        ]);
    }
    for i in 0..messages {
        let c = i % conversations;
        rows.push(vec![
            json!(format!("00000000-0000-4000-8000-{c:012}")),
            json!(if i % 2 == 0 { "in" } else { "out" }),
            json!(i / conversations + 1),
            json!(format!("{i:064x}")),
            json!(json!({ "text": text }).to_string()),
            json!("permanent"),
            json!(now + i as i64),
        ]);
    }
    let mut tables = BTreeMap::new();
    tables.insert(
        "whitelist".into(),
        table(
            &[
                "peer_pubkey",
                "peer_handle",
                "allowed_capabilities",
                "rate_limit_per_day",
                "created_at",
            ],
            peers,
        ),
    );
    tables.insert(
        "conversations".into(),
        table(
            &[
                "id",
                "token",
                "peer_pubkey",
                "role",
                "topic",
                "session",
                "created_at",
            ],
            convs,
        ),
    );
    tables.insert(
        "messages".into(),
        table(
            &[
                "conversation_id",
                "direction",
                "seq",
                "request_hash",
                "payload",
                "retention",
                "at",
            ],
            rows,
        ),
    );
    Archive {
        format: ARCHIVE_FORMAT.into(),
        cloud: ArchivedCloud {
            handle: "@bench.cloud".into(),
            created_at: sovra_proto::time::format(jiff::Timestamp::now()),
            public_key: keys.public().to_b64(),
            encryption_key: keys.encryption.public().to_b64(),
        },
        keys: Some(ArchivedKeys::of(keys)),
        schema: 0,
        exported_from: None,
        move_seq: 0,
        files: BTreeMap::new(),
        tables,
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

pub async fn export(
    messages: usize,
    conversations: usize,
    size: usize,
    json_out: bool,
) -> Result<()> {
    let (from, to) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let keys = CloudKeys::generate(&mut os_rng());
    let source = generated(&keys, messages, conversations, size);
    let t = Instant::now();
    sovra_node::migration::import::import_cloud(from.path(), None, &source).await?;
    let setup = t.elapsed();

    let node = super::super::quickstart::start_node(from.path()).await?;
    let owner = {
        let device =
            sovra_node::home::load_device(&sovra_node::home::cloud_dir(from.path(), "bench"))?;
        sovra_client::OwnerClient::new(
            format!("{}/clouds/bench", node.url),
            device,
            Duration::from_secs(600),
        )
    };
    let t = Instant::now();
    let mut archive: Archive = owner
        .call(
            "POST",
            "/api/owner/migration/export",
            Some(&json!({ "freeze": true })),
        )
        .await?;
    let exported = t.elapsed();
    node.stop().await?;
    archive.keys = Some(ArchivedKeys::of(&keys));
    let bytes = archive.to_bytes();
    let t = Instant::now();
    let bundle = seal_bundle(
        &mut os_rng(),
        &keys.signing,
        &bytes,
        LockWith::Passphrase("bench passphrase", DEFAULT_ARGON2),
        jiff::Timestamp::now(),
    )?;
    let sealed = t.elapsed();
    let t = Instant::now();
    let (_, opened) = open_bundle(&bundle, Unlock::Passphrase("bench passphrase"))?;
    let opened_in = t.elapsed();
    let t = Instant::now();
    sovra_node::migration::import::import_cloud(to.path(), None, &opened).await?;
    let imported = t.elapsed();
    let got = opened.tables.get("messages").map_or(0, |t| t.rows.len());
    anyhow::ensure!(
        got == messages,
        "the bundle holds {got} of {messages} messages"
    );

    let row = json!({
        "messages": messages,
        "conversations": conversations,
        "text_bytes": size,
        "archive_bytes": bytes.len(),
        "bundle_bytes": bundle.len(),
        "seconds": {
            "generate_and_import_source": secs(setup),
            "export_over_owner_api": secs(exported),
            "seal": secs(sealed),
            "open": secs(opened_in),
            "import": secs(imported),
        },
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&row)?);
    } else {
        println!(
            "{messages} messages over {conversations} conversations, {size}-byte texts: archive {:.1} MiB, bundle {:.1} MiB",
            bytes.len() as f64 / 1048576.0,
            bundle.len() as f64 / 1048576.0
        );
        println!(
            "export (owner API) {:.2} s   seal {:.2} s   open {:.2} s   import {:.2} s",
            exported.as_secs_f64(),
            sealed.as_secs_f64(),
            opened_in.as_secs_f64(),
            imported.as_secs_f64()
        );
    }
    Ok(())
}
