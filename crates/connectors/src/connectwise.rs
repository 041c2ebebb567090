//! ConnectWise PSA connector: the REST API under `/v4_6_release/apis/3.0/` (reference
//! sync-rules-and-apis.md §4.1).
//!
//! Basic auth `company+public:private` plus the `clientId` header; forward-only paging
//! (`pagination-type: forward-only`, `pageId` = last id, `pageSize` ≤ 1000, next page while the
//! `Link` header has `rel="next"`); `conditions` for key searches and `lastUpdated` polls;
//! PATCH as a JSON-Patch array of only the changed paths. No published rate limit: no client
//! budget by default.
//!
//! Field map (canonical ⇄ ConnectWise, reference §2.1) lives in [`to_record`] and
//! [`ConnectWiseClient::patch_ops`]. Companies: Name ⇄ `name`, Short Name ⇄ `identifier`, Status ⇄
//! `status`, Type ⇄ first of `types[]` (further types in `Record::extra_types`). Configurations
//! and contacts carry `company.id` as `Record::org_id`, `contact.id` and site references as ids.
//! Sites are children of a company and have no top-level collection: their side-local id is
//! `"{company id}:{site id}"`, and references to a site (`site.id` on configurations and
//! contacts) use the same form.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, LINK};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, Origin, Record, UnixMillis, Values};

use crate::api::{values_as_changes, Cursor, Page};
use crate::create::{create_without_duplicates, has_any_key, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::itglue::encode_segment;
use crate::policy::HttpPolicy;
use crate::secret::Secret;
use crate::wire::{id_of, millis, path_text, rfc3339_seconds, text};

#[path = "connectwise_callbacks.rs"]
mod callbacks;

/// Site listings run per company; this many at once.
const SITE_FETCH_CONCURRENCY: usize = 4;

/// How to reach one ConnectWise PSA.
#[derive(Debug, Clone)]
pub struct ConnectWiseConfig {
    /// `https://{server}/v4_6_release/apis/3.0`.
    pub api_url: String,
    /// The ConnectWise company id used at login.
    pub company_id: String,
    pub public_key: String,
    pub private_key: Secret,
    /// The integration's `clientId`.
    pub client_id: Secret,
    pub page_size: u32,
    pub http: HttpPolicy,
}

impl ConnectWiseConfig {
    pub fn new(
        api_url: impl Into<String>,
        company_id: impl Into<String>,
        public_key: impl Into<String>,
        private_key: impl Into<Secret>,
        client_id: impl Into<Secret>,
    ) -> Self {
        ConnectWiseConfig {
            api_url: api_url.into(),
            company_id: company_id.into(),
            public_key: public_key.into(),
            private_key: private_key.into(),
            client_id: client_id.into(),
            page_size: 1000,
            http: HttpPolicy::default(),
        }
    }
}

/// A ConnectWise PSA client.
#[derive(Debug)]
pub struct ConnectWiseClient {
    http: Http,
    base: String,
    authorization: HeaderValue,
    client_id: HeaderValue,
    page_size: u32,
    /// Lookup name → id per lookup path (`company/companies/types`, …).
    lookups: Mutex<HashMap<&'static str, Vec<(String, String)>>>,
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| Error::Auth { status: 0 })?;
    v.set_sensitive(true);
    Ok(v)
}

fn collection(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "company/companies",
        Entity::Configuration => "company/configurations",
        Entity::Contact => "company/contacts",
        Entity::Location => "company/companies/{id}/sites",
    }
}

/// `"{company}:{site}"` → (company, site).
fn split_site_id(id: &str) -> Result<(&str, &str)> {
    id.split_once(':')
        .filter(|(c, s)| !c.is_empty() && !s.is_empty())
        .ok_or(Error::NotFound)
}

/// A `conditions` string literal (backslash escapes).
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `pageId` of a `Link: <…pageId=N…>; rel="next"` header, if there is a next page.
fn next_page_id(reply: &Reply) -> Option<String> {
    let link = reply.headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, rel) = part.split_once(';')?;
        if !rel.contains("rel=\"next\"") {
            return None;
        }
        let url =
            url::Url::parse(target.trim().trim_start_matches('<').trim_end_matches('>')).ok()?;
        let page_id = url
            .query_pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case("pageId"))
            .map(|(_, v)| v.into_owned());
        page_id
    })
}

