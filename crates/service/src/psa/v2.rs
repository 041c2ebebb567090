//! Kaseya BMS and Pulseway PSA (`[tenants.<id>.kaseya_bms]`, `[tenants.<id>.pulseway_psa]`): the
//! same v2 REST platform, one section shape for both; no webhooks, so polled.

use std::sync::Arc;

use serde::Deserialize;
use syncbridge_connectors::{BmsClient, BmsConfig, BmsFlavor, HttpPolicy, PsaClient};
use syncbridge_model::{PsaKind, TenantId};

use super::{Described, PsaEntry, PsaSection, SectionInput};
use crate::config::error::ConfigError;
use crate::config::secrets::{Credential, SecretSpec};
use crate::config::values::{decode, http_url, non_empty};

pub(super) const KASEYA_BMS: PsaEntry = PsaEntry {
    section: "kaseya_bms",
    kind: PsaKind::KaseyaBms,
    resolve: |input| Ok(Arc::new(resolve(input, BmsFlavor::KaseyaBms)?)),
};

pub(super) const PULSEWAY_PSA: PsaEntry = PsaEntry {
    section: "pulseway_psa",
    kind: PsaKind::PulsewayPsa,
    resolve: |input| Ok(Arc::new(resolve(input, BmsFlavor::PulsewayPsa)?)),
};

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawV2Psa {
    base_url: String,
    username: String,
    password: SecretSpec,
    tenant: Option<String>,
    business_type_id: Option<u64>,
    account_manager_id: Option<u64>,
}

/// `[tenants.<id>.kaseya_bms]` / `[tenants.<id>.pulseway_psa]`, resolved.
#[derive(Debug, Clone)]
pub struct V2PsaSection {
    pub flavor: BmsFlavor,
    pub base_url: String,
    pub username: String,
    pub password: Credential,
    /// The BMS tenant (company) name used at `/v2/security/authenticate`.
    pub tenant: Option<String>,
    /// Business type and account manager of the accounts syncbridge creates.
    pub business_type_id: Option<u64>,
    pub account_manager_id: Option<u64>,
}

fn resolve(input: SectionInput<'_>, flavor: BmsFlavor) -> Result<V2PsaSection, ConfigError> {
    let key = input.key;
    let raw: RawV2Psa = decode(input.value, key)?;
    Ok(V2PsaSection {
        flavor,
        base_url: http_url(&format!("{key}.base_url"), raw.base_url)?,
        username: non_empty(&format!("{key}.username"), raw.username)?,
        password: raw
            .password
            .resolve(&format!("{key}.password"), input.env)?,
        tenant: raw.tenant,
        business_type_id: raw.business_type_id,
        account_manager_id: raw.account_manager_id,
    })
}

impl PsaSection for V2PsaSection {
    fn kind(&self) -> PsaKind {
        match self.flavor {
            BmsFlavor::KaseyaBms => PsaKind::KaseyaBms,
            BmsFlavor::PulsewayPsa => PsaKind::PulsewayPsa,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn client(
        &self,
        budget: &mut dyn FnMut(&mut HttpPolicy),
    ) -> syncbridge_connectors::Result<PsaClient> {
        let mut config = BmsConfig::new(
            self.base_url.clone(),
            self.flavor,
            self.username.clone(),
            self.password.expose().to_owned(),
            self.tenant.clone().unwrap_or_default(),
        );
        if let Some(id) = self.business_type_id {
            config.business_type_id = id;
        }
        if let Some(id) = self.account_manager_id {
            config.account_manager_id = id;
        }
        budget(&mut config.http);
        let client = BmsClient::new(config)?;
        Ok(match self.flavor {
            BmsFlavor::KaseyaBms => PsaClient::KaseyaBms(client),
            BmsFlavor::PulsewayPsa => PsaClient::PulsewayPsa(client),
        })
    }

    fn describe(&self, _tenant: &TenantId) -> Described {
        Described {
            line: format!(
                "{}: {}, user {}, password ***{} (polled)",
                self.kind(),
                self.base_url,
                self.username,
                self.tenant
                    .as_deref()
                    .map(|t| format!(", tenant {t}"))
                    .unwrap_or_default()
            ),
            routes: Vec::new(),
        }
    }
}
