//! The Tigerpaw client: configuration, one signed call, the account search, contacts per
//! account, and the read-only refusals. Field map in `fields`, signature in `signature`.

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, PsaKind, Record, UnixMillis, Values};

use super::fields::{account_of, account_record, contact_record, location_record};
use super::signature::signed;
use crate::create::has_any_key;
use crate::error::{excerpt, Error, Result};
use crate::http::{Http, HttpStats, Retry};
use crate::itglue::encode_segment;
use crate::paging::{Cursor, Page};
use crate::policy::HttpPolicy;
use crate::secret::ApiSecret;
use crate::wire::path_text;

/// Account contact lists fetched at once while listing contacts (one request per account).
const CONTACT_FETCHES: usize = 4;

/// The criterion that lists every account: documented SearchType and MatchType, true of every
/// account number (a positive integer). Whether the vendor compares it as a number is not
/// documented [assumed]; docs/vendors.md.
fn every_account() -> Vec<Value> {
    vec![json!({"SearchType": "AccountNumber", "MatchType": "GreaterThan", "Criteria": "0"})]
}

/// How to reach one Tigerpaw API site.
#[derive(Debug, Clone)]
pub struct TigerpawConfig {
    /// The customer's API site, e.g. `https://api.example.com`.
    pub base_url: String,
    /// The Rep's public key (not a secret: it names the key pair).
    pub public_key: String,
    pub private_key: ApiSecret,
    pub page_size: u32,
    pub http: HttpPolicy,
}

impl TigerpawConfig {
    pub fn new(
        base_url: impl Into<String>,
        public_key: impl Into<String>,
        private_key: impl Into<ApiSecret>,
    ) -> Self {
        TigerpawConfig {
            base_url: base_url.into(),
            public_key: public_key.into(),
            private_key: private_key.into(),
            page_size: 1000,
            http: HttpPolicy::default(),
        }
    }
}

/// A read-only Tigerpaw client.
#[derive(Debug)]
pub struct TigerpawClient {
    http: Http,
    base: String,
    public_key: String,
    private_key: ApiSecret,
    page_size: u32,
}

impl TigerpawClient {
    pub fn new(config: TigerpawConfig) -> Result<Self> {
        Ok(TigerpawClient {
            http: Http::new(
                PsaKind::Tigerpaw.as_str(),
                config.http,
                vec![config.private_key.clone()],
            )?,
            base: config.base_url.trim_end_matches('/').to_owned(),
            public_key: config.public_key,
            private_key: config.private_key,
            page_size: config.page_size.clamp(1, 1000),
        })
    }

    pub fn stats(&self) -> HttpStats {
        self.http.stats()
    }