impl ConnectWiseClient {
    pub fn new(config: ConnectWiseConfig) -> Result<Self> {
        let basic = B64.encode(format!(
            "{}+{}:{}",
            config.company_id,
            config.public_key,
            config.private_key.expose()
        ));
        let authorization = sensitive(&format!("Basic {basic}"))?;
        let client_id = sensitive(config.client_id.expose())?;
        let http = Http::new(
            config.http,
            vec![
                config.private_key.clone(),
                config.client_id.clone(),
                Secret::new(basic),
            ],
        )?;
        Ok(ConnectWiseClient {
            http,
            base: config.api_url.trim_end_matches('/').to_owned(),
            authorization,
            client_id,
            page_size: config.page_size.clamp(1, 1000),
            lookups: Mutex::new(HashMap::new()),
        })
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        retry: Retry,
    ) -> Result<Reply> {
        let mut url =
            url::Url::parse(&format!("{}/{path}", self.base)).map_err(|e| Error::Rejected {
                status: 0,
                body_excerpt: format!("bad ConnectWise URL: {e}"),
            })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let body = body.map(|b| b.to_string());
        let endpoint = path.split('/').take(2).collect::<Vec<_>>().join("/");
        self.http
            .send(&endpoint, retry, |c| {
                let rb = c
                    .request(method.clone(), url.clone())
                    .header(AUTHORIZATION, self.authorization.clone())
                    .header("clientId", self.client_id.clone())
                    .header("pagination-type", "forward-only");
                match &body {
                    Some(b) => rb.header(CONTENT_TYPE, "application/json").body(b.clone()),
                    None => rb,
                }
            })
            .await
    }

    /// One forward-only page of `path` under `conditions`.
    async fn page_at(
        &self,
        path: &str,
        conditions: Option<String>,
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<Value>, Option<Cursor>)> {
        let mut q = vec![("pageSize", self.page_size.to_string())];
        if let Some(c) = cursor {
            q.push(("pageId", c.0.clone()));
        }
        if let Some(c) = conditions {
            q.push(("conditions", c));
        }
        let reply = self
            .call(Method::GET, path, &q, None, Retry::Idempotent)
            .await?;
        let rows = match reply.json()? {
            Value::Array(rows) => rows,
            _ => return Err(Error::malformed("listing is not an array")),
        };
        Ok((rows, next_page_id(&reply).map(Cursor)))
    }

