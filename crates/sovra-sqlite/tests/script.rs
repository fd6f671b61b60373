//! `Script`: one transaction in one hand-over, all or nothing.

use sovra_sqlite::{Script, SqliteSynchronous};
use sqlx::Row;

#[tokio::test]
async fn a_script_commits_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let pools = sovra_sqlite::open(
        &dir.path().join("t.db"),
        SqliteSynchronous::Full,
        &sqlx::migrate!("./tests/migrations"),
    )
    .await
    .unwrap();

    // Binds run on across statements; RETURNING rows come back.
    let mut script = Script::default();
    script
        .statement("INSERT INTO t (v) VALUES (")
        .push_bind("a")
        .push("), (")
        .push_bind("b")
        .push(") RETURNING v");
    script
        .statement("UPDATE t SET v = v || ")
        .push_bind("!")
        .push(" WHERE v = ")
        .push_bind("a");
    let rows = script.commit(&pools.write).await.unwrap();
    let mut returned: Vec<String> = rows.iter().map(|r| r.get("v")).collect();
    returned.sort();
    assert_eq!(returned, ["a", "b"]);

    // A failing statement after a good one: nothing of the script stays.
    let mut script = Script::default();
    script
        .statement("INSERT INTO t (v) VALUES (")
        .push_bind("c")
        .push(")");
    script
        .statement("INSERT INTO t (v) VALUES (")
        .push_bind("b")
        .push(")"); // UNIQUE
    assert!(script.commit(&pools.write).await.is_err());

    // The one writer connection came back clean: a new transaction starts and commits.
    let mut script = Script::default();
    script
        .statement("INSERT INTO t (v) VALUES (")
        .push_bind("d")
        .push(")");
    script.commit(&pools.write).await.unwrap();

    let all: Vec<String> = sqlx::query("SELECT v FROM t ORDER BY v")
        .fetch_all(&pools.read)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("v"))
        .collect();
    assert_eq!(all, ["a!", "b", "d"]);
}
