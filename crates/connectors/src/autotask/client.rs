//! The Autotask client: configuration, zone discovery, authentication headers, and the calls
//! behind [`AutotaskClient`]'s get / list / find / create / update.
//!
//! Every call carries `ApiIntegrationCode` / `UserName` / `ApiSecret`. Writes are partial: a create
//! is `POST /{Entity}` with the fields Autotask's entity metadata requires (AT-1), an update a
//! `PATCH /{Entity}` with the id in the body; both are followed by a read-back, since Autotask
//! answers writes with `{"itemId"}` only. The JSON of a record comes from and goes to
//! [`fields`](super::fields); picklists, products and paged queries are in their own files.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::{
    changes_setting, Changes, Entity, Field, PsaKind, Record, UnixMillis, Values,
};

use super::fields::{
    self, entity_name, modified_field, Ids, Names, ACTIVE_KEY, PARENT_KEY, PRODUCT_KEY,
};
use super::picklists::Picklist;
use super::products::{FallbackProduct, ProductCache, DEFAULT_FALLBACK_PRODUCT};
use super::query::condition;
use crate::create::{create_without_duplicates, has_any_key, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::lookup_table::LookupTable;
use crate::paging::{Cursor, Page};
use crate::policy::{HttpPolicy, RateBudget};
use crate::secret::ApiSecret;
use crate::wire::{text, zoneless};

/// How far behind the watermark a modified-since poll re-reads (the live note's 2 minutes):
/// Autotask's stamps can land slightly out of order.
pub const POLL_OVERLAP: Duration = Duration::from_secs(120);
/// Default [`AutotaskConfig::company_phone`].
pub const DEFAULT_COMPANY_PHONE: &str = "000-000-0000";

/// How to reach one Autotask database.
#[derive(Debug, Clone)]
pub struct AutotaskConfig {
    /// The zone's REST base, `https://webservices{n}.autotask.net/atservicesrest/v1.0`.
    pub api_url: String,
    pub username: String,
    pub secret: ApiSecret,
    /// The tracking identifier (`ApiIntegrationCode`).
    pub integration_code: ApiSecret,
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
        secret: impl Into<ApiSecret>,
        integration_code: impl Into<ApiSecret>,
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
    let http = Http::new(PsaKind::Autotask.as_str(), policy, Vec::new())?;
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

/// An Autotask REST client.
#[derive(Debug)]
pub struct AutotaskClient {
    http: Http,
    base: String,
    pub(super) username: String,
    secret: HeaderValue,
    integration_code: HeaderValue,
    owner_resource_id: u64,
    /// `Companies.companyType` picklist, loaded from the API.
    pub(super) company_types: LookupTable,
    /// `ConfigurationItems.configurationItemType` picklist, loaded from the API.
    pub(super) ci_types: LookupTable,
    pub(super) products: Mutex<ProductCache>,
    company_phone: String,
    pub(super) fallback_product: FallbackProduct,
    /// The fallback product's id once looked up.
    pub(super) fallback_product_id: Mutex<Option<u64>>,
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

impl AutotaskClient {
    pub fn new(config: AutotaskConfig) -> Result<Self> {
        let http = Http::new(
            PsaKind::Autotask.as_str(),
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
            products: Mutex::new(ProductCache::new()),
            company_phone: config.company_phone,
            fallback_product: config.fallback_product,
            fallback_product_id: Mutex::new(None),
        })
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    /// One request to `{base}/{entity}{rest}` with the credentials.
    pub(super) async fn call(
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

    /// A partial `PATCH /{entity}` of `fields`: Autotask takes the id in the body.
    pub(super) async fn patch(
        &self,
        entity: &str,
        id: u64,
        mut fields: Map<String, Value>,
    ) -> Result<()> {
        fields.insert("id".into(), id.into());
        self.call(
            Method::PATCH,
            entity,
            "",
            Some(Value::Object(fields)),
            Retry::Idempotent,
        )
        .await?;
        Ok(())
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
        let mut f: Vec<Value> = fields::searchable_key(entity, key)
            .map(|(wire_key, value)| condition("eq", wire_key, value.into()))
            .collect();
        if entity.has_parent_org() {
            if let Some(org) = org_id {
                let n: u64 = org.parse().map_err(|_| {
                    Error::InvalidInput(format!("Autotask company id {org:?} is not a number"))
                })?;
                f.push(condition("eq", PARENT_KEY, n.into()));
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
        fields::wire_fields(entity, &changes_setting(values), None, self).await?;
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
        let mut fields = fields::wire_fields(entity, changes, current.as_ref(), self).await?;
        // Autotask requires a product: clearing manufacturer and model means the fallback one.
        if fields.get(PRODUCT_KEY).is_some_and(Value::is_null) {
            fields.insert(PRODUCT_KEY.into(), self.fallback_product().await?.into());
        }
        if !fields.is_empty() {
            self.patch(name, num, fields).await?;
        }
        self.get(entity, id).await?.ok_or(Error::NotFound)
    }

    /// Autotask JSON → canonical records, after making sure the picklists and products that
    /// name their ids are loaded.
    pub(super) async fn to_records(&self, entity: Entity, items: &[Value]) -> Result<Vec<Record>> {
        for list in fields::picklists_in(entity) {
            self.cover_picklist(list, items).await?;
        }
        if fields::names_products(entity) {
            self.cover_products(items).await?;
        }
        let names = Names {
            company_type: &|n| self.picklist_label(Picklist::CompanyType, n),
            ci_type: &|n| self.picklist_label(Picklist::CiType, n),
            product: &|id| self.product(id),
        };
        items
            .iter()
            .map(|i| fields::to_record(entity, i, &names))
            .collect()
    }
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
        let mut fields = fields::wire_fields(entity, &changes_setting(values), None, self).await?;
        fields.retain(|_, v| !v.is_null());
        match entity {
            Entity::Organization => {
                fields.insert("ownerResourceID".into(), self.owner_resource_id.into());
                fields
                    .entry(ACTIVE_KEY)
                    .or_insert_with(|| Value::Bool(true));
                fields
                    .entry("phone")
                    .or_insert_with(|| self.company_phone.clone().into());
            }
            _ => {
                let org = org_id.and_then(|o| o.parse::<u64>().ok()).ok_or_else(|| {
                    Error::InvalidInput(format!("a {entity} needs a numeric company id"))
                })?;
                fields.insert(PARENT_KEY.into(), org.into());
                if entity == Entity::Contact {
                    // Contacts carry isActive as 1/0; Autotask requires it.
                    fields.entry(ACTIVE_KEY).or_insert_with(|| Value::from(1));
                } else {
                    fields
                        .entry(ACTIVE_KEY)
                        .or_insert_with(|| Value::Bool(true));
                    if !fields.contains_key(PRODUCT_KEY) {
                        fields.insert(PRODUCT_KEY.into(), self.fallback_product().await?.into());
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

/// The write direction's lookups: picklists and products, cached by the client.
impl Ids for AutotaskClient {
    async fn picklist_value(&self, list: Picklist, label: &str) -> Result<i64> {
        self.resolve_label(list, label).await
    }

    async fn product_id(&self, maker: Option<&str>, model: Option<&str>) -> Result<u64> {
        self.find_product(maker, model).await
    }
}