    async fn all_rows(&self, path: &str, conditions: Option<String>) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let (rows, next) = self
                .page_at(path, conditions.clone(), cursor.as_ref())
                .await?;
            out.extend(rows);
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        let path = match entity {
            Entity::Location => {
                let Ok((company, site)) = split_site_id(id) else {
                    return Ok(None);
                };
                format!(
                    "company/companies/{}/sites/{}",
                    encode_segment(company),
                    encode_segment(site)
                )
            }
            _ => format!("{}/{}", collection(entity), encode_segment(id)),
        };
        match self
            .call(Method::GET, &path, &[], None, Retry::Idempotent)
            .await
        {
            Ok(reply) => to_record(entity, &reply.json()?).map(Some),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn page_of(
        &self,
        entity: Entity,
        conditions: Option<String>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        if entity == Entity::Location {
            return self.sites_page(conditions, cursor).await;
        }
        let (rows, next) = self.page_at(collection(entity), conditions, cursor).await?;
        let records = rows
            .iter()
            .map(|r| to_record(entity, r))
            .collect::<Result<_>>()?;
        Ok(Page { records, next })
    }

    /// Sites have no top-level collection: one page = the sites of one page of companies.
    async fn sites_page(
        &self,
        conditions: Option<String>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let mut q = vec![
            ("pageSize", self.page_size.to_string()),
            ("fields", "id".to_owned()),
        ];
        if let Some(c) = cursor {
            q.push(("pageId", c.0.clone()));
        }
        let reply = self
            .call(
                Method::GET,
                "company/companies",
                &q,
                None,
                Retry::Idempotent,
            )
            .await?;
        let companies = match reply.json()? {
            Value::Array(rows) => rows,
            _ => return Err(Error::malformed("listing is not an array")),
        };
        let ids = companies
            .iter()
            .map(|c| id_of(c, "id"))
            .collect::<Result<Vec<_>>>()?;
        // One request per company: a few at a time, in company order.
        let per_company: Vec<Result<Vec<Value>>> = stream::iter(ids)
            .map(|id| {
                let conditions = conditions.clone();
                async move {
                    let path = format!("company/companies/{}/sites", encode_segment(&id));
                    match self.all_rows(&path, conditions).await {
                        // Deleted between the two calls.
                        Err(Error::NotFound) => Ok(Vec::new()),
                        other => other,
                    }
                }
            })
            .buffered(SITE_FETCH_CONCURRENCY)
            .collect()
            .await;
        let mut records = Vec::new();
        for rows in per_company {
            for r in &rows? {
                records.push(to_record(Entity::Location, r)?);
            }
        }
        Ok(Page {
            records,
            next: next_page_id(&reply).map(Cursor),
        })
    }

    pub async fn list_page(&self, entity: Entity, cursor: Option<&Cursor>) -> Result<Page> {
        self.page_of(entity, None, cursor).await
    }

    /// Records with `lastUpdated >= since` (second precision). Sites: unsupported (no
    /// top-level collection to ask; they are found by listing).
    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        if entity == Entity::Location {
            return Err(Error::Unsupported(
                "ConnectWise sites have no modified-since query; list them".into(),
            ));
        }
        let cond = format!("lastUpdated >= [{}]", rfc3339_seconds(since));
        self.page_of(entity, Some(cond), cursor).await
    }

    pub async fn list_all(&self, entity: Entity) -> Result<Vec<Record>> {
        crate::api::drain_pages(
            |cursor| async move { self.list_page(entity, cursor.as_ref()).await },
        )
        .await
    }

    /// Narrow search by key (`conditions` compare case-insensitively; the caller compares
    /// exactly).
    pub async fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        if !has_any_key(entity, key) {
            return Ok(Vec::new());
        }
        let mut conds: Vec<String> = Vec::new();
        let mut eq = |path: &str, v: Option<&str>| {
            if let Some(v) = v {
                conds.push(format!("{path} = {}", quoted(v)));
            }
        };
        let company = match (entity, org_id) {
            (Entity::Organization, _) => None,
            (_, Some(org)) => Some(org.parse::<u64>().map_err(|_| Error::Rejected {
                status: 0,
                body_excerpt: format!("ConnectWise company id {org:?} is not a number"),
            })?),
            (_, None) => None,
        };
        match entity {
            Entity::Organization => eq("name", key.get(Field::Name)),
            Entity::Configuration => eq("name", key.get(Field::Name)),
            Entity::Contact => {
                eq("firstName", key.get(Field::FirstName));
                eq("lastName", key.get(Field::LastName));
            }
            Entity::Location => eq("addressLine1", key.get(Field::Address1)),
        }
        if entity == Entity::Location {
            let Some(company) = company else {
                return Err(Error::Rejected {
                    status: 0,
                    body_excerpt: "a site search needs its company".into(),
                });
            };
            let path = format!("company/companies/{company}/sites");
            let cond = (!conds.is_empty()).then(|| conds.join(" and "));
            return match self.all_rows(&path, cond).await {
                Ok(rows) => rows.iter().map(|r| to_record(entity, r)).collect(),
                Err(Error::NotFound) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
        }
        if let Some(company) = company {
            conds.push(format!("company/id = {company}"));
        }
        let cond = (!conds.is_empty()).then(|| conds.join(" and "));
        let rows = self.all_rows(collection(entity), cond).await?;
        rows.iter().map(|r| to_record(entity, r)).collect()
    }

