//! Capabilities the owner exposed, with the adapter that runs each.

use sqlx::Row;

use super::Store;

/// One exposed capability: the owner API's type, stored as it is shown.
pub use sovra_proto::owner::Capability as CapabilityRow;

impl Store {
    pub async fn capabilities(&self) -> Result<Vec<CapabilityRow>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM capabilities ORDER BY name")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| CapabilityRow {
                name: r.get("name"),
                description: r.get("description"),
                adapter: serde_json::from_str(r.get::<&str, _>("adapter")).unwrap_or_default(),
                swarm: r.get("swarm"),
            })
            .collect())
    }

    pub async fn upsert_capability(&self, cap: &CapabilityRow) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO capabilities (name, description, adapter, swarm) VALUES (?, ?, ?, ?)
                     ON CONFLICT (name) DO UPDATE SET description = excluded.description, adapter = excluded.adapter,
                       swarm = excluded.swarm")
            .bind(&cap.name)
            .bind(&cap.description)
            .bind(cap.adapter.to_string())
            .bind(&cap.swarm)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn remove_capability(&self, name: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM capabilities WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}
