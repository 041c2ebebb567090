//! The HMACs the vendors use, with constant-time verification (`Mac::verify_slice` compares
//! through `subtle`). HMAC accepts keys of any length, so key setup cannot fail; the `Option`s
//! only keep that impossibility from becoming a panic path.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

fn sha256_mac(key: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

fn sha1_mac(key: &[u8], message: &[u8]) -> Option<Hmac<Sha1>> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).ok()?;
    mac.update(message);
    Some(mac)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    sha256_mac(key, parts)
        .map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

/// Constant-time check of an HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn verify_hmac_sha256(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    sha256_mac(key, parts).is_some_and(|mac| mac.verify_slice(expected).is_ok())
}

pub(crate) fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    sha1_mac(key, message)
        .map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

/// Constant-time check of an HMAC-SHA1.
pub(crate) fn verify_hmac_sha1(key: &[u8], message: &[u8], expected: &[u8]) -> bool {
    sha1_mac(key, message).is_some_and(|mac| mac.verify_slice(expected).is_ok())
}
