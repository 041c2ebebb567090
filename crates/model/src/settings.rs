//! Per-tenant sync settings (the rule switches of DESIGN §3 and the tenant mode of §2.5).
//!
//! Settings arrive from a TOML file; deserialising goes through [`TenantSettings::validate`], so a
//! `TenantSettings` value is always usable by the engine. Errors name the offending key.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::Entity;
use crate::psa::{Capabilities, PsaKind};

/// A tenant's operating mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Active,
    /// Events are kept in the stream; nothing is consumed.
    Paused,
    /// Decides and audits, writes nothing (onboarding: see what syncbridge would do).
    Shadow,
}

/// What to do with a PSA record whose only candidates differ in case, whitespace or Unicode form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NearMissPolicy {
    /// Create a new record, as IT Glue's exact matching does, and report the near miss.
    #[default]
    Create,
    /// Hold the record for a person; report it.
    Hold,
}

/// Settings that a `TenantSettings` refuses, each naming its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("psa: {0}")]
    UnknownPsaKind(String),
    #[error("{key}: at least one value must be enabled (nothing would be in scope)")]
    EmptyEnabledList { key: &'static str },
    #[error("{key}: value {value:?} is listed twice")]
    DuplicateValue { key: &'static str, value: String },
    #[error("two_way: {psa} is a one-way PSA; two-way sync cannot be enabled for it")]
    TwoWayUnsupported { psa: &'static str },
    #[error("import_burst: must be at least 1")]
    ZeroImportBurst,
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// The sync settings of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSettings")]
pub struct TenantSettings {
    pub psa: PsaKind,
    /// Enabled organization types/statuses: an organization is in scope when its type AND status are.
    pub org_types: BTreeSet<String>,
    pub org_statuses: BTreeSet<String>,
    /// Enabled configuration types/statuses (required when the PSA syncs configurations).
    pub config_types: BTreeSet<String>,
    pub config_statuses: BTreeSet<String>,
    pub contacts_sync: bool,
    pub two_way: bool,
    /// Create records that enter scope at once (true) or at the next full sync (false).
    pub instant_create: bool,
    pub near_miss: NearMissPolicy,
    /// More than this many IT Glue records created in one organization within a minute are treated
    /// as an import: they wait for a person's edit before a push.
    pub import_burst: u32,
    pub mode: Mode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    psa: String,
    #[serde(default)]
    org_types: Vec<String>,
    #[serde(default)]
    org_statuses: Vec<String>,
    #[serde(default)]
    config_types: Vec<String>,
    #[serde(default)]
    config_statuses: Vec<String>,
    #[serde(default)]
    contacts_sync: bool,
    #[serde(default)]
    two_way: bool,
    #[serde(default = "yes")]
    instant_create: bool,
    #[serde(default)]
    near_miss: NearMissPolicy,
    #[serde(default = "default_import_burst")]
    import_burst: u32,
    #[serde(default)]
    mode: Mode,
}

fn yes() -> bool {
    true
}

/// Default burst threshold: a person rarely creates 20 records in one organization in a minute.
pub const DEFAULT_IMPORT_BURST: u32 = 20;

fn default_import_burst() -> u32 {
    DEFAULT_IMPORT_BURST
}

fn to_set(key: &'static str, values: Vec<String>) -> Result<BTreeSet<String>, SettingsError> {
    let mut set = BTreeSet::new();
    for v in values {
        if set.contains(&v) {
            return Err(SettingsError::DuplicateValue { key, value: v });
        }
        set.insert(v);
    }
    Ok(set)
}

impl TryFrom<RawSettings> for TenantSettings {
    type Error = SettingsError;
    fn try_from(raw: RawSettings) -> Result<Self, SettingsError> {
        let psa = raw
            .psa
            .parse::<PsaKind>()
            .map_err(|e| SettingsError::UnknownPsaKind(e.to_string()))?;
        let settings = TenantSettings {
            psa,
            org_types: to_set("org_types", raw.org_types)?,
            org_statuses: to_set("org_statuses", raw.org_statuses)?,
            config_types: to_set("config_types", raw.config_types)?,
            config_statuses: to_set("config_statuses", raw.config_statuses)?,
            contacts_sync: raw.contacts_sync,
            two_way: raw.two_way,
            instant_create: raw.instant_create,
            near_miss: raw.near_miss,
            import_burst: raw.import_burst,
            mode: raw.mode,
        };
        settings.validate()?;
        Ok(settings)
    }
}

impl TenantSettings {
    /// Settings for `psa` with nothing enabled yet and every switch at its default. Not valid until
    /// types and statuses are enabled; tests and builders start here.
    pub fn new(psa: PsaKind) -> Self {
        TenantSettings {
            psa,
            org_types: BTreeSet::new(),
            org_statuses: BTreeSet::new(),
            config_types: BTreeSet::new(),
            config_statuses: BTreeSet::new(),
            contacts_sync: false,
            two_way: false,
            instant_create: true,
            near_miss: NearMissPolicy::Create,
            import_burst: DEFAULT_IMPORT_BURST,
            mode: Mode::Active,
        }
    }

    /// Checks the settings as a whole; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let caps = self.capabilities();
        let mut required = vec![
            ("org_types", &self.org_types),
            ("org_statuses", &self.org_statuses),
        ];
        if caps.configurations {
            required.push(("config_types", &self.config_types));
            required.push(("config_statuses", &self.config_statuses));
        }
        if let Some((key, _)) = required.into_iter().find(|(_, set)| set.is_empty()) {
            return Err(SettingsError::EmptyEnabledList { key });
        }
        if self.two_way && !caps.two_way {
            return Err(SettingsError::TwoWayUnsupported {
                psa: self.psa.display_name(),
            });
        }
        if self.import_burst == 0 {
            return Err(SettingsError::ZeroImportBurst);
        }
        Ok(())
    }

    pub fn capabilities(&self) -> Capabilities {
        self.psa.capabilities()
    }

    /// Whether two-way sync is in effect: enabled by the tenant and supported by the PSA.
    pub fn two_way_active(&self) -> bool {
        self.two_way && self.capabilities().two_way
    }

    /// The enabled (types, statuses) of an entity that has a type/status gate.
    pub fn gate(&self, entity: Entity) -> Option<(&BTreeSet<String>, &BTreeSet<String>)> {
        match entity {
            Entity::Organization => Some((&self.org_types, &self.org_statuses)),
            Entity::Configuration => Some((&self.config_types, &self.config_statuses)),
            Entity::Contact | Entity::Location => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TenantSettings, String> {
        toml::from_str::<TenantSettings>(text).map_err(|e| e.to_string())
    }

    const VALID: &str = r#"
        psa = "connectwise"
        org_types = ["Customer"]
        org_statuses = ["Active"]
        config_types = ["Server"]
        config_statuses = ["Active"]
    "#;

    #[test]
    fn valid_settings_get_defaults() {
        let s = parse(VALID).unwrap();
        assert_eq!(s.psa, PsaKind::ConnectWise);
        assert!(s.instant_create);
        assert!(!s.two_way && !s.contacts_sync);
        assert_eq!(s.near_miss, NearMissPolicy::Create);
        assert_eq!(s.mode, Mode::Active);
        assert_eq!(s.import_burst, DEFAULT_IMPORT_BURST);
    }

    #[test]
    fn unknown_psa_kind_is_a_typed_error() {
        let err = parse(&VALID.replace("connectwise", "halopsa")).unwrap_err();
        assert!(err.contains("unknown PSA kind \"halopsa\""), "{err}");
    }

    #[test]
    fn empty_enabled_list_names_the_key() {
        let err =
            parse(&VALID.replace(r#"config_types = ["Server"]"#, "config_types = []")).unwrap_err();
        assert!(err.contains("config_types: at least one value"), "{err}");
        // A PSA without configurations does not need configuration types.
        let tigerpaw = r#"
            psa = "tigerpaw"
            org_types = ["Customer"]
            org_statuses = ["Active"]
        "#;
        assert!(parse(tigerpaw).is_ok());
    }

    #[test]
    fn two_way_on_a_one_way_psa_is_refused() {
        let text = r#"
            psa = "tigerpaw"
            org_types = ["Customer"]
            org_statuses = ["Active"]
            two_way = true
        "#;
        assert!(parse(text).unwrap_err().contains("one-way PSA"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(parse(&format!("{VALID}\ncontact_sync = true")).is_err());
        assert!(parse(&format!("{VALID}\nmode = \"sleepy\"")).is_err());
        assert!(parse(&format!("{VALID}\nimport_burst = 0")).is_err());
        assert!(parse(&VALID.replace(r#"["Customer"]"#, r#"["Customer", "Customer"]"#)).is_err());
    }
}
