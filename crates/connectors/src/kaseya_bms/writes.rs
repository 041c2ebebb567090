//! Creates and updates: creates never duplicate (`create_without_duplicates`), accounts and
//! contacts are patched with JSON-Patch, assets (no PATCH) are PUT whole with the changes merged,
//! and a contact's e-mail and phone go through their list operations (`contact_lists`).

use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::{Changes, Entity, Record, Values};

use super::client::BmsClient;
use super::contact_lists::{list_ops, new_list, ListChange};
use super::fields::{number, to_record, write, Written};
use crate::create::{create_without_duplicates, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::itglue::encode_segment;

impl BmsClient {
    pub async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        self.check_entity(entity)?;
        if entity == Entity::Location {
            return Err(Error::Unsupported(
                "Kaseya BMS v2 creates locations only with their account".into(),
            ));
        }
        create_without_duplicates(self, entity, org_id, values).await
    }

    /// Sends only the given fields (JSON-Patch for accounts and contacts, a PUT of the merged
    /// DTO for assets, which have no PATCH) and returns the record read back.
    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        self.check_entity(entity)?;
        match entity {
            Entity::Location => {
                return Err(Error::Unsupported(
                    "Kaseya BMS v2 has no location update".into(),
                ))
            }
            Entity::Organization => {
                let fields = write(entity, changes, self).await?.fields;
                if !fields.is_empty() {
                    let path = format!("/v2/crm/accounts/{}", encode_segment(id));
                    self.patch(&path, json_patch(fields)).await?;
                }
            }
            Entity::Contact => {
                let Written { fields, lists } = write(entity, changes, self).await?;
                if !fields.is_empty() {
                    let path = format!("/v2/crm/contacts/{}", encode_segment(id));
                    self.patch(&path, json_patch(fields)).await?;
                }
                if !lists.is_empty() {
                    self.update_contact_lists(id, lists).await?;
                }
            }
            Entity::Configuration => self.update_asset(id, changes).await?,
        }
        self.get(entity, id).await?.ok_or(Error::NotFound)
    }
}

/// A JSON-Patch `replace` per field (a cleared field replaced by `null`), PascalCase paths as
/// BMS clients send them.
fn json_patch(fields: Map<String, Value>) -> Value {
    Value::Array(
        fields
            .into_iter()
            .map(|(k, v)| {
                let mut c = k.chars();
                let path = format!(
                    "/{}",
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                );
                json!({"op": "replace", "path": path, "value": v})
            })
            .collect(),
    )
}

