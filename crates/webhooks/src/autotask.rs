//! Autotask webhook callouts and deactivation notices (reference `webhooks.md` §2).
//!
//! A callout is signed in `X-Hook-Signature: sha1=<base64 HMAC-SHA1(SecretKey, body)>`. Autotask
//! appears to sign the .NET-escaped form of the body rather than the wire bytes (§2.3), so the raw
//! body is tried first and the escaped form ([`dotnet_escaped`]) second. There is no timestamp, so
//! no replay window: the dedup id (`Guid:Id:Action:SequenceNumber`) catches redeliveries.
//!
//! The webhook's required DeactivationUrl receives a notice when the webhook is deactivated. A
//! forged notice must not switch anything off (GHSA-hh59-fgrr-93hf), so it is verified exactly
//! like a callout and then only reported as a [`DeactivationNotice`]; the service confirms it
//! through the Autotask API before acting.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{Map, Value};
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, PsaKind, TenantId, UnixMillis,
};

use crate::autotask_escape::dotnet_escaped;
use crate::body::BodyLimit;
use crate::crypto::{hmac_sha1, verify_hmac_sha1};
use crate::event::{Ignored, Verified, VerifiedEvent, WebhookRequest};
use crate::json_fields::{header_safe, id_field, shortened, string_field, take_field};
use crate::rejection::Rejection;
use crate::secret::Secret;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hook-signature";

const SOURCE: EventSource = EventSource::Psa(PsaKind::Autotask);

/// Which bytes the signature matched: useful to log, since the escaped path is a workaround.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedForm {
    /// The body as received.
    Raw,
    /// The body rewritten as .NET's JSON encoder would write it.
    DotNetEscaped,
}

/// A parsed Autotask callout body.
#[derive(Debug, Clone, PartialEq)]
pub struct AutotaskCallout {
    /// `Action`: `Create`, `Update`, `Delete` (or `Deactivated` at the DeactivationUrl).
    pub action: String,
    /// `Guid`: the webhook subscription's GUID (not a per-event id).
    pub guid: Option<String>,
    /// `EntityType`: `Company`, `Contact`, `ConfigurationItem`, `Ticket`, …
    pub entity_type: String,
    /// `Id`: the record's id, as text.
    pub id: Option<String>,
    /// `SequenceNumber`, as text.
    pub sequence_number: Option<String>,
    /// `EventTime`, as sent.
    pub event_time: Option<String>,
    /// `Fields`: only the subscribed and display-always fields (empty on delete).
    pub fields: Map<String, Value>,
}

impl AutotaskCallout {
    /// Parses a callout body. Pure and total: any bytes give a value or `Malformed`.
    pub fn parse(body: &[u8]) -> Result<Self, Rejection> {
        let mut object = match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Rejection::malformed("body is not a JSON object")),
            Err(_) => return Err(Rejection::malformed("body is not JSON")),
        };
        let text = |name: &str| string_field(&object, name).map(str::to_owned);
        let action = text("Action").ok_or(Rejection::malformed("Action missing"))?;
        let guid = text("Guid");
        let entity_type = text("EntityType").unwrap_or_default();
        let event_time = text("EventTime");
        let id = id_field(&object, "Id");
        let sequence_number = id_field(&object, "SequenceNumber");
        // Moved out of the parsed body, not copied: the body is not needed after this.
        let fields = match take_field(&mut object, "Fields") {
            Some(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        Ok(AutotaskCallout {
            action,
            guid,
            entity_type,
            id,
            sequence_number,
            event_time,
            fields,
        })
    }

    pub fn is_deactivation(&self) -> bool {
        self.action.eq_ignore_ascii_case("Deactivated")
    }

    /// The synced entity this callout is about, if any.
    pub fn entity(&self) -> Option<Entity> {
        [
            ("Company", Entity::Organization),
            ("Companies", Entity::Organization),
            ("Account", Entity::Organization),
            ("Contact", Entity::Contact),
            ("Contacts", Entity::Contact),
            ("ConfigurationItem", Entity::Configuration),
            ("ConfigurationItems", Entity::Configuration),
            ("InstalledProduct", Entity::Configuration),
        ]
        .into_iter()
        .find(|(name, _)| self.entity_type.eq_ignore_ascii_case(name))
        .map(|(_, entity)| entity)
    }

    /// `Delete` is a delete; anything else means "look at this record" (events are hints).
    pub fn change_action(&self) -> ChangeAction {
        if self.action.eq_ignore_ascii_case("Delete") {
            ChangeAction::Delete
        } else {
            ChangeAction::Upsert
        }
    }

    /// `Guid:Id:Action:SequenceNumber` (DESIGN §4). Autotask documents no per-delivery id; this
    /// tuple is stable across its retries of one event. `None` when a part is missing.
    pub fn dedup_id(&self) -> Option<String> {
        let guid = self.guid.as_deref().filter(|g| header_safe(g))?;
        let action = Some(self.action.as_str()).filter(|a| header_safe(a))?;
        let (id, sequence) = (self.id.as_deref()?, self.sequence_number.as_deref()?);
        let mut dedup =
            String::with_capacity(guid.len() + id.len() + action.len() + sequence.len() + 3);
        for (i, part) in [guid, id, action, sequence].into_iter().enumerate() {
            if i > 0 {
                dedup.push(':');
            }
            dedup.push_str(part);
        }
        Some(dedup)
    }

    /// The `X-Hook-Signature` value for `body` signed as sent (for the simulator and tests).
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        format!("sha1={}", BASE64.encode(hmac_sha1(secret, body)))
    }
}

