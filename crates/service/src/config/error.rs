//! [`ConfigError`]: a configuration that cannot be used, named by the dotted key of the setting
//! it is about, so `config check` and `serve` refuse the same mistake with the same words.

/// A configuration that cannot be used; `key` is the dotted path of the offending setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}
