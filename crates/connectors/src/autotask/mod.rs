//! Autotask PSA connector: the REST API under `/atservicesrest/v1.0/` (reference
//! sync-rules-and-apis.md §4.2).
//!
//! Headers `ApiIntegrationCode` / `UserName` / `Secret`; queries as `POST /{Entity}/query` with
//! the filter JSON; listings page by id (`id gt <last id>`, 500 rows per request) rather than by
//! following `nextPageUrl`, so a page that failed can be asked again (a `nextPageUrl` token may
//! be single-use); partial `PATCH /{Entity}` with the id in the body, then a read-back (Autotask
//! answers writes with `{"itemId"}` only). Limits: a client budget of half of the published
//! 10,000 requests per hour, and at most 3 concurrent requests per entity endpoint (a semaphore
//! per endpoint; Autotask's thread limit counts per endpoint and integration code, so syncbridge's
//! shared gate makes the 3 hold for all processes of a tenant together).
//!
//! Field map (canonical ⇄ Autotask, reference §2.2) lives in [`to_record`] and
//! [`AutotaskClient::wire_fields`]. Picklists (`companyType`, `configurationItemType`) are read
//! from `GET /{Entity}/entityInformation/fields` on first use and cached, reloaded once on a
//! label the cache lacks; manufacturer and model are the `Products` row a configuration item's
//! `productID` names (read in batches and cached; found by an `eq` query on write). A name the
//! vendor does not have is [`Error::UnknownLookup`], before any request that writes. Autotask has no location records that syncbridge syncs
//! (capability matrix): every location call is `Unsupported`.
//!
//! Vendor facts this client depends on (audit §3, vendor-fidelity-audit.md):
//! - Creates carry every field Autotask's entity metadata requires (AT-1): companies
//!   `companyName, companyType, ownerResourceID, phone` (IT Glue organizations have no phone:
//!   [`AutotaskConfig::company_phone`] is sent instead), contacts `isActive: 1`, configuration
//!   items `isActive` and `productID` (the product of the manufacturer and model; one without
//!   either gets the fallback product, [`AutotaskConfig::fallback_product`]).
//! - Autotask reports validation failures as HTTP 500 with `{"errors": ["message"]}`: such an
//!   answer is a permanent [`Error::Rejected`] with the vendor's message; a 5xx without a message
//!   (an outage) stays transient.
//! - Listings continue while a page comes back full (500 rows), by `id gt <last>`, whether or
//!   not `nextPageUrl` is set (AT-3: with `MaxRecords` Autotask documents id-looping instead).
//! - Modified-since re-reads [`POLL_OVERLAP`] behind the watermark and ORs `createDate` (AT-4:
//!   stamps land slightly out of order; a new row may have no modified stamp yet).
//! - Date-times are zone-less and read as UTC; filters send zone-less UTC values (AT-5: REST is
//!   believed UTC, unverified). `installDate` / `warrantyExpirationDate` are written as
//!   zone-less midnight date-times and read as their date.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::dates::{midnight, DateTimeForm};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Origin, Record, UnixMillis, Values};

use crate::create::{create_without_duplicates, has_any_key, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::lookup_table::LookupTable;
use crate::paging::{Cursor, Page};
use crate::policy::{HttpPolicy, RateBudget};
use crate::secret::Secret;
use crate::wire::{id_of, millis, text, zoneless};

mod webhooks;
pub use webhooks::WebhookState;

/// Rows per query page (Autotask's maximum).
const PAGE_SIZE: u32 = 500;
/// Product ids asked for in one `in` condition.
const PRODUCT_BATCH: usize = 100;
/// How long product names (manufacturer, model) are trusted before they are asked again.
const PRODUCT_TTL: Duration = Duration::from_secs(600);
/// How far behind the watermark a modified-since poll re-reads (the live note's 2 minutes):
/// Autotask's stamps can land slightly out of order.
pub const POLL_OVERLAP: Duration = Duration::from_secs(120);
/// Default [`AutotaskConfig::company_phone`].
pub const DEFAULT_COMPANY_PHONE: &str = "000-000-0000";
/// Default name of the fallback product ([`FallbackProduct::Named`]).
pub const DEFAULT_FALLBACK_PRODUCT: &str = "Generic Configuration Item";

/// The product a configuration item without manufacturer and model gets (Autotask requires a
/// `productID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackProduct {
    /// This product id.
    Id(u64),
    /// The active product of this exact name (lowest id), looked up once; create it in Autotask
    /// (Products need a billing code, which only the tenant can choose).
    Named(String),
}

