//! Autotask PSA connector: the REST API under `/atservicesrest/v1.0/` (reference
//! sync-rules-and-apis.md §4.2).
//!
//! Headers `ApiIntegrationCode` / `UserName` / `Secret`; queries as `POST /{Entity}/query` with
//! the filter JSON; listings page by id (`id gt <last id>`, 500 rows per request) rather than by
//! following `nextPageUrl`, so a page that failed can be asked again (a `nextPageUrl` token may
//! be single-use); partial `PATCH /{Entity}` with the id in the body, then a read-back (Autotask
//! answers writes with `{"itemId"}` only). Limits: a client budget of half of the published
//! 10,000 requests per hour, and at most 3 concurrent requests per entity endpoint (a semaphore
//! per endpoint; Autotask's thread limit counts per endpoint and integration code).
//!
//! Field map (canonical ⇄ Autotask, reference §2.2) lives in [`to_record`] and
//! [`AutotaskClient::wire_fields`]. Autotask has no location records that syncbridge syncs
//! (capability matrix): every location call is `Unsupported`.

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, Origin, Record, UnixMillis, Values};

use crate::api::{unsupported_entity, values_as_changes, Cursor, Page};
use crate::create::{create_without_duplicates, has_any_key, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::policy::{HttpPolicy, RateBudget};
use crate::secret::Secret;
use crate::wire::{id_of, millis, rfc3339, text};

/// Rows per query page (Autotask's maximum).
const PAGE_SIZE: u32 = 500;

/// Autotask's standard `companyType` picklist (tenants may add values: configure them).
pub const STANDARD_COMPANY_TYPES: [(i64, &str); 7] = [
    (1, "Customer"),
    (2, "Lead"),
    (3, "Prospect"),
    (4, "Dead"),
    (6, "Cancellation"),
    (7, "Vendor"),
    (8, "Partner"),
];

/// How to reach one Autotask database.
#[derive(Debug, Clone)]
pub struct AutotaskConfig {
    /// The zone's REST base, `https://webservices{n}.autotask.net/atservicesrest/v1.0`.
    pub api_url: String,
    pub username: String,
    pub secret: Secret,
    /// The tracking identifier (`ApiIntegrationCode`).
    pub integration_code: Secret,
    /// `ownerResourceID` of companies we create: a non-API resource (reference §1.3, S15).
    pub owner_resource_id: u64,
    /// `companyType` picklist (value, label).
    pub company_types: Vec<(i64, String)>,
    /// `configurationItemType` picklist (value, label); tenant-specific.
    pub configuration_item_types: Vec<(i64, String)>,
    pub http: HttpPolicy,
}

impl AutotaskConfig {
    pub fn new(
        api_url: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<Secret>,
        integration_code: impl Into<Secret>,
        owner_resource_id: u64,
    ) -> Self {
        AutotaskConfig {
            api_url: api_url.into(),
            username: username.into(),
            secret: secret.into(),
            integration_code: integration_code.into(),
            owner_resource_id,
            company_types: STANDARD_COMPANY_TYPES
                .iter()
                .map(|(v, l)| (*v, (*l).to_owned()))
                .collect(),
            configuration_item_types: Vec::new(),
            http: HttpPolicy {
                per_endpoint_concurrency: Some(3),
                ..HttpPolicy::default()
            }
            .with_rate(Some(
                RateBudget::per(5000, Duration::from_secs(3600)).with_burst(10),
            )),
        }
    }
}

/// Finds a user's zone: `GET {lookup}/zoneInformation?user=…` (unauthenticated, not thread
/// limited) answers `{"url": "https://webservices{n}.autotask.net/atservicesrest"}`; the returned
/// REST base (with `/v1.0`) goes into [`AutotaskConfig::api_url`]. `lookup` is
/// `https://webservices.autotask.net/atservicesrest/v1.0` for the real service.
pub async fn discover_zone(lookup: &str, username: &str, policy: HttpPolicy) -> Result<String> {
    let http = Http::new(policy, Vec::new())?;
    let mut url = url::Url::parse(&format!("{}/zoneInformation", lookup.trim_end_matches('/')))
        .map_err(|e| Error::Rejected {
            status: 0,
            body_excerpt: format!("bad Autotask URL: {e}"),
        })?;
    url.query_pairs_mut().append_pair("user", username);
    let doc = http
        .send("zoneInformation", Retry::Idempotent, |c| c.get(url.clone()))
        .await?
        .json()?;
    let zone = text(doc.get("url")).ok_or_else(|| Error::malformed("zone answer without url"))?;
    Ok(format!("{}/v1.0", zone.trim_end_matches('/')))
}

/// An Autotask REST client.
#[derive(Debug)]
pub struct AutotaskClient {
    http: Http,
    base: String,
    username: String,
    secret: HeaderValue,
    integration_code: HeaderValue,
    owner_resource_id: u64,
    company_types: Vec<(i64, String)>,
    ci_types: Vec<(i64, String)>,
}

fn entity_name(entity: Entity) -> Result<&'static str> {
    match entity {
        Entity::Organization => Ok("Companies"),
        Entity::Contact => Ok("Contacts"),
        Entity::Configuration => Ok("ConfigurationItems"),
        Entity::Location => Err(unsupported_entity("Autotask", entity)),
    }
}

