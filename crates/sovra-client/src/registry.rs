//! A client for a registry's API (docs/PROTOCOL.md §16.3).
//!
//! It moves bodies and nothing more: what an answer is worth is decided by the caller, who
//! verifies every lookup against the registry key it pinned (`Lookup::verify`), never against
//! the key an answer names.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sovra_proto::registry::{
    CodeRequest, CodeResponse, Lookup, PhoneProof, RecordUpdate, RegisterRequest, RegistryInfo,
    RotateRequest,
};

use crate::{ClientError, http_client, join, read, transport};

#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
}

/// A path segment for a handle: '@' is the only character a valid handle has that a path
/// segment may not carry as is.
fn handle_segment(handle: &str) -> String {
    handle.replace('@', "%40")
}

impl RegistryClient {
    pub fn new(base: impl Into<String>, timeout: Duration) -> Self {
        RegistryClient {
            http: http_client(timeout),
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/registry`: the key to pin and the handle domain.
    pub async fn info(&self) -> Result<RegistryInfo, ClientError> {
        self.get("/v1/registry").await
    }

    /// `POST /v1/verifications`: the registry texts a code to `phone`.
    pub async fn request_code(&self, phone: &str) -> Result<CodeResponse, ClientError> {
        self.send(
            reqwest::Method::POST,
            "/v1/verifications",
            &CodeRequest {
                phone: phone.to_owned(),
            },
        )
        .await
    }

    /// `POST /v1/clouds`: claim, refresh or recover.
    pub async fn register(&self, request: &RegisterRequest) -> Result<Lookup, ClientError> {
        self.send(reqwest::Method::POST, "/v1/clouds", request)
            .await
    }

    /// `GET /v1/handles/{handle}`.
    pub async fn lookup(&self, handle: &str) -> Result<Lookup, ClientError> {
        self.get(&format!("/v1/handles/{}", handle_segment(handle)))
            .await
    }

    /// `PUT /v1/handles/{handle}/record`: a newer record under the same key; the heartbeat.
    pub async fn put_record(
        &self,
        handle: &str,
        update: &RecordUpdate,
    ) -> Result<Lookup, ClientError> {
        let path = format!("/v1/handles/{}/record", handle_segment(handle));
        self.send(reqwest::Method::PUT, &path, update).await
    }

    /// `POST /v1/handles/{handle}/rotate`.
    pub async fn rotate(
        &self,
        handle: &str,
        request: &RotateRequest,
    ) -> Result<Lookup, ClientError> {
        let path = format!("/v1/handles/{}/rotate", handle_segment(handle));
        self.send(reqwest::Method::POST, &path, request).await
    }

    /// `POST /v1/attestations`: the phone vouches for a cloud key to one audience.
    pub async fn attest(
        &self,
        request: &sovra_proto::registry::AttestationRequest,
    ) -> Result<sovra_proto::registry::PhoneAttestation, ClientError> {
        self.send(reqwest::Method::POST, "/v1/attestations", request)
            .await
    }

    /// `POST /v1/elevations`: the phone on record for a handle answers a code again.
    pub async fn elevate(
        &self,
        request: &sovra_proto::registry::ElevationRequest,
    ) -> Result<sovra_proto::registry::Elevation, ClientError> {
        self.send(reqwest::Method::POST, "/v1/elevations", request)
            .await
    }

    /// `POST /v1/whoami`: which cloud the verified phone has.
    pub async fn whoami(
        &self,
        proof: &PhoneProof,
    ) -> Result<sovra_proto::registry::WhoamiResponse, ClientError> {
        self.send(reqwest::Method::POST, "/v1/whoami", proof).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self
            .http
            .get(join(&self.base, path))
            .send()
            .await
            .map_err(transport)?;
        read(resp).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self
            .http
            .request(method, join(&self.base, path))
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        read(resp).await
    }
}
