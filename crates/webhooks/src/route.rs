//! Which verifier a route segment names (`/webhooks/{tenant}/{source}`), so an unknown source is
//! a typed `UnknownSource` (404) rather than a string the ingest compares by hand.

use std::str::FromStr;

use syncbridge_model::{EventSource, PsaKind};

use crate::rejection::Rejection;

/// The webhook sources the ingest serves (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookSource {
    /// `connectwise`: [`crate::ConnectWiseVerifier`].
    ConnectWise,
    /// `autotask`: [`crate::AutotaskVerifier::verify`] (and `autotask/deactivated`:
    /// [`crate::AutotaskVerifier::verify_deactivation`]).
    Autotask,
    /// `itglue`: [`crate::ItGlueWorkflowVerifier`].
    ItGlue,
    /// `standard`: [`crate::StandardWebhookVerifier`].
    Standard,
}

impl WebhookSource {
    pub const ALL: [WebhookSource; 4] = [
        WebhookSource::ConnectWise,
        WebhookSource::Autotask,
        WebhookSource::ItGlue,
        WebhookSource::Standard,
    ];

    /// The route segment.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookSource::ConnectWise => "connectwise",
            WebhookSource::Autotask => "autotask",
            WebhookSource::ItGlue => "itglue",
            WebhookSource::Standard => "standard",
        }
    }

    /// The `Sync-Source` of the events it produces; `None` for Standard Webhooks, whose source
    /// names the side the tenant declares for its producer (`EventSource::Standard(side)`).
    pub fn event_source(self) -> Option<EventSource> {
        match self {
            WebhookSource::ConnectWise => Some(EventSource::Psa(PsaKind::ConnectWise)),
            WebhookSource::Autotask => Some(EventSource::Psa(PsaKind::Autotask)),
            WebhookSource::ItGlue => Some(EventSource::ItGlue),
            WebhookSource::Standard => None,
        }
    }
}

impl FromStr for WebhookSource {
    type Err = Rejection;
    fn from_str(segment: &str) -> Result<Self, Rejection> {
        WebhookSource::ALL
            .into_iter()
            .find(|s| s.as_str() == segment)
            .ok_or(Rejection::UnknownSource)
    }
}
