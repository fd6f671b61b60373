//! Conformance tests for [`RegistryStore`]: every backend must pass the same suite. Today that
//! is SQLite; a PostgreSQL backend adds itself to `backends()` and inherits every check.

use sovra_registry::store::{
    CloudRow, RegistryStore, Retired, SqliteStore, Verification, is_conflict,
};

fn cloud(n: u32) -> CloudRow {
    CloudRow {
        id: 0,
        phone_hash: format!("phone{n}"),
        pepper_version: 1,
        handle: format!("@user{n}.cloud"),
        skeleton: format!("user{n}"),
        pubkey: format!("key{n}"),
        lookup: format!("{{\"n\":{n}}}"),
        created_at: 1,
        updated_at: 1,
        last_active_at: 1,
        suspended: None,
    }
}

async fn conformance<S: RegistryStore>(store: S) {
    // Verifications: attempts lock at the limit; consuming is single-use.
    let v = Verification {
        id: "v1".into(),
        phone_hash: "p".into(),
        pepper_version: 1,
        code_mac: "mac".into(),
        created_at: 10,
        expires_at: 100,
        attempts: 0,
        state: "open".into(),
    };
    store.insert_verification(&v).await.unwrap();
    assert_eq!(store.verification("v1").await.unwrap(), Some(v.clone()));
    assert!(store.verification("nope").await.unwrap().is_none());
    assert_eq!(store.fail_attempt("v1", 2).await.unwrap(), 1);
    assert_eq!(
        store.verification("v1").await.unwrap().unwrap().state,
        "open"
    );
    assert_eq!(store.fail_attempt("v1", 2).await.unwrap(), 2);
    assert_eq!(
        store.verification("v1").await.unwrap().unwrap().state,
        "locked"
    );
    assert!(
        !store.consume_verification("v1").await.unwrap(),
        "a locked code is not spent"
    );
    let v2 = Verification {
        id: "v2".into(),
        ..v.clone()
    };
    store.insert_verification(&v2).await.unwrap();
    assert!(store.consume_verification("v2").await.unwrap());
    assert!(
        !store.consume_verification("v2").await.unwrap(),
        "single use"
    );

    // Sends counted per phone and per client since a time.
    for (p, c, at) in [("p", "c1", 5), ("p", "c2", 50), ("q", "c1", 60)] {
        store.record_send(p, c, at).await.unwrap();
    }
    assert_eq!(store.sends_since("p", "c1", 0).await.unwrap(), (2, 2));
    assert_eq!(store.sends_since("p", "c1", 10).await.unwrap(), (1, 1));

    // Clouds: unique phone, handle, skeleton and key; lookups by each.
    let id = store.insert_cloud(&cloud(1)).await.unwrap();
    assert!(id > 0);
    for clash in [
        CloudRow {
            handle: "@x.cloud".into(),
            skeleton: "x".into(),
            pubkey: "kx".into(),
            ..cloud(1)
        },
        CloudRow {
            phone_hash: "px".into(),
            skeleton: "x".into(),
            pubkey: "kx".into(),
            ..cloud(1)
        },
        CloudRow {
            phone_hash: "px".into(),
            handle: "@x.cloud".into(),
            pubkey: "kx".into(),
            ..cloud(1)
        },
        CloudRow {
            phone_hash: "px".into(),
            handle: "@x.cloud".into(),
            skeleton: "x".into(),
            ..cloud(1)
        },
    ] {
        let e = store.insert_cloud(&clash).await.unwrap_err();
        assert!(is_conflict(&e), "{e}");
    }
    let got = store.cloud_by_phone("phone1").await.unwrap().unwrap();
    assert_eq!(got, CloudRow { id, ..cloud(1) });
    assert_eq!(
        store
            .cloud_by_handle("@user1.cloud")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert_eq!(
        store.cloud_by_skeleton("user1").await.unwrap().unwrap().id,
        id
    );
    assert_eq!(
        store.lookup_json("@user1.cloud").await.unwrap().as_deref(),
        Some("{\"n\":1}")
    );
    assert!(store.lookup_json("@user2.cloud").await.unwrap().is_none());

    // Update with a retirement is one change: both or neither.
    let renamed = CloudRow {
        id,
        handle: "@renamed.cloud".into(),
        skeleton: "renamed".into(),
        lookup: "{}".into(),
        ..cloud(1)
    };
    let retire = Retired {
        skeleton: "user1".into(),
        handle: "@user1.cloud".into(),
        successor: "@renamed.cloud".into(),
        until: 1000,
    };
    store.update_cloud(&renamed, Some(&retire)).await.unwrap();
    assert!(store.lookup_json("@user1.cloud").await.unwrap().is_none());
    assert_eq!(
        store.retired("user1", 999).await.unwrap(),
        Some(retire.clone())
    );
    assert!(
        store.retired("user1", 1000).await.unwrap().is_none(),
        "expired"
    );
    store.insert_cloud(&cloud(2)).await.unwrap();
    let clash = CloudRow {
        id,
        handle: "@user2.cloud".into(),
        skeleton: "user2".into(),
        ..renamed.clone()
    };
    let retire3 = Retired {
        skeleton: "renamed".into(),
        handle: "@renamed.cloud".into(),
        successor: "@user2.cloud".into(),
        until: 5000,
    };
    assert!(store.update_cloud(&clash, Some(&retire3)).await.is_err());
    assert!(
        store.retired("renamed", 0).await.unwrap().is_none(),
        "nothing of the failed update"
    );
    assert_eq!(
        store
            .cloud_by_handle("@renamed.cloud")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );

    // The operator's actions: a suspension hides the lookup and shows on the row; lifting it
    // and the lock; a takedown removes the cloud and retires the handle in one change.
    assert!(
        store
            .set_suspended("@user2.cloud", Some("spam"))
            .await
            .unwrap()
    );
    assert!(store.lookup_json("@user2.cloud").await.unwrap().is_none());
    let row = store
        .cloud_by_handle("@user2.cloud")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.suspended.as_deref(), Some("spam"));
    assert!(store.set_suspended("@user2.cloud", None).await.unwrap());
    assert!(store.lookup_json("@user2.cloud").await.unwrap().is_some());
    assert!(
        !store
            .set_suspended("@nobody.cloud", Some("x"))
            .await
            .unwrap()
    );
    assert!(store.lift_lock("@user2.cloud").await.unwrap());
    assert_eq!(
        store
            .cloud_by_handle("@user2.cloud")
            .await
            .unwrap()
            .unwrap()
            .last_active_at,
        0
    );
    let listed: Vec<String> = store
        .list_clouds("", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.handle)
        .collect();
    assert_eq!(listed, ["@renamed.cloud", "@user2.cloud"]);
    assert_eq!(
        store.list_clouds("@renamed.cloud", 10).await.unwrap().len(),
        1
    );
    let gone = Retired {
        skeleton: "user2".into(),
        handle: "@user2.cloud".into(),
        successor: String::new(),
        until: 9000,
    };
    store.take_down(row.id, &gone).await.unwrap();
    assert!(
        store
            .cloud_by_handle("@user2.cloud")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.retired("user2", 0).await.unwrap(), Some(gone));
    // Its phone and key are free again (keeping the handle retired is the registry's rule).
    store.insert_cloud(&cloud(2)).await.unwrap();

    store.add_device(id, "d1", "{}", 5).await.unwrap();
    store
        .add_device(id, "d1", "{\"again\":1}", 6)
        .await
        .unwrap();
    store.add_device(id, "d2", "{}", 7).await.unwrap();
    assert_eq!(store.devices(id).await.unwrap(), ["d1", "d2"]);
    let many: Vec<CloudRow> = (10..2510).map(cloud).collect();
    store.bulk_insert_clouds(&many).await.unwrap();
    assert!(
        store
            .cloud_by_handle("@user2509.cloud")
            .await
            .unwrap()
            .is_some()
    );
    store.sweep(55, 2000).await.unwrap();
    assert_eq!(
        store.sends_since("p", "c1", 0).await.unwrap(),
        (0, 1),
        "only the send at 60 is left"
    );
    assert!(
        store.verification("v1").await.unwrap().is_some(),
        "expires_at 100 > 55"
    );
    store.sweep(101, 2000).await.unwrap();
    assert!(store.verification("v1").await.unwrap().is_none());
    assert!(store.retired("user1", 0).await.unwrap().is_none());
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(SqliteStore::open(&dir.path().join("r.db")).await.unwrap()).await;
}

