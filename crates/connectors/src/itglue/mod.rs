//! IT Glue connector: the JSON:API REST API (reference sync-rules-and-apis.md §3).
//!
//! `x-api-key` auth, `application/vnd.api+json`, kebab-case attributes, `page[size]` (≤ 1000) and
//! `page[number]` paging sorted by id, exact `filter[...]` searches, and the lookups (configuration
//! types and statuses, manufacturers, models) the engine creates when a PSA value is missing.
//! Default budget: half of IT Glue's published 3000 requests per 5 minutes.
//!
//! The modified-since poll ([`ItGlueClient::list_modified_since_page`]) walks a collection newest
//! first (`sort=-updated_at`) and stops at the cursor: IT Glue has `filter[updated_at]` on
//! organizations only and ignores it elsewhere (audit ITG-1). Organizations use the filter while
//! the range stays within IT Glue's week (ITG-2), and the walk otherwise.
//!
//! The files:
//!
//! - `client`: [`ItGlueConfig`], [`ItGlueClient`], its calls and record operations;
//! - `fields`: the field map (canonical ⇄ IT Glue), one table per entity that both directions
//!   are derived from;
//! - `contact_lists`: a contact's `contact-emails` / `contact-phones` lists, phones told apart by
//!   label (ITG-3);
//! - `lookups`: the lookup lists ([`Lookup`]), read by name, written by id, created on demand;
//!   regions and countries written by id only (ITG-4);
//! - `feed`: the change feed (the `filter[updated_at]` listing and the newest-first walk).

mod client;
mod contact_lists;
mod feed;
mod fields;
mod lookups;

pub(crate) use client::encode_segment;
pub use client::{ItGlueClient, ItGlueConfig};
pub use lookups::Lookup;
