//! The request headers a verifier reads, independent of any HTTP crate.
//!
//! The service converts its `http::HeaderMap` with one line:
//! `Headers::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))`.
//! Lookups are case-insensitive, as HTTP header names are. `Debug` shows names only: values carry
//! signatures, and the IT Glue route may carry a token.

use std::fmt;

use crate::rejection::Rejection;

/// Header names and raw values of one delivery, in arrival order.
///
/// Stored in one buffer (names lowercased, then values) with the offsets of each pair, so that
/// converting a request's headers costs two allocations rather than two per header.
#[derive(Clone, Default)]
pub struct Headers {
    /// Every name and value, back to back.
    bytes: Vec<u8>,
    /// Per header: where its name starts, where its value starts (the name's end), and its end.
    entries: Vec<(usize, usize, usize)>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    pub fn from_pairs<N: AsRef<str>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let pairs = pairs.into_iter();
        let count = pairs.size_hint().0;
        let mut headers = Headers {
            bytes: Vec::with_capacity(count * 32),
            entries: Vec::with_capacity(count),
        };
        for (name, value) in pairs {
            headers.insert(name.as_ref(), value);
        }
        headers
    }

    /// Adds a header (repeated names are kept; lookups return the first).
    pub fn insert(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let start = self.bytes.len();
        self.bytes
            .extend(name.as_bytes().iter().map(u8::to_ascii_lowercase));
        let value_start = self.bytes.len();
        self.bytes.extend_from_slice(value.as_ref());
        self.entries.push((start, value_start, self.bytes.len()));
    }

    /// Builder form of [`Headers::insert`].
    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.insert(name, value);
        self
    }

    /// The names and values, in arrival order.
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries
            .iter()
            .map(|&(start, value, end)| (&self.bytes[start..value], &self.bytes[value..end]))
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
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
            .entries(
                self.pairs()
                    .map(|(name, _)| format!("{}: ***", String::from_utf8_lossy(name))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_keep_the_first_of_repeated_names_and_debug_shows_names_only() {
        let headers = Headers::from_pairs([
            ("Content-Type", b"application/json".as_slice()),
            ("X-Hook-Signature", b"sha1=first"),
            ("x-hook-signature", b"sha1=second"),
            ("Empty", b""),
        ]);
        assert_eq!(
            headers.get("x-hook-signature"),
            Some(b"sha1=first".as_slice())
        );
        assert_eq!(
            headers.get("CONTENT-TYPE"),
            Some(b"application/json".as_slice())
        );
        assert_eq!(headers.get("empty"), Some(b"".as_slice()));
        assert_eq!(headers.get("content-typ"), None);
        assert_eq!(headers.required("x-hook-signature"), Ok("sha1=first"));
        assert_eq!(
            format!("{headers:?}"),
            r#"["content-type: ***", "x-hook-signature: ***", "x-hook-signature: ***", "empty: ***"]"#
        );
        let invalid = Headers::new().with("X-Bad", [0xff_u8]);
        assert_eq!(
            invalid.required("x-bad"),
            Err(Rejection::MissingHeader("x-bad"))
        );
    }
}
