//! ConnectWise PSA connector: the REST API under `/v4_6_release/apis/3.0/` (reference
//! sync-rules-and-apis.md §4.1, vendor audit §2).
//!
//! Basic auth `company+public:private` plus the `clientId` header. Paging: forward-only
//! (`pagination-type: forward-only`, `pageId` = last id) on the top-level record collections, page
//! numbers (`page`) everywhere else and wherever ConnectWise answers that an endpoint "doesn't
//! support 'forward-only' pagination" (audit CW-4); `pageSize` ≤ 1000; a next page while the
//! `Link` header has `rel="next"` (or, without any `Link`, while pages come back full).
//! `conditions` for key searches and `lastUpdated` polls; PATCH as a JSON-Patch array of only
//! the changed paths. No published rate limit: no client budget by default.
//!
//! Field map (canonical ⇄ ConnectWise, reference §2.1) lives in [`to_record`] and
//! [`ConnectWiseClient::patch_ops`]. Companies: Name ⇄ `name`, Short Name ⇄ `identifier`, Status ⇄
//! `status`, Type ⇄ first of `types[]` (further types in `Record::extra_types`). Types are sent
//! on create only; later changes go through `…/{id}/typeAssociations` (audit CW-1). Every
//! reference is written by id, resolved through the lookup endpoints (audit CW-3).
//! Configurations and contacts carry `company.id` as `Record::org_id`, `contact.id` and site
//! references as ids. Sites are children of a company and have no top-level collection: their
//! side-local id is `"{company id}:{site id}"`, and references to a site (`site.id` on
//! configurations and contacts) use the same form.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, LINK};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::dates::{midnight, DateTimeForm};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Origin, Record, UnixMillis, Values};

use crate::create::{create_without_duplicates, has_any_key, KeyedCreate};
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::itglue::encode_segment;
use crate::paging::{Cursor, Page};
use crate::policy::HttpPolicy;
use crate::secret::Secret;
use crate::wire::{id_of, millis, path_text, rfc3339_seconds, text};

mod callbacks;
mod keys;

pub use keys::ConnectWiseKeySource;

/// Site listings run per company; this many at once.
const SITE_FETCH_CONCURRENCY: usize = 4;

/// Listings that take forward-only paging. ConnectWise does not support it on every endpoint
/// and publishes no list (audit CW-4); the top-level record collections are where it is used in
/// public clients. Any other listing pages by number.
const FORWARD_ONLY_PATHS: [&str; 3] = [
    "company/companies",
    "company/configurations",
    "company/contacts",
];

/// How many numbered identifiers (`AcmeInc1`, `AcmeInc2`, …) a new company tries when the
/// derived one is taken.
const IDENTIFIER_SUFFIXES: u32 = 50;

/// ConnectWise's limit on a company identifier (25 in older schemas, 30 in the current one:
/// the stricter).
const IDENTIFIER_MAX: usize = 25;

/// The company address fields ConnectWise wants at least one of on create (audit CW-2).
const ADDRESS_FIELDS: [(Field, &str); 5] = [
    (Field::Address1, "addressLine1"),
    (Field::Address2, "addressLine2"),
    (Field::City, "city"),
    (Field::Region, "state"),
    (Field::PostalCode, "zip"),
];

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
    /// The `city` written on a new company whose values carry no address field: ConnectWise
    /// requires at least one (addressLine1, addressLine2, city, state, zip or country), and IT
    /// Glue organizations have none (their addresses are locations, synced as sites).
    pub company_address_fallback: String,
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
            company_address_fallback: "Unknown".into(),
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
    company_address_fallback: String,
    /// Lookup key (name or identifier) → id per lookup path (`company/companies/types`, …).
    lookups: Mutex<HashMap<&'static str, Vec<(String, String)>>>,
    /// Listing paths that refused forward-only paging: paged by number from then on.
    numbered_paging: Mutex<HashSet<String>>,
}

