//! The whole database as archive tables (docs/PROTOCOL.md §20.2), and back.
//!
//! Generic over the schema, so a table added by a later migration travels without a change
//! here: every table but the node-local ones, every column, rows sorted by primary key (all
//! columns when a table has none), values as SQLite stores them. `session`-retention content
//! (messages and what brains saw of them) stays behind, as its data policy says.

use std::collections::BTreeMap;

use serde_json::Value;
use sovra_proto::migration::ArchivedTable;
use sqlx::{AssertSqlSafe, Column, QueryBuilder, Row, Sqlite, TypeInfo, ValueRef};

use super::Store;

/// Tables that describe this node's copy, not the cloud: never exported, never imported.
const NODE_LOCAL: &[&str] = &[
    "_sqlx_migrations",
    "sqlite_sequence",
    "owner_nonces",
    "migration",
    "web_pairings",
    "web_sessions",
];

/// Rows a table exports, when not all. An inbound `session` message whose calls have not run
/// yet travels with its job: answering it is part of the session, and the new node must.
fn filter(table: &str) -> &'static str {
    match table {
        "messages" => {
            " WHERE retention != 'session' OR (direction = 'in' AND EXISTS (SELECT 1 FROM jobs
               WHERE jobs.conversation_id = messages.conversation_id AND jobs.seq = messages.seq))"
        }
        "brain_runs" => " WHERE retention != 'session'",
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Schema(String),
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// The schema version: the last migration applied.
    pub async fn schema_version(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
            .fetch_one(&self.read)
            .await
    }

    /// The cloud's tables, from one snapshot (one read transaction).
    pub async fn export_tables(&self) -> Result<BTreeMap<String, ArchivedTable>, ArchiveError> {
        let mut tx = self.read.begin().await?;
        let names = table_names(&mut tx).await?;
        let mut tables = BTreeMap::new();
        for name in names
            .into_iter()
            .filter(|n| !NODE_LOCAL.contains(&n.as_str()))
        {
            let info = sqlx::query(AssertSqlSafe(format!(
                "PRAGMA table_info({})",
                quote(&name)
            )))
            .fetch_all(&mut *tx)
            .await?;
            let columns: Vec<String> = info.iter().map(|r| r.get::<String, _>("name")).collect();
            let mut pk: Vec<(i64, String)> = info
                .iter()
                .filter(|r| r.get::<i64, _>("pk") > 0)
                .map(|r| (r.get("pk"), r.get("name")))
                .collect();
            pk.sort();
            let order: Vec<String> = match pk.is_empty() {
                true => columns.iter().map(|c| quote(c)).collect(),
                false => pk.iter().map(|(_, c)| quote(c)).collect(),
            };
            let select = format!(
                "SELECT {} FROM {}{} ORDER BY {}",
                columns
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                quote(&name),
                filter(&name),
                order.join(", ")
            );
            let rows = sqlx::query(AssertSqlSafe(select))
                .fetch_all(&mut *tx)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut values = Vec::with_capacity(columns.len());
                for i in 0..row.columns().len() {
                    values.push(value(&row, i, &name)?);
                }
                out.push(values);
            }
            tables.insert(name, ArchivedTable { columns, rows: out });
        }
        tx.commit().await?;
        Ok(tables)
    }

    /// Writes archive tables into this (new, empty but migrated) database in one transaction:
    /// all of it or none. Tables the migrations seeded (the `main` swarm) are replaced. A table
    /// or column this schema does not have is refused — the archive is from a newer node.
    pub async fn import_tables(
        &self,
        tables: &BTreeMap<String, ArchivedTable>,
    ) -> Result<u64, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        let here = table_names(&mut tx).await?;
        let mut n = 0u64;
        for (name, table) in tables {
            if NODE_LOCAL.contains(&name.as_str()) {
                return Err(ArchiveError::Schema(format!(
                    "table {name} is this node's own and cannot be imported"
                )));
            }
            // Every identifier used below is one SQLite named, matched exactly.
            if !here.contains(name) {
                return Err(ArchiveError::Schema(format!(
                    "table {name:?} is unknown here: the archive is from a newer node"
                )));
            }
            let known: Vec<String> =
                sqlx::query(AssertSqlSafe(format!("PRAGMA table_info({})", quote(name))))
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.get("name"))
                    .collect();
            if let Some(c) = table.columns.iter().find(|c| !known.contains(c)) {
                return Err(ArchiveError::Schema(format!(
                    "column {name}.{c} is unknown here: the archive is from a newer node"
                )));
            }
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", quote(name))))
                .execute(&mut *tx)
                .await?;
            if let Some(row) = table.rows.iter().find(|r| r.len() != table.columns.len()) {
                return Err(ArchiveError::Schema(format!(
                    "a row of {name} has {} values for {} columns",
                    row.len(),
                    table.columns.len()
                )));
            }
            if let Some(v) = table
                .rows
                .iter()
                .flatten()
                .find(|v| v.is_array() || v.is_object())
            {
                return Err(ArchiveError::Schema(format!(
                    "a value of {name} is not a scalar: {v}"
                )));
            }
            // Multi-row inserts, within SQLite's limit of bound values per statement.
            let per_statement = (30_000 / table.columns.len().max(1)).max(1);
            let head = format!(
                "INSERT INTO {} ({}) ",
                quote(name),
                table
                    .columns
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            for chunk in table.rows.chunks(per_statement) {
                let mut q = QueryBuilder::<Sqlite>::new(head.clone());
                q.push_values(chunk, |mut b, row| {
                    for v in row {
                        match v {
                            Value::Bool(x) => b.push_bind(*x as i64),
                            Value::Number(x) => match x.as_i64() {
                                Some(i) => b.push_bind(i),
                                None => b.push_bind(x.as_f64()),
                            },
                            Value::String(x) => b.push_bind(x.clone()),
                            _ => b.push_bind(None::<i64>),
                        };
                    }
                });
                q.build().execute(&mut *tx).await?;
                n += chunk.len() as u64;
            }
        }
        tx.commit().await?;
        self.forget_cached();
        Ok(n)
    }
}

async fn table_names(tx: &mut super::Tx<'static>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut **tx)
    .await
}

/// One column of one row, as JSON: SQLite's storage class decides.
fn value(row: &sqlx::sqlite::SqliteRow, i: usize, table: &str) -> Result<Value, ArchiveError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_owned();
    Ok(match kind.as_str() {
        "INTEGER" => Value::from(row.try_get::<i64, _>(i)?),
        "REAL" => Value::from(row.try_get::<f64, _>(i)?),
        "TEXT" => Value::from(row.try_get::<String, _>(i)?),
        other => {
            return Err(ArchiveError::Schema(format!(
                "{table}.{}: a {other} value has no archive form",
                row.columns()[i].name()
            )));
        }
    })
}
