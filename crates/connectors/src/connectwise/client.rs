//! The ConnectWise client: config, auth (Basic `company+public:private` and the `clientId`
//! header), one request, and the record calls (get, list, find by key, update). Creates are in
//! `create`; listings page through `paging`; references resolve through `lookups`; values are
//! read and written through the table in `fields`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};
use syncbridge_model::{Changes, Entity, Field, PsaKind, Record, UnixMillis, Values};

use super::fields::{to_record, wire_fields, wire_of, Wire};
use super::lookups::LookupCache;
use super::paging::NumberedPaging;
use super::sites::{sites_of, split_site_id};
use super::type_associations::types_list;
use crate::create::has_any_key;
use crate::error::{Error, Result};
use crate::http::{Http, HttpStats, Reply, Retry};
use crate::itglue::encode_segment;
use crate::paging::{Cursor, Page};
use crate::policy::HttpPolicy;
use crate::secret::ApiSecret;
use crate::wire::rfc3339_seconds;

/// How to reach one ConnectWise PSA.
#[derive(Debug, Clone)]
pub struct ConnectWiseConfig {
    /// `https://{server}/v4_6_release/apis/3.0`.
    pub api_url: String,
    /// The ConnectWise company id used at login.
    pub company_id: String,
    pub public_key: String,
    pub private_key: ApiSecret,
    /// The integration's `clientId`.
    pub client_id: ApiSecret,
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
        private_key: impl Into<ApiSecret>,
        client_id: impl Into<ApiSecret>,
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
    pub(super) http: Http,
    base: String,
    authorization: HeaderValue,
    client_id: HeaderValue,
    pub(super) page_size: u32,
    pub(super) company_address_fallback: String,
    pub(super) lookups: LookupCache,
    pub(super) numbered_paging: NumberedPaging,
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

/// The collection of a top-level entity (sites have none: see `sites`).
pub(super) fn collection(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "company/companies",
        Entity::Configuration => "company/configurations",
        Entity::Contact => "company/contacts",
        Entity::Location => "company/companies/{id}/sites",
    }
}

/// A `conditions` string literal (backslash escapes).
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The path of one record.
fn record_path(entity: Entity, id: &str) -> Result<String> {
    match entity {
        Entity::Location => {
            let (company, site) = split_site_id(id)?;
            Ok(format!("{}/{}", sites_of(company), encode_segment(site)))
        }
        _ => Ok(format!("{}/{}", collection(entity), encode_segment(id))),
    }
}

/// Top-level field values as a JSON-Patch: a null removes the path, anything else replaces it.
fn json_patch(fields: Map<String, Value>) -> Vec<Value> {
    fields
        .into_iter()
        .map(|(k, v)| match v {
            Value::Null => json!({"op": "remove", "path": k}),
            v => json!({"op": "replace", "path": k, "value": v}),
        })
        .collect()
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
            PsaKind::ConnectWise.as_str(),
            config.http,
            vec![
                config.private_key.clone(),
                config.client_id.clone(),
                ApiSecret::new(basic),
            ],
        )?;
        Ok(ConnectWiseClient {
            http,
            base: config.api_url.trim_end_matches('/').to_owned(),
            authorization,
            client_id,
            page_size: config.page_size.clamp(1, 1000),
            company_address_fallback: config.company_address_fallback,
            lookups: LookupCache::default(),
            numbered_paging: NumberedPaging::default(),
        })
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    pub(super) async fn call(
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
    pub(super) async fn send(
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

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        // A site id without its company names no record.
        let Ok(path) = record_path(entity, id) else {
            return Ok(None);
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
            let cond = (!conds.is_empty()).then(|| conds.join(" and "));
            return self.company_sites(&company.to_string(), cond).await;
        }
        if let Some(company) = company {
            conds.push(format!("company/id = {company}"));
        }
        let cond = (!conds.is_empty()).then(|| conds.join(" and "));
        let rows = self.all_rows(collection(entity), cond).await?;
        rows.iter().map(|r| to_record(entity, r)).collect()
    }

    /// PATCH with a JSON-Patch of only the changed paths; returns the record as answered.
    /// Company and contact types cannot be PATCHed (audit CW-1): a Type change goes through
    /// `…/{id}/typeAssociations` (the new type added, the replaced one removed) and the record
    /// is read back afterwards.
    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        let path = record_path(entity, id)?;
        let mut changes = changes.clone();
        let types_list = types_list(entity);
        let type_change = types_list.and_then(|_| changes.remove(&Field::Type));
        // Multi-valued fields are rewritten whole: read the current ones first.
        let needs_current = type_change.is_some()
            || changes
                .keys()
                .any(|f| wire_of(entity, *f) == Some(Wire::Communication));
        let current = if needs_current {
            Some(
                self.call(Method::GET, &path, &[], None, Retry::Idempotent)
                    .await?
                    .json()?,
            )
        } else {
            None
        };
        let ops = json_patch(wire_fields(self, entity, &changes, current.as_ref()).await?);
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
        if let (Some(list), Some(new_type), Some(current)) =
            (types_list, type_change, current.as_ref())
        {
            let changed = self
                .change_types(
                    list,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_literals_are_escaped() {
        assert_eq!(quoted(r#"Say "hi" \o/"#), r#""Say \"hi\" \\o/""#);
    }
}
