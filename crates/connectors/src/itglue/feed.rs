//! The change feed: records updated since a cursor, one page at a time
//! ([`ItGlueClient::list_modified_since_page`]), for the IT Glue poller.
//!
//! IT Glue has `filter[updated_at]` on organizations only and silently ignores it elsewhere
//! (audit ITG-1), and refuses a date range longer than a week (ITG-2). So organizations use the
//! filter while the range stays within the week, and everything else (and organizations past the
//! week) is walked newest first (`sort=-updated_at`) until the first record older than the cursor.
//! Where a listing continues is the opaque [`Cursor`], encoded from a [`FeedCursor`].

use syncbridge_model::{Entity, UnixMillis};

use super::client::{collection, ItGlueClient};
use super::fields::{to_record, to_records};
use crate::error::{Error, Result};
use crate::paging::{Cursor, Page};
use crate::wire::rfc3339;

/// A week: the longest date range IT Glue accepts in a filter (audit ITG-2).
const DATE_RANGE_LIMIT_MS: i64 = 7 * 24 * 3_600_000;

/// How far inside the week an organization poll's `filter[updated_at]` stays, for the difference
/// between our clock and IT Glue's.
const DATE_RANGE_MARGIN_MS: i64 = 3_600_000;

/// How often one newest-first walk restarts because records vanished under it.
const WALK_RESTARTS: u32 = 3;

fn wall_clock_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as UnixMillis)
}

/// Whether `"<since>, *"` stays within IT Glue's week at `now`. The open end is taken to mean now
/// (not verified; the stricter reading, audit §7).
fn within_date_range_limit(since: UnixMillis, now: UnixMillis) -> bool {
    now.saturating_sub(since) <= DATE_RANGE_LIMIT_MS - DATE_RANGE_MARGIN_MS
}

/// Where a change listing continues (encoded in the opaque [`Cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedCursor {
    /// `filter[updated_at]` listing: the next page number.
    Filtered(u64),
    /// Newest-first walk: the next page.
    Walk(WalkStep),
}

/// A page of the newest-first walk, with what the walk saw so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalkStep {
    size: u32,
    number: u64,
    /// `meta.total-count` of the previous page (0 before the first).
    total: u64,
    restarts: u32,
}

impl WalkStep {
    /// The first page: `max / 2^k` rows (k ≤ 3, so every size divides `max`), as small as that
    /// for the usual case of a poll that finds nothing new.
    fn first(max: u32) -> WalkStep {
        let k = max.trailing_zeros().min(3);
        WalkStep {
            size: (max >> k).max(1),
            number: 1,
            total: 0,
            restarts: 0,
        }
    }

    /// The page after this one: rows `[s, 2s)` with size `s`, then doubling sizes that start where
    /// the last page ended (`[2s, 4s)` is page 2 of size `2s`), then `max`-sized pages.
    fn next(self, max: u32) -> WalkStep {
        let (size, number) = if self.size >= max {
            (self.size, self.number + 1)
        } else if self.number == 1 {
            (self.size, 2)
        } else {
            ((self.size * 2).min(max), 2)
        };
        WalkStep {
            size,
            number,
            ..self
        }
    }
}

impl FeedCursor {
    fn encode(self) -> String {
        match self {
            FeedCursor::Filtered(n) => format!("f:{n}"),
            FeedCursor::Walk(w) => format!("w:{}:{}:{}:{}", w.size, w.number, w.total, w.restarts),
        }
    }

