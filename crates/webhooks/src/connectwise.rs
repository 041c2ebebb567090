//! ConnectWise PSA callbacks (reference `webhooks.md` §1).
//!
//! A callback is a JSON body signed in `x-content-signature` with
//! `base64(HMAC-SHA256(key = SHA-256(signing_key), raw body))`, where `signing_key` is served at
//! the body's own `Metadata.key_url`. The order of checks matters: the signature header must be
//! present and the `key_url` approved by the tenant's [`KeyUrlPolicy`] before anything is fetched,
//! and nothing in the body is believed (type, action, ids) until the signature matched.
//!
//! `Entity` is the full REST record as a JSON *string* (double-encoded) on add/update and `null`
//! on delete; `MessageId` is the dedup id. Callbacks for types syncbridge does not sync
//! (tickets, …) verify and come back as [`Verified::Ignored`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, PsaKind, TenantId};

use crate::body::BodyLimit;
use crate::connectwise_key::KeyUrlPolicy;
use crate::connectwise_key_cache::{SigningKeyCache, SigningKeySource};
use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::event::{Ignored, Verified, VerifiedEvent, WebhookRequest};
use crate::json_fields::{field, header_safe, id_field, shortened, string_field};
use crate::rejection::Rejection;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-content-signature";

/// A cached key that fails to verify is re-fetched at most this often: a rotated key is picked
/// up, yet a stream of forgeries cannot make us hammer the key host.
const KEY_REFRESH_INTERVAL_MS: i64 = 60_000;

const SOURCE: EventSource = EventSource::Psa(PsaKind::ConnectWise);

/// A parsed ConnectWise callback body.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectWiseCallback {
    /// `MessageId`: the dedup id.
    pub message_id: String,
    /// `Action` as sent: `added`, `updated` or `deleted`.
    pub action: String,
    /// `Type` as sent: `company`, `configuration`, `contact`, `ticket`, …
    pub record_type: String,
    /// `ID`: the record's id, as text.
    pub id: String,
    /// `CompanyId`: the ConnectWise company (login) id, when sent.
    pub company_id: Option<String>,
    /// `Metadata.key_url`.
    pub key_url: String,
    /// `Entity`, decoded from its JSON string: the full record on add/update, `None` on delete.
    pub record: Option<Value>,
}

impl ConnectWiseCallback {
    /// Parses a callback body. Pure and total: any bytes give a value or `Malformed`.
    pub fn parse(body: &[u8]) -> Result<Self, Rejection> {
        Self::from_object(&json_object(body)?)
    }

    fn from_object(object: &Map<String, Value>) -> Result<Self, Rejection> {
        let message_id = string_field(object, "MessageId")
            .filter(|id| header_safe(id))
            .ok_or(Rejection::malformed("MessageId missing or invalid"))?;
        let action =
            string_field(object, "Action").ok_or(Rejection::malformed("Action missing"))?;
        let record_type =
            string_field(object, "Type").ok_or(Rejection::malformed("Type missing"))?;
        let id = id_field(object, "ID").ok_or(Rejection::malformed("ID missing or invalid"))?;
        let record = match field(object, "Entity") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(
                serde_json::from_str(text)
                    .map_err(|_| Rejection::malformed("Entity is not a JSON document"))?,
            ),
            // Not what the reference shows, but a record is a record.
            Some(other @ Value::Object(_)) => Some(other.clone()),
            Some(_) => return Err(Rejection::malformed("Entity is neither a string nor null")),
        };
        Ok(ConnectWiseCallback {
            message_id: message_id.to_owned(),
            action: action.to_owned(),
            record_type: record_type.to_owned(),
            id,
            company_id: string_field(object, "CompanyId").map(str::to_owned),
            key_url: key_url(object)?.to_owned(),
            record,
        })
    }

    /// The synced entity this callback is about, if any.
    pub fn entity(&self) -> Option<Entity> {
        entity_for_type(&self.record_type)
    }

    /// `deleted` is a delete; anything else (added, updated, or an action ConnectWise adds later)
    /// means "look at this record": events are hints and the worker reads the current state.
    pub fn change_action(&self) -> ChangeAction {
        if self.action.eq_ignore_ascii_case("deleted") {
            ChangeAction::Delete
        } else {
            ChangeAction::Upsert
        }
    }

    /// The `x-content-signature` value ConnectWise sends for `body` (for the simulator and tests).
    pub fn sign(signing_key: &str, body: &[u8]) -> String {
        let key = Sha256::digest(signing_key.as_bytes());
        BASE64.encode(hmac_sha256(&key, &[body]))
    }
}