fn modified_field(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "lastTrackedModifiedDateTime",
        Entity::Contact => "lastModifiedDate",
        _ => "lastModifiedTime",
    }
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| Error::Auth { status: 0 })?;
    v.set_sensitive(true);
    Ok(v)
}

fn label(list: &[(i64, String)], value: Option<&Value>) -> Option<String> {
    let n = value?.as_i64()?;
    Some(
        list.iter()
            .find(|(v, _)| *v == n)
            .map_or_else(|| n.to_string(), |(_, l)| l.clone()),
    )
}

fn picklist_value(list: &[(i64, String)], name: &str, kind: &str) -> Result<i64> {
    list.iter()
        .find(|(_, l)| l == name)
        .map(|(v, _)| *v)
        .or_else(|| name.parse().ok())
        .ok_or_else(|| Error::UnknownLookup {
            kind: kind.to_owned(),
            name: name.to_owned(),
        })
}

fn condition(op: &str, field: &str, value: Value) -> Value {
    json!({"op": op, "field": field, "value": value})
}

impl AutotaskClient {
    pub fn new(config: AutotaskConfig) -> Result<Self> {
        let http = Http::new(
            config.http,
            vec![config.secret.clone(), config.integration_code.clone()],
        )?;
        Ok(AutotaskClient {
            http,
            base: config.api_url.trim_end_matches('/').to_owned(),
            username: config.username,
            secret: sensitive(config.secret.expose())?,
            integration_code: sensitive(config.integration_code.expose())?,
            owner_resource_id: config.owner_resource_id,
            company_types: config.company_types,
            ci_types: config.configuration_item_types,
        })
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    async fn call(
        &self,
        method: Method,
        entity: &str,
        rest: &str,
        body: Option<Value>,
        retry: Retry,
    ) -> Result<Reply> {
        let url = format!("{}/{entity}{rest}", self.base);
        let body = body.map(|b| b.to_string());
        self.http
            .send(entity, retry, |c| {
                let rb = c
                    .request(method.clone(), &url)
                    .header("ApiIntegrationCode", self.integration_code.clone())
                    .header("UserName", &self.username)
                    .header("Secret", self.secret.clone());
                match &body {
                    Some(b) => rb.header(CONTENT_TYPE, "application/json").body(b.clone()),
                    None => rb,
                }
            })
            .await
    }

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        let name = entity_name(entity)?;
        let Ok(num) = id.parse::<u64>() else {
            return Ok(None);
        };
        match self
            .call(
                Method::GET,
                name,
                &format!("/{num}"),
                None,
                Retry::Idempotent,
            )
            .await
        {
            Ok(reply) => {
                let doc = reply.json()?;
                match doc.get("item") {
                    Some(Value::Null) | None => Ok(None),
                    Some(item) => self.to_record(entity, item).map(Some),
                }
            }
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of `filter` AND `id > cursor`, ids ascending.
    async fn query_page(
        &self,
        entity: Entity,
        mut filter: Vec<Value>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let name = entity_name(entity)?;
        let after: u64 = match cursor {
            Some(c) => {
                c.0.parse()
                    .map_err(|_| Error::malformed("bad Autotask cursor"))?
            }
            None => 0,
        };
        filter.push(condition("gt", "id", Value::from(after)));
        let body = json!({"filter": filter, "MaxRecords": PAGE_SIZE});
        let doc = self
            .call(Method::POST, name, "/query", Some(body), Retry::Idempotent)
            .await?
            .json()?;
        let items = doc
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::malformed("query answer without items"))?;
        let records: Vec<Record> = items
            .iter()
            .map(|i| self.to_record(entity, i))
            .collect::<Result<_>>()?;
        let more = doc
            .pointer("/pageDetails/nextPageUrl")
            .is_some_and(|u| u.as_str().is_some_and(|s| !s.is_empty()));
        let last = records
            .iter()
            .filter_map(|r| r.id.parse::<u64>().ok())
            .max();
        let next = match last {
            Some(last) if more => Some(Cursor(last.to_string())),
            _ => None,
        };
        Ok(Page { records, next })
    }

    pub async fn list_page(&self, entity: Entity, cursor: Option<&Cursor>) -> Result<Page> {
        self.query_page(entity, Vec::new(), cursor).await
    }

    /// Records whose last-modified field is at or after `since`.
    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        entity_name(entity)?;
        let f = vec![condition(
            "gte",
            modified_field(entity),
            rfc3339(since).into(),
        )];
        self.query_page(entity, f, cursor).await
    }