    /// One signed request; `path` may carry a query, which is not signed.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| b.to_string());
        let endpoint = path.split('/').nth(2).unwrap_or("");
        let signed_path = path.split('?').next().unwrap_or(path);
        let reply = self
            .http
            .send(endpoint, Retry::Idempotent, |c| {
                let rb = signed(
                    c.request(method.clone(), &url),
                    &self.public_key,
                    &self.private_key,
                    &method,
                    signed_path,
                );
                match &body {
                    Some(b) => rb.header(CONTENT_TYPE, "application/json").body(b.clone()),
                    None => rb,
                }
            })
            .await?;
        let doc = reply.json()?;
        if doc.get("Success").and_then(Value::as_bool) == Some(false) {
            return Err(Error::Rejected {
                status: 200,
                body_excerpt: excerpt(&path_text(&doc, &["Message"]).unwrap_or_default()),
            });
        }
        Ok(doc)
    }

    /// One page of an advanced search: its rows and where the next page starts. `criteria` is
    /// never empty (see the module docs).
    async fn search_rows(
        &self,
        entity: Entity,
        criteria: Vec<Value>,
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<Value>, Option<Cursor>)> {
        let (path, key) = match entity {
            Entity::Contact => ("/api/contacts/search", "Contacts"),
            _ => ("/api/accounts/search", "Accounts"),
        };
        let start: u64 = match cursor {
            Some(c) => {
                c.0.parse()
                    .map_err(|_| Error::malformed("bad Tigerpaw cursor"))?
            }
            None => 1,
        };
        let body = json!({"Criteria": criteria, "PageSize": self.page_size, "StartRow": start});
        let mut doc = self.call(Method::POST, path, Some(body)).await?;
        let next = doc
            .get("NextRow")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .map(|n| Cursor(n.to_string()));
        match doc.get_mut(key).map(Value::take) {
            Some(Value::Array(rows)) => Ok((rows, next)),
            _ => Err(Error::malformed(format!("search answer without {key}"))),
        }
    }

    /// One page of a search, as records.
    async fn search(
        &self,
        entity: Entity,
        criteria: Vec<Value>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let (rows, next) = self.search_rows(entity, criteria, cursor).await?;
        let mut records = Vec::new();
        for row in &rows {
            match entity {
                Entity::Organization => records.push(account_record(row)?),
                Entity::Location => records.extend(location_record(row)?),
                _ => records.extend(contact_record(row)?),
            }
        }
        Ok(Page { records, next })
    }

    /// The active contacts of one account whose own account it is
    /// (`GET /api/contacts/account/{n}?activeOnly=true`); an unknown account has none.
    ///
    /// The call documents no paging parameters, so one answer is expected. Should the vendor
    /// page it anyway (`NextRow` > 0), the next rows are asked for with `pageRequest.startRow`,
    /// its paging parameter on other listings [assumed]; a `NextRow` that does not advance is a
    /// typed error, never a loop.
    async fn account_contacts(&self, account: &str) -> Result<Vec<Record>> {
        let path = format!(
            "/api/contacts/account/{}?activeOnly=true",
            encode_segment(account)
        );
        let mut out = Vec::new();
        let mut start = 1;
        loop {
            let page_path = match start {
                1 => path.clone(),
                n => format!("{path}&pageRequest.startRow={n}"),
            };
            let doc = match self.call(Method::GET, &page_path, None).await {
                Ok(doc) => doc,
                Err(Error::NotFound) => return Ok(out),
                Err(e) => return Err(e),
            };
            let rows = doc
                .get("Contacts")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::malformed("account contacts answer without Contacts"))?;
            for row in rows {
                if let Some(rec) = contact_record(row)? {
                    if rec.org_id.as_deref() == Some(account) {
                        out.push(rec);
                    }
                }
            }
            match doc.get("NextRow").and_then(Value::as_u64).unwrap_or(0) {
                0 => return Ok(out),
                next if next <= start => {
                    return Err(Error::malformed(format!(
                        "account contacts: NextRow {next} does not advance from row {start}"
                    )))
                }
                next => start = next,
            }
        }
    }

    /// One page of contacts: one page of accounts, then each account's contacts.
    async fn contacts_page(&self, cursor: Option<&Cursor>) -> Result<Page> {
        let (rows, next) = self
            .search_rows(Entity::Organization, every_account(), cursor)
            .await?;
        let numbers = rows
            .iter()
            .map(|row| account_of(row).map(|(_, number)| number))
            .collect::<Result<Vec<String>>>()?;
        let lists: Vec<Vec<Record>> = futures_util::stream::iter(numbers)
            .map(|n| async move { self.account_contacts(&n).await })
            .buffered(CONTACT_FETCHES)
            .try_collect()
            .await?;
        Ok(Page {
            records: lists.into_iter().flatten().collect(),
            next,
        })
    }

    fn check_entity(entity: Entity) -> Result<()> {
        if entity == Entity::Configuration {
            return Err(Error::unsupported_entity("Tigerpaw", entity));
        }
        Ok(())
    }

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        Self::check_entity(entity)?;
        let path = match entity {
            Entity::Contact => format!("/api/contacts/{}", encode_segment(id)),
            _ => format!("/api/accounts/{}", encode_segment(id)),
        };
        let row = match self.call(Method::GET, &path, None).await {
            Ok(row) => row,
            Err(Error::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        match entity {
            Entity::Organization => account_record(&row).map(Some),
            Entity::Location => location_record(&row),
            _ => contact_record(&row),
        }
    }

    pub async fn list_page(&self, entity: Entity, cursor: Option<&Cursor>) -> Result<Page> {
        Self::check_entity(entity)?;
        match entity {
            Entity::Contact => self.contacts_page(cursor).await,
            _ => self.search(entity, every_account(), cursor).await,
        }
    }

    /// Tigerpaw has no modified-since query.
    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        _since: UnixMillis,
        _cursor: Option<&Cursor>,
    ) -> Result<Page> {
        Self::check_entity(entity)?;
        Err(Error::Unsupported(
            "Tigerpaw has no modified-since query; list and compare".into(),
        ))
    }

    /// Narrow search: accounts by name; contacts by names among the organization's contacts (or
    /// by the documented name SearchTypes without one); a location is its account's address.
    pub async fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        Self::check_entity(entity)?;
        if !has_any_key(entity, key) {
            return Ok(Vec::new());
        }
        let equal =
            |t: &str, v: &str| json!({"SearchType": t, "MatchType": "Equal", "Criteria": v});
        let criteria = match entity {
            Entity::Organization => key
                .get(Field::Name)
                .map(|n| vec![equal("AccountName", n)])
                .unwrap_or_default(),
            Entity::Location => {
                return match org_id {
                    Some(org) => Ok(self.get(Entity::Location, org).await?.into_iter().collect()),
                    None => Ok(Vec::new()),
                }
            }
            _ => {
                let same = |r: &Record, f: Field| match key.get(f) {
                    Some(want) => r
                        .get(f)
                        .is_some_and(|have| have.to_lowercase() == want.to_lowercase()),
                    None => true,
                };
                if let Some(org) = org_id {
                    let contacts = self.account_contacts(org).await?;
                    return Ok(contacts
                        .into_iter()
                        .filter(|r| same(r, Field::FirstName) && same(r, Field::LastName))
                        .collect());
                }
                let mut c = Vec::new();
                if let Some(n) = key.get(Field::FirstName) {
                    c.push(equal("Firstname", n));
                }
                if let Some(n) = key.get(Field::LastName) {
                    c.push(equal("LastName", n));
                }
                c
            }
        };
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .search(entity, criteria.clone(), cursor.as_ref())
                .await?;
            out.extend(page.records);
            match page.next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Refused: syncbridge never writes to Tigerpaw.
    pub async fn create(
        &self,
        _entity: Entity,
        _org_id: Option<&str>,
        _values: &Values,
    ) -> Result<Record> {
        Err(Error::ReadOnly { vendor: "Tigerpaw" })
    }

    /// Refused: syncbridge never writes to Tigerpaw.
    pub async fn update(&self, _entity: Entity, _id: &str, _changes: &Changes) -> Result<Record> {
        Err(Error::ReadOnly { vendor: "Tigerpaw" })
    }
}
