//! What registering our webhooks with a vendor did: one line per registration (a ConnectWise
//! callback, an Autotask webhook), each created, updated (with what changed) or already in place,
//! plus notes (for example registrations that look like ours but were left alone).
//!
//! Produced by `ConnectWiseClient::ensure_callbacks` and `AutotaskClient::ensure_webhooks`, which
//! are idempotent: a second run reports everything as [`RegistrationOutcome::InPlace`].

use std::fmt;

use crate::secret::ApiSecret;

/// What `AutotaskClient::ensure_webhooks` registers.
#[derive(Debug, Clone, Copy)]
pub struct AutotaskWebhookSpec<'a> {
    /// Where callouts go (`{public}/webhooks/{tenant}/autotask`); identifies our webhooks.
    pub webhook_url: &'a str,
    /// The required DeactivationUrl (`{public}/webhooks/{tenant}/autotask/deactivated`).
    pub deactivation_url: &'a str,
    /// The webhooks' `SecretKey` (at most 64 characters): the current webhook secret.
    pub secret: &'a ApiSecret,
    /// Our API user's resource id, for `ExcludedResources`. `None`: looked up (`Resources` by
    /// user name), else learnt from a webhook created in this run (its `ownerResourceID` is the
    /// API user that created it).
    pub exclude_resource_id: Option<u64>,
    /// Also send `SecretKey` to webhooks that already exist. Autotask never shows a webhook's
    /// `SecretKey`, so it cannot be compared: set this during a secret rotation.
    pub rewrite_secret: bool,
}

/// What happened to one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// It did not exist; it was created.
    Created,
    /// It existed and was completed or corrected; the list says what changed.
    Updated(Vec<String>),
    /// It existed as wanted; nothing was sent.
    InPlace,
}

/// One registration and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationItem {
    /// What it is, e.g. `callback company (id 26552)`.
    pub subject: String,
    pub outcome: RegistrationOutcome,
}

/// The result of one vendor's registration run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationReport {
    /// `ConnectWise`, `Autotask`.
    pub vendor: &'static str,
    pub items: Vec<RegistrationItem>,
    /// Things worth knowing that are not a registration's outcome.
    pub notes: Vec<String>,
}

impl RegistrationReport {
    pub(crate) fn new(vendor: &'static str) -> Self {
        RegistrationReport {
            vendor,
            items: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, subject: impl Into<String>, outcome: RegistrationOutcome) {
        self.items.push(RegistrationItem {
            subject: subject.into(),
            outcome,
        });
    }

    /// Whether the run created or changed anything at the vendor.
    pub fn changed(&self) -> bool {
        self.items
            .iter()
            .any(|i| i.outcome != RegistrationOutcome::InPlace)
    }

    /// Human-readable lines, one per registration, then the notes.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .items
            .iter()
            .map(|i| {
                let what = match &i.outcome {
                    RegistrationOutcome::Created => "created".to_owned(),
                    RegistrationOutcome::Updated(changes) => {
                        format!("updated ({})", changes.join(", "))
                    }
                    RegistrationOutcome::InPlace => "already in place".to_owned(),
                };
                format!("{}: {} {what}", self.vendor, i.subject)
            })
            .collect();
        out.extend(self.notes.iter().map(|n| format!("{}: {n}", self.vendor)));
        if !self.changed() && !self.items.is_empty() {
            out.push(format!("{}: nothing changed", self.vendor));
        }
        out
    }
}

impl fmt::Display for RegistrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_happened() {
        let mut r = RegistrationReport::new("ConnectWise");
        r.push("callback company", RegistrationOutcome::InPlace);
        assert!(!r.changed());
        assert_eq!(
            r.lines(),
            vec![
                "ConnectWise: callback company already in place",
                "ConnectWise: nothing changed"
            ]
        );
        r.push(
            "callback contact",
            RegistrationOutcome::Updated(vec!["isSelfSuppressedFlag".into()]),
        );
        assert!(r.changed());
        assert_eq!(
            r.lines()[1],
            "ConnectWise: callback contact updated (isSelfSuppressedFlag)"
        );
    }
}
