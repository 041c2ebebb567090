//! The IT Glue ⇄ PSA sync rules as a pure state machine (sans-IO).
//!
//! The worker gathers everything a decision needs — the current record on each side, the stored
//! link and base snapshot, candidate records for matching, the parent organization's link, the
//! links of referenced records and IT Glue's lookup lists — into an [`Input`], and [`decide`]
//! returns a [`Decision`]: the [`Action`]s to perform (each naming the [`Rule`] that produced it,
//! for the audit stream and `links explain`) and the link to store afterwards.
//!
//! This crate performs no I/O: no tokio, no HTTP, no NATS. Every rule is tested here without a
//! network. One file per rule family:
//!
//! - [`matching`]: exact keys, candidates, ambiguity, near misses;
//! - [`scope`]: the type/status gate and entity capabilities;
//! - [`merge`]: the per-field three-way merge (PSA wins, two-way push, one-way revert);
//! - [`contacts`]: the contacts gate and contact ↔ configuration association;
//! - [`two_way`]: which IT Glue records may be pushed to the PSA, and when;
//! - [`orphans`]: orphaning and relinking;
//! - [`lookups`]: configuration types, statuses, manufacturers and models IT Glue lacks;
//! - [`reconcile`]: the full sync's plan — which records differ from what the last sync left;
//! - [`onboard`]: which new records a full sync links from its listings, without an event;
//! - [`decide`](mod@decide): the orchestration of all of the above.

#![forbid(unsafe_code)]

mod action;
pub mod contacts;
pub mod decide;
mod input;
pub mod lookups;
pub mod matching;
pub mod merge;
pub mod onboard;
pub mod orphans;
pub mod reconcile;
pub mod scope;
pub mod two_way;

pub use action::{Action, ActionKind, Changes, Decision, LinkUpdate, LookupKind, Rule};
pub use decide::decide;
pub use input::{Candidate, Input, Lookups, Parent, Refs, Trigger};