    pub async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        create_without_duplicates(self, entity, org_id, values).await
    }

    /// PATCH with a JSON-Patch of only the changed paths; returns the record as answered.
    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        let path = match entity {
            Entity::Location => {
                let (company, site) = split_site_id(id)?;
                format!(
                    "company/companies/{}/sites/{}",
                    encode_segment(company),
                    encode_segment(site)
                )
            }
            _ => format!("{}/{}", collection(entity), encode_segment(id)),
        };
        // Multi-valued fields are rewritten whole: read the current ones first.
        let needs_current = changes.keys().any(|f| match entity {
            Entity::Organization => *f == Field::Type,
            Entity::Contact => matches!(f, Field::Email | Field::Phone | Field::Fax | Field::Type),
            _ => false,
        });
        let current = if needs_current {
            Some(
                self.call(Method::GET, &path, &[], None, Retry::Idempotent)
                    .await?
                    .json()?,
            )
        } else {
            None
        };
        let ops = self.patch_ops(entity, changes, current.as_ref()).await?;
        if ops.is_empty() {
            return self.get(entity, id).await?.ok_or(Error::NotFound);
        }
        let reply = self
            .call(
                Method::PATCH,
                &path,
                &[],
                Some(Value::Array(ops)),
                Retry::Idempotent,
            )
            .await?;
        to_record(entity, &reply.json()?)
    }

    async fn lookup_id(&self, path: &'static str, name: &str) -> Result<u64> {
        let find = |this: &Self| -> Option<String> {
            let map = this.lookups.lock().unwrap_or_else(|e| e.into_inner());
            map.get(path)?
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, id)| id.clone())
        };
        let id = match find(self) {
            Some(id) => Some(id),
            None => {
                let rows = self.all_rows(path, None).await?;
                let list: Vec<(String, String)> = rows
                    .iter()
                    .filter_map(|r| Some((text(r.get("name"))?, text(r.get("id"))?)))
                    .collect();
                self.lookups
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(path, list);
                find(self)
            }
        };
        id.and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::UnknownLookup {
                kind: path.replace('/', " "),
                name: name.to_owned(),
            })
    }

    async fn reference(&self, path: &'static str, name: Option<&str>) -> Result<Value> {
        match name {
            Some(n) => Ok(json!({"id": self.lookup_id(path, n).await?})),
            None => Ok(Value::Null),
        }
    }

    /// Canonical changes → ConnectWise field values (top-level keys).
    async fn wire_fields(
        &self,
        entity: Entity,
        changes: &Changes,
        current: Option<&Value>,
    ) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        let mut comms: Option<Vec<Value>> = None;
        for (field, value) in changes {
            let v = value.as_deref().filter(|s| !s.is_empty());
            let s = |x: Option<&str>| x.map_or(Value::Null, Value::from);
            let (key, val): (&str, Value) = match (entity, field) {
                (Entity::Organization, Field::Name) => ("name", s(v)),
                (Entity::Organization, Field::ShortName) => ("identifier", s(v)),
                (Entity::Organization, Field::Status) => (
                    "status",
                    self.reference("company/companies/statuses", v).await?,
                ),
                (Entity::Organization, Field::Type) => {
                    let mut types = Vec::new();
                    if let Some(name) = v {
                        types.push(
                            json!({"id": self.lookup_id("company/companies/types", name).await?}),
                        );
                    }
                    // Keep the company's further types: only the first one is mapped.
                    if let Some(extra) = current
                        .and_then(|c| c.get("types"))
                        .and_then(Value::as_array)
                    {
                        types.extend(
                            extra
                                .iter()
                                .skip(1)
                                .filter_map(|t| t.get("id"))
                                .map(|id| json!({"id": id})),
                        );
                    }
                    ("types", Value::Array(types))
                }
                (Entity::Configuration, Field::Name) => ("name", s(v)),
                (Entity::Configuration, Field::Type) => (
                    "type",
                    self.reference("company/configurations/types", v).await?,
                ),
                (Entity::Configuration, Field::Status) => (
                    "status",
                    self.reference("company/configurations/statuses", v).await?,
                ),
                (Entity::Configuration, Field::SerialNumber) => ("serialNumber", s(v)),
                (Entity::Configuration, Field::MacAddress) => ("macAddress", s(v)),
                (Entity::Configuration, Field::AssetTag) => ("tagNumber", s(v)),
                (Entity::Configuration, Field::PrimaryIp) => ("ipAddress", s(v)),
                (Entity::Configuration, Field::DefaultGateway) => ("defaultGateway", s(v)),
                (Entity::Configuration, Field::OperatingSystem) => ("osType", s(v)),
                (Entity::Configuration, Field::Manufacturer) => (
                    "manufacturer",
                    v.map_or(Value::Null, |n| json!({"name": n})),
                ),
                (Entity::Configuration, Field::Model) => ("modelNumber", s(v)),
                (Entity::Configuration, Field::Notes) => ("notes", s(v)),
                (Entity::Configuration, Field::InstalledAt) => ("installationDate", s(v)),
                (Entity::Configuration, Field::InstalledBy) => (
                    "installedBy",
                    v.map_or(Value::Null, |n| json!({"identifier": n})),
                ),
                (Entity::Configuration, Field::PurchasedAt) => ("purchaseDate", s(v)),
                (Entity::Configuration, Field::WarrantyExpiresAt) => {
                    ("warrantyExpirationDate", s(v))
                }
                (Entity::Configuration, Field::Contact) => ("contact", id_ref(v)?),
                (Entity::Configuration | Entity::Contact, Field::Location) => {
                    ("site", site_ref(v)?)
                }
                (Entity::Contact, Field::FirstName) => ("firstName", s(v)),
                (Entity::Contact, Field::LastName) => ("lastName", s(v)),
                (Entity::Contact, Field::Title) => ("title", s(v)),
                (Entity::Contact, Field::Type) => {
                    let mut types = Vec::new();
                    if let Some(name) = v {
                        types.push(
                            json!({"id": self.lookup_id("company/contacts/types", name).await?}),
                        );
                    }
                    ("types", Value::Array(types))
                }
                (Entity::Contact, Field::Email | Field::Phone | Field::Fax) => {
                    let list = comms.get_or_insert_with(|| {
                        current
                            .and_then(|c| c.get("communicationItems"))
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    });
                    set_communication(list, *field, v);
                    continue;
                }
                (Entity::Location, Field::Name) => ("name", s(v)),
                (Entity::Location, Field::Address1) => ("addressLine1", s(v)),
                (Entity::Location, Field::Address2) => ("addressLine2", s(v)),
                (Entity::Location, Field::City) => ("city", s(v)),
                (Entity::Location, Field::Region) => (
                    "stateReference",
                    v.map_or(Value::Null, |n| json!({"identifier": n})),
                ),
                (Entity::Location, Field::PostalCode) => ("zip", s(v)),
                (Entity::Location, Field::Country) => {
                    ("country", v.map_or(Value::Null, |n| json!({"name": n})))
                }
                (Entity::Location, Field::Phone) => ("phoneNumber", s(v)),
                (Entity::Location, Field::Fax) => ("faxNumber", s(v)),
                _ => {
                    tracing::debug!(%entity, %field, "field not mapped for ConnectWise; skipped");
                    continue;
                }
            };
            out.insert(key.to_owned(), val);
        }
        if let Some(list) = comms {
            out.insert("communicationItems".into(), Value::Array(list));
        }
        Ok(out)
    }

    async fn patch_ops(
        &self,
        entity: Entity,
        changes: &Changes,
        current: Option<&Value>,
    ) -> Result<Vec<Value>> {
        let fields = self.wire_fields(entity, changes, current).await?;
        Ok(fields
            .into_iter()
            .map(|(k, v)| match v {
                Value::Null => json!({"op": "remove", "path": k}),
                v => json!({"op": "replace", "path": k, "value": v}),
            })
            .collect())
    }
}

