//! Sites: children of a company, with no top-level collection.
//!
//! A site's side-local id is `"{company id}:{site id}"`, and so is every reference to one (the
//! `site.id` of configurations and contacts reads as that form, and is written as the bare site
//! id). Listing sites walks a page of companies and lists each one's sites, a few companies at
//! a time; a company deleted meanwhile simply has none.

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use super::client::ConnectWiseClient;
use super::fields::{id_ref, to_record};
use crate::error::{Error, Result};
use crate::itglue::encode_segment;
use crate::paging::{Cursor, Page};
use crate::wire::{id_of, path_text};
use syncbridge_model::{Entity, Record};

/// The key of a site reference on configurations and contacts.
pub(super) const KEY: &str = "site";

/// Site listings run per company; this many at once.
const SITE_FETCH_CONCURRENCY: usize = 4;

/// The sites collection of a company.
pub(super) fn sites_of(company: &str) -> String {
    format!("company/companies/{}/sites", encode_segment(company))
}

/// A site's side-local id.
pub(super) fn site_id(company: &str, site: &str) -> String {
    format!("{company}:{site}")
}

/// `"{company}:{site}"` → (company, site).
pub(super) fn split_site_id(id: &str) -> Result<(&str, &str)> {
    id.split_once(':')
        .filter(|(c, s)| !c.is_empty() && !s.is_empty())
        .ok_or(Error::NotFound)
}

/// The site a row refers to (`site.id`), in the composite form; the row's company is the site's.
pub(super) fn read_reference(company: Option<&str>, row: &Value) -> Option<String> {
    let site = path_text(row, &[KEY, "id"])?;
    Some(site_id(company?, &site))
}

/// A site reference as ConnectWise takes it, `{"id": site}`, from the composite id (or a bare
/// site id).
pub(super) fn write_reference(id: &str) -> Result<Value> {
    let site = split_site_id(id).map(|(_, site)| site).unwrap_or(id);
    id_ref(site)
}

impl ConnectWiseClient {
    /// One page of sites: the sites of one page of companies, under `conditions`.
    pub(super) async fn sites_page(
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
        let per_company: Vec<Result<Vec<Record>>> = stream::iter(ids)
            .map(|id| {
                let conditions = conditions.clone();
                async move { self.company_sites(&id, conditions).await }
            })
            .buffered(SITE_FETCH_CONCURRENCY)
            .collect()
            .await;
        let mut records = Vec::new();
        for sites in per_company {
            records.extend(sites?);
        }
        Ok(Page { records, next })
    }

    /// The sites of one company under `conditions`; none when the company is gone.
    pub(super) async fn company_sites(
        &self,
        company: &str,
        conditions: Option<String>,
    ) -> Result<Vec<Record>> {
        match self.all_rows(&sites_of(company), conditions).await {
            Ok(rows) => rows
                .iter()
                .map(|r| to_record(Entity::Location, r))
                .collect(),
            // Deleted meanwhile.
            Err(Error::NotFound) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
