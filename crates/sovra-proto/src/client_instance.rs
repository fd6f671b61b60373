//! Client instances — one per device or app install — and their lifecycle artifacts
//! (docs/PROTOCOL.md §19.4), with the Orbiplex field names and JSON Schemas in `docs/schemas/`.
//!
//! Every artifact embeds a `participant-bind.v1` whose `proof/participant-signature` is made by
//! the participant (the cloud key, on the human's device) over the bind's fields and a digest
//! of the enclosing artifact's fields. So only the cloud key can attach, detach or recover a
//! device: a node (or its operator) cannot mint one. As everywhere in Sovra, no JSON is signed:
//! the bytes are `canonical(…)` of the fields, in the order the spec lists them.
//! `policy_annotations` are advisory and unsigned.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::time;

/// A fresh pair of ids for an artifact and its participant-bind (random UUIDs): what every
/// `sign` here takes as `ids`.
pub fn fresh_ids(rng: &mut impl rand_core::CryptoRng) -> (String, String) {
    let mut id = || crate::handshake::random_uuid(rng).hyphenated().to_string();
    (id(), id())
}

pub const BIND_SCHEMA: &str = "participant-bind.v1";
pub const ATTACHMENT_SCHEMA: &str = "client-instance-attachment.v1";
pub const DETACHMENT_SCHEMA: &str = "client-instance-detachment.v1";
pub const RECOVERY_SCHEMA: &str = "client-instance-recovery.v1";

pub const PROFILE_TYPES: [&str; 2] = ["pod-client", "hybrid"];
pub const SESSION_STATES: [&str; 4] = ["attaching", "attached", "degraded", "suspended"];
pub const DETACH_REASONS: [&str; 6] = [
    "user-request",
    "device-loss",
    "session-expired",
    "policy",
    "migration",
    "operator-action",
];
pub const RECOVERY_MODES: [&str; 4] = [
    "reattach-existing-device",
    "replace-device",
    "migrate-to-new-host",
    "resume-after-suspension",
];

/// `pod-user:ed25519:<base64>` — a participant (a cloud key).
pub fn participant_id(cloud: &PublicKey) -> String {
    format!("pod-user:ed25519:{}", cloud.to_b64())
}

/// `node:ed25519:<base64>` — a serving node (§19.1).
pub fn node_ref(node: &PublicKey) -> String {
    format!("node:ed25519:{}", node.to_b64())
}

/// `client:ed25519:<base64>` — a client instance, named by its own device key.
pub fn client_instance_id(device: &PublicKey) -> String {
    format!("client:ed25519:{}", device.to_b64())
}

fn key_of(field: &'static str, text: &str, prefix: &str) -> Result<PublicKey, ProtoError> {
    let b64 = text
        .strip_prefix(prefix)
        .ok_or_else(|| ProtoError::malformed(field, format!("must start with {prefix}")))?;
    PublicKey::from_b64(field, b64)
}

/// The participant's signature binding it to one artifact, made through one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantBind {
    #[serde(rename = "schema/v")]
    pub schema: String,
    #[serde(rename = "bind/id")]
    pub bind_id: String,
    #[serde(rename = "bound-at")]
    pub bound_at: String,
    #[serde(rename = "participant/id")]
    pub participant_id: String,
    #[serde(rename = "via/node-id")]
    pub via_node_id: String,
    /// The enclosing artifact's id.
    #[serde(rename = "session/id")]
    pub session_id: String,
    #[serde(rename = "participant/key/alg")]
    pub key_alg: String,
    #[serde(rename = "participant/key/public")]
    pub key_public: String,
    #[serde(rename = "proof/participant-signature")]
    pub signature: String,
    #[serde(
        rename = "proof/node-attestation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_attestation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_annotations: Option<serde_json::Value>,
}

/// One field of an artifact as it enters the digest: text, or a yes/no.
enum Field<'a> {
    Text(&'a str),
    Flag(bool),
    Absent,
}

fn artifact_digest(schema: &str, fields: &[Field<'_>]) -> [u8; 32] {
    let mut c = Canonical::new(schema);
    for f in fields {
        c = match f {
            Field::Text(t) => c.u64(1).str(t),
            Field::Flag(b) => c.u64(2).u64(u64::from(*b)),
            Field::Absent => c.u64(0),
        };
    }
    Sha256::digest(c.finish()).into()
}

fn bind_bytes(bind: &ParticipantBind, digest: &[u8; 32]) -> Vec<u8> {
    Canonical::new(BIND_SCHEMA)
        .str(&bind.bind_id)
        .str(&bind.bound_at)
        .str(&bind.participant_id)
        .str(&bind.via_node_id)
        .str(&bind.session_id)
        .str(&bind.key_alg)
        .str(&bind.key_public)
        .bytes(digest)
        .finish()
}

/// What an artifact's bind checked out as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub participant: PublicKey,
    pub node: PublicKey,
}

