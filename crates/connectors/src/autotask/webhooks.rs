//! Registering syncbridge's webhooks with Autotask (`CompanyWebhooks`, `ContactWebhooks`,
//! `ConfigurationItemWebhooks`, webhooks.md §2.1), idempotently.
//!
//! Per entity one webhook posting to our `WebhookUrl`, with our `DeactivationUrl` and `SecretKey`,
//! active, subscribed to create, update and delete events; its subscribed fields
//! (`/{id}/Fields`, `FieldID` = the value of the `fieldID` picklist entry whose label names the
//! field, from `GET /{Singular}WebhookFields/entityInformation/fields`, as public clients read it;
//! labels are matched ignoring case, spaces and punctuation, since whether they are REST names
//! or display names is unverified) are the Autotask fields syncbridge maps for the
//! entity (the connector's field map, plus `companyID` for contacts and configuration items);
//! our API user's resource is in `/{id}/ExcludedResources`, so our own writes send no callout.
//!
//! A webhook is ours when its `WebhookUrl` is ours. Ours is reused and completed (flags,
//! DeactivationUrl, missing or unsubscribed fields, the excluded resource), never duplicated;
//! fields and exclusions someone else added are kept. Webhooks with another URL are not touched.
//! Autotask never shows a `SecretKey`: an existing webhook's key is only rewritten on request
//! ([`AutotaskWebhookSpec::rewrite_secret`]).
//!
//! Our API user's resource: given, else `Resources` queried by user name, else the
//! `ownerResourceID` of a webhook created in this run (the API user that created it), else the
//! owner of one of our webhooks that already excludes its owner (a previous run's work).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use syncbridge_model::{field_map, Entity, PsaKind};

use super::client::AutotaskClient;
use super::fields::{keys_of, PARENT_KEY};
use super::query::condition;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::registration::{AutotaskWebhookSpec, RegistrationOutcome, RegistrationReport};

/// Entities with webhooks that syncbridge syncs: (entity, REST collection, webhook resource).
const HOOKED: [(Entity, &str, &str); 3] = [
    (Entity::Organization, "Companies", "CompanyWebhooks"),
    (Entity::Contact, "Contacts", "ContactWebhooks"),
    (
        Entity::Configuration,
        "ConfigurationItems",
        "ConfigurationItemWebhooks",
    ),
];

/// A JSON key looked up case-insensitively (Autotask's casing varies between docs and answers).
fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn get_u64(v: &Value, key: &str) -> Option<u64> {
    match get(v, key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn get_bool(v: &Value, key: &str) -> bool {
    match get(v, key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() != Some(0),
        _ => false,
    }
}

fn get_str<'a>(v: &'a Value, key: &str) -> &'a str {
    get(v, key).and_then(Value::as_str).unwrap_or("")
}

fn items(doc: &Value) -> Result<&Vec<Value>> {
    get(doc, "items")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::malformed("answer without items"))
}

/// What the Autotask API says about a webhook a deactivation notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// `isActive` is true: the notice is not confirmed.
    Active,
    /// `isActive` is false: confirmed.
    Inactive,
    /// No webhook with that GUID exists any more (deleted): confirmed.
    Deleted,
}

/// One of our webhooks while it is being completed.
struct Hook {
    entity: Entity,
    collection: &'static str,
    resource: &'static str,
    id: u64,
    created: bool,
    changes: Vec<String>,
    owner: Option<u64>,
    excluded: Vec<u64>,
}

