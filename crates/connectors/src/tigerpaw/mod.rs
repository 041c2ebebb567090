//! Tigerpaw connector (read-only): the Tigerpaw Business Suite REST API (reference
//! psa-apis-bms-pulseway-tigerpaw.md §3).
//!
//! Every request is signed (`signature`): `Authorization: TSI base64("{public}:{sig}")` with
//! `sig = base64(HMAC-SHA256(private key, lower("{method}|{path}|{date}")))` and the same RFC 1123
//! date in `X-TSI-Date`, computed afresh for each attempt. Tigerpaw has no modified-since query
//! ([`Error::Unsupported`](crate::Error::Unsupported)); it is polled by listing and content hash.
//!
//! Only documented requests (audit TP-1, TP-2; Tsi.Web client generated from the vendor's
//! Swagger 18.2.1):
//! - accounts are listed by `POST /api/accounts/search` with `PageSize` / `StartRow` and
//!   `NextRow` (0 on the last page). The advanced search needs a criterion (an empty `Criteria`
//!   list is not documented to return everything), so the listing asks for
//!   `AccountNumber GreaterThan 0`: a documented SearchType and MatchType that every account
//!   number satisfies;
//! - contacts are listed per account, `GET /api/contacts/account/{accountNumber}?activeOnly=true`
//!   for each account of an accounts page (no contact SearchType can name "all contacts"). A
//!   contact linked to several accounts is kept under its own account only (`AccountNumber`);
//! - the contact key search reads the organization's contacts the same way and compares names
//!   locally (the contact search has no account-number SearchType); without an organization it
//!   uses the documented `Firstname` / `LastName` types.
//!
//! IT Glue syncs Tigerpaw one way: every create or update answers
//! [`Error::ReadOnly`](crate::Error::ReadOnly) before any request is made. Field map (reference
//! §2.4) in `fields`, one read-only table per entity: a location is an account's address (id =
//! the account number), and only active contacts are listed.
//!
//! Files: `client` (config, calls, listings, searches), `fields` (the field table and the
//! records read through it), `signature` (the request signature).

mod client;
mod fields;
mod signature;

pub use client::{TigerpawClient, TigerpawConfig};