/// `{"id": n}` of a numeric reference, or null.
fn id_ref(v: Option<&str>) -> Result<Value> {
    match v {
        None => Ok(Value::Null),
        Some(s) => s
            .parse::<u64>()
            .map(|id| json!({"id": id}))
            .map_err(|_| Error::Rejected {
                status: 0,
                body_excerpt: format!("ConnectWise reference {s:?} is not a record id"),
            }),
    }
}

/// A site reference from its composite id.
fn site_ref(v: Option<&str>) -> Result<Value> {
    match v {
        None => Ok(Value::Null),
        Some(s) => {
            let site = split_site_id(s).map(|(_, site)| site).unwrap_or(s);
            id_ref(Some(site))
        }
    }
}

fn is_fax(item: &Value) -> bool {
    path_text(item, &["type", "name"]).is_some_and(|n| n.eq_ignore_ascii_case("fax"))
}

fn comm_kind(item: &Value) -> Option<Field> {
    match item.get("communicationType").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("email") => Some(Field::Email),
        Some(t) if t.eq_ignore_ascii_case("fax") => Some(Field::Fax),
        Some(t) if t.eq_ignore_ascii_case("phone") && is_fax(item) => Some(Field::Fax),
        Some(t) if t.eq_ignore_ascii_case("phone") => Some(Field::Phone),
        _ => None,
    }
}

