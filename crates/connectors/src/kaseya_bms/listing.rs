//! Listings and key searches: `PageSize` / `PageNumber` paging judged by the rows returned,
//! thin rows expanded by reads by id (assets), and locations gathered per account.

use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::Value;
use syncbridge_model::{Entity, Field, Record, UnixMillis, Values};

use super::client::BmsClient;
use super::fields::to_record;
use crate::create::has_any_key;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::itglue::encode_segment;
use crate::paging::{Cursor, Page};
use crate::wire::{id_of, text};

/// Reads by id kept in flight at once while a listing expands thin rows (assets) or lookups
/// (locations): enough to hide latency, few enough to stay polite to a per-endpoint budget the
/// rate limiter enforces anyway.
const READS_IN_FLIGHT: usize = 4;

/// `{page}:{rows so far}:{first page's length}` (see [`BmsClient::list_rows`]).
fn parse_cursor(c: &str) -> Option<(u64, u64, Option<u64>)> {
    let mut parts = c.split(':').map(str::parse::<u64>);
    let page = parts.next()?.ok().filter(|p| *p >= 1)?;
    let counted = parts.next()?.ok()?;
    let full = parts.next()?.ok()?;
    Some((page, counted, Some(full)))
}

/// Whether a thin `searchselect` row can be the asset `key` names (see `find_by_key`).
fn thin_may_match(row: &Value, key: &Values) -> bool {
    let same = |field: Field, k: &str| match (key.get(field), text(row.get(k))) {
        (Some(want), Some(have)) => want.eq_ignore_ascii_case(&have),
        (Some(_), None) => field == Field::Type,
        (None, _) => true,
    };
    same(Field::Name, "assetName") && same(Field::Type, "categoryName")
}

impl BmsClient {
    /// One page of a listing. The server's maximum page size is not published (audit BMS-5) and
    /// may be below the `PageSize` we ask for, so the page number is the only thing the cursor
    /// trusts about the server's paging; whether there is a next page is decided by the rows
    /// actually returned: with `totalRecords`, while the rows counted so far are fewer than the
    /// total; without it (asset `searchselect`, contact `search`), while a page is as long as the
    /// first one (the server's effective page size) — so a listing without a total ends with one
    /// short or empty page. An empty page always ends the listing. Cursor:
    /// `{page}:{rows so far}:{first page's length}`.
    async fn list_rows(
        &self,
        path: &str,
        mut query: Vec<(String, String)>,
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<Value>, Option<Cursor>)> {
        let (number, counted, full) = match cursor {
            Some(c) => parse_cursor(&c.0).ok_or_else(|| Error::malformed("bad BMS cursor"))?,
            None => (1, 0, None),
        };
        query.push(("PageSize".into(), self.page_size.to_string()));
        query.push(("PageNumber".into(), number.to_string()));
        let (result, total) = self
            .call(Method::GET, path, &query, None, Retry::Idempotent)
            .await?;
        let rows = match result {
            Value::Array(rows) => rows,
            _ => return Err(Error::malformed("listing result is not an array")),
        };
        let got = rows.len() as u64;
        let counted = counted + got;
        let full = full.unwrap_or(got);
        let more = got > 0
            && match total {
                Some(total) => counted < total,
                None => got >= full,
            };
        Ok((
            rows,
            more.then(|| Cursor(format!("{}:{counted}:{full}", number + 1))),
        ))
    }