impl ParticipantBind {
    /// A stand-in while the artifact around it is built (its digest does not cover the bind).
    fn unsigned() -> ParticipantBind {
        ParticipantBind {
            schema: BIND_SCHEMA.into(),
            bind_id: String::new(),
            bound_at: String::new(),
            participant_id: String::new(),
            via_node_id: String::new(),
            session_id: String::new(),
            key_alg: String::new(),
            key_public: String::new(),
            signature: String::new(),
            node_attestation: None,
            policy_annotations: None,
        }
    }

    fn sign(
        cloud: &SigningKeypair,
        node: &PublicKey,
        session_id: &str,
        bind_id: String,
        now: &str,
        digest: &[u8; 32],
    ) -> ParticipantBind {
        let mut bind = ParticipantBind {
            schema: BIND_SCHEMA.into(),
            bind_id,
            bound_at: now.into(),
            participant_id: participant_id(&cloud.public()),
            via_node_id: node_ref(node),
            session_id: session_id.into(),
            key_alg: "ed25519".into(),
            key_public: cloud.public().to_b64(),
            signature: String::new(),
            node_attestation: None,
            policy_annotations: None,
        };
        bind.signature = b64(&cloud.sign(&bind_bytes(&bind, digest)));
        bind
    }

    /// Checks the bind belongs to `session_id` and `node`, and its signature over `digest`.
    fn verify(&self, session_id: &str, node: &str, digest: &[u8; 32]) -> Result<Bound, ProtoError> {
        if self.schema != BIND_SCHEMA {
            return Err(ProtoError::UnsupportedVersion(self.schema.clone()));
        }
        if self.key_alg != "ed25519" {
            return Err(ProtoError::malformed(
                "participant/key/alg",
                "must be ed25519",
            ));
        }
        let participant = PublicKey::from_b64("participant/key/public", &self.key_public)?;
        if self.participant_id != participant_id(&participant) {
            return Err(ProtoError::malformed(
                "participant/id",
                "is not the participant key's id",
            ));
        }
        if self.session_id != session_id || self.via_node_id != node {
            return Err(ProtoError::malformed(
                "participant-bind",
                "bound to another artifact or node",
            ));
        }
        time::parse("bound-at", &self.bound_at)?;
        let node = key_of("via/node-id", &self.via_node_id, "node:ed25519:")?;
        let sig = signature_from_b64("proof/participant-signature", &self.signature)?;
        participant.verify("participant-bind", &bind_bytes(self, digest), &sig)?;
        Ok(Bound { participant, node })
    }
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<(), ProtoError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ProtoError::malformed(
            field,
            format!("one of {}", allowed.join(", ")),
        ))
    }
}

fn check_schema(got: &str, want: &str) -> Result<(), ProtoError> {
    if got == want {
        Ok(())
    } else {
        Err(ProtoError::UnsupportedVersion(got.to_owned()))
    }
}

/// A device (client instance) attached to a participant on a serving node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    #[serde(rename = "schema/v")]
    pub schema: String,
    #[serde(rename = "attachment/id")]
    pub attachment_id: String,
    #[serde(rename = "attached-at")]
    pub attached_at: String,
    #[serde(rename = "profile/type")]
    pub profile_type: String,
    #[serde(rename = "serving-node/id")]
    pub serving_node_id: String,
    #[serde(rename = "client-instance/id")]
    pub client_instance_id: String,
    #[serde(rename = "session/state")]
    pub session_state: String,
    #[serde(rename = "export/capable?")]
    pub export_capable: bool,
    #[serde(rename = "migration/allowed?")]
    pub migration_allowed: bool,
    #[serde(rename = "participant-bind")]
    pub participant_bind: ParticipantBind,
    #[serde(
        rename = "pod-user/id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_user_id: Option<String>,
    #[serde(
        rename = "models/local?",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub models_local: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_annotations: Option<serde_json::Value>,
}

impl Attachment {
    fn digest(&self) -> [u8; 32] {
        artifact_digest(
            ATTACHMENT_SCHEMA,
            &[
                Field::Text(&self.attachment_id),
                Field::Text(&self.attached_at),
                Field::Text(&self.profile_type),
                Field::Text(&self.serving_node_id),
                Field::Text(&self.client_instance_id),
                Field::Text(&self.session_state),
                Field::Flag(self.export_capable),
                Field::Flag(self.migration_allowed),
                self.pod_user_id
                    .as_deref()
                    .map_or(Field::Absent, Field::Text),
                self.models_local.map_or(Field::Absent, Field::Flag),
            ],
        )
    }

