//! HTTP clients for a cloud's two surfaces: the D2D endpoints peers call
//! (`D2dClient`, used by the node's outbound queue and by tests) and the owner API the CLI
//! calls (`OwnerClient`, every request signed by a certified device key).
//!
//! Every call has a timeout. Errors say whether a retry could help (`is_retryable`), which is
//! what the node's delivery queue needs to decide between backing off and giving up.

use std::time::Duration;

pub mod registry;
pub mod relay;
pub use registry::RegistryClient;
pub use relay::RelayConnection;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sovra_proto::device::OwnerAuth;
use sovra_proto::{
    HandshakeRequest, HandshakeResponse, Identity, IdentityDocument, MessageRequest,
    MessageResponse, ProtoError, SigningKeypair,
};
use thiserror::Error;

/// Default time limit for one request, connect included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum ClientError {
    /// Could not connect, timed out, or the connection broke: the peer may be offline.
    #[error("transport: {0}")]
    Transport(String),
    /// The server answered with an error body `{"error", "message"}`.
    #[error("{status} {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// The server's answer is not what the protocol says it should be.
    #[error("bad answer: {0}")]
    Decode(String),
    /// The answer decoded but did not verify.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// 410 `moved`: the cloud is served elsewhere now; the statement (not yet verified) says
    /// where (docs/PROTOCOL.md §20.6).
    #[error("410 moved: the cloud moved (move statement {})", .0.seq)]
    Moved(Box<sovra_proto::migration::MoveStatement>),
}

impl ClientError {
    /// Worth retrying later: transport failures, 5xx, 408 and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            ClientError::Decode(_) | ClientError::Proto(_) | ClientError::Moved(_) => false,
        }
    }

    /// The stable error code, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Status { code, .. } => Some(code),
            ClientError::Proto(e) => Some(e.code()),
            ClientError::Moved(_) => Some("moved"),
            _ => None,
        }
    }
}

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("sovra/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client builds")
}

/// Joins a cloud's base URL and an absolute API path.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()));
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Err(status_error(status.as_u16(), &body, &bytes))
}

/// The error for a refusal `{"error", "message", …}` with `status`, however it travelled (an
/// HTTP answer, or a relay's response envelope). A responder's demand for a proof of work
/// becomes `ProtoError::PowRequired` with its difficulty, which the caller may meet.
pub fn status_error(status: u16, body: &serde_json::Value, raw: &[u8]) -> ClientError {
    let code = body["error"].as_str().unwrap_or("http_error");
    if status == 428
        && code == "pow_required"
        && let Some(difficulty) = body["difficulty"]
            .as_u64()
            .and_then(|d| u8::try_from(d).ok())
    {
        return ClientError::Proto(ProtoError::PowRequired { difficulty });
    }
    if status == 410
        && code == "moved"
        && let Ok(statement) = serde_json::from_value(body["statement"].clone())
    {
        return ClientError::Moved(Box::new(statement));
    }
    ClientError::Status {
        status,
        code: code.to_owned(),
        message: body["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(raw).chars().take(200).collect()),
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// A client for peers' D2D endpoints.
#[derive(Clone)]
pub struct D2dClient {
    http: reqwest::Client,
}

impl Default for D2dClient {
    fn default() -> Self {
        Self::new(DEFAULT_TIMEOUT)
    }
}

impl D2dClient {
    pub fn new(timeout: Duration) -> Self {
        D2dClient {
            http: http_client(timeout),
        }
    }

    /// `GET /api/d2d/identity`, verified.
    pub async fn identity(&self, base: &str) -> Result<Identity, ClientError> {
        let doc: IdentityDocument = self.get(base, "/api/d2d/identity").await?;
        Ok(doc.verify()?)
    }

    /// GETs `path` below `base` (a cloud's or a node's URL); the caller verifies.
    pub async fn get<T: DeserializeOwned>(&self, base: &str, path: &str) -> Result<T, ClientError> {
        let resp = self
            .http
            .get(join(base, path))
            .send()
            .await
            .map_err(transport)?;
        read(resp).await
    }

    pub async fn handshake(
        &self,
        base: &str,
        request: &HandshakeRequest,
    ) -> Result<HandshakeResponse, ClientError> {
        self.post(base, "/api/d2d/handshake", request).await
    }

    pub async fn message(
        &self,
        base: &str,
        request: &MessageRequest,
    ) -> Result<MessageResponse, ClientError> {
        let resp: MessageResponse = self.post(base, "/api/d2d/message", request).await?;
        if !resp.received {
            return Err(ClientError::Decode("received: false".into()));
        }
        Ok(resp)
    }

    /// POSTs a D2D body to `path` below a cloud's base URL.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self
            .http
            .post(join(base, path))
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        read(resp).await
    }
}

/// A client for one cloud's owner API, signing every request with a device key.
pub struct OwnerClient {
    http: reqwest::Client,
    base: String,
    device: SigningKeypair,
}

impl OwnerClient {
    pub fn new(base: impl Into<String>, device: SigningKeypair, timeout: Duration) -> Self {
        OwnerClient {
            http: http_client(timeout),
            base: base.into(),
            device,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The device key that signs this client's requests.
    pub fn device_key(&self) -> sovra_proto::PublicKey {
        self.device.public()
    }

    /// Sends `method path` with an optional JSON body; `path` starts with `/api/owner/`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(|b| serde_json::to_vec(b).expect("JSON serializes"))
            .unwrap_or_default();
        let req = self.signed(method, path, &body, "application/json")?;
        read(req.send().await.map_err(transport)?).await
    }

    /// `PUT path` with raw bytes of `content_type` (a file upload); the JSON answer.
    pub async fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<T, ClientError> {
        let req = self.signed("PUT", path, bytes, content_type)?;
        read(req.send().await.map_err(transport)?).await
    }

    /// `GET path` whose answer is raw bytes (a file): its `Content-Type` and the bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<(String, Vec<u8>), ClientError> {
        let resp = self
            .signed("GET", path, &[], "")?
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(read::<serde_json::Value>(resp)
                .await
                .err()
                .unwrap_or_else(|| ClientError::Decode("a refusal without an error body".into())));
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = resp.bytes().await.map_err(transport)?;
        Ok((ct, bytes.to_vec()))
    }

    /// Opens a signed `GET` whose answer is a stream (`/api/owner/events`): the response, once
    /// its status is 2xx, for the caller to read chunk by chunk. No overall timeout applies.
    pub async fn stream(&self, path: &str) -> Result<reqwest::Response, ClientError> {
        let req = self
            .signed("GET", path, &[], "")?
            .timeout(Duration::from_secs(365 * 86_400));
        let resp = req.send().await.map_err(transport)?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        match read::<serde_json::Value>(resp).await {
            Err(e) => Err(e),
            Ok(_) => Err(ClientError::Decode(
                "a refusal without an error body".into(),
            )),
        }
    }

    fn signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let url = join(&self.base, path);
        let signed_path = reqwest::Url::parse(&url)
            .map(|u| match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            })
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let auth = OwnerAuth::sign(
            &mut sovra_proto::os_rng(),
            &self.device,
            method,
            &signed_path,
            body,
            jiff::Timestamp::now().as_millisecond(),
        );
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let mut req = self
            .http
            .request(method, url)
            .header("x-sovra-device", auth.device)
            .header("x-sovra-timestamp", auth.timestamp_ms.to_string())
            .header("x-sovra-nonce", auth.nonce)
            .header("x-sovra-signature", auth.signature);
        if !body.is_empty() {
            req = req.header("content-type", content_type).body(body.to_vec());
        }
        Ok(req)
    }
}