    pub async fn list_all(&self, entity: Entity) -> Result<Vec<Record>> {
        crate::api::drain_pages(
            |cursor| async move { self.list_page(entity, cursor.as_ref()).await },
        )
        .await
    }

    /// Narrow search by key (`eq` is case-insensitive in Autotask; the caller compares exactly).
    pub async fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        entity_name(entity)?;
        if !has_any_key(entity, key) {
            return Ok(Vec::new());
        }
        let mut f = Vec::new();
        let mut eq = |field: &str, v: Option<&str>| {
            if let Some(v) = v {
                f.push(condition("eq", field, v.into()));
            }
        };
        match entity {
            Entity::Organization => eq("companyName", key.get(Field::Name)),
            Entity::Contact => {
                eq("firstName", key.get(Field::FirstName));
                eq("lastName", key.get(Field::LastName));
            }
            _ => eq("referenceTitle", key.get(Field::Name)),
        }
        if entity.has_parent_org() {
            if let Some(org) = org_id {
                let n: u64 = org.parse().map_err(|_| Error::Rejected {
                    status: 0,
                    body_excerpt: format!("Autotask company id {org:?} is not a number"),
                })?;
                f.push(condition("eq", "companyID", n.into()));
            }
        }
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.query_page(entity, f.clone(), cursor.as_ref()).await?;
            out.extend(page.records);
            match page.next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    pub async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        entity_name(entity)?;
        create_without_duplicates(self, entity, org_id, values).await
    }

    /// Partial PATCH of only the given fields, then the record read back.
    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        let name = entity_name(entity)?;
        let num: u64 = id.parse().map_err(|_| Error::NotFound)?;
        let mut fields = self.wire_fields(entity, changes)?;
        if !fields.is_empty() {
            fields.insert("id".into(), num.into());
            self.call(
                Method::PATCH,
                name,
                "",
                Some(Value::Object(fields)),
                Retry::Idempotent,
            )
            .await?;
        }
        self.get(entity, id).await?.ok_or(Error::NotFound)
    }

    /// Canonical changes → Autotask fields.
    fn wire_fields(&self, entity: Entity, changes: &Changes) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (field, value) in changes {
            let v = value.as_deref().filter(|s| !s.is_empty());
            let s = |x: Option<&str>| x.map_or(Value::Null, Value::from);
            let active = |x: Option<&str>| {
                Value::Bool(x.is_some_and(|s| !s.eq_ignore_ascii_case("inactive")))
            };
            let num = |x: Option<&str>| -> Result<Value> {
                match x {
                    None => Ok(Value::Null),
                    Some(s) => s
                        .parse::<u64>()
                        .map(Value::from)
                        .map_err(|_| Error::Rejected {
                            status: 0,
                            body_excerpt: format!("Autotask reference {s:?} is not a record id"),
                        }),
                }
            };
            let (key, val): (&str, Value) = match (entity, field) {
                (Entity::Organization, Field::Name) => ("companyName", s(v)),
                (Entity::Organization, Field::ShortName) => ("companyNumber", s(v)),
                (Entity::Organization, Field::Status) => ("isActive", active(v)),
                (Entity::Organization, Field::Type) => match v {
                    Some(n) => (
                        "companyType",
                        picklist_value(&self.company_types, n, "company type")?.into(),
                    ),
                    None => ("companyType", Value::Null),
                },
                (Entity::Contact, Field::FirstName) => ("firstName", s(v)),
                (Entity::Contact, Field::LastName) => ("lastName", s(v)),
                (Entity::Contact, Field::Title) => ("title", s(v)),
                (Entity::Contact, Field::Email) => ("emailAddress", s(v)),
                (Entity::Contact, Field::Phone) => ("phone", s(v)),
                (Entity::Contact, Field::Mobile) => ("mobilePhone", s(v)),
                (Entity::Contact, Field::Fax) => ("faxNumber", s(v)),
                (Entity::Contact | Entity::Configuration, Field::Location) => {
                    ("companyLocationID", num(v)?)
                }
                (Entity::Configuration, Field::Name) => ("referenceTitle", s(v)),
                (Entity::Configuration, Field::AssetTag) => ("referenceNumber", s(v)),
                (Entity::Configuration, Field::SerialNumber) => ("serialNumber", s(v)),
                (Entity::Configuration, Field::Status) => ("isActive", active(v)),
                (Entity::Configuration, Field::Type) => match v {
                    Some(n) => (
                        "configurationItemType",
                        picklist_value(&self.ci_types, n, "configuration item type")?.into(),
                    ),
                    None => ("configurationItemType", Value::Null),
                },
                (Entity::Configuration, Field::Contact) => ("contactID", num(v)?),
                (Entity::Configuration, Field::InstalledAt) => ("installDate", s(v)),
                (Entity::Configuration, Field::WarrantyExpiresAt) => {
                    ("warrantyExpirationDate", s(v))
                }
                (Entity::Configuration, Field::Notes) => ("notes", s(v)),
                _ => {
                    tracing::debug!(%entity, %field, "field not mapped for Autotask; skipped");
                    continue;
                }
            };
            out.insert(key.to_owned(), val);
        }
        Ok(out)
    }

    /// Autotask JSON → canonical record (the field map, read direction).
    fn to_record(&self, entity: Entity, item: &Value) -> Result<Record> {
        to_record(entity, item, &self.company_types, &self.ci_types)
    }
}