impl AutotaskClient {
    /// Makes sure one webhook per synced entity (companies, contacts, configuration items) sends
    /// callouts to `spec.webhook_url` as described in the module documentation; reports per
    /// webhook what was created, updated or already in place.
    pub async fn ensure_webhooks(
        &self,
        spec: &AutotaskWebhookSpec<'_>,
    ) -> Result<RegistrationReport> {
        let bad = |what: &str| Error::InvalidInput(what.to_owned());
        if spec.webhook_url.is_empty() || spec.deactivation_url.is_empty() {
            return Err(bad("Autotask requires both WebhookUrl and DeactivationUrl"));
        }
        if spec.secret.is_empty() || spec.secret.expose().chars().count() > 64 {
            return Err(bad("an Autotask SecretKey has 1 to 64 characters"));
        }
        let mut report = RegistrationReport::new("Autotask");
        let mut resource = match spec.exclude_resource_id {
            Some(id) => Some(id),
            None => self.api_user_resource().await?,
        };

        let mut hooks = Vec::new();
        for (entity, collection, hook_resource) in HOOKED {
            let existing = self.list_webhooks(hook_resource).await?;
            let ours: Vec<&Value> = existing
                .iter()
                .filter(|h| get_str(h, "webhookUrl") == spec.webhook_url)
                .collect();
            let hook = match ours.first() {
                None => self.create_webhook(entity, hook_resource, spec).await?,
                Some(found) => self.correct_webhook(hook_resource, found, spec).await?,
            };
            let hook = Hook {
                entity,
                collection,
                resource: hook_resource,
                ..hook
            };
            for dup in ours.iter().skip(1).filter_map(|h| get_u64(h, "id")) {
                report.notes.push(format!(
                    "{hook_resource} id {dup} duplicates id {} (same WebhookUrl); left in place \
                     — Autotask sends one callout per URL, but delete it to keep things clear",
                    hook.id
                ));
            }
            hooks.push(hook);
        }

        for hook in &mut hooks {
            let rest = format!("/{}/ExcludedResources", hook.id);
            let doc = self.at_get(hook.resource, &rest).await?;
            hook.excluded = items(&doc)?
                .iter()
                .filter_map(|e| get_u64(e, "resourceID"))
                .collect();
        }
        if resource.is_none() {
            resource = hooks
                .iter()
                .filter(|h| h.created)
                .find_map(|h| h.owner)
                .or_else(|| {
                    hooks
                        .iter()
                        .filter_map(|h| h.owner.filter(|o| h.excluded.contains(o)))
                        .next()
                });
        }

        let mut field_ids: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
        for hook in &mut hooks {
            let ids = match field_ids.get(hook.collection) {
                Some(ids) => ids.clone(),
                None => {
                    let ids = self.webhook_field_ids(hook.resource).await?;
                    field_ids.insert(hook.collection, ids.clone());
                    ids
                }
            };
            self.complete_fields(hook, &ids, &mut report).await?;
            if let Some(me) = resource {
                if !hook.excluded.contains(&me) {
                    self.call(
                        Method::POST,
                        hook.resource,
                        &format!("/{}/ExcludedResources", hook.id),
                        Some(json!({"ResourceID": me, "WebhookID": hook.id})),
                        Retry::Once,
                    )
                    .await?;
                    hook.changes
                        .push(format!("our API user (resource {me}) excluded"));
                }
            }
        }
        match resource {
            Some(me) => report.notes.push(format!(
                "our API user is resource {me}: its changes send no callout"
            )),
            None => report.notes.push(
                "could not tell our API user's resource (no Resources access and no webhook \
                 created in this run): not added to ExcludedResources — our own writes will \
                 come back as callouts until it is"
                    .into(),
            ),
        }

        for hook in hooks {
            let subject = format!("{} webhook (id {})", hook.resource, hook.id);
            let outcome = if hook.created {
                RegistrationOutcome::Created
            } else if hook.changes.is_empty() {
                RegistrationOutcome::InPlace
            } else {
                RegistrationOutcome::Updated(hook.changes)
            };
            report.push(subject, outcome);
        }
        Ok(report)
    }

    /// `GET {endpoint}{rest}` as JSON.
    async fn at_get(&self, endpoint: &str, rest: &str) -> Result<Value> {
        self.call(Method::GET, endpoint, rest, None, Retry::Idempotent)
            .await?
            .json()
    }

