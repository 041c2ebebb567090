//! Tigerpaw (`[tenants.<id>.tigerpaw]`): read-only, one-way, polled; requests signed per call
//! with the key pair.

use std::sync::Arc;

use serde::Deserialize;
use syncbridge_connectors::{HttpPolicy, PsaClient, TigerpawClient, TigerpawConfig};
use syncbridge_model::{PsaKind, TenantId};

use super::{Described, PsaEntry, PsaSection, SectionInput};
use crate::config::error::ConfigError;
use crate::config::secrets::{Credential, SecretSpec};
use crate::config::values::{decode, http_url, non_empty};

pub(super) const ENTRY: PsaEntry = PsaEntry {
    section: "tigerpaw",
    kind: PsaKind::Tigerpaw,
    resolve: |input| Ok(Arc::new(resolve(input)?)),
};

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTigerpaw {
    base_url: String,
    public_key: String,
    private_key: SecretSpec,
}

/// `[tenants.<id>.tigerpaw]`, resolved.
#[derive(Debug, Clone)]
pub struct TigerpawSection {
    pub base_url: String,
    pub public_key: String,
    pub private_key: Credential,
}

fn resolve(input: SectionInput<'_>) -> Result<TigerpawSection, ConfigError> {
    let key = input.key;
    let raw: RawTigerpaw = decode(input.value, key)?;
    Ok(TigerpawSection {
        base_url: http_url(&format!("{key}.base_url"), raw.base_url)?,
        public_key: non_empty(&format!("{key}.public_key"), raw.public_key)?,
        private_key: raw
            .private_key
            .resolve(&format!("{key}.private_key"), input.env)?,
    })
}

impl PsaSection for TigerpawSection {
    fn kind(&self) -> PsaKind {
        PsaKind::Tigerpaw
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn client(
        &self,
        budget: &mut dyn FnMut(&mut HttpPolicy),
    ) -> syncbridge_connectors::Result<PsaClient> {
        let mut config = TigerpawConfig::new(
            self.base_url.clone(),
            self.public_key.clone(),
            self.private_key.expose().to_owned(),
        );
        budget(&mut config.http);
        Ok(PsaClient::Tigerpaw(TigerpawClient::new(config)?))
    }

    fn describe(&self, _tenant: &TenantId) -> Described {
        Described {
            line: format!(
                "tigerpaw: {}, public key {}, private key *** (polled)",
                self.base_url, self.public_key
            ),
            routes: Vec::new(),
        }
    }
}