/// Autotask JSON → canonical record, with the picklists that name types.
pub(crate) fn to_record(
    entity: Entity,
    item: &Value,
    company_types: &[(i64, String)],
    ci_types: &[(i64, String)],
) -> Result<Record> {
    if !item.is_object() {
        return Err(Error::malformed("item is not an object"));
    }
    let t = |k: &str| text(item.get(k));
    let active = || match item.get("isActive") {
        Some(Value::Bool(b)) => Some(if *b { "Active" } else { "Inactive" }.to_owned()),
        Some(Value::Number(n)) => Some(
            if n.as_i64() == Some(0) {
                "Inactive"
            } else {
                "Active"
            }
            .to_owned(),
        ),
        _ => None,
    };
    let mut rec = Record::new(id_of(item, "id")?);
    let mut v = Values::new();
    match entity {
        Entity::Organization => {
            v.set(Field::Name, t("companyName"));
            v.set(Field::ShortName, t("companyNumber"));
            v.set(Field::Type, label(company_types, item.get("companyType")));
            v.set(Field::Status, active());
        }
        Entity::Contact => {
            rec.org_id = t("companyID");
            v.set(Field::FirstName, t("firstName"));
            v.set(Field::LastName, t("lastName"));
            v.set(Field::Title, t("title"));
            v.set(Field::Email, t("emailAddress"));
            v.set(Field::Phone, t("phone"));
            v.set(Field::Mobile, t("mobilePhone"));
            v.set(Field::Fax, t("faxNumber"));
            v.set(Field::Location, t("companyLocationID"));
        }
        Entity::Configuration => {
            rec.org_id = t("companyID");
            v.set(Field::Name, t("referenceTitle"));
            v.set(Field::AssetTag, t("referenceNumber"));
            v.set(Field::SerialNumber, t("serialNumber"));
            v.set(
                Field::Type,
                label(ci_types, item.get("configurationItemType")),
            );
            v.set(Field::Status, active());
            v.set(Field::Contact, t("contactID"));
            v.set(Field::Location, t("companyLocationID"));
            v.set(Field::InstalledAt, t("installDate"));
            v.set(Field::WarrantyExpiresAt, t("warrantyExpirationDate"));
            v.set(Field::Notes, t("notes"));
        }
        Entity::Location => return Err(unsupported_entity("Autotask", entity)),
    }
    rec.values = v;
    rec.origin = Origin::Psa;
    rec.created_at = millis(item.get("createDate"));
    rec.updated_at = millis(item.get(modified_field(entity)));
    Ok(rec)
}