    /// The resource behind our API user name, when `Resources` can be queried.
    async fn api_user_resource(&self) -> Result<Option<u64>> {
        let filter = json!({"filter": [{"op": "or", "items": [
            condition("eq", "userName", self.username.clone().into()),
            condition("eq", "email", self.username.clone().into()),
        ]}], "MaxRecords": 2});
        let doc = match self
            .call(
                Method::POST,
                "Resources",
                "/query",
                Some(filter),
                Retry::Idempotent,
            )
            .await
        {
            Ok(reply) => reply.json()?,
            // No Resources entity or no permission to read it: learnt otherwise.
            Err(Error::NotFound | Error::Rejected { .. } | Error::Auth { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let found = items(&doc)?;
        Ok(match found.as_slice() {
            [one] => get_u64(one, "id"),
            _ => None,
        })
    }

    /// Every webhook of one resource (paged by id like every Autotask listing, AT-3).
    async fn list_webhooks(&self, resource: &str) -> Result<Vec<Value>> {
        let mut out = self.query_all(resource, Vec::new()).await?;
        out.sort_by_key(|h| get_u64(h, "id"));
        Ok(out)
    }

    /// What Autotask says about the webhook with this GUID, to confirm a deactivation notice
    /// before acting on it (a verified notice is still only a claim: GHSA-hh59-fgrr-93hf). The
    /// notice's `EntityType` names the webhook resource to ask; without one, all three are asked.
    pub async fn webhook_state(
        &self,
        entity_type: Option<&str>,
        guid: &str,
    ) -> Result<WebhookState> {
        let named = entity_type.and_then(|t| {
            HOOKED
                .iter()
                .find(|(_, _, resource)| {
                    resource
                        .trim_end_matches("Webhooks")
                        .eq_ignore_ascii_case(t)
                })
                .map(|(_, _, resource)| *resource)
        });
        let resources: Vec<&str> = match named {
            Some(resource) => vec![resource],
            None => HOOKED.iter().map(|(_, _, r)| *r).collect(),
        };
        for resource in resources {
            let filter = vec![condition("eq", "webhookGUID", guid.into())];
            let found = self.query_all(resource, filter).await?;
            // Filter again here: the answer must be about this GUID, whatever the server did.
            if let Some(hook) = found.iter().find(|h| get_str(h, "webhookGUID") == guid) {
                return match get(hook, "isActive") {
                    Some(Value::Bool(true)) => Ok(WebhookState::Active),
                    Some(Value::Bool(false)) => Ok(WebhookState::Inactive),
                    _ => Err(Error::malformed("webhook without isActive")),
                };
            }
        }
        Ok(WebhookState::Deleted)
    }

    async fn create_webhook(
        &self,
        entity: Entity,
        resource: &'static str,
        spec: &AutotaskWebhookSpec<'_>,
    ) -> Result<Hook> {
        let name = format!("syncbridge {}", resource.trim_end_matches("Webhooks"));
        let body = json!({
            "Name": name,
            "WebhookUrl": spec.webhook_url,
            "DeactivationUrl": spec.deactivation_url,
            "SecretKey": spec.secret.expose(),
            "IsActive": true,
            "IsSubscribedToCreateEvents": true,
            "IsSubscribedToUpdateEvents": true,
            "IsSubscribedToDeleteEvents": true,
            "SendThresholdExceededNotification": true,
        });
        let doc = self
            .call(Method::POST, resource, "", Some(body), Retry::Once)
            .await?
            .json()?;
        let id = get_u64(&doc, "itemId")
            .ok_or_else(|| Error::malformed("webhook create answer without itemId"))?;
        let read = self.at_get(resource, &format!("/{id}")).await?;
        let owner = get(&read, "item").and_then(|i| get_u64(i, "ownerResourceID"));
        Ok(Hook {
            entity,
            collection: "",
            resource,
            id,
            created: true,
            changes: Vec::new(),
            owner,
            excluded: Vec::new(),
        })
    }

    /// Corrects flags and the DeactivationUrl of an existing webhook of ours (one PATCH).
    async fn correct_webhook(
        &self,
        resource: &'static str,
        found: &Value,
        spec: &AutotaskWebhookSpec<'_>,
    ) -> Result<Hook> {
        let id = get_u64(found, "id").ok_or_else(|| Error::malformed("webhook without id"))?;
        let mut patch = serde_json::Map::new();
        let mut changes = Vec::new();
        for key in [
            "IsActive",
            "IsSubscribedToCreateEvents",
            "IsSubscribedToUpdateEvents",
            "IsSubscribedToDeleteEvents",
        ] {
            if !get_bool(found, key) {
                patch.insert(key.into(), true.into());
                changes.push(format!("{key} false → true"));
            }
        }
        if get_str(found, "deactivationUrl") != spec.deactivation_url {
            patch.insert("DeactivationUrl".into(), spec.deactivation_url.into());
            changes.push("DeactivationUrl set".into());
        }
        if spec.rewrite_secret {
            patch.insert("SecretKey".into(), spec.secret.expose().into());
            changes.push("SecretKey set to the current webhook secret".into());
        }
        if !patch.is_empty() {
            self.patch(resource, id, patch).await?;
        }
        Ok(Hook {
            entity: Entity::Organization,
            collection: "",
            resource,
            id,
            created: false,
            changes,
            owner: get_u64(found, "ownerResourceID"),
            excluded: Vec::new(),
        })
    }

    /// Field name ([`field_key`]) → webhook FieldID of one webhook resource (`CompanyWebhooks`):
    /// the `fieldID` picklist of `GET /CompanyWebhookFields/entityInformation/fields`.
    async fn webhook_field_ids(&self, resource: &str) -> Result<BTreeMap<String, u64>> {
        let endpoint = format!("{}Fields", resource.trim_end_matches('s'));
        let doc = self.at_get(&endpoint, "/entityInformation/fields").await?;
        webhook_field_picklist(&doc)
    }

    /// Subscribes the mapped fields that are missing or not subscribed.
    async fn complete_fields(
        &self,
        hook: &mut Hook,
        ids: &BTreeMap<String, u64>,
        report: &mut RegistrationReport,
    ) -> Result<()> {
        let path = format!("/{}/Fields", hook.id);
        let doc = self.at_get(hook.resource, &path).await?;
        let present: Vec<(u64, u64, bool)> = items(&doc)?
            .iter()
            .filter_map(|f| {
                Some((
                    get_u64(f, "fieldID")?,
                    get_u64(f, "id")?,
                    get_bool(f, "isSubscribedField"),
                ))
            })
            .collect();
        let mut added = Vec::new();
        for name in subscribed_field_names(hook.entity) {
            let Some(&field_id) = ids.get(&field_key(name)) else {
                report.notes.push(format!(
                    "{}: Autotask lists no webhook field {name}; not subscribed",
                    hook.resource
                ));
                continue;
            };
            match present.iter().find(|(f, _, _)| *f == field_id) {
                Some((_, _, true)) => continue,
                Some((_, child, false)) => {
                    // Not subscribed (display-only): replaced by a subscribed entry.
                    self.call(
                        Method::DELETE,
                        hook.resource,
                        &format!("{path}/{child}"),
                        None,
                        Retry::Idempotent,
                    )
                    .await?;
                }
                None => {}
            }
            self.call(
                Method::POST,
                hook.resource,
                &path,
                Some(json!({"FieldID": field_id, "IsSubscribedField": true,
                    "IsDisplayAlwaysField": false, "WebhookID": hook.id})),
                Retry::Once,
            )
            .await?;
            added.push(name);
        }
        if !added.is_empty() {
            hook.changes
                .push(format!("subscribed fields added: {}", added.join(", ")));
        }
        Ok(())
    }
}

/// The Autotask fields syncbridge maps for `entity`: the keys the connector's field table
/// gives the model's field list, plus the parent company of contacts and configuration
/// items.
fn subscribed_field_names(entity: Entity) -> Vec<&'static str> {
    let mut names = keys_of(
        entity,
        field_map(PsaKind::Autotask, entity).iter().map(|s| s.field),
    );
    if entity.has_parent_org() {
        names.push(PARENT_KEY);
    }
    names.sort();
    names.dedup();
    names
}

/// A field name as webhook field labels are compared: lower case, letters and digits only
/// (`companyName`, `Company Name` → `companyname`).
fn field_key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The `fieldID` picklist of a `…WebhookFields/entityInformation/fields` answer: label
/// ([`field_key`]) → FieldID.
fn webhook_field_picklist(doc: &Value) -> Result<BTreeMap<String, u64>> {
    let fields = get(doc, "fields")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::malformed("WebhookFields entityInformation without fields"))?;
    let field_id = fields
        .iter()
        .find(|f| get_str(f, "name").eq_ignore_ascii_case("fieldID"))
        .ok_or_else(|| Error::malformed("WebhookFields entityInformation without fieldID"))?;
    Ok(get(field_id, "picklistValues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let id = match get(v, "value")? {
                Value::Number(n) => n.as_u64()?,
                Value::String(s) => s.trim().parse().ok()?,
                _ => return None,
            };
            Some((field_key(get_str(v, "label")), id))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_field_ids_come_from_the_field_id_picklist() {
        let doc = json!({"fields": [
            {"name": "id", "picklistValues": null},
            {"name": "fieldID", "isPickList": true, "picklistValues": [
                {"value": "101", "label": "companyName"},
                {"value": 7, "label": "Company Number"},
                {"value": "x", "label": "broken"}
            ]}
        ]});
        let ids = webhook_field_picklist(&doc).unwrap();
        assert_eq!(ids.get(&field_key("companyName")), Some(&101));
        assert_eq!(ids.get(&field_key("companyNumber")), Some(&7));
        assert_eq!(ids.len(), 2);
        assert!(webhook_field_picklist(&json!({"fields": []})).is_err());
    }
}
