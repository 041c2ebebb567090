//! The IT Glue client: configuration, `x-api-key` auth, JSON:API calls, and the record
//! operations (get, list, find by key, create, update) over the field table of
//! [`fields`](super::fields).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::{Changes, Entity, Field, Record, Values};

use super::fields::{to_attributes, to_record, to_records, writes_a_contact_list};
use super::lookups::Lookup;
use crate::create::{create_without_duplicates, has_any_key, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::paging::{Cursor, Page};
use crate::policy::{HttpPolicy, RateBudget};
use crate::secret::ApiSecret;

const JSON_API: &str = "application/vnd.api+json";

/// How to reach one IT Glue account.
#[derive(Debug, Clone)]
pub struct ItGlueConfig {
    /// `https://api.itglue.com` (EU `https://api.eu.itglue.com`, AU `https://api.au.itglue.com`).
    pub base_url: String,
    pub api_key: ApiSecret,
    /// `page[size]` of listings (IT Glue's maximum is 1000).
    pub page_size: u32,
    pub http: HttpPolicy,
}

impl ItGlueConfig {
    pub fn new(base_url: impl Into<String>, api_key: impl Into<ApiSecret>) -> Self {
        ItGlueConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            page_size: 1000,
            http: HttpPolicy::default().with_rate(Some(
                RateBudget::per(1500, std::time::Duration::from_secs(300)).with_burst(10),
            )),
        }
    }
}

/// An IT Glue API client.
#[derive(Debug)]
pub struct ItGlueClient {
    http: Http,
    base: String,
    api_key: ApiSecret,
    pub(super) page_size: u32,
    /// Lookup lists by collection, loaded on first use and reloaded on a miss.
    pub(super) lookups: Mutex<HashMap<&'static str, Vec<Lookup>>>,
}

pub(super) fn collection(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "organizations",
        Entity::Configuration => "configurations",
        Entity::Contact => "contacts",
        Entity::Location => "locations",
    }
}

/// The JSON:API `type` of a collection's resources: `organization_types` → `organization-types`.
pub(super) fn json_api_type(collection: &str) -> String {
    collection.replace('_', "-")
}

/// One page as IT Glue answers it.
pub(super) struct RawPage {
    pub data: Vec<Value>,
    pub next_page: Option<u64>,
    pub total: Option<u64>,
}

