//! The worker and poller roles on the simulators, configured as a user would: changes found by
//! polling or webhooks reach the other side; IT Glue workflow hints; budgets and concurrency caps
//! shared between processes; the vendor-request metrics their clients record; the worker role's
//! backlog and dead-letter gauges.

mod bus_gauges;
mod itglue_hint;
mod shared_budget;
mod shared_concurrency;
mod tigerpaw_poller;
mod vendor_metrics;
mod worker_role;
mod worker_sims;