fn set_communication(list: &mut Vec<Value>, field: Field, value: Option<&str>) {
    let default = |e: &Value| e.get("defaultFlag") == Some(&Value::Bool(true));
    let pos = list
        .iter()
        .position(|e| comm_kind(e) == Some(field) && default(e))
        .or_else(|| list.iter().position(|e| comm_kind(e) == Some(field)));
    match (pos, value) {
        (Some(i), Some(v)) => {
            if let Some(o) = list[i].as_object_mut() {
                o.insert("value".into(), v.into());
            }
        }
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => {
            let (kind, type_name) = match field {
                Field::Email => ("Email", "Email"),
                Field::Fax => ("Phone", "Fax"),
                _ => ("Phone", "Direct"),
            };
            list.push(json!({"type": {"name": type_name}, "value": v,
                "communicationType": kind, "defaultFlag": true}));
        }
        (None, None) => {}
    }
}

fn communication(row: &Value, field: Field) -> Option<String> {
    let list = row.get("communicationItems")?.as_array()?;
    let default = |e: &&Value| e.get("defaultFlag") == Some(&Value::Bool(true));
    list.iter()
        .filter(|e| comm_kind(e) == Some(field))
        .find(default)
        .or_else(|| list.iter().find(|e| comm_kind(e) == Some(field)))
        .and_then(|e| text(e.get("value")))
}

fn site_id(company: Option<&String>, row: &Value) -> Option<String> {
    let site = path_text(row, &["site", "id"])?;
    Some(format!("{}:{site}", company?))
}

