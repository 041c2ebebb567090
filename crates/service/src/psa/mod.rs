//! One descriptor per PSA: what the service knows about a PSA, in one file each — its
//! configuration section (as written and as resolved, every error naming the dotted key), how its
//! client is built, which webhooks the ingest verifies for it, how `register-webhooks` registers
//! them, and what `config check` says about it.
//!
//! `config` resolves a tenant's PSA section through [`REGISTRY`] (an unknown kind is an error,
//! never a default); everything above works on the [`PsaSection`] it gets, never on a particular
//! PSA. Adding a PSA is a file here and its line in [`REGISTRY`] — plus its connector in
//! `syncbridge-connectors` and, if it sends webhooks, a verifier in `syncbridge-webhooks` and a
//! route in `ingest/routes.rs` (ARCHITECTURE.md, "Adding a PSA").
//!
//! Layer: above the configuration vocabulary (`config/{error,values,secrets}.rs`) and `runtime`;
//! nothing here imports a role or a command.

mod autotask;
mod connectwise;
mod tigerpaw;
mod v2;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use syncbridge_connectors::{ConnectWiseKeySource, HttpPolicy, PsaClient};
use syncbridge_model::{PsaKind, TenantId, TenantSettings};
use syncbridge_webhooks::{AutotaskVerifier, BodyLimit, ConnectWiseVerifier, SigningKeyCache};

pub use autotask::AutotaskSection;
pub use connectwise::ConnectWiseSection;
pub use tigerpaw::TigerpawSection;
pub use v2::V2PsaSection;

use crate::config::error::ConfigError;
use crate::config::secrets::EnvLookup;

/// A tenant's resolved PSA section: the PSA as this tenant configured it.
pub trait PsaSection: fmt::Debug + Send + Sync + 'static {
    fn kind(&self) -> PsaKind;

    /// The concrete section, for the few callers that need one PSA's own settings (tests).
    fn as_any(&self) -> &dyn Any;

    /// The tenant's client; `budget` applies the tenant's request budget (and its sharing with
    /// other processes) to the connector's HTTP policy before the client is built.
    fn client(
        &self,
        budget: &mut dyn FnMut(&mut HttpPolicy),
    ) -> syncbridge_connectors::Result<PsaClient>;

    /// What `config check` says: one line about the section (secrets masked) and the webhook
    /// routes it opens for `tenant`.
    fn describe(&self, tenant: &TenantId) -> Described;

    /// The webhooks the ingest verifies for this PSA; none for a polled PSA.
    fn webhooks(
        &self,
        _tenant: &TenantId,
        _http: &reqwest::Client,
        _limit: BodyLimit,
    ) -> PsaWebhooks {
        PsaWebhooks::default()
    }

    /// `register-webhooks`: registers the ingest under `base` (`{public}/webhooks/{tenant}`) with
    /// the PSA through `client`, idempotently; the report's lines. A polled PSA says so.
    fn register_webhooks<'a>(
        &'a self,
        tenant: &'a TenantId,
        client: &'a PsaClient,
        base: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        let _ = (tenant, client, base);
        Box::pin(async move {
            Ok(vec![format!(
                "{}: no webhooks; polled; nothing to register",
                self.kind().display_name()
            )])
        })
    }
}

/// A PSA section's `config check` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// `connectwise: site …, private key ***, …`.
    pub line: String,
    /// `POST /webhooks/{tenant}/…` per route the section opens.
    pub routes: Vec<String>,
}

/// The webhook verifiers a PSA section gives the ingest.
#[derive(Default)]
pub struct PsaWebhooks {
    pub connectwise: Option<ConnectWiseIngest>,
    pub autotask: Option<AutotaskVerifier>,
}

/// ConnectWise callbacks: the verifier and the tenant's signing-key cache.
pub struct ConnectWiseIngest {
    pub verifier: ConnectWiseVerifier,
    pub keys: SigningKeyCache<ConnectWiseKeySource>,
}

/// What a PSA's resolver reads.
pub struct SectionInput<'a> {
    /// The section's dotted key, e.g. `tenants.acme.connectwise`.
    pub key: &'a str,
    pub value: toml::Value,
    pub env: EnvLookup<'a>,
    /// The tenant's `[sync]` settings, for checks across sections.
    pub sync: &'a TenantSettings,
}

/// A PSA syncbridge knows: its section name in the configuration file, its kind and its
/// resolver.
pub struct PsaEntry {
    pub section: &'static str,
    pub kind: PsaKind,
    pub resolve: fn(SectionInput<'_>) -> Result<Arc<dyn PsaSection>, ConfigError>,
}

/// Every PSA syncbridge knows.
pub const REGISTRY: [PsaEntry; 5] = [
    connectwise::ENTRY,
    autotask::ENTRY,
    v2::KASEYA_BMS,
    v2::PULSEWAY_PSA,
    tigerpaw::ENTRY,
];

/// The registry's entry for `kind`, if syncbridge knows that PSA.
pub fn entry(kind: PsaKind) -> Option<&'static PsaEntry> {
    REGISTRY.iter().find(|e| e.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_psa_kind_has_exactly_one_entry_with_its_own_section() {
        for kind in PsaKind::ALL {
            assert_eq!(
                REGISTRY.iter().filter(|e| e.kind == kind).count(),
                1,
                "{kind}"
            );
        }
        let mut sections: Vec<_> = REGISTRY.iter().map(|e| e.section).collect();
        sections.sort();
        sections.dedup();
        assert_eq!(sections.len(), REGISTRY.len());
    }
}