/// An authentic "your webhook was deactivated" notice. Not yet trusted as a fact: confirm the
/// webhook's state through the Autotask API before changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeactivationNotice {
    pub tenant: TenantId,
    /// `Guid` of the webhook, when the notice names it.
    pub webhook_guid: Option<String>,
    /// `EntityType` of the webhook, when the notice names it.
    pub entity_type: Option<String>,
    pub received_at: UnixMillis,
}

/// Verifies one tenant's Autotask callouts and deactivation notices.
#[derive(Debug, Clone)]
pub struct AutotaskVerifier {
    tenant: TenantId,
    secret: Secret,
    body_limit: BodyLimit,
}

impl AutotaskVerifier {
    /// `secret` is the webhook's `SecretKey` (both values during a rotation).
    pub fn new(tenant: TenantId, secret: Secret) -> Self {
        AutotaskVerifier {
            tenant,
            secret,
            body_limit: BodyLimit::DEFAULT,
        }
    }

    pub fn with_body_limit(mut self, limit: BodyLimit) -> Self {
        self.body_limit = limit;
        self
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Checks size and signature only; says which form of the body matched.
    pub fn check_signature(&self, request: &WebhookRequest<'_>) -> Result<SignedForm, Rejection> {
        self.body_limit.check(request.body)?;
        let header = request.headers.required(SIGNATURE_HEADER)?.trim();
        // The documented form is `sha1=<base64>`; a bare value carries the same HMAC.
        let encoded = match header.split_at_checked(5) {
            Some((prefix, rest)) if prefix.eq_ignore_ascii_case("sha1=") => rest,
            _ => header,
        };
        let expected = BASE64
            .decode(encoded)
            .map_err(|_| Rejection::BadSignature)?;
        if expected.len() != 20 {
            return Err(Rejection::BadSignature);
        }
        if self.matches(request.body, &expected) {
            return Ok(SignedForm::Raw);
        }
        match dotnet_escaped(request.body) {
            Some(escaped) if escaped != request.body && self.matches(&escaped, &expected) => {
                Ok(SignedForm::DotNetEscaped)
            }
            _ => Err(Rejection::BadSignature),
        }
    }

    fn matches(&self, message: &[u8], expected: &[u8]) -> bool {
        self.secret
            .values()
            .any(|key| verify_hmac_sha1(key, message, expected))
    }

    /// Verifies a callout from the webhook URL.
    pub fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, Rejection> {
        let form = self.check_signature(request)?;
        tracing::debug!(tenant = %self.tenant, ?form, "autotask signature verified");
        let callout = AutotaskCallout::parse(request.body)?;
        if callout.is_deactivation() {
            return Ok(Verified::Deactivation(self.notice(Some(&callout), request)));
        }
        let Some(entity) = callout.entity() else {
            return Ok(Verified::Ignored(Ignored {
                tenant: self.tenant.clone(),
                source: SOURCE,
                record_type: shortened(&callout.entity_type),
            }));
        };
        let msg_id = callout.dedup_id();
        let action = callout.change_action();
        let record_id = callout
            .id
            .ok_or(Rejection::malformed("Id missing or invalid"))?;
        Ok(Verified::Event(VerifiedEvent {
            envelope: ChangeEvent {
                tenant: self.tenant.clone(),
                source: SOURCE,
                entity: Some(entity),
                record_id: Some(record_id),
                action,
                received_at: request.received_at,
                msg_id,
            },
            raw_body: request.body.to_vec(),
        }))
    }

    /// Verifies a notice at the DeactivationUrl. Its payload is not documented, so once the
    /// signature matched, whatever it names is reported; an unparsable body still is a notice.
    pub fn verify_deactivation(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<DeactivationNotice, Rejection> {
        let form = self.check_signature(request)?;
        tracing::debug!(tenant = %self.tenant, ?form, "autotask deactivation notice verified");
        let callout = AutotaskCallout::parse(request.body).ok();
        Ok(self.notice(callout.as_ref(), request))
    }

    fn notice(
        &self,
        callout: Option<&AutotaskCallout>,
        request: &WebhookRequest<'_>,
    ) -> DeactivationNotice {
        DeactivationNotice {
            tenant: self.tenant.clone(),
            webhook_guid: callout
                .and_then(|c| c.guid.as_deref())
                .filter(|g| header_safe(g))
                .map(str::to_owned),
            entity_type: callout
                .map(|c| shortened(&c.entity_type))
                .filter(|t| !t.is_empty()),
            received_at: request.received_at,
        }
    }
}