/// Where a listing page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageAt {
    Start,
    /// Forward-only: records with `id > n`.
    After(u64),
    /// Page number (1-based).
    Number(u64),
}

impl PageAt {
    /// Cursors are `id:<n>` (forward-only) or `page:<n>`; a bare number is a `pageId` (the
    /// format of earlier versions).
    fn parse(cursor: Option<&Cursor>) -> Result<PageAt> {
        let Some(c) = cursor else {
            return Ok(PageAt::Start);
        };
        let bad = || Error::malformed(format!("not a ConnectWise cursor: {:?}", c.0));
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
        match c.0.split_once(':') {
            Some(("id", n)) => Ok(PageAt::After(num(n)?)),
            Some(("page", n)) => Ok(PageAt::Number(num(n)?.max(1))),
            None => Ok(PageAt::After(num(&c.0)?)),
            _ => Err(bad()),
        }
    }
}

/// Whether a 400 says that the endpoint has no forward-only paging.
fn forward_only_refused(e: &Error) -> bool {
    matches!(e, Error::Rejected { status: 400, body_excerpt }
        if body_excerpt.to_ascii_lowercase().contains("forward-only"))
}

/// Whether a refused company create says that its identifier is taken.
fn identifier_taken(e: &Error) -> bool {
    match e {
        Error::Rejected {
            status: 400,
            body_excerpt,
        } => {
            let b = body_excerpt.to_ascii_lowercase();
            b.contains("identifier")
                && (b.contains("already in use")
                    || b.contains("already exists")
                    || b.contains("duplicate"))
        }
        _ => false,
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

/// What a reply's `Link` header says about a next page: `None` without a `Link` header,
/// `Some(None)` when it has no `rel="next"`, `Some(Some(pageId))` when it has one (the pageId
/// empty when the link carries none).
fn next_link(reply: &Reply) -> Option<Option<String>> {
    let link = reply.headers.get(LINK)?.to_str().ok()?;
    Some(link.split(',').find_map(|part| {
        let (target, rel) = part.split_once(';')?;
        if !rel.contains("rel=\"next\"") {
            return None;
        }
        let page_id = url::Url::parse(target.trim().trim_start_matches('<').trim_end_matches('>'))
            .ok()
            .and_then(|url| {
                url.query_pairs()
                    .find(|(k, _)| k.eq_ignore_ascii_case("pageId"))
                    .map(|(_, v)| v.into_owned())
            });
        Some(page_id.unwrap_or_default())
    }))
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
            company_address_fallback: config.company_address_fallback,
            lookups: Mutex::new(HashMap::new()),
            numbered_paging: Mutex::new(HashSet::new()),
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
        self.send(method, path, query, body, retry, false).await
    }

    /// One request; `forward_only` adds the forward-only paging header (listings only).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        retry: Retry,
        forward_only: bool,
    ) -> Result<Reply> {
        let mut url = url::Url::parse(&format!("{}/{path}", self.base))
            .map_err(|e| Error::InvalidInput(format!("bad ConnectWise URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let body = body.map(|b| b.to_string());
        let endpoint = path.split('/').take(2).collect::<Vec<_>>().join("/");
        self.http
            .send(&endpoint, retry, |c| {
                let mut rb = c
                    .request(method.clone(), url.clone())
                    .header(AUTHORIZATION, self.authorization.clone())
                    .header("clientId", self.client_id.clone());
                if forward_only {
                    rb = rb.header("pagination-type", "forward-only");
                }
                match &body {
                    Some(b) => rb.header(CONTENT_TYPE, "application/json").body(b.clone()),
                    None => rb,
                }
            })
            .await
    }

    /// Whether to ask `path` for forward-only pages.
    fn forward_only(&self, path: &str) -> bool {
        FORWARD_ONLY_PATHS.contains(&path)
            && !self
                .numbered_paging
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(path)
    }

    /// One page of `path` under `conditions` (and `extra` query pairs); forward-only where the
    /// endpoint takes it, else by page number. An endpoint that refuses forward-only is paged by
    /// number from then on.
    async fn page_at(
        &self,
        path: &str,
        conditions: Option<String>,
        extra: &[(&str, String)],
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<Value>, Option<Cursor>)> {
        let at = PageAt::parse(cursor)?;
        let forward = match at {
            PageAt::Start => self.forward_only(path),
            PageAt::After(_) => true,
            PageAt::Number(_) => false,
        };
        match self.fetch_page(path, &conditions, extra, at, forward).await {
            Err(e) if forward && at == PageAt::Start && forward_only_refused(&e) => {
                tracing::info!(
                    path,
                    "ConnectWise refuses forward-only paging here; paging by number"
                );
                self.numbered_paging
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(path.to_owned());
                self.fetch_page(path, &conditions, extra, at, false).await
            }
            other => other,
        }
    }

    async fn fetch_page(
        &self,
        path: &str,
        conditions: &Option<String>,
        extra: &[(&str, String)],
        at: PageAt,
        forward: bool,
    ) -> Result<(Vec<Value>, Option<Cursor>)> {
        let mut q = vec![("pageSize", self.page_size.to_string())];
        q.extend(extra.iter().cloned());
        let number = match at {
            PageAt::Number(n) => n,
            _ => 1,
        };
        match at {
            PageAt::After(id) => q.push(("pageId", id.to_string())),
            PageAt::Number(n) => q.push(("page", n.to_string())),
            PageAt::Start if !forward => q.push(("page", "1".to_owned())),
            PageAt::Start => {}
        }
        if let Some(c) = conditions {
            q.push(("conditions", c.clone()));
        }
        let reply = self
            .send(Method::GET, path, &q, None, Retry::Idempotent, forward)
            .await?;
        let rows = match reply.json()? {
            Value::Array(rows) => rows,
            _ => return Err(Error::malformed("listing is not an array")),
        };
        // Without any Link header a full page may have a successor: ask rather than stop.
        let full = rows.len() >= self.page_size as usize;
        let more = match next_link(&reply) {
            None => full.then(String::new),
            Some(next) => next,
        };
        let next = match more {
            None => None,
            Some(_) if rows.is_empty() => None,
            Some(page_id) if forward => {
                let last = match page_id.parse::<u64>() {
                    Ok(id) => id,
                    // A next link without a pageId: continue after the last row.
                    Err(_) => rows
                        .last()
                        .and_then(|r| id_of(r, "id").ok())
                        .and_then(|id| id.parse().ok())
                        .ok_or_else(|| Error::malformed("listing row without a numeric id"))?,
                };
                Some(Cursor(format!("id:{last}")))
            }
            Some(_) => Some(Cursor(format!("page:{}", number + 1))),
        };
        Ok((rows, next))
    }

    async fn all_rows(&self, path: &str, conditions: Option<String>) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let (rows, next) = self
                .page_at(path, conditions.clone(), &[], cursor.as_ref())
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
        let (rows, next) = self
            .page_at(collection(entity), conditions, &[], cursor)
            .await?;
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
        let (companies, next) = self
            .page_at(
                "company/companies",
                None,
                &[("fields", "id".to_owned())],
                cursor,
            )
            .await?;
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
        Ok(Page { records, next })
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
            (_, Some(org)) => Some(org.parse::<u64>().map_err(|_| {
                Error::InvalidInput(format!("ConnectWise company id {org:?} is not a number"))
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
                return Err(Error::InvalidInput(
                    "a site search needs its company".into(),
                ));
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
    /// Company and contact types cannot be PATCHed (audit CW-1): a Type change goes through
    /// `…/{id}/typeAssociations` (the new type added, the replaced one removed) and the record
    /// is read back afterwards.
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
        let mut changes = changes.clone();
        let type_change = match entity {
            Entity::Organization | Entity::Contact => changes.remove(&Field::Type),
            _ => None,
        };
        // Multi-valued fields are rewritten whole: read the current ones first.
        let needs_current = type_change.is_some()
            || changes.keys().any(|f| match entity {
                Entity::Contact => matches!(f, Field::Email | Field::Phone | Field::Fax),
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
        let ops = self.patch_ops(entity, &changes, current.as_ref()).await?;
        let mut answered = None;
        if !ops.is_empty() {
            let reply = self
                .call(
                    Method::PATCH,
                    &path,
                    &[],
                    Some(Value::Array(ops)),
                    Retry::Idempotent,
                )
                .await?;
            answered = Some(reply.json()?);
        }
        if let (Some(new_type), Some(current)) = (type_change, current.as_ref()) {
            let changed = self
                .change_types(
                    entity,
                    &path,
                    current,
                    new_type.as_deref().filter(|s| !s.is_empty()),
                )
                .await?;
            if changed {
                answered = None;
            }
        }
        match answered {
            Some(row) => to_record(entity, &row),
            None => self.get(entity, id).await?.ok_or(Error::NotFound),
        }
    }

    /// Makes `new_type` the first type of a company or contact through its type associations,
    /// keeping its other types; returns whether anything was written.
    async fn change_types(
        &self,
        entity: Entity,
        record_path: &str,
        current: &Value,
        new_type: Option<&str>,
    ) -> Result<bool> {
        let lookup = match entity {
            Entity::Organization => "company/companies/types",
            _ => "company/contacts/types",
        };
        let current_ids: Vec<u64> = current
            .get("types")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("id").and_then(Value::as_u64))
                    .collect()
            })
            .unwrap_or_default();
        let new_id = match new_type {
            Some(name) => Some(self.lookup_id(lookup, name).await?),
            None => None,
        };
        let others: Vec<u64> = current_ids
            .iter()
            .skip(1)
            .copied()
            .filter(|id| Some(*id) != new_id)
            .collect();
        let desired: Vec<u64> = new_id.into_iter().chain(others.iter().copied()).collect();
        if desired == current_ids {
            return Ok(false);
        }
        let assoc_path = format!("{record_path}/typeAssociations");
        let associations: Vec<(String, u64)> = self
            .all_rows(&assoc_path, None)
            .await?
            .iter()
            .filter_map(|a| Some((id_of(a, "id").ok()?, a.get("type")?.get("id")?.as_u64()?)))
            .collect();
        let add = |type_id: u64| {
            let assoc_path = assoc_path.clone();
            async move {
                self.call(
                    Method::POST,
                    &assoc_path,
                    &[],
                    Some(json!({"type": {"id": type_id}})),
                    Retry::Once,
                )
                .await
                .map(|_| ())
            }
        };
        let remove = |assoc_id: String| {
            let path = format!("{assoc_path}/{}", encode_segment(&assoc_id));
            async move {
                match self
                    .call(Method::DELETE, &path, &[], None, Retry::Idempotent)
                    .await
                {
                    Ok(_) | Err(Error::NotFound) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        // Add the missing type first, so the record never has fewer types than it needs.
        if let Some(id) = new_id {
            if !associations.iter().any(|(_, t)| *t == id) {
                add(id).await?;
            }
        }
        for (assoc_id, type_id) in &associations {
            if !desired.contains(type_id) {
                remove(assoc_id.clone()).await?;
            }
        }
        // Types read as "first of types[]", and types[] follows the associations' order: the
        // other types are re-added after the new one so that it reads first.
        if new_id.is_some() && current_ids.first() != new_id.as_ref() {
            for (assoc_id, type_id) in &associations {
                if others.contains(type_id) {
                    remove(assoc_id.clone()).await?;
                    add(*type_id).await?;
                }
            }
        }
        Ok(true)
    }

    /// Id of the lookup record whose name is `name` (see [`Self::lookup_id_by`]).
    async fn lookup_id(&self, path: &'static str, name: &str) -> Result<u64> {
        self.lookup_id_by(path, "name", name).await
    }

    /// Id of the record of lookup `path` whose `key` (name, identifier, description) is
    /// `name`, exactly; the list is read once per client and read again once on a miss.
    async fn lookup_id_by(&self, path: &'static str, key: &str, name: &str) -> Result<u64> {
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
                    .filter_map(|r| Some((text(r.get(key))?, text(r.get("id"))?)))
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
        self.reference_by(path, "name", name).await
    }

    /// `{"id": …}` of the lookup record whose `key` is `value` (ConnectWise takes references
    /// by id, audit CW-3), or null to clear.
    async fn reference_by(
        &self,
        path: &'static str,
        key: &str,
        value: Option<&str>,
    ) -> Result<Value> {
        match value {
            Some(v) => Ok(json!({"id": self.lookup_id_by(path, key, v).await?})),
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
                    self.reference("procurement/manufacturers", v).await?,
                ),
                (Entity::Configuration, Field::Model) => ("modelNumber", s(v)),
                (Entity::Configuration, Field::Notes) => ("notes", s(v)),
                (Entity::Configuration, Field::InstalledAt) => ("installationDate", date_time(v)),
                (Entity::Configuration, Field::InstalledBy) => (
                    "installedBy",
                    self.reference_by("system/members", "identifier", v).await?,
                ),
                (Entity::Configuration, Field::PurchasedAt) => ("purchaseDate", date_time(v)),
                (Entity::Configuration, Field::WarrantyExpiresAt) => {
                    ("warrantyExpirationDate", date_time(v))
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
                    // A new item needs its communication type by id.
                    let type_id = match (v, comm_position(list, *field)) {
                        (Some(_), None) => Some(
                            self.lookup_id_by(
                                "company/communicationTypes",
                                "description",
                                comm_type_name(*field),
                            )
                            .await?,
                        ),
                        _ => None,
                    };
                    set_communication(list, *field, v, type_id);
                    continue;
                }
                (Entity::Location, Field::Name) => ("name", s(v)),
                (Entity::Location, Field::Address1) => ("addressLine1", s(v)),
                (Entity::Location, Field::Address2) => ("addressLine2", s(v)),
                (Entity::Location, Field::City) => ("city", s(v)),
                (Entity::Location, Field::Region) => (
                    "stateReference",
                    self.reference_by("company/states", "identifier", v).await?,
                ),
                (Entity::Location, Field::PostalCode) => ("zip", s(v)),
                (Entity::Location, Field::Country) => {
                    ("country", self.reference("company/countries", v).await?)
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

/// A canonical date as ConnectWise's date-time (`2024-01-02T00:00:00Z`), or null to clear.
fn date_time(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |d| midnight(d, DateTimeForm::Utc).into())
}

/// `{"id": n}` of a numeric reference, or null.
fn id_ref(v: Option<&str>) -> Result<Value> {
    match v {
        None => Ok(Value::Null),
        Some(s) => s.parse::<u64>().map(|id| json!({"id": id})).map_err(|_| {
            Error::InvalidInput(format!("ConnectWise reference {s:?} is not a record id"))
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

/// The item a contact's Email / Phone / Fax is read from and written to: the default item of
/// that kind, else the first.
fn comm_position(list: &[Value], field: Field) -> Option<usize> {
    let default = |e: &Value| e.get("defaultFlag") == Some(&Value::Bool(true));
    list.iter()
        .position(|e| comm_kind(e) == Some(field) && default(e))
        .or_else(|| list.iter().position(|e| comm_kind(e) == Some(field)))
}

/// The communication type a new item of `field` gets (ConnectWise's standard types).
fn comm_type_name(field: Field) -> &'static str {
    match field {
        Field::Email => "Email",
        Field::Fax => "Fax",
        _ => "Direct",
    }
}

/// Sets the value of `field`'s item; a new item gets communication type `type_id`.
fn set_communication(
    list: &mut Vec<Value>,
    field: Field,
    value: Option<&str>,
    type_id: Option<u64>,
) {
    let pos = comm_position(list, field);
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
            let kind = match field {
                Field::Email => "Email",
                Field::Fax => "Fax",
                _ => "Phone",
            };
            list.push(
                json!({"type": {"id": type_id, "name": comm_type_name(field)}, "value": v,
                "communicationType": kind, "defaultFlag": true}),
            );
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
/// (unique, ≤ 25 characters); we derive it from the name's letters and digits. `suffix` n > 0
/// gives the n-th alternative (`AcmeInc1`, …) for when the plain one is taken (audit CW-5),
/// shortening the base so that the whole stays within the limit.
fn identifier_from_name(name: &str, suffix: u32) -> String {
    let tail = if suffix == 0 {
        String::new()
    } else {
        suffix.to_string()
    };
    let base: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(IDENTIFIER_MAX - tail.len())
        .collect();
    if base.is_empty() {
        format!("Company{tail}")
    } else {
        format!("{base}{tail}")
    }
}

impl ConnectWiseClient {
    /// The address fields of a new company: those the values carry (an organization's address
    /// where the caller has one), else `city` = the configured fallback, since ConnectWise
    /// refuses a company without any (audit CW-2).
    async fn company_address(
        &self,
        values: &Values,
        fields: &mut Map<String, Value>,
    ) -> Result<()> {
        for (field, key) in ADDRESS_FIELDS {
            if let Some(v) = values.get(field).filter(|v| !v.is_empty()) {
                fields.insert(key.into(), v.into());
            }
        }
        if let Some(country) = values.get(Field::Country).filter(|v| !v.is_empty()) {
            fields.insert(
                "country".into(),
                self.reference("company/countries", Some(country)).await?,
            );
        }
        let has_address = ADDRESS_FIELDS.iter().any(|(_, k)| fields.contains_key(*k))
            || fields.contains_key("country");
        if !has_address && !self.company_address_fallback.is_empty() {
            fields.insert("city".into(), self.company_address_fallback.clone().into());
        }
        Ok(())
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
            .wire_fields(entity, &syncbridge_model::changes_setting(values), None)
            .await?;
        fields.retain(|_, v| !v.is_null());
        let need_org =
            || org_id.ok_or_else(|| Error::InvalidInput(format!("a {entity} needs a company")));
        let mut derived_identifier = None;
        let path = match entity {
            Entity::Organization => {
                if !fields.contains_key("identifier") {
                    let name = values.get(Field::Name).unwrap_or("");
                    fields.insert("identifier".into(), identifier_from_name(name, 0).into());
                    derived_identifier = Some(name);
                }
                self.company_address(values, &mut fields).await?;
                collection(entity).to_owned()
            }
            Entity::Location => format!("company/companies/{}/sites", encode_segment(need_org()?)),
            _ => {
                fields.insert("company".into(), id_ref(Some(need_org()?))?);
                collection(entity).to_owned()
            }
        };
        let mut suffix = 0;
        loop {
            let reply = self
                .call(
                    Method::POST,
                    &path,
                    &[],
                    Some(Value::Object(fields.clone())),
                    Retry::Once,
                )
                .await;
            match (reply, derived_identifier) {
                (Ok(reply), _) => return to_record(entity, &reply.json()?),
                // A 400 created nothing: the next numbered identifier is safe to try. A Short
                // Name given by the user is never altered.
                (Err(e), Some(name)) if identifier_taken(&e) && suffix < IDENTIFIER_SUFFIXES => {
                    suffix += 1;
                    let next = identifier_from_name(name, suffix);
                    tracing::info!(identifier = %next, "ConnectWise company identifier taken; trying the next");
                    fields.insert("identifier".into(), next.into());
                }
                (Err(e), _) => return Err(e),
            }
        }
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
