//! A credential string that never shows itself in `Debug` or `Display`.
//!
//! Every API key, private key, password and secret in a connector config is a [`ApiSecret`], so
//! `{:?}` of a config, a client or an error can be logged without leaking it.

use std::fmt;

use serde::Deserialize;

/// A secret value (API key, private key, password). Only [`ApiSecret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiSecret(String);

impl ApiSecret {
    pub fn new(value: impl Into<String>) -> Self {
        ApiSecret(value.into())
    }

    /// The secret itself: only for building a request header or signature.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for ApiSecret {
    fn from(s: &str) -> Self {
        ApiSecret::new(s)
    }
}

impl From<String> for ApiSecret {
    fn from(s: String) -> Self {
        ApiSecret(s)
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret([redacted])")
    }
}

impl fmt::Display for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = ApiSecret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
