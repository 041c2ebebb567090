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
//! Field map (canonical ⇄ ConnectWise, reference §2.1): one table per entity in `fields`, read
//! and written from there. Companies: Name ⇄ `name`, Short Name ⇄ `identifier`, Status ⇄
//! `status`, Type ⇄ first of `types[]` (further types in `Record::extra_types`). Types are sent
//! on create only; later changes go through `…/{id}/typeAssociations` (audit CW-1). Every
//! reference is written by id, resolved through the lookup endpoints (audit CW-3).
//! Configurations and contacts carry `company.id` as `Record::org_id`, `contact.id` and site
//! references as ids. Sites are children of a company and have no top-level collection: their
//! side-local id is `"{company id}:{site id}"`, and references to a site (`site.id` on
//! configurations and contacts) use the same form.
//!
//! The files:
//! - `client`: config, auth, requests, and the record calls (get, list, find, update);
//! - `fields`: the field table and both directions derived from it;
//! - `paging`: forward-only and numbered pages, and the fallback between them;
//! - `lookups`: reference names → ids, read once per client;
//! - `communications`: a contact's email, phone and fax among its `communicationItems`;
//! - `sites`: sites as children of companies (composite ids, listing per company);
//! - `type_associations`: changing a company's or contact's type after create;
//! - `create`: creates without duplicates, and what a new company needs (identifier, address);
//! - `callbacks`: registering our callbacks; `keys`: fetching callback signing keys.

mod callbacks;
mod client;
mod communications;
mod create;
mod fields;
mod keys;
mod lookups;
mod paging;
mod sites;
mod type_associations;

pub use client::{ConnectWiseClient, ConnectWiseConfig};
pub use keys::ConnectWiseKeySource;
