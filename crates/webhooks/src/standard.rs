//! Standard Webhooks (standardwebhooks.com, spec v1.0.0; reference `webhooks.md` §9).
//!
//! Headers `webhook-id`, `webhook-timestamp` (unix seconds of the attempt) and `webhook-signature`
//! (space-separated `v1,<base64>` entries: several during a key rotation). The signed content is
//! `{id}.{timestamp}.{raw body}`, HMAC-SHA256 under the base64-decoded `whsec_` secret. A
//! timestamp more than five minutes from "now" (which the caller passes in) is `Stale`, in either
//! direction. Svix's `svix-*` header names are accepted as a fallback (same scheme).
//!
//! Payload convention for syncbridge: the spec's recommended `{"type", "timestamp", "data"}` with
//! `type` = `{entity}.{created|updated|deleted}` (entity as in `Entity::as_str`) and the record id
//! in `data.id`, an id of the side the tenant's configuration declares for its producer
//! ([`StandardWebhookVerifier::new`]); the event's source is [`EventSource::Standard`] of that side,
//! so the worker handles it like that side's webhooks. An authentic event of another type (another
//! record kind or another verb) is [`Verified::Ignored`]: answered as ignored, never stored. The
//! dedup id is `webhook-id`, stable across the producer's retries.

use base64::engine::general_purpose::{STANDARD as BASE64, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::Value;
use subtle::ConstantTimeEq;
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, Side, TenantId};

use crate::body::BodyLimit;
use crate::crypto::hmac_sha256;
use crate::event::{Ignored, Verified, VerifiedEvent, WebhookRequest};
use crate::headers::Headers;
use crate::json_fields::{header_safe, id_field, shortened, string_field};
use crate::rejection::{Rejection, SettingError};
use crate::secret::Secret;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The spec's reference libraries accept ±5 minutes.
pub const DEFAULT_TOLERANCE_SECS: u32 = 5 * 60;

/// At most this many signature entries are looked at (the first ones, in header order), so a huge
/// header cannot buy unbounded work. A producer sends one per active key: two during a rotation.
pub const MAX_SIGNATURES: usize = 16;

/// The `webhook-id` and `webhook-timestamp` of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardWebhook {
    pub id: String,
    /// Unix seconds, as sent (the signed text is the header itself, digits only).
    pub timestamp: i64,
}

impl StandardWebhook {
    /// Reads `webhook-id` and `webhook-timestamp` (or their `svix-` twins).
    pub fn from_headers(headers: &Headers) -> Result<Self, Rejection> {
        let id = header(headers, ID_HEADER, "svix-id")?;
        // The signed content joins id, timestamp and body with '.', so a '.' in the id would
        // let one signature cover two different (id, body) pairs.
        if !header_safe(id) || id.contains('.') {
            return Err(Rejection::malformed("webhook-id is not a plain token"));
        }
        let timestamp = header(headers, TIMESTAMP_HEADER, "svix-timestamp")?;
        Ok(StandardWebhook {
            id: id.to_owned(),
            timestamp: parse_timestamp(timestamp)?,
        })
    }

    /// The `webhook-signature` value a producer sends (`v1,<base64>`), for the simulator and
    /// tests. `secret` is the `whsec_…` form.
    pub fn sign(
        secret: &str,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, SettingError> {
        let key = decode_whsec(secret.as_bytes())?;
        let timestamp = timestamp.to_string();
        let mac = hmac_sha256(
            &key,
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        );
        Ok(format!("v1,{}", BASE64.encode(mac)))
    }
}

fn header<'h>(
    headers: &'h Headers,
    name: &'static str,
    svix: &'static str,
) -> Result<&'h str, Rejection> {
    headers
        .required(name)
        .or_else(|missing| headers.required(svix).map_err(|_| missing))
}

fn parse_timestamp(text: &str) -> Result<i64, Rejection> {
    let invalid = || Rejection::malformed("webhook-timestamp is not unix seconds");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse().map_err(|_| invalid())
}

/// `whsec_<base64>` (prefix optional) → raw key bytes.
fn decode_whsec(value: &[u8]) -> Result<Vec<u8>, SettingError> {
    let encoded = value.strip_prefix(b"whsec_").unwrap_or(value);
    BASE64
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| SettingError::InvalidSecret("not whsec_ base64"))
}

