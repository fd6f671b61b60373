//! Content-addressed files of the actions surface (§23.9), bytes as standard base64 so the
//! archive carries them, and which of them a viewer may fetch.

use sqlx::Row;

use super::{Store, now_ms};

#[derive(Debug, Clone)]
pub struct StoredFile {
    pub id: String,
    pub content_type: String,
    pub size: i64,
    pub data: Vec<u8>,
    /// The id tag it was fetched from; `None` for an upload.
    pub origin: Option<String>,
}

impl Store {
    /// Whether an action of ours that names `file` as an attachment may be shown to `viewer`
    /// (`None`: anyone, so only public ones): a public one, one addressed to the viewer, or a
    /// post to followers and connections the viewer is among.
    pub async fn file_visible(
        &self,
        file: &str,
        viewer: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let pattern = format!("\"{file}\"");
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM actions WHERE direction = 'out' AND instr(attachments, ?2) > 0
               AND (public = 1 OR audience = ?1 OR (audience IS NULL AND (
                 EXISTS (SELECT 1 FROM follows WHERE id_tag = ?1 AND direction = 'in')
                 OR EXISTS (SELECT 1 FROM connections WHERE id_tag = ?1 AND state = 'connected')))))",
        )
        .bind(viewer)
        .bind(pattern)
        .fetch_one(&self.read)
        .await
    }

    /// Stores a file under its content address (its id, checked by the caller).
    pub async fn put_file(
        &self,
        id: &str,
        content_type: &str,
        bytes: &[u8],
        origin: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO files (id, content_type, size, data, origin, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(content_type)
        .bind(bytes.len() as i64)
        .bind(sovra_proto::encoding::b64(bytes))
        .bind(origin)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn file(&self, id: &str) -> Result<Option<StoredFile>, sqlx::Error> {
        let row =
            sqlx::query("SELECT id, content_type, size, data, origin FROM files WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|r| StoredFile {
            id: r.get("id"),
            content_type: r.get("content_type"),
            size: r.get("size"),
            data: sovra_proto::encoding::b64_decode(
                "data",
                &r.get::<String, _>("data"),
                r.get::<i64, _>("size") as usize,
            )
            .unwrap_or_default(),
            origin: r.get("origin"),
        }))
    }

    /// Files stored, newest first, without their bytes.
    pub async fn files(&self, limit: i64) -> Result<Vec<StoredFile>, sqlx::Error> {
        self.files_meta(None, limit).await
    }

    /// One file without its bytes.
    pub async fn file_meta(&self, id: &str) -> Result<Option<StoredFile>, sqlx::Error> {
        Ok(self.files_meta(Some(id), 1).await?.pop())
    }

    async fn files_meta(
        &self,
        id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredFile>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT id, content_type, size, origin FROM files WHERE ?1 IS NULL OR id = ?1
             ORDER BY created_at DESC, id LIMIT ?2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| StoredFile {
            id: r.get("id"),
            content_type: r.get("content_type"),
            size: r.get("size"),
            data: Vec::new(),
            origin: r.get("origin"),
        })
        .collect())
    }

    /// Bytes of files stored, for the tenant quota.
    pub async fn files_size(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM files")
            .fetch_one(&self.read)
            .await
    }
}
