//! Validating single values of the configuration file, each error naming the dotted key: a
//! section decoded from TOML, a non-empty string, an http(s) URL, a webhook secret.

use serde::de::DeserializeOwned;
use syncbridge_webhooks::Secret;

use super::error::ConfigError;
use super::secrets::Credential;

/// Deserialises a section with serde's message prefixed by its dotted `key`.
pub(crate) fn decode<T: DeserializeOwned>(value: toml::Value, key: &str) -> Result<T, ConfigError> {
    T::deserialize(value).map_err(|e| ConfigError::at(key, e.message().trim().to_owned()))
}

/// The credential as a webhook verifier's secret (both values during a rotation).
pub(crate) fn webhook_secret(key: &str, credential: &Credential) -> Result<Secret, ConfigError> {
    credential
        .to_webhook_secret()
        .map_err(|e| ConfigError::at(key, e.to_string()))
}

pub(crate) fn non_empty(key: &str, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::at(key, "must not be empty"))
    } else {
        Ok(value)
    }
}

/// An absolute http(s) URL, kept as written minus a trailing slash.
pub(crate) fn http_url(key: &str, value: String) -> Result<String, ConfigError> {
    match reqwest::Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(ConfigError::at(
            key,
            format!("{value:?} is not an http(s) URL"),
        )),
    }
}
