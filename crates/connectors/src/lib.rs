//! HTTP clients for IT Glue and the PSAs: auth, paging, rate limits, retries, and the field maps
//! between each vendor's JSON and syncbridge's canonical [`Record`](syncbridge_model::Record)s.
//!
//! - [`psa`]: [`PsaClient`], the one surface over the tenant's PSA, whichever it is;
//! - [`paging`]: the leaf every client shares ([`Page`], [`Cursor`]);
//! - [`vendor`]: [`Vendor`], the one trait every client implements, IT Glue's included;
//! - one folder per vendor: [`itglue`], [`connectwise`], [`autotask`], [`kaseya_bms`] (also
//!   Pulseway PSA), [`tigerpaw`] (read-only). Each has its field table in one place
//!   (`<vendor>/fields.rs`: per entity a list of `(Field, Wire)` from which both the read into a
//!   `Record` and the write of `Changes` are derived, with tests that the table covers the
//!   model's field map and that a write reads back as written), and the client, paging,
//!   lookups and webhooks in files of their own;
//! - shared machinery: [`policy`] (timeouts, budgets, caps), `http` (the reqwest stack with
//!   governor rate limiting, per-endpoint semaphores and retries), [`request_metrics`] (every
//!   attempt counted and timed, by vendor, endpoint and status), `endpoint` (endpoint templates:
//!   paths without ids), `create` (creates that never duplicate), [`error`], [`secret`]
//!   (credentials that never print).
//!
//! No sync rule lives here: connectors only translate and transport.

#![forbid(unsafe_code)]

pub mod autotask;
pub mod check_before_write;
pub mod connectwise;
mod create;
mod endpoint;
pub mod error;
mod http;
pub mod itglue;
pub mod kaseya_bms;
mod lookup_table;
pub mod paging;
pub mod policy;
pub mod psa;
pub mod registration;
pub mod request_metrics;
pub mod secret;
pub mod tigerpaw;
pub mod vendor;
mod wire;

pub use autotask::{discover_zone, AutotaskClient, AutotaskConfig};
pub use check_before_write::{check_before_write, Check, CheckRun};
pub use connectwise::{ConnectWiseClient, ConnectWiseConfig, ConnectWiseKeySource};
pub use error::{Error, Result};
pub use http::HttpStats;
pub use itglue::{ItGlueClient, ItGlueConfig, Lookup};
pub use kaseya_bms::{BmsClient, BmsConfig, BmsFlavor};
pub use paging::{Cursor, Page};
pub use policy::{HttpPolicy, RateBudget, SharedBudget, SharedGate, SharedSlot};
pub use psa::PsaClient;
pub use registration::{
    AutotaskWebhookSpec, RegistrationItem, RegistrationOutcome, RegistrationReport,
};
pub use secret::ApiSecret;
pub use syncbridge_model::Record;
pub use tigerpaw::{TigerpawClient, TigerpawConfig};
pub use vendor::Vendor;