/// Skeletons stored under an older rule are recomputed when the registry opens, so a
/// confusable newcomer meets the existing holder; two holders the new rule confuses both stay.
#[tokio::test]
async fn stored_skeletons_follow_the_current_rule() {
    use sovra_registry::handle::skeleton;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        for (n, name, old) in [(1, "daniel", "daniel"), (2, "claniel", "claniel")] {
            let mut row = cloud(n);
            row.handle = format!("@{name}.cloud");
            row.skeleton = old.into();
            store.insert_cloud(&row).await.unwrap();
        }
        let mut row = cloud(3);
        row.handle = "@modem.cloud".into();
        row.skeleton = "modem".into();
        store.insert_cloud(&row).await.unwrap();
        // As a registry of the previous version left it.
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA user_version = 1")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let found = |s: String| {
        let store = store.clone();
        async move { store.cloud_by_skeleton(&s).await.unwrap().map(|c| c.handle) }
    };
    assert_eq!(
        found(skeleton("modern")).await.as_deref(),
        Some("@modem.cloud")
    );
    assert_eq!(
        found(skeleton("c1aniel")).await.as_deref(),
        Some("@daniel.cloud"),
        "the first holder owns the shared skeleton"
    );
    assert_eq!(
        found("claniel".into()).await.as_deref(),
        Some("@claniel.cloud")
    );
}
