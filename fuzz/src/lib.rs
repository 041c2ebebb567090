//! The fuzz entry functions, one module per crate under test. The libFuzzer targets in
//! `fuzz_targets/` are one-line wrappers around these; the seed-replay tests in the crates include
//! the same modules by path and run them over the committed seeds in `fuzz/corpus/*/seed-*`.
//!
//! The structured inputs get their `Arbitrary` impls here rather than by derive in the shared
//! modules, so the seed-replay tests need no `arbitrary` dependency.

#![forbid(unsafe_code)]

pub mod config;
pub mod connectors;
pub mod model;
pub mod seeds;
pub mod webhooks;

use arbitrary::{Arbitrary, Result, Unstructured};

impl<'a> Arbitrary<'a> for webhooks::CallbackParts<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(webhooks::CallbackParts {
            message_id: u.arbitrary()?,
            action: one_of(u, &["added", "updated", "deleted"])?,
            record_type: one_of(u, &["company", "contact", "configuration", "ticket"])?,
            numeric_id: u.arbitrary()?,
            text_id: u.arbitrary()?,
            company_id: u.arbitrary()?,
            key_url: u.arbitrary()?,
            entity: u.arbitrary()?,
            forger_key: u.arbitrary()?,
        })
    }
}

/// One of the names the vendor sends, or (half the time) any text, so that inputs reach both the
/// handled entities and the unknown ones.
fn one_of<'a>(u: &mut Unstructured<'a>, known: &[&'static str]) -> Result<&'a str> {
    if u.arbitrary()? {
        Ok(*u.choose(known)?)
    } else {
        u.arbitrary()
    }
}