    /// Signed by the cloud key: `device` attached through `node`.
    pub fn sign(
        cloud: &SigningKeypair,
        node: &PublicKey,
        device: &PublicKey,
        ids: (String, String),
        now: jiff::Timestamp,
    ) -> Attachment {
        let (attachment_id, bind_id) = ids;
        let at = time::format(now);
        let mut a = Attachment {
            schema: ATTACHMENT_SCHEMA.into(),
            attachment_id,
            attached_at: at.clone(),
            profile_type: "pod-client".into(),
            serving_node_id: node_ref(node),
            client_instance_id: client_instance_id(device),
            session_state: "attached".into(),
            export_capable: true,
            migration_allowed: true,
            participant_bind: ParticipantBind::unsigned(),
            pod_user_id: Some(participant_id(&cloud.public())),
            models_local: None,
            policy_annotations: None,
        };
        a.participant_bind =
            ParticipantBind::sign(cloud, node, &a.attachment_id, bind_id, &at, &a.digest());
        a
    }

    /// Checks fields and the participant's signature; the participant, node and device.
    pub fn verify(&self) -> Result<(Bound, PublicKey), ProtoError> {
        check_schema(&self.schema, ATTACHMENT_SCHEMA)?;
        time::parse("attached-at", &self.attached_at)?;
        one_of("profile/type", &self.profile_type, &PROFILE_TYPES)?;
        one_of("session/state", &self.session_state, &SESSION_STATES)?;
        let device = key_of(
            "client-instance/id",
            &self.client_instance_id,
            "client:ed25519:",
        )?;
        let bound = self.participant_bind.verify(
            &self.attachment_id,
            &self.serving_node_id,
            &self.digest(),
        )?;
        if let Some(p) = &self.pod_user_id
            && *p != participant_id(&bound.participant)
        {
            return Err(ProtoError::malformed("pod-user/id", "not the participant"));
        }
        Ok((bound, device))
    }
}

/// A device detached: one client instance ends, nothing above it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detachment {
    #[serde(rename = "schema/v")]
    pub schema: String,
    #[serde(rename = "detachment/id")]
    pub detachment_id: String,
    #[serde(rename = "detached-at")]
    pub detached_at: String,
    #[serde(rename = "attachment/id")]
    pub attachment_id: String,
    #[serde(rename = "serving-node/id")]
    pub serving_node_id: String,
    #[serde(rename = "client-instance/id")]
    pub client_instance_id: String,
    #[serde(rename = "detach/reason")]
    pub reason: String,
    #[serde(rename = "participant-bind")]
    pub participant_bind: ParticipantBind,
    #[serde(
        rename = "detach/notes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Option<String>,
    #[serde(
        rename = "proof/node-attestation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_attestation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_annotations: Option<serde_json::Value>,
}

impl Detachment {
    fn digest(&self) -> [u8; 32] {
        artifact_digest(
            DETACHMENT_SCHEMA,
            &[
                Field::Text(&self.detachment_id),
                Field::Text(&self.detached_at),
                Field::Text(&self.attachment_id),
                Field::Text(&self.serving_node_id),
                Field::Text(&self.client_instance_id),
                Field::Text(&self.reason),
                self.notes.as_deref().map_or(Field::Absent, Field::Text),
            ],
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        cloud: &SigningKeypair,
        node: &PublicKey,
        attachment: &Attachment,
        reason: &str,
        notes: Option<String>,
        ids: (String, String),
        now: jiff::Timestamp,
    ) -> Detachment {
        let (detachment_id, bind_id) = ids;
        let at = time::format(now);
        let mut d = Detachment {
            schema: DETACHMENT_SCHEMA.into(),
            detachment_id,
            detached_at: at.clone(),
            attachment_id: attachment.attachment_id.clone(),
            serving_node_id: node_ref(node),
            client_instance_id: attachment.client_instance_id.clone(),
            reason: reason.into(),
            participant_bind: ParticipantBind::unsigned(),
            notes,
            node_attestation: None,
            policy_annotations: None,
        };
        d.participant_bind =
            ParticipantBind::sign(cloud, node, &d.detachment_id, bind_id, &at, &d.digest());
        d
    }

    pub fn verify(&self) -> Result<(Bound, PublicKey), ProtoError> {
        check_schema(&self.schema, DETACHMENT_SCHEMA)?;
        time::parse("detached-at", &self.detached_at)?;
        one_of("detach/reason", &self.reason, &DETACH_REASONS)?;
        let device = key_of(
            "client-instance/id",
            &self.client_instance_id,
            "client:ed25519:",
        )?;
        let bound = self.participant_bind.verify(
            &self.detachment_id,
            &self.serving_node_id,
            &self.digest(),
        )?;
        Ok((bound, device))
    }
}

/// A client path restored after a detachment, by the same participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    #[serde(rename = "schema/v")]
    pub schema: String,
    #[serde(rename = "recovery/id")]
    pub recovery_id: String,
    #[serde(rename = "recovered-at")]
    pub recovered_at: String,
    #[serde(rename = "serving-node/id")]
    pub serving_node_id: String,
    #[serde(rename = "client-instance/id")]
    pub client_instance_id: String,
    #[serde(rename = "recovery/mode")]
    pub mode: String,
    #[serde(rename = "recovery/from-detachment-id")]
    pub from_detachment_id: String,
    #[serde(rename = "participant-bind")]
    pub participant_bind: ParticipantBind,
    #[serde(
        rename = "recovery/token-ref",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub token_ref: Option<String>,
    #[serde(
        rename = "proof/node-attestation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_attestation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_annotations: Option<serde_json::Value>,
}