/// Autotask's standard `companyType` picklist (tenants may add values). The client reads the
/// tenant's picklist from `Companies/entityInformation/fields`; this list is for tests and
/// documentation.
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
    /// Extra `companyType` picklist entries (value, label), pinned on top of the picklist the
    /// client loads from `Companies/entityInformation/fields` (they win on a label found in
    /// both). Empty by default: the vendor's picklist is the truth.
    pub company_types: Vec<(i64, String)>,
    /// Extra `configurationItemType` entries, pinned on top of the picklist loaded from
    /// `ConfigurationItems/entityInformation/fields`. Empty by default.
    pub configuration_item_types: Vec<(i64, String)>,
    /// `phone` of companies we create: Autotask requires one and IT Glue organizations carry
    /// none. Default [`DEFAULT_COMPANY_PHONE`].
    pub company_phone: String,
    /// Product of configuration items without manufacturer and model. Default: the product
    /// named [`DEFAULT_FALLBACK_PRODUCT`].
    pub fallback_product: FallbackProduct,
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
            company_types: Vec::new(),
            configuration_item_types: Vec::new(),
            company_phone: DEFAULT_COMPANY_PHONE.to_owned(),
            fallback_product: FallbackProduct::Named(DEFAULT_FALLBACK_PRODUCT.to_owned()),
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
        .map_err(|e| Error::InvalidInput(format!("bad Autotask URL: {e}")))?;
    url.query_pairs_mut().append_pair("user", username);
    let doc = http
        .send("zoneInformation", Retry::Idempotent, |c| c.get(url.clone()))
        .await?
        .json()?;
    let zone = text(doc.get("url")).ok_or_else(|| Error::malformed("zone answer without url"))?;
    Ok(format!("{}/v1.0", zone.trim_end_matches('/')))
}

/// An Autotask Products row, as far as configuration items need it (reference §2.2:
/// Manufacturer ⇄ `manufacturerName`, Model ⇄ `manufacturerProductName`, the name as the
/// configuration item's name when it has no reference title).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Product {
    pub(crate) id: u64,
    pub(crate) name: Option<String>,
    pub(crate) maker: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) active: bool,
}

