//! Paged listings, the leaf every connector shares: a [`Page`] of records and the opaque
//! [`Cursor`] where the listing continues, and [`drain_pages`] to read a listing to its end.

use syncbridge_model::Record;

use crate::error::Result;

/// Where a listing continues. Opaque: a page number, a last id or a token, per vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub(crate) String);

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// `None` on the last page.
    pub next: Option<Cursor>,
}

/// Every record of a paged listing: `page(cursor)` until a page has no next cursor.
pub(crate) async fn drain_pages<F, Fut>(mut page: F) -> Result<Vec<Record>>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Result<Page>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let next = page(cursor).await?;
        out.extend(next.records);
        match next.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}
