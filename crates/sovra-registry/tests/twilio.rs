//! The Twilio gateway against a real local HTTP server that speaks Twilio's Messages API and
//! records what it received. Nothing here calls the internet.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;
use sovra_registry::Settings;
use sovra_registry::sms::{SmsGateway, TwilioGateway};

/// One request as the fake Twilio saw it: account SID, Authorization header, form fields.
type Request = (String, String, Vec<(String, String)>);

#[derive(Default)]
struct Received {
    messages: Mutex<Vec<Request>>,
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json` as Twilio answers it: 201 with a message
/// resource, or 400 with Twilio's error shape for a `To` it rejects.
async fn messages(
    State(rx): State<Arc<Received>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let form: Vec<(String, String)> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let to = form
        .iter()
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    rx.messages.lock().unwrap().push((sid.clone(), auth, form));
    if to == "+15005550001" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}),
            ),
        );
    }
    let sid_suffix: String = sid.chars().take(8).collect();
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": format!("SM{sid_suffix}"), "status": "queued", "to": to})),
    )
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn fake_twilio() -> (String, Arc<Received>) {
    let rx = Arc::new(Received::default());
    let app = axum::Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn codes_go_out_through_twilio() {
    let (url, rx) = fake_twilio().await;
    let gateway = Arc::new(TwilioGateway::new(
        &url,
        "AC0123456789abcdef",
        "secret-token",
        "+15005550006",
    ));
    let dir = tempfile::tempdir().unwrap();
    let registry = sovra_registry::home::open(dir.path(), Settings::default(), gateway)
        .await
        .unwrap();
    let sent = registry
        .request_code("+1 (415) 555-2671", "127.0.0.1")
        .await
        .unwrap();

    let got = rx.messages.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (sid, auth, form) = &got[0];
    assert_eq!(sid, "AC0123456789abcdef");
    // HTTP basic auth: base64("AC0123456789abcdef:secret-token").
    assert_eq!(auth, "Basic QUMwMTIzNDU2Nzg5YWJjZGVmOnNlY3JldC10b2tlbg==");
    let field = |k: &str| {
        form.iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("To"), "+14155552671", "normalized to E.164");
    assert_eq!(field("From"), "+15005550006");
    let body = field("Body");
    let code: String = body
        .split_whitespace()
        .nth(4)
        .unwrap()
        .trim_end_matches('.')
        .into();
    assert_eq!(code.len(), 6, "{body}");

    // The code Twilio delivered is the one the registry accepts.
    let phone = sovra_proto::registry::PhoneProof {
        verification_id: sent.verification_id,
        code,
    };
    let err = registry.whoami(&phone).await.unwrap_err();
    assert_eq!(
        err.code(),
        "not_registered",
        "the code verified; no cloud yet"
    );
}

#[tokio::test]
async fn twilio_refusals_surface_as_sms_failed() {
    let (url, _rx) = fake_twilio().await;
    let gateway = TwilioGateway::new(&url, "AC1", "t", "+15005550006");
    let err = gateway.send("+15005550001", "hi").await.unwrap_err();
    assert!(err.contains("21211"), "{err}");
    // Unreachable provider.
    let gateway = TwilioGateway::new("http://127.0.0.1:9", "AC1", "t", "+15005550006");
    assert!(
        gateway
            .send("+14155552671", "hi")
            .await
            .unwrap_err()
            .contains("unreachable")
    );
}