/// ConnectWise `Type` → entity. Sites are polled, so no callback type maps to locations.
fn entity_for_type(record_type: &str) -> Option<Entity> {
    [
        ("company", Entity::Organization),
        ("configuration", Entity::Configuration),
        ("contact", Entity::Contact),
    ]
    .into_iter()
    .find(|(name, _)| record_type.eq_ignore_ascii_case(name))
    .map(|(_, entity)| entity)
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Rejection::malformed("body is not a JSON object")),
        Err(_) => Err(Rejection::malformed("body is not JSON")),
    }
}

fn key_url(object: &Map<String, Value>) -> Result<&str, Rejection> {
    field(object, "Metadata")
        .and_then(Value::as_object)
        .and_then(|metadata| string_field(metadata, "key_url"))
        .ok_or(Rejection::malformed("Metadata.key_url missing"))
}

/// Verifies one tenant's ConnectWise callbacks.
#[derive(Debug, Clone)]
pub struct ConnectWiseVerifier {
    tenant: TenantId,
    key_urls: KeyUrlPolicy,
    company_id: Option<String>,
    body_limit: BodyLimit,
}

impl ConnectWiseVerifier {
    pub fn new(tenant: TenantId, key_urls: KeyUrlPolicy) -> Self {
        ConnectWiseVerifier {
            tenant,
            key_urls,
            company_id: None,
            body_limit: BodyLimit::DEFAULT,
        }
    }

    /// Refuse (`UnknownSource`, before any key fetch) callbacks whose `CompanyId` is not this
    /// tenant's ConnectWise company id (compared case-insensitively, as ConnectWise logins are).
    pub fn with_company_id(mut self, company_id: impl Into<String>) -> Self {
        self.company_id = Some(company_id.into());
        self
    }

    pub fn with_body_limit(mut self, limit: BodyLimit) -> Self {
        self.body_limit = limit;
        self
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Verifies a callback. Fetches the signing key through `keys` only for an approved
    /// `key_url`, and only once the signature header is present.
    pub async fn verify<S: SigningKeySource>(
        &self,
        request: &WebhookRequest<'_>,
        keys: &SigningKeyCache<S>,
    ) -> Result<Verified, Rejection> {
        self.body_limit.check(request.body)?;
        let signature = request.headers.required(SIGNATURE_HEADER)?;
        let signature = BASE64
            .decode(signature.trim())
            .map_err(|_| Rejection::BadSignature)?;
        if signature.len() != 32 {
            return Err(Rejection::BadSignature);
        }

        let object = json_object(request.body)?;
        if let Some(expected) = &self.company_id {
            let sent = string_field(&object, "CompanyId").unwrap_or_default();
            if !sent.eq_ignore_ascii_case(expected) {
                return Err(Rejection::UnknownSource);
            }
        }
        let approved = self.key_urls.check(key_url(&object)?)?;

        let now = request.received_at;
        let mut lookup = keys.key(&approved, now).await?;
        let mut verified = verify_hmac_sha256(&lookup.key.0, &[request.body], &signature);
        if !verified
            && !lookup.fresh
            && now.saturating_sub(lookup.fetched_at) >= KEY_REFRESH_INTERVAL_MS
        {
            lookup = keys.refetch(&approved, now, lookup.fetched_at).await?;
            verified = verify_hmac_sha256(&lookup.key.0, &[request.body], &signature);
        }
        if !verified {
            return Err(Rejection::BadSignature);
        }

        // Authentic from here on.
        let record_type = string_field(&object, "Type").unwrap_or_default();
        if entity_for_type(record_type).is_none() {
            return Ok(Verified::Ignored(Ignored {
                tenant: self.tenant.clone(),
                source: SOURCE,
                record_type: shortened(record_type),
            }));
        }
        let callback = ConnectWiseCallback::from_object(&object)?;
        Ok(Verified::Event(VerifiedEvent {
            envelope: ChangeEvent {
                tenant: self.tenant.clone(),
                source: SOURCE,
                entity: callback.entity(),
                record_id: Some(callback.id.clone()),
                action: callback.change_action(),
                received_at: now,
                msg_id: Some(callback.message_id),
            },
            raw_body: request.body.to_vec(),
        }))
    }
}
