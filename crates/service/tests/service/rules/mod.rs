//! The sync rules of DESIGN §3 end to end, one module per rule family (the families of the
//! engine's rule tests, `crates/engine/tests/engine/rules/`): each test starts the running product
//! on simulated vendors for one tenant ([`crate::common::e2e`]: a private nats-server, the IT Glue
//! and PSA simulators seeded with `Dataset::generate`, the webhook ingest with our webhooks
//! registered at ConnectWise/Autotask, the workers and the pollers), makes the change a person would
//! make at a vendor (or the change a user makes to the tenant's settings or mode), and reads the
//! result back through the vendors' APIs, the simulators' write logs, the link store and the audit
//! stream. Nothing calls the engine: events come from webhooks, pollers and the full sync.
//!
//! Waits poll a condition until [`e2e::DEADLINE`](crate::common::e2e::DEADLINE) (never a
//! wall-clock speed). Every test ends by checking that no write of syncbridge was a no-op (no
//! echo). Settings other than the demo tenants' (`contacts_sync = false`, `instant_create = false`)
//! are set before the workers start, as a user's TOML would
//! ([`E2e::run_with`](crate::common::e2e::E2e::run_with)); a change of settings on a running
//! tenant is a restart of its workers and pollers
//! ([`E2e::restart_with`](crate::common::e2e::E2e::restart_with)).
//!
//! docs/rules.md maps each rule to its tests. Run:
//! `SYNCBRIDGE_NATS_SERVER=/path/to/nats-server cargo test -p syncbridge --test service rules::`.

use serde_json::{Map, Value};

mod contacts;
mod creation;
mod echo_and_shadow;
mod matching;
mod merge;
mod orphans;
mod refused_writes;
mod scope;
mod two_way;

/// A JSON object as the fields of a person's edit at a simulator.
pub(super) fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}
