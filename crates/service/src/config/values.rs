//! Validating single values of the configuration file, each error naming the dotted key: a
//! section decoded from TOML, a non-empty string, an http(s) URL, a webhook secret.

use serde::de::DeserializeOwned;
use syncbridge_webhooks::Secret;

use super::error::ConfigError;
use super::secrets::Credential;

/// Deserialises a section; an error names the dotted key of the value it is about (`key` plus
/// the path inside the section, e.g. `ingest.listen`), not only the section.
pub(crate) fn decode<T: DeserializeOwned>(value: toml::Value, key: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut key = match path.as_str() {
            "" | "." | "?" => key.to_owned(),
            path => format!("{key}.{path}"),
        };
        let message = e.into_inner().message().trim().to_owned();
        // serde names a missing or unknown key only in its message: move it into the key.
        let message = match named_field(&message, "unknown field `") {
            Some((field, rest)) => {
                if !key.ends_with(&format!(".{field}")) {
                    key = format!("{key}.{field}");
                }
                match rest.trim_start_matches(',').trim() {
                    "" => "unknown key".to_owned(),
                    expected => format!("unknown key ({expected})"),
                }
            }
            None => match named_field(&message, "missing field `") {
                Some((field, _)) => {
                    if !key.ends_with(&format!(".{field}")) {
                        key = format!("{key}.{field}");
                    }
                    "is required".to_owned()
                }
                None => message,
            },
        };
        ConfigError::at(key, message)
    })
}

/// `message` = `{prefix}{field}`{rest}` → `(field, rest)`.
fn named_field<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    let after = message.strip_prefix(prefix)?;
    let end = after.find('`')?;
    Some((&after[..end], &after[end + 1..]))
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