/// ConnectWise JSON → canonical record (the field map, read direction).
pub(crate) fn to_record(entity: Entity, row: &Value) -> Result<Record> {
    if !row.is_object() {
        return Err(Error::malformed("record is not an object"));
    }
    let t = |k: &str| text(row.get(k));
    let p = |path: &[&str]| path_text(row, path);
    let id = id_of(row, "id")?;
    let company = p(&["company", "id"]);
    let mut rec = Record::new(match entity {
        Entity::Location => format!(
            "{}:{id}",
            company
                .clone()
                .ok_or_else(|| Error::malformed("site without company"))?
        ),
        _ => id,
    });
    let mut v = Values::new();
    match entity {
        Entity::Organization => {
            v.set(Field::Name, t("name"));
            v.set(Field::ShortName, t("identifier"));
            v.set(Field::Status, p(&["status", "name"]));
            let types: Vec<String> = row
                .get("types")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|t| path_text(t, &["name"])).collect())
                .unwrap_or_default();
            v.set(Field::Type, types.first().cloned());
            rec.extra_types = types.into_iter().skip(1).collect();
        }
        Entity::Configuration => {
            rec.org_id = company.clone();
            v.set(Field::Name, t("name"));
            v.set(Field::Type, p(&["type", "name"]));
            v.set(Field::Status, p(&["status", "name"]));
            v.set(Field::SerialNumber, t("serialNumber"));
            v.set(Field::MacAddress, t("macAddress"));
            v.set(Field::AssetTag, t("tagNumber"));
            v.set(Field::PrimaryIp, t("ipAddress"));
            v.set(Field::DefaultGateway, t("defaultGateway"));
            v.set(Field::OperatingSystem, t("osType"));
            v.set(Field::Manufacturer, p(&["manufacturer", "name"]));
            v.set(Field::Model, t("modelNumber"));
            v.set(Field::Notes, t("notes"));
            v.set(Field::InstalledAt, t("installationDate"));
            v.set(Field::InstalledBy, p(&["installedBy", "identifier"]));
            v.set(Field::PurchasedAt, t("purchaseDate"));
            v.set(Field::WarrantyExpiresAt, t("warrantyExpirationDate"));
            v.set(Field::Contact, p(&["contact", "id"]));
            v.set(Field::Location, site_id(company.as_ref(), row));
        }
        Entity::Contact => {
            rec.org_id = company.clone();
            v.set(Field::FirstName, t("firstName"));
            v.set(Field::LastName, t("lastName"));
            v.set(Field::Title, t("title"));
            v.set(
                Field::Type,
                row.get("types")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(|t| path_text(t, &["name"])),
            );
            v.set(Field::Email, communication(row, Field::Email));
            v.set(Field::Phone, communication(row, Field::Phone));
            v.set(Field::Fax, communication(row, Field::Fax));
            v.set(Field::Location, site_id(company.as_ref(), row));
        }
        Entity::Location => {
            rec.org_id = company;
            v.set(Field::Name, t("name"));
            v.set(Field::Address1, t("addressLine1"));
            v.set(Field::Address2, t("addressLine2"));
            v.set(Field::City, t("city"));
            v.set(Field::Region, p(&["stateReference", "identifier"]));
            v.set(Field::PostalCode, t("zip"));
            v.set(Field::Country, p(&["country", "name"]));
            v.set(Field::Phone, t("phoneNumber"));
            v.set(Field::Fax, t("faxNumber"));
        }
    }
    rec.values = v;
    rec.origin = Origin::Psa;
    rec.created_at = millis(row.pointer("/_info/dateEntered"));
    rec.updated_at = millis(row.pointer("/_info/lastUpdated"));
    Ok(rec)
}

/// A company identifier for a new company without a Short Name: ConnectWise requires one
/// (unique, ≤ 25 characters); we derive it from the name's letters and digits.
fn identifier_from_name(name: &str) -> String {
    let base: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(25)
        .collect();
    if base.is_empty() {
        "Company".into()
    } else {
        base
    }
}

impl KeyedCreate for ConnectWiseClient {
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
        let mut fields = self
            .wire_fields(entity, &values_as_changes(values), None)
            .await?;
        fields.retain(|_, v| !v.is_null());
        let need_org = || {
            org_id.ok_or_else(|| Error::Rejected {
                status: 0,
                body_excerpt: format!("a {entity} needs a company"),
            })
        };
        let path = match entity {
            Entity::Organization => {
                if !fields.contains_key("identifier") {
                    let name = values.get(Field::Name).unwrap_or("");
                    fields.insert("identifier".into(), identifier_from_name(name).into());
                }
                collection(entity).to_owned()
            }
            Entity::Location => format!("company/companies/{}/sites", encode_segment(need_org()?)),
            _ => {
                fields.insert("company".into(), id_ref(Some(need_org()?))?);
                collection(entity).to_owned()
            }
        };
        let reply = self
            .call(
                Method::POST,
                &path,
                &[],
                Some(Value::Object(fields)),
                Retry::Once,
            )
            .await?;
        to_record(entity, &reply.json()?)
    }

    fn create_attempts(&self) -> u32 {
        self.http.policy().max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_carry_their_company_in_the_id() {
        let r = to_record(
            Entity::Location,
            &json!({"id": 7, "company": {"id": 3}, "name": "Main", "country": "bad shape"}),
        )
        .unwrap();
        assert_eq!(r.id, "3:7");
        assert_eq!(r.get(Field::Country), None);
        assert!(matches!(
            to_record(Entity::Location, &json!({"id": 7})),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            to_record(Entity::Contact, &json!([1])),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn conditions_literals_are_escaped() {
        assert_eq!(quoted(r#"Say "hi" \o/"#), r#""Say \"hi\" \\o/""#);
    }
}
