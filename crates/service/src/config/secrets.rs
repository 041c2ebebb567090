//! How a secret is written in the configuration file, and how it is resolved.
//!
//! Every secret may be a literal string, or a table naming an environment variable, with an
//! optional previous value while senders rotate:
//!
//! ```toml
//! private_key = "literal"
//! private_key = { env = "ACME_CW_PRIVATE_KEY" }
//! webhook_secret = { env = "ACME_AT_SECRET", previous_env = "ACME_AT_SECRET_OLD" }
//! webhook_secret = { value = "new", previous = "old" }
//! ```
//!
//! Resolution happens once, at load time, with the dotted key in every error
//! (`tenants.acme.autotask.webhook_secret: environment variable ACME_AT_SECRET is not set`). The
//! resolved [`Credential`] prints `***` in `Debug` and `Display`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use syncbridge_webhooks::Secret;

use super::error::ConfigError;

/// A secret as written in TOML (not yet resolved).
#[derive(Clone)]
pub(crate) enum SecretSpec {
    Literal(String),
    Table(SecretTable),
}

// By hand rather than `untagged`, so a typo in the table form gets serde's precise message
// ("unknown field `prev`, expected one of …") instead of "did not match any variant".
impl<'de> Deserialize<'de> for SecretSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = SecretSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, or a table such as { env = \"VAR\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSpec, E> {
                Ok(SecretSpec::Literal(v.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<SecretSpec, A::Error> {
                SecretTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SecretSpec::Table)
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretTable {
    value: Option<String>,
    env: Option<String>,
    previous: Option<String>,
    previous_env: Option<String>,
}

// The spec may hold a literal secret: never print it.
impl fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where environment variables come from (the process environment, or a map in tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A resolved secret: the current value and, during a rotation, the previous one.
#[derive(Clone)]
pub struct Credential {
    current: String,
    previous: Option<String>,
}

impl Credential {
    /// The current value, for building an `Authorization` header and the like.
    pub fn expose(&self) -> &str {
        &self.current
    }

    /// The previous value, while a rotation is in progress.
    pub fn previous(&self) -> Option<&str> {
        self.previous.as_deref()
    }

    /// As the webhooks crate's constant-time [`Secret`] (rotating when a previous value is set).
    pub fn to_webhook_secret(&self) -> Result<Secret, syncbridge_webhooks::SettingError> {
        match &self.previous {
            Some(previous) => Secret::rotating(&self.current, previous),
            None => Secret::new(&self.current),
        }
    }

    /// A literal credential (tests and programmatic configuration).
    pub fn literal(value: impl Into<String>) -> Self {
        Credential {
            current: value.into(),
            previous: None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.previous.is_some() {
            f.write_str("*** (rotating: previous value active)")
        } else {
            f.write_str("***")
        }
    }
}

impl SecretSpec {
    /// Resolves the spec written at `key` (the dotted path used in errors).
    pub(crate) fn resolve(&self, key: &str, env: EnvLookup<'_>) -> Result<Credential, ConfigError> {
        let (current, previous) = match self {
            SecretSpec::Literal(value) => (value.clone(), None),
            SecretSpec::Table(table) => {
                let current = one_of(key, "value", &table.value, "env", &table.env, env)?
                    .ok_or_else(|| ConfigError::at(key, "give either `value` or `env`"))?;
                let previous = one_of(
                    key,
                    "previous",
                    &table.previous,
                    "previous_env",
                    &table.previous_env,
                    env,
                )?;
                (current, previous)
            }
        };
        if current.is_empty() {
            return Err(ConfigError::at(key, "must not be empty"));
        }
        if previous.as_deref() == Some("") {
            return Err(ConfigError::at(key, "previous value must not be empty"));
        }
        Ok(Credential { current, previous })
    }
}

/// A literal under `literal_key` or an environment variable named under `env_key`, not both.
fn one_of(
    key: &str,
    literal_key: &str,
    literal: &Option<String>,
    env_key: &str,
    var: &Option<String>,
    env: EnvLookup<'_>,
) -> Result<Option<String>, ConfigError> {
    match (literal, var) {
        (Some(_), Some(_)) => Err(ConfigError::at(
            key,
            format!("give `{literal_key}` or `{env_key}`, not both"),
        )),
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(name)) => match env(name) {
            Some(value) => Ok(Some(value)),
            None => Err(ConfigError::at(
                key,
                format!("environment variable {name} is not set"),
            )),
        },
        (None, None) => Ok(None),
    }
}