/// The decoded `v1,` signatures among the first [`MAX_SIGNATURES`] entries of the header (entries
/// of other versions and undecodable ones count towards the cap and are skipped).
fn offered_signatures(header: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    header
        .split_whitespace()
        .take(MAX_SIGNATURES)
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        .filter(|signature| !signature.is_empty())
}

/// Verifies one tenant's Standard Webhooks deliveries.
#[derive(Debug, Clone)]
pub struct StandardWebhookVerifier {
    tenant: TenantId,
    /// Whose record ids `data.id` carries.
    side: Side,
    /// Decoded key bytes (current, previous).
    keys: Secret,
    tolerance_secs: u32,
    body_limit: BodyLimit,
}

impl StandardWebhookVerifier {
    /// `secret` holds the `whsec_…` values as configured (both during a rotation); `side` is the
    /// side whose record ids the producer sends (`[tenants.<id>.standard] side`).
    pub fn new(tenant: TenantId, secret: &Secret, side: Side) -> Result<Self, SettingError> {
        Ok(StandardWebhookVerifier {
            tenant,
            side,
            keys: secret.try_map(decode_whsec)?,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            body_limit: BodyLimit::DEFAULT,
        })
    }

    pub fn with_tolerance_secs(mut self, tolerance_secs: u32) -> Self {
        self.tolerance_secs = tolerance_secs;
        self
    }

    pub fn with_body_limit(mut self, limit: BodyLimit) -> Self {
        self.body_limit = limit;
        self
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// Checks size, headers, timestamp window and signature; returns the delivery's id and time.
    /// `request.received_at` is "now".
    pub fn check_signature(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<StandardWebhook, Rejection> {
        self.body_limit.check(request.body)?;
        let delivery = StandardWebhook::from_headers(request.headers)?;
        let signatures = header(request.headers, SIGNATURE_HEADER, "svix-signature")?;

        let now_secs = i128::from(request.received_at.div_euclid(1000));
        if (now_secs - i128::from(delivery.timestamp)).abs() > i128::from(self.tolerance_secs) {
            return Err(Rejection::Stale);
        }

        // Sign over the header text as sent (it is digits only, checked above).
        let timestamp = header(request.headers, TIMESTAMP_HEADER, "svix-timestamp")?;
        let content: [&[u8]; 5] = [
            delivery.id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            request.body,
        ];
        // Each key's HMAC is computed once over the body, then compared (constant time) with
        // every offered signature: the work is one pass over the body per key, however many
        // signatures the header lists, and at most MAX_SIGNATURES entries are looked at.
        let computed: Vec<Vec<u8>> = self
            .keys
            .values()
            .map(|key| hmac_sha256(key, &content))
            .collect();
        let verified = offered_signatures(signatures).any(|offered| {
            computed
                .iter()
                .fold(false, |found, mac| found | bool::from(mac.ct_eq(&offered)))
        });
        if verified {
            Ok(delivery)
        } else {
            Err(Rejection::BadSignature)
        }
    }

    /// Verifies a delivery and maps it to a change event by the payload convention above.
    pub fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, Rejection> {
        let delivery = self.check_signature(request)?;
        let payload = match serde_json::from_slice(request.body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Rejection::malformed("body is not a JSON object")),
            Err(_) => return Err(Rejection::malformed("body is not JSON")),
        };
        let source = EventSource::Standard(self.side);
        let event_type = string_field(&payload, "type").unwrap_or_default();
        let (kind, verb) = event_type.split_once('.').unwrap_or((event_type, ""));
        let action = match verb {
            "created" | "updated" => Some(ChangeAction::Upsert),
            "deleted" => Some(ChangeAction::Delete),
            _ => None,
        };
        let (Ok(entity), Some(action)) = (kind.parse::<Entity>(), action) else {
            return Ok(Verified::Ignored(Ignored {
                tenant: self.tenant.clone(),
                source,
                record_type: shortened(event_type),
            }));
        };
        let record_id = payload
            .get("data")
            .and_then(Value::as_object)
            .and_then(|data| id_field(data, "id"))
            .ok_or(Rejection::malformed("data.id missing or invalid"))?;
        Ok(Verified::Event(VerifiedEvent {
            envelope: ChangeEvent {
                tenant: self.tenant.clone(),
                source,
                entity: Some(entity),
                record_id: Some(record_id),
                action,
                received_at: request.received_at,
                msg_id: Some(delivery.id),
            },
            raw_body: request.body.to_vec(),
        }))
    }
}
