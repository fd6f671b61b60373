//! Content-addressed files (§23.9): `f1~` + base64url(SHA-256(bytes)).
//!
//! The owner stores a file (`PUT /api/owner/files`), attaches its id to an action, and the
//! receiving cloud fetches it from `GET /api/file/{id}` — with an access token unless the
//! action is public — and keeps it only if its bytes hash to the id. Single byte ranges are
//! served (`Range: bytes=…`, 206; 416 when unsatisfiable); a multi-range request gets the
//! whole file.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sovra_proto::action::{self, owner::File};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::StoredFile;

/// The largest file a cloud stores, in bytes.
pub const MAX_FILE: usize = 16 * 1024 * 1024;
/// The most bytes of files one cloud keeps in all.
pub const MAX_FILES_TOTAL: i64 = 1024 * 1024 * 1024;
/// The longest `Content-Type` kept.
const MAX_CONTENT_TYPE: usize = 127;

pub(crate) fn unknown_file(id: &str) -> ApiError {
    ApiError::new(
        404,
        "unknown_file",
        format!("no file {id} is visible to you here"),
    )
}

pub(crate) fn view(f: &StoredFile) -> File {
    File {
        id: f.id.clone(),
        content_type: f.content_type.clone(),
        size: f.size as u64,
        origin: f.origin.clone(),
    }
}

/// The media type `headers` declare (`application/octet-stream` if none): an owner upload's, or
/// a fetched file's.
pub(crate) fn media_type(headers: &HeaderMap) -> ApiResult<String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|t| t.len() <= MAX_CONTENT_TYPE && t.contains('/'))
                .map(str::to_owned)
                .ok_or_else(|| ApiError::bad_request("Content-Type is not a media type"))
        })
        .transpose()?;
    Ok(ct.unwrap_or_else(|| "application/octet-stream".into()))
}

impl Cloud {
    /// Stores `bytes` under their content address; `origin` is the id tag fetched from.
    pub async fn store_file(
        &self,
        content_type: &str,
        bytes: &[u8],
        origin: Option<&str>,
    ) -> ApiResult<File> {
        if bytes.is_empty() || bytes.len() > MAX_FILE {
            return Err(ApiError::new(
                413,
                "wrong_size",
                format!("a file is 1 to {MAX_FILE} bytes"),
            ));
        }
        let id = action::file_id(bytes);
        // The same id is the same bytes: a file already here is the answer as it is.
        if let Some(existing) = self.store.file_meta(&id).await? {
            return Ok(view(&existing));
        }
        if self.store.files_size().await? + bytes.len() as i64 > MAX_FILES_TOTAL {
            return Err(ApiError::new(
                507,
                "quota_exceeded",
                format!("this cloud already keeps {MAX_FILES_TOTAL} bytes of files"),
            ));
        }
        self.store
            .put_file(&id, content_type, bytes, origin)
            .await?;
        Ok(File {
            id,
            content_type: content_type.to_owned(),
            size: bytes.len() as u64,
            origin: origin.map(str::to_owned),
        })
    }

    /// Fetches `id` from `id_tag` and keeps it if its bytes are what the id says.
    pub async fn fetch_file(&self, id_tag: &str, id: &str) -> ApiResult<File> {
        action::parse_file_id(id)?;
        if let Some(f) = self.store.file_meta(id).await? {
            return Ok(view(&f));
        }
        let issuer = self.issuer(id_tag, None).await?;
        let url = format!("{}/api/file/{id}", issuer.base_url.trim_end_matches('/'));
        let failed = |why: String| {
            ApiError::new(
                424,
                "file_unavailable",
                format!("{id} could not be fetched from {id_tag}: {why}"),
            )
        };
        let resp = self
            .http
            .get(&url)
            .bearer_auth(self.access_token(id_tag).await?)
            .timeout(self.settings.request_timeout * 6)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(failed(format!("{url} answered {}", resp.status())));
        }
        let ct = media_type(resp.headers())?;
        let bytes = super::profile::read_limited(resp, MAX_FILE)
            .await
            .map_err(failed)?;
        if !action::file_matches(id, &bytes) {
            return Err(ApiError::new(
                424,
                "file_mismatch",
                format!("the bytes {id_tag} served do not hash to {id}; nothing was kept"),
            ));
        }
        self.store_file(&ct, &bytes, Some(id_tag)).await
    }
}

/// `GET /api/file/{id}` (and `/api/files/{id}`).
pub async fn get_file(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    action::parse_file_id(&id)?;
    let viewer = cloud.viewer(&headers).await?;
    if !cloud.store.file_visible(&id, viewer.as_deref()).await? {
        return Err(unknown_file(&id));
    }
    let file = cloud
        .store
        .file(&id)
        .await?
        .ok_or_else(|| unknown_file(&id))?;
    Ok(serve(file, &headers))
}

/// The file, whole or the one range asked for.
pub(crate) fn serve(file: StoredFile, headers: &HeaderMap) -> Response {
    let size = file.data.len() as u64;
    let mut range = None;
    if let Some(asked) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        match http_range_header::parse_range_header(asked).map(|r| r.validate(size)) {
            Ok(Ok(ranges)) if ranges.len() == 1 => range = Some(ranges[0].clone()),
            // A syntactically valid range that does not fit the file.
            Ok(Err(_)) => {
                let mut resp = ApiError::new(
                    416,
                    "range_not_satisfiable",
                    format!("the file is {size} bytes"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return resp;
            }
            // Several ranges, or a header that is not a byte range: the whole file.
            _ => {}
        }
    }
    let (status, body, content_range) = match range {
        Some(r) => {
            let (start, end) = (*r.start(), *r.end());
            (
                StatusCode::PARTIAL_CONTENT,
                file.data[start as usize..=end as usize].to_vec(),
                Some(format!("bytes {start}-{end}/{size}")),
            )
        }
        None => (StatusCode::OK, file.data, None),
    };
    let mut resp = (status, Body::from(body)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", file.id)) {
        h.insert(header::ETAG, v);
    }
    // Content-addressed: the bytes under this id never change.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    // Whatever the bytes are, they never run as a page of this origin.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(cr) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, cr);
    }
    resp
}
