//! IT Glue workflow webhooks (reference `webhooks.md` §8).
//!
//! IT Glue signs nothing and its workflows cannot set headers, so the only credential is a
//! per-tenant secret token in the URL path (`/webhooks/{tenant}/itglue/{token}`), compared in
//! constant time. The body is a template the MSP wrote, so it is not parsed: an accepted delivery
//! is a [`ChangeAction::Hint`] that makes the tenant's IT Glue poll run at once. IT Glue sends no
//! message id, so the event has no dedup id (a repeated hint only causes one more poll).

use syncbridge_model::{ChangeAction, ChangeEvent, EventSource, TenantId};

use crate::body::BodyLimit;
use crate::event::{VerifiedEvent, WebhookRequest};
use crate::rejection::Rejection;
use crate::secret::Secret;

/// Verifies one tenant's IT Glue workflow webhooks.
#[derive(Debug, Clone)]
pub struct ItGlueWorkflowVerifier {
    tenant: TenantId,
    token: Secret,
    body_limit: BodyLimit,
}

impl ItGlueWorkflowVerifier {
    /// `token` is the path token (both values while the MSP moves its workflows to a new one).
    pub fn new(tenant: TenantId, token: Secret) -> Self {
        ItGlueWorkflowVerifier {
            tenant,
            token,
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

    /// Checks the path token; the accepted event is a hint with no entity, record or dedup id.
    pub fn verify(
        &self,
        path_token: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<VerifiedEvent, Rejection> {
        self.body_limit.check(request.body)?;
        if !self.token.matches(path_token.as_bytes()) {
            return Err(Rejection::BadSignature);
        }
        Ok(VerifiedEvent {
            envelope: ChangeEvent {
                tenant: self.tenant.clone(),
                source: EventSource::ItGlue,
                entity: None,
                record_id: None,
                action: ChangeAction::Hint,
                received_at: request.received_at,
                msg_id: None,
            },
            raw_body: request.body.to_vec(),
        })
    }
}
