//! A tenant's webhook secret: one current value and, during a rotation, the previous one.
//!
//! `Debug` and `Display` print `***`, so a secret cannot leak through a log line, a panic message
//! or an error that formats its context. Comparisons are constant-time, and the values are
//! overwritten when the secret is dropped (best effort, without a zeroize dependency).

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::rejection::SettingError;

/// Up to two active values of one secret (current, and previous while senders rotate).
#[derive(Clone)]
pub struct Secret {
    values: Vec<Vec<u8>>,
}

impl Secret {
    /// A secret with a single active value. Empty values are refused: an empty secret would
    /// make every forged delivery verify.
    pub fn new(current: impl AsRef<[u8]>) -> Result<Self, SettingError> {
        let current = non_empty(current.as_ref())?;
        Ok(Secret {
            values: vec![current],
        })
    }

    /// A secret in rotation: deliveries signed with either value are accepted.
    pub fn rotating(
        current: impl AsRef<[u8]>,
        previous: impl AsRef<[u8]>,
    ) -> Result<Self, SettingError> {
        let mut secret = Secret::new(current)?;
        secret.values.push(non_empty(previous.as_ref())?);
        Ok(secret)
    }

    /// Whether a second (previous) value is active.
    pub fn is_rotating(&self) -> bool {
        self.values.len() > 1
    }

    /// Constant-time: does `candidate` equal one of the active values?
    ///
    /// Both sides are hashed first so that neither the length of the secret nor the position of
    /// the first differing byte shows in the timing; every value is compared, with no early exit.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let candidate = Sha256::digest(candidate);
        let mut found = Choice::from(0);
        for value in &self.values {
            found |= Sha256::digest(value).ct_eq(&candidate);
        }
        found.into()
    }

    /// The current value, only for handing it to the sender that signs with it (Autotask's
    /// webhook `SecretKey`, set by `syncbridge register-webhooks`). Never log it.
    pub fn expose_current(&self) -> &[u8] {
        &self.values[0]
    }

    /// The active values, current first (for computing HMACs).
    pub(crate) fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.values.iter().map(Vec::as_slice)
    }

    /// A secret whose values are derived from this one's (e.g. `whsec_` decoding).
    pub(crate) fn try_map(
        &self,
        mut derive: impl FnMut(&[u8]) -> Result<Vec<u8>, SettingError>,
    ) -> Result<Secret, SettingError> {
        let mut values = Vec::with_capacity(self.values.len());
        for value in &self.values {
            values.push(non_empty(&derive(value)?)?);
        }
        Ok(Secret { values })
    }
}

fn non_empty(value: &[u8]) -> Result<Vec<u8>, SettingError> {
    if value.is_empty() {
        Err(SettingError::InvalidSecret("empty"))
    } else {
        Ok(value.to_vec())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for value in &mut self.values {
            value.fill(0);
            // Keeps the optimiser from treating the writes as dead (best effort, no unsafe).
            std::hint::black_box(&value);
        }
    }
}