impl ItGlueClient {
    pub fn new(config: ItGlueConfig) -> Result<Self> {
        // IT Glue is no PSA, so it has no `PsaKind` token; this one matches theirs in style.
        let http = Http::new("itglue", config.http, vec![config.api_key.clone()])?;
        Ok(ItGlueClient {
            http,
            base: config.base_url.trim_end_matches('/').to_owned(),
            api_key: config.api_key,
            page_size: config.page_size.clamp(1, 1000),
            lookups: Mutex::new(HashMap::new()),
        })
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
        retry: Retry,
    ) -> Result<Reply> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::InvalidInput(format!("bad IT Glue URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut key = HeaderValue::from_str(self.api_key.expose()).map_err(|_| {
            Error::InvalidInput(
                "a credential holds characters an HTTP header cannot carry (check for line breaks)"
                    .into(),
            )
        })?;
        key.set_sensitive(true);
        let body = body.map(|b| b.to_string());
        let endpoint = path.split('/').nth(1).unwrap_or("");
        self.http
            .send(endpoint, retry, |c| {
                let rb = c
                    .request(method.clone(), url.clone())
                    .header("x-api-key", key.clone())
                    .header(ACCEPT, JSON_API);
                match &body {
                    Some(b) => rb.header(CONTENT_TYPE, JSON_API).body(b.clone()),
                    None => rb,
                }
            })
            .await
    }

    /// One page of a listing sorted by id; the cursor is the page number.
    pub(super) async fn list_resources(
        &self,
        coll: &str,
        query: Vec<(String, String)>,
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<Value>, Option<Cursor>)> {
        let number: u64 = match cursor {
            Some(c) => {
                c.0.parse()
                    .map_err(|_| Error::malformed("bad IT Glue cursor"))?
            }
            None => 1,
        };
        let page = self
            .fetch_page(coll, query, "id", self.page_size, number)
            .await?;
        let next = page.next_page.map(|n| Cursor(n.to_string()));
        Ok((page.data, next))
    }

    /// One page of a listing: `page[size]`, `page[number]` and `sort` added to `query`.
    pub(super) async fn fetch_page(
        &self,
        coll: &str,
        mut query: Vec<(String, String)>,
        sort: &str,
        size: u32,
        number: u64,
    ) -> Result<RawPage> {
        query.push(("page[size]".into(), size.to_string()));
        query.push(("page[number]".into(), number.to_string()));
        query.push(("sort".into(), sort.into()));
        let doc = self
            .call(
                Method::GET,
                &format!("/{coll}"),
                &query,
                None,
                Retry::Idempotent,
            )
            .await?
            .json()?;
        let data = doc
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| Error::malformed("listing without a data array"))?;
        Ok(RawPage {
            data,
            next_page: doc.pointer("/meta/next-page").and_then(Value::as_u64),
            total: doc.pointer("/meta/total-count").and_then(Value::as_u64),
        })
    }

    async fn page_of(
        &self,
        entity: Entity,
        query: Vec<(String, String)>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let (data, next) = self
            .list_resources(collection(entity), query, cursor)
            .await?;
        let records = to_records(entity, &data)?;
        Ok(Page { records, next })
    }

    /// Every page of a filtered listing.
    async fn all_pages(&self, entity: Entity, query: Vec<(String, String)>) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.page_of(entity, query.clone(), cursor.as_ref()).await?;
            out.extend(page.records);
            match page.next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// The answer to a GET of `/<collection>/<id>`.
    async fn get_document(&self, entity: Entity, id: &str) -> Result<Value> {
        let path = format!("/{}/{}", collection(entity), encode_segment(id));
        self.call(Method::GET, &path, &[], None, Retry::Idempotent)
            .await?
            .json()
    }

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        match self.get_document(entity, id).await {
            Ok(doc) => to_record(entity, &data_of(doc)?).map(Some),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn list_page(&self, entity: Entity, cursor: Option<&Cursor>) -> Result<Page> {
        self.page_of(entity, Vec::new(), cursor).await
    }

    /// Narrow search by key: organization by name; children by organization plus name (contacts:
    /// first and last name; locations: city). Exact comparison is the caller's.
    pub async fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        if !has_any_key(entity, key) {
            return Ok(Vec::new());
        }
        let mut q: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, v: Option<&str>| {
            if let Some(v) = v {
                q.push((format!("filter[{name}]"), v.to_owned()));
            }
        };
        if entity.has_parent_org() {
            add("organization_id", org_id);
        }
        match entity {
            Entity::Organization => add("name", key.get(Field::Name)),
            Entity::Configuration => add("name", key.get(Field::Name)),
            Entity::Contact => {
                add("first_name", key.get(Field::FirstName));
                add("last_name", key.get(Field::LastName));
            }
            Entity::Location => add("city", key.get(Field::City)),
        }
        self.all_pages(entity, q).await
    }

    /// Every record of a child entity in one organization (`filter[organization_id]`).
    pub async fn list_in_org(&self, entity: Entity, org_id: &str) -> Result<Vec<Record>> {
        let q = vec![("filter[organization_id]".to_owned(), org_id.to_owned())];
        self.all_pages(entity, q).await
    }

    /// Creates a record (inside organization `org_id` for children); never duplicated by retries.
    pub async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        create_without_duplicates(self, entity, org_id, values).await
    }

    /// PATCHes only the changed attributes; returns the record as IT Glue answers it. A change to
    /// a contact's e-mail or phones reads the contact first: its lists are sent back whole.
    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        let current = if changes.keys().any(|f| writes_a_contact_list(entity, *f)) {
            let mut doc = self.get_document(entity, id).await?;
            doc.get_mut("data").map(Value::take)
        } else {
            None
        };
        let attrs = to_attributes(self, entity, changes, current.as_ref()).await?;
        let path = format!("/{}/{}", collection(entity), encode_segment(id));
        self.send_resource(entity, Method::PATCH, &path, attrs, Retry::Idempotent)
            .await
    }

    /// POSTs or PATCHes a resource of `entity` with `attrs`; returns it as IT Glue answers it.
    async fn send_resource(
        &self,
        entity: Entity,
        method: Method,
        path: &str,
        attrs: Map<String, Value>,
        retry: Retry,
    ) -> Result<Record> {
        let body =
            json!({"data": {"type": json_api_type(collection(entity)), "attributes": attrs}});
        let doc = self
            .call(method, path, &[], Some(body), retry)
            .await?
            .json()?;
        to_record(entity, &data_of(doc)?)
    }
}

impl KeyedCreate for ItGlueClient {
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
        let mut attrs = to_attributes(self, entity, &changes, None).await?;
        attrs.retain(|_, v| !v.is_null());
        if entity.has_parent_org() {
            let org = org_id
                .ok_or_else(|| Error::InvalidInput(format!("a {entity} needs an organization")))?;
            attrs.insert("organization-id".into(), Value::from(org));
        }
        let path = format!("/{}", collection(entity));
        self.send_resource(entity, Method::POST, &path, attrs, Retry::Once)
            .await
    }

    fn create_attempts(&self) -> u32 {
        self.http.policy().max_attempts
    }
}

/// The `data` of a single-resource answer.
fn data_of(mut doc: Value) -> Result<Value> {
    doc.get_mut("data")
        .map(Value::take)
        .ok_or_else(|| Error::malformed("answer without data"))
}

/// Path segments are ids we were given; keep them from changing the path.
pub(crate) fn encode_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