    fn parse(s: &str) -> Result<FeedCursor> {
        let bad = || Error::malformed("bad IT Glue change cursor");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let nums = rest
            .split(':')
            .map(|p| p.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<Vec<u64>>>()?;
        let small = |n: u64| u32::try_from(n).map_err(|_| bad());
        match (kind, nums.as_slice()) {
            ("f", [number]) => Ok(FeedCursor::Filtered((*number).max(1))),
            ("w", [size, number, total, restarts]) => Ok(FeedCursor::Walk(WalkStep {
                size: small(*size)?.max(1),
                number: (*number).max(1),
                total: *total,
                restarts: small(*restarts)?,
            })),
            _ => Err(bad()),
        }
    }
}

impl ItGlueClient {
    /// Records updated at or after `since` (inclusive), one page at a time; `cursor` is the
    /// previous page's `next`. IT Glue documents `filter[updated_at]` on organizations only and
    /// silently ignores it elsewhere (audit ITG-1), and refuses a date range longer than a week
    /// (ITG-2), so:
    ///
    /// - organizations, `since` less than a week (minus [`DATE_RANGE_MARGIN_MS`] for the clocks)
    ///   ago: `filter[updated_at]=<since>, *`, paged by id;
    /// - everything else: the newest-first walk (`sort=-updated_at`), which stops at the first
    ///   record older than `since`. An unchanged collection costs one small page, whatever its
    ///   size. Page sizes grow from `page_size / 8` to `page_size` (every size divides the next
    ///   offset, so `page[number]` paging stays contiguous), and a walk that sees the collection
    ///   shrink under it (a record deleted shifts the rest up by one: one would be skipped)
    ///   restarts from the top, at most [`WALK_RESTARTS`] times. A 422 to the organization filter
    ///   (IT Glue's clock ahead of ours) falls back to the walk.
    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let state = cursor.map(|c| FeedCursor::parse(&c.0)).transpose()?;
        match state {
            None if entity == Entity::Organization
                && within_date_range_limit(since, wall_clock_millis()) =>
            {
                match self.filtered_page(entity, since, 1).await {
                    Err(Error::Rejected {
                        status: 422,
                        body_excerpt,
                    }) => {
                        tracing::info!(
                            %entity,
                            refusal = %body_excerpt,
                            "IT Glue refused the updated_at range; walking newest first instead"
                        );
                        self.walk_page(entity, since, WalkStep::first(self.page_size))
                            .await
                    }
                    other => other,
                }
            }
            None => {
                self.walk_page(entity, since, WalkStep::first(self.page_size))
                    .await
            }
            Some(FeedCursor::Filtered(number)) => self.filtered_page(entity, since, number).await,
            Some(FeedCursor::Walk(step)) => self.walk_page(entity, since, step).await,
        }
    }

    /// A page of `filter[updated_at]=<since>, *` (organizations only), sorted by id.
    async fn filtered_page(&self, entity: Entity, since: UnixMillis, number: u64) -> Result<Page> {
        let q = vec![(
            "filter[updated_at]".into(),
            format!("{}, *", rfc3339(since)),
        )];
        let page = self
            .fetch_page(collection(entity), q, "id", self.page_size, number)
            .await?;
        let records = to_records(entity, &page.data)?;
        let next = page
            .next_page
            .map(|n| Cursor(FeedCursor::Filtered(n).encode()));
        Ok(Page { records, next })
    }

    /// A page of the newest-first walk: the records at or after `since`; no next page once a
    /// record older than `since` was seen.
    async fn walk_page(&self, entity: Entity, since: UnixMillis, step: WalkStep) -> Result<Page> {
        let page = self
            .fetch_page(
                collection(entity),
                Vec::new(),
                "-updated_at",
                step.size,
                step.number,
            )
            .await?;
        let mut records = Vec::with_capacity(page.data.len());
        let mut reached_since = false;
        for resource in &page.data {
            let rec = to_record(entity, resource)?;
            if rec.updated_at < since {
                reached_since = true;
                break;
            }
            records.push(rec);
        }
        let total = page.total.unwrap_or(0);
        let shrunk = step.total > 0 && total < step.total;
        let next = if reached_since {
            None
        } else if shrunk && step.restarts < WALK_RESTARTS {
            tracing::debug!(%entity, before = step.total, now = total, "records vanished during the walk; restarting it");
            Some(WalkStep {
                total,
                restarts: step.restarts + 1,
                ..WalkStep::first(self.page_size)
            })
        } else if page.next_page.is_some() {
            Some(WalkStep {
                total,
                ..step.next(self.page_size)
            })
        } else {
            None
        };
        Ok(Page {
            records,
            next: next.map(|s| Cursor(FeedCursor::Walk(s).encode())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_pages_are_contiguous_for_any_page_size() {
        for max in [1, 3, 8, 50, 100, 999, 1000] {
            let mut step = WalkStep::first(max);
            let mut offset = 0u64;
            for _ in 0..20 {
                assert_eq!(
                    (step.number - 1) * u64::from(step.size),
                    offset,
                    "page size {max}: {step:?} starts where the last page ended"
                );
                assert!(step.size <= max);
                offset += u64::from(step.size);
                step = step.next(max);
            }
            assert_eq!(step.size, max, "page size {max}: grows to the full size");
        }
        assert_eq!(WalkStep::first(1000).size, 125);
    }

    #[test]
    fn change_cursors_round_trip_and_garbage_is_a_typed_error() {
        let walk = FeedCursor::Walk(WalkStep {
            size: 250,
            number: 2,
            total: 10_000,
            restarts: 1,
        });
        for c in [FeedCursor::Filtered(3), walk] {
            assert_eq!(FeedCursor::parse(&c.encode()).unwrap(), c);
        }
        for bad in [
            "",
            "7",
            "f:",
            "f:x",
            "w:1:2",
            "w:1:2:3:4:5",
            "w:99999999999:1:0:0",
            "z:1",
        ] {
            assert!(
                matches!(FeedCursor::parse(bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
