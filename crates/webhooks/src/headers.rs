//! The request headers a verifier reads, independent of any HTTP crate.
//!
//! The service converts its `http::HeaderMap` with one line:
//! `Headers::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))`.
//! Lookups are case-insensitive, as HTTP header names are. `Debug` shows names only: values carry
//! signatures, and the IT Glue route may carry a token.

use std::fmt;

use crate::rejection::Rejection;

/// Header names and raw values of one delivery, in arrival order.
#[derive(Clone, Default)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    pub fn from_pairs<N: AsRef<str>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let pairs = pairs.into_iter();
        let mut headers = Headers {
            entries: Vec::with_capacity(pairs.size_hint().0),
        };
        for (name, value) in pairs {
            headers.insert(name.as_ref(), value);
        }
        headers
    }

    /// Adds a header (repeated names are kept; lookups return the first).
    pub fn insert(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.entries
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
    }

    /// Builder form of [`Headers::insert`].
    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.insert(name, value);
        self
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as text; absent, or not UTF-8, is a missing header.
    pub(crate) fn required(&self, name: &'static str) -> Result<&str, Rejection> {
        self.get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .ok_or(Rejection::MissingHeader(name))
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers::from_pairs(iter)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(name, _)| format!("{name}: ***")))
            .finish()
    }
}