impl Recovery {
    fn digest(&self) -> [u8; 32] {
        artifact_digest(
            RECOVERY_SCHEMA,
            &[
                Field::Text(&self.recovery_id),
                Field::Text(&self.recovered_at),
                Field::Text(&self.serving_node_id),
                Field::Text(&self.client_instance_id),
                Field::Text(&self.mode),
                Field::Text(&self.from_detachment_id),
                self.token_ref.as_deref().map_or(Field::Absent, Field::Text),
            ],
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        cloud: &SigningKeypair,
        node: &PublicKey,
        detachment: &Detachment,
        mode: &str,
        ids: (String, String),
        now: jiff::Timestamp,
    ) -> Recovery {
        let (recovery_id, bind_id) = ids;
        let at = time::format(now);
        let mut r = Recovery {
            schema: RECOVERY_SCHEMA.into(),
            recovery_id,
            recovered_at: at.clone(),
            serving_node_id: node_ref(node),
            client_instance_id: detachment.client_instance_id.clone(),
            mode: mode.into(),
            from_detachment_id: detachment.detachment_id.clone(),
            participant_bind: ParticipantBind::unsigned(),
            token_ref: None,
            node_attestation: None,
            policy_annotations: None,
        };
        r.participant_bind =
            ParticipantBind::sign(cloud, node, &r.recovery_id, bind_id, &at, &r.digest());
        r
    }

    pub fn verify(&self) -> Result<(Bound, PublicKey), ProtoError> {
        check_schema(&self.schema, RECOVERY_SCHEMA)?;
        time::parse("recovered-at", &self.recovered_at)?;
        one_of("recovery/mode", &self.mode, &RECOVERY_MODES)?;
        let device = key_of(
            "client-instance/id",
            &self.client_instance_id,
            "client:ed25519:",
        )?;
        let bound = self.participant_bind.verify(
            &self.recovery_id,
            &self.serving_node_id,
            &self.digest(),
        )?;
        Ok((bound, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> (String, String) {
        (
            format!("00000000-0000-4000-8000-0000000000{n:02x}"),
            format!("b{n}"),
        )
    }

    #[test]
    fn lifecycle_artifacts_verify_and_only_the_participant_can_sign() {
        let cloud = SigningKeypair::from_seed(&[1; 32]);
        let node = SigningKeypair::from_seed(&[2; 32]).public();
        let device = SigningKeypair::from_seed(&[3; 32]).public();
        let now: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let a = Attachment::sign(&cloud, &node, &device, ids(1), now);
        let (bound, d) = a.verify().unwrap();
        assert_eq!(
            (bound.participant, bound.node, d),
            (cloud.public(), node, device)
        );
        // An edited field, or the node signing instead of the participant: refused.
        let mut edited = a.clone();
        edited.session_state = "suspended".into();
        assert_eq!(edited.verify().unwrap_err().code(), "bad_signature");
        let operator = SigningKeypair::from_seed(&[9; 32]);
        let forged = Attachment::sign(&operator, &node, &device, ids(2), now);
        let (bound, _) = forged.verify().unwrap();
        assert_ne!(
            bound.participant,
            cloud.public(),
            "signed by the operator, says so"
        );
        let det = Detachment::sign(&cloud, &node, &a, "device-loss", None, ids(3), now);
        assert_eq!(det.verify().unwrap().1, device);
        let rec = Recovery::sign(&cloud, &node, &det, "reattach-existing-device", ids(4), now);
        assert_eq!(rec.verify().unwrap().1, device);
        let mut moved = rec.clone();
        moved.participant_bind.session_id = det.detachment_id.clone();
        assert_eq!(moved.verify().unwrap_err().code(), "malformed");
    }
}
