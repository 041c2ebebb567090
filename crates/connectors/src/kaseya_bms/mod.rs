//! Kaseya BMS and Pulseway PSA connector: the v2 REST API both platforms share (reference
//! psa-apis-bms-pulseway-tigerpaw.md §1–2, v2 OpenAPI spec per the vendor audit §4); which one is
//! a matter of host and [`BmsFlavor`].
//!
//! Token from `POST /v2/security/authenticate` (form `grantType=password`, `userName`,
//! `password`, `tenant`), sent as `Authorization: Bearer`; on a 401 the token is fetched again once.
//! Answers come in the `{success, error, result, totalRecords}` envelope: `success:false` with
//! `error.code` 404 is [`Error::NotFound`](crate::Error::NotFound), other codes are permanent
//! [`Error::Rejected`](crate::Error::Rejected). Paging `PageSize` / `PageNumber`, decided by the
//! rows actually returned since the server's maximum page size is not published (audit BMS-5);
//! modified-since through `Filter.ModifiedOnFrom` for accounts and contacts only — assets and
//! locations answer [`Error::Unsupported`](crate::Error::Unsupported) (they are polled by listing
//! and content hash). Budget: half of "1500 per hour per endpoint", counted per endpoint (method +
//! path with ids replaced by `{id}`).
//!
//! Listings that the vendor serves thin are expanded by reads by id: the asset `searchselect`
//! row has a dozen fields only, so every asset is read whole (audit BMS-1: a listing of N assets
//! costs N reads on one endpoint's budget); account rows of a list carry no locations, so
//! locations come from each account's location lookup and location reads (BMS-6).
//!
//! Field map (reference §2.3; our reading in the BMS reference §1.6): one table per entity in
//! `fields`, read into records and written into the spec's input DTOs (`ContactInputDto`,
//! `ContactPutInputDto`, the e-mail/phone patch operation DTOs of `contact_lists`: BMS-2…4).
//! Locations are children of an account with no v2 write path: their side-local id is
//! `"{account id}:{location id}"` (also in contacts' and assets' Location references), and
//! creating or updating one answers [`Error::Unsupported`](crate::Error::Unsupported). Account
//! types, asset categories, states and manufacturers are written by id (`lookups`): the client
//! loads each name → id table from the API on first use (`/v2/system/accounttypes/lookup`,
//! `/v2/system/lookup/{table}`), caches it, reloads it once when a name is missing, and also
//! learns the pairs every asset it reads shows. A name the vendor does not have is
//! [`Error::UnknownLookup`](crate::Error::UnknownLookup).
//!
//! Files: `client` (config, auth, the envelope, reads by id), `listing` (paging, thin rows
//! expanded, key searches), `writes` (creates and updates), `fields` (the field table),
//! `contact_lists` (a contact's e-mail and phone lists), `lookups` (name ↔ id tables).

mod client;
mod contact_lists;
mod fields;
mod listing;
mod lookups;
mod writes;

pub use client::{BmsClient, BmsConfig, BmsFlavor};
