//! Autotask PSA connector: the REST API under `/atservicesrest/v1.0/` (reference
//! sync-rules-and-apis.md §4.2).
//!
//! Headers `ApiIntegrationCode` / `UserName` / `ApiSecret`; queries as `POST /{Entity}/query` with
//! the filter JSON; listings page by id (`id gt <last id>`, 500 rows per request) rather than by
//! following `nextPageUrl`, so a page that failed can be asked again (a `nextPageUrl` token may
//! be single-use); partial `PATCH /{Entity}` with the id in the body, then a read-back (Autotask
//! answers writes with `{"itemId"}` only). Limits: a client budget of half of the published
//! 10,000 requests per hour, and at most 3 concurrent requests per entity endpoint (a semaphore
//! per endpoint; Autotask's thread limit counts per endpoint and integration code, so syncbridge's
//! shared gate makes the 3 hold for all processes of a tenant together).
//!
//! The field map (canonical ⇄ Autotask, reference §2.2) is one table per entity in `fields.rs`,
//! read and written from there. Picklists (`companyType`, `configurationItemType`) are read
//! from `GET /{Entity}/entityInformation/fields` on first use and cached, reloaded once on a
//! label the cache lacks; manufacturer and model are the `Products` row a configuration item's
//! `productID` names (read in batches and cached; found by an `eq` query on write). A name the
//! vendor does not have is [`Error::UnknownLookup`](crate::Error::UnknownLookup), before any
//! request that writes. Autotask has no location records that syncbridge syncs (capability
//! matrix): every location call is `Unsupported`.
//!
//! Vendor facts this client depends on (audit §3, vendor-fidelity-audit.md):
//! - Creates carry every field Autotask's entity metadata requires (AT-1): companies
//!   `companyName, companyType, ownerResourceID, phone` (IT Glue organizations have no phone:
//!   [`AutotaskConfig::company_phone`] is sent instead), contacts `isActive: 1`, configuration
//!   items `isActive` and `productID` (the product of the manufacturer and model; one without
//!   either gets the fallback product, [`AutotaskConfig::fallback_product`]).
//! - Autotask reports validation failures as HTTP 500 with `{"errors": ["message"]}`: such an
//!   answer is a permanent [`Error::Rejected`](crate::Error::Rejected) with the vendor's
//!   message; a 5xx without a message (an outage) stays transient.
//! - Listings continue while a page comes back full (500 rows), by `id gt <last>`, whether or
//!   not `nextPageUrl` is set (AT-3: with `MaxRecords` Autotask documents id-looping instead).
//! - Modified-since re-reads [`POLL_OVERLAP`] behind the watermark and ORs `createDate` (AT-4:
//!   stamps land slightly out of order; a new row may have no modified stamp yet).
//! - Date-times are zone-less and read as UTC; filters send zone-less UTC values (AT-5: REST is
//!   believed UTC, unverified). `installDate` / `warrantyExpirationDate` are written as
//!   zone-less midnight date-times and read as their date.
//!
//! Files:
//! - `client.rs`: configuration, zone discovery, the client and its get / list / find / create /
//!   update;
//! - `fields.rs`: the field table and both directions derived from it;
//! - `query.rs`: filter conditions and id-paged queries;
//! - `picklists.rs`: picklists read from entity information, label ⇄ value;
//! - `products.rs`: the product cache, product lookup by manufacturer and model, the fallback
//!   product;
//! - `webhooks.rs`: registering syncbridge's webhooks, confirming deactivation notices.

mod client;
mod fields;
mod picklists;
mod products;
mod query;
mod webhooks;

pub use client::{
    discover_zone, AutotaskClient, AutotaskConfig, DEFAULT_COMPANY_PHONE, POLL_OVERLAP,
};
pub use picklists::STANDARD_COMPANY_TYPES;
pub use products::{FallbackProduct, DEFAULT_FALLBACK_PRODUCT};
pub use webhooks::WebhookState;