impl KeyedCreate for AutotaskClient {
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
        let name = entity_name(entity)?;
        let mut fields = self.wire_fields(entity, &values_as_changes(values))?;
        fields.retain(|_, v| !v.is_null());
        match entity {
            Entity::Organization => {
                fields.insert("ownerResourceID".into(), self.owner_resource_id.into());
                if !fields.contains_key("isActive") {
                    fields.insert("isActive".into(), true.into());
                }
            }
            _ => {
                let org =
                    org_id
                        .and_then(|o| o.parse::<u64>().ok())
                        .ok_or_else(|| Error::Rejected {
                            status: 0,
                            body_excerpt: format!("a {entity} needs a numeric company id"),
                        })?;
                fields.insert("companyID".into(), org.into());
            }
        }
        let doc = self
            .call(
                Method::POST,
                name,
                "",
                Some(Value::Object(fields)),
                Retry::Once,
            )
            .await?
            .json()?;
        let id = text(doc.get("itemId"))
            .ok_or_else(|| Error::malformed("create answer without itemId"))?;
        // The read-back is a plain read: retried freely.
        self.get(entity, &id)
            .await?
            .ok_or_else(|| Error::malformed(format!("created {entity} {id} cannot be read back")))
    }

    fn create_attempts(&self) -> u32 {
        self.http.policy().max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picklists_name_types_and_unknown_values_stay_numeric() {
        let types: Vec<(i64, String)> = STANDARD_COMPANY_TYPES
            .iter()
            .map(|(v, l)| (*v, (*l).to_owned()))
            .collect();
        let r = to_record(
            Entity::Organization,
            &json!({"id": 4, "companyName": "Acme", "companyType": 99, "isActive": false}),
            &types,
            &[],
        )
        .unwrap();
        assert_eq!(r.get(Field::Type), Some("99"));
        assert_eq!(r.get(Field::Status), Some("Inactive"));
        assert_eq!(picklist_value(&types, "Vendor", "t").unwrap(), 7);
        assert!(matches!(
            picklist_value(&types, "Nope", "t"),
            Err(Error::UnknownLookup { .. })
        ));
        assert!(matches!(
            to_record(Entity::Contact, &json!("x"), &[], &[]),
            Err(Error::Malformed(_))
        ));
    }
}