    fn list_path(entity: Entity) -> &'static str {
        match entity {
            Entity::Organization | Entity::Location => "/v2/crm/accounts/summary",
            Entity::Contact => "/v2/crm/contacts/summary",
            Entity::Configuration => "/v2/servicedesk/hardwareasset/searchselect",
        }
    }

    /// Rows of a listing → records. Accounts and contacts map as they are. Asset rows are the
    /// thin `searchselect` DTO (audit BMS-1), so each asset is read whole by id. Account rows
    /// of a list carry no locations (audit BMS-6), so a location listing reads each account's
    /// locations through the location endpoints.
    async fn records(&self, entity: Entity, rows: &[Value]) -> Result<Vec<Record>> {
        match entity {
            Entity::Organization | Entity::Contact => {
                rows.iter().map(|r| to_record(entity, r)).collect()
            }
            Entity::Configuration => self.full_assets(rows).await,
            Entity::Location => {
                let accounts = rows
                    .iter()
                    .map(|r| id_of(r, "id"))
                    .collect::<Result<Vec<_>>>()?;
                self.locations_of(&accounts).await
            }
        }
    }

    /// The full assets behind thin `searchselect` rows: `GET /v2/servicedesk/hardwareasset/{id}`
    /// each (a few in flight, listing order kept); an asset deleted in between is skipped.
    async fn full_assets(&self, thin: &[Value]) -> Result<Vec<Record>> {
        let mut ids = Vec::with_capacity(thin.len());
        for row in thin {
            self.learn_thin(row);
            ids.push(id_of(row, "id")?);
        }
        // Owned ids: a closure over `&String` makes the future not provably `Send`.
        let rows: Vec<Result<Option<Value>>> = stream::iter(ids)
            .map(|id| async move { self.raw_get(Entity::Configuration, &id).await })
            .buffered(READS_IN_FLIGHT)
            .collect()
            .await;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(row) = row? {
                self.learn(&row);
                out.push(to_record(Entity::Configuration, &row)?);
            }
        }
        Ok(out)
    }

    /// The location rows `GET /v2/crm/accounts/{accountId}/locations/lookup` names
    /// (`{id, name, accountId, isMain}`); none for an account that is gone.
    async fn location_lookup(&self, account: &str) -> Result<Vec<Value>> {
        let path = format!(
            "/v2/crm/accounts/{}/locations/lookup",
            encode_segment(account)
        );
        match self
            .call(Method::GET, &path, &[], None, Retry::Idempotent)
            .await
        {
            Ok((Value::Array(rows), _)) => Ok(rows),
            Ok((Value::Null, _)) | Err(Error::NotFound) => Ok(Vec::new()),
            Ok(_) => Err(Error::malformed("location lookup is not a list")),
            Err(e) => Err(e),
        }
    }

    /// The locations of `accounts`: each account's lookup, then every location read whole by
    /// `GET /v2/crm/accounts/{accountId}/locations/{locationId}` (the lookup has no address).
    async fn locations_of(&self, accounts: &[String]) -> Result<Vec<Record>> {
        let lookups: Vec<Result<Vec<Value>>> = stream::iter(accounts.to_vec())
            .map(|a| async move { self.location_lookup(&a).await })
            .buffered(READS_IN_FLIGHT)
            .collect()
            .await;
        let mut ids = Vec::new();
        for (account, lookup) in accounts.iter().zip(lookups) {
            for l in lookup? {
                let id = id_of(&l, "id")?;
                ids.push(format!("{account}:{id}"));
            }
        }
        let rows: Vec<Result<Option<Record>>> = stream::iter(ids)
            .map(|id| async move { self.get(Entity::Location, &id).await })
            .buffered(READS_IN_FLIGHT)
            .collect()
            .await;
        rows.into_iter()
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>>>()
    }

    async fn page_of(
        &self,
        entity: Entity,
        query: Vec<(String, String)>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        self.check_entity(entity)?;
        let (rows, next) = self
            .list_rows(Self::list_path(entity), query, cursor)
            .await?;
        Ok(Page {
            records: self.records(entity, &rows).await?,
            next,
        })
    }

    pub async fn list_page(&self, entity: Entity, cursor: Option<&Cursor>) -> Result<Page> {
        self.page_of(entity, Vec::new(), cursor).await
    }

    /// Accounts and contacts with `Filter.ModifiedOnFrom`; assets and locations have no such
    /// filter in v2.
    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        if matches!(entity, Entity::Configuration | Entity::Location) {
            return Err(Error::Unsupported(format!(
                "{} has no modified-since filter for {entity} records; list them",
                self.vendor()
            )));
        }
        let from = crate::wire::rfc3339_seconds(since);
        let from = from.trim_end_matches('Z').to_owned();
        self.page_of(entity, vec![("Filter.ModifiedOnFrom".into(), from)], cursor)
            .await
    }

    /// Narrow search: accounts by name; contacts by account and names; assets and locations by
    /// account.
    pub async fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        self.check_entity(entity)?;
        if !has_any_key(entity, key) {
            return Ok(Vec::new());
        }
        let org = || {
            org_id
                .ok_or_else(|| Error::InvalidInput(format!("a {entity} search needs its account")))
        };
        let (path, q): (String, Vec<(String, String)>) = match entity {
            Entity::Organization => (
                Self::list_path(entity).into(),
                key.get(Field::Name)
                    .map(|n| vec![("Filter.AccountName".into(), n.to_owned())])
                    .unwrap_or_default(),
            ),
            Entity::Contact => {
                let mut q = vec![("Filter.AccountId".to_owned(), org()?.to_owned())];
                if let Some(n) = key.get(Field::FirstName) {
                    q.push(("Filter.FirstName".into(), n.to_owned()));
                }
                if let Some(n) = key.get(Field::LastName) {
                    q.push(("Filter.LastName".into(), n.to_owned()));
                }
                (Self::list_path(entity).into(), q)
            }
            Entity::Configuration => {
                let mut q = vec![("Filter.AccountId".to_owned(), org()?.to_owned())];
                if let Some(n) = key.get(Field::Name) {
                    q.push(("Filter.AssetName".into(), n.to_owned()));
                }
                (Self::list_path(entity).into(), q)
            }
            Entity::Location => return self.locations_of(&[org()?.to_owned()]).await,
        };
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let (mut rows, next) = self.list_rows(&path, q.clone(), cursor.as_ref()).await?;
            if entity == Entity::Configuration {
                // Read whole only the thin rows that can match: same name and (when both are
                // known) the same category, compared as the vendor does, case-insensitively.
                rows.retain(|r| thin_may_match(r, key));
            }
            out.extend(self.records(entity, &rows).await?);
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// The main location of an account (assets and contacts must name one), from the account's
    /// location lookup: the one marked main, else the first.
    pub(super) async fn main_location(&self, account: &str) -> Result<Option<String>> {
        let locations = self.location_lookup(account).await?;
        Ok(locations
            .iter()
            .find(|l| l.get("isMain") == Some(&Value::Bool(true)))
            .or_else(|| locations.first())
            .and_then(|l| text(l.get("id"))))
    }
}
