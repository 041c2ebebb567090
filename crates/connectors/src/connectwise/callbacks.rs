//! Registering syncbridge's callbacks with ConnectWise (`system/callbacks`, webhooks.md §1.1),
//! idempotently.
//!
//! One callback per synced object type (`company`, `contact`, `configuration`; sites have no
//! callbacks), level `owner`, active, `isSelfSuppressedFlag` true so changes made by our own API
//! member send nothing back. A callback is ours when its `url` is our ingest URL and its `type`
//! matches; ours are kept (and corrected with a PUT when level or flags differ), never
//! duplicated. Callbacks with any other URL are never touched.
//!
//! ConnectWise appends the record id to the registered URL verbatim, so the URL should end with
//! `/` (our route is `/webhooks/{tenant}/connectwise/{id}`).

use reqwest::Method;
use serde_json::{json, Value};

use super::ConnectWiseClient;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::registration::{RegistrationOutcome, RegistrationReport};

const CALLBACKS: &str = "system/callbacks";
/// The object types syncbridge hears about (company, contact, configuration records).
const CALLBACK_TYPES: [&str; 3] = ["company", "contact", "configuration"];
const LEVEL: &str = "owner";
/// `objectId` of an owner-level callback (required even though the level has no object).
const OWNER_OBJECT_ID: u64 = 1;
const DESCRIPTION: &str = "syncbridge";

fn flag(cb: &Value, key: &str) -> bool {
    cb.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn text<'a>(cb: &'a Value, key: &str) -> &'a str {
    cb.get(key).and_then(Value::as_str).unwrap_or("")
}

fn id_of(cb: &Value) -> Option<u64> {
    cb.get("id").and_then(Value::as_u64)
}

/// What differs between a callback of ours and what we want (level, active, self-suppressed).
fn differences(cb: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !text(cb, "level").eq_ignore_ascii_case(LEVEL) {
        out.push(format!("level {:?} → {LEVEL:?}", text(cb, "level")));
    }
    if flag(cb, "inactiveFlag") {
        out.push("inactiveFlag true → false".into());
    }
    if !flag(cb, "isSelfSuppressedFlag") {
        out.push("isSelfSuppressedFlag false → true".into());
    }
    out
}

impl ConnectWiseClient {
    /// Makes sure one owner-level, self-suppressed callback per synced type (`company`,
    /// `contact`, `configuration`) posts to `url`; creates what is missing, corrects ours where level or
    /// flags differ, never duplicates and never touches callbacks with another URL.
    pub async fn ensure_callbacks(&self, url: &str) -> Result<RegistrationReport> {
        if url.is_empty() {
            return Err(Error::InvalidInput("a callback needs a URL".into()));
        }
        let mut report = RegistrationReport::new("ConnectWise");
        let existing = self.all_rows(CALLBACKS, None).await?;
        // Our member's record id, learnt from a callback we create (its `memberId`).
        let mut our_member: Option<u64> = None;
        let mut reused: Vec<(String, u64)> = Vec::new();
        for kind in CALLBACK_TYPES {
            let ours: Vec<&Value> = existing
                .iter()
                .filter(|cb| text(cb, "url") == url && text(cb, "type").eq_ignore_ascii_case(kind))
                .collect();
            let Some(first) = ours.first() else {
                let body = json!({
                    "url": url,
                    "objectId": OWNER_OBJECT_ID,
                    "type": kind,
                    "level": LEVEL,
                    "description": DESCRIPTION,
                    "inactiveFlag": false,
                    "isSelfSuppressedFlag": true,
                });
                let created = self
                    .call(Method::POST, CALLBACKS, &[], Some(body), Retry::Once)
                    .await?
                    .json()?;
                let id = id_of(&created)
                    .ok_or_else(|| Error::malformed("created callback without id"))?;
                if let Some(m) = created.get("memberId").and_then(Value::as_u64) {
                    our_member.get_or_insert(m);
                }
                report.push(
                    format!("callback {kind} (id {id})"),
                    RegistrationOutcome::Created,
                );
                continue;
            };
            let id = id_of(first).ok_or_else(|| Error::malformed("callback without id"))?;
            if let Some(m) = first.get("memberId").and_then(Value::as_u64) {
                reused.push((kind.to_owned(), m));
            }
            let changes = differences(first);
            if changes.is_empty() {
                report.push(
                    format!("callback {kind} (id {id})"),
                    RegistrationOutcome::InPlace,
                );
            } else {
                let mut body = (*first).clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("_info");
                    if !text(first, "level").eq_ignore_ascii_case(LEVEL) {
                        o.insert("objectId".into(), OWNER_OBJECT_ID.into());
                    }
                    o.insert("level".into(), LEVEL.into());
                    o.insert("inactiveFlag".into(), false.into());
                    o.insert("isSelfSuppressedFlag".into(), true.into());
                }
                self.call(
                    Method::PUT,
                    &format!("{CALLBACKS}/{id}"),
                    &[],
                    Some(body),
                    Retry::Idempotent,
                )
                .await?;
                report.push(
                    format!("callback {kind} (id {id})"),
                    RegistrationOutcome::Updated(changes),
                );
            }
            for dup in ours.iter().skip(1).filter_map(|cb| id_of(cb)) {
                report.notes.push(format!(
                    "callback {kind} id {dup} duplicates id {id} (same URL and type); \
                     left in place — delete it in ConnectWise to avoid double deliveries"
                ));
            }
        }
        if let Some(me) = our_member {
            for (kind, member) in reused.iter().filter(|(_, m)| *m != me) {
                report.notes.push(format!(
                    "callback {kind} was registered by member {member}, not by our API member \
                     {me}: isSelfSuppressedFlag suppresses that member's changes, not ours; \
                     delete it and run register-webhooks again"
                ));
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_level_and_flags() {
        let ok = json!({"level": "Owner", "inactiveFlag": false, "isSelfSuppressedFlag": true});
        assert!(differences(&ok).is_empty());
        let off = json!({"level": "company", "inactiveFlag": true});
        assert_eq!(differences(&off).len(), 3);
    }
}