impl Product {
    fn from_item(item: &Value) -> Option<Product> {
        Some(Product {
            id: item.get("id")?.as_u64()?,
            name: text(item.get("name")),
            maker: text(item.get("manufacturerName")),
            model: text(item.get("manufacturerProductName")),
            active: item
                .get("isActive")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}

#[derive(Debug)]
struct ProductCache {
    by_id: HashMap<u64, Product>,
    since: Instant,
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
    /// `Companies.companyType` picklist, loaded from the API.
    company_types: LookupTable,
    /// `ConfigurationItems.configurationItemType` picklist, loaded from the API.
    ci_types: LookupTable,
    products: Mutex<ProductCache>,
    company_phone: String,
    fallback_product: FallbackProduct,
    /// The fallback product's id once looked up.
    fallback_product_id: Mutex<Option<u64>>,
}

/// Autotask answers a validation failure with HTTP 500 and `{"errors": ["message", …]}`: with a
/// message it is a refusal (permanent); without one, an outage (transient).
fn is_refusal(status: u16, body: &str) -> bool {
    status == 500
        && serde_json::from_str::<Value>(body).is_ok_and(|doc| {
            doc.get("errors")
                .and_then(Value::as_array)
                .is_some_and(|errors| {
                    errors
                        .iter()
                        .any(|e| e.as_str().is_some_and(|m| !m.trim().is_empty()))
                })
        })
}

/// A date for `installDate` / `warrantyExpirationDate`: Autotask's zone-less midnight
/// date-time (`2024-01-02` → `2024-01-02T00:00:00`); a value that is no date is sent as it is,
/// for Autotask to judge.
fn at_date(v: &str) -> String {
    midnight(v, DateTimeForm::ZoneLess)
}

fn entity_name(entity: Entity) -> Result<&'static str> {
    match entity {
        Entity::Organization => Ok("Companies"),
        Entity::Contact => Ok("Contacts"),
        Entity::Configuration => Ok("ConfigurationItems"),
        Entity::Location => Err(Error::unsupported_entity("Autotask", entity)),
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
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::InvalidInput(
            "a credential holds characters an HTTP header cannot carry (check for line breaks)"
                .into(),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The name of a picklist value: its label, else the number itself.
fn label(names: &dyn Fn(i64) -> Option<String>, value: Option<&Value>) -> Option<String> {
    let n = picklist_number(value?)?;
    Some(names(n).unwrap_or_else(|| n.to_string()))
}

/// A picklist value as Autotask sends it: a number, or a number in a string.
fn picklist_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The picklist of one field in an `entityInformation/fields` answer: (value, label) pairs,
/// inactive values included (records may still carry them).
fn picklist_of(doc: &Value, field: &str) -> Result<Vec<(i64, String)>> {
    let fields = doc
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::malformed("entityInformation answer without fields"))?;
    let Some(f) = fields.iter().find(|f| {
        f.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(field))
    }) else {
        return Err(Error::malformed(format!("entity has no field {field}")));
    };
    Ok(f.get("picklistValues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| Some((picklist_number(v.get("value")?)?, text(v.get("label"))?)))
        .collect())
}

fn condition(op: &str, field: &str, value: Value) -> Value {
    json!({"op": op, "field": field, "value": value})
}

/// Which picklist a field reads from.
#[derive(Debug, Clone, Copy)]
enum Picklist {
    CompanyType,
    CiType,
}

impl Picklist {
    fn entity_field(self) -> (&'static str, &'static str) {
        match self {
            Picklist::CompanyType => ("Companies", "companyType"),
            Picklist::CiType => ("ConfigurationItems", "configurationItemType"),
        }
    }
}

impl AutotaskClient {
    pub fn new(config: AutotaskConfig) -> Result<Self> {
        let http = Http::new(
            config.http,
            vec![config.secret.clone(), config.integration_code.clone()],
        )?
        .with_refusal_check(is_refusal);
        Ok(AutotaskClient {
            http,
            base: config.api_url.trim_end_matches('/').to_owned(),
            username: config.username,
            secret: sensitive(config.secret.expose())?,
            integration_code: sensitive(config.integration_code.expose())?,
            owner_resource_id: config.owner_resource_id,
            company_types: LookupTable::new("Autotask company type", config.company_types),
            ci_types: LookupTable::new(
                "Autotask configuration item type",
                config.configuration_item_types,
            ),
            products: Mutex::new(ProductCache {
                by_id: HashMap::new(),
                since: Instant::now(),
            }),
            company_phone: config.company_phone,
            fallback_product: config.fallback_product,
            fallback_product_id: Mutex::new(None),
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

    fn table(&self, list: Picklist) -> &LookupTable {
        match list {
            Picklist::CompanyType => &self.company_types,
            Picklist::CiType => &self.ci_types,
        }
    }

    /// `GET /{Entity}/entityInformation/fields` → the field's picklist.
    async fn load_picklist(&self, list: Picklist) -> Result<Vec<(i64, String)>> {
        let (entity, field) = list.entity_field();
        let doc = self
            .call(
                Method::GET,
                entity,
                "/entityInformation/fields",
                None,
                Retry::Idempotent,
            )
            .await?
            .json()?;
        picklist_of(&doc, field)
    }

    /// The picklist value of a label (loading the picklist on a miss). A label the picklist
    /// lacks may be the value itself (how unknown values are read); otherwise
    /// [`Error::UnknownLookup`].
    async fn picklist_value(&self, list: Picklist, name: &str) -> Result<i64> {
        match self.table(list).id(name, || self.load_picklist(list)).await {
            Err(Error::UnknownLookup { .. }) if name.parse::<i64>().is_ok() => {
                Ok(name.parse().unwrap_or_default())
            }
            other => other,
        }
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
                    Some(item) => Ok(self
                        .to_records(entity, std::slice::from_ref(item))
                        .await?
                        .pop()),
                }
            }
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One raw page of `filter` AND `id > after` on any entity, ids ascending; `true` when
    /// there may be more: the page is full, or Autotask sent a `nextPageUrl`.
    async fn query_items(
        &self,
        name: &str,
        mut filter: Vec<Value>,
        after: u64,
    ) -> Result<(Vec<Value>, bool)> {
        filter.push(condition("gt", "id", Value::from(after)));
        let body = json!({"filter": filter, "MaxRecords": PAGE_SIZE});
        let mut doc = self
            .call(Method::POST, name, "/query", Some(body), Retry::Idempotent)
            .await?
            .json()?;
        let linked = doc
            .pointer("/pageDetails/nextPageUrl")
            .is_some_and(|u| u.as_str().is_some_and(|s| !s.is_empty()));
        match doc.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => {
                let more = linked || items.len() >= PAGE_SIZE as usize;
                Ok((items, more))
            }
            _ => Err(Error::malformed("query answer without items")),
        }
    }

    /// Every row of `filter` on any entity.
    async fn query_all(&self, name: &str, filter: Vec<Value>) -> Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        let mut after = 0;
        loop {
            let (items, more) = self.query_items(name, filter.clone(), after).await?;
            let last = items
                .iter()
                .filter_map(|i| i.get("id").and_then(Value::as_u64))
                .max();
            out.extend(items);
            match last {
                Some(last) if more => after = last,
                _ => return Ok(out),
            }
        }
    }

    /// One page of `filter` AND `id > cursor`, ids ascending.
    async fn query_page(
        &self,
        entity: Entity,
        filter: Vec<Value>,
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
        let (items, more) = self.query_items(name, filter, after).await?;
        let records = self.to_records(entity, &items).await?;
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

    /// Records modified or created at or after `since` − [`POLL_OVERLAP`] (a superset of what
    /// changed since `since`: stamps land out of order, a new row may have no modified stamp).
    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        entity_name(entity)?;
        let overlap = UnixMillis::try_from(POLL_OVERLAP.as_millis()).unwrap_or(UnixMillis::MAX);
        let from = zoneless(since.saturating_sub(overlap).max(0));
        let f = vec![json!({"op": "or", "items": [
            condition("gte", modified_field(entity), from.clone().into()),
            condition("gte", "createDate", from.into()),
        ]})];
        self.query_page(entity, f, cursor).await
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
                let n: u64 = org.parse().map_err(|_| {
                    Error::InvalidInput(format!("Autotask company id {org:?} is not a number"))
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
        // Names that map to ids (picklists, products) are resolved before any request that
        // could write: an unknown one fails here, and the attempts below hit the cache.
        self.wire_fields(entity, &syncbridge_model::changes_setting(values), None)
            .await?;
        create_without_duplicates(self, entity, org_id, values).await
    }

    /// Partial PATCH of only the given fields, then the record read back.
    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        let name = entity_name(entity)?;
        let num: u64 = id.parse().map_err(|_| Error::NotFound)?;
        // Manufacturer and model are one product: a change of one keeps the other.
        let one_of_product =
            changes.contains_key(&Field::Manufacturer) != changes.contains_key(&Field::Model);
        let current = if entity == Entity::Configuration && one_of_product {
            Some(self.get(entity, id).await?.ok_or(Error::NotFound)?)
        } else {
            None
        };
        let mut fields = self.wire_fields(entity, changes, current.as_ref()).await?;
        // Autotask requires a product: clearing manufacturer and model means the fallback one.
        if fields.get("productID").is_some_and(Value::is_null) {
            fields.insert("productID".into(), self.fallback_product().await?.into());
        }
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

    /// The product of configuration items without manufacturer and model
    /// ([`AutotaskConfig::fallback_product`]).
    async fn fallback_product(&self) -> Result<u64> {
        let name = match &self.fallback_product {
            FallbackProduct::Id(id) => return Ok(*id),
            FallbackProduct::Named(name) => name,
        };
        if let Some(id) = *self
            .fallback_product_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            return Ok(id);
        }
        let items = self
            .query_all(
                "Products",
                vec![condition("eq", "name", name.clone().into())],
            )
            .await?;
        self.remember_products(&items);
        let id = items
            .iter()
            .filter_map(Product::from_item)
            .filter(|p| p.active && p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.id)
            .min()
            .ok_or_else(|| Error::UnknownLookup {
                kind: "Autotask product for configuration items without manufacturer and model \
                       (create an active product of this name in Autotask, or configure \
                       fallback_product)"
                    .into(),
                name: name.clone(),
            })?;
        *self
            .fallback_product_id
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(id);
        Ok(id)
    }

    /// The products of `ids`, from the cache or asked for (batched `in` queries).
    async fn cover_products(&self, ids: &[u64]) -> Result<()> {
        let missing: Vec<u64> = {
            let mut cache = self.products.lock().unwrap_or_else(|e| e.into_inner());
            if cache.since.elapsed() >= PRODUCT_TTL {
                cache.by_id.clear();
                cache.since = Instant::now();
            }
            let mut m: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| !cache.by_id.contains_key(id))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        for batch in missing.chunks(PRODUCT_BATCH) {
            let ids: Vec<Value> = batch.iter().map(|i| Value::from(*i)).collect();
            let items = self
                .query_all("Products", vec![condition("in", "id", Value::Array(ids))])
                .await?;
            self.remember_products(&items);
        }
        Ok(())
    }

    fn remember_products(&self, items: &[Value]) {
        let mut cache = self.products.lock().unwrap_or_else(|e| e.into_inner());
        for p in items.iter().filter_map(Product::from_item) {
            cache.by_id.insert(p.id, p);
        }
    }

    fn product(&self, id: u64) -> Option<Product> {
        self.products
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .get(&id)
            .cloned()
    }

    /// The product with this manufacturer and model (exact; active ones first, then the lowest
    /// id), from the cache or the Products entity.
    async fn product_id(&self, maker: Option<&str>, model: Option<&str>) -> Result<u64> {
        let fits = |p: &Product| {
            maker.is_none_or(|m| p.maker.as_deref() == Some(m))
                && model.is_none_or(|m| p.model.as_deref() == Some(m))
        };
        let best = |products: &mut dyn Iterator<Item = &Product>| {
            products
                .filter(|p| fits(p))
                .min_by_key(|p| (!p.active, p.id))
                .map(|p| p.id)
        };
        let cached = {
            let cache = self.products.lock().unwrap_or_else(|e| e.into_inner());
            best(&mut cache.by_id.values())
        };
        if let Some(id) = cached {
            return Ok(id);
        }
        let mut filter = Vec::new();
        if let Some(m) = maker {
            filter.push(condition("eq", "manufacturerName", m.into()));
        }
        if let Some(m) = model {
            filter.push(condition("eq", "manufacturerProductName", m.into()));
        }
        let items = self.query_all("Products", filter).await?;
        self.remember_products(&items);
        let found: Vec<Product> = items.iter().filter_map(Product::from_item).collect();
        best(&mut found.iter()).ok_or_else(|| Error::UnknownLookup {
            kind: "Autotask product (manufacturer / model)".into(),
            name: format!("{} / {}", maker.unwrap_or("-"), model.unwrap_or("-")),
        })
    }

    /// Canonical changes → Autotask fields. `current` supplies the manufacturer or model that
    /// a change of only the other one keeps.
    async fn wire_fields(
        &self,
        entity: Entity,
        changes: &Changes,
        current: Option<&Record>,
    ) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        let mut product_done = false;
        for (field, value) in changes {
            let v = value.as_deref().filter(|s| !s.is_empty());
            let s = |x: Option<&str>| x.map_or(Value::Null, Value::from);
            let active = |x: Option<&str>| {
                Value::Bool(x.is_some_and(|s| !s.eq_ignore_ascii_case("inactive")))
            };
            let num = |x: Option<&str>| -> Result<Value> {
                match x {
                    None => Ok(Value::Null),
                    Some(s) => s.parse::<u64>().map(Value::from).map_err(|_| {
                        Error::InvalidInput(format!("Autotask reference {s:?} is not a record id"))
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
                        self.picklist_value(Picklist::CompanyType, n).await?.into(),
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
                        self.picklist_value(Picklist::CiType, n).await?.into(),
                    ),
                    None => ("configurationItemType", Value::Null),
                },
                (Entity::Configuration, Field::Manufacturer | Field::Model) => {
                    if product_done {
                        continue;
                    }
                    product_done = true;
                    let part = |f: Field| match changes.get(&f) {
                        Some(v) => v.clone().filter(|s| !s.is_empty()),
                        None => current.and_then(|r| r.get(f)).map(str::to_owned),
                    };
                    let (maker, model) = (part(Field::Manufacturer), part(Field::Model));
                    if maker.is_none() && model.is_none() {
                        ("productID", Value::Null)
                    } else {
                        (
                            "productID",
                            self.product_id(maker.as_deref(), model.as_deref())
                                .await?
                                .into(),
                        )
                    }
                }
                (Entity::Configuration, Field::Contact) => ("contactID", num(v)?),
                (Entity::Configuration, Field::InstalledAt) => {
                    ("installDate", s(v.map(at_date).as_deref()))
                }
                (Entity::Configuration, Field::WarrantyExpiresAt) => {
                    ("warrantyExpirationDate", s(v.map(at_date).as_deref()))
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

    /// Autotask JSON → canonical records, after making sure the picklists and products that
    /// name their ids are loaded.
    async fn to_records(&self, entity: Entity, items: &[Value]) -> Result<Vec<Record>> {
        let numbers = |key: &str| -> Vec<i64> {
            items
                .iter()
                .filter_map(|i| i.get(key).and_then(picklist_number))
                .collect()
        };
        match entity {
            Entity::Organization => {
                let ids = numbers("companyType");
                self.company_types
                    .cover(&ids, || self.load_picklist(Picklist::CompanyType))
                    .await?;
            }
            Entity::Configuration => {
                let ids = numbers("configurationItemType");
                self.ci_types
                    .cover(&ids, || self.load_picklist(Picklist::CiType))
                    .await?;
                let products: Vec<u64> = items
                    .iter()
                    .filter_map(|i| i.get("productID").and_then(Value::as_u64))
                    .collect();
                self.cover_products(&products).await?;
            }
            _ => {}
        }
        let names = Names {
            company_type: &|n| self.company_types.name_of(n),
            ci_type: &|n| self.ci_types.name_of(n),
            product: &|id| self.product(id),
        };
        items.iter().map(|i| to_record(entity, i, &names)).collect()
    }
}

/// How [`to_record`] names ids.
pub(crate) struct Names<'a> {
    pub(crate) company_type: &'a dyn Fn(i64) -> Option<String>,
    pub(crate) ci_type: &'a dyn Fn(i64) -> Option<String>,
    pub(crate) product: &'a dyn Fn(u64) -> Option<Product>,
}

/// Autotask JSON → canonical record, with the picklists and products that name ids.
pub(crate) fn to_record(entity: Entity, item: &Value, names: &Names<'_>) -> Result<Record> {
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
            v.set(
                Field::Type,
                label(names.company_type, item.get("companyType")),
            );
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
            let product = item
                .get("productID")
                .and_then(Value::as_u64)
                .and_then(names.product);
            // "Reference Name (if present) OR Product Name" (reference §2.2).
            v.set(
                Field::Name,
                t("referenceTitle").or_else(|| product.as_ref().and_then(|p| p.name.clone())),
            );
            v.set(Field::AssetTag, t("referenceNumber"));
            v.set(Field::SerialNumber, t("serialNumber"));
            v.set(
                Field::Type,
                label(names.ci_type, item.get("configurationItemType")),
            );
            v.set(Field::Status, active());
            v.set(
                Field::Manufacturer,
                product.as_ref().and_then(|p| p.maker.clone()),
            );
            v.set(Field::Model, product.and_then(|p| p.model));
            v.set(Field::Contact, t("contactID"));
            v.set(Field::Location, t("companyLocationID"));
            // Zone-less date-times; `Values` keeps their date.
            v.set(Field::InstalledAt, t("installDate"));
            v.set(Field::WarrantyExpiresAt, t("warrantyExpirationDate"));
            v.set(Field::Notes, t("notes"));
        }
        Entity::Location => return Err(Error::unsupported_entity("Autotask", entity)),
    }
    rec.values = v;
    rec.origin = Origin::Psa;
    rec.created_at = millis(item.get("createDate"));
    // A row never modified has no modified stamp: it last changed when it was created.
    rec.updated_at = millis(item.get(modified_field(entity))).max(rec.created_at);
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
        let mut fields = self
            .wire_fields(entity, &syncbridge_model::changes_setting(values), None)
            .await?;
        fields.retain(|_, v| !v.is_null());
        match entity {
            Entity::Organization => {
                fields.insert("ownerResourceID".into(), self.owner_resource_id.into());
                fields
                    .entry("isActive")
                    .or_insert_with(|| Value::Bool(true));
                fields
                    .entry("phone")
                    .or_insert_with(|| self.company_phone.clone().into());
            }
            _ => {
                let org = org_id.and_then(|o| o.parse::<u64>().ok()).ok_or_else(|| {
                    Error::InvalidInput(format!("a {entity} needs a numeric company id"))
                })?;
                fields.insert("companyID".into(), org.into());
                if entity == Entity::Contact {
                    // Contacts carry isActive as 1/0; Autotask requires it.
                    fields.entry("isActive").or_insert_with(|| Value::from(1));
                } else {
                    fields
                        .entry("isActive")
                        .or_insert_with(|| Value::Bool(true));
                    if !fields.contains_key("productID") {
                        fields.insert("productID".into(), self.fallback_product().await?.into());
                    }
                }
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
        let types = |n: i64| {
            STANDARD_COMPANY_TYPES
                .iter()
                .find(|(v, _)| *v == n)
                .map(|(_, l)| (*l).to_owned())
        };
        let names = Names {
            company_type: &types,
            ci_type: &|_| None,
            product: &|id| {
                (id == 5).then(|| Product {
                    id,
                    name: Some("Dell R650".into()),
                    maker: Some("Dell".into()),
                    model: Some("PowerEdge R650".into()),
                    active: true,
                })
            },
        };
        let r = to_record(
            Entity::Organization,
            &json!({"id": 4, "companyName": "Acme", "companyType": 99, "isActive": false}),
            &names,
        )
        .unwrap();
        assert_eq!(r.get(Field::Type), Some("99"));
        assert_eq!(r.get(Field::Status), Some("Inactive"));
        let r = to_record(
            Entity::Organization,
            &json!({"id": 4, "companyName": "Acme", "companyType": "7"}),
            &names,
        )
        .unwrap();
        assert_eq!(r.get(Field::Type), Some("Vendor"));
        let ci = to_record(
            Entity::Configuration,
            &json!({"id": 8, "companyID": 4, "configurationItemType": 2, "productID": 5}),
            &names,
        )
        .unwrap();
        assert_eq!(ci.get(Field::Name), Some("Dell R650"));
        assert_eq!(ci.get(Field::Manufacturer), Some("Dell"));
        assert_eq!(ci.get(Field::Model), Some("PowerEdge R650"));
        assert_eq!(ci.get(Field::Type), Some("2"));
        assert!(matches!(
            to_record(Entity::Contact, &json!("x"), &names),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn picklists_are_read_from_entity_information() {
        let doc = json!({"fields": [
            {"name": "companyName", "isPickList": false, "picklistValues": null},
            {"name": "companyType", "isPickList": true, "picklistValues": [
                {"value": "1", "label": "Customer", "isActive": true},
                {"value": 7, "label": "Vendor", "isActive": false},
                {"value": "x", "label": "Broken"}
            ]}
        ]});
        assert_eq!(
            picklist_of(&doc, "CompanyType").unwrap(),
            vec![(1, "Customer".to_owned()), (7, "Vendor".to_owned())]
        );
        assert!(matches!(
            picklist_of(&doc, "nope"),
            Err(Error::Malformed(_))
        ));
    }
}
