//! SMS gateways: one trait, three implementations.
//!
//! * [`ConsoleGateway`] writes each message to the registry's log (and keeps the last few in
//!   memory, which is how quickstart reads its codes): the default for local use.
//! * [`TwilioGateway`] speaks Twilio's Programmable Messaging REST API.
//! * [`WebhookGateway`] POSTs `{"to", "body"}` as JSON to a URL of the operator's choosing, for
//!   self-hosters with their own modem or provider bridge.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait SmsGateway: Send + Sync {
    /// Sends `body` to the E.164 number `to`; the error is a human-readable reason.
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a>;
    fn name(&self) -> &'static str;
}

/// Shows a number in logs without its middle digits.
pub fn masked(e164: &str) -> String {
    let n = e164.len();
    if n <= 6 {
        return "***".into();
    }
    format!("{}***{}", &e164[..4], &e164[n - 2..])
}

/// A message the console gateway "sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMessage {
    pub to: String,
    pub body: String,
}

#[derive(Default)]
pub struct ConsoleGateway {
    recent: Mutex<VecDeque<ConsoleMessage>>,
}

/// How many console messages are kept for [`ConsoleGateway::recent`].
const CONSOLE_KEPT: usize = 64;

impl ConsoleGateway {
    /// The newest message sent to `to`, if any.
    pub fn last_to(&self, to: &str) -> Option<ConsoleMessage> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().rev().find(|m| m.to == to).cloned()
    }

    /// The code in the newest message to `to` (E.164): what a human would read off the phone.
    /// Lets quickstart and tests finish a registration without a phone.
    pub fn last_code_to(&self, to: &str) -> Option<String> {
        self.last_to(to)?
            .body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_owned)
    }
}

impl SmsGateway for ConsoleGateway {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(to = %masked(to), "SMS (console gateway): {body}");
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == CONSOLE_KEPT {
                recent.pop_front();
            }
            recent.push_back(ConsoleMessage {
                to: to.into(),
                body: body.into(),
            });
            Ok(())
        })
    }

    fn name(&self) -> &'static str {
        "console"
    }
}

/// Twilio Programmable Messaging: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`,
/// form-encoded `To`, `From`, `Body`, HTTP basic auth with the account SID and auth token.
pub struct TwilioGateway {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl TwilioGateway {
    pub fn new(base_url: &str, account_sid: &str, auth_token: &str, from: &str) -> Self {
        TwilioGateway {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("reqwest client"),
            base_url: base_url.trim_end_matches('/').into(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: from.into(),
        }
    }

    /// From `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_FROM` and the optional
    /// `TWILIO_BASE_URL` (default `https://api.twilio.com`).
    pub fn from_env() -> Result<Self, String> {
        let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(TwilioGateway::new(
            &std::env::var("TWILIO_BASE_URL").unwrap_or_else(|_| "https://api.twilio.com".into()),
            &var("TWILIO_ACCOUNT_SID")?,
            &var("TWILIO_AUTH_TOKEN")?,
            &var("TWILIO_FROM")?,
        ))
    }
}

impl SmsGateway for TwilioGateway {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url, self.account_sid
            );
            let response = self
                .http
                .post(url)
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
                .send()
                .await
                .map_err(|e| format!("twilio unreachable: {e}"))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            // Twilio's error body: {"code": 21211, "message": "...", "more_info": ..., "status": 400}
            let detail: serde_json::Value = response.json().await.unwrap_or_default();
            Err(format!(
                "twilio answered {status}: {} (code {})",
                detail["message"].as_str().unwrap_or("no message"),
                detail["code"]
            ))
        })
    }

    fn name(&self) -> &'static str {
        "twilio"
    }
}

/// POSTs `{"to": "+…", "body": "…"}` to a URL, with an optional bearer token.
pub struct WebhookGateway {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl WebhookGateway {
    pub fn new(url: &str, token: Option<String>) -> Self {
        WebhookGateway {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("reqwest client"),
            url: url.into(),
            token,
        }
    }

    /// From `SOVRA_SMS_WEBHOOK_URL` and the optional `SOVRA_SMS_WEBHOOK_TOKEN`.
    pub fn from_env() -> Result<Self, String> {
        let url = std::env::var("SOVRA_SMS_WEBHOOK_URL")
            .map_err(|_| "SOVRA_SMS_WEBHOOK_URL is not set".to_string())?;
        Ok(WebhookGateway::new(
            &url,
            std::env::var("SOVRA_SMS_WEBHOOK_TOKEN").ok(),
        ))
    }
}

impl SmsGateway for WebhookGateway {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let mut request = self
                .http
                .post(&self.url)
                .json(&serde_json::json!({ "to": to, "body": body }));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("webhook unreachable: {e}"))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("webhook answered {}", response.status()))
            }
        })
    }

    fn name(&self) -> &'static str {
        "webhook"
    }
}
