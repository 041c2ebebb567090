//! Listing pages. ConnectWise pages forward-only (`pagination-type: forward-only`, `pageId` =
//! the last id) or by number (`page`), and does not say which endpoints take forward-only
//! (audit CW-4): the top-level record collections ask for it, and an endpoint that answers that
//! it "doesn't support 'forward-only' pagination" is paged by number from then on. Whether
//! another page follows is read from the `Link` header (`rel="next"`); without any `Link`, a full
//! page asks for the next one.
//!
//! A cursor says which kind of page comes next: `id:<n>` or `page:<n>`.

use std::collections::HashSet;
use std::sync::Mutex;

use reqwest::header::LINK;
use reqwest::Method;
use serde_json::Value;

use super::client::ConnectWiseClient;
use crate::error::{Error, Result};
use crate::http::{Reply, Retry};
use crate::paging::Cursor;
use crate::wire::id_of;

/// Listings that take forward-only paging. ConnectWise does not support it on every endpoint
/// and publishes no list (audit CW-4); the top-level record collections are where it is used in
/// public clients. Any other listing pages by number.
const FORWARD_ONLY_PATHS: [&str; 3] = [
    "company/companies",
    "company/configurations",
    "company/contacts",
];

/// Listing paths that refused forward-only paging: paged by number from then on.
#[derive(Debug, Default)]
pub(super) struct NumberedPaging(Mutex<HashSet<String>>);

impl NumberedPaging {
    fn contains(&self, path: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(path)
    }

    fn insert(&self, path: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned());
    }
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
    /// Whether to ask `path` for forward-only pages.
    fn forward_only(&self, path: &str) -> bool {
        FORWARD_ONLY_PATHS.contains(&path) && !self.numbered_paging.contains(path)
    }

    /// One page of `path` under `conditions` (and `extra` query pairs); forward-only where the
    /// endpoint takes it, else by page number. An endpoint that refuses forward-only is paged by
    /// number from then on.
    pub(super) async fn page_at(
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
                self.numbered_paging.insert(path);
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

    /// Every row of `path` under `conditions`, page after page.
    pub(super) async fn all_rows(
        &self,
        path: &str,
        conditions: Option<String>,
    ) -> Result<Vec<Value>> {
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
}
