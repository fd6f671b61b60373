//! What one instance asks another over HTTP around action tokens (§23.1, §23.5): the `/api/me`
//! profile with its keys, Cloudillo's answer envelope and the inbox's body.

use serde::{Deserialize, Serialize};

/// One key of a profile's `keys` (§23.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileKey {
    #[serde(rename = "keyId")]
    pub key_id: String,
    #[serde(rename = "publicKey")]
    pub public_key: String,
    /// RFC 3339; absent: the key is current. Read also as integer unix seconds, which
    /// Cloudillo accepts too.
    #[serde(
        rename = "expiresAt",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "expiry"
    )]
    pub expires_at: Option<String>,
}

fn expiry<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Expiry {
        Text(String),
        Seconds(i64),
    }
    Ok(match Option::<Expiry>::deserialize(d)? {
        None => None,
        Some(Expiry::Text(t)) => Some(t),
        Some(Expiry::Seconds(s)) => Some(crate::time::format(
            jiff::Timestamp::from_second(s).map_err(serde::de::Error::custom)?,
        )),
    })
}

/// `GET /api/me`'s profile (Cloudillo's `ProfileBase`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(rename = "idTag")]
    pub id_tag: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(
        rename = "profilePic",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_pic: Option<String>,
    pub keys: Vec<ProfileKey>,
}

/// The envelope Cloudillo wraps every answer in: `{"data": …, "time": …}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `POST /api/inbox`'s body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxRequest {
    pub token: String,
    /// Actions that travel with this one (Cloudillo sends an APRV's approved action). Accepted
    /// and not interpreted: every action is verified and stored on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<Vec<String>>,
}