/// The fields of a contact create that `ContactInputDto` does not carry (audit BMS-4): job
/// title and point of contact, when the record has them; they follow in a PATCH over
/// `ContactPutInputDto`.
fn contact_put_only(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(k, v)| match k.as_str() {
            "jobTitle" => !v.is_null(),
            "poc" => *v == &Value::Bool(true),
            _ => false,
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl BmsClient {
    /// A created contact's `put_only` fields (see [`contact_put_only`]): one PATCH when there
    /// are any, then the contact as read back. A refused PATCH is returned as such; the contact
    /// exists then, and the next delivery finds it by key and updates it.
    async fn finish_contact(
        &self,
        created: Record,
        put_only: Map<String, Value>,
    ) -> Result<Record> {
        if put_only.is_empty() {
            return Ok(created);
        }
        let path = format!("/v2/crm/contacts/{}", encode_segment(&created.id));
        self.patch(&path, json_patch(put_only)).await?;
        self.get(Entity::Contact, &created.id)
            .await?
            .ok_or(Error::NotFound)
    }
}

impl BmsClient {
    /// One PATCH (JSON-Patch or list operations); its answer is not needed, as every write
    /// returns the record read back.
    async fn patch(&self, path: &str, body: Value) -> Result<()> {
        self.call(Method::PATCH, path, &[], Some(body), Retry::Idempotent)
            .await
            .map(drop)
    }

    /// The operations on a contact's `emails` / `phones` that set their default entries,
    /// computed from the contact as it is now; a list already right is not sent.
    async fn update_contact_lists(&self, id: &str, lists: Vec<ListChange>) -> Result<()> {
        let current = self
            .raw_get(Entity::Contact, id)
            .await?
            .ok_or(Error::NotFound)?;
        for (list, value) in lists {
            let ops = list_ops(&current, list, value.as_deref());
            if !ops.is_empty() {
                let path = format!("/v2/crm/contacts/{}/{}", encode_segment(id), list.list());
                self.patch(&path, Value::Array(ops)).await?;
            }
        }
        Ok(())
    }

    /// An asset has no PATCH: the asset as it is, with the changes merged in, is PUT whole.
    async fn update_asset(&self, id: &str, changes: &Changes) -> Result<()> {
        let mut current = match self.raw_get(Entity::Configuration, id).await? {
            Some(Value::Object(o)) => o,
            Some(_) => return Err(Error::malformed("asset is not an object")),
            None => return Err(Error::NotFound),
        };
        let fields = write(Entity::Configuration, changes, self).await?.fields;
        if fields.is_empty() {
            return Ok(());
        }
        // What the asset shows but its input DTO does not take: ids, audit stamps, and the
        // names beside the lookup ids we write.
        for k in [
            "id",
            "createdOn",
            "modifiedOn",
            "createdBy",
            "modifiedBy",
            "category",
            "state",
            "manufacturer",
            "accountLocation",
        ] {
            current.remove(k);
        }
        current.extend(fields);
        let path = format!("/v2/servicedesk/hardwareasset/{}", encode_segment(id));
        self.call(
            Method::PUT,
            &path,
            &[],
            Some(Value::Object(current)),
            Retry::Idempotent,
        )
        .await?;
        Ok(())
    }
}

impl KeyedCreate for BmsClient {
    async fn search_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        self.find_by_key(entity, org_id, key).await
    }

    async fn create_attempt(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        let changes = syncbridge_model::changes_setting(values);
        let Written { fields, lists } = write(entity, &changes, self).await?;
        // Contact fields the create DTO lacks, patched in after it.
        let mut put_only = Map::new();
        let org =
            || org_id.ok_or_else(|| Error::InvalidInput(format!("a {entity} needs its account")));
        let (path, mut body) = match entity {
            Entity::Organization => {
                let mut f = fields;
                f.insert("businessTypeId".into(), self.business_type_id.into());
                f.insert("accountManagerId".into(), self.account_manager_id.into());
                f.entry("isActive").or_insert(Value::Bool(true));
                // `Locations` and each location's `Addresses` are required (audit BMS-6);
                // an organization carries no address, so the one location gets one empty
                // main/billing address (every `AccountLocationAddressInputDto` field is
                // optional). Addresses come later from IT Glue's locations, if synced.
                f.insert(
                    "locations".into(),
                    json!([{"locationName": "Main", "isMain": true, "isActive": true,
                        "addresses": [{"isMain": true, "isBilling": true}]}]),
                );
                ("/v2/crm/accounts", f)
            }
            Entity::Contact => {
                let account = org()?;
                put_only = contact_put_only(&fields);
                let mut f = Map::new();
                // `ContactInputDto` (audit BMS-4): names, account, a location of the account
                // (non-null), phones and e-mails. Job title and point of contact are not in it:
                // they follow in a PATCH (`ContactPutInputDto`).
                for k in ["firstName", "lastName"] {
                    if let Some(v) = fields.get(k) {
                        f.insert(k.into(), v.clone());
                    }
                }
                f.insert("accountId".into(), number(Some(account), "account")?);
                let location = match fields.get("locationId").filter(|v| !v.is_null()) {
                    Some(l) => l.clone(),
                    None => {
                        let main = self.main_location(account).await?.ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "{} account {account} has no location: a contact needs one",
                                self.vendor()
                            ))
                        })?;
                        number(Some(&main), "location")?
                    }
                };
                f.insert("locationId".into(), location);
                for (list, value) in lists {
                    if let Some(v) = value {
                        f.insert(list.list().into(), new_list(list, &v));
                    }
                }
                ("/v2/crm/contacts/summary", f)
            }
            Entity::Configuration => {
                let mut f = fields;
                let account = org()?;
                f.insert("accountId".into(), number(Some(account), "account")?);
                if f.get("accountLocationId").is_none_or(Value::is_null) {
                    let main = self.main_location(account).await?;
                    f.insert(
                        "accountLocationId".into(),
                        number(main.as_deref(), "location")?,
                    );
                }
                ("/v2/servicedesk/hardwareasset", f)
            }
            Entity::Location => return Err(Error::unsupported_entity(self.vendor(), entity)),
        };
        body.retain(|_, v| !v.is_null());
        let (row, _) = self
            .call(
                Method::POST,
                path,
                &[],
                Some(Value::Object(body)),
                Retry::Once,
            )
            .await?;
        if entity == Entity::Configuration {
            self.learn(&row);
        }
        let created = to_record(entity, &row)?;
        if entity == Entity::Contact {
            return self.finish_contact(created, put_only).await;
        }
        Ok(created)
    }

    fn create_attempts(&self) -> u32 {
        self.http.policy().max_attempts
    }
}
