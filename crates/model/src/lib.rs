//! The vocabulary every syncbridge crate shares: canonical records, ids, the change-event envelope,
//! tenant settings, the stored link with its base snapshot, and the PSA capability matrix.
//!
//! This crate performs no I/O. It is the only crate that knows *which* PSA can do what
//! ([`PsaKind::capabilities`]) and which fields each PSA maps ([`field_map`]): every other crate
//! asks it, so no other crate branches on a vendor's name.

#![forbid(unsafe_code)]

mod changes;
pub mod dates;
mod event;
mod fields;
mod ids;
mod link;
mod psa;
mod record;
mod settings;

pub use changes::{changes_setting, Changes, LookupKind};
pub use event::{headers, ChangeAction, ChangeEvent, EventSource};
pub use fields::{field_map, key_fields, Direction, Field, FieldSpec};
pub use ids::{Entity, ParseError, Side, TenantId};
pub use link::{Link, LinkState, Snapshot};
pub use psa::{Capabilities, FeedKind, PsaKind};
pub use record::{Origin, Record, UnixMillis, Values};
pub use settings::{Mode, NearMissPolicy, SettingsError, TenantSettings};
